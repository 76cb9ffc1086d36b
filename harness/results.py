"""CellResults <-> tables on disk: runs.parquet (one row per cell) and per_query.parquet.

Metric columns are named by the exact strings written in the suite (`nDCG@10`). Every row
carries the run id, suite, harness version, git sha and schema version, so a row found later
says where it came from. Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from harness.evaluate import AVERAGING
from harness.runner import CellResult
from harness.spec import Suite

SCHEMA_VERSION = 1
RUNS_FILE = "runs.parquet"
PER_QUERY_FILE = "per_query.parquet"
MANIFEST_FILE = "manifest.json"


def runs_table(suite: Suite, results: list[CellResult], meta: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for result in results:
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
            "cell": cell.key,
            "status": result.status,
            "error": result.error,
            "dataset": cell.dataset,
            "embedder": cell.embedder,
            "embedder_kind": embedder_spec.kind,
            "model": described.pop(
                "model", getattr(embedder_spec.params, "model", embedder_spec.kind)
            ),
            "model_source": described.pop("model_source", ""),
            "embedder_params": json.dumps(described, sort_keys=True, default=str),
            "index": cell.index or "",
            "search_params": cell.search,
            "k": suite.k,
            "averaging": AVERAGING,
        }
        row |= result.dataset | result.index
        for metric in suite.metrics:
            row[metric] = result.metrics.get(metric, float("nan"))
        row |= result.cost
        rows.append(row)
    return pd.DataFrame(rows)


def per_query_table(results: list[CellResult], run_id: str) -> pd.DataFrame:
    rows = [
        (
            run_id,
            r.cell.key,
            r.cell.dataset,
            r.cell.embedder,
            r.cell.index or "",
            r.cell.search,
            query_id,
            metric,
            value,
        )
        for r in results
        for metric, values in r.per_query.items()
        for query_id, value in values.items()
    ]
    columns = [
        "run_id",
        "cell",
        "dataset",
        "embedder",
        "index",
        "search_params",
        "query_id",
        "measure",
        "value",
    ]
    return pd.DataFrame(rows, columns=columns)


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


def save(out: Path, suite: Suite, results: list[CellResult], meta: dict[str, Any]) -> None:
    """Write the tables and manifest for the cells finished so far."""
    from harness.manifest import thread_counts

    manifest = meta | {
        "threads": thread_counts(),  # read now: the run has imported the libraries
        "datasets": {
            r.cell.dataset: {
                key: r.dataset[key] for key in ("dataset_fingerprint", "corpus_fingerprint")
            }
            for r in results
            if r.dataset
        },
    }
    runs = runs_table(suite, results, meta)
    write_results(out, runs, per_query_table(results, meta["run_id"]), manifest)


def write_results(
    out: Path, runs: pd.DataFrame, per_query: pd.DataFrame, manifest: dict[str, Any]
) -> None:
    write_atomic(out / RUNS_FILE, lambda p: runs.to_parquet(p, index=False))
    write_atomic(out / PER_QUERY_FILE, lambda p: per_query.to_parquet(p, index=False))
    text = json.dumps(manifest, indent=2) + "\n"
    write_atomic(out / MANIFEST_FILE, lambda p: _write_text(p, text))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text)


def read_runs(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / RUNS_FILE)
