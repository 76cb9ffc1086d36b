"""BEIR-layout collections: corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv (folder or zip).

Every malformed input is reported as `file:line: what is wrong; how to fix it`.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness import cache
from harness.datasets.base import LOADERS, Dataset, Qrels, join_title_text
from harness.errors import DatasetError

GRADES = (-(2**31), 2**31 - 1)
"""The relevance grades trec_eval (a C int) can hold."""


class BeirParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path | None = None
    """A folder in BEIR layout, or a .zip holding one."""
    url: str | None = None
    """A BEIR zip to download when `path` is not given (e.g. the public BEIR mirror)."""
    split: str = "test"
    group_field: str | None = None
    """A key of each line of queries.jsonl (or of its "metadata" object) naming the query's
    group, for `harness slices --by group`."""
    groups: Path | None = None
    """A tab-separated file of query-id and group, one query a line (an alternative to
    `group_field`)."""
    candidates: Path | None = None
    """A first-stage TREC run: each query's top `candidates_depth` documents become its
    candidate list, and the collection a re-ranking one (cells rank only those)."""
    candidates_depth: int = Field(100, ge=1)


@LOADERS.register("beir")
class BeirLoader:
    Params = BeirParams

    def __init__(self, params: BeirParams) -> None:
        if (params.path is None) == (params.url is None):
            raise DatasetError("a beir dataset needs exactly one of 'path' or 'url'")
        if params.path is not None and not params.path.exists():
            raise DatasetError(f"{params.path}: dataset not found; check the path in the suite")
        path = params.path
        if path is not None and path.is_dir():
            check_beir_folder(path, params.split)
        if path is not None and path.suffix == ".zip" and not zipfile.is_zipfile(path):
            raise DatasetError(f"{path}: not a valid zip file; re-download it")
        if path is not None and not path.is_dir() and path.suffix != ".zip":
            raise DatasetError(f"{path}: not a folder or a .zip; point 'path' at a BEIR folder")
        if params.groups is not None and params.group_field is not None:
            raise DatasetError("give one of 'groups' (a file) or 'group_field', not both")
        if params.groups is not None and not params.groups.is_file():
            raise DatasetError(f"{params.groups}: groups file not found; check 'groups'")
        if params.candidates is not None and not params.candidates.is_file():
            raise DatasetError(f"{params.candidates}: run file not found; check 'candidates'")
        self.params = params

    def load(self, name: str) -> Dataset:
        folder = self._folder()
        dataset = load_beir_folder(folder, name=name, split=self.params.split)
        groups: dict[str, str] = {}
        if self.params.groups is not None:
            groups = read_groups_file(self.params.groups, set(dataset.query_ids))
        elif self.params.group_field is not None:
            queries_file = first_existing(folder, ["queries.jsonl", "queries.jsonl.gz"])
            groups = read_group_field(queries_file, self.params.group_field)
        if self.params.candidates is None:
            return dataclasses.replace(dataset, query_groups=groups)
        run, depth = self.params.candidates, self.params.candidates_depth
        return dataclasses.replace(
            dataset,
            query_groups=groups,
            candidates=run_candidates(run, depth, dataset),
            provenance={"candidates_run": str(run), "candidates_depth": str(depth)},
        )

    def _folder(self) -> Path:
        if self.params.url is not None:
            return _download(self.params.url)
        assert self.params.path is not None
        path = self.params.path
        if path.suffix == ".zip":
            return _unzip(path)
        if not path.is_dir():
            raise DatasetError(f"{path}: dataset folder not found; check the path in the suite")
        return path


def load_beir_folder(folder: Path, *, name: str, split: str) -> Dataset:
    corpus_file = first_existing(folder, ["corpus.jsonl", "corpus.jsonl.gz"])
    queries_file = first_existing(folder, ["queries.jsonl", "queries.jsonl.gz"])
    qrels_file = split_qrels(folder, split)
    documents = _read_documents(corpus_file)
    if not documents:
        raise DatasetError(f"{corpus_file}: the corpus is empty; it needs one JSON document a line")
    all_queries = _read_queries(queries_file)
    qrels = _read_qrels(qrels_file, documents, all_queries)
    if not qrels:
        raise DatasetError(f"{qrels_file}: split '{split}' has no judgments")

    query_ids = [q for q in all_queries if q in qrels]
    return Dataset(
        name=name,
        split=split,
        doc_ids=list(documents),
        doc_texts=list(documents.values()),
        query_ids=query_ids,
        query_texts=[all_queries[q] for q in query_ids],
        qrels=qrels,
        source=str(folder),
    )


def check_beir_folder(folder: Path, split: str) -> None:
    """What can be checked without reading a whole collection (as `harness validate` does):
    the files are there, the split exists and judges something, and the first lines of
    corpus and queries parse."""
    qrels = split_qrels(folder, split)
    for lineno, line in text_lines(qrels):
        if line.strip() and not _header(lineno, line):
            break
    else:
        raise DatasetError(f"{qrels}: split '{split}' has no judgments")
    for names in (["corpus.jsonl", "corpus.jsonl.gz"], ["queries.jsonl", "queries.jsonl.gz"]):
        path = first_existing(folder, names)
        for lineno, obj in _json_lines(path):
            _field(path, lineno, obj, "_id", None)
            break
        else:
            raise DatasetError(f"{path}: empty; it needs one JSON object a line")


def _header(lineno: int, line: str) -> bool:
    """BEIR qrels start with `query-id corpus-id score`."""
    first = line.split("\t")[0] if "\t" in line else (line.split() or [""])[0]
    return lineno == 1 and first.strip().lower() in {"query-id", "query_id", "qid"}


def split_qrels(folder: Path, split: str) -> Path:
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DatasetError(
            f"{path}: split '{split}' not found; available splits: {', '.join(splits) or 'none'}"
        )
    return path


def first_existing(folder: Path, names: list[str]) -> Path:
    for candidate in names:
        if (folder / candidate).is_file():
            return folder / candidate
    raise DatasetError(f"{folder}: no {' or '.join(names)} found; is this a BEIR-layout folder?")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 (optionally gzipped) file, without line endings. A leading
    byte-order mark is dropped, as editors on Windows write one; a line that is not UTF-8 is
    reported at its own line number."""
    lineno = 0
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                if lineno == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DatasetError(
                        f"{path}:{lineno}: not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                        f"{err.start + 1}); save the file as UTF-8"
                    ) from None
                yield lineno, line.rstrip("\r\n")
    except (gzip.BadGzipFile, EOFError, OSError) as err:
        raise DatasetError(
            f"{path}:{lineno + 1}: unreadable ({err}); re-download the file"
        ) from None


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(
                f"{path}:{lineno}: malformed JSON ({err.msg} at column {err.colno}); "
                "fix or remove the line"
            ) from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {obj!r:.40}")
        yield lineno, obj


FieldReader = Callable[[str, "str | None"], str]
"""Reads one key of the current JSON line: field(key, default) -> str."""


def _field(path: Path, lineno: int, obj: dict[str, object], key: str, default: str | None) -> str:
    value = obj.get(key, default)
    if value is None:
        raise DatasetError(f'{path}:{lineno}: missing "{key}"; every line needs one')
    if isinstance(value, int) and not isinstance(value, bool) and key == "_id":
        return str(value)
    if not isinstance(value, str):
        raise DatasetError(f'{path}:{lineno}: "{key}" must be a string, got {value!r:.40}')
    return value


def _read_documents(path: Path) -> dict[str, str]:
    """Document id -> BEIR-joined title and text, in file order."""
    return _read_texts(
        path, "document", lambda field: join_title_text(field("title", ""), field("text", None))
    )


def _read_queries(path: Path) -> dict[str, str]:
    return _read_texts(path, "query", lambda field: field("text", None))


def _read_texts(path: Path, what: str, text_of: Callable[[FieldReader], str]) -> dict[str, str]:
    """Id -> text for each JSON line, in file order; ids must be unique."""
    texts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, obj in _json_lines(path):

        def field(
            key: str, default: str | None, lineno: int = lineno, obj: dict[str, object] = obj
        ) -> str:
            return _field(path, lineno, obj, key, default)

        item_id = field("_id", None)
        if not item_id or any(c.isspace() for c in item_id):
            raise DatasetError(
                f"{path}:{lineno}: {what} id {item_id!r} is empty or holds whitespace, which "
                "TREC run files (and trec_eval) cannot hold; rename the id"
            )
        if item_id in texts:
            raise DatasetError(
                f"{path}:{lineno}: duplicate {what} id '{item_id}' (first at line "
                f"{first_line[item_id]}); ids must be unique"
            )
        first_line[item_id] = lineno
        texts[item_id] = text_of(field)
    return texts


def _read_qrels(path: Path, documents: dict[str, str], queries: dict[str, str]) -> Qrels:
    """BEIR qrels (query-id, corpus-id, score, with a header) or TREC qrels (qid, 0, docid, rel)."""
    qrels: Qrels = {}
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        if _header(lineno, line):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) == 4:
            cols = [cols[0], cols[2], cols[3]]
        if len(cols) != 3:
            raise DatasetError(
                f"{path}:{lineno}: expected 3 tab-separated columns "
                f"(query-id, corpus-id, score), got {len(cols)}"
            )
        query_id, doc_id, score_text = (c.strip() for c in cols)
        try:
            score = int(score_text)
        except ValueError:
            raise DatasetError(
                f"{path}:{lineno}: score '{score_text}' is not an integer; "
                "relevance grades are integers"
            ) from None
        if not GRADES[0] <= score <= GRADES[1]:
            raise DatasetError(
                f"{path}:{lineno}: score {score} is out of range; relevance grades are "
                f"small integers (trec_eval takes {GRADES[0]} to {GRADES[1]})"
            )
        if query_id not in queries:
            raise DatasetError(f"{path}:{lineno}: query '{query_id}' is not in the queries file")
        if doc_id not in documents:
            raise DatasetError(f"{path}:{lineno}: document '{doc_id}' is not in the corpus")
        judged = qrels.setdefault(query_id, {})
        if doc_id in judged and judged[doc_id] != score:
            raise DatasetError(
                f"{path}:{lineno}: query '{query_id}' judges document '{doc_id}' twice "
                f"({judged[doc_id]} and {score}); keep one judgment"
            )
        judged[doc_id] = score
    return qrels


def run_candidates(path: Path, depth: int, dataset: Dataset) -> dict[str, list[str]]:
    """Each judged query's top `depth` documents in the run at `path`; a query the run leaves
    out has no candidates (and so no results)."""
    from harness.datasets.runs import top_of_run

    top = top_of_run(path, depth)
    known = set(dataset.doc_ids)
    for query, docs in top.items():
        unknown = [d for d in docs if d not in known]
        if unknown:
            raise DatasetError(
                f"{path}: query '{query}' ranks document '{unknown[0]}', which the corpus "
                "lacks; give a run of this collection"
            )
    candidates = {q: top[q] for q in dataset.query_ids if q in top}
    if not candidates:
        raise DatasetError(
            f"{path}: ranks none of the split's judged queries; give a run of this split"
        )
    return candidates


def read_group_field(path: Path, key: str) -> dict[str, str]:
    """Query id -> the value of `key` on its line of queries.jsonl (or in its "metadata")."""
    groups: dict[str, str] = {}
    for lineno, obj in _json_lines(path):
        metadata = obj.get("metadata")
        value = obj.get(key, metadata.get(key) if isinstance(metadata, dict) else None)
        if value is None:
            raise DatasetError(
                f'{path}:{lineno}: no "{key}" (group_field) on this query; give every query '
                "a group, or use a groups file"
            )
        groups[_field(path, lineno, obj, "_id", None)] = str(value)
    return groups


def read_groups_file(path: Path, query_ids: set[str]) -> dict[str, str]:
    """Query id -> group from a file of `query-id<TAB>group` lines (a header line is allowed);
    lines of queries outside the split are skipped, judged queries left out get no group."""
    groups: dict[str, str] = {}
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 2 or not cols[0].strip() or not cols[1].strip():
            raise DatasetError(
                f"{path}:{lineno}: expected 2 tab-separated columns (query-id, group), "
                f"got {line!r:.60}"
            )
        query_id, group = cols[0].strip(), cols[1].strip()
        if query_id in query_ids:
            groups[query_id] = group
    if not groups:
        raise DatasetError(
            f"{path}: names none of the split's {len(query_ids)} judged queries; its first "
            "column must hold query ids"
        )
    return groups


def _unzip(archive: Path) -> Path:
    if not archive.is_file():
        raise DatasetError(f"{archive}: dataset zip not found; check the path in the suite")
    target = cache.root() / "datasets" / f"{archive.stem}-{cache.file_digest(archive)[:12]}"
    if not target.is_dir():
        try:
            with zipfile.ZipFile(archive) as zf:
                tmp = target.with_name(target.name + ".partial")
                zf.extractall(tmp)
                tmp.rename(target)
        except zipfile.BadZipFile:
            raise DatasetError(f"{archive}: not a valid zip file; re-download it") from None
    return _layout_root(target, archive)


def _download(url: str) -> Path:
    target = cache.root() / "datasets" / "downloads"
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".zip")
    folder = target / name
    if not folder.is_dir():
        from beir import util

        try:
            util.download_and_unzip(url, str(target))
        except Exception as err:
            raise DatasetError(
                f"{url}: download failed ({type(err).__name__}); "
                "download the zip yourself and point 'path' at it"
            ) from None
    return _layout_root(folder, Path(url))


def _layout_root(folder: Path, origin: Path) -> Path:
    """The folder (or its single subfolder, as BEIR zips have) holding corpus.jsonl."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if any((candidate / n).is_file() for n in ("corpus.jsonl", "corpus.jsonl.gz")):
            return candidate
    raise DatasetError(f"{origin}: no corpus.jsonl inside; is this a BEIR dataset zip?")
