"""The results store: every finished cell of every run, in one folder, found again later.

    <folder>/rows/<run_id>/<cell_id>.parquet            one row: the cell's metrics and costs
    <folder>/rows/<run_id>/<cell_id>.per_query.parquet  every metric for every judged query
    <folder>/rows/<run_id>/<cell_id>.timings.parquet    every timed call (harness.spread series)
    <folder>/trec/<run_id>/<cell_id>.trec               the ranking, as a standard TREC run file
    <folder>/manifests/<run_id>.json                    packages, machine, threads, fingerprints
    <folder>/queries/<dataset_fingerprint>.parquet      each judged query's length, its judged
                                                        documents' length and group (slices)
    <folder>/runs.parquet, per_query.parquet, timings.parquet, manifest.json
                                                        the last run's suite, as tables
    <folder>/.lock                                      held by the run writing here
    <folder>/.harness-results                           marks a folder harness created

A cell's row file is written last, atomically, so its presence means the cell finished: a run
killed at any point resumes by skipping the cells with a row. Metric columns are named by the
exact strings written in the suite (`nDCG@10`). Rows carry the run id, git sha, timestamp,
harness version and schema version; rows of older schemas are upgraded as they are read.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyarrow.lib import ArrowException

from harness import timing_table
from harness.errors import HarnessError, HarnessWarning, StoreError, os_problem
from harness.figures import FIGURES, spread_columns
from harness.record import CellRecord, QueryFacts, RunStamp, ranked

SCHEMA_VERSION = 3
"""2: the store (cell ids, metric list). 3: timed calls kept; figures with intervals; end-to-end
and query-side latency; threads, machine load and index memory per cell."""
RUNS_FILE = "runs.parquet"
PER_QUERY_FILE = "per_query.parquet"
TIMINGS_FILE = "timings.parquet"
MANIFEST_FILE = "manifest.json"
MARKER_FILE = ".harness-results"
"""Written into every folder harness creates: a non-empty folder without it is not ours."""
LOCK_FILE = ".lock"
DAMAGED_SUFFIX = ".damaged"
ROW_COLUMNS = ("run_id", "cell_id", "status", "timestamp", "schema_version")
"""Columns every row file has (schema 1's runs.parquet, all but cell_id)."""
PER_QUERY_COLUMNS = ["run_id", "cell_id", "cell", "query_id", "measure", "value"]
QUERY_FACT_COLUMNS = ["dataset_fingerprint", "query_id", "query_words", "judged_doc_words", "group"]


@dataclass(frozen=True)
class Views:
    """A results folder's last run of its suite, as tables."""

    rows: pd.DataFrame
    per_query: pd.DataFrame
    timings: pd.DataFrame
    """Every timed call (harness.timing_table); empty for results of schema 2 and older."""
    manifest: dict[str, Any]


def cell_row(record: CellRecord, stamp: RunStamp) -> dict[str, Any]:
    """The record as one row of runs.parquet: the vocabulary of its columns is here."""
    cell, suite, embedder = record.cell, record.suite, record.embedder
    row: dict[str, Any] = {
        "run_id": stamp.run_id,
        "suite": suite.name,
        "timestamp": stamp.timestamp,
        "harness_version": stamp.harness_version,
        "git_sha": stamp.git_sha,
        "schema_version": SCHEMA_VERSION,
        "cell_id": cell.cell_id,
        "cell": cell.key,
        "status": record.status,
        "error": record.error,
        "node": record.node,
        "dataset": cell.dataset,
        "embedder": cell.embedder,
        "embedder_kind": embedder.kind,
        "model": embedder.model,
        "model_source": embedder.model_source,
        "query_encoder": embedder.query_encoder,
        "embedder_params": json.dumps(embedder.params, sort_keys=True, default=str),
        "index": cell.index,
        "search_params": cell.search,
        "k": suite.k,
        "metrics": json.dumps(list(suite.metrics)),
        "averaging": suite.averaging,
    }
    if record.dataset is not None:
        dataset = record.dataset
        row |= {
            "dataset_fingerprint": dataset.fingerprint,
            "corpus_fingerprint": dataset.corpus_fingerprint,
            "split": dataset.split,
            "n_docs": dataset.n_docs,
            "n_queries": dataset.n_queries,
            "ignore_identical_ids": dataset.ignore_identical_ids,
            "dataset_provenance": json.dumps(dataset.provenance, sort_keys=True),
        }
    if record.index is not None:
        index = record.index
        row |= {
            "index_kind": index.kind,
            "build_params": index.build_params,
            "search_effective": index.search_effective,
        }
        row |= {"insertion_seed": index.insertion_seed} if index.kind else {}
    for metric in suite.metrics:
        row[metric] = record.metrics.get(metric, float("nan"))
    return row | record.cost


def per_query_frame(record: CellRecord, run_id: str) -> pd.DataFrame:
    rows = [
        (run_id, record.cell.cell_id, record.cell.key, query_id, metric, value)
        for metric, values in record.per_query.items()
        for query_id, value in values.items()
    ]
    return pd.DataFrame(rows, columns=PER_QUERY_COLUMNS)


def query_fact_frame(fingerprint: str, facts: QueryFacts) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset_fingerprint": fingerprint,
            "query_id": list(facts.query_ids),
            "query_words": list(facts.query_words),
            "judged_doc_words": list(facts.judged_doc_words),
            "group": list(facts.groups),
        },
        columns=QUERY_FACT_COLUMNS,
    )


def trec_lines(record: CellRecord) -> Iterator[str]:
    """qid Q0 docid rank score tag: the six columns trec_eval reads. Scores are written exactly
    (shortest round-trip form), so no two scores the evaluation told apart tie in the file, and
    lines are in trec_eval's own order (score descending, ties by document id descending), so
    trec_eval on the file computes what the evaluation computed."""
    tag = f"harness.{record.cell.cell_id}"
    for query_id, ranking in record.ranking.items():
        for rank, (doc_id, score) in enumerate(ranked(ranking), start=1):
            yield f"{query_id} Q0 {doc_id} {rank} {score!r} {tag}\n"


class StoreWarning(HarnessWarning):
    """A file in a results folder was unreadable and skipped."""


def warn(message: str) -> None:
    warnings.warn(StoreWarning(message), stacklevel=3)


def read_table(path: Path, required: Iterable[str]) -> pd.DataFrame:
    """A Parquet table harness wrote; a StoreError naming `path` when it is truncated, not
    Parquet, or lacks the columns harness writes."""
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError, ArrowException) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StoreError(f"{path}: unreadable Parquet ({problem})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        foreign = ValueError(f"not a harness table: no {', '.join(missing)} column")
        raise StoreError(f"{path}: {foreign}") from foreign
    return table


class ResultsStore:
    def __init__(self, folder: Path, repair: bool = False) -> None:
        self.folder = folder
        self.repair = repair
        """Move unreadable files aside (only while holding the lock: a run does)."""

    @contextmanager
    def lock(self, adopt: bool = False) -> Iterator[None]:
        """Exclusive use of the folder for one run; the OS drops the lock if the process dies.

        A non-empty folder that harness did not create is refused (its files would be
        overwritten) unless `adopt`. Temporary files left by a killed writer are removed."""
        self._claim(adopt)
        try:
            handle = (self.folder / LOCK_FILE).open("a+")
        except OSError as err:
            raise StoreError(f"{self.folder}: cannot write: {os_problem(err)}") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise HarnessError(
                    f"{self.folder}: another harness run ({holder}) is writing here; "
                    "wait for it, or give this run another --out"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            for leftover in [*self.folder.rglob(f".*{TMP_SUFFIX}"), *self._orphans()]:
                leftover.unlink(missing_ok=True)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _orphans(self) -> list[Path]:
        """A cell's ranking and tables without its row (written last): a writer killed
        mid-cell left them, and the cell is computed again."""
        saved = {(f.parent.name, f.name.removesuffix(".parquet")) for f in self.row_files()}
        companions = {
            suffix: [*self.folder.glob(f"{folder}/*/*{suffix}")]
            for folder, suffix in (
                ("rows", ".per_query.parquet"),
                ("rows", ".timings.parquet"),
                ("trec", ".trec"),
            )
        }
        return [
            path
            for suffix, paths in companions.items()
            for path in paths
            if (path.parent.name, path.name.removesuffix(suffix)) not in saved
        ]

    def is_results_folder(self) -> bool:
        return any((self.folder / name).exists() for name in (MARKER_FILE, "rows", RUNS_FILE))

    def _claim(self, adopt: bool) -> None:
        """Create the folder with harness's marker, or check that it is a results folder."""
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"{folder}: is a file, not a folder; give --out a folder")
        foreign = folder.is_dir() and not self.is_results_folder() and any(folder.iterdir())
        if foreign and not adopt:
            raise StoreError(
                f"{folder}: not empty and not a harness results folder; its files would be "
                "overwritten: give another --out, or --force to write here anyway"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / MARKER_FILE
            if not marker.exists():
                marker.write_text("A harness results folder: see harness results --help.\n")
        except OSError as err:
            raise StoreError(f"{folder}: cannot write: {os_problem(err)}") from None

    def finished(self) -> set[str]:
        """Ids of cells with a successful row, in any run, whose tables are readable."""
        rows = self.rows()
        ok = rows[rows["status"] == "ok"]
        return {
            cell_id
            for run_id, cell_id in zip(ok["run_id"], ok["cell_id"], strict=True)
            if self._tables_readable(str(run_id), str(cell_id))
        }

    def _tables_readable(self, run_id: str, cell_id: str) -> bool:
        import pyarrow.parquet as pq

        for suffix in ("per_query", "timings"):
            path = self.folder / "rows" / run_id / f"{cell_id}.{suffix}.parquet"
            if not path.exists() and suffix == "timings":
                continue  # schema 2 kept no timed calls
            try:
                pq.read_metadata(path)
            except (OSError, ValueError, ArrowException) as err:
                self._damaged(path, err)
                return False
        return True

    def _damaged(self, path: Path, err: BaseException) -> None:
        """Name a file that cannot be read; a run (holding the lock) moves it aside."""
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        if self.repair:
            path.rename(path.with_name(path.name + DAMAGED_SUFFIX))
            warn(
                f"{path}: unreadable ({problem}); moved aside as {path.name}{DAMAGED_SUFFIX}, "
                "its cell is computed again"
            )
        else:
            warn(
                f"{path}: unreadable ({problem}); skipped (harness run on this folder computes "
                "its cell again)"
            )

    def add(self, record: CellRecord, stamp: RunStamp) -> None:
        """Save one cell: its ranking and tables first, its row last; a failure (StoreError)
        removes what was written for it, so a cell is saved whole or not at all."""
        run_id, cell = stamp.run_id, record.cell
        stem = f"{run_id}/{cell.cell_id}"
        files: dict[Path, Callable[[Path], None]] = {}
        if record.status == "ok":
            trec = "".join(trec_lines(record))
            files[self.folder / "trec" / f"{stem}.trec"] = functools.partial(_write_text, text=trec)
            tables = {
                "per_query": per_query_frame(record, run_id),
                "timings": timing_table.to_table(record.timings, run_id, cell.cell_id, cell.key),
            }
            for suffix, table in tables.items():
                path = self.folder / "rows" / f"{stem}.{suffix}.parquet"
                files[path] = functools.partial(_write_parquet, table)
            dataset = record.dataset
            if dataset is not None and dataset.queries is not None:
                path = self.folder / "queries" / f"{dataset.fingerprint}.parquet"
                if not path.is_file():  # one per dataset: the cells of a dataset share it
                    facts = query_fact_frame(dataset.fingerprint, dataset.queries)
                    files[path] = functools.partial(_write_parquet, facts)
        row = pd.DataFrame([cell_row(record, stamp)])
        row_file = self.folder / "rows" / f"{stem}.parquet"
        files[row_file] = functools.partial(_write_parquet, row)
        try:
            for path, write in files.items():
                write_atomic(path, write)
        except BaseException:
            if not row_file.exists():  # written last: without it nothing of the cell counts
                for path in files:
                    path.unlink(missing_ok=True)
            raise

    def saved(self, run_id: str) -> set[str]:
        """Ids of the cells the run `run_id` saved (whole: their row is written last)."""
        folder = self.folder / "rows" / run_id
        return {
            f.name.removesuffix(".parquet")
            for f in folder.glob("*.parquet")
            if not f.name.endswith((".per_query.parquet", ".timings.parquet"))
        }

    def write_manifest(self, meta: dict[str, Any]) -> None:
        text = json.dumps(meta, indent=2, default=str) + "\n"
        write_atomic(
            self.folder / "manifests" / f"{meta['run_id']}.json",
            functools.partial(_write_text, text=text),
        )

    def row_files(self) -> list[Path]:
        """One file per finished cell of every run (not its per-query or timing tables)."""
        return sorted(
            f
            for f in (self.folder / "rows").glob("*/*.parquet")
            if not f.name.endswith((".per_query.parquet", ".timings.parquet"))
        )

    def rows(self) -> pd.DataFrame:
        """Every readable row of every run, upgraded to the current schema, oldest first."""
        files = self.row_files()
        if not files and (self.folder / RUNS_FILE).is_file():  # a folder written before the store
            files = [self.folder / RUNS_FILE]
        frames = []
        for path in files:
            try:
                frames.append(read_table(path, _row_columns(path)))
            except StoreError as err:
                self._damaged(path, err.__cause__ or err)
        if not frames:
            return pd.DataFrame(columns=["run_id", "cell_id", "status", "timestamp"])
        rows = pd.concat([upgrade(f) for f in frames], ignore_index=True)
        return rows.sort_values("timestamp", kind="stable").reset_index(drop=True)

    def per_query(self, rows: pd.DataFrame) -> pd.DataFrame:
        return self._cell_tables(rows, "per_query", PER_QUERY_COLUMNS)

    def timings(self, rows: pd.DataFrame) -> pd.DataFrame:
        return self._cell_tables(rows, "timings", timing_table.COLUMNS)

    def _cell_tables(self, rows: pd.DataFrame, suffix: str, columns: list[str]) -> pd.DataFrame:
        frames = []
        for run_id, cell_id in zip(rows["run_id"], rows["cell_id"], strict=True):
            path = self.folder / "rows" / run_id / f"{cell_id}.{suffix}.parquet"
            if path.is_file():
                try:
                    frames.append(read_table(path, columns))
                except StoreError as err:
                    self._damaged(path, err.__cause__ or err)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def query_facts(self, fingerprints: Iterable[str]) -> pd.DataFrame:
        """The query facts of these datasets (QUERY_FACT_COLUMNS); a dataset whose facts were
        never stored (results written before harness kept them) is left out."""
        frames = []
        for fingerprint in dict.fromkeys(fingerprints):
            path = self.folder / "queries" / f"{fingerprint}.parquet"
            if path.is_file():
                try:
                    frames.append(read_table(path, QUERY_FACT_COLUMNS))
                except StoreError as err:
                    warn(f"{err}; delete the file and rerun the suite with --force to rewrite it")
        if not frames:
            return pd.DataFrame(columns=QUERY_FACT_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def latest(self, cell_ids: Iterable[str]) -> pd.DataFrame:
        """The newest row of each of `cell_ids`, in that order."""
        wanted = list(dict.fromkeys(cell_ids))
        rows = self.rows()
        newest = rows.drop_duplicates("cell_id", keep="last").set_index("cell_id")
        return newest.loc[[c for c in wanted if c in newest.index]].reset_index()

    def write_views(self, cell_ids: Iterable[str], meta: dict[str, Any]) -> pd.DataFrame:
        """runs.parquet, per_query.parquet, timings.parquet and manifest.json for one suite's
        cells."""
        runs = self.latest(cell_ids)
        ok = runs[runs["status"] == "ok"]
        per_query, timings = self.per_query(ok), self.timings(ok)
        write_atomic(self.folder / RUNS_FILE, lambda p: runs.to_parquet(p, index=False))
        write_atomic(self.folder / PER_QUERY_FILE, lambda p: per_query.to_parquet(p, index=False))
        write_atomic(self.folder / TIMINGS_FILE, lambda p: timings.to_parquet(p, index=False))
        fingerprints = ok.drop_duplicates("dataset").set_index("dataset")
        columns = ["dataset_fingerprint", "corpus_fingerprint"]
        datasets = fingerprints.reindex(columns=columns).to_dict("index")
        text = json.dumps(meta | {"datasets": datasets}, indent=2, default=str) + "\n"
        write_atomic(self.folder / MANIFEST_FILE, functools.partial(_write_text, text=text))
        return runs


def read_views(folder: Path, timings: bool = True) -> Views:
    """A results folder's last run of its suite: rows, per-query values, timed calls (left
    empty unless `timings`: they are the largest view), manifest. A missing, unreadable or
    foreign file is a StoreError naming it."""
    runs_file = folder / RUNS_FILE
    if not runs_file.is_file():
        raise HarnessError(
            f"{folder}: no {RUNS_FILE} here; give the --out folder of a harness run "
            "(or a baseline copied from one)"
        )
    rows = upgrade(_view(runs_file, _row_columns(runs_file)))
    manifest_file = folder / MANIFEST_FILE
    try:
        meta = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    except (OSError, ValueError) as err:
        raise StoreError(
            f"{manifest_file}: unreadable ({err}); rerun harness run on {folder} to rewrite it"
        ) from None
    if not isinstance(meta, dict):
        raise StoreError(f"{manifest_file}: not a harness manifest (not a JSON object)")
    return Views(
        rows,
        _view(folder / PER_QUERY_FILE, PER_QUERY_COLUMNS),
        _view(folder / TIMINGS_FILE, timing_table.COLUMNS) if timings else timing_table.empty(),
        meta,
    )


def _view(path: Path, columns: Iterable[str]) -> pd.DataFrame:
    """One of the views a run writes; missing is empty (older folders), unreadable an error."""
    if not path.is_file():
        return pd.DataFrame(columns=list(columns))
    try:
        return read_table(path, columns)
    except StoreError as err:
        raise StoreError(
            f"{err}; rerun harness run on {path.parent} to rewrite it from its rows"
        ) from None


def _row_columns(path: Path) -> tuple[str, ...]:
    return tuple(c for c in ROW_COLUMNS if path.name != RUNS_FILE or c != "cell_id")


def stores_under(paths: Iterable[Path]) -> list[Path]:
    """Results folders among `paths`, or one level below them (`results/` holds one per suite)."""
    found = []
    for path in paths:
        if (path / "rows").is_dir() or (path / RUNS_FILE).is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(
                p for p in path.iterdir() if (p / "rows").is_dir() or (p / RUNS_FILE).is_file()
            )
        else:
            raise HarnessError(f"{path}: no such results folder; give the --out of a harness run")
    return found


def select(folders: Iterable[Path], where: str | None = None, latest: bool = False) -> pd.DataFrame:
    """Rows of every run in `folders`, filtered by a SQL condition (DuckDB), oldest first."""
    import duckdb

    stores = stores_under(folders)
    frames = [ResultsStore(f).rows().assign(results_folder=str(f)) for f in stores]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    sql = "SELECT * FROM rows"
    if where:
        sql += f" WHERE {where}"
    if latest:
        newest_first = "PARTITION BY results_folder, cell_id ORDER BY timestamp DESC"
        sql += f" QUALIFY row_number() OVER ({newest_first}) = 1"
    connection = duckdb.connect()
    connection.register("rows", rows)
    try:
        return connection.execute(sql + " ORDER BY timestamp, dataset, embedder, index").df()
    except duckdb.Error as err:
        message = str(err).splitlines()[0]
        symbols = [c for c in rows.columns if not str(c).isidentifier() and str(c) in str(where)]
        hint = (
            f'; quote column names that hold symbols: "{symbols[0]}"'
            if symbols and f'"{symbols[0]}"' not in str(where)
            else f"; columns include {', '.join(rows.columns[:12])}"
        )
        raise HarnessError(f"--where {where!r}: {message}{hint}") from None


def metric_columns(rows: pd.DataFrame) -> list[str]:
    """The metric strings the rows' suites asked for, in first-seen order."""
    names: dict[str, None] = {}
    for listed in rows.get("metrics", pd.Series(dtype=str)).dropna().unique():
        names |= dict.fromkeys(json.loads(listed))
    return [n for n in names if n in rows.columns]


def upgrade(rows: pd.DataFrame) -> pd.DataFrame:
    """Bring rows of any earlier schema to the current one."""
    rows = rows.copy()
    version = int(rows["schema_version"].iloc[0]) if len(rows) else SCHEMA_VERSION
    if version == 1:
        # schema 1 (harness 0.1, one runs.parquet per folder) had no cell ids and no metric list
        rows["cell_id"] = "schema1." + rows["run_id"] + "." + rows["cell"]
        fixed = {"run_id", "suite", "timestamp", "cell", "status", "error", "dataset", "embedder"}
        metrics = [c for c in rows.columns if c not in fixed and ("@" in c or c in ("AP", "RR"))]
        rows["metrics"] = json.dumps(metrics)
        rows["schema_version"] = version = 2
    if version == 2:
        # schema 3 added figures (with intervals), threads, machine load and index memory:
        # missing in older rows, never zero
        rows["schema_version"] = version = 3
    if version != SCHEMA_VERSION:
        raise HarnessError(
            f"results of schema {version} are newer than this harness reads ({SCHEMA_VERSION}); "
            "upgrade harness"
        )
    return _with_every_figure(rows)


def _with_every_figure(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a column for every figure of the current schema, NaN where they lack one."""
    columns = [
        column
        for name, figure in FIGURES.items()
        for column in (name, *(spread_columns(name) if figure.spread else ()))
    ]
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        rows = pd.concat([rows, pd.DataFrame(np.nan, index=rows.index, columns=missing)], axis=1)
    for column in ("query_encoder", "node"):  # added within schema 3
        if column not in rows.columns:
            rows[column] = None
    return rows


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through `write(tmp_path)` then rename, so readers never see a partial file; the
    file gets the permissions the umask gives any new file. An OSError (disk full, read-only)
    becomes a StoreError naming the path, with the temporary file removed."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        tmp = Path(name)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            problem = os_problem(err, path.parent if path.parent.is_dir() else None)
            raise StoreError(f"{path}: cannot write: {problem}") from err
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()
TMP_SUFFIX = ".tmp"


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    table.to_parquet(path, index=False)


def _write_text(path: Path, *, text: str) -> None:
    path.write_text(text)
