"""Re-ranking by an embedder of the suite: the candidates re-scored as its own search would
score them. Its document side is encoded ahead (cached), like an index; the query's encoding
and the scoring are the timed second stage.

- dense: cosine (inner product) of the query's vector with each candidate's;
- sparse: dot product of their term weights (the model's `doc_terms`/`query_terms` applied);
- multivector: MaxSim of the query's token vectors against each candidate's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.datasets import Dataset
from harness.errors import HarnessError
from harness.indexes.base import rescored
from harness.pipelines.fusion import Hits
from harness.reranking import best_of, dot_scores, maxsim_scores
from harness.runner import CellGroup, dense_vectors, encode_sides, encoder

Rescore = Callable[[np.ndarray], list[dict[str, float]]]


def by_embedder(
    group: CellGroup, name: str, first: list[Hits], depth: int
) -> tuple[Rescore, dict[str, float], dict[str, Any]]:
    """The timed stage, its costs (the scorer's document side among them: `scorer_bytes`) and
    its settings as recorded."""
    session, dataset = group.session, group.dataset
    spec = session.suite.embedder(name)
    if spec.family == "dense" and spec.derived_from is not None:
        raise HarnessError(
            f"re-ranking by '{name}' ({spec.kind}, derived from '{spec.derived_from}') is not "
            f"supported: re-rank by '{spec.derived_from}', or by the model it derives from"
        )
    wanted = _positions(dataset, first)
    model = session.loaded(encoder(session.suite, spec))
    texts = dataset.query_texts
    if spec.family == "dense":
        vectors, encoding = dense_vectors(session, dataset, spec)
        documents = vectors["document"]

        def score(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            queries = model.encode([texts[i] for i in rows], "query", None)
            return rescored(queries, documents, wanted[rows], depth)

        held = float(documents.nbytes)
    else:
        encoded, encoding = encode_sides(session, dataset, spec)
        documents = model.searchable(encoded["document"], "document")
        pair = maxsim_scores if spec.family == "multivector" else dot_scores

        def score(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            queries = model.searchable(
                model.encode([texts[i] for i in rows], "query", None), "query"
            )
            scores = np.full(wanted[rows].shape, -np.inf, dtype=np.float32)
            for j, row in enumerate(rows):
                found = wanted[row] >= 0
                scores[j, found] = pair(queries, documents, j, wanted[row][found])
            return best_of(scores, wanted[rows], depth)

        held = float(model.index_for(documents).nbytes())
    doc_ids = dataset.doc_ids

    def rescore(rows: np.ndarray) -> list[dict[str, float]]:
        scores, positions = score(rows)
        return [
            {doc_ids[p]: float(s) for s, p in zip(row_s, row_p, strict=True) if p >= 0}
            for row_s, row_p in zip(scores, positions, strict=True)
        ]

    cost = encoding | {"model_load_s": session.load_seconds(spec), "scorer_bytes": held}
    params = {"by": name, "scorer": model.describe()}
    return rescore, cost, params


def _positions(dataset: Dataset, first: list[Hits]) -> np.ndarray:
    """Each query's candidates as document positions, -1 padding short lists."""
    position = {doc: i for i, doc in enumerate(dataset.doc_ids)}
    width = max((len(h) for h in first), default=0)
    wanted = np.full((len(first), max(width, 1)), -1, dtype=np.int64)
    for row, hits in enumerate(first):
        wanted[row, : len(hits)] = [position[doc] for doc, _ in hits]
    return wanted
