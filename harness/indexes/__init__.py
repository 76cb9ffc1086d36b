"""Vector index backends; importing this package registers the built-in ones."""

from harness.indexes import faiss_flat, faiss_hnsw, hnswlib_index
from harness.indexes.base import INDEXES, VectorIndex

__all__ = ["INDEXES", "VectorIndex", "faiss_flat", "faiss_hnsw", "hnswlib_index"]
