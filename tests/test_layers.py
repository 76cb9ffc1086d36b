"""The results store is the seam: what reads it (reports, gates) imports neither the runner, a
component, the suite parser nor a model library, so `harness compare` in CI stays light."""

from __future__ import annotations

import json
import subprocess
import sys

READERS = [
    "harness.results",
    "harness.record",
    "harness.report",
    "harness.report.fair",
    "harness.report.plots",
    "harness.report.conditions",
    "harness.report.slices",
    "harness.report.tier_validation",
    "harness.gate.check",
    "harness.gate.compare",
    "harness.gate.output",
    "harness.gate.rules",
]
WRITERS_AND_COMPONENTS = (
    "harness.runner",
    "harness.plan",
    "harness.executors",
    "harness.spec",
    "harness.embedders",
    "harness.indexes",
    "harness.datasets",
    "harness.evaluate",
    "harness.measure",
    "harness.cache",
    "harness.bench",
    "torch",
    "sentence_transformers",
    "faiss",
    "onnxruntime",
    "ray",
)


def test_the_store_reports_and_gates_import_no_runner_component_or_model() -> None:
    script = (
        f"import importlib, json, sys\nfor m in {READERS!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", script]))
    leaked = [m for m in loaded if m.startswith(WRITERS_AND_COMPONENTS)]
    assert leaked == []
