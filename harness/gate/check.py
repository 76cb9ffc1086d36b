"""`harness check`: grade a run against the expected values its suite declares.

OK: the value matches at four decimals. within tolerance: off by no more than the tolerance.
FAIL: off by more, or the cell is missing or failed. Improvements fail too: a figure that moves
either way means the pipeline changed, as in Pyserini's reproduction matrix.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.gate.rules import EXACT

OK, WITHIN, FAIL = "OK", "within tolerance", "FAIL"


def grade(expected: list[dict[str, Any]], runs: pd.DataFrame) -> pd.DataFrame:
    """`expected` as a run's manifest stores them (Suite.expected_values): one row per
    expected value: cell, metric, expected, actual, delta, tolerance, grade."""
    by_cell = runs.drop_duplicates("cell", keep="last").set_index("cell")
    graded = []
    for item in expected:
        cell, metric, tolerance = item["cell"], item["metric"], float(item["tolerance"])
        row = by_cell.loc[cell] if cell in by_cell.index else None
        actual, note = math.nan, ""
        if row is None:
            note = "no result for this cell"
        elif row["status"] != "ok":
            note = f"cell failed: {row['error']}"
        elif metric not in row.index or pd.isna(row[metric]):
            note = f"no {metric} in the results"
        else:
            actual = float(row[metric])
        delta = actual - float(item["expected"])
        if math.isnan(actual) or abs(delta) > tolerance + 1e-12:
            verdict = FAIL
        else:
            verdict = OK if abs(delta) < EXACT else WITHIN
        graded.append(item | {"actual": actual, "delta": delta, "grade": verdict, "note": note})
    columns = ["cell", "metric", "expected", "actual", "delta", "tolerance", "grade", "note"]
    return pd.DataFrame(graded, columns=columns)
