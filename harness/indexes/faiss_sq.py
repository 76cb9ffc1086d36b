"""faiss scalar quantisation, searched exhaustively: 8-bit, 4-bit, float16 or bfloat16 per
dimension, optionally re-ranking the best candidates with the float vectors (refine)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.indexes.base import INDEXES, faiss_nbytes, refinement, with_refinement

_QTYPES = {"SQ8": "QT_8bit", "SQ4": "QT_4bit", "fp16": "QT_fp16", "bf16": "QT_bf16"}


class SQBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qtype: Literal["SQ8", "SQ4", "fp16", "bf16"] = "SQ8"
    refine: bool = False
    """Keep the float vectors and re-rank candidates with them (search with k_factor)."""


class SQSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k_factor: int = Field(1, ge=1)
    """With refine: re-rank k_factor * k candidates with the float vectors."""


@INDEXES.register("faiss-sq")
class FaissSQ:
    Build = SQBuild
    Search = SQSearch
    requires: ClassVar[tuple[str, str] | None] = None

    @staticmethod
    def bits_per_dimension(build: SQBuild) -> float | None:
        stored = {"SQ8": 8.0, "SQ4": 4.0, "fp16": 16.0, "bf16": 16.0}[build.qtype]
        return stored + (32.0 if build.refine else 0.0)

    def __init__(self, build: SQBuild) -> None:
        self.params = build
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        import faiss

        qtype = getattr(faiss.ScalarQuantizer, _QTYPES[self.params.qtype])
        index = faiss.IndexScalarQuantizer(vectors.shape[1], qtype, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)  # per-dimension ranges (8 and 4 bit); a no-op for fp16
        if self.params.refine:
            self._index = with_refinement(index, vectors)
        else:
            index.add(vectors)
            self._index = index

    def search(
        self, queries: np.ndarray, k: int, params: SQSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        settings = refinement(params.k_factor) if self.params.refine else None
        scores, ids = self._index.search(queries, k, params=settings)
        return scores, ids

    def effective(self, params: SQSearch, k: int) -> dict[str, Any]:
        return {"k_factor": params.k_factor} if self.params.refine else {}

    def nbytes(self) -> int:
        return faiss_nbytes(self._index)
