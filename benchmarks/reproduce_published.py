"""Published figures against harness's own, and harness's overhead over a plain script.

Runs, each in its own process, on SciFact (test) from $HARNESS_DATA_DIR:
  1. harness: all-MiniLM-L6-v2 (exact search) and BM25, through `harness run`;
  2. a plain sentence-transformers + faiss + ir-measures script (raw_scifact.py).
Prints the figures beside the published ones, and both wall times.

    python benchmarks/reproduce_published.py [--skip-raw]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
PUBLISHED = [
    # (cell, metric, published value, source, tolerance)
    ("scifact/minilm/exact/-", "nDCG@10", 0.6451, "MTEB leaderboard, all-MiniLM-L6-v2", 0.00005),
    ("scifact/minilm/exact/-", "R@100", 0.925, "MTEB leaderboard, all-MiniLM-L6-v2", 0.0005),
    ("scifact/bm25/-/-", "nDCG@10", 0.6789, "Pyserini BM25 flat (Lucene)", 0.02),
    ("scifact/bm25/-/-", "R@100", 0.9253, "Pyserini BM25 flat (Lucene)", 0.02),
]
SUITE = """\
name: reproduce
datasets:
  - {{name: scifact, path: "${{HARNESS_DATA_DIR}}/scifact", split: test}}
embedders:
  - {embedder}
indexes:
  - {{name: exact, kind: faiss-flat}}
metrics: [nDCG@10, R@100]
"""
MINILM = (
    "{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}"
)
BM25 = "{name: bm25, kind: bm25}"


def run_harness(embedder: str, folder: Path) -> tuple[pd.DataFrame, float]:
    """`harness run` in a fresh process, as a user runs it; returns its runs table and wall time."""
    suite = folder / "suite.yaml"
    suite.write_text(SUITE.format(embedder=embedder))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness", "run", str(suite), "--out", str(folder / "out")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    return pd.read_parquet(folder / "out" / "runs.parquet").set_index("cell"), wall


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CACHE_DIR"] = f"{tmp}/cache"  # measure a real encode, not a cache hit
        (Path(tmp) / "minilm").mkdir()
        (Path(tmp) / "bm25").mkdir()
        dense, harness_wall = run_harness(MINILM, Path(tmp) / "minilm")
        lexical, _ = run_harness(BM25, Path(tmp) / "bm25")
        runs = pd.concat([dense, lexical])

    failures = 0
    print(f"{'figure':<42} {'published':>9} {'harness':>9} {'diff':>8}  source")
    for cell, metric, published, source, tolerance in PUBLISHED:
        ours = float(runs.loc[cell, metric])
        ok = abs(ours - published) <= tolerance
        failures += not ok
        print(
            f"{cell + ' ' + metric:<42} {published:>9.4f} {ours:>9.4f} {ours - published:>+8.4f}  "
            f"{source}{'' if ok else '  OUT OF TOLERANCE'}"
        )

    minilm = runs.loc["scifact/minilm/exact/-"]
    print(
        f"\nharness (MiniLM, exact): wall {harness_wall:.1f} s, document encode "
        f"{minilm['encode_docs_s']:.1f} s ({minilm['docs_per_s']:.1f} docs/s)"
    )
    if "--skip-raw" not in sys.argv:
        raw = json.loads(
            subprocess.run(
                [sys.executable, str(HERE / "raw_scifact.py")],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        print(
            f"raw script (MiniLM, exact): wall {raw['wall_s']:.1f} s, document encode "
            f"{raw['encode_docs_s']:.1f} s, nDCG@10 {raw['nDCG@10']:.4f}, R@100 {raw['R@100']:.4f}"
        )
        print(
            f"harness overhead over the raw script: {harness_wall / raw['wall_s'] - 1:+.1%} (wall)"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
