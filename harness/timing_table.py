"""Timed calls as a table (each cell's `timings.parquet`) and back: one row per call."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness.spread import Series

COLUMNS = ["run_id", "cell_id", "cell", "series", "round", "query_id", "seconds"]


def to_table(series: Mapping[str, Series], run_id: str, cell_id: str, cell: str) -> pd.DataFrame:
    """A cell's series as rows; batch-1 calls name their query, other calls have none."""
    frames = [
        pd.DataFrame(
            {
                "series": name,
                "round": calls.rounds,
                "query_id": calls.queries if calls.queries is not None else None,
                "seconds": calls.seconds,
            }
        )
        for name, calls in series.items()
    ]
    if not frames:
        return empty()
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "cell", cell)
    table.insert(0, "cell_id", cell_id)
    table.insert(0, "run_id", run_id)
    return table.astype({"round": "int32", "query_id": "string"})


def empty() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS)


def from_table(table: pd.DataFrame) -> dict[str, dict[str, Series]]:
    """Rows of timed calls -> cell -> series name -> Series (the newest run's, when several)."""
    if not len(table):
        return {}
    newest = table[table["run_id"] == table.groupby("cell")["run_id"].transform("max")]
    out: dict[str, dict[str, Series]] = {}
    for (cell, name), calls in newest.groupby(["cell", "series"], sort=False):
        asked = calls["query_id"]
        queries = None if asked.isna().all() else asked.astype(object).to_numpy()
        out.setdefault(str(cell), {})[str(name)] = Series.of(
            calls["seconds"].to_numpy(np.float64), calls["round"].to_numpy(np.int64), queries
        )
    return out
