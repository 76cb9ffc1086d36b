"""Which systems of a dataset the data cannot tell apart: each against the best, and each
against the next in rank, by the gate's paired randomisation test over the queries both
scored, p-values Holm-adjusted across the tests of the dataset (as `harness compare` does)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.gate.stats import adjust, paired_randomisation_test
from harness.report.fair import distinct_systems

ALPHA = 0.05


@dataclass(frozen=True)
class Standing:
    """One system on one dataset, best first."""

    rank: int
    system: str
    mean: float
    delta_to_best: float
    p_vs_best: float
    """Holm-adjusted; NaN for the best itself."""
    tied_with_best: bool
    p_vs_next: float
    """Holm-adjusted p of this system against the next in rank; NaN for the last."""
    separable_from_next: bool
    queries: int


def standings(
    rows: pd.DataFrame, per_query: pd.DataFrame, metric: str, resamples: int = 10_000
) -> dict[str, list[Standing]]:
    """Per dataset, its systems best first with their tests; systems without per-query
    values are left out (they cannot be tested)."""
    ok = rows[(rows["status"] == "ok") & rows[metric].notna()]
    ok = ok.drop_duplicates("cell_id", keep="last").assign(system=distinct_systems(ok))
    values = per_query[per_query["measure"] == metric]
    out: dict[str, list[Standing]] = {}
    for dataset, cells in ok.groupby("dataset", sort=True):
        scores = _per_query(cells, values)
        if scores.shape[1] < 1:
            continue
        order = list(scores.mean().sort_values(ascending=False, kind="stable").index)
        best = order[0]
        vs_best = [_test(scores, s, best, resamples) for s in order[1:]]
        vs_next = [_test(scores, a, b, resamples) for a, b in itertools.pairwise(order)]
        p_best = _adjusted([p for p, _ in vs_best])
        p_next = _adjusted([p for p, _ in vs_next])
        standing = []
        for i, system in enumerate(order):
            p_b = math.nan if i == 0 else p_best[i - 1]
            p_n = p_next[i] if i < len(p_next) else math.nan
            mean = float(scores[system].mean())
            standing.append(
                Standing(
                    rank=i + 1,
                    system=str(system),
                    mean=mean,
                    delta_to_best=mean - float(scores[best].mean()),
                    p_vs_best=p_b,
                    tied_with_best=i == 0 or not p_b < ALPHA,
                    p_vs_next=p_n,
                    separable_from_next=bool(p_n < ALPHA),
                    queries=int(scores[system].notna().sum()),
                )
            )
        out[str(dataset)] = standing
    return out


def _per_query(cells: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """queries x systems of the metric (replicates such as insertion orders averaged)."""
    keys = ["run_id", "cell_id"] if "run_id" in values else ["cell_id"]
    merged = values.merge(cells[[*keys, "system"]], on=keys, how="inner")
    merged["value"] = pd.to_numeric(merged["value"], errors="coerce")
    return merged.pivot_table(index="query_id", columns="system", values="value", aggfunc="mean")


def _test(scores: pd.DataFrame, a: str, b: str, resamples: int) -> tuple[float, int]:
    """p of a against b over the queries both scored (1.0 when nothing differs)."""
    both = scores[[a, b]].dropna()
    x, y = both[a].to_numpy(float), both[b].to_numpy(float)
    if len(both) == 0 or np.array_equal(x, y):
        return 1.0, len(both)
    return paired_randomisation_test(x, y, resamples=resamples), len(both)


def _adjusted(pvalues: list[float]) -> list[float]:
    return [float(p) for p in adjust(np.asarray(pvalues, float), "holm")] if pvalues else []
