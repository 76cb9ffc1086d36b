"""The Dataset every loader produces and every later stage reads."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.record import QueryFacts
from harness.registry import Registry

LOADERS: Registry[type] = Registry("dataset loader", "harness.datasets")
Qrels = dict[str, dict[str, int]]


def join_title_text(title: str, text: str) -> str:
    """A document as one string, the way BEIR and MTEB join it: title, a space, text, stripped."""
    return f"{title} {text}".strip()


@dataclass(frozen=True)
class Dataset:
    """A retrieval test collection restricted to one split.

    `queries` holds only the queries judged in the split, in file order; `qrels` maps
    query id -> document id -> graded relevance. Fingerprints are sha256 of the parsed content,
    so they survive re-compression and line-ending changes but not edits.
    """

    name: str
    split: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: Qrels
    source: str
    has_texts: bool = True
    """False for a collection of vectors alone (ann-benchmarks): only given vectors run on it."""
    query_groups: dict[str, str] = field(default_factory=dict)
    """Query id -> the user's group for it, for slices; not part of the fingerprint."""
    provenance: dict[str, str] = field(default_factory=dict)
    """Where the data came from beyond `source` (MTEB task and revision, ir_datasets id)."""
    candidates: dict[str, list[str]] = field(default_factory=dict)
    """A re-ranking collection's candidate documents per query (MTEB's `top_ranked`): a cell
    then ranks only these. Empty: the whole corpus is searched."""
    corpus_fingerprint: str = field(init=False)
    queries_fingerprint: str = field(init=False)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        corpus = _digest(zip(self.doc_ids, self.doc_texts, strict=True))
        queries = _digest(zip(self.query_ids, self.query_texts, strict=True))
        qrels = _digest(
            (q, d, rel) for q in sorted(self.qrels) for d, rel in sorted(self.qrels[q].items())
        )
        object.__setattr__(self, "corpus_fingerprint", corpus)
        object.__setattr__(self, "queries_fingerprint", queries)
        judged: list[tuple[str, ...]] = [(corpus, queries, qrels)]
        if self.candidates:  # a re-ranking collection ranks other lists: other results
            judged.append(("candidates", _digest(sorted(self.candidates.items()))))
        object.__setattr__(self, "fingerprint", _digest(judged))


def query_facts(dataset: Dataset) -> QueryFacts:
    """Each judged query's length, its relevant documents' mean length (in whitespace words)
    and its group: what `harness slices` cuts the per-query metrics by."""
    needed = {d for q in dataset.query_ids for d, grade in dataset.qrels[q].items() if grade > 0}
    words = {
        d: len(t.split())
        for d, t in zip(dataset.doc_ids, dataset.doc_texts, strict=True)
        if d in needed
    }
    judged = []
    for query_id in dataset.query_ids:
        relevant = [words[d] for d, grade in dataset.qrels[query_id].items() if grade > 0]
        judged.append(sum(relevant) / len(relevant) if relevant else math.nan)
    return QueryFacts(
        query_ids=tuple(dataset.query_ids),
        query_words=tuple(len(t.split()) for t in dataset.query_texts),
        judged_doc_words=tuple(judged),
        groups=tuple(dataset.query_groups.get(q, "") for q in dataset.query_ids),
    )


def _digest(rows: Iterable[tuple[object, ...]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()
