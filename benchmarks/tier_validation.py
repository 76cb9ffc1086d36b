"""Issue 15's validated small tier: suites/ann-tradeoffs.yaml on full SciFact, a 50-query
tier shrunk from it (`harness shrink`: sampled queries, their judged documents, and every
cell's top 100 for them, pooled as NanoBEIR was), the same suite on the tier, and
`harness validate-tier` (Kendall's tau, Spearman's rho, mean absolute error of nDCG@10, with
bootstrap intervals), plus the wall time of both runs.

    HARNESS_DATA_DIR=../shared/datasets python benchmarks/tier_validation.py \
        [--full RESULTS] [--work DIR] [--queries 50] [--depth 100]

A `--full` folder that already holds the suite's results is only read (runs resume).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "suites" / "ann-tradeoffs.yaml"
FULL_DATASET = '  - {name: scifact, path: "${HARNESS_DATA_DIR}/scifact", split: test}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", type=Path, default=Path("build/tier/full"))
    parser.add_argument("--work", type=Path, default=Path("build/tier"))
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()
    data = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "datasets"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work: Path = args.work
    full_wall = timed_run(SUITE, args.full)
    tier = work / f"scifact-{args.queries}q"
    if not (tier / "tier.json").is_file():
        harness(
            "shrink", str(data / "scifact"), "--queries", str(args.queries), "--pool",
            str(args.full), "--depth", str(args.depth), "--out", str(tier),
        )  # fmt: skip
    made = json.loads((tier / "tier.json").read_text())
    print(
        f"tier: {made['queries']} queries, {made['documents']} documents "
        f"({made['judged_documents']} judged, {made['pooled_documents']} pooled from "
        f"{len(made['runs'])} runs' top {made['depth']})"
    )
    text = SUITE.read_text()
    if FULL_DATASET not in text:
        sys.exit(f"{SUITE}: its dataset line changed; update FULL_DATASET here")
    tier_suite = work / "ann-tradeoffs-tier.yaml"
    tier_suite.write_text(
        text.replace(FULL_DATASET, f"  - {{name: scifact-tier, path: {tier.resolve()}}}")
    )
    tier_wall = timed_run(tier_suite, work / "tier-results")
    report = work / "validate-tier.md"
    report.unlink(missing_ok=True)
    harness("validate-tier", str(args.full), str(work / "tier-results"), "--markdown", str(report))
    print(report.read_text().split("\n|")[0])
    print(f"wall time of this invocation: full {full_wall}, tier {tier_wall}")


def timed_run(suite: Path, out: Path) -> str:
    started = time.monotonic()
    harness("run", str(suite), "--out", str(out))
    seconds = time.monotonic() - started
    return f"{seconds:.0f} s" if seconds > 30 else "resumed (see its manifest's wall_s)"


def harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness", *args], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
