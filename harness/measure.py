"""Stopwatch, latency percentiles and peak-memory accounting."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


def reset_peak_rss() -> bool:
    """Reset the process's resident-set high-water mark (Linux); False where unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident memory since the last reset (Linux VmHWM), else since process start."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


BATCH_BUDGET_S = 0.5
MAX_BATCH_REPEATS = 20


@dataclass
class SearchTiming:
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    qps: float
    batch_seconds: float
    single_seconds: list[float] = field(repr=False, default_factory=list)


def time_search(
    search: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], n_queries: int
) -> tuple[SearchTiming, tuple[np.ndarray, np.ndarray]]:
    """Time `search(query positions)`: one query at a time for latency percentiles, all at
    once for QPS. A batch of a few hundred queries can take milliseconds, so the batched call
    repeats until BATCH_BUDGET_S has passed (at most MAX_BATCH_REPEATS times) and QPS comes
    from the median repeat. Returns the timing and the batched call's (scores, ids).
    """
    singles = []
    for i in range(n_queries):
        start = time.perf_counter()
        search(np.array([i]))
        singles.append(time.perf_counter() - start)
    repeats: list[float] = []
    while not repeats or (sum(repeats) < BATCH_BUDGET_S and len(repeats) < MAX_BATCH_REPEATS):
        start = time.perf_counter()
        batched = search(np.arange(n_queries))
        repeats.append(time.perf_counter() - start)
    batch_seconds = float(np.median(repeats))
    ms = np.array(singles) * 1000 if singles else np.zeros(1)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return (
        SearchTiming(
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            latency_p99_ms=float(p99),
            qps=n_queries / batch_seconds if batch_seconds > 0 else float("inf"),
            batch_seconds=batch_seconds,
            single_seconds=singles,
        ),
        batched,
    )
