"""Binary codes: one sign bit per dimension, searched by Hamming distance (faiss IndexBinaryFlat),
optionally re-scoring the best Hamming candidates with the float vectors.

Without re-scoring a hit's score is dim - 2 * Hamming distance: the inner product of the
+-1 codes. With `rescore: true` the float vectors are kept (and counted in the index size).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ComponentError
from harness.indexes.base import INDEXES, faiss_nbytes, rescored


class BinaryBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rescore: bool = False
    """Keep the float vectors to re-score Hamming candidates."""


class BinarySearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: int | None = Field(None, ge=1)
    """Hamming candidates re-scored per query (with rescore); None: 4 * k."""


def sign_bits(vectors: np.ndarray) -> np.ndarray:
    return np.packbits(vectors > 0, axis=1)


@INDEXES.register("faiss-binary")
class FaissBinary:
    Build = BinaryBuild
    Search = BinarySearch
    requires: ClassVar[tuple[str, str] | None] = None

    @staticmethod
    def bits_per_dimension(build: BinaryBuild) -> float | None:
        return 1.0 + (32.0 if build.rescore else 0.0)

    def __init__(self, build: BinaryBuild) -> None:
        self.params = build
        self._index: Any = None
        self._vectors: np.ndarray | None = None

    def build(self, vectors: np.ndarray) -> None:
        import faiss

        dim = vectors.shape[1]
        if dim % 8:
            raise ComponentError(f"faiss-binary needs a dimension divisible by 8, got {dim}")
        self._dim = dim
        self._index = faiss.IndexBinaryFlat(dim)
        self._index.add(sign_bits(vectors))
        self._vectors = (
            np.ascontiguousarray(vectors, dtype=np.float32) if self.params.rescore else None
        )

    def search(
        self, queries: np.ndarray, k: int, params: BinarySearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        depth = self._depth(params, k)
        distances, ids = self._index.search(sign_bits(queries), depth)
        if self._vectors is None:
            return (self._dim - 2 * distances).astype(np.float32)[:, :k], ids[:, :k]
        return rescored(queries, self._vectors, ids, k)

    def _depth(self, params: BinarySearch, k: int) -> int:
        if self._vectors is None:
            return k
        return max(k, params.candidates or 4 * k)

    def effective(self, params: BinarySearch, k: int) -> dict[str, Any]:
        return {"candidates": self._depth(params, k)} if self._vectors is not None else {}

    def nbytes(self) -> int:
        floats = self._vectors.nbytes if self._vectors is not None else 0
        return faiss_nbytes(self._index, binary=True) + floats
