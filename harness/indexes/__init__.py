"""Vector index backends; importing this package registers the built-in ones."""

from harness.indexes import (
    faiss_binary,
    faiss_flat,
    faiss_hnsw,
    faiss_ivf,
    faiss_ivfpq,
    faiss_sq,
    hnswlib_index,
    lancedb_index,
    usearch_index,
)
from harness.indexes.base import INDEXES, VectorIndex

__all__ = [
    "INDEXES",
    "VectorIndex",
    "faiss_binary",
    "faiss_flat",
    "faiss_hnsw",
    "faiss_ivf",
    "faiss_ivfpq",
    "faiss_sq",
    "hnswlib_index",
    "lancedb_index",
    "usearch_index",
]
