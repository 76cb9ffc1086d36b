"""Issue 14's table: suites/pipelines.yaml on CACM and Cranfield (BM25, MiniLM, SPLADE-tiny,
BM25+MiniLM fused by RRF and by convex combination over a weight sweep, MiniLM re-ranking BM25's
top 100, MiniLM token vectors by exact MaxSim and through MUVERA re-ranked by MaxSim).

Runs the suite into a results folder (resumable: a finished folder is only read) and prints,
per dataset and row: nDCG@10, R@100, end-to-end p50 and p95 latency (batch-1, ms), index bytes
per document, and, for re-rankings by a model with an exhaustive cell, the share of that
cell's top 10 found (for MUVERA: recall against exact MaxSim).

    python benchmarks/pipelines_table.py [--out FOLDER]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
COLUMNS = {
    "nDCG@10": "{:.4f}",
    "R@100": "{:.4f}",
    "e2e_latency_p50_ms": "{:.2f}",
    "e2e_latency_p95_ms": "{:.2f}",
    "bytes_per_vector": "{:,.0f}",
    "ann_recall@10": "{:.3f}",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/pipelines"))
    args = parser.parse_args()
    env = os.environ | {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    subprocess.run(
        [sys.executable, "-m", "harness", "run", str(REPO / "suites" / "pipelines.yaml"),
         "--out", str(args.out)],
        env=env, check=True,
    )  # fmt: skip
    rows = pd.read_parquet(args.out / "runs.parquet")
    rows = rows[rows["status"] == "ok"]
    for dataset, table in rows.groupby("dataset", sort=False):
        print(f"\n{dataset}\n")
        print("| system | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for _, row in table.sort_values("nDCG@10", ascending=False).iterrows():
            name = row["embedder"] + (f" {row['search_params']}" if row["search_params"] else "")
            cells = [_format(row.get(c), f) for c, f in COLUMNS.items()]
            print(f"| {name} | " + " | ".join(cells) + " |")


def _format(value: object, form: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return form.format(value)


if __name__ == "__main__":
    main()
