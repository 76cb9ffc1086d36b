"""Gate results as Markdown (a CI job summary) and JUnit XML (CI test reports)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pandas as pd

from harness.figures import MISSING, format_p, format_signed, format_value, markdown_table
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
            f"{row['metric']} = {format_value(row['metric'], row['expected'])} ± "
            f"{row['tolerance']:g}",
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
            "expected": [
                format_value(m, v)
                for m, v in zip(graded["metric"], graded["expected"], strict=True)
            ],
            "actual": [
                format_value(m, v) for m, v in zip(graded["metric"], graded["actual"], strict=True)
            ],
            "delta": [
                format_signed(m, v) for m, v in zip(graded["metric"], graded["delta"], strict=True)
            ],
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
            "baseline": [_value(row, "baseline") for _, row in shown.iterrows()],
            "current": [_value(row, "current") for _, row in shown.iterrows()],
            "delta": [_delta(row) for _, row in shown.iterrows()],
            "95% CI": [_ci(row) for _, row in shown.iterrows()],
            "p (adj.)": shown["p_adjusted"].map(format_p),
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
    lines = [f"### {title}", "", f"**{head}**:{rest}", "", markdown_table(display)]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def _check_failure(row: pd.Series) -> str:
    if row["note"]:
        return f"{row['metric']}: {row['note']}"
    return (
        f"{row['metric']} = {format_value(row['metric'], row['actual'])}, expected "
        f"{format_value(row['metric'], row['expected'])} ± {row['tolerance']:g} "
        f"(off by {format_signed(row['metric'], row['delta'])})"
    )


def _compare_failure(row: pd.Series) -> str:
    if row["figure"] == "status":
        return str(row["gate"])
    p = f", p (adjusted) = {format_p(row['p_adjusted'])}" if not pd.isna(row["p_adjusted"]) else ""
    return (
        f"{row['figure']} {_value(row, 'baseline')} -> {_value(row, 'current')} "
        f"({_delta(row)}{p}) breaks '{row['gate']}'"
    )


def _ci(row: pd.Series) -> str:
    if pd.isna(row["ci_low"]):
        return MISSING
    figure = str(row["figure"])
    return f"[{format_signed(figure, row['ci_low'])}, {format_signed(figure, row['ci_high'])}]"


def _delta(row: pd.Series) -> str:
    if pd.isna(row["delta"]):
        return MISSING
    relative = f" ({row['change'] * 100:+.1f}%)" if not pd.isna(row["change"]) else ""
    return format_signed(str(row["figure"]), row["delta"]) + relative


def _value(row: pd.Series, side: str) -> str:
    return format_value(str(row["figure"]), row[side])
