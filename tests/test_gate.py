"""The regression gate: expectations in suites, `harness check`, `harness compare`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import SuiteError
from harness.gate.check import grade
from harness.gate.compare import Runs, compare
from harness.gate.output import compare_cases, junit_xml
from harness.gate.rules import parse_gate
from harness.spec import load_suite
from tests.conftest import QUICK_TIMING, QUICK_TIMING_FORMAT

SUITE = (
    """\
name: gated
datasets:
  - {{name: tiny, path: {path}}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}
  - {{name: bm25, kind: bm25}}
indexes:
  - {{name: exact, kind: faiss-flat}}
  - {{name: hnsw, kind: faiss-hnsw, search: {{efSearch: [16, 64]}}}}
metrics: [nDCG@10, R@100]
"""
    + QUICK_TIMING_FORMAT
)


def _runs(
    values: dict[str, np.ndarray], latency: float = 1.0, cells: list[str] | None = None
) -> Runs:
    """A run of one or more cells: per-query nDCG@10 values, the mean as the row's figure."""
    rows, per_query = [], []
    for cell in cells or ["ds/minilm/exact/-"]:
        for measure, per in values.items():
            per_query += [
                {"cell": cell, "cell_id": cell, "query_id": f"q{i}", "measure": measure, "value": v}
                for i, v in enumerate(per)
            ]
        rows.append(
            {
                "cell": cell,
                "cell_id": cell,
                "status": "ok",
                "error": "",
                "metrics": json.dumps(list(values)),
                "latency_p95_ms": latency,
                "qps": 1000.0 / latency,
            }
            | {m: float(np.mean(v)) for m, v in values.items()}
        )
    return Runs(pd.DataFrame(rows), pd.DataFrame(per_query))


def _ndcg(seed: int, n: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).beta(2, 3, size=n)


def test_identical_rerun_passes_with_p_one() -> None:
    base = _runs({"nDCG@10": _ndcg(0)})
    result = compare(base, base, ["nDCG@10"], [parse_gate("nDCG@10 drop > 0.005 p < 0.05")])
    row = result.table.set_index("figure").loc["nDCG@10"]
    assert row["delta"] == 0 and row["p"] == 1.0 and row["verdict"] == "pass"
    assert (row["ci_low"], row["ci_high"]) == (0.0, 0.0)
    assert result.failures.empty


def test_a_real_drop_fails_and_a_small_or_insignificant_one_passes() -> None:
    baseline = _ndcg(0)
    gate = [parse_gate("nDCG@10 drop > 0.005 p < 0.05")]
    noise = np.random.default_rng(1).normal(0, 0.05, baseline.size)

    def verdict(current: np.ndarray) -> str:
        result = compare(
            _runs({"nDCG@10": current}), _runs({"nDCG@10": baseline}), ["nDCG@10"], gate
        )
        return str(result.table.set_index("figure").loc["nDCG@10", "verdict"])

    assert verdict(np.clip(baseline - 0.03, 0, 1)) == "FAIL"  # large, consistent: significant
    assert verdict(baseline - 0.002) == "pass"  # significant but inside the 0.005 allowed
    # as large a mean drop, but carried by noise across 200 queries: not significant
    noisy = baseline + noise - noise.mean() - 0.006
    assert verdict(noisy) == "pass"


def test_latency_jitter_inside_the_tolerance_passes_and_a_regression_fails() -> None:
    per = {"nDCG@10": _ndcg(0)}
    gates = [parse_gate("latency_p95_ms rise > 20%")]
    for latency, expected in ((1.1, "pass"), (0.8, "pass"), (1.5, "FAIL")):
        result = compare(_runs(per, latency=latency), _runs(per), ["nDCG@10"], gates)
        assert result.table.set_index("figure").loc["latency_p95_ms", "verdict"] == expected


def test_holm_adjusts_across_every_test_of_the_comparison() -> None:
    cells = [f"ds/m{i}/exact/-" for i in range(20)]
    base = _runs({"nDCG@10": _ndcg(0)}, cells=cells)
    shifted = _runs({"nDCG@10": _ndcg(0) - 0.01 * (np.arange(200) % 3 == 0)}, cells=cells)
    result = compare(shifted, base, ["nDCG@10"], [], correction="holm")
    tested = result.table.dropna(subset=["p"])
    assert len(tested) == 20
    assert (tested["p_adjusted"] >= tested["p"]).all()
    assert np.isclose(tested["p_adjusted"].min(), min(1.0, 20 * tested["p"].min()))


def test_a_cell_missing_or_failed_in_the_current_run_fails() -> None:
    per = {"nDCG@10": _ndcg(0)}
    base = _runs(per, cells=["a/m/exact/-", "b/m/exact/-"])
    current = _runs(per, cells=["a/m/exact/-", "c/m/exact/-"])
    result = compare(current, base, ["nDCG@10"], [])
    failures = result.failures.set_index("cell")
    assert failures.loc["b/m/exact/-", "gate"] == "cell missing in this run"
    assert any("c/m/exact/-: new in this run" in note for note in result.notes)
    broken = _runs(per, cells=["a/m/exact/-", "b/m/exact/-"])
    broken.rows.loc[1, ["status", "error"]] = ["failed", "ComponentError: model gone"]
    failed = compare(broken, base, ["nDCG@10"], []).failures
    assert "cell failed in this run: ComponentError: model gone" in failed["gate"].iloc[0]


def test_gates_parse_and_reject_what_they_cannot_read() -> None:
    gate = parse_gate("nDCG@10 drop > 0.005 p < 0.05")
    assert (gate.metric, gate.direction, gate.amount, gate.relative, gate.alpha) == (
        "nDCG@10",
        "drop",
        0.005,
        False,
        0.05,
    )
    relative = parse_gate("latency_p95_ms rise > 20%")
    assert relative.relative and relative.amount == 0.2 and relative.alpha is None
    assert relative.text == "latency_p95_ms rise > 20%"
    with pytest.raises(ValueError, match="write '<metric> drop\\|rise > <amount>"):
        parse_gate("nDCG@10 falls by 0.005")
    with pytest.raises(Exception, match="'latency' is not a figure of both runs"):
        per = {"nDCG@10": _ndcg(0)}
        compare(_runs(per), _runs(per), ["nDCG@10"], [parse_gate("latency rise > 5%")])


def test_junit_report_lists_each_gate_check() -> None:
    base = _runs({"nDCG@10": _ndcg(0)})
    worse = _runs({"nDCG@10": np.clip(_ndcg(0) - 0.05, 0, 1)}, latency=1.05)
    gates = [parse_gate("nDCG@10 drop > 0.005 p < 0.05"), parse_gate("latency_p95_ms rise > 20%")]
    xml = junit_xml("gated", compare_cases(compare(worse, base, ["nDCG@10"], gates)))
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase/failure")
    assert failure is not None and "breaks 'nDCG@10 drop > 0.005 p < 0.05'" in str(
        failure.get("message")
    )


def test_expectations_name_one_cell_and_known_metrics(
    write_beir: Callable[..., Path], write_suite: Callable[[str], Path]
) -> None:
    head = SUITE.format(path=write_beir())
    ok = load_suite(
        write_suite(
            head
            + "expect:\n"
            + "  - {dataset: tiny, embedder: bm25, nDCG@10: 0.5, tolerance: 0.01}\n"
            + "  - {dataset: tiny, embedder: minilm, index: hnsw, search: {efSearch: 64}, R@100: 1}\n"
            + "gates: ['nDCG@10 drop > 0.01 p < 0.05']\n"
        )
    )
    assert [cell.key for _, cell in ok.expectations] == [
        "tiny/bm25/-/-",
        'tiny/minilm/hnsw/{"efSearch":64}',
    ]
    assert ok.gates[0].text == "nDCG@10 drop > 0.01 p < 0.05"
    bad = {
        "  - {dataset: tiny, embedder: minilm, index: hnsw, nDCG@10: 0.5}\n": "matches 2 cells",
        "  - {dataset: tiny, embedder: bm25, nDCG@1O: 0.5}\n": "'nDCG@1O' is not a metric",
        "  - {dataset: tiny, embedder: bm52, nDCG@10: 0.5}\n": "Did you mean 'bm25'",
        "  - {dataset: tiny, embedder: bm25}\n": "names at least one metric",
        "  - {dataset: tiny, embedder: bm25, nDCG@10: high}\n": "must be a number",
    }
    entry_line = head.count("\n") + 2  # below the head and the `expect:` line
    for entry, message in bad.items():
        with pytest.raises(SuiteError, match=message) as err:
            load_suite(write_suite(head + "expect:\n" + entry))
        assert f":{entry_line}:" in str(err.value)  # the line of the entry
    with pytest.raises(SuiteError, match=rf":{entry_line}: gates\[0\]: cannot read gate"):
        load_suite(write_suite(head + "gates:\n  - nDCG@10 worse than 0.01\n"))


def test_check_grades_ok_within_tolerance_and_fail(
    write_beir: Callable[..., Path], write_suite: Callable[[str], Path]
) -> None:
    suite = load_suite(
        write_suite(
            SUITE.format(path=write_beir())
            + "expect:\n"
            + "  - {dataset: tiny, embedder: bm25, nDCG@10: 0.50001, R@100: 0.9, tolerance: 0.01}\n"
            + "  - {dataset: tiny, embedder: minilm, index: exact, nDCG@10: 0.7, tolerance: 0.01}\n"
            + "  - {dataset: tiny, embedder: minilm, index: hnsw, search: {efSearch: 16}, nDCG@10: 0.7}\n"
        )
    )
    rows = pd.DataFrame(
        [
            {"cell": "tiny/bm25/-/-", "status": "ok", "error": "", "nDCG@10": 0.5, "R@100": 0.895},
            {"cell": "tiny/minilm/exact/-", "status": "ok", "error": "", "nDCG@10": 0.6},
        ]
    )
    graded = grade(suite.expected_values(), rows).set_index(["cell", "metric"])["grade"]
    assert graded[("tiny/bm25/-/-", "nDCG@10")] == "OK"
    assert graded[("tiny/bm25/-/-", "R@100")] == "within tolerance"
    assert graded[("tiny/minilm/exact/-", "nDCG@10")] == "FAIL"
    assert graded[('tiny/minilm/hnsw/{"efSearch":16}', "nDCG@10")] == "FAIL"  # never ran


@pytest.mark.slow
def test_the_gate_fails_a_degraded_embedder_and_passes_an_identical_rerun(
    data_dir: Path, tmp_path: Path
) -> None:
    """Real Cranfield runs through the CLI: MiniLM as the baseline; the same cell names with
    MiniLM cut to 32 dimensions must fail the gate; a rerun of the baseline must pass."""
    from typer.testing import CliRunner

    from harness.cli import app

    head = f"""\
name: gate-proof
datasets:
  - {{name: cranfield, path: {data_dir / "cranfield"}}}
indexes:
  - {{name: exact, kind: faiss-flat}}
metrics: [nDCG@10, R@100]
gates: ['nDCG@10 drop > 0.005 p < 0.05', 'R@100 drop > 0.005 p < 0.05']
{QUICK_TIMING.strip()}
embedders:
"""
    model = "{kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}"
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(head + f"  - {{name: minilm, {model[1:]}\n")
    degraded = tmp_path / "degraded.yaml"
    degraded.write_text(
        head
        + f"  - {{name: full, {model[1:]}\n  - {{name: minilm, kind: truncate, of: full, dim: 32}}\n"
    )
    cli = CliRunner()

    def harness(*args: object) -> tuple[int, str]:
        result = cli.invoke(app, [str(a) for a in args])
        return result.exit_code, result.output

    for suite, out in ((baseline, "base"), (baseline, "rerun"), (degraded, "degraded")):
        code, output = harness("run", suite, "--out", tmp_path / out)
        assert code == 0, output
    code, output = harness("compare", tmp_path / "rerun", "--baseline", tmp_path / "base")
    assert code == 0, output
    assert "pass: 2 gate checks pass" in output
    summary = tmp_path / "summary.md"
    junit = tmp_path / "junit.xml"
    code, output = harness(
        "compare", tmp_path / "degraded", "--baseline", tmp_path / "base",
        "--markdown", summary, "--junit", junit,
    )  # fmt: skip
    assert code == 1, output
    assert "FAIL: 2 of 2 gate checks fail" in output
    assert "1 cell(s) ran with other settings or data than the baseline's" in output
    assert "**FAIL**: 2 of 2 gate checks fail" in summary.read_text()
    assert ET.parse(junit).getroot().get("failures") == "2"
