"""Orchestration only: a Suite's cells -> CellRecords. Prints nothing; reports through a Reporter.

Work is shared where the grid allows: a dataset loads once, a model loads once per run, an
embedder encodes each dataset once for all its indexes, the query side is timed once per
dataset, model and thread count, and an index builds once for all its search settings. A
failing cell is recorded with its error and the run goes on, so nothing computed is lost. A
failure of the reporter's `cell_done` (where the caller saves the record) is not a failing cell:
it stops the run, since a cell counts as finished only once it is saved.

Every search is timed by the protocol of harness.measure on the cell's thread count, with
the machine's load, the CPU other processes took and a speed probe recorded around it. Each
timed figure is stored with its bootstrap interval (harness.spread), and every timed call is
kept with the cell.
"""

from __future__ import annotations

import functools
import json
import math
import platform
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from harness.cache import VectorStore
from harness.datasets import LOADERS, Dataset
from harness.datasets.base import query_facts
from harness.embedders import EMBEDDERS
from harness.embedders.base import EncodedIndexModel, Side
from harness.errors import HarnessError
from harness.evaluate import AVERAGING, ann_recall, evaluate, exact_neighbours, to_run
from harness.figures import ENCODING_FIGURES
from harness.indexes import INDEXES
from harness.machine import SpeedProbe, cpu_snapshot, load_average, others_cpu
from harness.measure import MemoryWatch, StageTimes, thread_limit, time_stage, timed
from harness.plan import CellsUnit, without
from harness.record import (
    CellKey,
    CellRecord,
    DatasetInfo,
    EmbedderInfo,
    IndexInfo,
    Ranking,
    SuiteInfo,
)
from harness.spec import Cell, DatasetSpec, EmbedderSpec, IndexSpec, Suite, search_key
from harness.spread import Series, summarize

Hits = tuple[np.ndarray, np.ndarray]
PIPELINE_KIND = "pipeline"
"""The embedder kind recorded for a pipeline's cells (harness.pipelines)."""


class Reporter(Protocol):
    def task(self, description: str, total: int) -> None:
        """A new stage with `total` units of work begins."""

    def advance(self, n: int) -> None: ...

    def cell_done(self, record: CellRecord) -> None:
        """The cell finished or failed. An exception raised here stops the run."""

    def cell_skipped(self, cell: Cell, cell_id: str) -> None:
        """The cell has a result already (resume); it is not computed again."""


class SilentReporter:
    def task(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def cell_done(self, record: CellRecord) -> None:
        pass

    def cell_skipped(self, cell: Cell, cell_id: str) -> None:
        pass


def run_unit(
    session: Session, dataset: Dataset, unit: CellsUnit, skip: Collection[str] = frozenset()
) -> Iterator[CellRecord]:
    """A unit's records: cells in `skip` are reported skipped (resume), the rest computed; a
    failure fails the unit's unfinished cells (or one index's) and the caller goes on."""
    for cell, cell_id in unit.ids.items():
        if cell_id in skip:
            session.reporter.cell_skipped(cell, cell_id)
    todo = without(unit, set(skip))
    finished: set[str] = set()
    try:
        if todo.cells:  # nothing to compute: no model loaded, nothing encoded
            for record in _run_group(session, dataset, todo):
                finished.add(record.cell.cell_id)
                yield record
    except Exception as err:  # recorded on each unfinished cell; the grid goes on
        for cell, cell_id in todo.ids.items():
            if cell_id not in finished:
                yield session.failed(cell, cell_id, err)


def load_dataset(spec: DatasetSpec, reporter: Reporter) -> Dataset:
    reporter.task(f"{spec.name}: loading", 1)
    dataset: Dataset = LOADERS.get(spec.loader)(spec.params).load(spec.name)
    reporter.advance(1)
    return dataset


class Session:
    """What a whole run shares: one instance (and one model load) per embedder, the speed
    probe, and the query side's timings by dataset, model and thread count."""

    def __init__(
        self,
        suite: Suite,
        reporter: Reporter,
        cache: VectorStore | None,
        node: str | None = None,
    ) -> None:
        self.suite, self.reporter, self.cache = suite, reporter, cache
        self.node = node or platform.node()
        self.probe = SpeedProbe()
        self._embedders: dict[str, Any] = {}
        self._load_seconds: dict[str, float] = {}
        self._query_side: dict[tuple[str, str, int], dict[str, Series]] = {}
        self.info = SuiteInfo(suite.name, suite.k, suite.metrics, AVERAGING)

    def failed(self, cell: Cell, cell_id: str, err: Exception) -> CellRecord:
        pipeline = self.suite.pipeline(cell.embedder)
        if pipeline is not None:
            described = EmbedderInfo(PIPELINE_KIND, pipeline.description)
        else:
            spec = self.suite.embedder(cell.embedder)
            described = EmbedderInfo(spec.kind, getattr(spec.params, "model", spec.kind))
        return CellRecord(
            cell_key(cell, cell_id), self.info, described, "failed", _failure(err), node=self.node
        )

    def embedder_info(self, cell: Cell, described: dict[str, Any]) -> EmbedderInfo:
        """The cell's embedder as recorded: its kind, and what the encoder's `describe` says."""
        spec = self.suite.embedder(cell.embedder)
        params = dict(described)
        return EmbedderInfo(
            kind=spec.kind,
            model=params.pop("model", getattr(spec.params, "model", spec.kind)),
            model_source=params.pop("model_source", ""),
            query_encoder=params.pop("query_encoder", None),
            params=params,
        )

    def embedder(self, spec: EmbedderSpec) -> Any:
        if spec.name not in self._embedders:
            self._embedders[spec.name] = EMBEDDERS.get(spec.kind)(spec.params)
        return self._embedders[spec.name]

    def loaded(self, spec: EmbedderSpec) -> Any:
        """The encoding embedder with its model loaded (once per run, timed)."""
        embedder = self.embedder(spec)
        if spec.name not in self._load_seconds:
            with timed() as load:
                embedder.load()
            self._load_seconds[spec.name] = load.seconds
        return embedder

    def load_seconds(self, spec: EmbedderSpec) -> float:
        return self._load_seconds.get(spec.name, math.nan)

    def encoding_query_side(
        self, dataset: Dataset, spec: EmbedderSpec, threads: int
    ) -> dict[str, Series]:
        """Batch-1 and batched encoding of the queries, timed once per thread count."""
        key = (dataset.fingerprint, spec.name, threads)
        if getattr(self.embedder(spec), "precomputed", False):
            return {}  # given vectors: no query side to time
        if key not in self._query_side:
            embedder = self.loaded(spec)
            texts = dataset.query_texts
            self.reporter.task(f"{dataset.name} · {spec.name}: timing query encoding", 1)
            encode = functools.partial(_encode_queries, embedder, texts)
            use_threads = getattr(embedder, "use_threads", lambda threads: None)
            try:
                use_threads(threads)  # runtimes with their own thread pool (ONNX, OpenVINO)
                with thread_limit(threads):
                    times, _ = time_stage(encode, len(texts), self.suite.timing, self.probe.once)
            finally:
                use_threads(None)
            self.reporter.advance(1)
            self._query_side[key] = named_series(times, "query", dataset.query_ids)
        return self._query_side[key]


def cell_key(cell: Cell, cell_id: str) -> CellKey:
    return CellKey(
        cell_id,
        cell.key,
        cell.dataset,
        cell.embedder,
        cell.index or "",
        cell.search,
        cell.order,
        cell.threads,
    )


def _encode_queries(embedder: Any, texts: Sequence[str], rows: np.ndarray) -> np.ndarray:
    encoded: np.ndarray = embedder.encode([texts[i] for i in rows], "query", None)
    return encoded


def named_series(times: StageTimes, stage: str, query_ids: Sequence[str]) -> dict[str, Series]:
    """A stage's calls as series, batch-1 calls naming their query ids rather than positions;
    its speed probes as `<stage>.probe`."""
    ids = np.asarray(query_ids, dtype=object)
    single = times.single
    positions = np.asarray(single.queries, dtype=np.int64)
    return {
        f"{stage}.single": Series.of(single.seconds, single.rounds, ids[positions]),
        f"{stage}.batch": times.batch,
        f"{stage}.probe": times.probe,
    }


def cell_series(search: dict[str, Series], query: dict[str, Series]) -> dict[str, Series]:
    """A cell's series: its search's and its query side's, their speed probes as one `probe`."""
    probe = Series.concat(
        [s[f"{n}.probe"] for s, n in ((query, "query"), (search, "search")) if f"{n}.probe" in s]
    )
    calls = {name: s for name, s in (search | query).items() if not name.endswith(".probe")}
    return calls | {"probe": probe}


class CellGroup:
    """What the cells of one dataset x embedder share, and how a cell is timed and assembled."""

    def __init__(
        self, session: Session, dataset: Dataset, spec: DatasetSpec, ids: dict[Cell, str]
    ) -> None:
        self.session, self.suite, self.dataset = session, session.suite, dataset
        self.spec, self.ids = spec, ids
        self.memory = MemoryWatch()
        # BEIR retrieves one extra hit when it will drop the query's own id
        self.depth = self.suite.k + 1 if spec.ignore_identical_ids else self.suite.k
        self.described = DatasetInfo(
            fingerprint=dataset.fingerprint,
            corpus_fingerprint=dataset.corpus_fingerprint,
            split=dataset.split,
            n_docs=len(dataset.doc_ids),
            n_queries=len(dataset.query_ids),
            ignore_identical_ids=spec.ignore_identical_ids,
            queries=query_facts(dataset),
            provenance=dataset.provenance,
        )

    def build(self, make: Callable[[], Any], label: str) -> tuple[Any, Series]:
        """Build with `make` once per round (the last build is kept), timing each build."""
        self.session.reporter.task(f"{label}: building", self.suite.timing.rounds)
        self.memory.start_index()
        built, seconds = None, []
        for _ in range(self.suite.timing.rounds):
            built = None  # an earlier round's build is freed before the next one
            with timed() as watch:
                built = make()
            seconds.append(watch.seconds)
            self.session.reporter.advance(1)
        self.memory.after_build()
        return built, Series.of(seconds, np.arange(len(seconds)))

    def timed_search(
        self, cell: Cell, search: Callable[[np.ndarray], Hits], label: str
    ) -> tuple[dict[str, Series], dict[str, float], Hits]:
        """Time a cell's search on its thread count, with the machine's state around it."""
        session = self.session
        session.reporter.task(f"{label}: timing the search", 1)
        self.memory.before_search()
        load_start, cpu_start = load_average(), cpu_snapshot()
        with thread_limit(cell.threads):
            n_queries = len(self.dataset.query_ids)
            times, hits = time_stage(search, n_queries, self.suite.timing, session.probe.once)
        cpu_end, load_end = cpu_snapshot(), load_average()
        self.memory.after_search()
        session.reporter.advance(1)
        machine = {
            "threads": float(cell.threads),
            "load_start": load_start,
            "load_end": load_end,
            "other_cpu": others_cpu(cpu_start, cpu_end),
        }
        return named_series(times, "search", self.dataset.query_ids), machine, hits

    def result(
        self,
        cell: Cell,
        embedder: dict[str, Any],
        index: IndexInfo,
        series: dict[str, Series],
        hits: Hits,
        cost: dict[str, float],
    ) -> CellRecord:
        scores, positions = hits
        run = to_run(
            self.dataset.query_ids,
            self.dataset.doc_ids,
            scores,
            positions,
            self.suite.k,
            ignore_identical_ids=self.spec.ignore_identical_ids,
        )
        described = self.session.embedder_info(cell, embedder)
        return self.record(cell, described, index, series, run, cost)

    def record(
        self,
        cell: Cell,
        embedder: EmbedderInfo,
        index: IndexInfo,
        series: dict[str, Series],
        run: Ranking,
        cost: dict[str, float],
    ) -> CellRecord:
        """The cell's record: its ranking evaluated, its timed series summarised."""
        evaluation = evaluate(self.dataset.qrels, run, self.suite.metrics)
        memory = {
            "peak_rss_bytes": float(self.memory.group_peak_bytes()),
            "index_rss_bytes": float(self.memory.index_bytes()),
        }
        empty = {"queries_without_results": float(sum(1 for hits in run.values() if not hits))}
        return CellRecord(
            cell_key(cell, self.ids[cell]),
            self.session.info,
            embedder,
            "ok",
            dataset=self.described,
            index=index,
            metrics=evaluation.means,
            per_query=evaluation.per_query,
            cost=cost | summarize(series, len(self.dataset.query_ids)) | memory | empty,
            ranking=run,
            timings=series,
            node=self.session.node,
        )


def _run_group(session: Session, dataset: Dataset, unit: CellsUnit) -> Iterator[CellRecord]:
    embedder_spec, cells = unit.embedder, list(unit.cells)
    base = encoder(session.suite, embedder_spec)
    if not dataset.has_texts and not getattr(session.embedder(base), "precomputed", False):
        raise HarnessError(
            f"dataset '{dataset.name}' holds vectors, not texts ({dataset.source}); only "
            f"embedders of kind 'vectors' run on it, not '{embedder_spec.name}'"
        )
    group = CellGroup(session, dataset, unit.dataset, unit.ids)  # memory is measured per group
    if dataset.candidates:  # a re-ranking collection: cells rank each query's candidates
        from harness.reranking import candidate_cells  # it builds on this module

        yield from candidate_cells(group, embedder_spec, cells)
    elif embedder_spec.family == "lexical":
        yield from _lexical_cells(group, embedder_spec, cells)
    elif embedder_spec.family in ("sparse", "multivector"):
        yield from _encoded_index_cells(group, embedder_spec, cells)
    else:
        yield from _dense_cells(group, embedder_spec, cells)


def _lexical_cells(group: CellGroup, spec: EmbedderSpec, cells: list[Cell]) -> Iterator[CellRecord]:
    """A lexical retriever indexes the corpus itself; its query side is tokenising."""
    dataset = group.dataset
    label = f"{dataset.name} · {spec.name}"

    retriever, builds = group.build(functools.partial(indexed_retriever, spec, dataset), label)
    texts = dataset.query_texts
    cost = _no_encoding() | _index_cost(retriever.nbytes(), len(dataset.doc_ids))
    described = IndexInfo(kind="", build_params="", search_effective="")
    embedder = retriever.describe() | {"query_encoder": f"{spec.kind}:{spec.name}"}
    for cell in cells:
        group.session.reporter.task(f"{label}: timing tokenising", 1)
        tokenising = functools.partial(tokenise, retriever, texts)
        with thread_limit(cell.threads):
            query_times, encoded = time_stage(
                tokenising, len(texts), group.suite.timing, group.session.probe.once
            )
        search = functools.partial(lexical_search, retriever, encoded, group.depth, cell.threads)
        series, machine, hits = group.timed_search(cell, search, label)
        series = cell_series(series, named_series(query_times, "query", dataset.query_ids))
        series["build"] = builds
        yield group.result(cell, embedder, described, series, hits, cost | machine)


def _encoded_index_cells(
    group: CellGroup, spec: EmbedderSpec, cells: list[Cell]
) -> Iterator[CellRecord]:
    """A model with an index of its own over what it encodes (a learned sparse model's posting
    lists, a multi-vector model's token vectors): both sides encoded (cached), the index built
    from the documents', the queries' encoding timed as its query side."""
    session, dataset = group.session, group.dataset
    label = f"{dataset.name} · {spec.name}"
    encoded, encoding = encode_sides(session, dataset, spec)
    embedder: EncodedIndexModel = session.embedder(spec)
    documents = embedder.searchable(encoded["document"], "document")
    queries = embedder.searchable(encoded["query"], "query")
    threads = dict.fromkeys(c.threads for c in cells)
    query_side = {n: session.encoding_query_side(dataset, spec, n) for n in threads}
    index, builds = group.build(functools.partial(embedder.index_for, documents), label)
    cost = (
        encoding
        | _index_cost(index.nbytes(), len(dataset.doc_ids))
        | embedder.figures(documents, queries)
        | {"model_load_s": session.load_seconds(spec)}
    )
    build, search = embedder.index_settings()
    described = IndexInfo(embedder.index_kind, json.dumps(build), json.dumps(search))
    about = embedder.describe() | {"query_encoder": f"{spec.kind}:{spec.name}"}
    for cell in cells:
        timed_search = functools.partial(_search_encoded, index, queries, group.depth)
        series, machine, hits = group.timed_search(cell, timed_search, label)
        series = cell_series(series, query_side[cell.threads])
        series["build"] = builds
        yield group.result(cell, about, described, series, hits, cost | machine)


def _search_encoded(index: Any, queries: Any, depth: int, rows: np.ndarray) -> Hits:
    hits: Hits = index.search(queries[rows], depth)
    return hits


def tokenise(retriever: Any, texts: Sequence[str], rows: np.ndarray) -> list[Any]:
    return list(retriever.encode_queries([texts[i] for i in rows]))


def _dense_cells(group: CellGroup, spec: EmbedderSpec, cells: list[Cell]) -> Iterator[CellRecord]:
    session, dataset = group.session, group.dataset
    vectors, encoding = dense_vectors(session, dataset, spec)
    derived = EMBEDDERS.get(spec.kind)(spec.params) if spec.derived_from is not None else None
    encoder_spec = encoder(session.suite, spec)
    query_side = {
        n: session.encoding_query_side(dataset, encoder_spec, n)
        for n in dict.fromkeys(c.threads for c in cells)
    }
    dim = vectors["document"].shape[1]
    encoding |= {
        "model_load_s": session.load_seconds(encoder_spec),  # once per run, for every dataset
        "dim": float(dim),
        # one document vector as the embedder stores it
        "vector_bytes": float(derived.vector_bytes(dim) if derived is not None else 4 * dim),
    }
    embedder = session.embedder(encoder_spec).describe()
    if derived is not None:
        embedder |= {f"derived_{k}": v for k, v in derived.params.model_dump().items()}
    embedder["query_encoder"] = f"{encoder_spec.kind}:{encoder_spec.name}"
    truth_scores, _ = exact_neighbours(vectors["document"], vectors["query"], group.depth)
    for index_name in dict.fromkeys(c.index for c in cells if c.index is not None):
        index_cells = [c for c in cells if c.index == index_name]
        finished: set[str] = set()
        try:
            for record in _index_cells(
                group,
                session.suite.index(index_name),
                vectors | {"truth_scores": truth_scores},
                _Encoded(embedder, encoding, query_side),
                index_cells,
            ):
                finished.add(record.cell.cell_id)
                yield record
        except Exception as err:  # this index's cells fail; the next index still runs
            for cell in index_cells:
                if group.ids[cell] not in finished:
                    yield group.session.failed(cell, group.ids[cell], err)


def encoder(suite: Suite, spec: EmbedderSpec) -> EmbedderSpec:
    """The embedder that encodes for `spec`: itself, or the one a derived embedder transforms."""
    return spec if spec.derived_from is None else suite.embedder(spec.derived_from)


def dense_vectors(
    session: Session, dataset: Dataset, spec: EmbedderSpec
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """A dense embedder's document and query vectors (a derived one's transformed from its
    base's), with the encoding figures."""
    vectors, encoding = encode_sides(session, dataset, encoder(session.suite, spec))
    if spec.derived_from is not None:
        derived = EMBEDDERS.get(spec.kind)(spec.params)
        vectors["document"], vectors["query"] = derived.transform(
            vectors["document"], vectors["query"]
        )
    return vectors, encoding


def encode_sides(
    session: Session, dataset: Dataset, spec: EmbedderSpec
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Both sides' vectors, from the cache where it has them; encoding throughput."""
    embedder = session.embedder(spec)
    if getattr(embedder, "precomputed", False):
        return _given(session, dataset, spec, embedder)
    cache = session.cache
    # what the cache holds: the vectors themselves, or an embedder's packing of them (sparse)
    pack = getattr(embedder, "pack", _same)
    unpack = getattr(embedder, "unpack", _same)
    vectors: dict[str, Any] = {}
    seconds, encoded = {}, {}
    for side, texts in sides(dataset).items():
        session.reporter.task(f"{dataset.name} · {spec.name}: encoding {side} texts", len(texts))
        key = vectors_key(embedder, dataset, side) if cache else {}
        hit = cache.get(key) if cache else None
        if hit is not None:
            session.reporter.advance(len(texts))
            vectors[side], seconds[side] = unpack(hit.vectors), hit.encode_seconds
            encoded[side] = len(texts) if hit.fresh else 0
            continue
        session.loaded(spec)
        with timed() as watch:
            fresh = embedder.encode(texts, side, session.reporter.advance)
        vectors[side] = (
            unpack(cache.put(key, pack(fresh), watch.seconds).vectors) if cache else fresh
        )
        seconds[side], encoded[side] = watch.seconds, len(texts)
    return vectors, {
        "encode_docs_s": seconds["document"],  # on a cache hit: the encode that filled it
        "docs_per_s": _rate(len(dataset.doc_texts), seconds["document"]),
        "encode_queries_s": seconds["query"],
        "queries_per_s": _rate(len(dataset.query_texts), seconds["query"]),
        "texts_encoded": float(encoded["document"] + encoded["query"]),
    }


def _same(vectors: Any) -> Any:
    return vectors


def sides(dataset: Dataset) -> dict[Side, Sequence[str]]:
    return {"document": dataset.doc_texts, "query": dataset.query_texts}


def vectors_key(embedder: Any, dataset: Dataset, side: Side) -> dict[str, Any]:
    """The cache key of a side's vectors: the embedder's settings and the texts' digest."""
    fingerprint = dataset.corpus_fingerprint if side == "document" else dataset.queries_fingerprint
    key: dict[str, Any] = embedder.cache_key(side)
    return key | {"texts": fingerprint, "count": len(sides(dataset)[side])}


def _given(
    session: Session, dataset: Dataset, spec: EmbedderSpec, embedder: Any
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Precomputed vectors, matched to the dataset by id; nothing was encoded here."""
    vectors = {}
    for side, ids in (("document", dataset.doc_ids), ("query", dataset.query_ids)):
        session.reporter.task(f"{dataset.name} · {spec.name}: reading {side} vectors", 1)
        vectors[side] = embedder.vectors(ids, side)
        session.reporter.advance(1)
    unmeasured = ("encode_docs_s", "docs_per_s", "encode_queries_s", "queries_per_s")
    return vectors, dict.fromkeys(unmeasured, math.nan) | {"texts_encoded": 0.0}


@dataclass(frozen=True)
class _Encoded:
    """What a dense group's cells share once encoded: the embedder's description, the encoding
    figures and the query side's timed calls by thread count."""

    embedder: dict[str, Any]
    encoding: dict[str, float]
    query_side: dict[int, dict[str, Series]]


def _index_cells(
    group: CellGroup,
    spec: IndexSpec,
    vectors: dict[str, np.ndarray],
    encoded: _Encoded,
    cells: list[Cell],
) -> Iterator[CellRecord]:
    """Build the index once per insertion order the cells ask for; search each setting."""
    for order in dict.fromkeys(c.order for c in cells):
        todo = [c for c in cells if c.order == order]  # others finished earlier
        yield from _ordered_cells(group, spec, vectors, encoded, todo, order)


def _ordered_cells(
    group: CellGroup,
    spec: IndexSpec,
    vectors: dict[str, np.ndarray],
    encoded: _Encoded,
    todo: list[Cell],
    order: int | None,
) -> Iterator[CellRecord]:
    label = f"{group.dataset.name} · {todo[0].embedder} · {spec.name}"
    label += f" order={order}" if order is not None else ""
    documents, queries = vectors["document"], vectors["query"]
    index, builds = group.build(OrderedIndex(spec, documents, order).build, label)
    cost = encoded.encoding | _index_cost(index.nbytes(), len(group.dataset.doc_ids))
    for settings in spec.search:
        for cell in [c for c in todo if c.search == search_key(settings)]:
            series, machine, hits = group.timed_search(
                cell,
                functools.partial(index.search, queries, group.depth, settings, cell.threads),
                f"{label} {cell.search}",
            )
            agreement = {  # neighbours found, against exact search on the same vectors
                f"ann_recall@{at}": ann_recall(
                    hits[1], vectors["truth_scores"], at, documents, queries
                )
                for at in dict.fromkeys((10, group.suite.k))
            }
            described = IndexInfo(
                kind=spec.kind,
                build_params=json.dumps(spec.build.model_dump(), sort_keys=True),
                search_effective=json.dumps(
                    index.index.effective(settings, group.depth), sort_keys=True
                ),
                insertion_seed=order,
            )
            series = cell_series(series, encoded.query_side[cell.threads])
            series["build"] = builds
            yield group.result(
                cell, encoded.embedder, described, series, hits, cost | agreement | machine
            )


class OrderedIndex:
    """An index built over the documents in a seeded insertion order (None: their own order),
    whose searches map hits back to document positions."""

    def __init__(self, spec: IndexSpec, documents: np.ndarray, order: int | None) -> None:
        self.spec = spec
        self.permutation = (
            None if order is None else np.random.default_rng(order).permutation(len(documents))
        )
        self._inserted = (
            documents
            if self.permutation is None
            else np.ascontiguousarray(documents[self.permutation])
        )
        self.index: Any = None

    def build(self) -> OrderedIndex:
        self.index = None  # an earlier build is freed first
        index = INDEXES.get(self.spec.kind)(self.spec.build)
        index.build(self._inserted)
        self.index = index
        return self

    def nbytes(self) -> int:
        return int(self.index.nbytes())

    def search(
        self, queries: np.ndarray, depth: int, settings: Any, threads: int, rows: np.ndarray
    ) -> Hits:
        scores, ids = self.index.search(queries[rows], depth, settings, threads)
        if self.permutation is not None:
            ids = np.where(ids >= 0, self.permutation[np.maximum(ids, 0)], -1)
        return scores, ids


def indexed_retriever(spec: EmbedderSpec, dataset: Dataset) -> Any:
    """A lexical retriever that has indexed the dataset's corpus."""
    retriever = EMBEDDERS.get(spec.kind)(spec.params)
    retriever.index(dataset.doc_texts)
    return retriever


def lexical_search(
    retriever: Any, encoded: list[Any], depth: int, threads: int, rows: np.ndarray
) -> Hits:
    """Search the queries at `rows` among `encoded` (their tokens, for BM25)."""
    hits: Hits = retriever.search([encoded[i] for i in rows], depth, threads)
    return hits


def _failure(err: Exception) -> str:
    """One line for a failed cell: our own errors as written, others with their type."""
    return str(err) if isinstance(err, HarnessError) else f"{type(err).__name__}: {err}"


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.inf


def _index_cost(n_bytes: int, n_docs: int) -> dict[str, float]:
    return {
        "index_bytes": float(n_bytes),
        "bytes_per_vector": n_bytes / n_docs if n_docs else math.nan,
    }


def _no_encoding() -> dict[str, float]:
    """Lexical retrievers encode nothing; their tokenising and indexing is build time."""
    return dict.fromkeys(ENCODING_FIGURES, math.nan) | {"texts_encoded": 0.0}
