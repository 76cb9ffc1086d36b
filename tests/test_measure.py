from __future__ import annotations

import numpy as np

from harness.measure import MAX_BATCH_REPEATS, peak_rss_bytes, reset_peak_rss, time_search


def test_time_search_times_each_query_then_repeats_the_batch() -> None:
    calls: list[int] = []

    def search(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(positions))
        return np.zeros((len(positions), 2)), np.tile(positions[:, None], (1, 2))

    timing, (_, ids) = time_search(search, 7)
    assert calls[:7] == [1] * 7  # one query at a time, for latency percentiles
    assert set(calls[7:]) == {7} and 1 <= len(calls) - 7 <= MAX_BATCH_REPEATS
    assert ids[:, 0].tolist() == list(range(7))  # the batched call's hits come back
    assert timing.latency_p50_ms <= timing.latency_p95_ms <= timing.latency_p99_ms
    assert len(timing.single_seconds) == 7 and timing.qps > 0


def test_peak_memory_sees_a_large_allocation() -> None:
    reset_peak_rss()
    before = peak_rss_bytes()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    assert peak_rss_bytes() >= before + 60 * 2**20
    del block
