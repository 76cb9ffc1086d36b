"""A thin adapter over ir-measures: rankings -> per-query and mean metric values.

Metric strings are those written in the suite (`nDCG@10`, `R@100`, `RR@10`) and ir-measures
picks the provider for each. Means are over every judged query of the split; a judged query
with no retrieved document scores 0 (trec_eval -c), so an empty ranking cannot raise a mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.datasets.base import Qrels

Run = dict[str, dict[str, float]]

AVERAGING = "mean over judged queries; a query with no results scores 0 (trec_eval -c)"


@dataclass(frozen=True)
class Evaluation:
    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    """metric string -> query id -> value, for every judged query."""


def to_run(
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    scores: np.ndarray,
    positions: np.ndarray,
    k: int,
    *,
    ignore_identical_ids: bool = False,
) -> Run:
    """Search output (rows aligned with query_ids; -1 marks no result) -> {qid: {docid: score}}."""
    run: Run = {}
    for qid, row_scores, row_positions in zip(query_ids, scores, positions, strict=True):
        ranking: dict[str, float] = {}
        for score, pos in zip(row_scores, row_positions, strict=True):
            if pos < 0:
                continue
            doc_id = doc_ids[pos]
            if ignore_identical_ids and doc_id == qid:
                continue
            ranking[doc_id] = float(score)
            if len(ranking) == k:
                break
        run[qid] = ranking
    return run


def evaluate(qrels: Qrels, run: Run, metrics: Sequence[str]) -> Evaluation:
    import ir_measures

    by_name = {str(ir_measures.parse_measure(m)): m for m in metrics}
    measures = [ir_measures.parse_measure(m) for m in metrics]
    per_query: dict[str, dict[str, float]] = {m: dict.fromkeys(qrels, 0.0) for m in metrics}
    non_empty = {q: docs for q, docs in run.items() if docs}
    if non_empty:
        evaluator = ir_measures.evaluator(measures, qrels)
        for value in evaluator.iter_calc(non_empty):
            if value.query_id in qrels:
                per_query[by_name[str(value.measure)]][value.query_id] = float(value.value)
    means = {m: float(np.mean(list(values.values()))) for m, values in per_query.items()}
    return Evaluation(means, per_query)


def exact_neighbours(documents: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Positions of each query's k highest inner products: the oracle for ANN recall."""
    import faiss

    index = faiss.IndexFlatIP(documents.shape[1])
    index.add(np.ascontiguousarray(documents, dtype=np.float32))
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(documents)))
    return np.asarray(ids)


def ann_recall(found: np.ndarray, truth: np.ndarray, at: int) -> float:
    """Mean over queries of |found top-at & exact top-at| / at (ann-benchmarks' recall@k)."""
    at = min(at, truth.shape[1])
    if at == 0 or len(truth) == 0:
        return float("nan")
    hits = [len(set(f[:at]) & set(t[:at])) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / at
