"""Encoding backends side by side, cold: SciFact (5,183 documents, 300 test queries) with
all-MiniLM-L6-v2, exact search, one process per row, rows alternating round by round.

Rows: the plain sentence-transformers + faiss + ir-measures script (benchmarks/raw_scifact.py,
the peer pipeline), then `harness run` with backend torch, onnx (ONNX Runtime) fp32, openvino
fp32, and the reduced precisions onnx int8 and openvino bf16. Every harness row starts from an
empty cache (so it exports the model to ONNX, loads it, encodes everything) and runs harness's
whole protocol: the query side and the search are timed too, which the plain script skips.

Per row: documents encoded per second, wall time and its ratio to the plain script's, nDCG@10
and R@100. Target: openvino fp32 at <= 0.7x the plain script's wall time with nDCG@10 and R@100
equal to 4 decimals (0.6451 / 0.9250).

    python benchmarks/encode_backends.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROWS = {  # name -> the embedder's settings beyond the model
    "harness torch": "",
    "harness onnx fp32": ", backend: onnx",
    "harness openvino fp32": ", backend: openvino",
    "harness onnx int8": ", backend: onnx, precision: int8",
    "harness openvino bf16": ", backend: openvino, precision: bf16",
}
SUITE = """\
name: encode-backends
datasets:
  - {{name: scifact, path: "${{HARNESS_DATA_DIR}}/scifact", split: test}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2{settings}}}
indexes:
  - {{name: exact, kind: faiss-flat}}
metrics: [nDCG@10, R@100]
"""


def plain(env: dict[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(HERE / "raw_scifact.py")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.perf_counter() - start
    figures = json.loads(out.strip().splitlines()[-1])
    return {
        "docs_per_s": 5183 / figures["encode_docs_s"],
        "wall_s": wall,
        "nDCG@10": figures["nDCG@10"],
        "R@100": figures["R@100"],
    }


def harness(settings: str, folder: Path, env: dict[str, str]) -> dict[str, float]:
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(SUITE.format(settings=settings))
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(folder / "suite.yaml"),
            "--out",
            str(folder / "out"),
        ],
        env=env | {"HARNESS_CACHE_DIR": str(folder / "cache")},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    row = pd.read_parquet(folder / "out" / "runs.parquet").iloc[0]
    return {
        "docs_per_s": float(row["docs_per_s"]),
        "wall_s": wall,
        "nDCG@10": float(row["nDCG@10"]),
        "R@100": float(row["R@100"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    measured: dict[str, list[dict[str, float]]] = {
        "plain sentence-transformers": [],
        **{n: [] for n in ROWS},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            measured["plain sentence-transformers"].append(plain(env))
            for name, settings in ROWS.items():
                measured[name].append(
                    harness(settings, Path(tmp) / f"{r}-{name.replace(' ', '-')}", env)
                )
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    base = statistics.median(m["wall_s"] for m in measured["plain sentence-transformers"])
    print(f"{'row':<28} {'docs/s':>7} {'wall s':>7} {'wall/plain':>10} {'nDCG@10':>8} {'R@100':>7}")
    for name, rows in measured.items():
        wall = statistics.median(m["wall_s"] for m in rows)
        docs = statistics.median(m["docs_per_s"] for m in rows)
        print(
            f"{name:<28} {docs:>7.1f} {wall:>7.1f} {wall / base:>10.2f} {rows[0]['nDCG@10']:>8.4f} {rows[0]['R@100']:>7.4f}"
        )
    ov = measured["harness openvino fp32"][0]
    same = (round(ov["nDCG@10"], 4), round(ov["R@100"], 4)) == (0.6451, 0.9250)
    fast = statistics.median(m["wall_s"] for m in measured["harness openvino fp32"]) <= 0.7 * base
    print(
        f"openvino fp32: figures {'equal' if same else 'DIFFER from'} 0.6451 / 0.9250; wall {'within' if fast else 'ABOVE'} 0.7x the plain script"
    )
    return 0 if same and fast else 1


if __name__ == "__main__":
    sys.exit(main())
