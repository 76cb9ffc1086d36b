"""Gate results as Markdown (a CI job summary) and JUnit XML (CI test reports)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pandas as pd

from harness.gate.compare import Comparison


@dataclass(frozen=True)
class Case:
    """One JUnit test case: a graded expectation or a gate applied to one cell."""

    classname: str
    name: str
    failure: str | None


def check_cases(graded: pd.DataFrame) -> list[Case]:
    return [
        Case(
            row["cell"],
            f"{row['metric']} = {row['expected']:.4f} ± {row['tolerance']:g}",
            _check_failure(row) if row["grade"] == "FAIL" else None,
        )
        for _, row in graded.iterrows()
    ]


def compare_cases(comparison: Comparison) -> list[Case]:
    gated = comparison.table[comparison.table["verdict"] != ""]
    return [
        Case(
            row["cell"],
            f"{row['figure']}: {row['gate']}",
            _compare_failure(row) if row["verdict"] == "FAIL" else None,
        )
        for _, row in gated.iterrows()
    ]


def junit_xml(suite: str, cases: list[Case]) -> str:
    failures = sum(c.failure is not None for c in cases)
    root = ET.Element("testsuites", name="harness", tests=str(len(cases)), failures=str(failures))
    group = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0"
    )
    for case in cases:
        element = ET.SubElement(group, "testcase", classname=case.classname, name=case.name)
        if case.failure is not None:
            ET.SubElement(element, "failure", message=case.failure).text = case.failure
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def check_display(graded: pd.DataFrame) -> pd.DataFrame:
    """The graded expectations as printable strings."""
    return pd.DataFrame(
        {
            "cell": graded["cell"],
            "metric": graded["metric"],
            "expected": graded["expected"].map(lambda v: f"{v:.4f}"),
            "actual": graded["actual"].map(_number),
            "delta": graded["delta"].map(_signed),
            "tolerance": graded["tolerance"].map(lambda v: f"{v:g}"),
            "grade": [
                g + (f" ({n})" if n else "")
                for g, n in zip(graded["grade"], graded["note"], strict=True)
            ],
        }
    )


def check_verdict(graded: pd.DataFrame) -> str:
    failed = int((graded["grade"] == "FAIL").sum())
    if failed:
        return (
            f"FAIL: {failed} of {len(graded)} expected values are off by more than their tolerance"
        )
    return f"pass: {len(graded)} expected values reproduced"


def compare_display(
    comparison: Comparison, metrics: list[str], every_figure: bool = False
) -> pd.DataFrame:
    """Quality metrics of every cell and every gated figure (or every figure), failures
    first, as strings."""
    table = comparison.table
    shown = (
        table if every_figure else table[(table["verdict"] != "") | table["figure"].isin(metrics)]
    )
    shown = shown.sort_values("verdict", key=lambda v: v != "FAIL", kind="stable")
    return pd.DataFrame(
        {
            "cell": shown["cell"],
            "figure": shown["figure"],
            "baseline": shown["baseline"].map(_number),
            "current": shown["current"].map(_number),
            "delta": [_delta(row) for _, row in shown.iterrows()],
            "95% CI": [_ci(row) for _, row in shown.iterrows()],
            "p (adj.)": shown["p_adjusted"].map(_p),
            "gate": shown["gate"].replace("", "—"),
            "verdict": shown["verdict"].replace("", "—"),
        }
    )


def compare_verdict(comparison: Comparison) -> str:
    gated = int((comparison.table["verdict"] != "").sum())
    failed = len(comparison.failures)
    if failed:
        return f"FAIL: {failed} of {gated} gate checks fail"
    return f"pass: {gated} gate checks pass"


def markdown(display: pd.DataFrame, title: str, verdict: str, notes: list[str]) -> str:
    """A Markdown section: title, verdict in bold, the table, notes as a list."""
    head, _, rest = verdict.partition(":")
    columns = list(display.columns)
    lines = [f"### {title}", "", f"**{head}**:{rest}", ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in display.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines).rstrip() + "\n"


def _check_failure(row: pd.Series) -> str:
    if row["note"]:
        return f"{row['metric']}: {row['note']}"
    return (
        f"{row['metric']} = {row['actual']:.4f}, expected {row['expected']:.4f} ± "
        f"{row['tolerance']:g} (off by {_signed(row['delta'])})"
    )


def _compare_failure(row: pd.Series) -> str:
    if row["figure"] == "status":
        return str(row["gate"])
    p = f", p (adjusted) = {_p(row['p_adjusted'])}" if not pd.isna(row["p_adjusted"]) else ""
    return (
        f"{row['figure']} {_number(row['baseline'])} -> {_number(row['current'])} "
        f"({_delta(row)}{p}) breaks '{row['gate']}'"
    )


def _ci(row: pd.Series) -> str:
    if pd.isna(row["ci_low"]):
        return "—"
    return f"[{_signed(row['ci_low'])}, {_signed(row['ci_high'])}]"


def _delta(row: pd.Series) -> str:
    if pd.isna(row["delta"]):
        return "—"
    relative = f" ({row['change'] * 100:+.1f}%)" if not pd.isna(row["change"]) else ""
    return _signed(row["delta"]) + relative


def _number(value: object) -> str:
    if not isinstance(value, float | int) or math.isnan(value):
        return "—"
    return (
        f"{value:,.0f}"
        if abs(value) >= 1000
        else f"{value:.4g}"
        if abs(value) >= 10
        else f"{value:.4f}"
    )


def _signed(value: object) -> str:
    if not isinstance(value, float | int) or math.isnan(value):
        return "—"
    text = f"{value:+,.0f}" if abs(value) >= 1000 else f"{value:+.4f}"
    return text[1:] if text in ("+0.0000", "-0.0000") else text


def _p(value: object) -> str:
    if not isinstance(value, float | int) or math.isnan(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"
