"""Multi-vector late interaction (kind 'multivector', exact MaxSim), MUVERA's fixed-dimensional
encodings (kind 'muvera'), and re-ranking by every kind of scorer, cross-encoders included."""

from __future__ import annotations

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
N_DOCS = 80  # the quickstart collection

SUITE = f"""\
name: late-interaction
datasets:
  - {{name: quickstart, path: {QUICKSTART}, split: test}}
embedders:
  - {{name: tokens, kind: multivector, model: {MINILM}}}
  - {{name: fde, kind: muvera, of: tokens}}
  - {{name: splade, kind: sparse, model: rasyosef/splade-tiny}}
  - {{name: bm25, kind: bm25}}
indexes:
  - {{name: exact, kind: faiss-flat}}
pipelines:
  - {{name: fde-maxsim, rerank: fde/exact, by: tokens, candidates: 20}}
  - {{name: every-doc-maxsim, rerank: fde/exact, by: tokens, candidates: {N_DOCS}}}
  - {{name: every-doc-splade, rerank: bm25, by: splade, candidates: {N_DOCS}}}
metrics: [nDCG@10, R@10]
k: {N_DOCS}
{QUICK_TIMING}"""


@pytest.fixture(scope="module")
def late_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("late")
    (folder / "suite.yaml").write_text(SUITE)
    out = folder / "results"
    result = runner.invoke(app, ["run", str(folder / "suite.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = [
        p
        for p in (out / "rows").rglob("*.parquet")
        if not p.name.endswith(("per_query.parquet", "timings.parquet"))
    ]
    rows = pd.concat(pd.read_parquet(p) for p in files).set_index("embedder")
    assert (rows["status"] == "ok").all(), rows["error"]
    return out, rows


def _run(results: Path, cell_id: str) -> dict[str, list[tuple[str, float]]]:
    (path,) = (results / "trec").rglob(f"{cell_id}.trec")
    run: dict[str, list[tuple[str, float]]] = {}
    for line in path.read_text().splitlines():
        query, _, doc, _, score, _ = line.split()
        run.setdefault(query, []).append((doc, float(score)))
    return run


def test_exact_maxsim_equals_an_independent_computation(
    late_run: tuple[Path, pd.DataFrame],
) -> None:
    from sentence_transformers import SentenceTransformer

    from harness.datasets.beir import load_beir_folder
    from harness.embedders.models import resolve_model

    results, rows = late_run
    run = _run(results, rows.loc["tokens", "cell_id"])
    dataset = load_beir_folder(QUICKSTART, name="quickstart", split="test")
    model = SentenceTransformer(resolve_model(MINILM).location, device="cpu")

    def tokens(texts: list[str]) -> list[np.ndarray]:
        out = model.encode(texts, output_value="token_embeddings")
        return [(t / t.norm(dim=1, keepdim=True)).numpy() for t in out]

    documents = tokens(list(dataset.doc_texts))
    for query_id, text in list(zip(dataset.query_ids, dataset.query_texts, strict=True))[:6]:
        (q,) = tokens([text])
        scores = np.array([(q @ d.T).max(axis=1).sum() for d in documents])
        got = run[query_id][:10]
        expected = np.argsort(-scores, kind="stable")[:10]
        assert np.allclose([s for _, s in got], scores[expected], atol=1e-4)
        assert [doc for doc, _ in got][:3] == [dataset.doc_ids[i] for i in expected[:3]]


def test_muvera_encodings_track_maxsim_and_are_recorded(
    late_run: tuple[Path, pd.DataFrame],
) -> None:
    _, rows = late_run
    fde, tokens = rows.loc["fde"], rows.loc["tokens"]
    assert fde["dim"] == 20 * 32 * 16 and fde["vector_bytes"] == 4 * 20 * 32 * 16
    assert fde["embedder_kind"] == "muvera"
    assert fde["ann_recall@10"] == 1.0  # a flat index finds its exact neighbours, ties at scale
    assert tokens["index_kind"] == "maxsim" and tokens["doc_vectors"] > 10
    assert tokens["bytes_per_vector"] > tokens["doc_vectors"] * 384 * 4
    # FDE candidates re-ranked by MaxSim find most of exact MaxSim's top 10
    pipeline = rows.loc["fde-maxsim"]
    assert 0.5 < pipeline["ann_recall@10"] <= 1.0
    assert pipeline["bytes_per_vector"] == pytest.approx(
        fde["bytes_per_vector"] + tokens["bytes_per_vector"], rel=1e-6
    )


def test_re_ranking_every_document_is_the_scorer_s_exhaustive_search(
    late_run: tuple[Path, pd.DataFrame],
) -> None:
    """Candidates covering the corpus: the re-ranking must be the scorer's own exact ranking."""
    results, rows = late_run
    for pipeline, scorer in (("every-doc-maxsim", "tokens"), ("every-doc-splade", "splade")):
        assert rows.loc[pipeline, "ann_recall@10"] == pytest.approx(1.0)
        assert rows.loc[pipeline, "nDCG@10"] == pytest.approx(rows.loc[scorer, "nDCG@10"], abs=1e-9)
        reranked = _run(results, rows.loc[pipeline, "cell_id"])
        exact = _run(results, rows.loc[scorer, "cell_id"])
        for query in exact:
            got = dict(reranked[query])
            for doc, score in exact[query]:
                assert got[doc] == pytest.approx(score, abs=1e-4)


def test_muvera_must_derive_from_a_multivector_embedder(
    write_suite: Callable[[str], Path],
) -> None:
    text = SUITE.replace("kind: muvera, of: tokens", "kind: muvera, of: bm25")
    with pytest.raises(SuiteError, match=r"embedders\[1\]\.of: 'bm25' is not a multivector"):
        load_suite(write_suite(text))


def test_cross_encoder_re_ranking_scores_each_candidate_with_its_query(tmp_path: Path) -> None:
    """No cross-encoder ships on the package registries: one is built here from MiniLM's local
    weights with a seeded, untrained head. The pipeline must order BM25's candidates exactly as
    that model scores them."""
    import torch
    from sentence_transformers import CrossEncoder

    from harness.datasets.beir import load_beir_folder
    from harness.embedders.models import resolve_model

    torch.manual_seed(0)
    model = CrossEncoder(resolve_model(MINILM).location, num_labels=1, device="cpu")
    model.save(str(tmp_path / "cross-encoder"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""\
name: cross
datasets:
  - {{name: quickstart, path: {QUICKSTART}, split: test}}
embedders:
  - {{name: bm25, kind: bm25}}
pipelines:
  - name: ce
    rerank: bm25
    cross_encoder: {{model: {tmp_path / "cross-encoder"}, batch_size: 16}}
    candidates: 10
metrics: [nDCG@10]
k: 10
{QUICK_TIMING}"""
    )
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.concat(
        pd.read_parquet(p)
        for p in (out / "rows").rglob("*.parquet")
        if not p.name.endswith(("per_query.parquet", "timings.parquet"))
    ).set_index("embedder")
    assert rows.loc["ce", "status"] == "ok" and rows.loc["ce", "model_load_s"] > 0
    reranked, first = _run(out, rows.loc["ce", "cell_id"]), _run(out, rows.loc["bm25", "cell_id"])
    dataset = load_beir_folder(QUICKSTART, name="quickstart", split="test")
    texts = dict(zip(dataset.doc_ids, dataset.doc_texts, strict=True))
    queries = dict(zip(dataset.query_ids, dataset.query_texts, strict=True))
    reloaded = CrossEncoder(str(tmp_path / "cross-encoder"), device="cpu")
    for query in list(first)[:4]:
        docs = [d for d, _ in first[query]]
        scores = reloaded.predict([(queries[query], texts[d]) for d in docs])
        assert {d for d, _ in reranked[query]} == set(docs)
        for doc, score in reranked[query]:
            assert score == pytest.approx(float(scores[docs.index(doc)]), abs=1e-5)


def test_a_missing_cross_encoder_fails_its_cells_in_one_line(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""\
name: cross
datasets:
  - {{name: quickstart, path: {QUICKSTART}, split: test}}
embedders:
  - {{name: bm25, kind: bm25}}
pipelines:
  - {{name: ce, rerank: bm25, cross_encoder: {{model: cross-encoder/ms-marco-MiniLM-L6-v2}}, candidates: 10}}
metrics: [nDCG@10]
k: 10
{QUICK_TIMING}"""
    )
    result = runner.invoke(app, ["run", str(suite), "--out", str(tmp_path / "results")])
    assert result.exit_code != 0
    assert "model 'cross-encoder/ms-marco-MiniLM-L6-v2' is not a local path" in result.output
