"""Fault injection: every bad input and every fault ends in one clear line naming the file, the
README's exit code (0 ok, 1 failed cells or gate, 2 bad input), nothing already computed lost
and nothing half-written. Numbers refer to the cases of the issue that asked for this."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
from click.testing import Result
from typer.testing import CliRunner

from harness import results
from harness.cache import EmbeddingCache
from harness.cli import app
from harness.datasets.beir import load_beir_folder
from harness.errors import DatasetError
from harness.evaluate import AVERAGING, evaluate
from harness.gate.compare import paired, parse_pairing
from harness.record import CellKey, CellRecord, EmbedderInfo, RunStamp, SuiteInfo
from harness.report.fair import fair_leaderboard
from harness.results import ResultsStore
from harness.spec import load_suite
from tests.conftest import QUICK_TIMING_FORMAT, TINY_QRELS, WriteBeir

runner = CliRunner()

SUITE = (
    """\
name: faults
datasets:
  - {{name: tiny, path: {path}}}
embedders:
{embedders}
metrics: [nDCG@10, RR@10]
"""
    + QUICK_TIMING_FORMAT
)


def bm25_suite(folder: Path, data: Path, n: int = 3) -> Path:
    """A suite of `n` BM25 cells (k1 varies) on `data`."""
    embedders = "\n".join(
        f"  - {{name: bm25-{i}, kind: bm25, k1: {1.0 + i / 10}}}" for i in range(n)
    )
    path = folder / f"bm25x{n}.yaml"
    path.write_text(SUITE.format(path=data, embedders=embedders))
    return path


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def error_line(result: Result, code: int, *needles: str) -> str:
    """The run ended with `code` and one `error:` line holding every needle; no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], result.output
    return lines[0]


def saved_whole(folder: Path) -> list[str]:
    """Cell ids saved in `folder`, after checking nothing is half-written: no temporary file,
    and each saved cell has its row, its per-query table and its timed calls."""
    assert not list(folder.rglob("*.tmp")), "a temporary file was left behind"
    rows = ResultsStore(folder).row_files()
    tables = sorted(folder.glob("rows/*/*.per_query.parquet"))
    assert len(tables) == len(rows), "tables without their row (or a row without its tables)"
    for row in rows:
        for suffix in ("per_query", "timings"):
            assert row.with_name(row.name.replace(".parquet", f".{suffix}.parquet")).is_file()
    return [r.name.removesuffix(".parquet") for r in rows]


@contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at `where`, where this process may mount one (root in a VM), else skip."""
    where.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` made read-only for real: a read-only bind mount as root, else permissions."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(modes[path] & ~0o222)
        try:
            yield folder
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here ({bind.stderr.decode().strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# 1. A full disk fails the run, names the path, and keeps every cell saved before it.


def test_a_full_disk_fails_the_run_and_a_rerun_with_space_resumes(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite = bm25_suite(tmp_path, write_beir(), n=12)
    with mounted_tmpfs(tmp_path / "small", "300k") as disk:
        out = disk / "out"
        full = invoke("run", suite, "--out", out)
        error_line(full, 1, str(out), "disk full")
        saved = saved_whole(out)
        assert 0 < len(saved) < 12
        claimed = [line for line in full.output.splitlines() if line.startswith("ok ")]
        assert len(claimed) == len(saved), "a cell was reported ok but not saved"
        assert f"{len(saved)} of 12 cells saved" in full.output

        again = invoke("run", suite, "--out", out)  # still full: the same clean failure
        error_line(again, 1, "disk full")

        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        resumed = invoke("run", suite, "--out", out)
        assert resumed.exit_code == 0, resumed.output
        assert resumed.output.count("done earlier") == len(saved)
        assert len(saved_whole(out)) == 12


def test_a_write_failing_for_lack_of_space_is_the_same_clean_failure(
    write_beir: WriteBeir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no tmpfs can be mounted: the disk fills (ENOSPC from the writer) at the 8th file."""
    suite, out = bm25_suite(tmp_path, write_beir(), n=4), tmp_path / "out"
    write = results._write_parquet
    calls = iter(range(1000))

    def filling(table: pd.DataFrame, path: Path) -> None:
        if next(calls) >= 7:
            path.write_bytes(b"PAR1 partial")  # what a writer leaves when the disk fills
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(table, path)

    monkeypatch.setattr(results, "_write_parquet", filling)
    full = invoke("run", suite, "--out", out)
    error_line(full, 1, str(out / "rows"), "disk full")
    # three files a cell (the first also the dataset's query facts): two cells, then the disk
    assert len(saved_whole(out)) == 2
    monkeypatch.setattr(results, "_write_parquet", write)
    resumed = invoke("run", suite, "--out", out)
    assert resumed.exit_code == 0 and resumed.output.count("done earlier") == 2, resumed.output
    assert len(saved_whole(out)) == 4


# 2. A folder harness did not create is not written into.


def test_a_folder_harness_did_not_create_is_refused_unless_forced(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite, out = bm25_suite(tmp_path, write_beir(), n=1), tmp_path / "mine"
    out.mkdir()
    (out / "leaderboard.md").write_text("my own notes\n")
    refused = invoke("run", suite, "--out", out)
    error_line(refused, 2, str(out), "not a harness results folder", "--force")
    assert (out / "leaderboard.md").read_text() == "my own notes\n"
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.md"]
    forced = invoke("run", suite, "--out", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert invoke("run", suite, "--out", out).exit_code == 0  # now it is one: no --force needed


# 3 and 7. Every cell failing is a failed run with its reasons, not a traceback.


def test_every_cell_failing_prints_each_reason_and_exits_1(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    huge = TINY_QRELS.replace("q2\td2\t1", "q2\td2\t99999999999999999999")
    suite, out = bm25_suite(tmp_path, write_beir(qrels={"test": huge}), n=2), tmp_path / "out"
    assert invoke("validate", suite).exit_code == 0  # only a full read finds a bad grade
    failed = invoke("run", suite, "--out", out)
    assert failed.exit_code == 1 and "Traceback" not in failed.output, failed.output
    reason = "test.tsv:4: score 99999999999999999999 is out of range"
    printed = [line for line in failed.output.splitlines() if reason in line]
    assert len(printed) == 4, failed.output  # each cell as it fails, and again in the summary
    assert "(0 ok, 2 failed)" in failed.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["datasets"] == {}


def test_validate_checks_the_data_files_without_loading_a_model(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    data = write_beir()
    suite = bm25_suite(tmp_path, data, n=1)
    suite.write_text(suite.read_text().replace(f"path: {data}}}", f"path: {data}, split: dev}}"))
    error_line(invoke("validate", suite), 2, "qrels/dev.tsv", "available splits: test")
    (data / "queries.jsonl").write_text('{"id": "q1", "text": "no _id key"}\n')
    suite = bm25_suite(tmp_path, data, n=1)
    error_line(invoke("validate", suite), 2, "queries.jsonl:1", 'missing "_id"')


# 4. One damaged file does not make a folder unusable.


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_damaged_rows_are_named_and_skipped_and_a_rerun_recomputes_them(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite, out = bm25_suite(tmp_path, write_beir(), n=3), tmp_path / "out"
    assert invoke("run", suite, "--out", out).exit_code == 0
    truncated, table = ResultsStore(out).row_files()[:2]
    _truncate(truncated)
    foreign = truncated.parent / "foreign.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(foreign)
    damaged_table = table.with_name(table.name.replace(".parquet", ".per_query.parquet"))
    _truncate(damaged_table)

    listed = invoke("results", out)
    assert listed.exit_code == 0 and "Traceback" not in listed.output, listed.output
    assert f"warning: {truncated}: unreadable" in listed.output
    assert f"warning: {foreign}: unreadable (not a harness table" in listed.output
    assert invoke("leaderboard", out).exit_code == 0

    rerun = invoke("run", suite, "--out", out)
    assert rerun.exit_code == 0, rerun.output
    assert "moved aside" in rerun.output and rerun.output.count("done earlier") == 1
    assert (truncated.parent / (truncated.name + ".damaged")).is_file()
    assert (damaged_table.parent / (damaged_table.name + ".damaged")).is_file()
    quiet = invoke("results", out, "--latest")
    assert quiet.exit_code == 0 and "warning" not in quiet.output, quiet.output
    assert len(pd.read_parquet(out / "runs.parquet")) == 3


@pytest.mark.parametrize("view", ["runs.parquet", "per_query.parquet", "manifest.json"])
def test_a_damaged_view_is_bad_input_for_check_and_compare(
    write_beir: WriteBeir, tmp_path: Path, view: str
) -> None:
    suite, out = bm25_suite(tmp_path, write_beir(), n=1), tmp_path / "out"
    suite.write_text(
        suite.read_text() + "expect:\n  - {dataset: tiny, embedder: bm25-0, nDCG@10: 0.5}\n"
    )
    assert invoke("run", suite, "--out", out).exit_code == 0
    baseline = tmp_path / "baseline"
    shutil.copytree(out, baseline)
    _truncate(out / view)
    error_line(invoke("check", out), 2, str(out / view))
    error_line(invoke("compare", out, "--baseline", baseline), 2, str(out / view))
    error_line(invoke("compare", baseline, "--baseline", out), 2, str(out / view))


# 5. YAML aliases cannot blow up.


def test_alias_bombs_and_recursive_aliases_are_one_line_errors(tmp_path: Path) -> None:
    lines = ["name: lol", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    error_line(invoke("validate", bomb), 2, f"{bomb}:", "100,000 values")
    assert time.monotonic() - started < 30
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("name: r\ndescription: &x [*x]\n")
    error_line(invoke("validate", recursive), 2, f"{recursive}:2", "recursive")


# 6. Filesystem errors name the path and the fix.


def test_an_out_that_is_a_file_or_read_only_is_bad_input(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite = bm25_suite(tmp_path, write_beir(), n=1)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    error_line(invoke("run", suite, "--out", a_file), 2, str(a_file), "is a file")
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        error_line(invoke("run", suite, "--out", locked / "out"), 2, str(locked), "read-only")


def test_a_cache_that_cannot_be_written_warns_and_the_vectors_are_used_uncached(
    tmp_path: Path,
) -> None:
    vectors = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    key = {"model": "m", "side": "document"}
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder belongs")
    cache = EmbeddingCache(blocked / "embeddings")
    stored = cache.put(key, vectors, 1.5)
    np.testing.assert_array_equal(stored.vectors, vectors)
    (warning,) = cache.warnings
    assert str(blocked) in warning and "used them uncached" in warning


# 8. A huge grid warns, and --dry-run streams it.


def test_a_huge_grid_warns_and_the_dry_run_streams(
    write_beir: WriteBeir, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_beir()
    suite = tmp_path / "huge.yaml"
    suite.write_text(
        f"name: huge\ndatasets:\n  - {{name: tiny, path: {data}}}\n"
        "embedders:\n  - {name: m, kind: sentence-transformers, "
        "model: sentence-transformers/all-MiniLM-L6-v2}\n"
        "indexes:\n  - {name: hnsw, kind: faiss-hnsw, search: {efSearch: "
        f"{list(range(10, 6010))}}}}}\nmetrics: [nDCG@10]\n"
    )
    validated = invoke("validate", suite)
    assert validated.exit_code == 0, validated.output
    assert "warning:" in validated.output and "6,000 cells" in validated.output
    dry = invoke("run", suite, "--dry-run")
    assert dry.exit_code == 0 and len(dry.output.splitlines()) == 6000 + 3, dry.output[-300:]
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    for path in sorted(Path("suites").glob("*.yaml")):
        loaded = load_suite(path)
        assert loaded.n_cells == len(loaded.cells()), path


# 9. The fair leaderboard never merges different configurations silently.


def _row(run: str, build: str, value: float, index: str = "hnsw") -> dict[str, object]:
    return {
        "run_id": run,
        "cell_id": f"{run}.{index}",
        "cell": f"d/minilm/{index}/x",
        "dataset": "d",
        "embedder": "minilm",
        "model": "all-MiniLM-L6-v2",
        "embedder_params": "{}",
        "index": index,
        "index_kind": "faiss-hnsw",
        "build_params": build,
        "search_params": '{"efSearch":64}',
        "status": "ok",
        "nDCG@10": value,
        "metrics": '["nDCG@10"]',
    }


def test_builds_that_differ_are_different_systems_and_by_model_says_what_it_folds() -> None:
    rows = pd.DataFrame(
        [
            _row("r1", '{"M": 16, "efConstruction": 100}', 0.7),
            _row("r2", '{"M": 4, "efConstruction": 100}', 0.5),
        ]
    )
    per_query = pd.DataFrame(columns=["run_id", "cell_id", "query_id", "measure", "value"])
    board = fair_leaderboard(rows, per_query, "nDCG@10")
    assert sorted(board.table["system"]) == [
        "minilm · hnsw efSearch=64 (M=16)",
        "minilm · hnsw efSearch=64 (M=4)",
    ]
    by_model = fair_leaderboard(rows, per_query, "nDCG@10", system_col="model")
    assert by_model.matrix.loc["all-MiniLM-L6-v2", "d"] == pytest.approx(0.6)
    assert "all-MiniLM-L6-v2 averages 2 systems" in by_model.note
    assert "(M=16)" in by_model.note and "(M=4)" in by_model.note


# 10. TREC run files: ids trec_eval can read, scores it re-scores exactly.


def test_ids_with_whitespace_are_rejected_at_load(write_beir: WriteBeir) -> None:
    corpus = '{"_id": "d 1", "text": "spaced id"}\n'
    with pytest.raises(DatasetError, match=r"corpus.jsonl:1: document id 'd 1' .* whitespace"):
        load_beir_folder(write_beir(corpus=corpus), name="x", split="test")


def test_trec_files_of_tied_rankings_re_score_to_the_reported_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    docs = [f"d{i:02d}" for i in range(40)]
    qrels = {f"q{q}": {d: int(rng.integers(0, 3)) for d in rng.choice(docs, 12)} for q in range(30)}
    ranking = {}
    for q in qrels:  # float32 scores with exact ties (binary codes) and near-ties below 1e-6
        levels = rng.integers(0, 4, size=20).astype(np.float32) / np.float32(3)
        jitter = rng.integers(0, 2, size=20).astype(np.float32) * np.float32(3e-8)
        found = rng.choice(docs, 20, replace=False)
        pairs = sorted(zip(found, (levels + jitter).tolist(), strict=True), key=lambda p: -p[1])
        ranking[q] = {str(d): float(s) for d, s in pairs}
    metrics = ("nDCG@10", "R@10", "AP@10", "RR@10")
    reported = evaluate(qrels, ranking, metrics)
    record = CellRecord(
        CellKey("t.cell", "d/m/-/-", "d", "m", "", ""),
        SuiteInfo("ties", 20, metrics, AVERAGING),
        EmbedderInfo("quantize", "m"),
        "ok",
        metrics=reported.means,
        per_query=reported.per_query,
        ranking=ranking,
    )
    ResultsStore(tmp_path).add(record, RunStamp("run", "2026-01-01T00:00:00", "0", ""))
    (trec,) = tmp_path.glob("trec/run/*.trec")
    from_file: dict[str, dict[str, float]] = {}
    for line in trec.read_text().splitlines():
        query, _, doc, _, score, _ = line.split()
        from_file.setdefault(query, {})[doc] = float(score)
    measures = {"ndcg_cut.10", "recall.10", "map_cut.10"}
    rescored = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(from_file)
    for ours, theirs in (
        ("nDCG@10", "ndcg_cut_10"),
        ("R@10", "recall_10"),
        ("AP@10", "map_cut_10"),
    ):
        for query in qrels:
            assert rescored[query][theirs] == reported.per_query[ours][query], (ours, query)
    assert evaluate(qrels, from_file, metrics).per_query == reported.per_query


# 11. compare pairs a changed parameter.


def test_compare_pairs_a_changed_setting_and_shows_failures_only(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    data = write_beir()
    before, after = tmp_path / "before", tmp_path / "after"
    suite = bm25_suite(tmp_path, data, n=2)
    assert invoke("run", suite, "--out", before).exit_code == 0
    suite.write_text(suite.read_text().replace("name: bm25-1,", "name: bm25-renamed,"))
    assert invoke("run", suite, "--out", after).exit_code == 0
    unpaired = invoke("compare", after, "--baseline", before)
    assert unpaired.exit_code == 1 and "missing" in unpaired.output, unpaired.output
    pairing = "embedder=bm25-1:embedder=bm25-renamed"
    matched = invoke("compare", after, "--baseline", before, "--pair", pairing)
    assert matched.exit_code == 0, matched.output
    assert "missing" not in matched.output and "bm25-renamed" in matched.output
    only = invoke("compare", after, "--baseline", before, "--failures")
    assert only.exit_code == 1 and "failing gate checks shown" in only.output
    assert "bm25-0" not in only.output.split("note:")[0]  # passing cells are not listed
    error_line(invoke("compare", after, "--baseline", before, "--pair", "efSearch=16"), 2, "--pair")


def test_a_search_setting_pairing_rewrites_the_baseline_cells() -> None:
    rows = pd.DataFrame(
        {
            "cell": ["d/m/hnsw/" + s for s in ('{"efSearch":16}', '{"efSearch":64}')],
            "dataset": "d",
            "embedder": "m",
            "index": "hnsw",
            "search_params": ['{"efSearch":16}', '{"efSearch":64}'],
        }
    )
    moved = paired(rows, [parse_pairing("efSearch=16:efSearch=24")])
    assert list(moved["cell"]) == ['d/m/hnsw/{"efSearch":24}', 'd/m/hnsw/{"efSearch":64}']


# 12. Cache faults.


def test_a_read_only_cache_is_still_read(tmp_path: Path) -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    key = {"model": "m", "side": "document"}
    EmbeddingCache(tmp_path / "cache").put(key, vectors, 2.0)
    with read_only(tmp_path / "cache"):
        cache = EmbeddingCache(tmp_path / "cache")
        hit = cache.get(key)
        assert hit is not None and hit.encode_seconds == 2.0
        np.testing.assert_array_equal(hit.vectors, vectors)
        other = cache.put({"model": "m", "side": "query"}, vectors[:2], 1.0)
        np.testing.assert_array_equal(other.vectors, vectors[:2])
        assert "read-only" in cache.warnings[0]


def test_prune_spares_an_entry_a_live_run_is_writing(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    live = tmp_path / f".partial-{os.getpid()}-abc"
    dead = tmp_path / ".partial-999999999-abc"
    for partial in (live, dead):
        partial.mkdir()
        (partial / "vectors.npy").write_bytes(b"...")
    cache.prune(older_than_s=0)
    assert live.is_dir() and not dead.exists()


def _put_one(folder: str) -> list[str]:
    """One writer process: put the shared entry; what went wrong, as text."""
    cache = EmbeddingCache(Path(folder))
    try:
        cache.put({"model": "m", "side": "document"}, np.ones((50, 8), dtype=np.float32), 1.0)
    except Exception as err:
        return [f"{type(err).__name__}: {err}"]
    return cache.warnings  # put turns a failed write into a warning


def test_concurrent_writers_of_one_entry_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    problems: list[str] = []
    with context.Pool(8) as pool:
        for attempt in range(25):
            folder = tmp_path / str(attempt)
            for found in pool.map(_put_one, [str(folder)] * 8):
                problems += found
            assert EmbeddingCache(folder).get({"model": "m", "side": "document"}) is not None
            assert not list(folder.glob(".partial-*"))
    assert problems == []


def test_a_file_where_an_entry_belongs_is_replaced(tmp_path: Path) -> None:
    from harness.cache import key_digest

    key = {"model": "m", "side": "query"}
    (tmp_path / key_digest(key)).write_text("stray")
    cache = EmbeddingCache(tmp_path)
    assert cache.get(key) is None
    cache.put(key, np.zeros((2, 2), dtype=np.float32), 1.0)
    assert cache.get(key) is not None and cache.warnings == []


# 13. Smaller cases.


def test_a_byte_order_mark_is_accepted_in_every_file(write_beir: WriteBeir) -> None:
    bom = "\ufeff"
    plain = load_beir_folder(write_beir("plain"), name="x", split="test")
    folder = write_beir("bom", qrels={"test": bom + TINY_QRELS})
    for name in ("corpus.jsonl", "queries.jsonl"):
        (folder / name).write_text(bom + (folder / name).read_text(), encoding="utf-8")
    marked = load_beir_folder(folder, name="x", split="test")
    assert (marked.doc_ids, marked.query_ids, marked.qrels) == (
        plain.doc_ids,
        plain.query_ids,
        plain.qrels,
    )


def test_a_line_that_is_not_utf8_is_named_by_its_own_number(write_beir: WriteBeir) -> None:
    lines = [json.dumps({"_id": f"d{i}", "text": "x " * 200}) for i in range(100)]
    folder = write_beir(corpus="\n".join(lines) + "\n")
    raw = (folder / "corpus.jsonl").read_bytes().split(b"\n")
    raw[80] = raw[80].replace(b"x x", b"x \xff", 1)
    (folder / "corpus.jsonl").write_bytes(b"\n".join(raw))
    with pytest.raises(DatasetError, match=r"corpus.jsonl:81: not UTF-8"):
        load_beir_folder(folder, name="x", split="test")


def test_leftovers_of_a_killed_writer_go_and_files_get_the_usual_mode(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite, out = bm25_suite(tmp_path, write_beir(), n=1), tmp_path / "out"
    (out / "rows" / "old").mkdir(parents=True)
    (out / ".harness-results").write_text("")
    leftover = out / "rows" / "old" / ".x.parquet.abc.tmp"
    leftover.write_bytes(b"half")
    previous = os.umask(0o022)
    try:
        assert invoke("run", suite, "--out", out).exit_code == 0
    finally:
        os.umask(previous)
    assert not leftover.exists()
    for path in [*out.glob("*.parquet"), *out.glob("rows/*/*.parquet")]:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_tables_of_a_cell_killed_before_its_row_go_when_the_run_resumes(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite, out = bm25_suite(tmp_path, write_beir(), n=2), tmp_path / "out"
    assert invoke("run", suite, "--out", out).exit_code == 0
    killed = ResultsStore(out).row_files()[0]
    killed.unlink()  # the row is written last: a kill before it leaves the cell's other files
    companions = [
        killed.with_name(killed.name.replace(".parquet", ".per_query.parquet")),
        killed.with_name(killed.name.replace(".parquet", ".timings.parquet")),
        out / "trec" / killed.parent.name / killed.name.replace(".parquet", ".trec"),
    ]
    assert all(path.is_file() for path in companions)
    assert invoke("run", suite, "--out", out).exit_code == 0
    assert not any(path.exists() for path in companions)
    assert len(saved_whole(out)) == 2


def test_without_a_terminal_progress_is_printed_as_lines(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    suite = bm25_suite(tmp_path, write_beir(), n=1)
    result = invoke("run", suite, "--out", tmp_path / "out")
    assert "... tiny: loading" in result.output
    assert "... tiny · bm25-0: timing the search" in result.output


def test_query_hints_version_and_short_help(write_beir: WriteBeir, tmp_path: Path) -> None:
    suite, out = bm25_suite(tmp_path, write_beir(), n=1), tmp_path / "out"
    assert invoke("run", suite, "--out", out).exit_code == 0
    error_line(invoke("results", out, "--where", "nDCG@10 > 0.4"), 2, "quote", '"nDCG@10"')
    error_line(invoke("results", out, "--columns", "ndcg@10"), 2, "Did you mean 'nDCG@10'")
    error_line(invoke("leaderboard", out, "--metric", "MAP"), 2, "Measured: nDCG@10, RR@10")
    assert invoke("--version").output.startswith("harness ")
    assert "Usage" in invoke("-h").output and "Usage" in invoke("run", "-h").output


def test_ctrl_c_says_how_many_cells_were_saved(data_dir: Path, tmp_path: Path) -> None:
    suite = bm25_suite(tmp_path, data_dir / "vaswani", n=6)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(suite), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # as in a terminal: a shell running CI in the background starts its jobs with SIGINT
        # ignored, which Python then leaves ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not ResultsStore(out).row_files() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 130, output
    saved = len(saved_whole(out))
    assert f"interrupted: {saved} of 6 cells saved" in output and "Traceback" not in output


# Property: wherever a run is killed, resuming gives exactly the uninterrupted run's values.


@pytest.mark.slow
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_values(
    data_dir: Path, tmp_path: Path
) -> None:
    suite = bm25_suite(tmp_path, data_dir / "vaswani", n=6)
    command = [sys.executable, "-m", "harness", "run", str(suite), "--out"]
    clean = tmp_path / "clean"
    started = time.monotonic()
    subprocess.run([*command, str(clean)], check=True, stdout=subprocess.DEVNULL)
    duration = time.monotonic() - started
    expected = _values(clean)
    rng = random.Random(20261202)
    for attempt in range(4):
        out = tmp_path / f"killed-{attempt}"
        for _ in range(3):  # killed up to three times, then left to finish
            process = subprocess.Popen(
                [*command, str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0.0, duration))
            process.send_signal(signal.SIGKILL)
            process.wait()
        subprocess.run([*command, str(out)], check=True, stdout=subprocess.DEVNULL)
        assert len(saved_whole(out)) >= 6
        rows, per_query = _values(out)
        pd.testing.assert_frame_equal(rows, expected[0])
        pd.testing.assert_frame_equal(per_query, expected[1])


def _values(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.read_parquet(folder / "runs.parquet")
    rows = rows[["cell_id", "status", "nDCG@10", "RR@10", "n_queries"]]
    per_query = pd.read_parquet(folder / "per_query.parquet")
    per_query = per_query[["cell_id", "query_id", "measure", "value"]]
    return (
        rows.sort_values("cell_id", ignore_index=True),
        per_query.sort_values(["cell_id", "measure", "query_id"], ignore_index=True),
    )
