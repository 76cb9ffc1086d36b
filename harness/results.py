"""The results store: every finished cell of every run, in one folder, found again later.

    <folder>/rows/<run_id>/<cell_id>.parquet            one row: the cell's metrics and costs
    <folder>/rows/<run_id>/<cell_id>.per_query.parquet  every metric for every judged query
    <folder>/rows/<run_id>/<cell_id>.timings.parquet    every timed call (harness.spread series)
    <folder>/trec/<run_id>/<cell_id>.trec               the ranking, as a standard TREC run file
    <folder>/manifests/<run_id>.json                    packages, machine, threads, fingerprints
    <folder>/runs.parquet, per_query.parquet, timings.parquet, manifest.json
                                                        the last run's suite, as tables
    <folder>/.lock                                      held by the run writing here

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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import timing_table
from harness.errors import HarnessError
from harness.evaluate import AVERAGING
from harness.figures import FIGURES, spread_columns
from harness.runner import CellResult
from harness.spec import Suite

SCHEMA_VERSION = 3
"""2: the store (cell ids, metric list). 3: timed calls kept; figures with intervals; end-to-end
and query-side latency; threads, machine load and index memory per cell."""
RUNS_FILE = "runs.parquet"
PER_QUERY_FILE = "per_query.parquet"
TIMINGS_FILE = "timings.parquet"
MANIFEST_FILE = "manifest.json"
PER_QUERY_COLUMNS = ["run_id", "cell_id", "cell", "query_id", "measure", "value"]


@dataclass(frozen=True)
class Views:
    """A results folder's last run of its suite, as tables."""

    rows: pd.DataFrame
    per_query: pd.DataFrame
    timings: pd.DataFrame
    """Every timed call (harness.timing_table); empty for results of schema 2 and older."""
    manifest: dict[str, Any]


def cell_row(suite: Suite, result: CellResult, meta: dict[str, Any]) -> dict[str, Any]:
    cell = result.cell
    embedder_spec = suite.embedder(cell.embedder)
    described = dict(result.embedder)
    row: dict[str, Any] = {
        "run_id": meta["run_id"],
        "suite": suite.name,
        "timestamp": meta["created"],
        "harness_version": meta["harness_version"],
        "git_sha": meta["git_sha"],
        "schema_version": SCHEMA_VERSION,
        "cell_id": result.cell_id,
        "cell": cell.key,
        "status": result.status,
        "error": result.error,
        "dataset": cell.dataset,
        "embedder": cell.embedder,
        "embedder_kind": embedder_spec.kind,
        "model": described.pop("model", getattr(embedder_spec.params, "model", embedder_spec.kind)),
        "model_source": described.pop("model_source", ""),
        "query_encoder": described.pop("query_encoder", None),
        "embedder_params": json.dumps(described, sort_keys=True, default=str),
        "index": cell.index or "",
        "search_params": cell.search,
        "k": suite.k,
        "metrics": json.dumps(list(suite.metrics)),
        "averaging": AVERAGING,
    }
    row |= result.dataset | result.index
    for metric in suite.metrics:
        row[metric] = result.metrics.get(metric, float("nan"))
    return row | result.cost


def per_query_frame(result: CellResult, run_id: str) -> pd.DataFrame:
    rows = [
        (run_id, result.cell_id, result.cell.key, query_id, metric, value)
        for metric, values in result.per_query.items()
        for query_id, value in values.items()
    ]
    return pd.DataFrame(rows, columns=PER_QUERY_COLUMNS)


def trec_lines(result: CellResult) -> Iterator[str]:
    """qid Q0 docid rank score tag: the six columns trec_eval and ranx read."""
    tag = f"harness.{result.cell_id}"
    for query_id, ranking in result.run.items():
        for rank, (doc_id, score) in enumerate(ranking.items(), start=1):
            yield f"{query_id} Q0 {doc_id} {rank} {score:.6f} {tag}\n"


class ResultsStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive use of the folder for one run; the OS drops the lock if the process dies."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a+") as handle:
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
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def finished(self) -> set[str]:
        """Ids of cells with a successful row, in any run."""
        rows = self.rows()
        return set(rows.loc[rows["status"] == "ok", "cell_id"]) if len(rows) else set()

    def add(self, suite: Suite, result: CellResult, meta: dict[str, Any]) -> None:
        run_id, key = meta["run_id"], result.cell.key
        stem = f"{run_id}/{result.cell_id}"
        if result.status == "ok":
            trec = "".join(trec_lines(result))
            write_atomic(self.folder / "trec" / f"{stem}.trec", lambda p: _write_text(p, trec))
            tables = {
                "per_query": per_query_frame(result, run_id),
                "timings": timing_table.to_table(result.timings, run_id, result.cell_id, key),
            }
            for suffix, table in tables.items():
                write_atomic(
                    self.folder / "rows" / f"{stem}.{suffix}.parquet",
                    functools.partial(_write_parquet, table),
                )
        row = pd.DataFrame([cell_row(suite, result, meta)])
        write_atomic(
            self.folder / "rows" / f"{stem}.parquet", lambda p: row.to_parquet(p, index=False)
        )

    def write_manifest(self, meta: dict[str, Any]) -> None:
        text = json.dumps(meta, indent=2, default=str) + "\n"
        write_atomic(
            self.folder / "manifests" / f"{meta['run_id']}.json", lambda p: _write_text(p, text)
        )

    def row_files(self) -> list[Path]:
        """One file per finished cell of every run (not its per-query or timing tables)."""
        return sorted(
            f
            for f in (self.folder / "rows").glob("*/*.parquet")
            if not f.name.endswith((".per_query.parquet", ".timings.parquet"))
        )

    def rows(self) -> pd.DataFrame:
        """Every row of every run, upgraded to the current schema, oldest first."""
        files = self.row_files()
        frames = [pd.read_parquet(f) for f in files]
        if not files and (self.folder / RUNS_FILE).is_file():  # a folder written before the store
            frames = [pd.read_parquet(self.folder / RUNS_FILE)]
        if not frames:
            return pd.DataFrame(columns=["run_id", "cell_id", "status", "timestamp"])
        rows = pd.concat([upgrade(f) for f in frames], ignore_index=True)
        return rows.sort_values("timestamp", kind="stable").reset_index(drop=True)

    def per_query(self, rows: pd.DataFrame) -> pd.DataFrame:
        return self._cell_tables(rows, "per_query", PER_QUERY_COLUMNS)

    def timings(self, rows: pd.DataFrame) -> pd.DataFrame:
        return self._cell_tables(rows, "timings", timing_table.COLUMNS)

    def _cell_tables(self, rows: pd.DataFrame, suffix: str, columns: list[str]) -> pd.DataFrame:
        frames = [
            pd.read_parquet(path)
            for run_id, cell_id in zip(rows["run_id"], rows["cell_id"], strict=True)
            if (path := self.folder / "rows" / run_id / f"{cell_id}.{suffix}.parquet").is_file()
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

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
        datasets = fingerprints[["dataset_fingerprint", "corpus_fingerprint"]].to_dict("index")
        text = json.dumps(meta | {"datasets": datasets}, indent=2, default=str) + "\n"
        write_atomic(self.folder / MANIFEST_FILE, lambda p: _write_text(p, text))
        return runs


def read_views(folder: Path) -> Views:
    """A results folder's last run of its suite: rows, per-query values, timed calls, manifest."""
    runs_file = folder / RUNS_FILE
    if not runs_file.is_file():
        raise HarnessError(
            f"{folder}: no {RUNS_FILE} here; give the --out folder of a harness run "
            "(or a baseline copied from one)"
        )
    rows = upgrade(pd.read_parquet(runs_file))
    manifest_file = folder / MANIFEST_FILE
    meta = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    return Views(
        rows,
        _table(folder / PER_QUERY_FILE, PER_QUERY_COLUMNS),
        _table(folder / TIMINGS_FILE, timing_table.COLUMNS),
        meta,
    )


def _table(path: Path, columns: list[str]) -> pd.DataFrame:
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=columns)


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
        raise HarnessError(
            f"--where {where!r}: {message}; columns include {', '.join(rows.columns[:12])}"
        ) from None


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
    if "query_encoder" not in rows.columns:
        rows["query_encoder"] = None
    return rows


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through `write(tmp_path)` then rename, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    table.to_parquet(path, index=False)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text)
