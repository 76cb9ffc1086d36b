"""The same suite through the local executor and through Ray: identical numbers, and wall times.

Cranfield (1,400 abstracts, 225 queries) from $HARNESS_DATA_DIR: all-MiniLM-L6-v2 over exact
and HNSW search, and BM25. Each executor starts with an empty embedding cache and its own
results folder. The Ray run starts a local cluster of this machine's CPUs (`--executor ray`,
no address), so its wall time includes Ray's start (~11 s here), the encoder actors' model
loads and the tasks' own model loads for timing the query side. Printed: wall time per run,
the ratio, whether the quality columns are identical, and whether the cache entries are the same
bytes or agree (every row at cosine >= 0.99999: actors on fewer threads than the local run).

    python benchmarks/executors.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness.cache import AGREEING_COSINE

SUITE = """\
name: executors
datasets:
  - {name: cranfield, path: "${HARNESS_DATA_DIR}/cranfield", split: test}
embedders:
  - {name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}
  - {name: bm25, kind: bm25}
indexes:
  - {name: exact, kind: faiss-flat}
  - {name: hnsw, kind: faiss-hnsw, build: {M: 16, efConstruction: 100}, search: {efSearch: [16, 64]}}
metrics: [nDCG@10, R@100]
executor: {shard_size: 256}
"""
QUALITY = ["cell_id", "status", "nDCG@10", "R@100", "ann_recall@10"]


def timed_run(
    suite: Path, folder: Path, executor: str
) -> tuple[float, pd.DataFrame, dict[str, np.ndarray]]:
    env = os.environ | {"HARNESS_CACHE_DIR": str(folder / "cache"), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(suite),
            "--out",
            str(folder / "out"),
            "--executor",
            executor,
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    runs = (
        pd.read_parquet(folder / "out" / "runs.parquet")
        .sort_values("cell_id")
        .reset_index(drop=True)
    )
    entries = {
        e.name: np.load(e / "vectors.npy") for e in (folder / "cache" / "embeddings").iterdir()
    }
    return wall, runs, entries


def agreement(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> str:
    """'bytes' when every entry is identical, 'agree' when every row's cosine reaches
    AGREEING_COSINE (encoders on other thread counts), else 'DIFFER'."""
    if first.keys() != second.keys():
        return "DIFFER"
    if all(np.array_equal(first[k], second[k]) for k in first):
        return "bytes"
    close = all(
        first[k].shape == second[k].shape
        and (np.sum(first[k] * second[k], axis=1) >= AGREEING_COSINE).all()
        for k in first
    )
    return "agree" if close else "DIFFER"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="alternating pairs of runs")
    args = parser.parse_args()
    identical = True
    print(f"{'pair':>4} {'local s':>8} {'ray s':>8} {'ray/local':>9} {'metrics':>9} {'cache':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite.yaml"
        suite.write_text(SUITE)
        for pair in range(args.runs):
            local_s, local, local_entries = timed_run(suite, Path(tmp) / f"local{pair}", "local")
            ray_s, ray, ray_entries = timed_run(suite, Path(tmp) / f"ray{pair}", "ray")
            same_metrics = local[QUALITY].equals(ray[QUALITY])
            cache = agreement(local_entries, ray_entries)
            identical &= same_metrics and cache != "DIFFER"
            print(
                f"{pair:>4} {local_s:>8.1f} {ray_s:>8.1f} {ray_s / local_s:>9.2f} "
                f"{'same' if same_metrics else 'DIFFER':>9} {cache:>6}"
            )
            if pair == 0:
                cols = ["cell", "nDCG@10", "R@100", "docs_per_s", "latency_p50_ms", "node"]
                print(ray[cols].to_string(index=False))
    print(
        "identical metrics, agreeing cache entries" if identical else "FAIL: the executors differ"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
