"""How well a small tier ranks systems like the full collection: the systems both results
folders ran, the tier's order of them against the full set's (Kendall's tau-b, Spearman's rho),
the mean absolute error of the metric, and percentile bootstrap intervals of the three from
resampling the tier's queries (each resample recomputes every system's mean on the same drawn
queries: ONEBench's sample-level view of a benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import HarnessError
from harness.results import Views


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class TierValidation:
    metric: str
    systems: pd.DataFrame
    """One row per system: full and tier means, their difference, and both ranks."""
    kendall_tau: Interval
    spearman_rho: Interval
    mean_abs_error: Interval
    max_abs_error: float
    full_queries: int
    tier_queries: int
    full_wall_s: float
    tier_wall_s: float
    resamples: int


def system_key(cell: str) -> str:
    """A cell's key without its dataset: the same system on the full set and on the tier."""
    return cell.split("/", 1)[1] if "/" in cell else cell


def validate_tier(
    full: Views, tier: Views, metric: str, *, resamples: int = 1000, seed: int = 0
) -> TierValidation:
    full_rows, tier_rows = _ok(full.rows, "full"), _ok(tier.rows, "tier")
    for rows, side in ((full_rows, "full"), (tier_rows, "tier")):
        if metric not in rows:
            raise HarnessError(f"the {side} results have no '{metric}'; choose a metric both ran")
        if rows["dataset_fingerprint"].nunique() != 1:
            raise HarnessError(
                f"the {side} results hold {rows['dataset'].nunique()} datasets; give folders "
                "of one collection each (the full set and its tier)"
            )
    shared = sorted(set(full_rows.index) & set(tier_rows.index))
    if len(shared) < 3:
        raise HarnessError(
            f"only {len(shared)} systems ran on both the full set and the tier; the rank "
            "agreement needs at least 3 (run the same suite on both)"
        )
    full_means = full_rows.loc[shared, metric].to_numpy(float)
    scores = _per_query(tier, tier_rows.loc[shared, "cell_id"], metric)
    tier_means = scores.mean(axis=1)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, scores.shape[1], size=(resamples, scores.shape[1]))
    taus, rhos, maes = [], [], []
    for picks in draws:
        means = scores[:, picks].mean(axis=1)
        tau, rho, mae = _agreement(full_means, means)
        taus.append(tau)
        rhos.append(rho)
        maes.append(mae)
    tau, rho, mae = _agreement(full_means, tier_means)
    systems = pd.DataFrame(
        {
            "system": shared,
            f"full {metric}": full_means,
            f"tier {metric}": tier_means,
            "difference": tier_means - full_means,
            "full rank": pd.Series(full_means).rank(ascending=False, method="min").astype(int),
            "tier rank": pd.Series(tier_means).rank(ascending=False, method="min").astype(int),
        }
    ).sort_values(f"full {metric}", ascending=False, kind="stable")
    return TierValidation(
        metric=metric,
        systems=systems.reset_index(drop=True),
        kendall_tau=_interval(tau, taus),
        spearman_rho=_interval(rho, rhos),
        mean_abs_error=_interval(mae, maes),
        max_abs_error=float(np.max(np.abs(tier_means - full_means))),
        full_queries=int(full_rows["n_queries"].iloc[0]),
        tier_queries=scores.shape[1],
        full_wall_s=_wall_s(full),
        tier_wall_s=_wall_s(tier),
        resamples=resamples,
    )


def _ok(rows: pd.DataFrame, side: str) -> pd.DataFrame:
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        raise HarnessError(f"the {side} results have no finished cell")
    keyed = ok.assign(system=ok["cell"].map(system_key)).drop_duplicates("system", keep="last")
    return keyed.set_index("system")


def _per_query(views: Views, cell_ids: pd.Series, metric: str) -> np.ndarray:
    """Systems x queries of the metric on the tier, in `cell_ids` order."""
    values = views.per_query[views.per_query["measure"] == metric]
    table = values.pivot_table(index="cell_id", columns="query_id", values="value")
    missing = set(cell_ids) - set(table.index)
    if missing:
        raise HarnessError(
            f"the tier results lack per-query {metric} for {len(missing)} cells; "
            "rerun the tier's suite"
        )
    return table.loc[list(cell_ids)].to_numpy(float)


def _agreement(full: np.ndarray, tier: np.ndarray) -> tuple[float, float, float]:
    tau = stats.kendalltau(full, tier).statistic  # tau-b: ties in either order count as ties
    rho = stats.spearmanr(full, tier).statistic
    return float(tau), float(rho), float(np.mean(np.abs(tier - full)))


def _interval(value: float, draws: list[float]) -> Interval:
    finite = [d for d in draws if not math.isnan(d)]
    if not finite:
        return Interval(value, math.nan, math.nan)
    low, high = np.quantile(finite, [0.025, 0.975])
    return Interval(value, float(low), float(high))


def _wall_s(views: Views) -> float:
    """The run's wall time as its manifest records it (NaN for runs before harness did)."""
    value = views.manifest.get("wall_s")
    return float(value) if isinstance(value, int | float) else math.nan
