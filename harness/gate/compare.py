"""`harness compare`: a run against a baseline run, cell by cell, with significance and gates.

Cells are matched by their key (dataset / embedder / index / search), so a changed model or
setting under the same names is compared with what it replaced. Every metric and cost figure
gets its delta. Each quality metric also gets a paired randomisation test and a bootstrap CI
over the queries both runs judged; p-values are adjusted across all those tests (Holm by
default). A gate fails a cell when its figure moves the wrong way by more than the gate's
amount and, for gates with a p threshold, the adjusted p is below it. A cell of the baseline
that is missing or failed in the current run fails too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.gate.rules import Gate
from harness.gate.stats import Adjustment, adjust, compare_paired

COST_FIGURES = (
    "qps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "build_s",
    "index_bytes",
    "bytes_per_vector",
    "vector_bytes",
    "peak_rss_bytes",
    "docs_per_s",
    "queries_per_s",
)
"""Figures compared without a per-query test (no per-query values exist for them), with the
ANN recall columns (ann_recall@10, ann_recall@<k>)."""

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


@dataclass(frozen=True)
class Runs:
    """One side of a comparison: a run's rows and per-query values (results views)."""

    rows: pd.DataFrame
    per_query: pd.DataFrame


@dataclass
class Comparison:
    table: pd.DataFrame
    """One row per cell and figure (COLUMNS); verdict FAIL, pass (gated) or '' (not gated)."""
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "FAIL"]


def compare(
    current: Runs,
    baseline: Runs,
    metrics: list[str],
    gates: list[Gate],
    *,
    correction: Adjustment = "holm",
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare `current` with `baseline` on `metrics` (per-query tested) and the cost figures."""
    cur, base = _by_cell(current.rows), _by_cell(baseline.rows)
    ann = [c for c in cur.columns if c.startswith("ann_recall@")]
    shared = [f for f in (*ann, *COST_FIGURES) if f in cur.columns and f in base.columns]
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
    _apply_gates(table, gates)
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


def _apply_gates(table: pd.DataFrame, gates: list[Gate]) -> None:
    for gate in gates:
        for i in table.index[table["figure"] == gate.metric].tolist():
            row = table.loc[i]
            missing = [pd.isna(row["baseline"]), pd.isna(row["current"])]
            if all(missing):  # the figure does not apply to this cell (e.g. ANN recall of BM25)
                continue
            if any(missing):
                table.loc[i, ["gate", "verdict"]] = [f"{gate.text} (no value on one side)", "FAIL"]
                continue
            p_adjusted = None if pd.isna(row["p_adjusted"]) else float(row["p_adjusted"])
            text = gate.text
            if gate.alpha is not None and p_adjusted is None:  # untestable: the amount decides
                text, p_adjusted = f"{gate.text} (no per-query values: amount only)", 0.0
            table.loc[i, "gate"] = _joined(table.loc[i, "gate"], text)
            fired = gate.fires(float(row["baseline"]), float(row["delta"]), p_adjusted)
            if fired or table.loc[i, "verdict"] == "FAIL":
                table.loc[i, "verdict"] = "FAIL"
            else:
                table.loc[i, "verdict"] = "pass"


def _joined(first: object, second: str) -> str:
    return f"{first}; {second}" if first else second
