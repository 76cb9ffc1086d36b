"""How harness grows with the collection: wall time and peak memory of each stage at several
sizes, and whether a million documents stay within memory.

At each size N (default 10K, 100K, 1M documents; 1,000 queries):
- `harness synth vectors`: N clustered 384-dimensional vectors and their exact neighbours;
- `harness synth texts`: N synthetic documents with planted judgements;
- `harness run` of the vectors tier (loader ann-benchmarks, embedder kind vectors) through
  faiss-flat, faiss-hnsw and faiss-ivf, and of BM25 on the texts, each in its own process.

Each stage runs in a child process. A synth stage's peak RSS is the child's own (wait4's
ru_maxrss); a run's is the largest `peak_rss_bytes` harness recorded, because harness resets
the kernel's high-water mark between indexes (to charge each index its own memory), and Linux
then reports only the peak since the last reset as the child's ru_maxrss. The bound (issue 12):
a run's peak RSS <= the document vectors + the model (none here) + 1 GB, the largest index's
own memory aside (its RSS growth, recorded by harness as index_rss_bytes).

    python benchmarks/scale.py [--sizes 10000 100000 1000000] [--keep FOLDER]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DIM, QUERIES = 384, 1_000
GB = 1 << 30
TIMING = (
    "timing: {warmup_s: 0.1, latency_samples: 200, latency_min_s: 0, batch_repeats: 1, "
    "batch_min_s: 0, budget_s: 20}\n"
)
VECTORS_SUITE = """\
name: scale-vectors-{n}
datasets:
  - {{name: synth-{n}, loader: ann-benchmarks, path: {file}, relevant: 10}}
embedders:
  - {{name: given, kind: vectors, documents: {file}}}
indexes:
  - {{name: flat, kind: faiss-flat}}
  - {{name: hnsw, kind: faiss-hnsw, build: {{M: 16, efConstruction: 40}}, search: {{efSearch: 64}}}}
  - {{name: ivf, kind: faiss-ivf, search: {{nprobe: 16}}}}
metrics: [R@10, nDCG@10]
"""
TEXTS_SUITE = """\
name: scale-texts-{n}
datasets:
  - {{name: synth-texts-{n}, path: {folder}}}
embedders:
  - {{name: bm25, kind: bm25}}
metrics: [R@10, nDCG@10]
"""


@dataclass(frozen=True)
class Stage:
    name: str
    n: int
    seconds: float
    peak_bytes: int


def measured(name: str, n: int, command: list[str]) -> Stage:
    """Run `command` as a child; its wall time and its own peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        message = child.stderr.read().decode() if child.stderr else ""
        sys.exit(f"{name} at {n:,} failed: {message.strip().splitlines()[-1:]}")
    return Stage(name, n, seconds, usage.ru_maxrss * 1024)


def harness(*args: object) -> list[str]:
    return [sys.executable, "-m", "harness", *map(str, args)]


def run_size(n: int, work: Path) -> tuple[list[Stage], pd.DataFrame]:
    vectors, texts = work / f"vectors-{n}.hdf5", work / f"texts-{n}"
    stages = [
        measured(
            "synth vectors",
            n,
            harness("synth", "vectors", vectors, "--docs", n, "--queries", QUERIES, "--dim", DIM),
        ),
        measured(
            "synth texts", n, harness("synth", "texts", texts, "--docs", n, "--queries", QUERIES)
        ),
    ]
    rows = []
    for name, suite_text in (
        ("run vectors (flat, hnsw, ivf)", VECTORS_SUITE.format(n=n, file=vectors)),
        ("run bm25", TEXTS_SUITE.format(n=n, folder=texts)),
    ):
        suite = work / f"{name.split()[1]}-{n}.yaml"
        suite.write_text(suite_text + TIMING)
        out = work / f"out-{suite.stem}"
        stage = measured(name, n, harness("run", suite, "--out", out, "--force"))
        found = pd.read_parquet(out / "runs.parquet").assign(n=n)
        recorded = int(found["peak_rss_bytes"].max())
        stages.append(Stage(stage.name, n, stage.seconds, max(stage.peak_bytes, recorded)))
        rows.append(found)
    return stages, pd.concat(rows, ignore_index=True)


def growth(stages: list[Stage], name: str, attribute: str) -> str:
    """The exponent b of value ~ N^b between the two largest sizes."""
    points = sorted((s.n, getattr(s, attribute)) for s in stages if s.name == name)
    if len(points) < 2:
        return ""
    (n0, v0), (n1, v1) = points[-2], points[-1]
    return f"N^{math.log(v1 / v0) / math.log(n1 / n0):.2f}" if v0 > 0 and v1 > 0 else ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="write here and keep it (default: a temp dir)")
    args = parser.parse_args()
    stages: list[Stage] = []
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            found, rows = run_size(n, work)
            stages += found
            cells.append(rows)
            print(f"{n:,} documents done", file=sys.stderr, flush=True)
    print(f"{'stage':<32}" + "".join(f"{n:>22,}" for n in args.sizes) + "   growth (time, RSS)")
    for name in dict.fromkeys(s.name for s in stages):
        line = f"{name:<32}"
        for n in args.sizes:
            stage = next(s for s in stages if s.name == name and s.n == n)
            line += f"{stage.seconds:>11.1f} s{stage.peak_bytes / GB:>7.2f} GB"
        print(f"{line}   {growth(stages, name, 'seconds')}, {growth(stages, name, 'peak_bytes')}")
    table = pd.concat(cells, ignore_index=True)
    table["index"] = table["index"].fillna("").replace("", "bm25")
    print("\nper cell: build s, QPS (batched), index memory GB, R@10, ANN recall@10")
    for _, row in table.sort_values(["index", "n"]).iterrows():
        print(
            f"  {row['index']:<6}{row['n']:>10,}{row['build_s']:>9.1f}{row['qps']:>10,.0f}"
            f"{row.get('index_rss_bytes', math.nan) / GB:>7.2f}{row['R@10']:>8.3f}"
            f"{row.get('ann_recall@10', math.nan):>8.3f}"
        )
    largest = max(args.sizes)
    run = next(s for s in stages if s.name.startswith("run vectors") and s.n == largest)
    of_run = table[(table["n"] == largest) & (table["index"] != "bm25")]
    indexes = float(of_run["index_rss_bytes"].max())
    bound = largest * DIM * 4 + GB
    ok = run.peak_bytes - indexes <= bound
    print(
        f"\nat {largest:,}: vectors run peak {run.peak_bytes / GB:.2f} GB, largest index's own "
        f"{indexes / GB:.2f} GB; bound (vectors + 1 GB) {bound / GB:.2f} GB: "
        f"{'within' if ok else 'EXCEEDED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
