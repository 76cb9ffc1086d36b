"""How a leaderboard of embedders reorders when exact search is swapped for an ANN index.

For each dataset, embedders are ranked by a metric under exact search (`faiss-flat`), then
under each approximate configuration (index + search settings) that every embedder ran. A
configuration that moves models by places changes the conclusion a benchmark draws.
"""

from __future__ import annotations

import pandas as pd

from harness.report.leaderboard import search_label

EXACT = "faiss-flat"


def rank_shift(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per dataset x embedder x approximate configuration: rank under exact search,
    rank under the configuration, and the shift (positive: moved down)."""
    ok = runs[(runs["status"] == "ok") & (runs["index"] != "") & runs[metric].notna()].copy()
    ok["config"] = ok["index"] + " " + ok["search_params"].map(search_label)
    rows = []
    for dataset, by_dataset in ok.groupby("dataset", sort=True):
        exact = by_dataset[by_dataset["index_kind"] == EXACT].drop_duplicates("embedder")
        if exact["embedder"].nunique() < 2:
            continue
        exact_rank = _ranks(exact.set_index("embedder")[metric])
        for config, by_config in by_dataset[by_dataset["index_kind"] != EXACT].groupby("config"):
            scores = by_config.drop_duplicates("embedder").set_index("embedder")[metric]
            if set(scores.index) != set(exact_rank.index):
                continue  # not every embedder ran this configuration: no fair ranking
            ranks = _ranks(scores)
            for embedder in exact_rank.index:
                rows.append(
                    {
                        "dataset": dataset,
                        "config": config,
                        "embedder": embedder,
                        f"exact {metric}": float(exact.set_index("embedder").loc[embedder, metric]),
                        f"ann {metric}": float(scores[embedder]),
                        "exact rank": int(exact_rank[embedder]),
                        "ann rank": int(ranks[embedder]),
                        "shift": int(ranks[embedder] - exact_rank[embedder]),
                    }
                )
    return pd.DataFrame(rows)


def _ranks(scores: pd.Series) -> pd.Series:
    """1 = best; ties share the better rank."""
    return scores.rank(ascending=False, method="min").astype(int)
