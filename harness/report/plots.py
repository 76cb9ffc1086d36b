"""Quality against cost, one PNG per dataset and cost axis (matplotlib Agg: no display needed).

Each embedder x index is a curve through its search settings, with error bars for the timing's
95% interval. The dashed line joins the Pareto frontier: the configurations no other beats
beyond the noise (as good in quality and better in cost beyond both intervals, or better in
quality and as good in cost within them).

Axes: `qps` (batched queries per second; end-to-end where the dataset's embedders have
different query sides, else the search alone), `search_qps` (the search alone, drawn only
where `qps` is end-to-end: the query side can hide what the indexes cost) and `bytes` (per
document, as the index stores it; for a quantised embedder searched through an index that
stores wider values, the size of its codes, labelled with the index kind).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.figures import format_value, spread_columns
from harness.report.leaderboard import codes_in_wider_index, cost_stage, search_label


@dataclass(frozen=True)
class Axis:
    label: str
    more_is_better: bool
    slug: str


AXES = {
    "qps": Axis("queries per second (batched)", True, "qps"),
    "search_qps": Axis("queries per second (batched)", True, "search-qps"),
    "bytes": Axis("bytes per document", False, "bytes"),
}


def pareto_frontier(
    points: pd.DataFrame,
    metric: str,
    cost: str,
    more_is_better: bool,
    low: str | None = None,
    high: str | None = None,
) -> pd.DataFrame:
    """Rows no other row beats beyond the noise, best cost first. Q beats P when Q's quality is
    at least P's and Q's cost interval lies wholly on the better side of P's, or Q's quality is
    higher and its cost interval is not wholly on the worse side. Without `low`/`high` columns
    the intervals are the points themselves: plain Pareto dominance."""
    value = points[cost].to_numpy(float)
    lows = points[low].fillna(points[cost]).to_numpy(float) if low else value
    highs = points[high].fillna(points[cost]).to_numpy(float) if high else value
    if not more_is_better:  # lower cost is better: mirror, so that higher is better below
        lows, highs = -highs, -lows
    quality = points[metric].to_numpy(float)
    beaten = np.zeros(len(points), dtype=bool)
    for p in range(len(points)):
        clearly_cheaper = lows > highs[p]
        not_dearer = highs >= lows[p]
        beaten[p] = bool(
            np.any((quality >= quality[p]) & clearly_cheaper)
            | np.any((quality > quality[p]) & not_dearer)
        )
    frontier = points[~beaten]
    return frontier.sort_values([cost, metric], ascending=[not more_is_better, False])


def quality_vs_cost(runs: pd.DataFrame, metric: str, axis: str, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = AXES[axis]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset, rows in runs[runs["status"] == "ok"].groupby("dataset", sort=True):
        if axis == "search_qps" and cost_stage(rows) == "search":
            continue  # the qps plot shows the search already
        points, label = axis_points(rows, axis, spec)
        points = points[points[metric].notna() & points["x"].notna()]
        if points.empty:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        markers = "osD^vP*Xhd<>"
        indexes = sorted(points["index"].unique())
        notes: list[tuple[float, float, str]] = []
        for e, (embedder, by_embedder) in enumerate(points.groupby("embedder", sort=True)):
            for index, line in by_embedder.groupby("index", sort=True):
                line = line.sort_values("x")
                errors = np.vstack(
                    [
                        (line["x"] - line["x_low"]).clip(lower=0).fillna(0),
                        (line["x_high"] - line["x"]).clip(lower=0).fillna(0),
                    ]
                )
                ax.errorbar(
                    line["x"],
                    line[metric],
                    xerr=errors,
                    color=colours[e % len(colours)],
                    marker=markers[indexes.index(index) % len(markers)],
                    capsize=2,
                    label=f"{embedder!s} · {str(index) or 'lexical'}",
                )
                notes += [
                    (p["x"], p[metric], note)
                    for _, p in line.iterrows()
                    if (note := _point_note(p, axis))
                ]
        frontier = pareto_frontier(points, metric, "x", spec.more_is_better, "x_low", "x_high")
        ax.plot(
            frontier["x"],
            frontier[metric],
            "k--",
            linewidth=0.8,
            alpha=0.6,
            label="Pareto frontier (beyond the noise)",
        )
        if (points["x"] > 0).all() and all(math.isfinite(v) for v in points["x"]):
            ax.set_xscale("log")
        _annotate_apart(fig, ax, notes)
        path = out_dir / f"{dataset}-{slug(metric)}-vs-{spec.slug}.png"
        written.append(_save(fig, ax, label, metric, f"{dataset}: {metric} against {label}", path))
    return written


def axis_points(rows: pd.DataFrame, axis: str, spec: Axis) -> tuple[pd.DataFrame, str]:
    """The rows with the axis's value (x) and interval (x_low, x_high), and the axis label."""
    if axis in ("qps", "search_qps"):
        stage = cost_stage(rows) if axis == "qps" else "search"
        figure = "e2e_qps" if stage == "e2e" else "qps"
        low, high, _ = spread_columns(figure)
        x = rows[figure]
        bounds = (rows.get(low, x), rows.get(high, x))
        what = "end-to-end" if stage == "e2e" else "search only"
        return rows.assign(x=x, x_low=bounds[0], x_high=bounds[1]), f"{spec.label}, {what}"
    size = rows["bytes_per_vector"].where(~codes_in_wider_index(rows), rows.get("vector_bytes"))
    label = f"{spec.label} (a quantised embedder's codes where its index stores wider values)"
    return rows.assign(x=size, x_low=size, x_high=size), label


OFFSETS = ((3, 3), (3, -9), (-3, 3), (3, 10), (-3, -9), (3, -16))
"""Where a point's label may go, in points from the point, tried in turn."""


def _annotate_apart(fig: Any, ax: Any, notes: list[tuple[float, float, str]]) -> None:
    """Label points where no label overlaps another or leaves the axes: each label tries
    OFFSETS in turn and is left out (the legend and the site have every point's settings)
    when none is clear. Identical labels at one place are written once."""
    ax.autoscale_view()  # limits are applied lazily: positions need them now
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    placed: list[Any] = []
    seen: set[tuple[str, float, float]] = set()
    for x, y, text in notes:
        if (text, round(x, 9), round(y, 9)) in seen:
            continue
        seen.add((text, round(x, 9), round(y, 9)))
        for dx, dy in OFFSETS:
            label = ax.annotate(
                text,
                (x, y),
                fontsize=6,
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx >= 0 else "right",
            )
            box = label.get_window_extent(renderer)
            within = inside.x0 <= box.x0 and box.x1 <= inside.x1 and box.y1 <= inside.y1
            if within and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()


def _point_note(point: pd.Series, axis: str) -> str:
    setting = search_label(point["search_params"]) if point["search_params"] else ""
    if axis != "bytes":
        return "" if setting == "-" else setting
    if point["x"] != point["bytes_per_vector"]:  # plotted at its codes' size
        stored = format_value("bytes_per_vector", point["bytes_per_vector"])
        return f"codes; {point.get('index_kind') or 'the index'} stores {stored} B"
    return ""


def quality_vs_dimension(runs: pd.DataFrame, metric: str, out_dir: Path) -> list[Path]:
    """For elastic variants: one curve per index configuration across the dimensions tried."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    ok = runs[
        (runs["status"] == "ok")
        & runs[metric].notna()
        & runs.get("dim", pd.Series(dtype=float)).notna()
    ]
    # quantize: the base's dimensions, fewer bits; muvera: another encoding of the same model's
    # tokens, not its vectors cut to fewer dimensions
    ok = ok[~ok["embedder_kind"].isin(["quantize", "muvera"])]
    for dataset, rows in ok.groupby("dataset", sort=True):
        setting = rows["index"] + " " + rows["search_params"].map(search_label)
        several_models = rows["model"].nunique() > 1
        configs = rows.assign(config=(rows["model"] + " " + setting) if several_models else setting)
        lines = [(c, p) for c, p in configs.groupby("config", sort=True) if p["dim"].nunique() > 1]
        if not lines:  # dimensions differ only between models: nothing to draw a line through
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
        for config, points in lines:
            points = points.sort_values("dim")
            exact = (points["index_kind"] == "faiss-flat").all()
            ax.plot(
                points["dim"],
                points[metric],
                marker="o",
                linewidth=2.2 if exact else 0.9,
                label=str(config).replace(" -", ""),
            )
        ax.set_xscale("log", base=2)
        dims = sorted(int(d) for d in rows["dim"].unique())
        ax.set_xticks(dims, [str(d) for d in dims])  # ticks at the dimensions run, 384 too
        ax.minorticks_off()
        path = out_dir / f"{dataset}-{slug(metric)}-vs-dim.png"
        title = f"{dataset}: {metric} against dimension"
        written.append(_save(fig, ax, "dimensions kept", metric, title, path))
    return written


def quality_vs_qps(runs: pd.DataFrame, metric: str, out_dir: Path) -> list[Path]:
    return quality_vs_cost(runs, metric, "qps", out_dir)


def _save(fig: Any, ax: Any, xlabel: str, metric: str, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.savefig(path, bbox_inches="tight")  # the legend beside the axes, never over the data
    plt.close(fig)
    return path


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()
