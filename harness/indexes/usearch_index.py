"""usearch HNSW with float32, float16 or int8 storage, optionally re-scoring the candidates
with the float vectors (which are then kept, and counted in the index size)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.indexes.base import INDEXES, rescored


class USearchBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dtype: Literal["f32", "f16", "i8"] = "f32"
    connectivity: int = Field(16, ge=2)
    """Graph degree (HNSW's M)."""
    expansion_add: int = Field(128, ge=1)
    """Candidates while inserting (HNSW's efConstruction)."""
    threads: int = Field(1, ge=1)
    """Insertion threads; 1 builds the same graph every time."""
    rescore: bool = False
    """Keep the float vectors to re-score candidates (search with candidates)."""


class USearchSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expansion_search: int = Field(64, ge=1)
    """Candidates while searching (HNSW's ef)."""
    candidates: int | None = Field(None, ge=1)
    """With rescore: graph hits re-scored with float vectors per query; None: 4 * k."""


@INDEXES.register("usearch")
class USearch:
    Build = USearchBuild
    Search = USearchSearch
    requires: ClassVar[tuple[str, str] | None] = ("usearch", "'harness[usearch]'")

    @staticmethod
    def bits_per_dimension(build: USearchBuild) -> float | None:
        stored = {"f32": 32.0, "f16": 16.0, "i8": 8.0}[build.dtype]
        return stored + (32.0 if build.rescore else 0.0)

    def __init__(self, build: USearchBuild) -> None:
        self.params = build
        self._index: Any = None
        self._vectors: np.ndarray | None = None

    def build(self, vectors: np.ndarray) -> None:
        from usearch.index import Index

        p = self.params
        # int8 storage assumes unit vectors scaled to [-127, 127]: usearch's cosine metric
        metric = "cos" if p.dtype == "i8" else "ip"
        self._index = Index(
            ndim=vectors.shape[1],
            metric=metric,
            dtype=p.dtype,
            connectivity=p.connectivity,
            expansion_add=p.expansion_add,
        )
        self._index.add(np.arange(len(vectors)), vectors, threads=p.threads)
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32) if p.rescore else None

    def search(
        self, queries: np.ndarray, k: int, params: USearchSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        self._index.expansion_search = params.expansion_search
        depth = max(k, params.candidates or 4 * k) if self._vectors is not None else k
        found = self._index.search(queries, depth, threads=threads)
        # one query comes back as Matches (1-d, only the hits), several as BatchMatches
        got_keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        got_distances = np.asarray(found.distances, dtype=np.float32).reshape(len(queries), -1)
        counts = np.asarray(getattr(found, "counts", [got_keys.shape[1]])).reshape(-1)
        width = min(depth, got_keys.shape[1])
        keys = np.full((len(queries), depth), -1, dtype=np.int64)
        scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
        keys[:, :width], scores[:, :width] = got_keys[:, :width], 1.0 - got_distances[:, :width]
        missing = np.arange(depth)[None, :] >= counts[:, None]
        keys[missing], scores[missing] = -1, -np.inf
        if self._vectors is not None:
            return rescored(queries, self._vectors, keys, k)
        return scores, keys

    def effective(self, params: USearchSearch, k: int) -> dict[str, Any]:
        rescoring = (
            {"candidates": max(k, params.candidates or 4 * k)} if self._vectors is not None else {}
        )
        return {"expansion_search": params.expansion_search} | rescoring

    def nbytes(self) -> int:
        floats = self._vectors.nbytes if self._vectors is not None else 0
        return int(self._index.serialized_length) + floats  # as saved, without saving
