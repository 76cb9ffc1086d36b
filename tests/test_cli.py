from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from harness.cli import app
from tests.conftest import QUICK_TIMING, QUICK_TIMING_FORMAT, WriteBeir

runner = CliRunner()


def test_help_imports_neither_torch_nor_faiss() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from harness.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = {'torch', 'faiss', 'sentence_transformers', 'pandas'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


LEXICAL_SUITE = (
    """\
name: lexical
datasets:
  - {{name: good, path: {good}}}
  - {{name: broken, path: {broken}}}
embedders:
  - {{name: bm25, kind: bm25}}
  - {{name: bm25-plain, kind: bm25, stemmer: null, stopwords: null, k1: 1.2, b: 0.75}}
metrics: [nDCG@10, RR@10, R@100]
"""
    + QUICK_TIMING_FORMAT
)


def test_validate_and_dry_run(write_beir: WriteBeir, write_suite: Callable[[str], Path]) -> None:
    suite = write_suite(LEXICAL_SUITE.format(good=write_beir("good"), broken=write_beir("broken")))
    result = runner.invoke(app, ["validate", str(suite)])
    assert result.exit_code == 0, result.output
    assert "ok: 4 cells, k=100" in result.output
    result = runner.invoke(app, ["run", str(suite), "--dry-run"])
    assert result.exit_code == 0 and "bm25-plain" in result.output


def test_validate_reports_one_line_error_with_exit_2(write_suite: Callable[[str], Path]) -> None:
    suite = write_suite("name: x\ndatasets: []\n")
    result = runner.invoke(app, ["validate", str(suite)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert f"error: {suite}:2: datasets: List should have at least 1 item" in result.output


def test_a_corrupt_dataset_fails_its_cells_and_keeps_the_others(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    good = write_beir("good")
    broken = write_beir("broken", corpus='{"_id": "d1", "text": "fine"}\n{"_id": "d2", "text": \n')
    out = tmp_path / "out"
    suite = write_suite(LEXICAL_SUITE.format(good=good, broken=broken))
    result = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 1, result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs["status"]) == ["ok", "ok", "failed", "failed"]
    failed = runs[runs["status"] == "failed"]
    assert failed["error"].str.contains(r"corpus.jsonl:2: malformed JSON").all()
    ok = runs[runs["status"] == "ok"].set_index("embedder")
    # hand-checked: "young cats" finds the kitten document (grade 2) first with stemming on
    assert ok.loc["bm25", "dataset_fingerprint"] and ok.loc["bm25", "n_queries"] == 2
    assert 0 < ok.loc["bm25", "nDCG@10"] <= 1
    assert (out / "leaderboard.md").read_text().count("| good |") == 2


def test_run_writes_every_artefact(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    suite = write_suite(LEXICAL_SUITE.format(good=write_beir("good"), broken=write_beir("other")))
    result = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in (
        "runs.parquet",
        "per_query.parquet",
        "leaderboard.md",
        "leaderboard.csv",
        "manifest.json",
        "plots/good-ndcg_10-vs-qps.png",
        "plots/broken-ndcg_10-vs-qps.png",
    ):
        assert (out / name).is_file(), name
    runs = pd.read_parquet(out / "runs.parquet")
    for column in (
        "suite",
        "run_id",
        "dataset",
        "embedder",
        "model",
        "index",
        "search_params",
        "nDCG@10",
        "RR@10",
        "R@100",
        "build_s",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "qps",
        "peak_rss_bytes",
        "index_bytes",
        "bytes_per_vector",
        "dataset_fingerprint",
        "git_sha",
        "harness_version",
        "schema_version",
    ):
        assert column in runs, column
    per_query = pd.read_parquet(out / "per_query.parquet")
    assert len(per_query) == 4 * 3 * 2  # cells x metrics x judged queries
    means = per_query.groupby(["cell", "measure"])["value"].mean()
    for _, row in runs.iterrows():
        assert means[(row["cell"], "nDCG@10")] == row["nDCG@10"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"packages", "cpu", "cpu_count", "threads", "git_sha", "datasets"} <= set(manifest)
    assert (
        manifest["datasets"]["good"]["dataset_fingerprint"] == runs["dataset_fingerprint"].iloc[0]
    )


def test_leaderboard_across_folders_ranks_an_incomplete_grid_and_shows_the_gap(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    quickstart = Path(__file__).resolve().parent.parent / "suites" / "data" / "quickstart"
    both = tmp_path / "both.yaml"
    both.write_text(
        "name: both\ndatasets:\n"
        f"  - {{name: tiny, path: {write_beir()}}}\n  - {{name: quick, path: {quickstart}}}\n"
        "embedders:\n  - {name: bm25, kind: bm25}\nmetrics: [nDCG@10]\n" + QUICK_TIMING
    )
    one = tmp_path / "one.yaml"
    one.write_text(
        f"name: one\ndatasets:\n  - {{name: quick, path: {quickstart}}}\n"
        "embedders:\n  - {name: bm25-plain, kind: bm25, stemmer: null, stopwords: null}\n"
        "metrics: [nDCG@10]\n" + QUICK_TIMING
    )
    for suite in (both, one):
        result = runner.invoke(app, ["run", str(suite), "--out", str(tmp_path / suite.stem)])
        assert result.exit_code == 0, result.output
    board = tmp_path / "board.md"
    result = runner.invoke(app, ["leaderboard", str(tmp_path), "--markdown", str(board)])
    assert result.exit_code == 0, result.output
    text = board.read_text()
    assert re.search(r"\| bm25-plain \| 0\.\d{4} \| — \|", text)  # never ran tiny: a gap
    assert "mean over shared (quick)" in text
    assert "Bradley-Terry" in text and "a missing cell costs nothing" in text
    wrong = runner.invoke(app, ["leaderboard", str(tmp_path), "--by", "modle"])
    assert wrong.exit_code == 2 and "--by modle: no such column" in wrong.output
    assert "Did you mean 'model'?" in wrong.output
