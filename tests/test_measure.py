"""The timing protocol's bookkeeping: warm-up left out, sample counts, budgets, rounds, thread
limits and memory accounting. Nothing here asserts how fast anything is."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

from harness import measure
from harness.measure import (
    MAX_BATCHES,
    MAX_SINGLES,
    MemoryWatch,
    TimingSettings,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    thread_limit,
    time_stage,
)


class Calls:
    """A stage to time: records each call as ('one', position) or ('batch', None)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int | None]] = []

    def __call__(self, positions: np.ndarray) -> int:
        one = len(positions) == 1
        self.log.append(("one", int(positions[0])) if one else ("batch", None))
        return len(self.log)


def test_warm_up_is_left_out_and_latency_rests_on_a_thousand_calls_cycling_the_queries() -> None:
    calls = Calls()
    settings = TimingSettings(warmup_s=0.01, latency_min_s=0, batch_min_s=0)
    times, last = time_stage(calls, 7, settings)
    warm = calls.log.index(("batch", None))  # the untimed batched call ends the warm-up
    assert warm >= 1 and all(kind == "one" for kind, _ in calls.log[:warm])
    timed_ones = [p for kind, p in calls.log[warm + 1 :] if kind == "one"]
    assert len(times.single) == len(timed_ones) == 1000
    assert times.single.queries.tolist() == [i % 7 for i in range(1000)] == timed_ones
    assert len(times.batch) == settings.batch_repeats == 5
    assert last == len(calls.log)  # the last batched call's result comes back
    assert (times.single.seconds >= 0).all() and (times.batch.seconds >= 0).all()


def test_every_query_is_timed_at_least_once_when_there_are_more_than_the_samples() -> None:
    calls = Calls()
    times, _ = time_stage(calls, 30, TimingSettings(latency_samples=10))
    assert sorted(set(times.single.queries.tolist())) == list(range(30))


class FakeClock:
    """perf_counter that advances one second per call of the stage under test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(measure.time, "perf_counter", fake)
    yield fake


def test_a_slow_stage_stops_at_the_budget_and_says_how_many_calls_it_timed(
    clock: FakeClock,
) -> None:
    def call(positions: np.ndarray) -> None:
        clock.now += 1.0 if len(positions) == 1 else 10.0

    settings = TimingSettings(warmup_s=0, budget_s=5, batch_repeats=3)
    times, _ = time_stage(call, 100, settings)
    assert len(times.single) == 6  # the calls begun within the 5 s budget
    assert times.single.seconds.tolist() == [1.0] * 6
    assert len(times.batch) == 1  # the budget stops the batched calls too, after one


def test_fast_calls_are_timed_for_at_least_the_minimum_time_within_a_cap(
    clock: FakeClock,
) -> None:
    def call(positions: np.ndarray) -> None:
        clock.now += 0.01 if len(positions) == 1 else 0.0

    settings = TimingSettings(warmup_s=0, latency_samples=10, latency_min_s=1.0)
    times, _ = time_stage(call, 3, settings)
    assert len(times.single) == 100  # 10 calls were wanted, and 1 s of them
    fast = TimingSettings(warmup_s=0, latency_samples=10, latency_min_s=1e9, budget_s=1e9)
    times, _ = time_stage(lambda positions: None, 3, fast)
    assert len(times.single) == MAX_SINGLES


def test_fast_batches_repeat_until_the_minimum_time_within_a_cap(clock: FakeClock) -> None:
    def call(positions: np.ndarray) -> None:
        clock.now += 0.001 if len(positions) > 1 else 0.0

    times, _ = time_stage(call, 3, TimingSettings(warmup_s=0, batch_min_s=0.05))
    assert len(times.batch) == 50
    times, _ = time_stage(call, 3, TimingSettings(warmup_s=0, batch_min_s=10))
    assert len(times.batch) == MAX_BATCHES


def test_the_speed_probe_runs_between_timed_calls_at_its_interval_outside_their_times(
    clock: FakeClock,
) -> None:
    def call(positions: np.ndarray) -> None:
        clock.now += 0.01 if len(positions) == 1 else 0.1

    def probe() -> float:
        clock.now += 0.002
        return 0.002

    settings = TimingSettings(warmup_s=0, latency_samples=10, latency_min_s=1.0, rounds=2)
    times, _ = time_stage(call, 3, settings, probe)
    assert np.allclose(times.single.seconds, 0.01) and np.allclose(times.batch.seconds, 0.1)
    # one probe on starting and then one each 0.05 s of the round's ~1.5 s, and one at its end
    per_round = np.bincount(times.probe.rounds)
    assert len(per_round) == 2 and all(20 <= n <= 35 for n in per_round)
    assert np.allclose(times.probe.seconds, 0.002)
    assert len(time_stage(call, 3, settings)[0].probe) == 0  # no probe given, none timed


def test_rounds_repeat_every_measurement_and_label_its_calls() -> None:
    calls = Calls()
    settings = TimingSettings(
        warmup_s=0, latency_samples=20, latency_min_s=0, batch_min_s=0, rounds=3
    )
    times, _ = time_stage(calls, 4, settings)
    assert times.single.rounds.tolist() == [0] * 20 + [1] * 20 + [2] * 20
    assert times.batch.rounds.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert sum(kind == "batch" for kind, _ in calls.log) == 3 * (1 + 5)  # a warm-up each round


def test_thread_limit_pins_the_process_and_limits_the_pools_then_restores_them() -> None:
    import faiss
    from threadpoolctl import threadpool_info

    before = os.sched_getaffinity(0)
    with thread_limit(1) as pinned:
        assert pinned == 1 and len(os.sched_getaffinity(0)) == 1
        assert faiss.omp_get_max_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert os.sched_getaffinity(0) == before
    assert faiss.omp_get_max_threads() == min(len(before), os.cpu_count() or 1)


def test_peak_memory_sees_a_large_allocation() -> None:
    reset_peak_rss()
    # resident memory just before, not the peak at the reset: the kernel may reclaim cold pages
    # meanwhile (this VM runs DAMON's kdamond), so RSS can fall below that peak
    before = rss_bytes()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    assert peak_rss_bytes() >= before + 60 * 2**20
    del block


def test_an_index_is_charged_its_own_memory_not_what_came_before_or_between() -> None:
    watch = MemoryWatch()
    model = np.ones(48 * 2**20 // 8)  # 48 MiB held before the index: the group's, not its
    watch.start_index()
    index = np.ones(32 * 2**20 // 8)  # 32 MiB built
    watch.after_build()
    evaluation = np.ones(64 * 2**20 // 8)  # 64 MiB between searches: not the index's
    del evaluation
    watch.before_search()
    watch.after_search()
    assert 30 * 2**20 <= watch.index_bytes() < 40 * 2**20
    assert watch.group_peak_bytes() >= model.nbytes + index.nbytes + 60 * 2**20
