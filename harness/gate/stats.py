"""Paired significance for per-query scores: randomisation test, bootstrap CI, p-value adjustment.

Every function takes two runs' per-query scores in the same query order (`current`, `baseline`)
and works on the paired differences `current - baseline`. numpy only: scipy serves as the
reference in the tests, never at run time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Adjustment = Literal["holm", "bh", "none"]

#: Entries (rows x queries) per block of resamples: bounds memory at a few tens of MiB.
_BLOCK_ENTRIES = 1 << 21


@dataclass(frozen=True)
class PairedComparison:
    """One metric compared query by query: means, their difference, p-value and CI of the delta."""

    n: int
    mean_current: float
    mean_baseline: float
    delta: float
    p_value: float
    ci_low: float
    ci_high: float


def paired_differences(current: npt.ArrayLike, baseline: npt.ArrayLike) -> FloatArray:
    """`current - baseline` as float64, checking both are 1-D, equally long, non-empty, finite.

    Raises ValueError with a one-line message naming what is wrong.
    """
    cur = np.asarray(current, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    if cur.ndim != 1 or base.ndim != 1:
        raise ValueError(
            f"paired scores must be 1-D, one value per query; got shapes {cur.shape} and "
            f"{base.shape}"
        )
    if cur.shape != base.shape:
        raise ValueError(
            f"paired scores differ in length: current has {cur.size} queries, baseline has "
            f"{base.size}; compare the same queries in the same order"
        )
    if cur.size == 0:
        raise ValueError("paired scores are empty: at least one query is needed")
    for name, values in (("current", cur), ("baseline", base)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"{name} scores must be finite: {bad.size} value(s) are NaN or infinite, "
                f"first at position {bad[0]}"
            )
    diff: FloatArray = cur - base
    return diff


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _check_resamples(resamples: int) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")


def paired_randomisation_test(
    current: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of the mean paired difference under the sign-flip null (Fisher).

    Exact over all 2**n sign patterns when 2**n <= resamples; else Monte Carlo with `seed`,
    p = (count + 1) / (resamples + 1) so it is never 0. All differences zero gives 1.0.
    """
    _check_resamples(resamples)
    diff = paired_differences(current, baseline)
    if not np.any(diff):
        return 1.0
    n = diff.size
    observed = abs(float(diff.sum()))  # the sum ranks patterns exactly as the mean does
    # Theoretically equal sums can differ by rounding; count those within it as ties (>=).
    tolerance = 8.0 * n * float(np.finfo(np.float64).eps) * float(np.abs(diff).sum())
    threshold = observed - tolerance

    if n < 63 and (1 << n) <= resamples:
        shifts = np.arange(n, dtype=np.int64)
        step = max(1, _BLOCK_ENTRIES // n)
        count = 0
        for start in range(0, 1 << n, step):
            patterns = np.arange(start, min(start + step, 1 << n), dtype=np.int64)
            bits = (patterns[:, None] >> shifts) & 1
            signs = 1.0 - 2.0 * bits.astype(np.float64)  # pattern 0 is the observed one
            count += int(np.count_nonzero(np.abs(signs @ diff) >= threshold))
        return count / (1 << n)

    rng = np.random.default_rng(seed)
    total = float(diff.sum())
    width = (n + 7) // 8
    rows = max(1, _BLOCK_ENTRIES // n)
    count = 0
    for start in range(0, resamples, rows):
        size = min(rows, resamples - start)
        packed = rng.integers(0, 256, size=(size, width), dtype=np.uint8)
        flips = np.unpackbits(packed, axis=1, count=n).astype(np.float64)
        # Flipping the signs of a subset S turns sum(d) into sum(d) - 2 * sum(d[S]).
        sums = total - 2.0 * (flips @ diff)
        count += int(np.count_nonzero(np.abs(sums) >= threshold))
    return (count + 1) / (resamples + 1)


def bootstrap_ci(
    current: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean paired difference, resampling queries with `seed`."""
    _check_confidence(confidence)
    _check_resamples(resamples)
    diff = paired_differences(current, baseline)
    if not np.any(diff):
        return 0.0, 0.0
    return bootstrap_mean_ci(diff, confidence=confidence, resamples=resamples, seed=seed)


def bootstrap_mean_ci(
    values: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-query `values`, resampling with `seed`.

    The quantiles interpolate linearly, as `np.quantile` and `scipy.stats.bootstrap` do.
    """
    _check_confidence(confidence)
    _check_resamples(resamples)
    sample = np.asarray(values, dtype=np.float64)
    if sample.size == 0:
        return math.nan, math.nan
    n = sample.size
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ENTRIES // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows):
        size = min(rows, resamples - start)
        picks = rng.integers(0, n, size=(size, n))
        means[start : start + size] = sample[picks].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _pvalues(pvalues: npt.ArrayLike) -> FloatArray:
    values = np.asarray(pvalues, dtype=np.float64)
    finite = values[~np.isnan(values)]
    if np.any((finite < 0.0) | (finite > 1.0)):
        raise ValueError("p-values must lie in [0, 1] (NaN marks a missing one)")
    return values


def holm(pvalues: npt.ArrayLike) -> FloatArray:
    """Holm step-down adjusted p-values (family-wise error), in input order, clipped to 1.

    NaN stays NaN and does not count towards the number of tests.
    """
    # the i-th smallest of m is scaled by m - i, then made non-decreasing from the smallest up
    return _adjusted(pvalues, lambda m: np.arange(m, 0, -1.0), lambda p: np.maximum.accumulate(p))


def benjamini_hochberg(pvalues: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in input order, at most 1.

    NaN stays NaN and does not count towards the number of tests.
    """
    # the i-th smallest of m is scaled by m / i, then made non-decreasing from the largest down
    return _adjusted(
        pvalues,
        lambda m: m / np.arange(1, m + 1, dtype=np.float64),
        lambda p: np.minimum.accumulate(p[::-1])[::-1],
    )


def _adjusted(
    pvalues: npt.ArrayLike,
    factors: Callable[[int], FloatArray],
    monotone: Callable[[FloatArray], FloatArray],
) -> FloatArray:
    """Scale the sorted present p-values by `factors(m)`, make them `monotone`, clip to 1 and
    put them back in input order; NaN stays NaN."""
    values = _pvalues(pvalues)
    out = np.full(values.shape, np.nan)
    flat, result = values.ravel(), out.reshape(-1)
    present = np.flatnonzero(~np.isnan(flat))
    if present.size == 0:
        return out
    order = present[np.argsort(flat[present], kind="stable")]
    result[order] = np.minimum(monotone(flat[order] * factors(present.size)), 1.0)
    return out


def adjust(pvalues: npt.ArrayLike, method: Adjustment) -> FloatArray:
    """Adjust p-values for multiple comparisons: "holm", "bh" (Benjamini-Hochberg) or "none"."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _pvalues(pvalues).copy()
    raise ValueError(f"unknown adjustment {method!r}; use 'holm', 'bh' or 'none'")


def compare_paired(
    current: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two runs' per-query scores: means, delta, randomisation p-value and bootstrap CI.

    Raises ValueError unless both are 1-D, of equal non-zero length and finite.
    """
    diff = paired_differences(current, baseline)
    cur = np.asarray(current, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    p_value = paired_randomisation_test(cur, base, resamples=resamples, seed=seed)
    low, high = bootstrap_ci(cur, base, confidence=confidence, resamples=resamples, seed=seed)
    return PairedComparison(
        n=int(diff.size),
        mean_current=float(cur.mean()),
        mean_baseline=float(base.mean()),
        delta=float(diff.mean()),
        p_value=p_value,
        ci_low=low,
        ci_high=high,
    )
