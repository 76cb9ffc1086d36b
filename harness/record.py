"""What the runner hands the results store for each cell: typed records, free of the runner's,
the suite's and the components' types, so the store, reports and gates import none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from harness.spread import Series

Ranking = dict[str, dict[str, float]]
"""query id -> document id -> score, best first."""
Status = Literal["ok", "failed"]


def ranked(ranking: dict[str, float]) -> list[tuple[str, float]]:
    """One query's hits in trec_eval's order: score descending, ties by document id descending.
    The rank a fusion reads and the line order of a TREC run file are both this order."""
    ordered = sorted(ranking.items(), key=lambda item: item[0], reverse=True)
    ordered.sort(key=lambda item: -item[1])  # stable: ties stay by id, descending
    return ordered


@dataclass(frozen=True)
class RunStamp:
    """Which run a record belongs to; every row carries it."""

    run_id: str
    timestamp: str
    harness_version: str
    git_sha: str


@dataclass(frozen=True)
class CellKey:
    """Which cell: its id, its readable key and the grid coordinates the key is made of."""

    cell_id: str
    key: str
    dataset: str
    embedder: str
    index: str
    """'' for a lexical retriever, which is its own index."""
    search: str
    order: int | None = None
    threads: int = 1


@dataclass(frozen=True)
class SuiteInfo:
    """What the suite asked of every cell."""

    name: str
    k: int
    metrics: tuple[str, ...]
    averaging: str
    """How per-query values become the mean (harness.evaluate.AVERAGING)."""


@dataclass(frozen=True)
class EmbedderInfo:
    kind: str
    model: str
    model_source: str = ""
    query_encoder: str | None = None
    """`kind:name` of what turns query text into what the index takes."""
    params: dict[str, Any] = field(default_factory=dict)
    """Resolved settings (prompts, similarity, derived precision, ...), stored as JSON."""


@dataclass(frozen=True)
class QueryFacts:
    """What a slice of the per-query metrics is cut by, for each judged query (aligned lists)."""

    query_ids: tuple[str, ...]
    query_words: tuple[int, ...]
    """Whitespace-separated words of the query text."""
    judged_doc_words: tuple[float, ...]
    """Mean words of the documents judged relevant to the query (NaN: none is)."""
    groups: tuple[str, ...]
    """The user's group of each query ('' where none is given)."""


@dataclass(frozen=True)
class DatasetInfo:
    fingerprint: str
    corpus_fingerprint: str
    split: str
    n_docs: int
    n_queries: int
    ignore_identical_ids: bool
    queries: QueryFacts | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    """Where the data came from, as its loader names it (MTEB task, dataset revision and mteb
    version; ir_datasets id; ...); stored with each row as JSON."""


@dataclass(frozen=True)
class IndexInfo:
    kind: str
    """'' for a lexical retriever."""
    build_params: str
    """JSON of the build settings."""
    search_effective: str
    """JSON of the search settings as the index applied them."""
    insertion_seed: int | None = None


@dataclass
class CellRecord:
    """One cell, finished or failed. A failed cell has an error and whatever was known."""

    cell: CellKey
    suite: SuiteInfo
    embedder: EmbedderInfo
    status: Status
    error: str = ""
    dataset: DatasetInfo | None = None
    index: IndexInfo | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    """metric -> query id -> value, for every judged query."""
    cost: dict[str, float] = field(default_factory=dict)
    """Cost figures by their harness.figures names, intervals and sample counts included."""
    ranking: Ranking = field(default_factory=dict)
    timings: dict[str, Series] = field(default_factory=dict)
    """Every timed call, by series (harness.spread); batch-1 calls name their query ids."""
    node: str = ""
    """The machine that computed and timed the cell: its host name (and Ray node id)."""
