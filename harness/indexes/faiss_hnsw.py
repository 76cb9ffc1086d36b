"""faiss HNSW graph over flat vectors (IndexHNSWFlat, inner product)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.indexes.base import INDEXES, faiss_nbytes


class HNSWBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    M: int = Field(32, ge=2)
    efConstruction: int = Field(40, ge=1)


class HNSWSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    efSearch: int = Field(16, ge=1)


@INDEXES.register("faiss-hnsw")
class FaissHNSW:
    Build = HNSWBuild
    Search = HNSWSearch
    requires: ClassVar[tuple[str, str] | None] = None

    @staticmethod
    def bits_per_dimension(build: HNSWBuild) -> float | None:
        return 32.0

    def __init__(self, build: HNSWBuild) -> None:
        self.params = build
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        import faiss

        self._index = faiss.IndexHNSWFlat(
            vectors.shape[1], self.params.M, faiss.METRIC_INNER_PRODUCT
        )
        self._index.hnsw.efConstruction = self.params.efConstruction
        self._index.add(vectors)

    def search(
        self, queries: np.ndarray, k: int, params: HNSWSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        scores, ids = self._index.search(
            queries,
            k,
            params=faiss.SearchParametersHNSW(efSearch=params.efSearch),  # type: ignore[attr-defined]
        )
        return scores, ids

    def effective(self, params: HNSWSearch, k: int) -> dict[str, Any]:
        # faiss sizes its candidate queue max(efSearch, k) but stops after efSearch steps, so
        # efSearch < k is honoured (and may return fewer than k hits).
        return {"efSearch": params.efSearch}

    def nbytes(self) -> int:
        return faiss_nbytes(self._index)
