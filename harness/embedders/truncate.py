"""Elastic dimensions: another embedder's vectors cut to their first `dim` components, then
renormalised (Matryoshka-style). Derived from the base's vectors (cached), never re-encoded."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.embedders.base import EMBEDDERS


class TruncateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    of: str
    """Name of a dense embedder in the same suite."""
    dim: int = Field(ge=1)


@EMBEDDERS.register("truncate")
class Truncated:
    family: ClassVar[Literal["dense"]] = "dense"
    derived: ClassVar[bool] = True
    Params = TruncateParams

    def __init__(self, params: TruncateParams) -> None:
        self.params = params

    def transform(
        self, documents: np.ndarray, queries: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._cut(documents), self._cut(queries)

    def vector_bytes(self, dim: int) -> int:
        return 4 * dim

    def _cut(self, vectors: np.ndarray) -> np.ndarray:
        if vectors.shape[1] < self.params.dim:
            raise ValueError(
                f"truncate dim={self.params.dim} exceeds the {vectors.shape[1]} dimensions of "
                f"'{self.params.of}'; pick a smaller dim"
            )
        cut = np.array(vectors[:, : self.params.dim], dtype=np.float32)
        norms = np.linalg.norm(cut, axis=1, keepdims=True)
        return np.ascontiguousarray(cut / np.where(norms == 0, 1, norms))
