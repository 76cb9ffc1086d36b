from __future__ import annotations

import gc
from pathlib import Path
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
        ("usearch", {"expansion_search": 10}),  # one query: usearch answers in another shape
        ("lancedb", {}),  # one query: LanceDB answers without a query_index column
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
        ("faiss-ivf", {"nlist": 32}, {"nprobe": 32}),
        ("faiss-ivfpq", {"nlist": 32, "m": 48, "refine": True}, {"nprobe": 32, "k_factor": 32}),
        ("faiss-sq", {"qtype": "fp16"}, {}),
        ("faiss-sq", {"qtype": "SQ8", "refine": True}, {"k_factor": 8}),
        ("faiss-binary", {"rescore": True}, {"candidates": 1400}),
        ("usearch", {"dtype": "f32", "connectivity": 32}, {"expansion_search": 512}),
        ("usearch", {"dtype": "f16", "connectivity": 32}, {"expansion_search": 512}),
        (
            "usearch",
            {"dtype": "i8", "connectivity": 32, "rescore": True},
            {"expansion_search": 512, "candidates": 100},
        ),
        ("lancedb", {"index_type": None}, {}),
        ("lancedb", {"index_type": "IVF_FLAT", "num_partitions": 32}, {"nprobes": 32}),
        (
            "lancedb",
            {"index_type": "IVF_HNSW_SQ", "num_partitions": 1},
            {"ef": 512, "refine_factor": 4},
        ),
        (
            "lancedb",
            {"index_type": "IVF_PQ", "num_partitions": 4, "num_sub_vectors": 48},
            {"nprobes": 4, "refine_factor": 10},
        ),
    ],
    ids=lambda v: (
        v if isinstance(v, str) else "-".join(f"{k}{w}" for k, w in v.items()) or "default"
    ),
)
def test_each_backend_at_its_most_exhaustive_matches_exact_search_on_real_embeddings(
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
    starved = {
        "faiss-hnsw": {"efSearch": 1},
        "faiss-ivf": {"nprobe": 1},
        "faiss-binary": {"candidates": 10},
    }
    if kind in starved:  # a starved search is measurably worse: the check above can fail
        _, worse = index.search(queries, 10, INDEXES.get(kind).Search(**starved[kind]))
        assert _recall_at(worse, truth) < 0.99


N, DIM = 2000, 32


@pytest.mark.parametrize(
    ("kind", "build", "expected"),
    [  # bytes the structure must hold, by hand: codes per vector, plus what the codes need
        ("faiss-sq", {"qtype": "SQ8"}, N * DIM),
        ("faiss-sq", {"qtype": "fp16"}, N * DIM * 2),
        # 8 one-byte codes and an 8-byte id per vector; 8 codebooks of 256 x 4 floats; 4 centroids
        ("faiss-ivfpq", {"nlist": 4, "m": 8}, N * (8 + 8) + 8 * 256 * 4 * 4 + 4 * DIM * 4),
        ("faiss-binary", {}, N * DIM // 8),
        ("faiss-binary", {"rescore": True}, N * DIM // 8 + N * DIM * 4),
    ],
)
def test_compressed_indexes_report_their_size(
    kind: str, build: dict[str, Any], expected: int
) -> None:
    vectors = np.random.default_rng(1).standard_normal((N, DIM)).astype(np.float32)
    index = _built(kind, vectors, **build)
    assert expected <= index.nbytes() < expected * 1.05  # plus headers


def test_ivfpq_skips_polysemous_training_and_finds_what_faiss_s_default_build_finds() -> None:
    """Polysemous training only re-orders codes for a Hamming filter the search never uses: the
    index is built without it and answers exactly as faiss's default (polysemous) build."""
    import faiss

    docs = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
    index = _built("faiss-ivfpq", docs, nlist=4, m=2)
    assert not faiss.downcast_index(faiss.extract_index_ivf(index._index)).do_polysemous_training
    default = faiss.index_factory(16, "IVF4,PQ2x8", faiss.METRIC_INNER_PRODUCT)
    faiss.extract_index_ivf(default).cp.seed = 1234
    default.train(docs)
    default.add(docs)
    assert faiss.downcast_index(default).do_polysemous_training
    search = INDEXES.get("faiss-ivfpq").Search(nprobe=4)
    scores, ids = index.search(docs[:50], 10, search)
    default_scores, default_ids = default.search(
        docs[:50], 10, params=faiss.SearchParametersIVF(nprobe=4)
    )
    assert np.array_equal(ids, default_ids) and np.array_equal(scores, default_scores)


def test_ivfpq_explains_a_bad_m() -> None:
    from harness.errors import ComponentError

    with pytest.raises(
        ComponentError,
        match=r"m=5 does not divide the dimension 32; try one of \[1, 2, 4, 8, 16, 32\]",
    ):
        _built("faiss-ivfpq", np.ones((300, 32), dtype=np.float32), m=5)


def test_ivf_indexes_explain_too_few_vectors_to_train() -> None:
    from harness.errors import ComponentError

    docs = np.random.default_rng(0).standard_normal((600, 32)).astype(np.float32)
    with pytest.raises(ComponentError, match=r"nbits=12 trains 4096 centroids .* nbits <= 9"):
        _built("faiss-ivfpq", docs, nlist=4, m=8, nbits=12)
    with pytest.raises(ComponentError, match=r"nlist=1000: k-means .* has 600; lower nlist"):
        _built("faiss-ivf", docs, nlist=1000)
    with pytest.raises(ComponentError, match=r"nlist=1000: k-means"):
        _built("faiss-ivfpq", docs, nlist=1000, m=8, nbits=4)


def test_hnswlib_reports_its_effective_ef() -> None:
    cls = INDEXES.get("hnswlib")
    assert _built("hnswlib", np.eye(4, dtype=np.float32)).effective(cls.Search(ef=10), 100) == {
        "ef": 100
    }


def test_lancedb_probing_fewer_partitions_is_approximate_and_all_of_them_exact(
    cranfield_vectors: tuple[np.ndarray, np.ndarray],
) -> None:
    docs, queries = cranfield_vectors
    search = INDEXES.get("lancedb").Search
    _, truth = _built("lancedb", docs, index_type=None).search(queries, 10, search())
    _, exact = _built("faiss-flat", docs).search(queries, 10, INDEXES.get("faiss-flat").Search())
    assert _recall_at(truth, exact) == 1.0  # no index: a full scan by dot product
    index = _built("lancedb", docs, index_type="IVF_FLAT", num_partitions=32)
    assert _recall_at(index.search(queries, 10, search(nprobes=1))[1], truth) < 0.9
    assert _recall_at(index.search(queries, 10, search(nprobes=32))[1], truth) == 1.0


@pytest.mark.parametrize(
    ("build", "times_the_vectors"),
    [({"index_type": None}, 1), ({"index_type": "IVF_FLAT"}, 2)],  # IVF_FLAT copies the vectors
)
def test_lancedb_size_is_its_folder_on_disk(build: dict[str, Any], times_the_vectors: int) -> None:
    vectors = np.random.default_rng(1).standard_normal((N, DIM)).astype(np.float32)
    index = _built("lancedb", vectors, **build)
    expected = times_the_vectors * vectors.nbytes
    assert expected <= index.nbytes() < expected * 1.1  # plus the position column and metadata
    folder = Path(index._folder.name)
    del index
    gc.collect()
    assert not folder.exists()


def test_lancedb_reports_its_effective_ef() -> None:
    cls = INDEXES.get("lancedb")
    index = _built("lancedb", np.eye(4, dtype=np.float32), index_type="IVF_HNSW_FLAT")
    assert index.effective(cls.Search(ef=5), 10) == {"nprobes": 20, "ef": 10}  # LanceDB: ef >= k
    assert index.effective(cls.Search(), 10) == {"nprobes": 20, "ef": 15}  # its default, 1.5 k
    assert index.search(np.eye(4, dtype=np.float32), 3, cls.Search(ef=1))[1].shape == (4, 3)


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
