"""Per-query metrics broken down by a property of the query: its length, the length of the
documents judged relevant to it, or the user's group for it.

Lengths are whitespace-separated words, model-independent, as stored with the results
(`<folder>/queries/`). Length bins are quantiles of the dataset's judged queries, so every
system of a dataset is cut at the same edges; each bin's mean carries a percentile bootstrap
interval over its queries. Against a baseline system, each bin shows the mean of the paired
per-query differences instead, with the bootstrap interval of that mean (paired: the same
queries resampled for both systems, so a difference can be told apart from the bin's spread).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.gate.stats import bootstrap_mean_ci
from harness.report.fair import system_labels
from harness.report.plots import slug


@dataclass(frozen=True)
class SliceKind:
    column: str
    """The query-facts column cut into bins."""
    title: str
    unit: str


SLICES = {
    "query_length": SliceKind("query_words", "query length", "words"),
    "doc_length": SliceKind("judged_doc_words", "judged document length", "words"),
    "group": SliceKind("group", "query group", ""),
}
TABLE_COLUMNS = ["dataset", "system", "slice", "bin", "bin_order", "queries", "mean", "low", "high"]


def slice_table(
    rows: pd.DataFrame,
    per_query: pd.DataFrame,
    facts: pd.DataFrame,
    by: str,
    metric: str,
    *,
    bins: int = 4,
    against: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """TABLE_COLUMNS: one row per dataset x system x bin, the metric's mean over the bin's
    queries with its 95% bootstrap interval. `rows` are the ok cells to slice. With `against`
    (a system's label), each other system's row holds the mean paired difference from that
    system over the bin's queries ('system minus against'), with its interval."""
    out = []
    for dataset, binned, scores in _binned_scores(rows, per_query, facts, by, metric, bins):
        if against is not None:
            scores = _differences(scores, against, dataset)
        for system, values in scores.items():
            joined = binned.join(values.rename("value"), how="inner")
            for order, group in joined.groupby("order", sort=True):
                sample = group["value"].to_numpy(float)
                low, high = bootstrap_mean_ci(sample, resamples=resamples, seed=seed)
                label = str(group["label"].iloc[0])
                out.append(
                    (dataset, system, by, label, order, len(sample), sample.mean(), low, high)
                )
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


def _binned_scores(
    rows: pd.DataFrame,
    per_query: pd.DataFrame,
    facts: pd.DataFrame,
    by: str,
    metric: str,
    bins: int,
) -> Iterator[tuple[str, pd.DataFrame, dict[str, pd.Series]]]:
    """Per dataset: each query's bin, and each system's per-query scores (by query id)."""
    kind = SLICES[by]
    values = per_query[per_query["measure"] == metric]
    for fingerprint, cells in rows.groupby("dataset_fingerprint", sort=False):
        dataset = str(cells["dataset"].iloc[0])
        dataset_facts = facts[facts["dataset_fingerprint"] == fingerprint]
        if dataset_facts.empty:
            raise HarnessError(
                f"dataset '{dataset}': no query facts stored (results written before harness "
                "kept them); rerun its suite with --force to record them"
            )
        binned = _bins(dataset_facts.set_index("query_id")[kind.column], kind, bins)
        scores: dict[str, pd.Series] = {}
        for cell_id, system in zip(cells["cell_id"], system_labels(cells), strict=True):
            # cells one label covers (insertion orders, thread counts): the first, as `wide` shows
            scores.setdefault(
                system, values[values["cell_id"] == cell_id].set_index("query_id")["value"]
            )
        yield dataset, binned, scores


def _differences(scores: dict[str, pd.Series], against: str, dataset: str) -> dict[str, pd.Series]:
    """Each other system's per-query difference from `against`, on the queries both scored."""
    if against not in scores:
        raise HarnessError(
            f"--against '{against}': no such system on dataset '{dataset}'; systems: "
            f"{', '.join(repr(s) for s in scores)}"
        )
    base = scores[against]
    return {
        f"{system} minus {against}": values.sub(base).dropna()
        for system, values in scores.items()
        if system != against
    }


def file_suffix(against: str | None) -> str:
    """What a table or plot against a baseline adds to its file name."""
    return "" if against is None else f"_vs_{slug(against)}"


def _bins(facts: pd.Series, kind: SliceKind, bins: int) -> pd.DataFrame:
    """Each query's bin (`order`, `label`), by query id; queries without a value (no relevant
    document, no group) are left out."""
    present = facts[facts.notna() & (facts != "")]
    if kind.column == "group":
        names = sorted(present.astype(str).unique())
        order = present.astype(str).map(names.index)
        return pd.DataFrame({"order": order, "label": present.astype(str)})
    numbers = present.astype(float)
    if numbers.empty:
        return pd.DataFrame({"order": [], "label": []})
    edges = np.unique(np.quantile(numbers, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    last = len(edges) - 2
    positions = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, last)
    whole = all(float(edge).is_integer() for edge in edges)
    labels = [_range_label(edges[i], edges[i + 1], i == last, whole) for i in range(last + 1)]
    return pd.DataFrame(
        {"order": positions, "label": [labels[i] for i in positions]}, index=numbers.index
    )


def _range_label(low: float, high: float, last: bool, whole: bool) -> str:
    """Whole-number edges: '3-5' for [3, 6), the last bin closed ('6-20'); else '85.3-140.2'
    for [85.3, 140.2) (the last closed)."""
    if whole:
        top = int(high) if last else int(high) - 1
        return f"{int(low)}-{top}" if top > int(low) else f"{int(low)}"
    return f"{low:.1f}-{high:.1f}"


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """Systems down, bins across: 'mean [low, high]' with the bin's query count in its header."""
    cells = table.assign(
        text=[
            f"{m:.4f} [{lo:.3f}, {hi:.3f}]" if not math.isnan(lo) else f"{m:.4f}"
            for m, lo, hi in zip(table["mean"], table["low"], table["high"], strict=True)
        ],
        header=[f"{b} (n={n})" for b, n in zip(table["bin"], table["queries"], strict=True)],
    )
    order = cells.drop_duplicates("header").sort_values("bin_order")["header"].tolist()
    pivot = cells.pivot_table(index="system", columns="header", values="text", aggfunc="first")
    overall = table.groupby("system")["mean"].mean().sort_values(ascending=False)
    return pivot.reindex(index=overall.index, columns=order)


def plot(
    table: pd.DataFrame, metric: str, out_dir: Path, most: int = 12, against: str | None = None
) -> list[Path]:
    """One PNG per dataset: the metric by bin, a line with 95% intervals per system (the `most`
    best systems over all bins, so the figure stays readable; the table has them all); with
    `against`, the table holds differences from that system, drawn about a zero line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for dataset, frame in table.groupby("dataset", sort=False):
        by = str(frame["slice"].iloc[0])
        kind = SLICES[by]
        best = frame.groupby("system")["mean"].mean().nlargest(most).index
        bins = frame.drop_duplicates("bin_order").sort_values("bin_order")["bin"].tolist()
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for system in best:
            line = frame[frame["system"] == system].sort_values("bin_order")
            x = line["bin_order"].to_numpy(float)
            y = line["mean"].to_numpy(float)
            errors = np.vstack([y - line["low"].to_numpy(float), line["high"].to_numpy(float) - y])
            ax.errorbar(x, y, yerr=np.nan_to_num(errors), marker="o", capsize=3, label=system)
        ax.set_xticks(range(len(bins)), bins, rotation=20 if len(bins) > 6 else 0)
        unit = f" ({kind.unit})" if kind.unit else ""
        ax.set_xlabel(f"{kind.title}{unit}")
        if against is None:
            ax.set_ylabel(metric)
            ax.set_title(f"{dataset}: {metric} by {kind.title} (95% bootstrap intervals)")
        else:
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_ylabel(f"{metric} minus {against}'s")
            ax.set_title(f"{dataset}: {metric} against {against} (95% paired intervals)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"slices_{slug(str(dataset))}_{by}{file_suffix(against)}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
