"""The spread of repeated timings: a cost figure as an estimate with its bootstrap interval, and
the ratio of a figure between two runs with its interval, which is what a cost gate tests.

A timed figure is a statistic of one or more series of timed calls: batch-1 latencies
(`search.single`, `query.single`, and `e2e.single`, which pairs the two), batched calls over
every query (`search.batch`, `query.batch`), index builds (`build`) and the machine's speed
probe (`probe`).

Intervals (95%): a latency percentile gets the distribution-free interval of a quantile from
order statistics (as scipy.stats.quantile_test gives it), exact and cheap for tens of
thousands of calls. Other figures, and the ratio of a figure between two runs, get a bootstrap
interval: each series resampled with replacement, percentiles of the statistic over the
resamples (scipy.stats.bootstrap's percentile method). When a series was timed in several
rounds (`harness run --repeat N`), every interval bootstraps whole rounds first and calls
within them second, so drift between rounds widens it.

numpy only: scipy serves as the reference in the tests.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.figures import spread_columns

FloatArray = npt.NDArray[np.float64]
Statistic = Callable[[Sequence[FloatArray], int], FloatArray]
"""(resampled series, each (resamples, calls); number of queries) -> (resamples,)."""

CONFIDENCE = 0.95
RESAMPLES = 1000
_MS = 1e3  # latency figures are in milliseconds, timed calls in seconds
_BLOCK_ENTRIES = 1 << 21  # resampled values held at once: a few tens of MiB


@dataclass(frozen=True)
class Series:
    """Timed calls of one kind, in the order they ran, warm-up excluded."""

    seconds: FloatArray
    rounds: npt.NDArray[np.int64]
    """The round (`--repeat`) each call belongs to."""
    queries: npt.NDArray[np.object_] | None = None
    """The query of each batch-1 call (an id or a position); None for batched calls."""

    @classmethod
    def of(
        cls,
        seconds: npt.ArrayLike,
        rounds: npt.ArrayLike | None = None,
        queries: npt.ArrayLike | None = None,
    ) -> Series:
        values = np.asarray(seconds, dtype=np.float64).reshape(-1)
        labels = np.zeros(len(values), np.int64) if rounds is None else np.asarray(rounds)
        asked = None if queries is None else np.asarray(queries, dtype=object).reshape(-1)
        return cls(values, labels.astype(np.int64).reshape(-1), asked)

    @classmethod
    def concat(cls, parts: Sequence[Series]) -> Series:
        """The calls of `parts` one after another (query labels dropped)."""
        return cls.of(
            np.concatenate([p.seconds for p in parts]), np.concatenate([p.rounds for p in parts])
        )

    def __len__(self) -> int:
        return len(self.seconds)

    def by_round(self) -> list[FloatArray]:
        return [self.seconds[self.rounds == r] for r in np.unique(self.rounds)]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap interval and the number of calls behind it."""

    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class TimedFigure:
    name: str
    series: tuple[str, ...]
    statistic: Statistic
    quantile: float | None = None
    """For a latency percentile: which quantile of its one series (0.95 for p95), in ms."""


def _percentile_ms(p: float) -> Statistic:
    def statistic(xs: Sequence[FloatArray], n: int) -> FloatArray:
        return np.asarray(np.percentile(xs[0], p, axis=-1) * _MS, dtype=np.float64)

    return statistic


def _throughput(xs: Sequence[FloatArray], n: int) -> FloatArray:
    """Queries per second from batched calls over all `n` queries: n / median call time."""
    return np.asarray(n / np.median(xs[0], axis=-1), dtype=np.float64)


def _pipeline_throughput(xs: Sequence[FloatArray], n: int) -> FloatArray:
    """Queries per second through query side then search: n / (median + median)."""
    return np.asarray(n / (np.median(xs[0], axis=-1) + np.median(xs[1], axis=-1)), np.float64)


def _median_s(xs: Sequence[FloatArray], n: int) -> FloatArray:
    return np.asarray(np.median(xs[0], axis=-1), dtype=np.float64)


def _median_ms(xs: Sequence[FloatArray], n: int) -> FloatArray:
    return np.asarray(np.median(xs[0], axis=-1) * _MS, dtype=np.float64)


def _latencies(prefix: str, series: str) -> list[TimedFigure]:
    return [
        TimedFigure(f"{prefix}latency_p{p}_ms", (series,), _percentile_ms(p), p / 100)
        for p in (50, 95, 99)
    ]


TIMED_FIGURES: dict[str, TimedFigure] = {
    f.name: f
    for f in (
        *_latencies("", "search.single"),
        TimedFigure("qps", ("search.batch",), _throughput),
        *_latencies("query_", "query.single"),
        TimedFigure("query_qps", ("query.batch",), _throughput),
        *_latencies("e2e_", "e2e.single"),
        TimedFigure("e2e_qps", ("query.batch", "search.batch"), _pipeline_throughput),
        TimedFigure("build_s", ("build",), _median_s),
        TimedFigure("probe_ms", ("probe",), _median_ms),
    )
}
"""Each timed figure (see harness.figures) and the series and statistic it comes from."""


def end_to_end(search: Series, query: Series) -> Series:
    """Batch-1 latencies of the whole query path: each search call plus a query-side call of
    the same query. The k-th search call of a query takes that query's (k mod m)-th of m
    query-side calls, so every call on both sides is used. Search calls of queries the query
    side never timed are left out."""
    if search.queries is None or query.queries is None:
        return Series.of([])
    timed: dict[object, list[float]] = defaultdict(list)
    for asked, seconds in zip(query.queries, query.seconds, strict=True):
        timed[asked].append(float(seconds))
    seen: dict[object, int] = defaultdict(int)
    keep, total = [], []
    for i, (asked, seconds) in enumerate(zip(search.queries, search.seconds, strict=True)):
        if asked in timed:
            side = timed[asked]
            total.append(float(seconds) + side[seen[asked] % len(side)])
            seen[asked] += 1
            keep.append(i)
    return Series.of(total, search.rounds[keep], search.queries[keep])


def with_end_to_end(series: Mapping[str, Series]) -> dict[str, Series]:
    """`series` plus `e2e.single`, when both sides' batch-1 calls are there."""
    out = dict(series)
    if "search.single" in series and "query.single" in series:
        out["e2e.single"] = end_to_end(series["search.single"], series["query.single"])
    return out


def estimate(
    figure: str,
    series: Mapping[str, Series],
    n_queries: int,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Estimate | None:
    """The figure, its interval and its number of calls; None without the series."""
    timed = TIMED_FIGURES[figure]
    needed = _needed(timed, series)
    if needed is None:
        return None
    resampled = None
    if _bootstrapped(timed, needed):
        statistic = functools.partial(_of_queries, timed.statistic, n_queries)
        resampled = _resampled(statistic, needed, resamples, seed)
    return _estimate(timed, needed, n_queries, resampled, confidence)


def _bootstrapped(timed: TimedFigure, needed: Sequence[Series]) -> bool:
    """Whether the figure's interval is bootstrapped: all but a percentile of one round."""
    return timed.quantile is None or any(len(np.unique(s.rounds)) > 1 for s in needed)


def _estimate(
    timed: TimedFigure,
    needed: Sequence[Series],
    n_queries: int,
    resampled: FloatArray | None,
    confidence: float,
) -> Estimate:
    value = float(timed.statistic([s.seconds[None, :] for s in needed], n_queries)[0])
    count = min(len(s) for s in needed)
    if count < 2:  # one call has no spread to tell
        return Estimate(value, math.nan, math.nan, count)
    if resampled is not None:
        low, high = _interval(resampled, confidence)
    else:
        assert timed.quantile is not None
        low, high = quantile_interval(needed[0].seconds, timed.quantile, confidence)
        low, high = low * _MS, high * _MS
    return Estimate(value, low, high, count)


def quantile_interval(values: FloatArray, p: float, confidence: float) -> tuple[float, float]:
    """The distribution-free interval of the p-quantile of iid `values`: the order statistics
    whose ranks bound it with the binomial distribution (scipy.stats.quantile_test's
    confidence_interval); NaN for an end too few values can bound (p99 of 100 calls)."""
    ordered = np.sort(values)
    n = len(ordered)
    alpha = (1 - confidence) / 2
    cdf = _binomial_cdf(n, p)
    low_index = int(np.searchsorted(cdf, alpha, side="left")) - 1  # ppf(alpha) - 1
    # isf(alpha): the smallest k whose survival P(X > k) = 1 - cdf(k) is at most alpha
    high_index = int(np.searchsorted(cdf, 1 - alpha, side="left"))
    low = float(ordered[low_index]) if low_index >= 0 else math.nan
    high = float(ordered[high_index]) if high_index < n else math.nan
    return low, high


def _binomial_cdf(n: int, p: float) -> FloatArray:
    """P(X <= k) for k = 0..n, X ~ Binomial(n, p), summed from the pmf in log space."""
    k = np.arange(n + 1, dtype=np.float64)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - k[:-1]) / (k[:-1] + 1)))])
    log_pmf = log_choose + k * math.log(p) + (n - k) * math.log1p(-p)
    cdf: FloatArray = np.cumsum(np.exp(log_pmf - log_pmf.max())) * math.exp(log_pmf.max())
    return np.minimum(cdf, 1.0)


def ratio(
    figure: str,
    current: Mapping[str, Series],
    baseline: Mapping[str, Series],
    n_current: int,
    n_baseline: int,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Estimate | None:
    """The figure's current / baseline value with a bootstrap interval that resamples both
    runs' calls independently; None when either run lacks the series."""
    timed = TIMED_FIGURES[figure]
    cur, base = _needed(timed, current), _needed(timed, baseline)
    if cur is None or base is None:
        return None
    split = len(cur)

    def statistic(xs: Sequence[FloatArray]) -> FloatArray:
        now = timed.statistic(xs[:split], n_current)
        then = timed.statistic(xs[split:], n_baseline)
        return np.asarray(now / then, dtype=np.float64)

    both = [*cur, *base]
    value = float(statistic([s.seconds[None, :] for s in both])[0])
    low, high = _interval(_resampled(statistic, both, resamples, seed), confidence)
    return Estimate(value, low, high, min(len(s) for s in both))


def interleaved_ratio(
    figure: str,
    baseline: Mapping[str, Series],
    candidate: Mapping[str, Series],
    n_queries: int,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[Estimate, FloatArray, FloatArray] | None:
    """Two configurations timed in alternating rounds: the figure in each round on each side,
    candidate / baseline per round, and the median of those ratios with a bootstrap interval
    over rounds. Returns (ratio, baseline per round, candidate per round); None without the
    series."""
    timed = TIMED_FIGURES[figure]
    base, cand = _needed(timed, baseline), _needed(timed, candidate)
    if base is None or cand is None:
        return None
    rounds = sorted(set(np.unique(base[0].rounds)) & set(np.unique(cand[0].rounds)))

    def per_round(series: list[Series]) -> FloatArray:
        return np.array(
            [
                timed.statistic([s.seconds[s.rounds == r][None, :] for s in series], n_queries)[0]
                for r in rounds
            ]
        )

    then, now = per_round(base), per_round(cand)
    ratios = now / then
    rng = np.random.default_rng(seed)
    medians = np.median(ratios[rng.integers(0, len(ratios), (resamples, len(ratios)))], axis=1)
    low, high = _interval(medians, confidence)
    return Estimate(float(np.median(ratios)), low, high, len(rounds)), then, now


def summarize(series: Mapping[str, Series], n_queries: int) -> dict[str, float]:
    """Every timed figure the series allow, as columns: the value, its interval and its count
    (harness.figures.spread_columns); NaN for figures without their series. Figures of the same
    series share their bootstrap resamples (each as `estimate` would draw them)."""
    series = with_end_to_end(series)
    columns: dict[str, float] = {}
    by_series: dict[tuple[str, ...], list[TimedFigure]] = defaultdict(list)
    for timed in TIMED_FIGURES.values():
        by_series[timed.series].append(timed)
    for figures in by_series.values():
        needed = _needed(figures[0], series)
        if needed is None:
            for timed in figures:
                columns |= dict.fromkeys((timed.name, *spread_columns(timed.name)), math.nan)
            continue
        booted = [t for t in figures if _bootstrapped(t, needed)]
        statistics = [functools.partial(_of_queries, t.statistic, n_queries) for t in booted]
        drawn = _resampled_many(statistics, needed, RESAMPLES, 0) if booted else []
        resampled = dict(zip([t.name for t in booted], drawn, strict=True))
        for timed in figures:
            found = _estimate(timed, needed, n_queries, resampled.get(timed.name), CONFIDENCE)
            values = (found.value, found.low, found.high, float(found.n))
            columns |= dict(zip((timed.name, *spread_columns(timed.name)), values, strict=True))
    return columns


def _of_queries(statistic: Statistic, n_queries: int, xs: Sequence[FloatArray]) -> FloatArray:
    return statistic(xs, n_queries)


def _needed(timed: TimedFigure, series: Mapping[str, Series]) -> list[Series] | None:
    needed = [series.get(name) for name in timed.series]
    if any(s is None or len(s) == 0 for s in needed):
        return None
    return [s for s in needed if s is not None]


def _interval(values: FloatArray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    alpha = (1 - confidence) / 2
    low, high = np.percentile(values, [alpha * 100, (1 - alpha) * 100])
    return float(low), float(high)


def _resampled(
    statistic: Callable[[Sequence[FloatArray]], FloatArray],
    series: Sequence[Series],
    resamples: int,
    seed: int,
) -> FloatArray:
    return _resampled_many([statistic], series, resamples, seed)[0]


def _resampled_many(
    statistics: Sequence[Callable[[Sequence[FloatArray]], FloatArray]],
    series: Sequence[Series],
    resamples: int,
    seed: int,
) -> list[FloatArray]:
    """Each statistic over the same `resamples` bootstrap resamples of every series.

    With one round each series is resampled call by call, block by block, drawing each
    series in turn as scipy.stats.bootstrap does (so a test can match it draw for draw).
    With several rounds, rounds are resampled first and calls within each chosen round second.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = np.random.default_rng(seed)
    if all(len(np.unique(s.rounds)) <= 1 for s in series):
        block = max(1, _BLOCK_ENTRIES // max(len(s) for s in series))
        parts: list[list[FloatArray]] = [[] for _ in statistics]
        for start in range(0, resamples, block):
            size = min(block, resamples - start)
            drawn = [s.seconds[rng.integers(0, len(s), (size, len(s)))] for s in series]
            for part, statistic in zip(parts, statistics, strict=True):
                part.append(statistic(drawn))
        return [np.concatenate(part) for part in parts]
    grouped = [s.by_round() for s in series]
    values = np.empty((len(statistics), resamples), dtype=np.float64)
    for b in range(resamples):
        drawn = []
        for rounds in grouped:
            picked = rng.integers(0, len(rounds), len(rounds))
            calls = [rounds[r][rng.integers(0, len(rounds[r]), len(rounds[r]))] for r in picked]
            drawn.append(np.concatenate(calls)[None, :])
        for i, statistic in enumerate(statistics):
            values[i, b] = statistic(drawn)[0]
    return list(values)
