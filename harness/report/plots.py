"""Quality against cost, one PNG per dataset and cost axis (matplotlib Agg: no display needed).

Each embedder x index is a curve through its search settings; the dashed line is the Pareto
frontier: the configurations no other beats on both quality and the cost axis.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.leaderboard import search_label

# cost column -> (axis label, whether more is better, file name part)
AXES = {
    "qps": ("queries per second (batched)", True, "qps"),
    "bytes_per_vector": ("index bytes per vector", False, "bytes"),
}


def pareto_frontier(
    points: pd.DataFrame, metric: str, cost: str, more_is_better: bool
) -> pd.DataFrame:
    """Rows not dominated: no other row has a better metric and a cost at least as good."""
    best_first = points.sort_values([cost, metric], ascending=[not more_is_better, False])
    frontier, best = [], -math.inf
    for _, row in best_first.iterrows():
        if row[metric] > best:
            frontier.append(row)
            best = row[metric]
    return pd.DataFrame(frontier)


def quality_vs_cost(runs: pd.DataFrame, metric: str, cost: str, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label, more_is_better, slug = AXES[cost]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = runs[(runs["status"] == "ok") & runs[metric].notna() & runs[cost].notna()]
    for dataset, rows in ok.groupby("dataset", sort=True):
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        markers = "osD^vP*Xhd<>"
        indexes = sorted(rows["index"].unique())
        for e, (embedder, by_embedder) in enumerate(rows.groupby("embedder", sort=True)):
            for index, points in by_embedder.groupby("index", sort=True):
                points = points.sort_values(cost)
                ax.plot(
                    points[cost],
                    points[metric],
                    color=colours[e % len(colours)],
                    marker=markers[indexes.index(index) % len(markers)],
                    label=f"{embedder!s} · {str(index) or 'lexical'}",
                )
                for _, p in points.iterrows():
                    if p["search_params"]:
                        ax.annotate(
                            search_label(p["search_params"]),
                            (p[cost], p[metric]),
                            fontsize=6,
                            xytext=(3, 3),
                            textcoords="offset points",
                        )
        frontier = pareto_frontier(rows, metric, cost, more_is_better)
        ax.plot(
            frontier[cost],
            frontier[metric],
            "k--",
            linewidth=0.8,
            alpha=0.6,
            label="Pareto frontier",
        )
        if (rows[cost] > 0).all() and all(math.isfinite(v) for v in rows[cost]):
            ax.set_xscale("log")
        path = out_dir / f"{dataset}-{_slug(metric)}-vs-{slug}.png"
        written.append(_save(fig, ax, label, metric, f"{dataset}: {metric} against {label}", path))
    return written


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
    ok = ok[ok["embedder_kind"] != "quantize"]  # same dimensions as their base, fewer bits
    for dataset, rows in ok.groupby("dataset", sort=True):
        if rows["dim"].nunique() < 2:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
        setting = rows["index"] + " " + rows["search_params"].map(search_label)
        several_models = rows["model"].nunique() > 1
        configs = rows.assign(config=(rows["model"] + " " + setting) if several_models else setting)
        for config, points in configs.groupby("config", sort=True):
            if points["dim"].nunique() < 2:
                continue
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
        path = out_dir / f"{dataset}-{_slug(metric)}-vs-dim.png"
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
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()
