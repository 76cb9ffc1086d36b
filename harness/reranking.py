"""Cells of a re-ranking collection: each query's candidate list (MTEB's `top_ranked`, or a
first-stage run given to the loader) is what a cell ranks, scored as the embedder scores (a
dense model by inner product, BM25 by its term weights, a learned sparse model by the dot
product of its term weights, a multi-vector model by MaxSim), as MTEB re-ranks: the documents
are encoded (cached) or indexed whole, and each query scores only its candidates. No index is
searched, so every cell of an embedder ranks alike; the row's index kind says `candidates`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from harness.datasets import Dataset
from harness.indexes.base import rescored
from harness.measure import thread_limit, time_stage
from harness.record import CellRecord, IndexInfo
from harness.runner import (
    CellGroup,
    cell_series,
    dense_vectors,
    encode_sides,
    encoder,
    indexed_retriever,
    named_series,
    tokenise,
)
from harness.spec import Cell, EmbedderSpec

Hits = tuple[np.ndarray, np.ndarray]
# a query's scores for some of the documents: (query row, their positions) -> scores
ScoreRow = Callable[[int, np.ndarray], np.ndarray]
INDEX = IndexInfo("candidates", "{}", json.dumps({"candidates": "top_ranked"}))


def candidate_positions(dataset: Dataset) -> np.ndarray:
    """Queries x candidates: each query's candidates as document positions, -1 padded."""
    position = {d: i for i, d in enumerate(dataset.doc_ids)}
    lists = [dataset.candidates.get(q, []) for q in dataset.query_ids]
    width = max((len(c) for c in lists), default=0)
    table = np.full((len(lists), max(width, 1)), -1, dtype=np.int64)
    for row, candidates in enumerate(lists):
        table[row, : len(candidates)] = [position[d] for d in candidates]
    return table


def candidate_cells(
    group: CellGroup, spec: EmbedderSpec, cells: list[Cell]
) -> Iterator[CellRecord]:
    dataset, session = group.dataset, group.session
    positions = candidate_positions(dataset)
    label = f"{dataset.name} · {spec.name} · candidates"
    figures = {"candidates_per_query": float(np.mean(np.sum(positions >= 0, axis=1)))}
    if spec.family == "dense":
        vectors, encoding = dense_vectors(session, dataset, spec)
        encoder_spec = encoder(session.suite, spec)
        search = functools.partial(
            _dense, vectors["query"], vectors["document"], positions, group.depth
        )
        about = session.embedder(encoder_spec).describe()
        about["query_encoder"] = f"{encoder_spec.kind}:{encoder_spec.name}"
        cost = encoding | figures | {"model_load_s": session.load_seconds(encoder_spec)}
        for cell in cells:
            query = session.encoding_query_side(dataset, encoder_spec, cell.threads)
            series, machine, hits = group.timed_search(cell, search, label)
            yield group.result(cell, about, INDEX, cell_series(series, query), hits, cost | machine)
    elif spec.family == "lexical":
        retriever, builds = group.build(functools.partial(indexed_retriever, spec, dataset), label)
        about = retriever.describe() | {"query_encoder": f"{spec.kind}:{spec.name}"}
        texts = dataset.query_texts
        for cell in cells:
            with thread_limit(cell.threads):
                query_times, tokens = time_stage(
                    functools.partial(tokenise, retriever, texts),
                    len(texts),
                    group.suite.timing,
                    session.probe.once,
                )
            score = functools.partial(bm25_scores, retriever, tokens)
            search = functools.partial(_scored, score, positions, group.depth)
            series, machine, hits = group.timed_search(cell, search, label)
            series = cell_series(series, named_series(query_times, "query", dataset.query_ids))
            series["build"] = builds
            yield group.result(cell, about, INDEX, series, hits, figures | machine)
    else:  # sparse or multivector: both sides encoded (cached), each candidate scored
        encoded, encoding = encode_sides(session, dataset, spec)
        model = session.embedder(spec)
        documents = model.searchable(encoded["document"], "document")
        queries = model.searchable(encoded["query"], "query")
        pair = maxsim_scores if spec.family == "multivector" else dot_scores
        score = functools.partial(pair, queries, documents)
        search = functools.partial(_scored, score, positions, group.depth)
        about = model.describe() | {"query_encoder": f"{spec.kind}:{spec.name}"}
        cost = (
            encoding
            | figures
            | model.figures(documents, queries)
            | {"model_load_s": session.load_seconds(spec)}
        )
        for cell in cells:
            query = session.encoding_query_side(dataset, spec, cell.threads)
            series, machine, hits = group.timed_search(cell, search, label)
            yield group.result(cell, about, INDEX, cell_series(series, query), hits, cost | machine)


def _dense(
    queries: np.ndarray, documents: np.ndarray, positions: np.ndarray, depth: int, rows: np.ndarray
) -> Hits:
    return rescored(queries[rows], documents, positions[rows], depth)


def _scored(score: ScoreRow, positions: np.ndarray, depth: int, rows: np.ndarray) -> Hits:
    """Each query's candidates scored, best first (ties in candidate order), padded to `depth`."""
    scores = np.full(positions[rows].shape, -np.inf, dtype=np.float32)
    for j, row in enumerate(rows):
        found = positions[row] >= 0
        scores[j, found] = score(int(row), positions[row][found])
    best, picked = best_of(scores, positions[rows], depth)
    return _padded(best, picked, depth)


def best_of(scores: np.ndarray, candidates: np.ndarray, depth: int) -> Hits:
    """The `depth` best of each row's candidates (-inf: no candidate there), position -1 where
    a row has fewer."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    kept = np.take_along_axis(candidates, order, 1)
    kept_scores = np.take_along_axis(scores, order, 1)
    return kept_scores, np.where(np.isfinite(kept_scores), kept, -1)


def bm25_scores(
    retriever: Any, tokens: Sequence[list[int]], row: int, chosen: np.ndarray
) -> np.ndarray:
    scores: np.ndarray = retriever.score_candidates(tokens[row], chosen)
    return scores


def dot_scores(queries: Any, documents: Any, row: int, chosen: np.ndarray) -> np.ndarray:
    """Sparse rows (CSR): the query's term weights dotted with each chosen document's."""
    return np.asarray((documents[chosen] @ queries[row].T).toarray()).ravel()


def maxsim_scores(queries: Any, documents: Any, row: int, chosen: np.ndarray) -> np.ndarray:
    """Token vectors (`Ragged`): MaxSim of the query's against each chosen document's."""
    from harness.embedders.multivector import maxsim

    picked = documents[chosen]
    scores: np.ndarray = maxsim(queries[np.array([row])], picked.vectors, picked.starts)[0]
    return scores


def _padded(scores: np.ndarray, positions: np.ndarray, depth: int) -> Hits:
    short = depth - scores.shape[1]
    if short > 0:
        scores = np.pad(scores, ((0, 0), (0, short)), constant_values=-np.inf)
        positions = np.pad(positions, ((0, 0), (0, short)), constant_values=-1)
    return scores, positions
