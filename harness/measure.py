"""How harness times and weighs: the stopwatch, the timing protocol, thread limits and memory.

The protocol, for each stage of the query path (search, query side) of each cell:

1. warm-up: batch-1 calls cycling the queries for `warmup_s`, then one batched call, untimed;
2. batch-1 latency: calls cycling the queries until `latency_samples` calls and one call per
   query are timed and `latency_min_s` has passed, or `budget_s` has passed (p50/p95/p99 then
   rest on fewer calls, and the count says so);
3. batched: calls over every query until `batch_repeats` are timed and together they took at
   least `batch_min_s` (within `budget_s`; at most MAX_SINGLES and MAX_BATCHES calls).

The minimum times make the medians (p50, and QPS from the median batched call) robust to the
bursts of contention a shared machine has: a burst shorter than half the sampling window moves
a median little. Tails (p95, p99) still see such bursts.

`rounds` (`harness run --repeat N`) repeats all three N times. Every timed call is kept.

Between the timed calls, every PROBE_INTERVAL_S, a fixed reference workload (the speed probe,
harness.machine) is timed too: how fast the machine ran *while* the stage was timed. Contention
on a shared machine comes and goes within seconds; a probe before and after a stage misses it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.spread import Series

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
T = TypeVar("T")
MAX_SINGLES = 20_000
"""Batch-1 calls per round at most: calls of a few microseconds would otherwise fill
`latency_min_s` with hundreds of thousands of samples."""
MAX_BATCHES = 200
"""Batched calls per round at most: a batch of a few tiny queries would otherwise repeat
thousands of times to fill `batch_min_s`."""
PROBE_INTERVAL_S = 0.05
"""Time between speed probes while a stage is timed (a probe of ~2 ms adds ~4%)."""


class TimingSettings(BaseModel):
    """The suite's `timing:` section."""

    model_config = ConfigDict(extra="forbid")

    warmup_s: float = Field(0.2, ge=0)
    """Untimed batch-1 calls before each stage is timed (then one untimed batched call)."""
    latency_samples: int = Field(1000, ge=1)
    """Timed batch-1 calls, cycling the queries (and at least one per query)."""
    latency_min_s: float = Field(1.0, ge=0)
    """Keep timing batch-1 calls until they took this long."""
    batch_repeats: int = Field(5, ge=1)
    """Timed batched calls over every query, at least."""
    batch_min_s: float = Field(0.5, ge=0)
    """Keep timing batched calls until together they took this long."""
    budget_s: float = Field(30.0, gt=0)
    """Stop sampling a stage after this long, with at least one call timed."""
    rounds: int = Field(1, ge=1)
    """Repeat every timed measurement this many times (`harness run --repeat N`)."""


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


@dataclass(frozen=True)
class StageTimes:
    """One stage's timed calls: batch-1 (queries are positions) and batched."""

    single: Series
    batch: Series
    probe: Series
    """The speed probe, timed between the calls (empty without one)."""


class _Probes:
    """The speed probe's times, taken between timed calls whenever one is due."""

    def __init__(self, probe: Callable[[], float] | None) -> None:
        self._probe = probe
        self._due = 0.0
        self.seconds: list[float] = []
        self.rounds: list[int] = []

    def between_calls(self, round_: int) -> None:
        if self._probe is not None and time.perf_counter() >= self._due:
            self.seconds.append(self._probe())
            self.rounds.append(round_)
            self._due = time.perf_counter() + PROBE_INTERVAL_S


def time_stage(
    call: Callable[[np.ndarray], T],
    n_queries: int,
    settings: TimingSettings,
    probe: Callable[[], float] | None = None,
) -> tuple[StageTimes, T]:
    """Time `call(query positions)` by the protocol, one query at a time and all at once,
    with `probe` (seconds of a reference workload) timed between the calls; returns the timed
    calls and the last batched call's result."""
    every = np.arange(n_queries)
    each = [every[i : i + 1] for i in range(n_queries)]  # made once: no allocation when timed

    def one(position: int) -> object:
        return call(each[position])

    def batch() -> T:
        return call(every)

    singles: list[float] = []
    asked: list[int] = []
    single_rounds: list[int] = []
    batches: list[float] = []
    batch_rounds: list[int] = []
    probes = _Probes(probe)
    result: T | None = None
    for round_ in range(settings.rounds):
        _warm_up(one, n_queries, settings.warmup_s)
        result = batch()
        between = functools.partial(probes.between_calls, round_)
        seconds, positions = _time_singles(one, n_queries, settings, between)
        singles += seconds
        asked += positions
        single_rounds += [round_] * len(seconds)
        seconds, result = _time_batches(batch, settings, between)
        batches += seconds
        batch_rounds += [round_] * len(seconds)
        between()
    times = StageTimes(
        Series.of(singles, single_rounds, asked),
        Series.of(batches, batch_rounds),
        Series.of(probes.seconds, probes.rounds),
    )
    return times, cast(T, result)  # settings.rounds >= 1: batch() ran


def _time_singles(
    one: Callable[[int], object],
    n_queries: int,
    settings: TimingSettings,
    between: Callable[[], None],
) -> tuple[list[float], list[int]]:
    """Batch-1 calls cycling the queries: seconds and query position of each."""
    seconds: list[float] = []
    positions: list[int] = []
    wanted = max(settings.latency_samples, n_queries)
    begun = time.perf_counter()
    while len(seconds) < MAX_SINGLES:
        if seconds:
            spent = time.perf_counter() - begun
            if spent > settings.budget_s or (
                len(seconds) >= wanted and spent >= settings.latency_min_s
            ):
                break
        between()
        position = len(seconds) % n_queries
        start = time.perf_counter()
        one(position)
        seconds.append(time.perf_counter() - start)
        positions.append(position)
    return seconds, positions


def _time_batches(
    batch: Callable[[], T], settings: TimingSettings, between: Callable[[], None]
) -> tuple[list[float], T]:
    """Batched calls over every query: seconds of each, and the last one's result."""
    seconds: list[float] = []
    begun = time.perf_counter()
    while True:
        between()
        start = time.perf_counter()
        result = batch()
        seconds.append(time.perf_counter() - start)
        if len(seconds) >= MAX_BATCHES or time.perf_counter() - begun > settings.budget_s:
            return seconds, result
        if len(seconds) >= settings.batch_repeats and sum(seconds) >= settings.batch_min_s:
            return seconds, result


def _warm_up(one: Callable[[int], object], n_queries: int, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    i = 0
    while True:
        one(i % n_queries)
        i += 1
        if time.perf_counter() >= deadline:
            return


@contextmanager
def thread_limit(threads: int) -> Iterator[int]:
    """Run the block on `threads` CPUs: every thread of the process is pinned to the last
    `threads` CPUs it may use, and the OpenMP and BLAS pools that faiss, numpy and torch run
    on are limited to as many threads. Yields the number of CPUs pinned to."""
    from threadpoolctl import threadpool_limits

    allowed = os.sched_getaffinity(0)
    pinned = set(sorted(allowed)[-threads:])
    _pin(pinned)
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield len(pinned)
    finally:
        _pin(allowed)
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)


def _pin(cpus: set[int]) -> None:
    for task in Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except (OSError, ValueError):  # a thread that just ended
            continue


def reset_peak_rss() -> bool:
    """Reset the process's resident-set high-water mark (Linux); False where unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident memory since the last reset (Linux VmHWM), else since process start."""
    value = _status("VmHWM:")
    if value is not None:
        return value
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes() -> int:
    """Resident memory now (Linux VmRSS); the peak where that cannot be read."""
    value = _status("VmRSS:")
    return value if value is not None else peak_rss_bytes()


def _status(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class MemoryWatch:
    """Peak resident memory of a group of cells (model, vectors and every index built), and
    each index's own share: its RSS growth over the memory in use just before it was built, at
    its peak while building and while answering searches. What happens between (evaluation,
    statistics) counts towards the group's peak only."""

    def __init__(self) -> None:
        reset_peak_rss()
        self._group_peak = 0
        self._before_index = self._index_peak = rss_bytes()

    def start_index(self) -> None:
        """Mark the memory in use before an index is built (freed memory handed back first)."""
        self._between()
        self._before_index = self._index_peak = rss_bytes()

    def after_build(self) -> None:
        self._index_peak = max(self._index_peak, self._fold())

    def before_search(self) -> None:
        self._between()

    def after_search(self) -> None:
        self._index_peak = max(self._index_peak, self._fold())

    def index_bytes(self) -> int:
        """The index's RSS growth at its peak, building or searching."""
        return max(0, self._index_peak - self._before_index)

    def group_peak_bytes(self) -> int:
        self._fold()
        return self._group_peak

    def _fold(self) -> int:
        """The peak since the last reset, folded into the group's."""
        peak = peak_rss_bytes()
        self._group_peak = max(self._group_peak, peak)
        return peak

    def _between(self) -> None:
        """Fold the peak so far into the group's, hand freed memory back, reset the peak."""
        self._fold()
        _release_freed_memory()
        reset_peak_rss()


def _release_freed_memory() -> None:
    """Collect garbage and return freed heap pages to the OS (glibc), so memory an earlier index
    freed is not counted as free room for the next one."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
