from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.indexes import INDEXES


def _built(kind: str, vectors: np.ndarray, **build: Any) -> Any:
    cls = INDEXES.get(kind)
    index = cls(cls.Build(**build))
    index.build(vectors)
    return index


def _recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def test_flat_is_exact_inner_product() -> None:
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((500, 24)).astype(np.float32)
    queries = rng.standard_normal((20, 24)).astype(np.float32)
    index = _built("faiss-flat", docs)
    scores, ids = index.search(queries, 5, INDEXES.get("faiss-flat").Search())
    expected = np.argsort(-(queries @ docs.T), axis=1)[:, :5]
    assert (ids == expected).all()
    assert np.allclose(scores, np.take_along_axis(queries @ docs.T, expected, axis=1), atol=1e-5)
    assert index.nbytes() >= docs.nbytes


def test_short_collection_is_padded_with_minus_one() -> None:
    docs = np.eye(3, dtype=np.float32)
    for kind, search in (
        ("faiss-flat", {}),
        ("faiss-hnsw", {"efSearch": 10}),
        ("hnswlib", {"ef": 10}),
    ):
        index = _built(kind, docs)
        _, ids = index.search(docs[:1], 5, INDEXES.get(kind).Search(**search))
        assert ids.shape == (1, 5)
        assert ids[0, 0] == 0 and (ids[0, 3:] == -1).all(), kind


@pytest.mark.parametrize(
    ("kind", "build", "search"),
    [
        ("faiss-hnsw", {"M": 32, "efConstruction": 200}, {"efSearch": 512}),
        ("hnswlib", {"M": 32, "ef_construction": 200}, {"ef": 512}),
    ],
)
def test_ann_at_high_ef_matches_exact_search_on_real_embeddings(
    cranfield_vectors: tuple[np.ndarray, np.ndarray],
    kind: str,
    build: dict[str, int],
    search: dict[str, int],
) -> None:
    docs, queries = cranfield_vectors
    _, truth = _built("faiss-flat", docs).search(queries, 10, INDEXES.get("faiss-flat").Search())
    index = _built(kind, docs, **build)
    _, found = index.search(queries, 10, INDEXES.get(kind).Search(**search))
    assert _recall_at(found, truth) >= 0.99
    if kind == "faiss-hnsw":  # a starved search is measurably worse: the check above can fail
        _, starved = index.search(queries, 10, INDEXES.get(kind).Search(efSearch=1))
        assert _recall_at(starved, truth) < 0.99


def test_hnswlib_reports_its_effective_ef() -> None:
    cls = INDEXES.get("hnswlib")
    assert _built("hnswlib", np.eye(4, dtype=np.float32)).effective(cls.Search(ef=10), 100) == {
        "ef": 100
    }


@pytest.mark.parametrize(
    ("kind", "search"), [("faiss-hnsw", {"efSearch": 8}), ("hnswlib", {"ef": 8})]
)
def test_graph_indexes_build_the_same_graph_twice(kind: str, search: dict[str, int]) -> None:
    """Same vectors, same settings, same results: a benchmark's numbers must repeat."""
    vectors = np.random.default_rng(0).standard_normal((5000, 32)).astype(np.float32)
    queries = vectors[:300] + 0.05
    params = INDEXES.get(kind).Search(**search)
    first = _built(kind, vectors).search(queries, 10, params)[1]
    second = _built(kind, vectors).search(queries, 10, params)[1]
    assert (first == second).all()
