"""Pipelines: fusion and re-ranking over the grid's own cells (harness.pipelines)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import SuiteError
from harness.spec import load_suite
from tests.conftest import QUICK_TIMING, REPO

runner = CliRunner()
QUICKSTART = REPO / "suites" / "data" / "quickstart"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"

FUSION_SUITE = f"""\
name: fusion
datasets:
  - {{name: quickstart, path: {QUICKSTART}, split: test}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: {MINILM}}}
  - {{name: bm25, kind: bm25}}
indexes:
  - {{name: exact, kind: faiss-flat}}
pipelines:
  - {{name: rrf, fuse: [bm25, minilm/exact], candidates: 20}}
  - {{name: rrf-weighted, fuse: [bm25, minilm/exact], k: 10, weights: [1, 3], candidates: 15}}
  - name: convex
    fuse: [bm25, minilm/exact]
    method: convex
    weights: [[0.0, 1.0], [0.3, 0.7], [1.0, 0.0]]
    candidates: 20
  - {{name: zscore, fuse: [bm25, minilm/exact], method: convex, normalize: z-score, candidates: 20}}
  - {{name: raw, fuse: [bm25, minilm/exact], method: convex, normalize: none, candidates: 12}}
  - {{name: nested, fuse: [rrf, bm25], candidates: 20}}
  - {{name: rerank, rerank: bm25, by: minilm, candidates: 20}}
metrics: [nDCG@10, R@10]
k: 20
{QUICK_TIMING}"""


def _trec(path: Path) -> dict[str, list[tuple[str, float]]]:
    """A TREC run file as each query's (document, score) lines, in file order (rank order)."""
    run: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        query, _, doc, rank, score, _ = line.split()
        assert int(rank) == len(run[query]) + 1
        run[query].append((doc, float(score)))
    return run


def _rrf(runs: list[dict], weights: list[float], k: int, depth: int) -> dict:
    fused: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for weight, run in zip(weights, runs, strict=True):
        for query, lines in run.items():
            for rank, (doc, _) in enumerate(lines[:depth], start=1):
                fused[query][doc] += weight / (k + rank)
    return fused


def _convex(runs: list[dict], weights: list[float], normalize: str, depth: int) -> dict:
    fused: dict[str, dict[str, float]] = {}
    queries = set().union(*runs)
    for query in queries:
        tables = []
        for run in runs:
            lines = run.get(query, [])[:depth]
            scores = [s for _, s in lines]
            if normalize == "min-max":
                low, high = min(scores), max(scores)
                scores = [(s - low) / (high - low) if high > low else 1.0 for s in scores]
            elif normalize == "z-score":
                mean = sum(scores) / len(scores)
                sd = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
                scores = [(s - mean) / sd if sd else 0.0 for s in scores]
            tables.append(({d: s for (d, _), s in zip(lines, scores, strict=True)}, min(scores)))
        docs = {d for table, _ in tables for d in table}
        fused[query] = {
            d: sum(w * t.get(d, floor) for w, (t, floor) in zip(weights, tables, strict=True))
            for d in docs
        }
    return fused


def _assert_top(pipeline: dict, independent: dict, depth: int, tolerance: float) -> None:
    """The pipeline's run holds `depth` (or all) documents of the independent fusion, with their
    scores, and nothing it left out scores higher than what it kept."""
    assert set(pipeline) == set(independent)
    for query, lines in pipeline.items():
        expected = independent[query]
        assert len(lines) == min(depth, len(expected))
        for doc, score in lines:
            assert score == pytest.approx(expected[doc], abs=tolerance), (query, doc)
        kept = {d for d, _ in lines}
        lowest = min(s for _, s in lines)
        assert all(s <= lowest + tolerance for d, s in expected.items() if d not in kept)


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("fusion")
    suite = folder / "suite.yaml"
    suite.write_text(FUSION_SUITE)
    result = runner.invoke(app, ["run", str(suite), "--out", str(folder / "results")])
    assert result.exit_code == 0, result.output
    rows = pd.concat(
        pd.read_parquet(p)
        for p in (folder / "results" / "rows").rglob("*.parquet")
        if not p.name.endswith(("per_query.parquet", "timings.parquet"))
    )
    return folder / "results", rows


def _runs(results: Path, rows: pd.DataFrame) -> dict[str, dict]:
    """Each cell's TREC run file, by embedder name and search key."""
    runs = {}
    for row in rows.itertuples():
        (path,) = (results / "trec").rglob(f"{row.cell_id}.trec")
        runs[(row.embedder, row.search_params)] = _trec(path)
    return runs


def test_fusion_equals_an_independent_computation_on_the_trec_files(
    fusion_run: tuple[Path, pd.DataFrame],
) -> None:
    results, rows = fusion_run
    assert (rows["status"] == "ok").all(), rows[["embedder", "error"]]
    runs = _runs(results, rows)
    bm25, minilm = runs[("bm25", "")], runs[("minilm", "")]
    _assert_top(runs[("rrf", "")], _rrf([bm25, minilm], [1, 1], 60, 20), 20, 1e-12)
    weighted = runs[("rrf-weighted", '{"weights":[1.0,3.0]}')]
    _assert_top(weighted, _rrf([bm25, minilm], [1, 3], 10, 15), 20, 1e-12)
    for weights in ([0.0, 1.0], [0.3, 0.7], [1.0, 0.0]):
        key = json.dumps({"weights": weights}, separators=(",", ":"))
        expected = _convex([bm25, minilm], weights, "min-max", 20)
        _assert_top(runs[("convex", key)], expected, 20, 1e-6)
    _assert_top(runs[("zscore", "")], _convex([bm25, minilm], [0.5, 0.5], "z-score", 20), 20, 1e-6)
    _assert_top(runs[("raw", "")], _convex([bm25, minilm], [0.5, 0.5], "none", 12), 20, 1e-6)
    nested = _rrf([runs[("rrf", "")], bm25], [1, 1], 60, 20)
    _assert_top(runs[("nested", "")], nested, 20, 1e-12)


def test_a_weight_sweep_is_one_cell_per_weight_and_its_ends_are_its_stages(
    fusion_run: tuple[Path, pd.DataFrame],
) -> None:
    _, rows = fusion_run
    convex = rows[rows["embedder"] == "convex"]
    assert len(convex) == 3
    by_weights = convex.set_index("search_params")["nDCG@10"]
    minilm = rows[(rows["embedder"] == "minilm")]["nDCG@10"].item()
    bm25 = rows[(rows["embedder"] == "bm25")]["nDCG@10"].item()
    # all weight on one stage: that stage's own ranking, re-scored but in the same order
    assert by_weights['{"weights":[0.0,1.0]}'] == pytest.approx(minilm, abs=1e-9)
    assert by_weights['{"weights":[1.0,0.0]}'] == pytest.approx(bm25, abs=1e-9)


def test_pipeline_costs_add_their_stages(fusion_run: tuple[Path, pd.DataFrame]) -> None:
    _, rows = fusion_run
    by = rows.set_index(["embedder", "search_params"])
    rrf, bm25, minilm = by.loc[("rrf", "")], by.loc[("bm25", "")], by.loc[("minilm", "")]
    assert rrf["index_bytes"] == bm25["index_bytes"] + minilm["index_bytes"]
    # the query side is both first stages end to end: slower than either alone
    assert (
        rrf["query_latency_p50_ms"]
        > max(bm25["e2e_latency_p50_ms"], minilm["e2e_latency_p50_ms"]) * 0.9
    )
    assert rrf["e2e_latency_p50_ms"] > rrf["query_latency_p50_ms"]
    assert rrf["latency_p50_ms"] > 0 and rrf["qps"] > 0
    rerank = by.loc[("rerank", "")]
    assert rerank["index_bytes"] == bm25["index_bytes"] + 80 * 384 * 4
    assert rerank["embedder_kind"] == "pipeline"


def test_reranking_by_a_bi_encoder_orders_the_candidates_by_its_cosine(
    fusion_run: tuple[Path, pd.DataFrame],
) -> None:
    from sentence_transformers import SentenceTransformer

    from harness.datasets.beir import load_beir_folder
    from harness.embedders.models import resolve_model

    results, rows = fusion_run
    runs = _runs(results, rows)
    dataset = load_beir_folder(QUICKSTART, name="quickstart", split="test")
    model = SentenceTransformer(resolve_model(MINILM).location, device="cpu")
    texts = dict(zip(dataset.doc_ids, dataset.doc_texts, strict=True))
    queries = dict(zip(dataset.query_ids, dataset.query_texts, strict=True))
    for query in list(runs[("rerank", "")])[:5]:
        candidates = [d for d, _ in runs[("bm25", "")][query][:20]]
        q = model.encode([queries[query]], normalize_embeddings=True)
        d = model.encode([texts[c] for c in candidates], normalize_embeddings=True)
        expected = dict(zip(candidates, (d @ q[0]).tolist(), strict=True))
        got = runs[("rerank", "")][query]
        assert [doc for doc, _ in got] == sorted(expected, key=lambda c: -expected[c])
        assert np.allclose([s for _, s in got], sorted(expected.values(), reverse=True), atol=1e-5)


def test_leaderboard_compare_and_report_take_pipelines(
    fusion_run: tuple[Path, pd.DataFrame],
) -> None:
    results, _ = fusion_run
    board = (results / "leaderboard.md").read_text()
    assert "rrf" in board and "convex" in board and "weights=[0.3, 0.7]" in board
    result = runner.invoke(app, ["compare", str(results), "--baseline", str(results)])
    assert result.exit_code == 0, result.output
    assert "rrf" in result.output
    site = results.parent / "site"
    result = runner.invoke(app, ["report", str(results), "--out", str(site)])
    assert result.exit_code == 0, result.output
    pages = "".join(p.read_text() for p in site.rglob("*.html"))
    assert "bm25+" not in pages and "rrf-weighted" in pages and "rerank" in pages


def test_a_resumed_run_computes_only_new_pipelines_from_its_stages(tmp_path: Path) -> None:
    base = FUSION_SUITE.split("pipelines:")[0] + "metrics: [nDCG@10, R@10]\nk: 20\n" + QUICK_TIMING
    suite = tmp_path / "suite.yaml"
    suite.write_text(base)
    out = tmp_path / "results"
    assert runner.invoke(app, ["run", str(suite), "--out", str(out)]).exit_code == 0
    suite.write_text(FUSION_SUITE)
    result = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # 9 pipeline cells, and their 2 stages computed again (a pipeline reads their rankings
    # and timings), their vectors from the cache
    assert "(11 ok, 0 failed)" in result.output
    again = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert again.exit_code == 0
    assert again.output.count("done earlier") == 11 and "timing" not in again.output


BAD = [
    ("fuse: [bm25, minilm/exact, nothing]", "unknown stage 'nothing'"),
    ("fuse: [bm25, p]", "pipeline 'p' names itself as a stage"),
    (
        "fuse: [bm25, minilm/exact], candidates: 5",
        "candidates: 5 is below the deepest metric cutoff 10",
    ),
    ("fuse: [bm25, minilm/exact], candidates: 50", "deeper than the suite's k=20"),
    ("fuse: [bm25, minilm/exact], weights: [1, 2, 3]", "3 weights for 2 stages"),
    ("fuse: [bm25, minilm/exact], weights: [[1, 2], [1]]", "1 weights for 2 stages"),
    (
        "fuse: [bm25, minilm/exact], method: rrf, normalize: z-score",
        "normalize is for method: convex",
    ),
    ("fuse: [bm25, minilm/hnsw]", "no index named 'hnsw'"),
    ("fuse: [bm25, minilm]", "dense embedder 'minilm' is searched through an index"),
    ("fuse: [bm25]", "fusion needs two or more stages"),
    ("rerank: bm25, by: bm25", "'bm25' is a lexical retriever"),
    ("rerank: bm25", "a re-ranking names its scorer"),
    ("rerank: bm25, by: minlm", "no embedder named 'minlm' in this suite. Did you mean 'minilm'?"),
    ("fuse: [bm25, minilm/exact], stages: 2", "unknown key 'stages'"),
]


@pytest.mark.parametrize(("entry", "message"), BAD)
def test_a_malformed_pipeline_is_one_line_naming_its_line(
    entry: str, message: str, write_suite: Callable[[str], Path]
) -> None:
    head = FUSION_SUITE.split("pipelines:")[0]
    candidates = "" if "candidates" in entry else ", candidates: 20"
    text = f"{head}pipelines:\n  - {{name: p, {entry}{candidates}}}\nmetrics: [nDCG@10]\nk: 20\n"
    path = write_suite(text)
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    line = text.splitlines().index(f"  - {{name: p, {entry}{candidates}}}") + 1
    assert str(raised.value).startswith(f"{path}:{line}: pipelines[0]")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_pipelines_that_read_each_other_are_a_cycle(write_suite: Callable[[str], Path]) -> None:
    head = FUSION_SUITE.split("pipelines:")[0]
    path = write_suite(
        f"{head}pipelines:\n"
        "  - {name: a, fuse: [bm25, b], candidates: 20}\n"
        "  - {name: b, fuse: [minilm/exact, a], candidates: 20}\n"
        "metrics: [nDCG@10]\nk: 20\n"
    )
    with pytest.raises(
        SuiteError,
        match=r"suite.yaml:11: pipelines\[1\]: pipelines read each other in a cycle: a -> b -> a",
    ):
        load_suite(path)
