"""Tables as the site prints them: each cell's text, the value it sorts by, and its class."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import pandas as pd

from harness.figures import MISSING, format_value


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str | None = None
    """A number to sort by, as text; None: the text."""
    css: str = ""


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    sortable: bool = True
    filterable: bool = False


def from_frames(
    id: str,
    caption: str,
    shown: pd.DataFrame,
    numbers: pd.DataFrame | None = None,
    classes: dict[str, pd.Series] | None = None,
    filterable: bool = False,
) -> Table:
    """A table printing `shown` (strings, or values formatted by their column's figure) and
    sorting by `numbers` where it has the column (else by the value itself when numeric)."""
    columns = [str(c) for c in shown.columns]
    numeric = {
        c: bool(numbers is not None and c in numbers and _is_number(numbers[c]))
        or _is_number(shown[c])
        for c in columns
    }
    rows = []
    for position in range(len(shown)):
        cells = []
        for column in columns:
            value = shown[column].iloc[position]
            sort_by = (
                numbers[column].iloc[position]
                if numbers is not None and column in numbers
                else value
            )
            css = "num" if numeric[column] else ""
            if classes and column in classes:
                css = f"{css} {classes[column].iloc[position]}".strip()
            text = value if isinstance(value, str) else format_value(column, value)
            if text == MISSING:
                css = f"{css} missing".strip()
            cells.append(Cell(text, _sort_text(sort_by), css))
        rows.append(cells)
    return Table(id, caption, [Column(c, numeric[c]) for c in columns], rows, filterable=filterable)


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _sort_text(value: object) -> str | None:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    return None
