"""A small tier of a BEIR-layout collection, built as NanoBEIR was: a seeded sample of the
judged queries, their judged documents, and the union of some first-stage runs' top documents
for them (the pool), so the tier's corpus keeps the documents systems actually confuse.

The tier is a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv: the source's own
lines, in the source's order) with `tier.json` saying how it was made.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from harness import cache, results
from harness.datasets.beir import first_existing, load_beir_folder, split_qrels, text_lines
from harness.datasets.runs import top_of_run
from harness.errors import DatasetError, HarnessError

TIER_FILE = "tier.json"


@dataclass(frozen=True)
class Tier:
    """What `shrink` wrote: `tier.json` holds it."""

    source: str
    source_fingerprint: str
    split: str
    seed: int
    depth: int
    queries: int
    judged_documents: int
    pooled_documents: int
    documents: int
    """The tier's corpus: judged and pooled documents together."""
    runs: list[dict[str, str]]
    """Each pooled run: its file and sha256."""
    fingerprint: str
    """The tier's own dataset fingerprint, as results of it record."""


def run_files(sources: Iterable[Path], dataset_fingerprint: str) -> list[Path]:
    """TREC run files from `sources`: run files themselves, or results folders, whose newest ok
    cells of this dataset each give their run file."""
    files: list[Path] = []
    for source in sources:
        if source.is_file():
            files.append(source)
            continue
        if not (source / results.RUNS_FILE).is_file() and not (source / "rows").is_dir():
            raise HarnessError(f"{source}: neither a TREC run file nor a harness results folder")
        rows = results.ResultsStore(source).rows()
        newest = rows.drop_duplicates("cell_id", keep="last")
        same = newest.get("dataset_fingerprint", pd.Series("", index=newest.index))
        mine = newest[(newest["status"] == "ok") & (same == dataset_fingerprint)]
        if mine.empty:
            raise HarnessError(
                f"{source}: no finished cell of this dataset (fingerprint "
                f"{dataset_fingerprint[:12]}); pool runs of the same collection and split"
            )
        for run_id, cell_id in zip(mine["run_id"], mine["cell_id"], strict=True):
            path = source / "trec" / run_id / f"{cell_id}.trec"
            if not path.is_file():
                raise HarnessError(f"{path}: run file missing; rerun the suite to rewrite it")
            files.append(path)
    return files


def shrink(
    folder: Path,
    out: Path,
    *,
    split: str,
    n_queries: int,
    pool: list[Path],
    depth: int,
    seed: int = 0,
) -> Tier:
    """Write the tier of the BEIR folder `folder` into `out` (which must not hold files)."""
    if out.exists() and any(out.iterdir()):
        raise HarnessError(f"{out}: not empty; give a new folder for the tier")
    dataset = load_beir_folder(folder, name=folder.name, split=split)
    candidates = sorted(
        q for q in dataset.query_ids if any(g > 0 for g in dataset.qrels[q].values())
    )
    if n_queries > len(candidates):
        raise HarnessError(
            f"{folder}: split '{split}' has {len(candidates)} queries with a relevant document; "
            f"ask for at most that many (--queries)"
        )
    queries = set(random.Random(seed).sample(candidates, n_queries))
    judged = {d for q in queries for d in dataset.qrels[q]}
    runs = run_files(pool, dataset.fingerprint)
    pooled = {
        doc
        for path in runs
        for query, docs in top_of_run(path, depth).items()
        if query in queries
        for doc in docs
    }
    unknown = pooled - set(dataset.doc_ids)
    if unknown:
        raise HarnessError(
            f"{runs[0]}: ranks {len(unknown)} documents not in {folder} (e.g. "
            f"'{sorted(unknown)[0]}'); pool runs of this collection"
        )
    keep = judged | pooled
    tmp = out.with_name(out.name + ".partial")
    try:
        _write_subset(folder, split, tmp, queries, keep)
    except OSError:  # a full disk: no half-written tier stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tier_data = load_beir_folder(tmp, name=out.name, split=split)
    tier = Tier(
        source=str(folder),
        source_fingerprint=dataset.fingerprint,
        split=split,
        seed=seed,
        depth=depth,
        queries=len(queries),
        judged_documents=len(judged),
        pooled_documents=len(pooled),
        documents=len(keep),
        runs=[{"file": str(p), "sha256": cache.file_digest(p)} for p in runs],
        fingerprint=tier_data.fingerprint,
    )
    (tmp / TIER_FILE).write_text(json.dumps(asdict(tier), indent=2) + "\n")
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return tier


def _write_subset(folder: Path, split: str, out: Path, queries: set[str], docs: set[str]) -> None:
    """The source's own lines for the kept ids, in the source's order."""
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for names, kept, target in (
        (["corpus.jsonl", "corpus.jsonl.gz"], docs, "corpus.jsonl"),
        (["queries.jsonl", "queries.jsonl.gz"], queries, "queries.jsonl"),
    ):
        source = first_existing(folder, names)
        with (out / target).open("w", encoding="utf-8") as handle:
            for _, line in text_lines(source):
                if line.strip() and str(json.loads(line)["_id"]) in kept:
                    handle.write(line + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    for _, line in text_lines(split_qrels(folder, split)):
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) == 4:
            cols = [cols[0], cols[2], cols[3]]
        if len(cols) == 3 and cols[0].strip() in queries:
            lines.append("\t".join(c.strip() for c in cols))
    (out / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_tier(folder: Path) -> Tier | None:
    path = folder / TIER_FILE
    if not path.is_file():
        return None
    try:
        return Tier(**json.loads(path.read_text()))
    except (ValueError, TypeError) as err:
        raise DatasetError(f"{path}: not a tier description ({err}); rebuild the tier") from None
