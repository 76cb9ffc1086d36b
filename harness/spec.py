"""Suite files: YAML -> validated, typed `Suite` -> the grid of `Cell`s to run.

Every error names the suite file and line: unknown keys (extra="forbid"), wrong types,
unknown component kinds or metrics (with a did-you-mean), missing files and packages.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.datasets import LOADERS
from harness.embedders import EMBEDDERS
from harness.errors import HarnessError
from harness.executors.settings import ExecutorSettings
from harness.gate.rules import Expectation, Gate, parse_gate
from harness.indexes import INDEXES
from harness.measure import TimingSettings
from harness.pipelines.settings import Catalogue, PipelineSpec, StageRef, parse_pipelines
from harness.registry import Registry, did_you_mean, require, suggest
from harness.yamlmap import Loc, LocatedYaml, load_located, validate

Family = Literal["dense", "lexical", "sparse", "multivector"]
"""dense: vectors an index searches; the others own their index (one cell per thread count)."""
DEFAULT_DEPTH = 1000  # retrieval depth when a metric has no cutoff (BEIR's and MTEB's top-k)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class _SuiteFile(BaseModel):
    """The top level of a suite file; entries are checked one by one against their kind."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    description: str = ""
    datasets: list[dict[str, Any]] = Field(min_length=1)
    embedders: list[dict[str, Any]] = Field(min_length=1)
    indexes: list[dict[str, Any]] = []
    metrics: list[str] = Field(min_length=1)
    k: int | None = Field(None, gt=0)
    """Retrieval depth; defaults to the largest metric cutoff (1000 if a metric has none)."""
    expect: list[dict[str, Any]] = []
    """Expected metric values of cells, graded by `harness check`."""
    gates: list[str] = []
    """How far a run may move from a baseline, checked by `harness compare`."""
    threads: Any = 1
    """Threads (CPUs) every search runs on, or a list to sweep; checked by `_threads`. Indexes
    may set their own."""
    timing: dict[str, Any] = {}
    """The timing protocol's settings (harness.measure.TimingSettings)."""
    executor: dict[str, Any] = {}
    """Where the units run (harness.executors.ExecutorSettings); the command line overrides."""
    pipelines: list[dict[str, Any]] = []
    """Systems built from the grid's cells: fusion and re-ranking (harness.pipelines)."""


class _DatasetHead(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=_NAME)
    loader: str = "beir"
    ignore_identical_ids: bool | None = None
    """Drop a retrieved document whose id equals the query id (BEIR does for ArguAna, Quora);
    default: as the loader says (an MTEB task's own setting), else no."""


class _EmbedderHead(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=_NAME)
    kind: str


class _IndexHead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    kind: str
    build: dict[str, Any] = {}
    search: list[dict[str, Any]] | dict[str, Any] = [{}]
    """A list of settings, or a mapping whose list values form a grid."""
    insertion_seeds: list[int] = []
    """Build once per seed, inserting the documents in that seeded random order, to measure
    how much the result depends on insertion order; empty: the collection's own order."""
    threads: Any = None
    """Threads (CPUs) this index's searches run on, or a list to sweep; None: the suite's."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: str
    params: BaseModel
    ignore_identical_ids: bool


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    kind: str
    family: Family
    params: BaseModel

    @property
    def derived_from(self) -> str | None:
        """The embedder whose vectors this one transforms, for derived kinds."""
        return getattr(self.params, "of", None)


@dataclass(frozen=True)
class IndexSpec:
    name: str
    kind: str
    build: BaseModel
    search: tuple[BaseModel, ...]
    insertion_seeds: tuple[int, ...] = ()
    threads: tuple[int, ...] = (1,)
    """Thread counts its searches run with, one cell each."""

    @property
    def orders(self) -> tuple[int | None, ...]:
        """Insertion orders to build with; None is the collection's own order."""
        return self.insertion_seeds or (None,)


@dataclass(frozen=True, order=True)
class Cell:
    """One point of the grid. Lexical embedders have no index and no search settings."""

    dataset: str
    embedder: str
    index: str | None
    search: str
    """Search settings as compact JSON ('{"efSearch":16}'), '' when there are none."""
    order: int | None = None
    """Seed of the insertion order the index was built with; None: the collection's order."""
    threads: int = 1
    """Threads (CPUs) its searches and query side run on."""

    @property
    def key(self) -> str:
        parts = [self.dataset, self.embedder, self.index or "-", self.search or "-"]
        parts += [f"order={self.order}"] if self.order is not None else []
        return "/".join(parts + ([f"threads={self.threads}"] if self.threads != 1 else []))


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    datasets: tuple[DatasetSpec, ...]
    embedders: tuple[EmbedderSpec, ...]
    indexes: tuple[IndexSpec, ...]
    metrics: tuple[str, ...]
    k: int
    expectations: tuple[tuple[Expectation, Cell], ...] = ()
    gates: tuple[Gate, ...] = ()
    threads: tuple[int, ...] = (1,)
    """Thread counts of the cells that have no index of their own (lexical retrievers)."""
    timing: TimingSettings = dataclasses.field(default_factory=TimingSettings)
    executor: ExecutorSettings = dataclasses.field(default_factory=ExecutorSettings)
    pipelines: tuple[PipelineSpec, ...] = ()
    """In dependency order: a pipeline comes after those it reads."""
    warnings: tuple[str, ...] = ()
    """Things worth knowing before running that are not errors, each naming file:line."""

    def cells(self) -> list[Cell]:
        return list(self.iter_cells())

    def iter_cells(self) -> Iterator[Cell]:
        """The grid, cell by cell, without holding it (`harness run --dry-run` streams it)."""
        for dataset in self.datasets:
            for embedder in self.embedders:
                if embedder.family != "dense":
                    for threads in self.threads:
                        yield Cell(dataset.name, embedder.name, None, "", None, threads)
                    continue
                for index in self.indexes:
                    for order in index.orders:
                        for search in index.search:
                            key = search_key(search)
                            for n in index.threads:
                                yield Cell(dataset.name, embedder.name, index.name, key, order, n)
            for pipeline in self.pipelines:
                for key in pipeline.settings:
                    yield Cell(dataset.name, pipeline.name, None, key)

    @property
    def n_cells(self) -> int:
        """len(cells()), counted without building them."""
        dense = sum(e.family == "dense" for e in self.embedders)
        indexless = (len(self.embedders) - dense) * len(self.threads)
        per_dense = sum(len(i.orders) * len(i.search) * len(i.threads) for i in self.indexes)
        pipelines = sum(len(p.settings) for p in self.pipelines)
        return len(self.datasets) * (indexless + dense * per_dense + pipelines)

    def expected_values(self) -> list[dict[str, Any]]:
        """The expectations, one per cell and metric, as a run's manifest stores them."""
        return [
            {"cell": cell.key, "metric": m, "expected": v, "tolerance": expectation.tolerance}
            for expectation, cell in self.expectations
            for m, v in expectation.values.items()
        ]

    def index(self, name: str) -> IndexSpec:
        return next(i for i in self.indexes if i.name == name)

    def embedder(self, name: str) -> EmbedderSpec:
        return next(e for e in self.embedders if e.name == name)

    def pipeline(self, name: str) -> PipelineSpec | None:
        """The pipeline named `name`; None for an embedder's name."""
        return next((p for p in self.pipelines if p.name == name), None)

    def stage_cell(self, stage: StageRef, dataset: str) -> Cell:
        return Cell(dataset, stage.embedder, stage.index, stage.search, stage.order, stage.threads)

    def cell_id(self, cell: Cell, dataset_fingerprint: str) -> str:
        """Names a cell's result by everything that determines it: the data's content, every
        setting of its embedder and index, the metrics and depth. Same id, same numbers."""
        dataset = next(d for d in self.datasets if d.name == cell.dataset)
        pipeline = self.pipeline(cell.embedder)
        if pipeline is not None:
            return self._pipeline_cell_id(cell, pipeline, dataset, dataset_fingerprint)
        embedder = self.embedder(cell.embedder)
        config = {
            "data": dataset_fingerprint,
            "split": getattr(dataset.params, "split", None),
            "ignore_identical_ids": dataset.ignore_identical_ids,
            "embedder": [embedder.kind, identity(embedder.params)],
            "derived_from": None,
            "index": None,
            "search": cell.search,
            "metrics": sorted(self.metrics),
            "k": self.k,
        }
        if embedder.derived_from is not None:
            base = self.embedder(embedder.derived_from)
            config["derived_from"] = [base.kind, identity(base.params)]
        if cell.order is not None:  # only when set: ids of unordered cells stay as they were
            config["order"] = cell.order
        if cell.threads != 1:  # likewise: ids of single-threaded cells stay as they were
            config["threads"] = cell.threads
        if cell.index is not None:
            index = self.index(cell.index)
            config["index"] = [index.kind, index.build.model_dump(mode="json")]
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        parts = (cell.dataset, cell.embedder, cell.index or "lexical")
        readable = ".".join(_slug(p) for p in parts)
        return f"{readable}.{digest}"

    def _pipeline_cell_id(
        self, cell: Cell, pipeline: PipelineSpec, dataset: DatasetSpec, fingerprint: str
    ) -> str:
        """A pipeline's cells are named by their stages' cell ids, its scorer and settings."""
        scorer = pipeline.rerank.by if pipeline.rerank is not None else None
        config = {
            "data": fingerprint,
            "split": getattr(dataset.params, "split", None),
            "ignore_identical_ids": dataset.ignore_identical_ids,
            "pipeline": pipeline.definition(),
            "stages": [
                self.cell_id(self.stage_cell(s, cell.dataset), fingerprint) for s in pipeline.stages
            ],
            "scorer": None
            if scorer is None
            else [self.embedder(scorer).kind, identity(self.embedder(scorer).params)],
            "search": cell.search,
            "metrics": sorted(self.metrics),
            "k": self.k,
        }
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        return f"{cell.dataset}.{_slug(cell.embedder)}.pipeline.{digest}"


def identity(params: BaseModel) -> dict[str, Any]:
    """Settings as a cell id hashes them: one marked ID_WHEN_SET counts only when set away
    from its default."""
    dumped = params.model_dump(mode="json")
    for name, field in type(params).model_fields.items():
        extra = field.json_schema_extra
        marked = isinstance(extra, dict) and extra.get("id_when_set")
        if marked and getattr(params, name) == field.default:
            dumped.pop(name)
    return dumped


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text)


def search_key(params: BaseModel) -> str:
    dumped = params.model_dump()
    return json.dumps(dumped, separators=(",", ":"), sort_keys=True) if dumped else ""


def load_suite(path: str | Path) -> Suite:
    """Read, validate and resolve a suite file; raises SuiteError naming file:line."""
    doc = load_located(Path(path))
    top = validate(_SuiteFile, doc.data, (), doc)
    base = doc.path.parent
    datasets = tuple(_dataset(doc, i, entry, base) for i, entry in enumerate(top.datasets))
    embedders = tuple(_embedder(doc, i, entry, base) for i, entry in enumerate(top.embedders))
    threads = _threads(doc, ("threads",), top.threads)
    indexes = tuple(_index(doc, i, entry, threads) for i, entry in enumerate(top.indexes))
    for section, specs in (("datasets", datasets), ("embedders", embedders), ("indexes", indexes)):
        _unique_names(doc, section, [s.name for s in specs])
    _check_derived(doc, embedders)
    _check_texts(doc, datasets, embedders)
    if indexes == () and any(e.family == "dense" for e in embedders):
        dense = next(i for i, e in enumerate(embedders) if e.family == "dense")
        raise doc.error(
            ("embedders", dense),
            f"dense embedder '{embedders[dense].name}' needs an index; "
            "add one under indexes:, e.g. {name: exact, kind: faiss-flat}",
        )
    cutoffs = [_metric_cutoff(doc, i, m) for i, m in enumerate(top.metrics)]
    needed = DEFAULT_DEPTH if None in cutoffs else max(c for c in cutoffs if c is not None)
    if top.k is not None and top.k < needed:
        raise doc.error(("k",), f"k={top.k} is below the deepest metric cutoff {needed}; raise k")
    catalogue = Catalogue(
        families={e.name: e.family for e in embedders},
        indexes={i.name: (tuple(map(search_key, i.search)), i.orders, i.threads) for i in indexes},
        search_key=functools.partial(_stage_search_key, indexes),
        threads=threads,
        k=top.k or needed,
        deepest_cutoff=needed,
    )
    pipelines = parse_pipelines(doc, top.pipelines, catalogue)
    suite = Suite(
        name=top.name,
        path=doc.path,
        description=top.description,
        datasets=datasets,
        embedders=embedders,
        indexes=indexes,
        metrics=tuple(top.metrics),
        k=top.k or needed,
        threads=threads,
        timing=validate(TimingSettings, top.timing, ("timing",), doc),
        executor=validate(ExecutorSettings, top.executor, ("executor",), doc),
        pipelines=pipelines,
    )
    expectations = tuple(_expectation(doc, suite, i, e) for i, e in enumerate(top.expect))
    gates = tuple(_gate(doc, i, text) for i, text in enumerate(top.gates))
    warnings = (
        *_float_storage_warnings(doc, embedders, indexes),
        *_thread_warnings(doc, suite),
        *_size_warnings(doc, suite),
    )
    return dataclasses.replace(suite, expectations=expectations, gates=gates, warnings=warnings)


def _stage_search_key(indexes: tuple[IndexSpec, ...], name: str, search: dict[str, Any]) -> str:
    """A stage's search mapping as the grid keys it; unvalidated when it does not validate (the
    stage then names no setting of the index, and says which it has)."""
    kind: Any = INDEXES.get(next(i for i in indexes if i.name == name).kind)
    try:
        return search_key(kind.Search.model_validate(search))
    except ValueError:
        return json.dumps(search, sort_keys=True)


def _threads(doc: LocatedYaml, loc: Loc, value: Any) -> tuple[int, ...]:
    counts = value if isinstance(value, list) else [value]
    if not counts or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts):
        raise doc.error(
            loc, f"threads must be a whole number >= 1 or a list of them, got {value!r}"
        )
    if len(set(counts)) != len(counts):
        raise doc.error(loc, "a thread count appears twice; list each once")
    return tuple(counts)


LARGE_GRID = 5_000
"""More cells than this gets a warning: it is usually a list of settings multiplied by mistake."""


def _size_warnings(doc: LocatedYaml, suite: Suite) -> list[str]:
    n = suite.n_cells
    if n <= LARGE_GRID:
        return []
    sizes = (
        f"{len(suite.datasets)} datasets x {len(suite.embedders)} embedders x "
        f"{len(suite.indexes)} indexes, {sum(len(i.search) for i in suite.indexes)} search "
        "settings"
    )
    return [
        f"{doc.path}: {n:,} cells ({sizes}); a grid this large runs for a long time: check the "
        "lists of settings, or split the suite"
    ]


def _thread_warnings(doc: LocatedYaml, suite: Suite) -> list[str]:
    cpus = len(os.sched_getaffinity(0))
    asked = max((*suite.threads, *(n for i in suite.indexes for n in i.threads)), default=1)
    if asked <= cpus:
        return []
    return [
        f"{doc.path}: threads up to {asked} asked, but this machine lets harness use {cpus} "
        "CPUs: those cells share CPUs, and their cost figures say so"
    ]


def _float_storage_warnings(
    doc: LocatedYaml, embedders: tuple[EmbedderSpec, ...], indexes: tuple[IndexSpec, ...]
) -> list[str]:
    """A quantised embedder searched through an index that stores wider values than its codes:
    the index's bytes overstate what the codes need."""
    warnings = []
    for i, embedder in enumerate(embedders):
        code_bits = getattr(EMBEDDERS.get(embedder.kind), "bits_per_dimension", None)
        if code_bits is None:
            continue
        bits = code_bits(embedder.params)
        wider = []
        for index in indexes:
            kind: Any = INDEXES.get(index.kind)
            stored = kind.bits_per_dimension(index.build)
            if stored is not None and stored > bits:
                wider.append(f"'{index.name}' ({index.kind}, {stored:g} bits)")
        if wider:
            warnings.append(
                f"{doc.where(('embedders', i))}: '{embedder.name}' stores {bits:g}-bit codes per "
                f"dimension, but {', '.join(wider)} store(s) wider values; their index bytes "
                "overstate the codes, so the leaderboard notes it and the bytes plot uses the "
                "code size"
            )
    return warnings


def _dataset(doc: LocatedYaml, i: int, entry: dict[str, Any], base: Path) -> DatasetSpec:
    loc: Loc = ("datasets", i)
    head = validate(_DatasetHead, entry, loc, doc)
    loader = _lookup(LOADERS, head.loader, (*loc, "loader"), doc)
    rest = {k: v for k, v in entry.items() if k not in _DatasetHead.model_fields}
    for key in ("path", "groups", "candidates", "home"):  # files relative to the suite file
        if isinstance(rest.get(key), str) and not Path(rest[key]).is_absolute():
            rest[key] = str(base / rest[key])
    params = validate(loader.Params, rest, loc, doc, also=list(_DatasetHead.model_fields))
    constructed = _construct(loader, params, loc, doc)
    ignore = head.ignore_identical_ids
    if ignore is None:
        ignore = bool(getattr(constructed, "ignore_identical_ids", False))
    return DatasetSpec(head.name, head.loader, params, ignore)


def _embedder(doc: LocatedYaml, i: int, entry: dict[str, Any], base: Path) -> EmbedderSpec:
    loc: Loc = ("embedders", i)
    head = validate(_EmbedderHead, entry, loc, doc)
    kind = _lookup(EMBEDDERS, head.kind, (*loc, "kind"), doc)
    rest = {k: v for k, v in entry.items() if k not in _EmbedderHead.model_fields}
    for key in ("model", "file", "tokenizer"):  # local paths are relative to the suite file
        if isinstance(rest.get(key), str) and rest[key].startswith(("./", "../")):
            rest[key] = str(base / rest[key])
    params = validate(kind.Params, rest, loc, doc, also=list(_EmbedderHead.model_fields))
    _construct(kind, params, loc, doc)
    return EmbedderSpec(head.name, head.kind, kind.family, params)


def _index(doc: LocatedYaml, i: int, entry: dict[str, Any], threads: tuple[int, ...]) -> IndexSpec:
    loc: Loc = ("indexes", i)
    head = validate(_IndexHead, entry, loc, doc)
    kind = _lookup(INDEXES, head.kind, (*loc, "kind"), doc)
    if kind.requires is not None:
        try:
            require(*kind.requires, needed_by=f"index kind '{head.kind}'")
        except HarnessError as err:
            raise doc.error((*loc, "kind"), str(err)) from None
    build = validate(kind.Build, head.build, (*loc, "build"), doc)
    search: list[BaseModel] = []
    if isinstance(head.search, dict):
        for combo in _grid(doc, (*loc, "search"), head.search):
            search.append(validate(kind.Search, combo, (*loc, "search"), doc))
    else:
        for j, item in enumerate(head.search):
            search.append(validate(kind.Search, item, (*loc, "search", j), doc))
    keys = [search_key(s) for s in search]
    if len(set(keys)) != len(keys):
        raise doc.error((*loc, "search"), "the same search settings appear twice; remove one")
    if len(set(head.insertion_seeds)) != len(head.insertion_seeds):
        raise doc.error((*loc, "insertion_seeds"), "a seed appears twice; list each once")
    if head.threads is not None:
        threads = _threads(doc, (*loc, "threads"), head.threads)
    seeds = tuple(head.insertion_seeds)
    return IndexSpec(head.name, head.kind, build, tuple(search), seeds, threads)


def _expectation(doc: LocatedYaml, suite: Suite, i: int, entry: Any) -> tuple[Expectation, Cell]:
    """An `expect:` entry, checked against the suite: it names one cell and known metrics."""
    loc: Loc = ("expect", i)
    expectation: Expectation = validate(Expectation, entry, loc, doc)
    names = {
        "dataset": [d.name for d in suite.datasets],
        "embedder": [e.name for e in suite.embedders] + [p.name for p in suite.pipelines],
        "index": [x.name for x in suite.indexes],
    }
    for key, known in names.items():
        value = getattr(expectation, key)
        if value is not None and value not in known:
            hint = did_you_mean(value, known)
            raise doc.error((*loc, key), f"no {key} named '{value}' in this suite.{hint}")
    expectable = [*suite.metrics, "ann_recall@10", f"ann_recall@{suite.k}"]
    for metric in expectation.values:
        if metric not in expectable:
            hint = did_you_mean(metric, expectable)
            raise doc.error(
                (*loc, metric),
                f"'{metric}' is not a metric of this suite.{hint} Metrics: "
                f"{', '.join(suite.metrics)}",
            )
    matches = [
        c
        for c in suite.cells()
        if (c.dataset, c.embedder) == (expectation.dataset, expectation.embedder)
        and (expectation.index is None or c.index == expectation.index)
    ]
    if expectation.search is not None and expectation.index is not None:
        kind: Any = INDEXES.get(suite.index(expectation.index).kind)
        wanted = search_key(validate(kind.Search, expectation.search, (*loc, "search"), doc))
        matches = [c for c in matches if c.search == wanted]
    if len(matches) != 1:
        found = "no cell" if not matches else f"{len(matches)} cells"
        narrow = "index: and search:" if matches else "dataset, embedder, index and search"
        raise doc.error(loc, f"this expectation matches {found} of the suite; check its {narrow}")
    return expectation, matches[0]


def _gate(doc: LocatedYaml, i: int, text: str) -> Gate:
    try:
        return parse_gate(text)
    except ValueError as err:
        raise doc.error(("gates", i), str(err)) from None


def _grid(doc: LocatedYaml, loc: Loc, mapping: dict[str, Any]) -> list[dict[str, Any]]:
    """{efSearch: [16, 64], x: 1} -> [{efSearch: 16, x: 1}, {efSearch: 64, x: 1}]."""
    axes = {k: (v if isinstance(v, list) else [v]) for k, v in mapping.items()}
    for key, values in axes.items():
        if not values:
            raise doc.error((*loc, key), "an empty list of values; give at least one")
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _lookup(registry: Registry[type], name: str, loc: Loc, doc: LocatedYaml) -> Any:
    try:
        return registry.get(name)
    except KeyError as err:
        raise doc.error(loc, str(err.args[0])) from None


def _construct(cls: Any, params: BaseModel, loc: Loc, doc: LocatedYaml) -> Any:
    """Components check their configuration (paths, packages, models) when constructed."""
    try:
        return cls(params)
    except (HarnessError, ValueError) as err:
        raise doc.error(loc, str(err)) from None


def _check_derived(doc: LocatedYaml, embedders: tuple[EmbedderSpec, ...]) -> None:
    """A derived embedder (e.g. truncate) names an encoding embedder of the same suite, of the
    family its kind derives from (dense; multivector for muvera)."""
    for i, spec in enumerate(embedders):
        if spec.derived_from is None:
            continue
        family = getattr(EMBEDDERS.get(spec.kind), "derives_from", "dense")
        bases = [e.name for e in embedders if e.family == family and not e.derived_from]
        if spec.derived_from not in bases:
            hint = did_you_mean(spec.derived_from, bases)
            raise doc.error(
                ("embedders", i, "of"),
                f"'{spec.derived_from}' is not a {family} embedder of this suite.{hint} "
                f"{family.capitalize()} embedders: {', '.join(bases) or 'none'}",
            )


def _check_texts(
    doc: LocatedYaml, datasets: tuple[DatasetSpec, ...], embedders: tuple[EmbedderSpec, ...]
) -> None:
    """A dataset of vectors alone (no texts) runs only embedders of given vectors."""
    by_name = {e.name: e for e in embedders}
    for i, dataset in enumerate(datasets):
        if getattr(LOADERS.get(dataset.loader), "has_texts", True):
            continue
        for spec in embedders:
            base = by_name.get(spec.derived_from or "", spec)
            if not getattr(EMBEDDERS.get(base.kind), "precomputed", False):
                raise doc.error(
                    ("datasets", i),
                    f"dataset '{dataset.name}' holds vectors, not texts; embedder "
                    f"'{spec.name}' ({spec.kind}) cannot run on it: use kind 'vectors' on its "
                    "file, or put this dataset in a suite of its own",
                )


def _unique_names(doc: LocatedYaml, section: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise doc.error((section, i, "name"), f"duplicate name '{name}'; names must be unique")
        seen.add(name)


_CUTOFF = re.compile(r"@(\d+)$")


def _metric_cutoff(doc: LocatedYaml, i: int, metric: str) -> int | None:
    import ir_measures

    try:
        measure = ir_measures.parse_measure(metric)
    except Exception:
        name = re.split(r"[@(]", metric, maxsplit=1)[0]
        guess = suggest(name, sorted(ir_measures.measures.registry))
        meant = metric.replace(name, guess, 1) if guess else metric
        hint = f" Did you mean '{meant}'?" if meant != metric else ""
        raise doc.error(
            ("metrics", i),
            f"'{metric}' is not an ir-measures metric.{hint} e.g. nDCG@10, R@100, RR@10",
        ) from None
    cutoff = measure.params.get("cutoff")
    return int(cutoff) if cutoff is not None else None
