"""`harness compare`: a run against a baseline run, cell by cell, with significance and gates.

Cells are matched by their key (dataset / embedder / index / search), so a changed model or
setting under the same names is compared with what it replaced. Every metric and cost figure
gets its delta. Each quality metric also gets a paired randomisation test and a bootstrap CI
over the queries both runs judged; p-values are adjusted across all those tests (Holm by
default). A quality gate fails a cell when its metric moves the wrong way by more than the
gate's amount and, for gates with a p threshold, the adjusted p is below it.

A cost gate on a timed figure (latency, QPS, build time) fails only when the move is beyond
its amount *and* beyond the noise: the 95% bootstrap interval of current / baseline, from both
runs' timed calls, lies wholly past 1 + amount (1 - amount for a drop). The amount is widened
by how much slower the machine itself ran, as the speed probe both runs recorded says, never
narrowed. Without timed calls on both sides (results of schema 2), the amount alone decides.
A cell of the baseline that is missing or failed in the current run fails too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness import timing_table
from harness.errors import HarnessError
from harness.figures import COST_FIGURES, better
from harness.gate.rules import Gate
from harness.gate.stats import Adjustment, adjust, compare_paired
from harness.spread import TIMED_FIGURES, Estimate, ratio, with_end_to_end

COLUMNS = [
    "cell",
    "figure",
    "baseline",
    "current",
    "delta",
    "change",
    "n",
    "p",
    "p_adjusted",
    "ci_low",
    "ci_high",
    "gate",
    "verdict",
]
"""For a timed figure, n is the fewer timed calls of the two runs and the CI is that of the
delta, from the interval of current / baseline."""


@dataclass(frozen=True)
class Runs:
    """One side of a comparison: a run's rows, per-query values and timed calls (its views)."""

    rows: pd.DataFrame
    per_query: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=timing_table.empty)


@dataclass
class Comparison:
    table: pd.DataFrame
    """One row per cell and figure (COLUMNS); verdict FAIL, pass (gated) or '' (not gated)."""
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "FAIL"]


@dataclass(frozen=True)
class Pairing:
    """`--pair 'efSearch=16:efSearch=24'`: the baseline's cells with the settings on the left
    are compared with the current cells that have those on the right instead. A name is a
    search setting, or dataset, embedder or index."""

    text: str
    before: dict[str, object]
    after: dict[str, object]


NAMED = ("dataset", "embedder", "index")
"""Columns a pairing can rename; any other name is a search setting."""


def parse_pairing(text: str) -> Pairing:
    """'efSearch=16:efSearch=24' or 'index=hnsw16,efSearch=16:index=hnsw24,efSearch=24'."""
    sides = text.split(":")
    if len(sides) != 2:
        raise ValueError(
            f"--pair '{text}': write BASELINE:CURRENT settings, e.g. 'efSearch=16:efSearch=24'"
        )
    before, after = (_settings(side, text) for side in sides)
    if set(before) != set(after):
        raise ValueError(f"--pair '{text}': name the same settings on both sides of ':'")
    return Pairing(text, before, after)


def _settings(side: str, text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in side.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals or not name:
            raise ValueError(f"--pair '{text}': '{item}' is not name=value")
        try:
            out[name] = value if name in NAMED else json.loads(value)
        except ValueError:
            out[name] = value
    return out


def paired(rows: pd.DataFrame, pairings: list[Pairing]) -> pd.DataFrame:
    """Baseline rows with their cell keys rewritten as the pairings say, so they meet the
    current cells they are to be compared with."""
    rows = rows.copy()
    for pairing in pairings:
        for position, row in rows.iterrows():
            search = _search_settings(row.get("search_params", ""))
            values = {
                n: row.get(n) if n in NAMED else search.get(n, _ABSENT) for n in pairing.before
            }
            if values != pairing.before:
                continue
            key = str(row["cell"])
            for name in pairing.before:
                if name in NAMED:
                    key = key.replace(f"{row[name]}", str(pairing.after[name]), 1)
            if any(n not in NAMED for n in pairing.before):
                moved = search | {n: v for n, v in pairing.after.items() if n not in NAMED}
                old = str(row.get("search_params", ""))
                key = key.replace(old, json.dumps(moved, separators=(",", ":"), sort_keys=True), 1)
            rows.loc[position, "cell"] = key
    return rows


_ABSENT = object()


def _rename(table: pd.DataFrame, cells: dict[str, str]) -> pd.DataFrame:
    if "cell" not in table or table.empty:
        return table
    return table.assign(cell=table["cell"].map(lambda c: cells.get(c, c)))


def _search_settings(text: object) -> dict[str, object]:
    try:
        settings = json.loads(str(text)) if text else {}
    except ValueError:
        return {}
    return settings if isinstance(settings, dict) else {}


def compare(
    current: Runs,
    baseline: Runs,
    metrics: list[str],
    gates: list[Gate],
    *,
    correction: Adjustment = "holm",
    resamples: int = 10_000,
    seed: int = 0,
    pairings: list[Pairing] | None = None,
) -> Comparison:
    """Compare `current` with `baseline` on `metrics` (per-query tested) and the cost figures;
    `pairings` match baseline cells to current cells whose settings changed."""
    if pairings:
        rows = paired(baseline.rows, pairings)
        renamed = dict(zip(baseline.rows["cell"], rows["cell"], strict=True))
        baseline = Runs(
            rows, _rename(baseline.per_query, renamed), _rename(baseline.timings, renamed)
        )
    cur, base = _by_cell(current.rows), _by_cell(baseline.rows)
    ann = [c for c in cur.columns if c.startswith("ann_recall@")]
    costs = (*COST_FIGURES, "probe_ms")
    shared = [f for f in (*ann, *costs) if f in cur.columns and f in base.columns]
    figures = [*metrics, *shared]
    known = set(figures)
    for gate in gates:
        if gate.metric not in known:
            raise HarnessError(
                f"gate '{gate.text}': '{gate.metric}' is not a figure of both runs; "
                f"figures: {', '.join(figures)}"
            )
    notes = _notes(cur, base)
    records: list[dict[str, object]] = []
    for cell in base.index:
        if cell not in cur.index or cur.loc[cell, "status"] != "ok":
            if base.loc[cell, "status"] == "ok":
                why = "missing" if cell not in cur.index else "failed"
                records.append(_status_record(cell, why, str(cur.get("error", {}).get(cell, ""))))
            continue
        if base.loc[cell, "status"] != "ok":
            notes.append(f"{cell}: failed in the baseline, so not compared")
            continue
        for figure in figures:
            records.append(_record(cell, figure, cur.loc[cell], base.loc[cell]))
    for cell in cur.index.difference(base.index):
        notes.append(f"{cell}: new in this run, no baseline to compare with")
    table = pd.DataFrame(records, columns=COLUMNS)
    _test(table, current.per_query, baseline.per_query, metrics, resamples, seed)
    tested = table["p"].notna()
    table.loc[tested, "p_adjusted"] = adjust(table.loc[tested, "p"].to_numpy(float), correction)
    unrecorded = {f for f in shared if base[f].isna().all() and not cur[f].isna().all()}
    for figure in sorted(unrecorded & {g.metric for g in gates}):
        notes.append(f"{figure}: not recorded by the baseline (an older schema), so not gated")
    timings = _Timings(current, baseline, cur, base)
    _apply_gates(table, [g for g in gates if g.metric not in unrecorded], timings)
    if timings.without_calls:
        notes.append(
            "cost gates on cells without timed calls on both sides (results of schema 2) "
            "compared the amount alone: " + ", ".join(sorted(timings.without_calls)[:3])
        )
    return Comparison(table, notes)


def _by_cell(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop_duplicates("cell", keep="last").set_index("cell")


def _notes(cur: pd.DataFrame, base: pd.DataFrame) -> list[str]:
    notes = []
    shared = cur.index.intersection(base.index)
    if "cell_id" in cur.columns and "cell_id" in base.columns:
        changed = [c for c in shared if cur.loc[c, "cell_id"] != base.loc[c, "cell_id"]]
        if changed:
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            notes.append(
                f"{len(changed)} cell(s) ran with other settings or data than the baseline's "
                f"(their cell ids differ): {', '.join(changed[:3])}{more}"
            )
    for column in ("dataset_fingerprint", "model", "git_sha"):
        if column not in cur.columns or column not in base.columns:
            continue
        values = sorted({str(v) for v in cur.loc[shared, column].dropna()})
        if values == sorted({str(v) for v in base.loc[shared, column].dropna()}):
            continue
        if column == "dataset_fingerprint":
            notes.append("the datasets' content differs from the baseline's; deltas mix causes")
        else:
            notes.append(f"{column} differs from the baseline: now {', '.join(values)}")
    return notes


def _status_record(cell: str, why: str, error: str) -> dict[str, object]:
    record: dict[str, object] = dict.fromkeys(COLUMNS, math.nan)
    detail = f": {error}" if error and error != "nan" else ""
    return record | {
        "cell": cell,
        "figure": "status",
        "gate": f"cell {why} in this run{detail}",
        "verdict": "FAIL",
    }


def _record(cell: str, figure: str, cur: pd.Series, base: pd.Series) -> dict[str, object]:
    now, then = float(cur.get(figure, math.nan)), float(base.get(figure, math.nan))
    delta = now - then
    change = delta / abs(then) if then != 0 else math.nan
    record: dict[str, object] = dict.fromkeys(COLUMNS, math.nan)
    return record | {
        "cell": cell,
        "figure": figure,
        "baseline": then,
        "current": now,
        "delta": delta,
        "change": change,
        "gate": "",
        "verdict": "",
    }


def _test(
    table: pd.DataFrame,
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    metrics: list[str],
    resamples: int,
    seed: int,
) -> None:
    """Fill n, p and the CI of every quality-metric row from the queries both runs judged."""
    cur = _per_query_lookup(current)
    base = _per_query_lookup(baseline)
    for i, row in table[table["figure"].isin(metrics)].iterrows():
        key = (row["cell"], row["figure"])
        if key not in cur or key not in base:
            continue
        paired = pd.concat([cur[key], base[key]], axis=1, join="inner", keys=["c", "b"])
        if not len(paired):
            continue
        result = compare_paired(
            paired["c"].to_numpy(), paired["b"].to_numpy(), resamples=resamples, seed=seed
        )
        table.loc[i, ["n", "p", "ci_low", "ci_high"]] = [
            result.n,
            result.p_value,
            result.ci_low,
            result.ci_high,
        ]


def _per_query_lookup(per_query: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """(cell, measure) -> values by query id (the newest run's, when several)."""
    if not len(per_query):
        return {}
    newest = per_query.drop_duplicates(["cell", "measure", "query_id"], keep="last")
    return {
        (str(cell), str(measure)): group.set_index("query_id")["value"].astype(np.float64)
        for (cell, measure), group in newest.groupby(["cell", "measure"], sort=False)
    }


class _Timings:
    """Both runs' timed calls by cell, and how a cost gate reads them."""

    def __init__(self, current: Runs, baseline: Runs, cur: pd.DataFrame, base: pd.DataFrame):
        self._cur = timing_table.from_table(current.timings)
        self._base = timing_table.from_table(baseline.timings)
        self._queries = (_queries(cur), _queries(base))
        self.without_calls: set[str] = set()

    def ratio(self, cell: str, figure: str, confidence: float) -> Estimate | None:
        """current / baseline of a timed figure with its interval; None without the calls."""
        now = with_end_to_end(self._cur.get(cell, {}))
        then = with_end_to_end(self._base.get(cell, {}))
        n_now, n_then = self._queries[0].get(cell, 0), self._queries[1].get(cell, 0)
        found = None
        if n_now and n_then:
            found = ratio(figure, now, then, n_now, n_then, confidence=confidence)
        if found is None:
            self.without_calls.add(cell)
        return found

    def machine_slowdown(self, cell: str) -> float:
        """How much slower the machine ran now than for the baseline (the speed probe's
        current / baseline), at least 1; 1 without probes."""
        now, then = self._cur.get(cell, {}), self._base.get(cell, {})
        if "probe" not in now or "probe" not in then:
            return 1.0
        return max(1.0, float(np.median(now["probe"].seconds) / np.median(then["probe"].seconds)))


def _queries(rows: pd.DataFrame) -> dict[str, int]:
    if "n_queries" not in rows.columns:
        return {}
    return {str(c): int(n) for c, n in rows["n_queries"].items() if pd.notna(n)}


def _apply_gates(table: pd.DataFrame, gates: list[Gate], timings: _Timings) -> None:
    for gate in gates:
        for i in table.index[table["figure"] == gate.metric].tolist():
            row = table.loc[i]
            missing = [pd.isna(row["baseline"]), pd.isna(row["current"])]
            if all(missing):  # the figure does not apply to this cell (e.g. ANN recall of BM25)
                continue
            if any(missing):
                table.loc[i, ["gate", "verdict"]] = [f"{gate.text} (no value on one side)", "FAIL"]
                continue
            if gate.metric in TIMED_FIGURES:
                fired, text = _cost_gate(table, i, gate, timings)
            else:
                fired, text = _amount_gate(row, gate)
            table.loc[i, "gate"] = _joined(table.loc[i, "gate"], text)
            if fired or table.loc[i, "verdict"] == "FAIL":
                table.loc[i, "verdict"] = "FAIL"
            else:
                table.loc[i, "verdict"] = "pass"


def _amount_gate(row: pd.Series, gate: Gate) -> tuple[bool, str]:
    p_adjusted = None if pd.isna(row["p_adjusted"]) else float(row["p_adjusted"])
    text = gate.text
    if gate.alpha is not None and p_adjusted is None:  # untestable: the amount decides
        text, p_adjusted = f"{gate.text} (no per-query values: amount only)", 0.0
    return gate.fires(float(row["baseline"]), float(row["delta"]), p_adjusted), text


def _cost_gate(table: pd.DataFrame, i: int, gate: Gate, timings: _Timings) -> tuple[bool, str]:
    """Beyond the amount and beyond the noise: the ratio's whole interval past the limit."""
    row = table.loc[i]
    cell = str(row["cell"])
    baseline, delta = (float(v) for v in row[["baseline", "delta"]].to_numpy())
    confidence = 1 - (gate.alpha if gate.alpha is not None else 0.05)
    found = timings.ratio(cell, gate.metric, confidence)
    if found is None:  # no timed calls to test with: the amount decides
        return gate.fires(baseline, delta, 0.0), f"{gate.text} (amount only)"
    table.loc[i, ["n", "ci_low", "ci_high"]] = [
        found.n,
        baseline * (found.low - 1),
        baseline * (found.high - 1),
    ]
    # the machine's own slowdown widens a gate on the figure's worse direction, never narrows
    worse = (gate.direction == "rise") == (better(gate.metric) == "lower")
    allowance = timings.machine_slowdown(cell) if worse else 1.0
    fired, limit = gate.beyond_noise(found.low, found.high, baseline, allowance)
    return fired, ratio_gate_text(gate, found, limit, confidence, allowance)


def ratio_gate_text(
    gate: Gate, found: Estimate, limit: float, confidence: float, allowance: float = 1.0
) -> str:
    """'qps drop > 20%: current/baseline 0.97 [0.93, 1.01] (95%) vs limit 0.80'."""
    text = (
        f"{gate.text}: current/baseline {found.value:.2f} [{found.low:.2f}, {found.high:.2f}] "
        f"({confidence * 100:g}%) vs limit {limit:.2f}"
    )
    return text + (f" (machine {allowance:.2f}x slower)" if allowance > 1 else "")


def _joined(first: object, second: str) -> str:
    return f"{first}; {second}" if first else second
