"""Cells of a re-ranking collection: each query's candidate list (MTEB's `top_ranked`, or a
first-stage run given to the loader) is what a cell ranks, scored as the embedder scores (a
dense model by inner product, BM25 by its term weights), as MTEB re-ranks: the documents are
encoded (cached) or indexed whole, and each query scores only its candidates. No index is
searched, so every cell of an embedder ranks alike; the row's index kind says `candidates`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from harness.datasets import Dataset
from harness.errors import HarnessError
from harness.indexes.base import rescored
from harness.measure import thread_limit, time_stage
from harness.record import CellRecord, IndexInfo
from harness.runner import (
    CellGroup,
    cell_series,
    dense_vectors,
    encoder,
    indexed_retriever,
    named_series,
    tokenise,
)
from harness.spec import Cell, EmbedderSpec

Hits = tuple[np.ndarray, np.ndarray]
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
                query_times, encoded = time_stage(
                    functools.partial(tokenise, retriever, texts),
                    len(texts),
                    group.suite.timing,
                    session.probe.once,
                )
            search = functools.partial(_lexical, retriever, encoded, positions, group.depth)
            series, machine, hits = group.timed_search(cell, search, label)
            series = cell_series(series, named_series(query_times, "query", dataset.query_ids))
            series["build"] = builds
            yield group.result(cell, about, INDEX, series, hits, figures | machine)
    else:
        raise HarnessError(
            f"dataset '{dataset.name}' is a re-ranking collection (candidate lists); embedder "
            f"'{spec.name}' is {spec.family}, and harness re-ranks candidates with dense and "
            "lexical embedders: re-rank by a pipeline (pipelines: rerank) instead"
        )


def _dense(
    queries: np.ndarray, documents: np.ndarray, positions: np.ndarray, depth: int, rows: np.ndarray
) -> Hits:
    return rescored(queries[rows], documents, positions[rows], depth)


def _lexical(
    retriever: Any,
    encoded: Sequence[list[int]],
    positions: np.ndarray,
    depth: int,
    rows: np.ndarray,
) -> Hits:
    scores = np.full(positions[rows].shape, -np.inf, dtype=np.float32)
    for j, row in enumerate(rows):
        found = positions[row] >= 0
        scores[j, found] = retriever.score_candidates(encoded[row], positions[row][found])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    picked = np.take_along_axis(positions[rows], order, 1)
    best = np.take_along_axis(scores, order, 1)
    picked[~np.isfinite(best)] = -1
    return _padded(best, picked, depth)


def _padded(scores: np.ndarray, positions: np.ndarray, depth: int) -> Hits:
    short = depth - scores.shape[1]
    if short > 0:
        scores = np.pad(scores, ((0, 0), (0, short)), constant_values=-np.inf)
        positions = np.pad(positions, ((0, 0), (0, short)), constant_values=-1)
    return scores, positions
