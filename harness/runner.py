"""Orchestration only: a Suite's cells -> CellResults. Prints nothing; reports through a Reporter.

Work is shared where the grid allows: a dataset loads once, an embedder encodes each dataset
once for all its indexes, an index builds once for all its search settings. A failing cell is
recorded with its error and the run goes on, so nothing already computed is lost.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from harness.cache import EmbeddingCache
from harness.datasets import LOADERS, Dataset
from harness.embedders import EMBEDDERS
from harness.errors import HarnessError
from harness.evaluate import Run, ann_recall, evaluate, exact_neighbours, to_run
from harness.indexes import INDEXES
from harness.measure import SearchTiming, peak_rss_bytes, reset_peak_rss, time_search, timed
from harness.spec import Cell, DatasetSpec, EmbedderSpec, IndexSpec, Suite, search_key

Hits = tuple[np.ndarray, np.ndarray]


class Reporter(Protocol):
    def task(self, description: str, total: int) -> None:
        """A new stage with `total` units of work begins."""

    def advance(self, n: int) -> None: ...

    def cell_done(self, result: CellResult) -> None: ...

    def cell_skipped(self, cell: Cell, cell_id: str) -> None:
        """The cell has a result already (resume); it is not computed again."""


class SilentReporter:
    def task(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def cell_done(self, result: CellResult) -> None:
        pass

    def cell_skipped(self, cell: Cell, cell_id: str) -> None:
        pass


@dataclass
class CellResult:
    cell: Cell
    cell_id: str
    status: Literal["ok", "failed"]
    error: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)
    embedder: dict[str, Any] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    run: Run = field(default_factory=dict)
    """The ranking: query id -> document id -> score, best first."""


def run_suite(
    suite: Suite,
    reporter: Reporter | None = None,
    cache: EmbeddingCache | None = None,
    skip: Collection[str] = frozenset(),
) -> list[CellResult]:
    """Run every cell whose id is not in `skip`; `cache` (None: off) keeps encoded vectors."""
    reporter = reporter or SilentReporter()
    results: list[CellResult] = []
    cells = suite.cells()
    for dataset_spec in suite.datasets:
        dataset: Dataset | None = None
        for embedder_spec in suite.embedders:
            group = [
                c
                for c in cells
                if (c.dataset, c.embedder) == (dataset_spec.name, embedder_spec.name)
            ]
            ids = {c: suite.cell_id(c, "not loaded") for c in group}
            finished: set[Cell] = set()
            try:
                if dataset is None:
                    dataset = _load(dataset_spec, reporter)
                ids = {c: suite.cell_id(c, dataset.fingerprint) for c in group}
                for cell in [c for c in group if ids[c] in skip]:
                    finished.add(cell)
                    reporter.cell_skipped(cell, ids[cell])
                todo = [c for c in group if c not in finished]
                if todo:  # nothing to compute: no model loaded, nothing encoded
                    for result in _run_group(
                        suite, dataset, dataset_spec, embedder_spec, todo, ids, reporter, cache
                    ):
                        finished.add(result.cell)
                        results.append(result)
                        reporter.cell_done(result)
            except Exception as err:  # recorded on each unfinished cell; the grid goes on
                for cell in group:
                    if cell not in finished:
                        failed = CellResult(cell, ids[cell], "failed", error=_failure(err))
                        results.append(failed)
                        reporter.cell_done(failed)
    return results


def _load(spec: DatasetSpec, reporter: Reporter) -> Dataset:
    reporter.task(f"{spec.name}: loading", 1)
    dataset: Dataset = LOADERS.get(spec.loader)(spec.params).load(spec.name)
    reporter.advance(1)
    return dataset


class _Group:
    """What the cells of one dataset x embedder share, and how a cell's result is assembled."""

    def __init__(
        self,
        suite: Suite,
        dataset: Dataset,
        spec: DatasetSpec,
        embedder: Any,
        ids: dict[Cell, str],
        derived: Any = None,
    ) -> None:
        self.suite, self.dataset, self.spec, self.embedder = suite, dataset, spec, embedder
        self.ids, self.derived = ids, derived
        # BEIR retrieves one extra hit when it will drop the query's own id
        self.depth = suite.k + 1 if spec.ignore_identical_ids else suite.k
        self.described = {
            "dataset_fingerprint": dataset.fingerprint,
            "corpus_fingerprint": dataset.corpus_fingerprint,
            "split": dataset.split,
            "n_docs": len(dataset.doc_ids),
            "n_queries": len(dataset.query_ids),
            "ignore_identical_ids": spec.ignore_identical_ids,
        }

    def describe_embedder(self) -> dict[str, Any]:
        described: dict[str, Any] = self.embedder.describe()
        if self.derived is not None:
            described |= {f"derived_{k}": v for k, v in self.derived.params.model_dump().items()}
        return described

    def timed_search(
        self, search: Callable[[np.ndarray], Hits], reporter: Reporter, label: str
    ) -> tuple[SearchTiming, Hits]:
        reporter.task(f"{label}: searching", 1)
        timing, hits = time_search(search, len(self.dataset.query_ids))
        reporter.advance(1)
        return timing, hits

    def result(
        self,
        cell: Cell,
        index: dict[str, Any],
        timing: SearchTiming,
        hits: Hits,
        cost: dict[str, float],
    ) -> CellResult:
        scores, positions = hits
        run = to_run(
            self.dataset.query_ids,
            self.dataset.doc_ids,
            scores,
            positions,
            self.suite.k,
            ignore_identical_ids=self.spec.ignore_identical_ids,
        )
        evaluation = evaluate(self.dataset.qrels, run, self.suite.metrics)
        return CellResult(
            cell,
            self.ids[cell],
            "ok",
            dataset=self.described,
            embedder=self.describe_embedder(),
            index=index,
            metrics=evaluation.means,
            per_query=evaluation.per_query,
            cost=cost
            | {
                "latency_p50_ms": timing.latency_p50_ms,
                "latency_p95_ms": timing.latency_p95_ms,
                "latency_p99_ms": timing.latency_p99_ms,
                "qps": timing.qps,
                "peak_rss_bytes": float(peak_rss_bytes()),
                "queries_without_results": float(sum(1 for hits in run.values() if not hits)),
            },
            run=run,
        )


def _run_group(
    suite: Suite,
    dataset: Dataset,
    dataset_spec: DatasetSpec,
    embedder_spec: EmbedderSpec,
    cells: list[Cell],
    ids: dict[Cell, str],
    reporter: Reporter,
    cache: EmbeddingCache | None,
) -> Iterator[CellResult]:
    reset_peak_rss()  # peak memory is measured per dataset x embedder group
    derived = None
    if embedder_spec.derived_from is not None:  # transforms another embedder's vectors
        derived = EMBEDDERS.get(embedder_spec.kind)(embedder_spec.params)
        embedder_spec = suite.embedder(embedder_spec.derived_from)
    embedder = EMBEDDERS.get(embedder_spec.kind)(embedder_spec.params)
    group = _Group(suite, dataset, dataset_spec, embedder, ids, derived)
    if embedder_spec.family == "lexical":
        yield _lexical_cell(group, cells[0], reporter)
    else:
        yield from _dense_cells(group, embedder_spec.name, cells, reporter, cache)


def _lexical_cell(group: _Group, cell: Cell, reporter: Reporter) -> CellResult:
    dataset, retriever = group.dataset, group.embedder
    label = f"{cell.dataset} · {cell.embedder}"
    reporter.task(f"{label}: indexing", 1)
    with timed() as build:
        retriever.index(dataset.doc_texts)
    reporter.advance(1)
    timing, hits = group.timed_search(
        lambda pos: retriever.search([dataset.query_texts[i] for i in pos], group.depth),
        reporter,
        label,
    )
    cost = _no_encoding() | _index_cost(build.seconds, retriever.nbytes(), len(dataset.doc_ids))
    return group.result(
        cell, {"index_kind": "", "build_params": "", "search_effective": ""}, timing, hits, cost
    )


def _dense_cells(
    group: _Group, name: str, cells: list[Cell], reporter: Reporter, cache: EmbeddingCache | None
) -> Iterator[CellResult]:
    dataset, embedder = group.dataset, group.embedder
    sides = {
        "document": (dataset.doc_texts, dataset.corpus_fingerprint),
        "query": (dataset.query_texts, dataset.queries_fingerprint),
    }
    vectors, seconds, encoded = {}, {}, {}
    load_seconds = math.nan
    for side, (texts, fingerprint) in sides.items():
        reporter.task(f"{dataset.name} · {name}: encoding {side}s", len(texts))
        key = (
            embedder.cache_key(side) | {"texts": fingerprint, "count": len(texts)} if cache else {}
        )
        hit = cache.get(key) if cache else None
        if hit is not None:
            reporter.advance(len(texts))
            vectors[side], seconds[side], encoded[side] = hit.vectors, hit.encode_seconds, 0
            continue
        if math.isnan(load_seconds):
            with timed() as load:
                embedder.load()
            load_seconds = load.seconds
        with timed() as watch:
            fresh = embedder.encode(texts, side, reporter.advance)
        vectors[side] = cache.put(key, fresh, watch.seconds).vectors if cache else fresh
        seconds[side], encoded[side] = watch.seconds, len(texts)
    if group.derived is not None:
        vectors["document"], vectors["query"] = group.derived.transform(
            vectors["document"], vectors["query"]
        )
    dim = vectors["document"].shape[1]
    vector_bytes = group.derived.vector_bytes(dim) if group.derived is not None else 4 * dim
    encoding = {
        "model_load_s": load_seconds,  # NaN when every vector came from the cache
        "encode_docs_s": seconds["document"],  # on a cache hit: the encode that filled it
        "docs_per_s": _rate(len(dataset.doc_texts), seconds["document"]),
        "encode_queries_s": seconds["query"],
        "queries_per_s": _rate(len(dataset.query_texts), seconds["query"]),
        "texts_encoded": float(encoded["document"] + encoded["query"]),
        "dim": float(vectors["document"].shape[1]),
        "vector_bytes": float(vector_bytes),  # one document vector as the embedder stores it
    }
    truth_scores, _ = exact_neighbours(vectors["document"], vectors["query"], group.depth)
    for index_name in dict.fromkeys(c.index for c in cells if c.index is not None):
        index_cells = [c for c in cells if c.index == index_name]
        finished: set[Cell] = set()
        try:
            for result in _index_cells(
                group,
                group.suite.index(index_name),
                vectors | {"truth_scores": truth_scores},
                encoding,
                index_cells,
                reporter,
            ):
                finished.add(result.cell)
                yield result
        except Exception as err:  # this index's cells fail; the next index still runs
            for cell in index_cells:
                if cell not in finished:
                    yield CellResult(cell, group.ids[cell], "failed", error=_failure(err))


def _index_cells(
    group: _Group,
    spec: IndexSpec,
    vectors: dict[str, np.ndarray],
    encoding: dict[str, float],
    cells: list[Cell],
    reporter: Reporter,
) -> Iterator[CellResult]:
    """Build the index once per insertion order the cells ask for; search each setting."""
    for order in dict.fromkeys(c.order for c in cells):
        todo = {c.search: c for c in cells if c.order == order}  # others finished earlier
        yield from _ordered_cells(group, spec, vectors, encoding, todo, order, reporter)


def _ordered_cells(
    group: _Group,
    spec: IndexSpec,
    vectors: dict[str, np.ndarray],
    encoding: dict[str, float],
    todo: dict[str, Cell],
    order: int | None,
    reporter: Reporter,
) -> Iterator[CellResult]:
    label = f"{group.dataset.name} · {next(iter(todo.values())).embedder} · {spec.name}"
    label += f" order={order}" if order is not None else ""
    documents, queries = vectors["document"], vectors["query"]
    # a seeded permutation of the insertion order; hits are mapped back to positions
    permutation = (
        None if order is None else np.random.default_rng(order).permutation(len(documents))
    )
    index = INDEXES.get(spec.kind)(spec.build)
    reporter.task(f"{label}: building", 1)
    with timed() as build:
        index.build(
            documents if permutation is None else np.ascontiguousarray(documents[permutation])
        )
    reporter.advance(1)
    cost = encoding | _index_cost(build.seconds, index.nbytes(), len(group.dataset.doc_ids))

    def search_rows(positions: np.ndarray, settings: Any) -> Hits:
        scores, ids = index.search(queries[positions], group.depth, settings)
        if permutation is not None:
            ids = np.where(ids >= 0, permutation[np.maximum(ids, 0)], -1)
        return scores, ids

    for search in spec.search:
        cell = todo.get(search_key(search))
        if cell is None:
            continue
        timing, hits = group.timed_search(
            functools.partial(search_rows, settings=search), reporter, f"{label} {cell.search}"
        )
        agreement = {  # neighbours found, against exact search on the same vectors
            f"ann_recall@{at}": ann_recall(
                hits[1], vectors["truth_scores"], at, vectors["document"], vectors["query"]
            )
            for at in dict.fromkeys((10, group.suite.k))
        }
        described = {
            "index_kind": spec.kind,
            "build_params": json.dumps(spec.build.model_dump(), sort_keys=True),
            "search_effective": json.dumps(index.effective(search, group.depth), sort_keys=True),
            "insertion_seed": order,
        }
        yield group.result(cell, described, timing, hits, cost | agreement)


def _failure(err: Exception) -> str:
    """One line for a failed cell: our own errors as written, others with their type."""
    return str(err) if isinstance(err, HarnessError) else f"{type(err).__name__}: {err}"


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.inf


def _index_cost(build_seconds: float, n_bytes: int, n_docs: int) -> dict[str, float]:
    return {
        "build_s": build_seconds,
        "index_bytes": float(n_bytes),
        "bytes_per_vector": n_bytes / n_docs if n_docs else math.nan,
    }


def _no_encoding() -> dict[str, float]:
    """Lexical retrievers encode nothing; their tokenising and indexing is build time."""
    keys = (
        "model_load_s",
        "encode_docs_s",
        "docs_per_s",
        "encode_queries_s",
        "queries_per_s",
        "dim",
        "vector_bytes",
    )
    return dict.fromkeys(keys, math.nan) | {"texts_encoded": 0.0}
