"""The leaderboard: runs table -> a compact ranking per dataset, as numbers (CSV) and as printed
(Markdown, terminal), each timed figure with its spread, and notes on what the figures mean.

Where the rows compare embedders whose query side differs (a dense model against BM25, or two
models), latency and QPS are end-to-end (encoding or tokenising the query, then searching);
otherwise the query side is the same for every row and they are the search alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from harness.figures import FIGURES, format_value, format_with_spread, spread_columns

Stage = str

COSTS = {
    "search": ("qps", "latency_p95_ms"),
    "e2e": ("e2e_qps", "e2e_latency_p95_ms", "qps"),
}
"""The latency and throughput columns by stage; end-to-end tables keep the search's QPS
beside, since the query side can hide what the index costs."""
OTHER_COSTS = ("build_s", "vector_bytes", "bytes_per_vector", "index_rss_bytes", "docs_per_s")

WIDER_STORAGE = 1.5
"""An index storing more than this many times its embedder's code size per document stores
wider values than the codes (floats for binary codes, say)."""


@dataclass(frozen=True)
class Leaderboard:
    table: pd.DataFrame
    """One row per cell, best first within each dataset by the first metric, failures last:
    numbers, each timed figure with its interval's ends (`<label> low`, `<label> high`)."""
    shown: pd.DataFrame
    """The same rows as printed: figures formatted, each timed one with its spread."""
    stage: Stage
    """'e2e' or 'search': which latency and QPS the table shows."""
    notes: list[str] = field(default_factory=list)


def cost_stage(runs: pd.DataFrame) -> Stage:
    """'e2e' where the rows' query sides differ (several query encoders, dense or lexical)
    and end-to-end figures exist; else 'search'."""
    if "e2e_qps" not in runs or runs["e2e_qps"].isna().all():
        return "search"
    encoders = runs["query_encoder"] if "query_encoder" in runs else runs["embedder_kind"]
    return "e2e" if encoders.dropna().nunique() > 1 else "search"


def ranked(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The rows in the leaderboard's order: by dataset, best first by the first metric,
    failures last."""
    order = runs.assign(_failed=runs["status"] != "ok").sort_values(
        ["dataset", "_failed", metrics[0]], ascending=[True, True, False], kind="stable"
    )
    return order.drop(columns="_failed").reset_index(drop=True)


def leaderboard(runs: pd.DataFrame, metrics: Sequence[str]) -> Leaderboard:
    stage = cost_stage(runs)
    order = ranked(runs, metrics)
    labels = pd.DataFrame(
        {
            "dataset": order["dataset"],
            "embedder": order["embedder"],
            "index": order["index"].replace("", "-"),
            "search": order["search_params"].map(search_label),
        }
    )
    if "threads" in order and (order["threads"].fillna(1) != 1).any():
        labels["threads"] = order["threads"]
    table, shown = labels.copy(), labels.copy()
    for metric in metrics:
        table[metric] = order[metric]
        shown[metric] = order[metric].map(lambda v, m=metric: format_value(m, v))
    for name in (*COSTS[stage], *OTHER_COSTS):
        title = _title(name, stage)
        values = order.get(name, pd.Series(math.nan, index=order.index))
        table[title] = values
        if FIGURES[name].spread:
            low, high, _ = spread_columns(name)
            lows = order.get(low, pd.Series(math.nan, index=order.index))
            highs = order.get(high, pd.Series(math.nan, index=order.index))
            table[f"{title} low"], table[f"{title} high"] = lows, highs
            shown[title] = [
                format_with_spread(name, v, lo, hi)
                for v, lo, hi in zip(values, lows, highs, strict=True)
            ]
        else:
            shown[title] = values.map(lambda v, n=name: format_value(n, v))
    table["status"] = shown["status"] = order["status"]
    return Leaderboard(table, shown, stage, _notes(order, stage))


def _title(name: str, stage: Stage) -> str:
    figure = FIGURES[name]
    if figure.stage not in ("search", "e2e"):
        return figure.label
    return figure.label.replace(" e2e", "") + f" ({figure.stage})"


def _notes(runs: pd.DataFrame, stage: Stage) -> list[str]:
    what = {
        "e2e": "(e2e) figures are end-to-end: the query side (encoding, or tokenising for "
        "BM25) plus the search, since the rows' query sides differ; (search) is the search alone",
        "search": "(search) figures are the search alone: every row shares its query side",
    }
    notes = [f"{what[stage]}; QPS batched, p95 batch-1; ± is the 95% interval from the timed calls"]
    for _, row in runs[codes_in_wider_index(runs)].iterrows():
        notes.append(
            f"{row['embedder']} ({format_value('vector_bytes', row['vector_bytes'])} B codes) "
            f"searched through {row['index']} ({row.get('index_kind', '')}), which stores "
            f"{format_value('bytes_per_vector', row['bytes_per_vector'])} B per document: "
            "wider values than the codes; the codes alone would take the embedding B"
        )
    cached = _encoded_earlier(runs)
    if cached.any():
        embedders = ", ".join(dict.fromkeys(runs.loc[cached, "embedder"].astype(str)))
        notes.append(
            f"docs/s of {embedders}: from the encode that filled the embedding cache, not from "
            "this run, which read the document vectors from the cache"
        )
    return list(dict.fromkeys(notes))


def _encoded_earlier(runs: pd.DataFrame) -> pd.Series:
    """Dense rows whose vectors came from the cache: their encoding figures are the filler's."""
    if not {"texts_encoded", "docs_per_s", "n_docs"} <= set(runs.columns):
        return pd.Series(False, index=runs.index)
    # a run that encoded the documents encoded at least n_docs texts
    return (runs["texts_encoded"] < runs["n_docs"]) & runs["docs_per_s"].notna()


def codes_in_wider_index(runs: pd.DataFrame) -> pd.Series:
    """Rows of a quantised embedder whose index stores wider values than its codes (floats for
    binary codes): the index's bytes overstate what the codes need."""
    if not {"embedder_kind", "vector_bytes", "bytes_per_vector"} <= set(runs.columns):
        return pd.Series(False, index=runs.index)
    quantised = runs["embedder_kind"] == "quantize"
    return quantised & (runs["bytes_per_vector"] > WIDER_STORAGE * runs["vector_bytes"])


def search_label(search_params: str) -> str:
    """'{"efSearch":16}' -> 'efSearch=16'; no settings -> '-'."""
    settings = json.loads(search_params) if search_params else {}
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None) or "-"
