"""Intervals of timed figures, checked against scipy.stats.bootstrap draw for draw."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.figures import FIGURES, spread_columns
from harness.spread import (
    RESAMPLES,
    TIMED_FIGURES,
    Series,
    end_to_end,
    estimate,
    quantile_interval,
    ratio,
    summarize,
)


def _latencies(seed: int, n: int = 500, scale: float = 1e-4) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(scale), 0.3, n)


def test_a_percentile_and_its_interval_match_scipy_quantile_test() -> None:
    calls = _latencies(0)
    found = estimate("latency_p95_ms", {"search.single": Series.of(calls)}, 100)
    assert found is not None
    reference = stats.quantile_test(calls, q=0, p=0.95).confidence_interval(0.95)
    assert found.value == pytest.approx(np.percentile(calls, 95) * 1e3, rel=1e-12)
    assert (found.low, found.high) == (reference.low * 1e3, reference.high * 1e3)
    assert found.n == 500
    # too few calls to bound p99 from above: the interval says so rather than invent an end
    few = estimate("latency_p99_ms", {"search.single": Series.of(calls[:100])}, 100)
    assert few is not None and math.isnan(few.high) and few.low < few.value


def test_quantile_intervals_equal_scipy_s_for_many_sizes_and_levels() -> None:
    rng = np.random.default_rng(1)
    for n in (5, 17, 100, 999, 4096, 20_000):
        values = rng.lognormal(0, 1, n)
        for p in (0.5, 0.95, 0.99):
            for confidence in (0.9, 0.95, 0.99):
                ours = quantile_interval(values, p, confidence)
                theirs = stats.quantile_test(values, q=1, p=p).confidence_interval(confidence)
                assert np.allclose(ours, (theirs.low, theirs.high), equal_nan=True, rtol=0)


def test_a_batched_figure_s_interval_matches_scipy_bootstrap() -> None:
    batches = _latencies(8, 30, 5e-3)
    found = estimate("qps", {"search.batch": Series.of(batches)}, 200, seed=7)
    assert found is not None
    reference = stats.bootstrap(
        (batches,),
        lambda x, axis: 200 / np.median(x, axis=axis),
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(7),
    )
    assert found.low == pytest.approx(reference.confidence_interval.low, rel=1e-12)
    assert found.high == pytest.approx(reference.confidence_interval.high, rel=1e-12)


def test_the_ratio_of_two_runs_matches_scipy_bootstrap_of_two_independent_samples() -> None:
    now, then = _latencies(1, 8, 2e-3), _latencies(2, 12, 1e-3)  # batched call times
    found = ratio(
        "qps",
        {"search.batch": Series.of(now)},
        {"search.batch": Series.of(then)},
        300,
        300,
        seed=3,
    )
    assert found is not None

    def qps_ratio(current: np.ndarray, baseline: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(
            (300 / np.median(current, axis=axis)) / (300 / np.median(baseline, axis=axis))
        )

    reference = stats.bootstrap(
        (now, then),
        qps_ratio,
        n_resamples=RESAMPLES,
        method="percentile",
        paired=False,
        rng=np.random.default_rng(3),
    )
    assert found.value == pytest.approx(np.median(then) / np.median(now), rel=1e-12)
    assert found.low == pytest.approx(reference.confidence_interval.low, rel=1e-12)
    assert found.high == pytest.approx(reference.confidence_interval.high, rel=1e-12)


def test_qps_is_queries_over_the_median_batched_call() -> None:
    calls = Series.of([0.010, 0.012, 0.011, 0.500, 0.009])  # one slow outlier
    found = estimate("qps", {"search.batch": calls}, 220)
    assert found is not None and found.value == pytest.approx(220 / 0.011) and found.n == 5


def test_end_to_end_pairs_each_search_call_with_a_query_side_call_of_the_same_query() -> None:
    search = Series.of([1.0, 2.0, 3.0, 4.0, 5.0], queries=["a", "b", "a", "c", "a"])
    query = Series.of([10.0, 20.0, 30.0], queries=["a", "a", "b"])  # c never timed
    paired = end_to_end(search, query)
    # a's 1st, 2nd, 3rd search calls take a's query-side calls 10, 20, then 10 again
    assert paired.seconds.tolist() == [11.0, 32.0, 23.0, 15.0]
    assert paired.queries is not None and paired.queries.tolist() == ["a", "b", "a", "a"]


def test_e2e_qps_adds_the_query_side_and_the_search_per_batch() -> None:
    series = {
        "query.batch": Series.of([0.30, 0.20, 0.25]),
        "search.batch": Series.of([0.05, 0.05, 0.06]),
    }
    found = estimate("e2e_qps", series, 100)
    assert found is not None and found.value == pytest.approx(100 / (0.25 + 0.05))


def test_drift_between_rounds_widens_the_interval() -> None:
    steady = np.concatenate([_latencies(3, 400), _latencies(4, 400)])
    drifted = np.concatenate([_latencies(3, 400), _latencies(4, 400) * 1.5])
    rounds = np.repeat([0, 1], 400)
    pooled = estimate("latency_p50_ms", {"search.single": Series.of(drifted)}, 10)
    by_round = estimate("latency_p50_ms", {"search.single": Series.of(drifted, rounds)}, 10)
    calm = estimate("latency_p50_ms", {"search.single": Series.of(steady, rounds)}, 10)
    assert pooled is not None and by_round is not None and calm is not None
    assert pooled.value == by_round.value  # the same calls, so the same median
    width = {k: v.high - v.low for k, v in {"pooled": pooled, "rounds": by_round}.items()}
    assert width["rounds"] > 3 * width["pooled"]  # resampling rounds sees the drift
    assert calm.high - calm.low < width["rounds"] / 3


def test_summarize_gives_every_timed_figure_its_interval_and_count_or_nan() -> None:
    series = {
        "search.single": Series.of(_latencies(5, 300), queries=np.arange(300) % 30),
        "search.batch": Series.of([0.003] * 5),
        "probe": Series.of([0.002] * 22),
    }
    columns = summarize(series, 30)
    for name in TIMED_FIGURES:
        assert set(spread_columns(name)) <= set(columns) and name in columns
    assert columns["latency_p50_ms_n"] == 300 and columns["qps_n"] == 5
    low, value, high = (columns[c] for c in ("qps_low", "qps", "qps_high"))
    assert low == value == high == pytest.approx(10_000)
    for missing in ("query_latency_p50_ms", "e2e_qps", "build_s"):  # no query side, no build
        assert math.isnan(columns[missing]) and math.isnan(columns[f"{missing}_n"])


def test_every_figure_with_a_spread_has_a_statistic() -> None:
    assert {n for n, f in FIGURES.items() if f.spread} == set(TIMED_FIGURES)


def test_summarize_shares_resamples_yet_equals_each_estimate() -> None:
    series = {
        "search.single": Series.of(_latencies(6, 400), queries=np.arange(400) % 40),
        "search.batch": Series.of(_latencies(7, 9, 3e-3)),
    }
    columns = summarize(series, 40)
    for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "qps"):
        found = estimate(name, series, 40)
        assert found is not None
        assert (columns[name], columns[f"{name}_low"], columns[f"{name}_high"]) == (
            found.value,
            found.low,
            found.high,
        )
