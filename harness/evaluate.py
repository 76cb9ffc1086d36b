"""A thin adapter over ir-measures: rankings -> per-query and mean metric values.

Metric strings are those written in the suite (`nDCG@10`, `R@100`, `RR@10`) and ir-measures
picks the provider for each. Means are over every judged query of the split; a judged query
with no retrieved document scores 0 (trec_eval -c), so an empty ranking cannot raise a mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.datasets.base import Qrels
from harness.record import ranked

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

    measures = {m: ir_measures.parse_measure(m) for m in metrics}
    per_query: dict[str, dict[str, float]] = {m: dict.fromkeys(qrels, 0.0) for m in metrics}
    non_empty = {q: docs for q, docs in run.items() if docs}
    if non_empty:
        plain = {m: measure for m, measure in measures.items() if measure.NAME != "RR"}
        by_name = {str(measure): m for m, measure in plain.items()}
        if plain:
            evaluator = ir_measures.evaluator(list(plain.values()), qrels)
            for value in evaluator.iter_calc(non_empty):
                if value.query_id in qrels:
                    per_query[by_name[str(value.measure)]][value.query_id] = float(value.value)
        for m, measure in measures.items():
            if measure.NAME == "RR":
                per_query[m] |= _reciprocal_rank(qrels, non_empty, measure)
    means = {m: float(np.mean(list(values.values()))) for m, values in per_query.items()}
    return Evaluation(means, per_query)


def _reciprocal_rank(qrels: Qrels, run: Run, measure: Any) -> dict[str, float]:
    """RR (@cutoff) in trec_eval's order: ties broken by document id descending, as trec_eval,
    pytrec_eval and MTEB's MRR do. ir-measures routes RR@k to its msmarco provider, which
    breaks ties the other way, so a tie at the first relevant rank read higher than trec_eval
    (measured: 0.5 against trec_eval's 0.333 on a three-document run with one tie)."""
    import ir_measures

    params = dict(measure.params)
    cutoff = params.pop("cutoff", None)
    top = {q: dict(ranked(docs)[:cutoff] if cutoff else ranked(docs)) for q, docs in run.items()}
    provider = ir_measures.providers.registry["pytrec_eval"]
    values = provider.evaluator([ir_measures.RR(**params)], qrels).iter_calc(top)
    return {v.query_id: float(v.value) for v in values if v.query_id in qrels}


TIE_TOLERANCE = 1e-5
"""Scores this close to the k-th exact score count as ties (float32 sums of unit vectors)."""


def exact_neighbours(
    documents: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, positions) of each query's k highest inner products: the oracle for ANN recall.
    faiss's exhaustive search, as its flat index runs it, without copying the documents."""
    import faiss

    depth = min(k, len(documents))
    scores, ids = faiss.knn(queries, documents, depth, metric=faiss.METRIC_INNER_PRODUCT)
    return np.asarray(scores), np.asarray(ids)


def ann_recall(
    found: np.ndarray,
    exact_scores: np.ndarray,
    at: int,
    documents: np.ndarray,
    queries: np.ndarray,
) -> float:
    """Mean over queries of the share of the top `at` found whose exact score reaches the
    at-th exact score: ann-benchmarks' recall@k, which counts a tie with the last true
    neighbour as a hit (it allows 1e-3 in distance; here TIE_TOLERANCE in score, relative to
    scores beyond 1 in size: MUVERA's run to hundreds, where float32 sums in another order
    differ by more than 1e-5)."""
    at = min(at, exact_scores.shape[1])
    if at == 0 or len(exact_scores) == 0:
        return float("nan")
    last = exact_scores[:, at - 1]
    threshold = last - TIE_TOLERANCE * np.maximum(1.0, np.abs(last))
    chunk = max(1, 2**24 // (at * documents.shape[1]))  # bounds the gathered vectors' memory
    hits = 0
    for start in range(0, len(queries), chunk):
        ids = found[start : start + chunk, :at]
        valid = ids >= 0
        gathered = documents[np.where(valid, ids, 0)]
        scores = np.einsum("qd,qkd->qk", queries[start : start + chunk], gathered)
        hits += int((valid & (scores >= threshold[start : start + chunk, None])).sum())
    return hits / (len(queries) * at)
