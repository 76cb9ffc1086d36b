"""`harness bench-compare`: two configurations timed alternately in one process."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.bench import pair_cells
from harness.cli import app
from harness.errors import HarnessError
from harness.spec import load_suite
from harness.spread import Series, interleaved_ratio
from tests.conftest import WriteBeir

LEXICAL = """\
name: {name}
datasets:
  - {{name: tiny, path: {path}}}
embedders:
  - {{name: bm25, kind: {kind}}}
metrics: [nDCG@10]
timing: {{warmup_s: 0.05, latency_min_s: 0.2, batch_min_s: 0.1}}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_a_candidate_twice_as_slow_fails_and_the_same_configuration_passes(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    data = write_beir()
    base = _write(tmp_path, "base", LEXICAL.format(name="base", path=data, kind="bm25"))
    same = _write(tmp_path, "same", LEXICAL.format(name="same", path=data, kind="bm25"))
    slow = _write(
        tmp_path, "slow", LEXICAL.format(name="slow", path=data, kind="test-doubled-bm25")
    )
    runner = CliRunner()
    passed = runner.invoke(app, ["bench-compare", str(same), "--baseline", str(base)])
    assert passed.exit_code == 0, passed.output
    assert "pass: 3 gate checks pass" in passed.output and "10 rounds" in passed.output
    junit = tmp_path / "bench.xml"
    command = ["bench-compare", str(slow), "--baseline", str(base), "--rounds", "6"]
    failed = runner.invoke(app, [*command, "--junit", str(junit)])
    assert failed.exit_code == 1, failed.output
    assert "6 rounds, baseline and candidate alternating" in failed.output
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    # the run fails (exit 1 above); which of the three gates catch it is the noise's to decide
    assert len(cases) == 3 and any(case.find("failure") is not None for case in cases)


def test_cells_pair_by_names_and_settings_in_order(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    head = f"""\
name: {{name}}
datasets:
  - {{{{name: tiny, path: {write_beir()}}}}}
embedders:
  - {{{{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}}}
indexes:
  - {{{{name: hnsw, kind: faiss-hnsw, search: {{{{efSearch: {{ef}}}}}}}}}}
metrics: [nDCG@10]
"""
    base = load_suite(_write(tmp_path, "a", head.format(name="a", ef="[16, 64]")))
    wider = load_suite(_write(tmp_path, "b", head.format(name="b", ef="[64, 512]")))
    pairs = pair_cells(base, wider)
    assert [(p.baseline.search, p.candidate.search) for p in pairs] == [
        ('{"efSearch":16}', '{"efSearch":64}'),
        ('{"efSearch":64}', '{"efSearch":512}'),
    ]
    assert pairs[0].label == 'tiny/minilm/hnsw/{"efSearch":16} -> {"efSearch":64}'
    fewer = load_suite(_write(tmp_path, "c", head.format(name="c", ef="[64]")))
    with pytest.raises(HarnessError, match=r"2 search setting\(s\) in .* but 1 in"):
        pair_cells(base, fewer)


def test_the_ratio_is_the_median_over_rounds_of_candidate_over_baseline() -> None:
    rounds = np.repeat(np.arange(4), 3)
    base = {"search.batch": Series.of([1, 1, 1, 2, 2, 2, 1, 1, 1, 4, 4, 4], rounds)}
    # the machine doubled its speed in round 1 and halved it in round 3: both sides saw it
    cand = {"search.batch": Series.of([2, 2, 2, 4, 4, 4, 2, 2, 2, 9, 9, 9], rounds)}
    found = interleaved_ratio("qps", base, cand, 10)
    assert found is not None
    ratio, then, now = found
    assert then.tolist() == [10, 5, 10, 2.5] and now.tolist() == [5, 2.5, 5, 10 / 9]
    assert ratio.value == pytest.approx(0.5) and ratio.n == 4
    assert ratio.low <= 0.5 <= ratio.high
