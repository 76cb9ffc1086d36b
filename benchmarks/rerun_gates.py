"""Do the default cost gates hold still for identical reruns, and catch a real slowdown?

One real suite (Cranfield with all-MiniLM-L6-v2 from the embedding cache through faiss-flat,
faiss-hnsw and hnswlib, and BM25) is run once as the baseline and then rerun 20 times back to
back, each in a fresh process. Each rerun is compared with the baseline under the default gates
(harness.gate.rules.default_gates, as `harness compare` applies them without --gate): every
cost gate check must pass. Then a run whose HNSW searches with efSearch 512 instead of 64 (a
genuine slowdown, about 4x) is compared the same way, paired as `--pair
'efSearch=64:efSearch=512'` pairs it: its search latency and QPS gates must fail, and no other
cell's. (Its end-to-end latency is mostly MiniLM encoding the query, about 20 ms beside a
search of under 0.5 ms, so that gate passes.) A 2x slowdown is below what a separate-run gate
can tell from this machine's noise: `harness bench-compare` catches it (tests/test_bench.py).

    python benchmarks/rerun_gates.py [--reruns 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from harness.gate.compare import Pairing, Runs, compare, parse_pairing
from harness.gate.rules import DEFAULT_COST_GATES, default_gates
from harness.results import metric_columns, read_views

SUITE = """\
name: rerun-gates
datasets:
  - {name: cranfield, path: "${HARNESS_DATA_DIR}/cranfield", split: test}
embedders:
  - {name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}
  - {name: bm25, kind: bm25}
indexes:
  - {name: exact, kind: faiss-flat}
  - {name: hnsw, kind: faiss-hnsw, build: {M: 16, efConstruction: 100}, search: {efSearch: EF}}
  - {name: hnswlib, kind: hnswlib, build: {M: 16, ef_construction: 100}, search: {ef: 64}}
metrics: [nDCG@10]
"""


def run(suite: Path, out: Path) -> None:
    command = [sys.executable, "-m", "harness", "run", str(suite), "--out", str(out), "--force"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def gated(current: Path, baseline: Path, pairings: list[Pairing] | None = None) -> pd.DataFrame:
    now, then = read_views(current), read_views(baseline)
    metrics = metric_columns(now.rows)
    result = compare(
        Runs(now.rows, now.per_query, now.timings),
        Runs(then.rows, then.per_query, then.timings),
        metrics,
        default_gates(metrics),
        pairings=pairings,
    )
    table = result.table
    return table[(table["verdict"] != "") & ~table["figure"].isin(metrics)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reruns", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite, slower = Path(tmp) / "suite.yaml", Path(tmp) / "slower.yaml"
        suite.write_text(SUITE.replace("EF", "64"))
        slower.write_text(SUITE.replace("EF", "512"))
        run(suite, Path(tmp) / "warm")  # fills the embedding cache; not compared
        run(suite, Path(tmp) / "baseline")
        print(f"default cost gates: {'; '.join(DEFAULT_COST_GATES)}")
        print(f"{'rerun':>5} {'failed':>7} {'checks':>7}  largest move (current / baseline)")
        failures = 0
        for i in range(args.reruns):
            out = Path(tmp) / f"rerun{i}"
            run(suite, out)
            checks = gated(out, Path(tmp) / "baseline")
            failed = checks[checks["verdict"] == "FAIL"]
            failures += len(failed)
            change = (checks["current"] / checks["baseline"]).to_numpy()
            worst = checks.iloc[int(np.argmax(np.abs(np.log(change))))]
            move = f"{worst['figure']} of {worst['cell']}: {change.max():.2f}x up / "
            move += f"{change.min():.2f}x down"
            print(f"{i + 1:>5} {len(failed):>7} {len(checks):>7}  {move}", flush=True)
        print(f"identical reruns: {failures} failed cost gate checks (target 0)")
        run(slower, Path(tmp) / "slower")
        pairing = parse_pairing("efSearch=64:efSearch=512")
        checks = gated(Path(tmp) / "slower", Path(tmp) / "baseline", [pairing])
        print("\nHNSW searching with efSearch 512 instead of 64:")
        for _, row in checks.iterrows():
            ratio = row["current"] / row["baseline"]
            print(f"  {row['verdict']:<5} {row['cell']:<40} {row['figure']:<16} {ratio:.2f}x")
        slowed = checks["cell"].str.contains("/hnsw/")
        search = checks["figure"].isin(["latency_p50_ms", "qps"])
        caught = (checks.loc[slowed & search, "verdict"] == "FAIL").all()
        spared = (checks.loc[~slowed, "verdict"] == "pass").all()
        print(f"slower HNSW search caught: {caught}; other cells pass: {spared}")
    return 0 if failures == 0 and caught and spared else 1


if __name__ == "__main__":
    sys.exit(main())
