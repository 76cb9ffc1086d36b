"""The site's interactive plots, as Plotly figure specifications (plain JSON, drawn in the
page by the shipped plotly.min.js): quality against QPS, against bytes per document and
against dimension, and ANN recall against QPS (ann-benchmarks' view). Every point's hover
shows its whole configuration; the Pareto frontier (beyond the noise) is drawn dashed."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.figures import format_value
from harness.report.leaderboard import search_label
from harness.report.plots import AXES, axis_points, pareto_frontier

_X_FORMATS = {"qps": "qps", "bytes": "bytes_per_vector"}
"""The figure whose format an axis's values print in."""

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
)  # fmt: skip


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    spec: dict[str, Any]
    """Plotly's {data, layout}."""

    def json(self) -> str:
        """The spec as JSON safe inside a <script> element."""
        text = json.dumps(self.spec, allow_nan=False, default=_plain)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def charts(rows: pd.DataFrame, metric: str) -> list[Chart]:
    """The plots of one dataset's rows that have something to show."""
    ok = rows[(rows["status"] == "ok") & rows[metric].notna()]
    found = [
        _cost_chart(ok, metric, "qps", "quality-vs-qps"),
        _cost_chart(ok, metric, "bytes", "quality-vs-bytes"),
        _dimension_chart(ok, metric),
        _recall_chart(ok),
    ]
    return [c for c in found if c is not None]


def _cost_chart(rows: pd.DataFrame, metric: str, axis: str, slug: str) -> Chart | None:
    spec = AXES[axis]
    points, x_label = axis_points(rows, axis, spec)
    points = points[points["x"].notna() & (points["x"] > 0)]
    if points.empty:
        return None
    frontier = pareto_frontier(points, metric, "x", spec.more_is_better, "x_low", "x_high")
    short = x_label.split(" (")[0].replace("queries per second", "QPS")
    title = f"{metric} against {short}"
    if axis == "bytes":  # the long form is in the page's notes
        x_label = "bytes per document (a quantised embedder's codes where an index stores more)"
    figure = _figure(points, metric, (_X_FORMATS[axis], short, x_label), frontier)
    return Chart(slug, title, figure)


def _dimension_chart(rows: pd.DataFrame, metric: str) -> Chart | None:
    dense = rows[rows["dim"].notna() & (rows["embedder_kind"] != "quantize")]
    if dense["dim"].nunique() < 2:
        return None
    points = dense.assign(x=dense["dim"], x_low=dense["dim"], x_high=dense["dim"])
    title = f"{metric} against dimensions kept"
    figure = _figure(points, metric, ("dim", "dimensions", "dimensions kept"), None)
    ticks = sorted(int(d) for d in points["dim"].unique())
    figure["layout"]["xaxis"] |= {"tickvals": ticks, "ticktext": [str(t) for t in ticks]}
    return Chart("quality-vs-dimension", title, figure)


def _recall_chart(rows: pd.DataFrame) -> Chart | None:
    recall = next((c for c in rows.columns if c.startswith("ann_recall@")), None)
    if recall is None:
        return None
    points = rows[rows[recall].notna() & rows["qps"].notna()]
    if points.empty:
        return None
    low, high = (points.get(f"qps_{end}", points["qps"]) for end in ("low", "high"))
    points = points.assign(x=points["qps"], x_low=low, x_high=high)
    frontier = pareto_frontier(points, recall, "x", True, "x_low", "x_high")
    title = f"{recall} against QPS, search only (ann-benchmarks' view)"
    return Chart(
        "recall-vs-qps",
        title,
        _figure(
            points,
            recall,
            ("qps", "QPS (search)", "queries per second (batched, search only)"),
            frontier,
        ),
    )


def _figure(
    points: pd.DataFrame,
    metric: str,
    x_axis: tuple[str, str, str],
    frontier: pd.DataFrame | None,
    log_x: bool = True,
) -> dict[str, Any]:
    """Points by embedder with their x intervals, the frontier, axes; `x_axis` is the figure
    whose format x takes, its name in the hover, and the axis title."""
    x_format, x_short, x_label = x_axis
    traces: list[dict[str, Any]] = []
    for i, (embedder, group) in enumerate(points.groupby("embedder", sort=True)):
        group = group.sort_values("x")
        colour = PALETTE[i % len(PALETTE)]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": html.escape(str(embedder)),
                "x": _floats(group["x"]),
                "y": _floats(group[metric]),
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": _floats((group["x_high"] - group["x"]).clip(lower=0).fillna(0)),
                    "arrayminus": _floats((group["x"] - group["x_low"]).clip(lower=0).fillna(0)),
                    "thickness": 1,
                    "width": 2,
                },
                "marker": {"color": colour, "size": 8},
                "text": [
                    _hover(row, metric) + f"<br>{html.escape(x_short)}: "
                    f"{format_value(x_format, row['x'])}"
                    for _, row in group.iterrows()
                ],
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    if frontier is not None and len(frontier) > 1:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Pareto frontier (beyond the noise)",
                "x": _floats(frontier["x"]),
                "y": _floats(frontier[metric]),
                "line": {"color": "#333", "dash": "dash", "width": 1},
                "hoverinfo": "skip",
            }
        )
    layout = {  # the page titles each plot above it, clear of Plotly's toolbar
        "xaxis": {"title": {"text": html.escape(x_label)}, "type": "log" if log_x else "linear"},
        "yaxis": {"title": {"text": html.escape(metric)}},
        "legend": {"orientation": "h", "y": -0.25},  # below the plot, never over the data
        "margin": {"t": 30, "r": 10},
        "height": 460,
    }
    return {"data": traces, "layout": layout}


def _hover(row: pd.Series, metric: str) -> str:
    """The point's whole configuration, escaped: Plotly renders hover text as markup."""
    lines = [
        f"<b>{html.escape(str(row['embedder']))}</b> ({html.escape(str(row.get('model', '')))})",
        "index: "
        + html.escape(
            f"{row['index'] or 'lexical'} ({row.get('index_kind') or row['embedder_kind']})"
        ),
    ]
    build = row.get("build_params")
    if isinstance(build, str) and build not in ("", "{}"):
        lines.append("build: " + html.escape(_settings(build)))
    if row.get("search_params"):
        lines.append("search: " + html.escape(search_label(str(row["search_params"]))))
    if not pd.isna(row.get("insertion_seed", math.nan)):
        lines.append(f"insertion seed: {int(row['insertion_seed'])}")
    lines.append(f"threads: {format_value('threads', row.get('threads', math.nan))}")
    lines.append(f"{html.escape(metric)}: {format_value(metric, row[metric])}")
    return "<br>".join(lines)


def _settings(text: str) -> str:
    try:
        settings = json.loads(text)
    except ValueError:
        return text
    if not isinstance(settings, dict):
        return text
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)


def _floats(values: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) or not math.isfinite(float(v)) else float(v) for v in values]


def _plain(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    return str(value)
