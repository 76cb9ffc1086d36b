"""Spread of results across insertion orders: the same index built from shuffled documents."""

from __future__ import annotations

import pandas as pd

from harness.report.leaderboard import search_label


def insertion_spread(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per dataset x embedder x index x search setting built under several insertion seeds:
    how many orders, and the mean, standard deviation, min and max of the metric and of ANN
    recall@10 across them."""
    if "insertion_seed" not in runs:
        return pd.DataFrame()
    seeded = runs[(runs["status"] == "ok") & runs["insertion_seed"].notna()].copy()
    if seeded.empty:
        return pd.DataFrame()
    seeded["search"] = seeded["search_params"].map(search_label)
    rows = []
    for (dataset, embedder, index, search), runs_of in seeded.groupby(
        ["dataset", "embedder", "index", "search"], sort=True
    ):
        row = {"dataset": dataset, "embedder": embedder, "index": index, "search": search}
        row["orders"] = len(runs_of)
        for column in (metric, "ann_recall@10"):
            values = runs_of[column].astype(float)
            row |= {
                f"{column} mean": values.mean(),
                f"{column} sd": values.std(ddof=1) if len(values) > 1 else 0.0,
                f"{column} min": values.min(),
                f"{column} max": values.max(),
            }
        rows.append(row)
    return pd.DataFrame(rows)
