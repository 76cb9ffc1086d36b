"""The leaderboard: runs table -> a compact ranking per dataset, as rows, Markdown and CSV."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pandas as pd

COST_COLUMNS = {
    "qps": "QPS",
    "latency_p95_ms": "p95 ms",
    "build_s": "build s",
    "vector_bytes": "embedding B",  # one document vector as the embedder stores it
    "bytes_per_vector": "index B/doc",  # the index as serialised, over the documents
    "docs_per_s": "docs/s",
}


def leaderboard(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per cell, best first within each dataset by the first metric; failures last."""
    table = pd.DataFrame(
        {
            "dataset": runs["dataset"],
            "embedder": runs["embedder"],
            "index": runs["index"].replace("", "-"),
            "search": runs["search_params"].map(search_label),
        }
    )
    for metric in metrics:
        table[metric] = runs[metric]
    for column, title in COST_COLUMNS.items():
        table[title] = runs.get(column, math.nan)
    table["status"] = runs["status"]
    order = table.sort_values(
        ["dataset", "status", metrics[0]], ascending=[True, False, False], kind="stable"
    )
    return order.reset_index(drop=True)


def search_label(search_params: str) -> str:
    """'{"efSearch":16}' -> 'efSearch=16'; no settings -> '-'."""
    settings = json.loads(search_params) if search_params else {}
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None) or "-"


def format_value(value: object, column: str) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if column in ("p95 ms", "build s") or column.endswith(("_ms", "_s")):
            return f"{value:.2f}"
        if column in ("QPS", "docs/s", "embedding B", "index B/doc", "qps") or column.endswith(
            "_per_s"
        ):
            return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
        if abs(value) >= 100:  # counts and rates: QPS, docs/s, bytes
            return f"{value:,.0f}"
        return f"{value:.4f}"  # metrics
    return str(value)


def to_markdown(table: pd.DataFrame) -> str:
    columns = list(table.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(format_value(row[c], c) for c in columns) + " |")
    return "\n".join(lines) + "\n"
