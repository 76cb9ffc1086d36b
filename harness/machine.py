"""The machine while harness measures: load, CPU time other processes took, and a speed probe.

Cost figures are only as steady as the machine. Each cell records the load average at its
start and end, how many cores other processes kept busy meanwhile (from /proc/stat, minus
this process's own CPU time; steal by the hypervisor counts as busy), and the time of a fixed
reference workload (the probe) taken between its timed calls (harness.measure). Two runs'
probes say whether the machine itself was slower, which a cost gate allows for.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_PROC_STAT = Path("/proc/stat")


def load_average() -> float:
    """The 1-minute load average; NaN where the OS does not report one."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


def governors() -> str:
    """The CPU frequency governors in use ('performance', ...), '' where not readable."""
    found = set()
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            found.add(path.read_text().strip())
        except OSError:
            continue
    return ", ".join(sorted(found))


@dataclass(frozen=True)
class CpuSnapshot:
    wall: float
    busy: float
    """Seconds of CPU time all processes spent busy, machine-wide (steal included)."""
    own: float
    """Seconds of CPU time this process spent."""


def cpu_snapshot() -> CpuSnapshot:
    times = os.times()
    busy = float("nan")
    try:
        fields = [int(v) for v in _PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return CpuSnapshot(time.monotonic(), busy, times.user + times.system)


def others_cpu(start: CpuSnapshot, end: CpuSnapshot) -> float:
    """Cores other processes kept busy between two snapshots, on average (NaN if unknown)."""
    wall = end.wall - start.wall
    if wall <= 0:
        return float("nan")
    others = (end.busy - start.busy) - (end.own - start.own)
    return max(0.0, others / wall)


class SpeedProbe:
    """A fixed reference workload: a pure-Python loop and a float32 matrix product, about 2 ms
    together on one thread, the same in every run. Its time says how fast the machine was while a
    cell was timed. (Of the workloads tried, these two tracked the search timings best on a
    shared virtual machine; a random gather over memory tracked them worse.)"""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self._left = rng.standard_normal((64, 384), dtype=np.float32)
        self._right = rng.standard_normal((384, 1024), dtype=np.float32)

    def _work(self) -> float:
        total = 0
        for i in range(20_000):
            total += i * i
        product = self._left @ self._right
        return float(total) + float(product[0, 0])

    def once(self) -> float:
        """Seconds the workload takes now, on the threads the caller is limited to."""
        start = time.perf_counter()
        self._work()
        return time.perf_counter() - start
