"""The results store: resume, locking, TREC run files, queries across runs, old schemas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import pytrec_eval
from typer.testing import CliRunner

from harness.cli import app
from harness.gate.compare import Runs, compare
from harness.gate.rules import default_gates
from harness.report.leaderboard import leaderboard
from harness.results import ResultsStore, Views, read_views, select, upgrade
from tests.conftest import QUICK_TIMING_FORMAT, WriteBeir

GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()

TINY_SUITE = (
    """\
name: tiny
datasets:
  - {{name: tiny, path: {path}}}
embedders:
  - {{name: bm25, kind: bm25}}
  - {{name: bm25-plain, kind: bm25, stemmer: null}}
metrics: [nDCG@10, RR@10]
"""
    + QUICK_TIMING_FORMAT
)


def _rows_files(folder: Path) -> list[Path]:
    return ResultsStore(folder).row_files()


def test_a_second_run_skips_finished_cells_and_force_recomputes(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    suite, out = write_suite(TINY_SUITE.format(path=write_beir())), tmp_path / "out"
    assert runner.invoke(app, ["run", str(suite), "--out", str(out)]).exit_code == 0
    first = pd.read_parquet(out / "runs.parquet")
    again = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert again.exit_code == 0 and again.output.count("done earlier") == 2
    assert len(_rows_files(out)) == 2  # nothing computed twice
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), first)
    forced = runner.invoke(app, ["run", str(suite), "--out", str(out), "--force"])
    assert forced.exit_code == 0 and "done earlier" not in forced.output
    assert len(_rows_files(out)) == 4  # both runs' rows are kept: runs accumulate
    assert len(select([out])) == 4 and len(select([out], latest=True)) == 2


def test_changing_a_setting_makes_a_new_cell(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    path, out = write_beir(), tmp_path / "out"
    runner.invoke(app, ["run", str(write_suite(TINY_SUITE.format(path=path))), "--out", str(out)])
    changed = write_suite(
        TINY_SUITE.format(path=path).replace("stemmer: null", "stemmer: null, k1: 2.0")
    )
    result = runner.invoke(app, ["run", str(changed), "--out", str(out)])
    assert result.output.count("done earlier") == 1  # bm25 unchanged; bm25-plain recomputed
    assert len(pd.read_parquet(out / "runs.parquet")) == 2


def test_a_second_writer_gets_a_clear_error(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    suite, out = write_suite(TINY_SUITE.format(path=write_beir())), tmp_path / "out"
    with ResultsStore(out).lock():
        result = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 2
    assert f"{out}: another harness run (pid {os.getpid()}) is writing here" in result.output
    assert runner.invoke(app, ["run", str(suite), "--out", str(out)]).exit_code == 0  # released


def test_trec_run_files_reproduce_the_scores_with_trec_eval(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    suite, out = write_suite(TINY_SUITE.format(path=write_beir())), tmp_path / "out"
    runner.invoke(app, ["run", str(suite), "--out", str(out)])
    runs = pd.read_parquet(out / "runs.parquet")
    qrels = {"q1": {"d4": 2, "d1": 1}, "q2": {"d2": 1}}
    for _, row in runs.iterrows():
        (trec,) = (out / "trec").glob(f"*/{row['cell_id']}.trec")
        run: dict[str, dict[str, float]] = {}
        for line in trec.read_text().splitlines():
            qid, q0, doc, rank, score, tag = line.split()
            assert q0 == "Q0" and int(rank) >= 1 and tag == f"harness.{row['cell_id']}"
            run.setdefault(qid, {})[doc] = float(score)
        scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
        mean = sum(s["ndcg_cut_10"] for s in scores.values()) / len(qrels)
        assert mean == pytest.approx(row["nDCG@10"], abs=1e-6)


def test_results_written_by_schema_1_keep_loading(tmp_path: Path) -> None:
    """A runs.parquet from harness 0.1 (schema 1, before the store), committed as a golden file."""
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "runs.parquet").write_bytes((GOLDEN / "runs-schema1.parquet").read_bytes())
    rows = select([folder], where="dataset = 'scifact' AND embedder = 'minilm' AND index = 'exact'")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["schema_version"] == 3 and row["cell_id"].startswith("schema1.")
    assert round(row["nDCG@10"], 4) == 0.6451 and round(row["R@100"], 4) == 0.925
    assert row["metrics"] == '["nDCG@10", "R@100", "RR@10"]'
    listed = runner.invoke(app, ["results", str(folder), "--where", "embedder = 'bm25'"])
    assert listed.exit_code == 0 and "0.6713" in listed.output


def test_results_command_filters_and_exports(
    write_beir: WriteBeir, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    suite, out = write_suite(TINY_SUITE.format(path=write_beir())), tmp_path / "results" / "tiny"
    runner.invoke(app, ["run", str(suite), "--out", str(out)])
    export = tmp_path / "plain.csv"
    result = runner.invoke(
        app,
        [
            "results",
            str(tmp_path / "results"),
            "--where",
            "embedder = 'bm25-plain'",
            "--export",
            str(export),
        ],
    )
    assert result.exit_code == 0, result.output
    exported = pd.read_csv(export)
    assert exported["embedder"].tolist() == ["bm25-plain"]
    assert {"run_id", "git_sha", "timestamp", "harness_version", "schema_version"} <= set(
        exported.columns
    )
    bad = runner.invoke(app, ["results", str(tmp_path / "results"), "--where", "nope = 1"])
    assert bad.exit_code == 2 and "nope" in bad.output


KILL_SUITE = (
    """\
name: kill
datasets:
  - {{name: vaswani, path: {data}/vaswani}}
embedders:
{embedders}
metrics: [nDCG@10, R@100, AP]
"""
    + QUICK_TIMING_FORMAT
)


def test_a_run_killed_mid_grid_resumes_to_the_same_table(data_dir: Path, tmp_path: Path) -> None:
    embedders = "\n".join(
        f"  - {{name: bm25-k{k1}, kind: bm25, k1: {k1}}}" for k1 in (0.5, 0.7, 0.9, 1.2, 1.5, 2.0)
    )
    suite = tmp_path / "kill.yaml"
    suite.write_text(KILL_SUITE.format(data=data_dir, embedders=embedders))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    command = [sys.executable, "-m", "harness", "run", str(suite), "--out"]

    process = subprocess.Popen(
        [*command, str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while len(_rows_files(killed)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = {p.name for p in _rows_files(killed)}
    assert 2 <= len(done_before) < 6, "the kill must land mid-grid"

    subprocess.run([*command, str(killed)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*command, str(clean)], check=True, stdout=subprocess.DEVNULL)

    names = [p.name for p in _rows_files(killed)]
    assert len(names) == len(set(names)) == 6  # every cell computed exactly once
    metrics = [
        "cell_id",
        "cell",
        "status",
        "nDCG@10",
        "R@100",
        "AP",
        "n_queries",
        "dataset_fingerprint",
    ]
    resumed = pd.read_parquet(killed / "runs.parquet")[metrics].sort_values(
        "cell_id", ignore_index=True
    )
    uninterrupted = pd.read_parquet(clean / "runs.parquet")[metrics].sort_values(
        "cell_id", ignore_index=True
    )
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    per_query = pd.read_parquet(killed / "per_query.parquet")
    assert per_query.groupby("cell_id").size().eq(93 * 3).all()


def test_results_written_by_schema_2_keep_loading_with_new_figures_missing(
    tmp_path: Path,
) -> None:
    """The CI gate's baseline as harness wrote it before timed calls were kept (schema 2)."""
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "runs.parquet").write_bytes((GOLDEN / "runs-schema2.parquet").read_bytes())
    (folder / "per_query.parquet").write_bytes((GOLDEN / "per_query-schema2.parquet").read_bytes())
    views = read_views(folder)
    rows = views.rows.set_index("cell")
    assert (rows["schema_version"] == 3).all() and views.timings.empty
    for new in ("e2e_qps", "qps_low", "latency_p50_ms_n", "threads", "index_rss_bytes"):
        assert rows[new].isna().all(), new  # missing, never zero
    assert rows.loc["cranfield/bm25/-/-", "qps"] > 0  # what schema 2 measured is kept
    board = leaderboard(views.rows, ["nDCG@10"])  # figures without intervals print bare
    assert board.stage == "search" and not board.shown["QPS (search)"].str.contains("±").any()
    listed = runner.invoke(app, ["leaderboard", str(folder)])
    assert listed.exit_code == 0 and "0.3817" in listed.output


def test_a_new_run_compares_with_a_schema_2_baseline_by_amount_alone() -> None:
    old = read_views_from(GOLDEN, "schema2")
    new = old.rows.assign(e2e_latency_p50_ms=12.0, latency_p50_ms=old.rows["latency_p50_ms"] * 1.1)
    result = compare(
        Runs(new, old.per_query),
        Runs(old.rows, old.per_query),
        ["nDCG@10"],
        default_gates(["nDCG@10"]),
    )
    assert result.failures.empty
    gated = result.table[result.table["figure"] == "latency_p50_ms"]
    assert (gated["verdict"] == "pass").all() and gated["gate"].str.contains("amount only").all()
    assert any("e2e_latency_p50_ms: not recorded by the baseline" in n for n in result.notes)


def read_views_from(folder: Path, schema: str) -> Views:
    """The golden files of one schema, read as a results folder's views."""
    rows = upgrade(pd.read_parquet(folder / f"runs-{schema}.parquet"))
    per_query = pd.read_parquet(folder / f"per_query-{schema}.parquet")
    return Views(rows, per_query, pd.DataFrame(), {})
