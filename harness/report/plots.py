"""Quality against cost, one PNG per dataset (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness.report.leaderboard import search_label


def quality_vs_qps(runs: pd.DataFrame, metric: str, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = runs[(runs["status"] == "ok") & runs[metric].notna()]
    for dataset, rows in ok.groupby("dataset", sort=True):
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        markers = "osD^vP*Xh"
        indexes = sorted(rows["index"].unique())
        # one curve per embedder x index: its search settings trace a quality-speed trade-off
        for e, (embedder, by_embedder) in enumerate(rows.groupby("embedder", sort=True)):
            for index, points in by_embedder.groupby("index", sort=True):
                points = points.sort_values("qps")
                ax.plot(
                    points["qps"],
                    points[metric],
                    color=colours[e % len(colours)],
                    marker=markers[indexes.index(index) % len(markers)],
                    label=f"{embedder!s} · {str(index) or 'lexical'}",
                )
                for _, p in points.iterrows():
                    if p["search_params"]:
                        ax.annotate(
                            search_label(p["search_params"]),
                            (p["qps"], p[metric]),
                            fontsize=6,
                            xytext=(3, 3),
                            textcoords="offset points",
                        )
        if all(math.isfinite(q) and q > 0 for q in rows["qps"]):
            ax.set_xscale("log")
        ax.set_xlabel("queries per second (batched)")
        ax.set_ylabel(metric)
        ax.set_title(f"{dataset}: {metric} against QPS")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{dataset}-{_slug(metric)}-vs-qps.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()
