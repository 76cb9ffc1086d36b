"""TREC run files as a source of documents per query: the pool of a tier, the candidate lists
of a re-ranking collection."""

from __future__ import annotations

from pathlib import Path

from harness.datasets.beir import text_lines
from harness.errors import DatasetError


def top_of_run(path: Path, depth: int) -> dict[str, list[str]]:
    """Each query's top `depth` documents in a six-column TREC run file, by its rank column."""
    found: dict[str, list[tuple[int, str]]] = {}
    for lineno, line in text_lines(path):
        cols = line.split()
        if not cols:
            continue
        if len(cols) != 6 or not cols[3].lstrip("-").isdigit():
            raise DatasetError(
                f"{path}:{lineno}: not a TREC run line (qid Q0 docid rank score tag); give a run "
                "file as harness or trec_eval writes it"
            )
        found.setdefault(cols[0], []).append((int(cols[3]), cols[2]))
    return {query: [doc for _, doc in sorted(hits)[:depth]] for query, hits in found.items()}
