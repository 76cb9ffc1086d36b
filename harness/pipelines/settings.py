"""A suite's `pipelines:` section: systems built from the grid's own cells.

    pipelines:
      - name: bm25+minilm
        fuse: [bm25, minilm/exact]      # two or more first stages
        method: rrf                     # rrf (k: 60) | convex (normalize, weights)
        candidates: 100                 # how deep each first stage is read
      - name: minilm-reranks-bm25
        rerank: bm25                    # one first stage...
        by: minilm                      # ...re-scored by an embedder of the suite
        candidates: 100

A stage names a cell of the grid: a lexical or sparse retriever (`bm25`), an embedder and
index (`minilm/exact`, when the index has one search setting), a mapping
`{embedder, index, search}`, or another pipeline. Convex `weights` is one weight per stage, or
a list of such lists: one cell each (a weight sweep).

Validated as strictly as the rest of a suite: every error names the suite's file and line.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.registry import did_you_mean
from harness.yamlmap import Loc, LocatedYaml, validate

Method = Literal["rrf", "convex"]
Normalization = Literal["min-max", "z-score", "none"]
RRF_K = 60  # Cormack, Clarke and Buettcher (2009), and every library since


class CrossEncoderParams(BaseModel):
    """A sentence-transformers CrossEncoder: hub id or local folder."""

    model_config = ConfigDict(extra="forbid")

    model: str
    batch_size: int = Field(32, gt=0)
    max_length: int | None = Field(None, gt=0)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")
    fuse: list[Any] | None = None
    rerank: Any = None
    candidates: int = Field(gt=0)
    """How many of each first stage's hits the second stage reads."""
    method: Method | None = None
    k: int | None = Field(None, gt=0)
    """Reciprocal rank fusion's constant: score = sum of weight / (k + rank)."""
    normalize: Normalization | None = None
    weights: list[float] | list[list[float]] | None = None
    by: str | None = None
    cross_encoder: CrossEncoderParams | None = None


@dataclass(frozen=True)
class StageRef:
    """One cell of the grid per dataset, named by its coordinates (a pipeline: its name)."""

    embedder: str
    index: str | None = None
    search: str = ""
    order: int | None = None
    threads: int = 1

    @property
    def label(self) -> str:
        index = f"/{self.index}" if self.index else ""
        return f"{self.embedder}{index}{self.search}"


@dataclass(frozen=True)
class Fusion:
    method: Method
    k: int
    normalize: Normalization
    weights: tuple[tuple[float, ...], ...]
    """One weight vector per cell; () when none was given (equal weights, one cell)."""


@dataclass(frozen=True)
class Rerank:
    by: str | None
    """An embedder of the suite whose scores re-rank the candidates."""
    cross_encoder: CrossEncoderParams | None


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    stages: tuple[StageRef, ...]
    candidates: int
    fusion: Fusion | None = None
    rerank: Rerank | None = None

    @property
    def settings(self) -> tuple[str, ...]:
        """One search key per cell: the weights of each cell of a sweep, else ''."""
        if self.fusion is None or not self.fusion.weights:
            return ("",)
        return tuple(weights_key(w) for w in self.fusion.weights)

    def weights(self, key: str) -> tuple[float, ...]:
        """The stage weights of the cell with search key `key`."""
        if not key:
            n = len(self.stages)
            return (1.0,) * n if self.fusion and self.fusion.method == "rrf" else (1.0 / n,) * n
        return tuple(json.loads(key)["weights"])

    def definition(self) -> dict[str, Any]:
        """Everything that determines its results besides its stages' own cells."""
        return {
            "candidates": self.candidates,
            "fusion": None
            if self.fusion is None
            else [self.fusion.method, self.fusion.k, self.fusion.normalize],
            "rerank": None
            if self.rerank is None
            else [
                self.rerank.by,
                None
                if self.rerank.cross_encoder is None
                else self.rerank.cross_encoder.model_dump(mode="json"),
            ],
        }

    @property
    def description(self) -> str:
        stages = ", ".join(s.label for s in self.stages)
        if self.fusion is not None:
            return f"{self.fusion.method}({stages})"
        assert self.rerank is not None
        scorer = self.rerank.by or f"cross-encoder:{self.rerank.cross_encoder.model}"  # type: ignore[union-attr]
        return f"rerank({stages}) by {scorer}"


def weights_key(weights: tuple[float, ...] | list[float]) -> str:
    return json.dumps({"weights": list(weights)}, separators=(",", ":"))


@dataclass(frozen=True)
class Catalogue:
    """What a pipeline may name, from the rest of the suite."""

    families: dict[str, str]
    """Embedder name -> family (dense, lexical, sparse, multivector)."""
    indexes: dict[str, tuple[tuple[str, ...], tuple[int | None, ...], tuple[int, ...]]]
    """Index name -> its search keys, insertion orders and thread counts."""
    search_key: Callable[[str, dict[str, Any]], str]
    """(index name, a search mapping) -> its search key, as the grid writes it."""
    threads: tuple[int, ...]
    """Thread counts of the cells without an index."""
    k: int
    deepest_cutoff: int
    """The largest cutoff of the suite's metrics: no second stage may read fewer."""


SCORER_FAMILIES = ("dense", "sparse", "multivector")
"""Embedders that can re-score given candidates (a lexical retriever scores only its index)."""


def parse_pipelines(
    doc: LocatedYaml, entries: list[dict[str, Any]], catalogue: Catalogue
) -> tuple[PipelineSpec, ...]:
    """The validated pipelines, each after the pipelines it reads (dependency order)."""
    raw = [validate(_Entry, e, ("pipelines", i), doc) for i, e in enumerate(entries)]
    names = [e.name for e in raw]
    for i, name in enumerate(names):
        if name in catalogue.families:
            raise doc.error(
                ("pipelines", i, "name"), f"'{name}' is already an embedder's name; rename one"
            )
        if name in names[:i]:
            raise doc.error(
                ("pipelines", i, "name"), f"duplicate name '{name}'; names must be unique"
            )
    specs = {e.name: _pipeline(doc, i, e, catalogue, names) for i, e in enumerate(raw)}
    order: list[str] = []
    for i, name in enumerate(names):
        _visit(doc, i, name, specs, names, order, [])
    for name in order:  # a pipeline read as a stage is one cell: its one setting
        spec = specs[name]
        stages = []
        for stage in spec.stages:
            inner = specs.get(stage.embedder)
            if inner is not None:
                if len(inner.settings) > 1:
                    raise doc.error(
                        ("pipelines", names.index(name)),
                        f"stage '{stage.embedder}' sweeps {len(inner.settings)} weight settings; "
                        "a stage must be one cell: give that pipeline one weight vector",
                    )
                stage = StageRef(stage.embedder, None, inner.settings[0])
            stages.append(stage)
        specs[name] = dataclasses.replace(spec, stages=tuple(stages))
    return tuple(specs[n] for n in order)


def _visit(
    doc: LocatedYaml,
    i: int,
    name: str,
    specs: dict[str, PipelineSpec],
    names: list[str],
    order: list[str],
    path: list[str],
) -> None:
    if name in order:
        return
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise doc.error(("pipelines", i), f"pipelines read each other in a cycle: {cycle}")
    for stage in specs[name].stages:
        if stage.embedder in specs:
            _visit(doc, names.index(name), stage.embedder, specs, names, order, [*path, name])
    order.append(name)


def _pipeline(
    doc: LocatedYaml, i: int, entry: _Entry, catalogue: Catalogue, pipelines: list[str]
) -> PipelineSpec:
    loc: Loc = ("pipelines", i)
    if (entry.fuse is None) == (entry.rerank is None):
        raise doc.error(
            loc,
            "a pipeline either fuses stages (fuse: [...]) or re-ranks one "
            "(rerank: <stage>, by: <embedder>); give exactly one of them",
        )
    if entry.candidates < catalogue.deepest_cutoff:
        raise doc.error(
            (*loc, "candidates"),
            f"candidates: {entry.candidates} is below the deepest metric cutoff "
            f"{catalogue.deepest_cutoff}; the metrics would read past what the second stage "
            "sees: raise candidates",
        )
    if entry.candidates > catalogue.k:
        raise doc.error(
            (*loc, "candidates"),
            f"candidates: {entry.candidates} is deeper than the suite's k={catalogue.k}, the "
            "depth every first stage retrieves; raise k",
        )
    if entry.fuse is not None:
        if len(entry.fuse) < 2:
            raise doc.error((*loc, "fuse"), "fusion needs two or more stages")
        stages = tuple(
            _stage(doc, (*loc, "fuse", j), s, entry.name, catalogue, pipelines)
            for j, s in enumerate(entry.fuse)
        )
        if len(set(stages)) != len(stages):
            raise doc.error((*loc, "fuse"), "the same stage appears twice; list each once")
        return PipelineSpec(
            entry.name, stages, entry.candidates, fusion=_fusion(doc, loc, entry, len(stages))
        )
    for key in ("method", "k", "normalize", "weights"):
        if getattr(entry, key) is not None:
            raise doc.error(
                (*loc, key),
                f"'{key}' is a fusion setting; a re-ranking takes by: or cross_encoder:",
            )
    stage = _stage(doc, (*loc, "rerank"), entry.rerank, entry.name, catalogue, pipelines)
    if (entry.by is None) == (entry.cross_encoder is None):
        raise doc.error(
            loc,
            "a re-ranking names its scorer: by: <embedder of this suite> or "
            "cross_encoder: {model: ...}; give exactly one",
        )
    if entry.by is not None:
        family = catalogue.families.get(entry.by)
        if family is None:
            hint = did_you_mean(entry.by, list(catalogue.families))
            raise doc.error((*loc, "by"), f"no embedder named '{entry.by}' in this suite.{hint}")
        if family not in SCORER_FAMILIES:
            raise doc.error(
                (*loc, "by"),
                f"'{entry.by}' is a {family} retriever: it scores only its own index, not given "
                f"candidates; re-rank by a {', '.join(SCORER_FAMILIES)} embedder",
            )
    return PipelineSpec(
        entry.name, (stage,), entry.candidates, rerank=Rerank(entry.by, entry.cross_encoder)
    )


def _fusion(doc: LocatedYaml, loc: Loc, entry: _Entry, n_stages: int) -> Fusion:
    method = entry.method or "rrf"
    if method == "rrf" and entry.normalize is not None:
        raise doc.error(
            (*loc, "normalize"),
            "normalize is for method: convex; rank fusion (rrf) reads ranks, not scores",
        )
    if method == "convex" and entry.k is not None:
        raise doc.error(
            (*loc, "k"),
            "k is rank fusion's constant (method: rrf); convex "
            "combination takes normalize and weights",
        )
    raw: list[Any] = list(entry.weights or [])
    sweep = bool(raw) and isinstance(raw[0], list)
    vectors: list[list[float]] = raw if sweep else ([raw] if raw else [])
    weights: list[tuple[float, ...]] = []
    for j, vector in enumerate(vectors):
        where = (*loc, "weights", j) if sweep else (*loc, "weights")
        values = tuple(float(w) for w in vector)
        if len(values) != n_stages:
            raise doc.error(
                where,
                f"{len(values)} weights for {n_stages} stages; give one "
                "weight per stage, in the order of fuse:",
            )
        if any(w < 0 for w in values) or not any(w > 0 for w in values):
            raise doc.error(where, "weights must be >= 0 and not all 0")
        weights.append(values)
    if len(set(weights)) != len(weights):
        raise doc.error((*loc, "weights"), "the same weights appear twice; list each once")
    return Fusion(method, entry.k or RRF_K, entry.normalize or "min-max", tuple(weights))


def _stage(
    doc: LocatedYaml,
    loc: Loc,
    value: Any,
    pipeline: str,
    catalogue: Catalogue,
    pipelines: list[str],
) -> StageRef:
    if isinstance(value, dict):
        return _stage_mapping(doc, loc, value, catalogue)
    if not isinstance(value, str):
        raise doc.error(
            loc, f"a stage is a name or a mapping {{embedder, index, search}}, got {value!r}"
        )
    if value == pipeline:
        raise doc.error(loc, f"pipeline '{pipeline}' names itself as a stage")
    if value in pipelines:
        return StageRef(value)
    embedder, _, index = value.partition("/")
    return _stage_mapping(
        doc, loc, {"embedder": embedder, **({"index": index} if index else {})}, catalogue
    )


def _stage_mapping(
    doc: LocatedYaml, loc: Loc, value: dict[str, Any], catalogue: Catalogue
) -> StageRef:
    unknown = set(value) - {"embedder", "index", "search"}
    if unknown:
        raise doc.error(
            loc,
            f"unknown key '{sorted(unknown)[0]}' in a stage; a stage takes "
            "embedder, index and search",
        )
    embedder = value.get("embedder")
    known = [
        *catalogue.families,
        *(
            f"{e}/{i}"
            for e, f in catalogue.families.items()
            if f == "dense"
            for i in catalogue.indexes
        ),
    ]
    if embedder not in catalogue.families:
        hint = did_you_mean(str(embedder), known)
        raise doc.error(
            loc,
            f"unknown stage '{embedder}': not an embedder or pipeline of this "
            f"suite.{hint} Stages: {', '.join(known) or 'none'}",
        )
    family, index = catalogue.families[embedder], value.get("index")
    if family != "dense":
        if index is not None:
            raise doc.error(
                loc,
                f"'{embedder}' is a {family} retriever with its own index; "
                f"name it alone: {embedder}",
            )
        if len(catalogue.threads) > 1:
            raise doc.error(
                loc,
                f"'{embedder}' runs on {len(catalogue.threads)} thread counts; "
                "a stage must be one cell: give the suite one thread count",
            )
        return StageRef(embedder, None, "", None, catalogue.threads[0])
    if index is None:
        indexes = ", ".join(f"{embedder}/{i}" for i in catalogue.indexes)
        raise doc.error(
            loc, f"dense embedder '{embedder}' is searched through an index; name one: {indexes}"
        )
    if index not in catalogue.indexes:
        hint = did_you_mean(index, list(catalogue.indexes))
        raise doc.error(loc, f"no index named '{index}' in this suite.{hint}")
    searches, orders, threads = catalogue.indexes[index]
    search = value.get("search")
    if search is None:
        if len(searches) > 1:
            raise doc.error(
                loc,
                f"index '{index}' has {len(searches)} search settings; name "
                f"one: {{embedder: {embedder}, index: {index}, search: {{...}}}}",
            )
        key = searches[0]
    else:
        if not isinstance(search, dict):
            raise doc.error(loc, f"a stage's search is a mapping of settings, got {search!r}")
        key = catalogue.search_key(index, search)
        if key not in searches:
            raise doc.error(
                loc,
                f"index '{index}' has no search setting {key or '{}'}; it has "
                f"{', '.join(s or '{}' for s in searches)}",
            )
    if len(orders) > 1 or len(threads) > 1:
        raise doc.error(
            loc,
            f"index '{index}' builds several insertion orders or thread "
            "counts; a stage must be one cell: use an index with one of each",
        )
    return StageRef(embedder, index, key, orders[0], threads[0])
