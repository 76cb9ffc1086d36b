"""Exact inner-product search (faiss IndexFlatIP): the oracle every ANN index is checked against."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness.indexes.base import INDEXES, NoParams, faiss_nbytes


@INDEXES.register("faiss-flat")
class FaissFlat:
    Build = NoParams
    Search = NoParams
    requires: ClassVar[tuple[str, str] | None] = None

    @staticmethod
    def bits_per_dimension(build: NoParams) -> float | None:
        return 32.0

    def __init__(self, build: NoParams) -> None:
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        import faiss

        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(vectors)

    def search(
        self, queries: np.ndarray, k: int, params: NoParams, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._index.search(queries, k)
        return scores, ids

    def effective(self, params: NoParams, k: int) -> dict[str, Any]:
        return {}

    def nbytes(self) -> int:
        return faiss_nbytes(self._index)
