"""The whole flow through the command line: the shipped quickstart, and a small real collection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import pytrec_eval
from typer.testing import CliRunner

from harness.cli import app
from harness.datasets.beir import load_beir_folder
from harness.results import ResultsStore
from tests.conftest import QUICK_TIMING, QUICK_TIMING_FORMAT

REPO = Path(__file__).resolve().parent.parent


def test_quickstart_runs_offline_from_shipped_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a cache of its own: other tests encode the quickstart collection with MiniLM too
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        app, ["run", str(REPO / "suites/quickstart.yaml"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert set(runs["status"]) == {"ok"} and len(runs) == 6
    assert (tmp_path / "out" / "plots" / "quickstart-ndcg_10-vs-qps.png").stat().st_size > 10_000
    assert "quickstart" in result.output and "nDCG@10" in result.output  # leaderboard printed
    assert (runs[runs["embedder"] == "minilm"]["texts_encoded"] == 80 + 24).all()

    # the default timing protocol: 1,000 batch-1 searches (encoding the queries may stop
    # short of that at its 30 s budget on a slow machine)
    assert (runs["latency_p50_ms_n"] >= 1000).all()

    # a second run (quicker timing) finds every vector in the cache: it encodes nothing and
    # scores the same; the model loads only to time the query side
    quick = tmp_path / "quick.yaml"
    shipped = (REPO / "suites/quickstart.yaml").read_text()
    quick.write_text(
        shipped.replace("path: data/quickstart", f"path: {REPO / 'suites/data/quickstart'}")
        + QUICK_TIMING
    )
    again = CliRunner().invoke(app, ["run", str(quick), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    rerun = pd.read_parquet(tmp_path / "again" / "runs.parquet")
    assert (rerun["texts_encoded"] == 0).all()
    dense = rerun[rerun["embedder"] == "minilm"]
    assert (dense["query_latency_p50_ms_n"] >= 50).all() and dense["model_load_s"].notna().all()
    assert rerun["nDCG@10"].tolist() == runs["nDCG@10"].tolist()
    pd.testing.assert_series_equal(rerun["encode_docs_s"], runs["encode_docs_s"])  # original encode


CRANFIELD = (
    """\
name: cranfield-check
datasets:
  - {{name: cranfield, path: {data}/cranfield}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}
  - {{name: bm25, kind: bm25}}
indexes:
  - {{name: exact, kind: faiss-flat}}
  - {{name: hnsw, kind: faiss-hnsw, build: {{M: 16, efConstruction: 100}}, search: {{efSearch: [4, 128]}}}}
  - {{name: hnswlib, kind: hnswlib, build: {{M: 16, ef_construction: 100}}, search: {{ef: 128}}}}
metrics: [nDCG@10, R@100, RR@10, AP]
"""
    + QUICK_TIMING_FORMAT
)


def test_small_real_collection(
    write_suite: Callable[[str], Path],
    tmp_path: Path,
    data_dir: Path,
    cranfield_vectors: tuple[object, object],  # MiniLM's vectors: in the session cache
) -> None:
    suite = write_suite(CRANFIELD.format(data=data_dir))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs.parquet").set_index("cell")
    assert len(runs) == 5 and set(runs["status"]) == {"ok"}
    assert runs["k"].unique().tolist() == [1000]  # AP has no cutoff: BEIR's depth
    exact = runs.loc["cranfield/minilm/exact/-"]
    for cell in ('cranfield/minilm/hnsw/{"efSearch":128}', 'cranfield/minilm/hnswlib/{"ef":128}'):
        assert abs(runs.loc[cell, "nDCG@10"] - exact["nDCG@10"]) < 0.005, cell
    assert runs.loc['cranfield/minilm/hnsw/{"efSearch":4}', "AP"] < exact["AP"]
    assert runs.loc["cranfield/bm25/-/-", "search_params"] == ""
    dense = runs[runs["embedder"] == "minilm"]
    assert (dense["n_docs"] == 1400).all() and (dense["n_queries"] == 225).all()
    assert dense["dim"].eq(384).all()
    for column in (
        "docs_per_s",
        "build_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "qps",
        "index_bytes",
    ):
        assert (dense[column] > 0).all(), column
    assert (dense["latency_p50_ms"] <= dense["latency_p99_ms"]).all()
    # flat stores the raw float32 vectors: 384 dims x 4 bytes, plus a small header
    assert 1536 <= exact["bytes_per_vector"] < 1600


ELASTIC = (
    """\
name: elastic
datasets:
  - {{name: quickstart, path: {data}}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}
  - {{name: minilm-32, kind: truncate, of: minilm, dim: 32}}
  - {{name: minilm-8, kind: truncate, of: minilm, dim: 8}}
  - {{name: minilm-bits, kind: quantize, of: minilm, precision: binary}}
indexes:
  - {{name: exact, kind: faiss-flat}}
  - {{name: hnsw, kind: faiss-hnsw, build: {{M: 4, efConstruction: 8}}, search: {{efSearch: [1, 32]}}}}
metrics: [nDCG@10, R@10]
"""
    + QUICK_TIMING_FORMAT
)


def test_elastic_and_quantised_variants_reuse_one_encode_and_report_ann_recall(
    write_suite: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "empty-cache"))
    suite = write_suite(ELASTIC.format(data=REPO / "suites/data/quickstart"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs.parquet")
    by_embedder = runs.groupby("embedder")
    assert by_embedder["dim"].first().to_dict() == {
        "minilm": 384,
        "minilm-32": 32,
        "minilm-8": 8,
        "minilm-bits": 384,
    }
    assert by_embedder["vector_bytes"].first().to_dict() == {  # as each embedder stores one
        "minilm": 1536,
        "minilm-32": 128,
        "minilm-8": 32,
        "minilm-bits": 48,
    }
    assert by_embedder["texts_encoded"].max().to_dict() == {
        "minilm": 104,
        "minilm-32": 0,
        "minilm-8": 0,
        "minilm-bits": 0,
    }
    assert (runs["model"] == "sentence-transformers/all-MiniLM-L6-v2").all()
    exact = runs[runs["index"] == "exact"].set_index("embedder")
    assert (exact["ann_recall@10"] == 1.0).all()  # exact search agrees with itself
    assert exact.loc["minilm-8", "nDCG@10"] < exact.loc["minilm", "nDCG@10"]  # 8 dims lose quality
    starved = runs[runs["search_params"] == '{"efSearch":1}']
    assert (starved["ann_recall@10"] < 1.0).any()
    assert (out / "rank_shift.md").is_file()
    assert (out / "plots" / "quickstart-ndcg_10-vs-bytes.png").is_file()
    assert (out / "plots" / "quickstart-ndcg_10-vs-dim.png").is_file()
    _trec_file_re_scores_exactly(out, exact.loc["minilm-bits"])


def _trec_file_re_scores_exactly(out: Path, row: pd.Series) -> None:
    """Binary codes tie (Hamming distances): trec_eval on the cell's TREC file must still
    compute the values reported for each query, not a reordering of the ties."""
    (trec,) = out.glob(f"trec/*/{row['cell_id']}.trec")
    ranking: dict[str, dict[str, float]] = {}
    for line in trec.read_text().splitlines():
        query, _, doc, _, score, _ = line.split()
        ranking.setdefault(query, {})[doc] = float(score)
    assert any(len(set(docs.values())) < len(docs) for docs in ranking.values())  # ties exist
    qrels = {
        q: dict(d)
        for q, d in load_beir_folder(
            REPO / "suites/data/quickstart", name="q", split="test"
        ).qrels.items()
    }
    rescored = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(ranking)
    per_query = pd.read_parquet(out / "per_query.parquet")
    reported = per_query[
        (per_query["cell_id"] == row["cell_id"]) & (per_query["measure"] == "nDCG@10")
    ]
    for query, value in zip(reported["query_id"], reported["value"], strict=True):
        assert rescored.get(query, {}).get("ndcg_cut_10", 0.0) == value, query


def test_a_failing_index_fails_only_its_own_cells(
    write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    text = ELASTIC.format(data=REPO / "suites/data/quickstart").replace(
        "  - {name: hnsw,", "  - {name: bad-pq, kind: faiss-ivfpq, build: {m: 5}}\n  - {name: hnsw,"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(write_suite(text)), "--out", str(out)])
    assert result.exit_code == 1
    runs = pd.read_parquet(out / "runs.parquet")
    failed = runs[runs["status"] == "failed"]
    assert set(failed["index"]) == {"bad-pq"} and len(failed) == 4  # one per embedder
    assert failed["error"].str.contains("m=5 does not divide the dimension").all()
    assert (runs.loc[runs["index"] == "hnsw", "status"] == "ok").all()  # the next index still ran


ORDERS = (
    """\
name: orders
datasets:
  - {{name: quickstart, path: {data}}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}
indexes:
  - {{name: exact, kind: faiss-flat, insertion_seeds: [1, 2]}}
  - {{name: hnsw, kind: faiss-hnsw, build: {{M: 4, efConstruction: 8}}, search: {{efSearch: [1, 32]}}, insertion_seeds: [1, 2, 3]}}
metrics: [nDCG@10, R@10]
"""
    + QUICK_TIMING_FORMAT
)


def test_insertion_orders_are_built_mapped_back_and_summarised(
    write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    suite = write_suite(ORDERS.format(data=REPO / "suites/data/quickstart"))
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 2 + 3 * 2 and runs["insertion_seed"].notna().all()
    exact = runs[runs["index"] == "exact"]
    # exact search does not care about insertion order: hits map back to the same documents
    assert exact["nDCG@10"].nunique() == 1 and (exact["ann_recall@10"] == 1.0).all()
    spread = (out / "insertion_spread.md").read_text()
    assert "| quickstart | minilm | hnsw | efSearch=1 | 3 |" in spread

    # a run that died between two search settings of one build resumes with the missing one
    rows = [p for p in ResultsStore(out).row_files() if "hnsw" in p.name]
    (row,) = [
        p for p in rows if pd.read_parquet(p)["cell"].iloc[0].endswith('{"efSearch":32}/order=2')
    ]
    row.unlink()
    again = CliRunner().invoke(app, ["run", str(suite), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert again.output.count("done earlier") == 7
    assert len(pd.read_parquet(out / "runs.parquet")) == 8
