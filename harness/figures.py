"""One vocabulary for the figures harness records: the column name, a short label, the unit,
which way is better, and how it prints. Tables, plots, gates and the terminal read it here.

Quality metrics are named by the suite's own strings (`nDCG@10`) and ANN recall by
`ann_recall@<k>`; they print with four decimals. Cost figures are listed in `FIGURES`.

Latency and throughput are measured at three places of the query path:

- search: the index (or BM25's inverted index) answering already-encoded queries;
- query: turning query texts into what the index takes (dense encoding, BM25 tokenising);
- e2e: the two together, text in, ranking out.

A pipeline's row (harness.pipelines) reads them one stage further: its query side is its first
stages end to end, its search is its second stage (fusion or re-ranking), e2e the whole.

Timed figures (`Figure.spread`) are stored with a 95% bootstrap interval and a sample count
in the columns `<name>_low`, `<name>_high` and `<name>_n`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Better = Literal["higher", "lower"]
Stage = Literal["search", "query", "e2e"]
Format = Literal["metric", "ms", "s", "rate", "bytes", "size", "count", "ratio"]

MISSING = "—"
"""How a missing value prints: never as 0."""


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str
    better: Better | None
    format: Format
    spread: bool = False
    """Stored with its bootstrap interval and sample count (`<name>_low/_high/_n`)."""
    stage: Stage | None = None


def _latency(stage: Stage, prefix: str, label: str) -> list[Figure]:
    return [
        Figure(f"{prefix}latency_p{p}_ms", f"p{p} ms{label}", "ms", "lower", "ms", True, stage)
        for p in (50, 95, 99)
    ]


def _qps(stage: Stage, name: str, label: str) -> Figure:
    return Figure(name, f"QPS{label}", "queries/s", "higher", "rate", True, stage)


TIMED: tuple[Figure, ...] = (
    *_latency("search", "", ""),
    _qps("search", "qps", ""),
    *_latency("query", "query_", " query"),
    _qps("query", "query_qps", " query"),
    *_latency("e2e", "e2e_", " e2e"),
    _qps("e2e", "e2e_qps", " e2e"),
    Figure("build_s", "build s", "s", "lower", "s", True),
)

FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        *TIMED,
        Figure("model_load_s", "model load s", "s", "lower", "s"),
        Figure("encode_docs_s", "encode s", "s", "lower", "s"),
        Figure("docs_per_s", "docs/s", "docs/s", "higher", "rate"),
        Figure("encode_queries_s", "encode queries s", "s", "lower", "s"),
        Figure("queries_per_s", "queries/s", "queries/s", "higher", "rate"),
        Figure("dim", "dim", "", None, "count"),
        Figure("doc_nnz", "terms/doc", "", None, "ratio"),
        Figure("query_nnz", "terms/query", "", None, "ratio"),
        Figure("doc_vectors", "vectors/doc", "", None, "ratio"),
        Figure("query_vectors", "vectors/query", "", None, "ratio"),
        Figure("vector_bytes", "embedding B", "B", "lower", "bytes"),
        Figure("index_bytes", "index B", "B", "lower", "bytes"),
        Figure("bytes_per_vector", "index B/doc", "B", "lower", "bytes"),
        Figure("peak_rss_bytes", "peak RSS", "B", "lower", "size"),
        Figure("index_rss_bytes", "index RSS", "B", "lower", "size"),
        Figure("probe_ms", "probe ms", "ms", "lower", "ms", True),
        Figure("threads", "threads", "", None, "count"),
        Figure("load_start", "load (start)", "", None, "ratio"),
        Figure("load_end", "load (end)", "", None, "ratio"),
        Figure("other_cpu", "others' CPU", "cores", None, "ratio"),
        Figure("texts_encoded", "texts encoded", "", None, "count"),
        Figure("queries_without_results", "empty rankings", "", "lower", "count"),
    )
}

ENCODING_FIGURES: tuple[str, ...] = (
    "model_load_s",
    "encode_docs_s",
    "docs_per_s",
    "encode_queries_s",
    "queries_per_s",
    "dim",
    "vector_bytes",
)
"""What a dense embedder's encoding records; a lexical retriever has none of them."""

COST_FIGURES: tuple[str, ...] = (
    "qps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "e2e_qps",
    "e2e_latency_p50_ms",
    "e2e_latency_p95_ms",
    "e2e_latency_p99_ms",
    "query_qps",
    "query_latency_p50_ms",
    "query_latency_p95_ms",
    "query_latency_p99_ms",
    "build_s",
    "index_bytes",
    "bytes_per_vector",
    "vector_bytes",
    "peak_rss_bytes",
    "index_rss_bytes",
    "docs_per_s",
    "queries_per_s",
)
"""The cost figures `harness compare` puts side by side, in the order it shows them."""

SPREAD_SUFFIXES = ("_low", "_high", "_n")


def spread_columns(name: str) -> tuple[str, str, str]:
    low, high, n = (name + s for s in SPREAD_SUFFIXES)
    return low, high, n


def is_quality(name: str) -> bool:
    """A quality metric (a suite's metric string, or ANN recall), not a cost figure."""
    return name not in FIGURES and not name.endswith(SPREAD_SUFFIXES)


def better(name: str) -> Better:
    """Which way `name` improves; quality metrics improve upwards."""
    figure = FIGURES.get(name)
    return figure.better if figure is not None and figure.better is not None else "higher"


def label(name: str) -> str:
    figure = FIGURES.get(name)
    return figure.label if figure is not None else name


def format_value(name: str, value: object) -> str:
    """`value` of the figure `name` as printed in tables: metrics to four decimals, latencies
    to three significant places, rates and bytes as whole numbers with thousands separators,
    memory in kB/MB/GB. Whole numbers of other columns (ranks, counts) print as they are."""
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, bool | str | numbers.Integral) or not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    figure = FIGURES.get(name)
    kind: Format = figure.format if figure is not None else "metric"
    if kind == "metric":
        return f"{number:.4f}"
    if kind == "ms":
        if abs(number) < 1:
            return f"{number:.3f}"
        return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"
    if kind == "s":
        return f"{number:.2f}"
    if kind == "rate":
        return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.1f}"
    if kind == "ratio":
        return f"{number:.2f}"
    if kind == "size":
        return _size(number)
    return f"{number:,.0f}"


def format_signed(name: str, value: object) -> str:
    """A change of the figure `name`, signed: '+0.0123', '-1,204'; no change prints unsigned."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
        return MISSING
    number = float(value)
    text = format_value(name, abs(number))
    if number == 0 or not text.strip("0.,"):
        return text
    return ("+" if number > 0 else "-") + text


def format_p(value: object) -> str:
    """A p-value: four decimals, '<0.0001' below."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
        return MISSING
    number = float(value)
    return "<0.0001" if number < 1e-4 else f"{number:.4f}"


def markdown_table(table: pd.DataFrame) -> str:
    """A table as Markdown, each number formatted by the figure its column names; the one
    Markdown writer of every report, gate and leaderboard."""
    columns = [str(c) for c in table.columns]
    header = (c.replace("|", "\\|") for c in columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in table.itertuples(index=False):
        cells = (format_value(c, v).replace("|", "\\|") for c, v in zip(columns, row, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _size(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n_bytes) >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes:.0f} B"


def format_spread(value: float, low: float, high: float) -> str:
    """'±3%': the larger distance from the estimate to its interval's ends, relative."""
    if any(math.isnan(v) for v in (value, low, high)) or value == 0:
        return ""
    relative = max(value - low, high - value) / abs(value) * 100
    return f"±{relative:.1f}%" if relative < 9.95 else f"±{relative:.0f}%"


def format_with_spread(name: str, value: object, low: object, high: object) -> str:
    """'22,847 ±3%' for a timed figure with its interval; the plain value without one."""
    text = format_value(name, value)
    if not all(isinstance(v, numbers.Real) for v in (value, low, high)):
        return text
    spread = format_spread(float(value), float(low), float(high))  # type: ignore[arg-type]
    return f"{text} {spread}" if spread else text
