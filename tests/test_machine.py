"""The machine under the figures: threads pinned and recorded, load and others' CPU per cell,
a warning when the machine was busy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.embedders import EMBEDDERS
from harness.embedders.bm25 import BM25Retriever
from harness.machine import cpu_snapshot, others_cpu
from harness.report.conditions import machine_warnings
from tests.conftest import WriteBeir

CPUS = sorted(os.sched_getaffinity(0))


@EMBEDDERS.register("test-affinity-bm25")
class AffinityBM25(BM25Retriever):
    """BM25 that notes how many CPUs its process may use whenever it searches."""

    family: ClassVar[Any] = "lexical"
    seen: ClassVar[list[tuple[int, int]]] = []

    def search(self, encoded: Any, k: int, threads: int = 1) -> Any:
        self.seen.append((threads, len(os.sched_getaffinity(0))))
        return super().search(encoded, k, threads)


SUITE = """\
name: machine
datasets:
  - {{name: tiny, path: {path}}}
embedders:
  - {{name: bm25, kind: test-affinity-bm25}}
metrics: [nDCG@10]
threads: {threads}
timing: {{warmup_s: 0.05, latency_min_s: {seconds}, batch_min_s: 0.1}}
"""


@contextmanager
def busy_cpu(cpu: int) -> Iterator[None]:
    """Another process spinning on `cpu` for the duration (bounded: it stops itself)."""
    spin = f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\nend = time.time() + 60\n"
    spin += "while time.time() < end: pass\n"
    hog = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)
        yield
    finally:
        hog.kill()
        hog.wait()


@pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs: one to pin, one to sweep")
def test_threads_are_pinned_recorded_and_written_to_the_manifest(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    AffinityBM25.seen.clear()
    suite = write_suite(SUITE.format(path=write_beir(), threads="[1, 2]", seconds=0.1))
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert set(AffinityBM25.seen) == {(1, 1), (2, 2)}  # each cell searched on its own CPUs
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet").set_index("cell")
    assert runs.loc["tiny/bm25/-/-", "threads"] == 1
    assert runs.loc["tiny/bm25/-/-/threads=2", "threads"] == 2
    assert runs[["load_start", "load_end", "other_cpu", "probe_ms"]].notna().all().all()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for key in ("cpu", "cpu_count", "cpus_usable", "governor", "load_start", "load_end"):
        assert key in manifest
    assert isinstance(manifest["warnings"], list) and manifest["timing"]["rounds"] == 1
    assert [c["threads"] for c in manifest["cells"]] == [1, 2]
    assert all(c["load_start"] is not None and c["other_cpu"] >= 0 for c in manifest["cells"])


@pytest.mark.skipif(len(CPUS) < 2, reason="needs a CPU for the other process")
def test_cpu_another_process_takes_is_measured() -> None:
    start = cpu_snapshot()
    with busy_cpu(CPUS[0]):
        time.sleep(1.0)
        end = cpu_snapshot()
    assert 0.6 <= others_cpu(start, end) <= 1.5  # one core, give or take the sleeps


@pytest.mark.skipif(len(CPUS) < 2, reason="needs a CPU for the other process")
def test_a_run_on_a_busy_machine_warns(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    suite = write_suite(SUITE.format(path=write_beir(), threads=1, seconds=1.0))
    with busy_cpu(CPUS[0]):  # the search is pinned to the last CPU; this spins on the first
        result = CliRunner().invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning: the machine was busy during 1 of 1 cells" in result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert any("busy" in warning for warning in manifest["warnings"])


def test_machine_warnings_name_what_was_not_quiet() -> None:
    rows = pd.DataFrame(
        {
            "cell": ["a", "b", "c"],
            "status": ["ok", "ok", "ok"],
            "other_cpu": [0.01, 0.9, 0.02],
            "load_start": [0.5, 3.1, 0.4],
            "load_end": [0.6, 2.0, 0.5],
            "probe_ms": [2.0, 2.1, 3.0],
        }
    )
    busy, loaded, drifted = machine_warnings(rows, cpus=2)
    assert busy.startswith("the machine was busy during 1 of 3 cells") and "(e.g. b)" in busy
    assert loaded == "load average reached 3.10 on 2 CPUs while cells were timed"
    assert "1.50x as long in c" in drifted
    quiet = rows.assign(other_cpu=0.0, load_start=0.1, load_end=0.1, probe_ms=2.0)
    assert machine_warnings(quiet, cpus=2) == []
