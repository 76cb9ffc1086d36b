"""How steady harness's cost figures are: one real suite run several times, each run in a fresh
process, and the coefficient of variation (CV = std / mean across runs) of each cell's QPS and
batch-1 p50 and p95 latency, beside the same figures measured the old way.

The suite: Cranfield (1,400 abstracts, 225 queries) with all-MiniLM-L6-v2 (vectors from the
embedding cache after the first run) through faiss-flat, faiss-hnsw and hnswlib, and BM25.

- new: `harness run` as it is (warm-up; >= 1,000 batch-1 calls; >= 5 batched repeats; one
  pinned thread), search-side figures; the end-to-end figures beside them.
- old: the protocol before issue 9, kept here to compare with: one untimed-warm-up-free pass of
  batch-1 calls, batched calls repeated for 0.5 s (at most 20), the median; default threads
  (faiss's OpenMP and BLAS on every core); BM25 timed with its tokenising.
- probe: harness's speed probe (a fixed workload on one CPU) in each run: how much the machine
  itself varied. A cell cannot be steadier than the machine under it. QPS·probe and p50/probe
  are the figures relative to the probe in the same cell: what varies beyond the machine.

Target (issue 9), on an idle machine: CV <= 5% for QPS and p50 in every cell with >= 100 queries.

    python benchmarks/cost_stability.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITE = """\
name: cost-stability
datasets:
  - {name: cranfield, path: "${HARNESS_DATA_DIR}/cranfield", split: test}
embedders:
  - {name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}
  - {name: bm25, kind: bm25}
indexes:
  - {name: exact, kind: faiss-flat}
  - {name: hnsw, kind: faiss-hnsw, build: {M: 16, efConstruction: 100}, search: {efSearch: 64}}
  - {name: hnswlib, kind: hnswlib, build: {M: 16, ef_construction: 100}, search: {ef: 64}}
metrics: [nDCG@10]
"""

BATCH_BUDGET_S, MAX_BATCH_REPEATS = 0.5, 20  # the old protocol's constants


def legacy_time_search(search: Any, n_queries: int) -> dict[str, float]:
    """The protocol before issue 9, verbatim in substance: one pass, no warm-up."""
    singles = []
    for i in range(n_queries):
        start = time.perf_counter()
        search(np.array([i]))
        singles.append(time.perf_counter() - start)
    repeats: list[float] = []
    while not repeats or (sum(repeats) < BATCH_BUDGET_S and len(repeats) < MAX_BATCH_REPEATS):
        start = time.perf_counter()
        search(np.arange(n_queries))
        repeats.append(time.perf_counter() - start)
    p50, p95 = np.percentile(np.array(singles) * 1000, [50, 95])
    return {"qps": n_queries / float(np.median(repeats)), "p50": float(p50), "p95": float(p95)}


def legacy_run(suite_path: Path) -> dict[str, dict[str, float]]:
    """Every cell of the suite timed the old way, in this process."""
    from harness.cache import EmbeddingCache
    from harness.datasets import LOADERS
    from harness.embedders import EMBEDDERS
    from harness.indexes import INDEXES
    from harness.spec import load_suite

    suite = load_suite(suite_path)
    spec = suite.datasets[0]
    dataset = LOADERS.get(spec.loader)(spec.params).load(spec.name)
    n = len(dataset.query_ids)
    figures: dict[str, dict[str, float]] = {}
    for cell in suite.cells():
        embedder_spec = suite.embedder(cell.embedder)
        embedder = EMBEDDERS.get(embedder_spec.kind)(embedder_spec.params)
        if embedder_spec.family == "lexical":
            embedder.index(dataset.doc_texts)
            texts = dataset.query_texts
            figures[cell.key] = legacy_time_search(
                lambda rows, e=embedder, t=texts: e.search(
                    e.encode_queries([t[i] for i in rows]), suite.k
                ),
                n,
            )
            continue
        vectors = {}
        for side, texts, fingerprint in (
            ("document", dataset.doc_texts, dataset.corpus_fingerprint),
            ("query", dataset.query_texts, dataset.queries_fingerprint),
        ):
            key = embedder.cache_key(side) | {"texts": fingerprint, "count": len(texts)}
            hit = EmbeddingCache().get(key)
            assert hit is not None, "run the suite once first: the vectors come from the cache"
            vectors[side] = np.asarray(hit.vectors)
        index_spec = suite.index(cell.index or "")
        index = INDEXES.get(index_spec.kind)(index_spec.build)
        index.build(vectors["document"])
        settings = index_spec.search[0]
        queries = vectors["query"]
        figures[cell.key] = legacy_time_search(
            lambda rows, ix=index, s=settings, q=queries: ix.search(q[rows], suite.k, s), n
        )
    return figures


def harness_run(suite: Path, out: Path, *options: str) -> pd.DataFrame:
    command = [sys.executable, "-m", "harness", "run", str(suite), "--out", str(out), "--force"]
    subprocess.run(
        [*command, *options],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return pd.read_parquet(out / "runs.parquet").set_index("cell")


def round_figures(folder: Path) -> dict[str, dict[str, list[float]]]:
    """Per cell, p50 and QPS of each round of a `--repeat` run, from its timed calls."""
    calls = pd.read_parquet(folder / "timings.parquet")
    n_queries = pd.read_parquet(folder / "runs.parquet").set_index("cell")["n_queries"]
    figures: dict[str, dict[str, list[float]]] = {}
    for cell, of_cell in calls.groupby("cell", sort=False):
        singles = of_cell[of_cell["series"] == "search.single"].groupby("round")["seconds"]
        batches = of_cell[of_cell["series"] == "search.batch"].groupby("round")["seconds"]
        figures[str(cell)] = {
            "p50": (singles.median() * 1000).tolist(),
            "qps": (n_queries[cell] / batches.median()).tolist(),
        }
    return figures


def cv(values: list[float]) -> float:
    array = np.asarray(values, dtype=float)
    return float(array.std(ddof=1) / array.mean() * 100) if len(array) > 1 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--legacy", type=Path, help=argparse.SUPPRESS)  # worker: one old run
    args = parser.parse_args()
    if args.legacy is not None:
        print(json.dumps(legacy_run(args.legacy)))
        return 0
    new: list[pd.DataFrame] = []
    old: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite.yaml"
        suite.write_text(SUITE)
        harness_run(suite, Path(tmp) / "warm")  # fills the cache; not counted
        for run in range(args.runs):
            new.append(harness_run(suite, Path(tmp) / f"run{run}"))
            worker = [sys.executable, __file__, "--legacy", str(suite)]
            legacy = subprocess.run(worker, check=True, capture_output=True, text=True)
            old.append(json.loads(legacy.stdout.splitlines()[-1]))
            print(f"run {run + 1} of {args.runs} done", file=sys.stderr)
        harness_run(suite, Path(tmp) / "rounds", "--repeat", "5")
        rounds = round_figures(Path(tmp) / "rounds")
    load = os.getloadavg()[0]
    print(f"{args.runs} runs of the suite, each in a fresh process; load average now {load:.2f}")
    print("CV across runs, % (new protocol | old protocol)\n")
    header = (
        f"{'cell':<40}{'QPS':>14}{'p50':>14}{'p95':>14}  {'e2e QPS':>8}{'e2e p50':>8}"
        f"{'probe':>7}  {'QPS·probe':>10}{'p50/probe':>10}  {'QPS (median)':>13}"
    )
    print(header + "\n" + "-" * len(header))
    worst = 0.0
    for cell in new[0].index:
        rows = [runs.loc[cell] for runs in new]
        line = f"{cell:<40}"
        for column, legacy in (
            ("qps", "qps"),
            ("latency_p50_ms", "p50"),
            ("latency_p95_ms", "p95"),
        ):
            now = cv([float(r[column]) for r in rows])
            then = cv([o[cell][legacy] for o in old])
            line += f"{now:>6.1f} | {then:>5.1f}"
            if column in ("qps", "latency_p50_ms"):
                worst = max(worst, now)
        e2e = (
            cv([float(r["e2e_qps"]) for r in rows]),
            cv([float(r["e2e_latency_p50_ms"]) for r in rows]),
        )
        probe = cv([float(r["probe_ms"]) for r in rows])
        # relative to the machine's speed in that run: what remains once the probe's drift is out
        steady_qps = cv([float(r["qps"]) * float(r["probe_ms"]) for r in rows])
        steady_p50 = cv([float(r["latency_p50_ms"]) / float(r["probe_ms"]) for r in rows])
        qps = float(np.median([float(r["qps"]) for r in rows]))
        print(
            f"{line}  {e2e[0]:>8.1f}{e2e[1]:>8.1f}{probe:>7.1f}  {steady_qps:>10.1f}"
            f"{steady_p50:>10.1f}  {qps:>13,.0f}"
        )
    print(f"\nworst CV of QPS or p50 (new): {worst:.1f}% (target <= 5%)")
    print("\nwithin one process: CV across the 5 rounds of `harness run --repeat 5`, %")
    for cell, figures in rounds.items():
        print(f"{cell:<40}  QPS {cv(figures['qps']):>5.1f}   p50 {cv(figures['p50']):>5.1f}")
    return 0 if worst <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
