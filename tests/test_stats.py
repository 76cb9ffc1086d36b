"""The gate's statistics against scipy as the reference, on known and realistic data."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from harness.gate.stats import (
    PairedComparison,
    adjust,
    benjamini_hochberg,
    bootstrap_ci,
    compare_paired,
    holm,
    paired_randomisation_test,
)

FloatArray = npt.NDArray[np.float64]


def _mean_diff(x: FloatArray, y: FloatArray, axis: int) -> FloatArray:
    return np.mean(x - y, axis=axis)  # type: ignore[no-any-return]


def _ndcg_like(n: int, shift: float, seed: int) -> tuple[FloatArray, FloatArray]:
    """Per-query nDCG-like scores in [0, 1], rounded to 4 places; `current` shifted by `shift`."""
    rng = np.random.default_rng(seed)
    baseline = rng.beta(2.0, 2.0, n).round(4)
    noise = rng.normal(shift, 0.12, n)
    current = np.clip(baseline + noise, 0.0, 1.0).round(4)
    return current, baseline


def _scipy_permutation_p(
    current: FloatArray, baseline: FloatArray, n_resamples: float, seed: int = 0
) -> float:
    result = stats.permutation_test(
        (current, baseline),
        _mean_diff,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


# -- randomisation test --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_enumeration_matches_scipy_exactly(seed: int) -> None:
    current, baseline = _ndcg_like(10, 0.05, seed)  # 2**10 = 1024 <= 10_000: exact
    ours = paired_randomisation_test(current, baseline)
    assert ours == _scipy_permutation_p(current, baseline, np.inf)
    assert ours * 2**10 == round(ours * 2**10)  # a count over the 1024 sign patterns


def test_exact_enumeration_counts_ties_as_extreme() -> None:
    # d = [1, 2, 3]: sums over the 8 patterns are +-6, +-4, +-2, 0, 0; only +-6 reach |6|.
    assert paired_randomisation_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == 2 / 8
    # d = [0.1, 0.2, 0.3]: 0.1 + 0.2 - 0.3 ties 0 up to rounding; |sum| >= 0.6 still only twice,
    # and d = [0.1, 0.2, -0.3] (observed sum ~0) must give 1 despite rounding.
    assert paired_randomisation_test([0.1, 0.2, 0.3], [0.0, 0.0, 0.0]) == 2 / 8
    assert paired_randomisation_test([0.1, 0.2, 0.0], [0.0, 0.0, 0.3]) == 1.0


@pytest.mark.parametrize("data_seed", [0, 2, 5])
def test_monte_carlo_agrees_with_scipy_within_sampling_error(data_seed: int) -> None:
    current, baseline = _ndcg_like(50, 0.035, seed=data_seed)  # 2**50 patterns: Monte Carlo
    ours = paired_randomisation_test(current, baseline, resamples=10_000, seed=0)
    reference = _scipy_permutation_p(current, baseline, 9_999, seed=1)
    assert 0.005 < reference < 0.3  # a p-value where sampling error is visible
    # Standard error of each estimate is at most sqrt(0.3 * 0.7 / 1e4) ~ 0.005.
    assert ours == pytest.approx(reference, abs=0.02)


def test_monte_carlo_never_returns_zero() -> None:
    current, baseline = _ndcg_like(200, 0.3, seed=3)
    assert paired_randomisation_test(current, baseline, resamples=999) == 1 / 1000


def test_close_to_paired_t_test_on_large_normal_data() -> None:
    rng = np.random.default_rng(11)
    baseline = rng.normal(0.5, 0.2, 1000)
    for shift in (0.004, 0.008, 0.03):
        current = baseline + rng.normal(shift, 0.1, 1000)
        ours = paired_randomisation_test(current, baseline)
        reference = float(stats.ttest_rel(current, baseline).pvalue)
        assert (ours < 0.01 and reference < 0.01) or abs(ours - reference) < 0.02


def test_identical_runs_give_p_one() -> None:
    current, _ = _ndcg_like(500, 0.0, seed=5)
    assert paired_randomisation_test(current, current.copy()) == 1.0
    assert paired_randomisation_test(current[:5], current[:5]) == 1.0  # exact branch too


def test_clear_shift_on_ndcg_like_scores_is_significant() -> None:
    current, baseline = _ndcg_like(300, 0.04, seed=9)
    assert paired_randomisation_test(current, baseline) < 0.01
    assert paired_randomisation_test(baseline, current) < 0.01  # two-sided


def test_randomisation_is_reproducible_and_seed_dependent() -> None:
    current, baseline = _ndcg_like(100, 0.02, seed=4)
    first = paired_randomisation_test(current, baseline, seed=42)
    assert first == paired_randomisation_test(current, baseline, seed=42)
    assert first != paired_randomisation_test(current, baseline, seed=43)


# -- bootstrap CI --------------------------------------------------------------------------------


def _scipy_bootstrap_ci(
    current: FloatArray, baseline: FloatArray, confidence: float, seed: int
) -> tuple[float, float]:
    result = stats.bootstrap(
        (current, baseline),
        _mean_diff,
        paired=True,
        vectorized=True,
        method="percentile",
        confidence_level=confidence,
        n_resamples=10_000,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_bootstrap_ci_agrees_with_scipy(confidence: float) -> None:
    current, baseline = _ndcg_like(100, 0.03, seed=2)
    low, high = bootstrap_ci(current, baseline, confidence=confidence, seed=0)
    ref_low, ref_high = _scipy_bootstrap_ci(current, baseline, confidence, seed=1)
    width = ref_high - ref_low
    assert low == pytest.approx(ref_low, abs=0.05 * width)  # independent streams: MC error
    assert high == pytest.approx(ref_high, abs=0.05 * width)
    # Both draw the resampled queries with Generator.integers(0, n, (resamples, n)): with the
    # same seed and one block the resamples coincide and the intervals agree to rounding.
    same_low, same_high = _scipy_bootstrap_ci(current, baseline, confidence, seed=0)
    assert (low, high) == pytest.approx((same_low, same_high), abs=1e-12)


def test_bootstrap_ci_brackets_the_delta_and_is_reproducible() -> None:
    current, baseline = _ndcg_like(300, 0.04, seed=9)
    low, high = bootstrap_ci(current, baseline, seed=5)
    assert 0.0 < low < float(np.mean(current - baseline)) < high
    assert (low, high) == bootstrap_ci(current, baseline, seed=5)
    assert bootstrap_ci(current, baseline, confidence=0.99, seed=5)[0] < low


def test_identical_runs_give_zero_interval() -> None:
    current, _ = _ndcg_like(50, 0.0, seed=1)
    assert bootstrap_ci(current, current.copy()) == (0.0, 0.0)


# -- multiple comparisons ------------------------------------------------------------------------


def test_holm_textbook_example() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


def test_holm_properties() -> None:
    raw = np.random.default_rng(0).uniform(0.0, 0.3, 40)
    adjusted = holm(raw)
    order = np.argsort(raw)
    assert np.all(adjusted >= raw) and np.all(adjusted <= 1.0)
    assert np.all(np.diff(adjusted[order]) >= 0)  # monotone in the raw p-values
    assert holm([0.5, 0.9])[1] == 1.0  # clipped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_benjamini_hochberg_matches_scipy_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = np.concatenate([rng.uniform(0, 0.05, 10), rng.uniform(0, 1, 30), [0.02, 0.02, 1.0]])
    rng.shuffle(raw)
    np.testing.assert_array_equal(
        benjamini_hochberg(raw), stats.false_discovery_control(raw, method="bh")
    )
    np.testing.assert_array_equal(
        benjamini_hochberg([0.5, 0.6, 0.1, 0.001]), [0.6, 0.6, 0.2, 0.004]
    )


def test_adjustments_skip_nan_and_keep_order() -> None:
    raw = [0.01, np.nan, 0.04, 0.03, np.nan, 0.005]
    clean = [0.01, 0.04, 0.03, 0.005]
    for adjusted, expected in (
        (adjust(raw, "holm"), holm(clean)),
        (adjust(raw, "bh"), benjamini_hochberg(clean)),
    ):
        assert np.isnan(adjusted[[1, 4]]).all()
        np.testing.assert_array_equal(adjusted[[0, 2, 3, 5]], expected)
    np.testing.assert_array_equal(adjust(raw, "none"), raw)
    assert np.isnan(holm([np.nan])).all() and holm([]).shape == (0,)


def test_adjust_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])
    with pytest.raises(ValueError, match="unknown adjustment"):
        adjust([0.1], "bonferroni")  # type: ignore[arg-type]


# -- compare_paired ------------------------------------------------------------------------------


def test_compare_paired_summarises_the_comparison() -> None:
    current, baseline = _ndcg_like(300, 0.04, seed=9)
    result = compare_paired(current, baseline, seed=3)
    assert isinstance(result, PairedComparison) and result.n == 300
    assert result.mean_current == pytest.approx(float(current.mean()))
    assert result.mean_baseline == pytest.approx(float(baseline.mean()))
    assert result.delta == pytest.approx(result.mean_current - result.mean_baseline)
    assert result.p_value == paired_randomisation_test(current, baseline, seed=3)
    assert (result.ci_low, result.ci_high) == bootstrap_ci(current, baseline, seed=3)
    with pytest.raises(AttributeError):
        result.delta = 0.0  # type: ignore[misc]


def test_compare_paired_single_pair() -> None:
    result = compare_paired([0.7], [0.5])
    assert result.p_value == 1.0  # 2 patterns, both |0.2| >= |0.2|
    assert (result.ci_low, result.ci_high) == pytest.approx((0.2, 0.2))


@pytest.mark.parametrize(
    ("current", "baseline", "message"),
    [
        ([0.1, 0.2], [0.1], "differ in length"),
        ([], [], "empty"),
        ([0.1, np.nan], [0.1, 0.2], "current scores must be finite"),
        ([0.1, 0.2], [np.inf, 0.2], "baseline scores must be finite"),
        ([[0.1, 0.2]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_compare_paired_validates_input(current: object, baseline: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_paired(current, baseline)  # type: ignore[arg-type]
