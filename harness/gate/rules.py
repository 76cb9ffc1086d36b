"""What a gate checks, as written in a suite or on the command line.

expect:   # the value a cell must reproduce, per metric, within a tolerance
  - {dataset: cranfield, embedder: bm25, nDCG@10: 0.4262, tolerance: 0.002}
gates:    # how far a run may move from a baseline run
  - nDCG@10 drop > 0.005 p < 0.05     # absolute drop, significant over queries
  - latency_p95_ms rise > 20%         # relative growth, beyond the timing noise
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TOLERANCE = 0.001
EXACT = 5e-5
"""Deltas below this print the same at four decimals: graded OK rather than within tolerance."""


class Expectation(BaseModel):
    """One cell's expected metric values. Keys other than the named ones are metrics."""

    model_config = ConfigDict(extra="allow")

    dataset: str
    embedder: str
    index: str | None = None
    search: dict[str, Any] | None = None
    """The search settings of the cell, when its index has several."""
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0)

    @property
    def values(self) -> dict[str, float]:
        return {k: float(v) for k, v in (self.model_extra or {}).items()}

    @model_validator(mode="after")
    def _has_numbers(self) -> Expectation:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected value of '{key}' must be a number, got {value!r}")
        if not self.values:
            raise ValueError("an expectation names at least one metric, e.g. nDCG@10: 0.4262")
        return self

    def label(self) -> str:
        parts = [self.dataset, self.embedder, *([self.index] if self.index else [])]
        search = json.dumps(self.search, separators=(",", ":")) if self.search else ""
        return " · ".join(parts) + (f" {search}" if search else "")


_GATE = re.compile(
    r"^\s*(?P<metric>\S+)\s+(?P<direction>drop|rise)\s*>\s*(?P<amount>\d+(?:\.\d+)?)"
    r"(?P<percent>%)?(?:\s+p\s*<\s*(?P<alpha>0?\.\d+|1(?:\.0*)?))?\s*$"
)


@dataclass(frozen=True)
class Gate:
    """Fail when `metric` moves the wrong way by more than `amount` (a fraction of the baseline
    when `relative`) and, when `alpha` is set, the paired test says p < alpha."""

    metric: str
    direction: Literal["drop", "rise"]
    amount: float
    relative: bool
    alpha: float | None

    @property
    def text(self) -> str:
        amount = f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"
        alpha = f" p < {self.alpha:g}" if self.alpha is not None else ""
        return f"{self.metric} {self.direction} > {amount}{alpha}"

    def beyond_noise(
        self, low: float, high: float, baseline: float, allowance: float = 1.0
    ) -> tuple[bool, float]:
        """For a timed figure: whether the interval [low, high] of current / baseline lies
        wholly past this gate's limit, and the limit as a ratio. `allowance` (>= 1, how much
        slower the machine itself ran) widens the limit, never narrows it."""
        if self.relative:
            amount = self.amount
        else:
            amount = self.amount / abs(baseline) if baseline else math.inf
        if self.direction == "rise":
            limit = (1 + amount) * allowance
            return low > limit, limit
        limit = (1 - amount) / allowance
        return high < limit, limit

    def fires(self, baseline: float, delta: float, p_adjusted: float | None) -> bool:
        moved = -delta if self.direction == "drop" else delta
        limit = self.amount * abs(baseline) if self.relative else self.amount
        if not moved > limit:
            return False
        return self.alpha is None or (p_adjusted is not None and p_adjusted < self.alpha)


def parse_gate(text: str) -> Gate:
    """'nDCG@10 drop > 0.005 p < 0.05' -> Gate; ValueError with the expected form otherwise."""
    match = _GATE.match(text)
    if match is None:
        raise ValueError(
            f"cannot read gate {text!r}; write '<metric> drop|rise > <amount>[%] [p < <alpha>]', "
            "e.g. 'nDCG@10 drop > 0.005 p < 0.05' or 'latency_p95_ms rise > 20%'"
        )
    amount = float(match["amount"])
    return Gate(
        metric=match["metric"],
        direction="drop" if match["direction"] == "drop" else "rise",
        amount=amount / 100 if match["percent"] else amount,
        relative=bool(match["percent"]),
        alpha=float(match["alpha"]) if match["alpha"] else None,
    )


DEFAULT_COST_GATES = (
    "latency_p50_ms rise > 150%",
    "e2e_latency_p50_ms rise > 150%",
    "qps drop > 60%",
)
"""Median search latency, median end-to-end latency and batched search throughput, each at
2.5x worse, beyond the noise of both runs' timed calls and the machine's own slowdown (the speed
probe timed between the calls). Medians, because a burst of contention moves a tail (p95,
p99) far more. Between two processes on a shared 2-core virtual machine, identical reruns moved
these figures by up to 2.1x (BM25's memory-bound search most; the probe caught only part of
it: benchmarks/rerun_gates.py, benchmarks/cost_stability.py), so a separate-run gate cannot be
tighter there without failing identical code. It catches efSearch 64 -> 512 on Cranfield (4.3x
p50, 6.4x QPS). Tighter amounts belong to `harness bench-compare`, which interleaves the two
configurations in one process so both see the same machine."""


DEFAULT_BENCH_GATES = ("latency_p50_ms rise > 20%", "latency_p95_ms rise > 20%", "qps drop > 20%")
"""`harness bench-compare`: both configurations share the machine round by round, so its drift
cancels and a 20% move beyond the noise is a real one."""


def default_gates(metrics: list[str]) -> list[Gate]:
    """Without configured gates: any quality metric dropping by > 0.005 with p < 0.05, and the
    default cost gates."""
    quality = [Gate(m, "drop", 0.005, False, 0.05) for m in metrics]
    return quality + [parse_gate(text) for text in DEFAULT_COST_GATES]
