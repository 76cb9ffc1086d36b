"""hnswlib HNSW graph, inner-product space."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.indexes.base import INDEXES


class HnswlibBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    M: int = Field(16, ge=2)
    ef_construction: int = Field(200, ge=1)
    seed: int = 100
    """hnswlib's random_seed for level assignment."""
    threads: int = Field(1, ge=1)
    """Insertion threads. 1 builds the same graph every time; more build faster, but the graph,
    and so recall and scores, then vary from build to build."""


class HnswlibSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ef: int = Field(10, ge=1)


@INDEXES.register("hnswlib")
class Hnswlib:
    Build = HnswlibBuild
    Search = HnswlibSearch
    requires: ClassVar[tuple[str, str] | None] = ("hnswlib", "'harness[hnswlib]'")

    @staticmethod
    def bits_per_dimension(build: HnswlibBuild) -> float | None:
        return 32.0

    def __init__(self, build: HnswlibBuild) -> None:
        self.params = build
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        import hnswlib

        n, dim = vectors.shape
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=max(n, 1),
            M=self.params.M,
            ef_construction=self.params.ef_construction,
            random_seed=self.params.seed,
        )
        self._index.add_items(vectors, np.arange(n), num_threads=self.params.threads)

    def search(
        self, queries: np.ndarray, k: int, params: HnswlibSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        self._index.set_ef(params.ef)
        k_found = min(k, self._index.get_current_count())
        labels, distances = self._index.knn_query(queries, k=k_found, num_threads=threads)
        scores = 1.0 - distances  # hnswlib's "ip" distance is 1 - <q, d>
        if k_found < k:
            pad = ((0, 0), (0, k - k_found))
            labels = np.pad(labels.astype(np.int64), pad, constant_values=-1)
            scores = np.pad(scores, pad, constant_values=-np.inf)
        return scores.astype(np.float32), labels.astype(np.int64)

    def effective(self, params: HnswlibSearch, k: int) -> dict[str, Any]:
        # hnswlib searches with max(ef, k) candidates.
        return {"ef": max(params.ef, k)}

    def nbytes(self) -> int:
        return int(self._index.index_file_size())
