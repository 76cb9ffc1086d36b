"""Derived embedders: truncation and quantisation of another embedder's vectors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.embedders.quantize import Quantized, QuantizeParams
from harness.embedders.truncate import Truncated, TruncateParams
from harness.indexes import INDEXES


def _quantized(precision: str, **params: object) -> Quantized:
    return Quantized(QuantizeParams.model_validate({"of": "base", "precision": precision} | params))


def test_truncation_keeps_the_leading_dimensions_at_unit_length() -> None:
    vectors = np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    cut, _ = Truncated(TruncateParams(of="base", dim=2)).transform(vectors, vectors)
    assert np.allclose(cut, [[0.6, 0.8], [0.0, 0.0]])  # a zero prefix stays zero, not NaN
    with pytest.raises(ValueError, match="dim=4 exceeds the 3 dimensions of 'base'"):
        Truncated(TruncateParams(of="base", dim=4)).transform(vectors, vectors)


def test_int8_uses_256_levels_per_dimension_calibrated_on_the_documents() -> None:
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((1000, 16)).astype(np.float32)
    queries = 3 * rng.standard_normal((50, 16)).astype(np.float32)  # partly outside the range
    coded_docs, coded_queries = _quantized("int8").transform(docs, queries)
    step = (docs.max(axis=0) - docs.min(axis=0)) / 255
    for column in range(16):
        assert len(np.unique(coded_docs[:, column])) <= 256
    assert (np.abs(coded_docs - docs) <= step / 2 + 1e-6).all()  # round to the nearest level
    assert (coded_queries >= docs.min(axis=0) - 1e-6).all()  # out-of-range queries clip
    assert (coded_queries <= docs.max(axis=0) + 1e-6).all()


def test_binary_scores_rank_exactly_as_hamming_distance_does(
    cranfield_vectors: tuple[np.ndarray, np.ndarray],
) -> None:
    docs, queries = cranfield_vectors
    coded_docs, coded_queries = _quantized("binary").transform(docs, queries)
    flat = INDEXES.get("faiss-flat")(INDEXES.get("faiss-flat").Build())
    flat.build(coded_docs)
    scores, _ = flat.search(coded_queries, 10, INDEXES.get("faiss-flat").Search())
    hamming = INDEXES.get("faiss-binary")(INDEXES.get("faiss-binary").Build())
    hamming.build(docs)
    codes_scores, _ = hamming.search(queries, 10, INDEXES.get("faiss-binary").Search())
    dim = docs.shape[1]
    # the same best scores: +-1/sqrt(d) codes give (d - 2 Hamming) / d (positions may tie)
    assert np.allclose(scores, codes_scores / dim, atol=1e-5)


def test_quantisation_loses_little_on_real_embeddings_and_queries_can_stay_float(
    cranfield_vectors: tuple[np.ndarray, np.ndarray],
) -> None:
    docs, queries = cranfield_vectors
    exact = np.argsort(-(queries @ docs.T), axis=1)[:, :10]

    def overlap(precision: str, **params: object) -> float:
        coded_docs, coded_queries = _quantized(precision, **params).transform(docs, queries)
        found = np.argsort(-(coded_queries @ coded_docs.T), axis=1)[:, :10]
        return np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])

    assert overlap("float16") > 0.99
    assert overlap("int8") > 0.95
    symmetric, asymmetric = overlap("binary"), overlap("binary", quantize_queries=False)
    assert 0.4 < symmetric < asymmetric < 0.95  # float queries recover part of what bits lose


def test_code_sizes() -> None:
    assert [_quantized(p).vector_bytes(384) for p in ("float16", "int8", "binary")] == [
        768,
        384,
        48,
    ]
    assert _quantized("binary").vector_bytes(385) == 49
    assert Truncated(TruncateParams(of="base", dim=64)).vector_bytes(64) == 256
