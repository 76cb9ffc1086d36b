"""Collections by their ir_datasets id (`beir/scifact/test`), read through the `ir_datasets`
package from its home folder (`$IR_DATASETS_HOME`, default ~/.ir_datasets), offline when the
files are there.

ir_datasets checks a download's md5 only while downloading: a file already in place (copied
there, or damaged since) is used as it is. This loader checks every source file of the id that
is present against ir_datasets' own metadata (`etc/downloads.json`) first, and records what it
checked. A BEIR archive you built yourself from the release files has another md5: give it as
`md5:` and the record says the suite vouched for it, not ir_datasets.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.datasets.base import LOADERS, Dataset, Qrels, join_title_text
from harness.errors import DatasetError
from harness.registry import require

EXTRA = "'harness[ir-datasets]'"


class IrDatasetsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    """An ir_datasets id with documents, queries and qrels, e.g. beir/scifact/test."""
    home: Path | None = None
    """ir_datasets' home folder (default: $IR_DATASETS_HOME, else ~/.ir_datasets)."""
    md5: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    """The md5 to hold the source archive to instead of ir_datasets' (an archive built from the
    release files); only for ids with one source file."""


@LOADERS.register("ir_datasets")
class IrDatasetsLoader:
    Params = IrDatasetsParams

    def __init__(self, params: IrDatasetsParams) -> None:
        require("ir_datasets", EXTRA, needed_by="the ir_datasets dataset loader")
        self.params = params
        self.home = params.home or Path(
            os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets")
        )

    def load(self, name: str) -> Dataset:
        ir_datasets = _import(self.home)
        logging.getLogger("ir_datasets").setLevel(logging.WARNING)  # its progress bars

        dataset_id = self.params.id
        try:
            source = ir_datasets.load(dataset_id)
        except KeyError:
            raise DatasetError(
                f"ir_datasets id '{dataset_id}' is unknown to ir_datasets "
                f"{ir_datasets.__version__}; see `harness datasets` or ir-datasets.com"
            ) from None
        missing = [
            part
            for part, present in (
                ("documents", source.has_docs()),
                ("queries", source.has_queries()),
                ("qrels", source.has_qrels()),
            )
            if not present
        ]
        if missing:
            raise DatasetError(
                f"ir_datasets id '{dataset_id}' has no {' or '.join(missing)}; name an id with "
                "a split (e.g. beir/scifact/test)"
            )
        checked = self._verify(dataset_id)
        try:
            documents = {doc.doc_id: _document_text(doc) for doc in source.docs_iter()}
            queries = {query.query_id: _query_text(query) for query in source.queries_iter()}
            qrels = _qrels(source.qrels_iter(), dataset_id, documents, queries)
        except OSError as err:  # requests' ConnectionError is one: the files are not here
            files = ", ".join(e["path"] for e in self._sources(dataset_id)) or str(self.home)
            raise DatasetError(
                f"ir_datasets id '{dataset_id}': source files missing ({files}) and the "
                f"download failed ({type(err).__name__}); run `harness fetch {dataset_id}` "
                "where the network allows, or copy the files there"
            ) from None
        query_ids = [q for q in queries if q in qrels]
        return Dataset(
            name=name,
            split=dataset_id.rsplit("/", 1)[-1],
            doc_ids=list(documents),
            doc_texts=list(documents.values()),
            query_ids=query_ids,
            query_texts=[queries[q] for q in query_ids],
            qrels=qrels,
            source=f"ir_datasets:{dataset_id}",
            provenance={
                "loader": "ir_datasets",
                "ir_datasets_id": dataset_id,
                "ir_datasets_version": ir_datasets.__version__,
                **checked,
            },
        )

    def _sources(self, dataset_id: str) -> list[dict[str, Any]]:
        return source_files(dataset_id, self.home)

    def _verify(self, dataset_id: str) -> dict[str, str]:
        """md5 of every present source file against ir_datasets' metadata (or the suite's)."""
        sources = self._sources(dataset_id)
        if self.params.md5 is not None and len(sources) != 1:
            raise DatasetError(
                f"ir_datasets id '{dataset_id}' has {len(sources)} source files; 'md5' vouches "
                "for one archive only: leave it out"
            )
        checked = {}
        for entry in sources:
            path = Path(entry["path"])
            if not path.is_file():
                continue
            expected = self.params.md5 or entry["expected_md5"]
            actual = file_md5(path)
            if actual != expected:
                whose = "the suite's md5" if self.params.md5 else "ir_datasets expects"
                raise DatasetError(
                    f"{path}: md5 {actual}, but {whose} {expected} ({entry['url']}); delete it "
                    f"and run `harness fetch {dataset_id}`, or give md5: {actual} in the suite "
                    "if you built this archive from the release files"
                )
            checked[f"md5:{path.name}"] = actual
            checked["md5_checked_against"] = "suite" if self.params.md5 else "ir_datasets"
            if dataset_id.startswith("beir/"):
                _drop_stale_caches(path, actual)
        return checked


_HOME: list[Path] = []
"""The home ir_datasets was imported with: it reads the setting once, at import."""


def _import(home: Path) -> Any:
    if "ir_datasets" not in sys.modules:
        os.environ["IR_DATASETS_HOME"] = str(home)
    import ir_datasets

    if not _HOME:
        _HOME.append(Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets")))
    if _HOME[0] != home:
        raise DatasetError(
            f"ir_datasets home {home}: this process imported ir_datasets with home {_HOME[0]}, "
            "and it reads its home once; give every ir_datasets dataset the same 'home'"
        )
    return ir_datasets


def source_files(dataset_id: str, home: Path) -> list[dict[str, Any]]:
    """The files ir_datasets downloads for this id, each with its url, expected md5 and path
    under `home`. For BEIR, the one archive of the id's subset; else every file of the id's
    top-level collection."""
    from ir_datasets.util import DownloadConfig

    namespace, _, rest = dataset_id.partition("/")
    try:
        contents = DownloadConfig.context(namespace).contents()
    except KeyError:
        return []
    entries = dict(_flatten(contents))
    if namespace == "beir":
        parts = rest.split("/")
        key = "/".join(parts[:2]) if "/".join(parts[:2]) in entries else parts[0]
        entries = {key: entries[key]} if key in entries else {}
    return [
        {**entry, "path": str(home / namespace / entry["cache_path"])}
        for entry in entries.values()
        if "expected_md5" in entry and "cache_path" in entry
    ]


def _drop_stale_caches(archive: Path, md5: str) -> None:
    """ir_datasets builds its docstore, queries and qrels files beside a BEIR archive once and
    never looks at the archive again: when the archive changed since (its md5 noted beside it
    differs), those files are removed so that they are built from this one."""
    noted = archive.with_name(archive.name + ".md5")
    if noted.is_file() and noted.read_text().strip() != md5:
        for path in archive.parent.iterdir():
            if path not in (archive, noted):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    noted.write_text(md5 + "\n")


def _flatten(contents: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for key, value in contents.items():
        if isinstance(value, dict) and "url" in value:
            found.append((prefix + key, value))
        elif isinstance(value, dict):
            found += _flatten(value, f"{prefix}{key}/")
    return found


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _document_text(doc: Any) -> str:
    """BEIR's join of title and text where the record has both, as the BEIR loader reads."""
    if hasattr(doc, "text"):
        return join_title_text(getattr(doc, "title", "") or "", doc.text)
    return str(doc.default_text())


def _query_text(query: Any) -> str:
    return str(query.text) if hasattr(query, "text") else str(query.default_text())


def _qrels(rows: Any, dataset_id: str, documents: dict[str, str], queries: dict[str, str]) -> Qrels:
    qrels: Qrels = {}
    for row in rows:
        if row.query_id not in queries:
            raise DatasetError(
                f"ir_datasets id '{dataset_id}': qrels name query '{row.query_id}', which its "
                "queries lack; the files are damaged: delete them and fetch again"
            )
        if row.doc_id not in documents:
            raise DatasetError(
                f"ir_datasets id '{dataset_id}': qrels name document '{row.doc_id}', which its "
                "corpus lacks; the files are damaged: delete them and fetch again"
            )
        qrels.setdefault(row.query_id, {})[row.doc_id] = int(row.relevance)
    if not qrels:
        raise DatasetError(f"ir_datasets id '{dataset_id}': no qrels")
    return qrels
