"""faiss IVF with product-quantised codes (IVF-PQ): `m` sub-vectors of `nbits` each per vector,
optionally re-ranking the best candidates with the float vectors (refine).

Built without polysemous training (the factory's `np`): faiss otherwise re-orders each 8-bit
sub-quantiser's centroids for Hamming-distance filtering, which this search never uses; the
results are identical and the build was ~100x slower (66 s against 0.6 s training IVF32,PQ48x8
on 1,400 vectors here), so build times would have measured an unused step."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ComponentError
from harness.indexes.base import INDEXES, faiss_nbytes
from harness.indexes.faiss_ivf import ivf_search, ivf_settings, trained


class IVFPQBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nlist: int | None = Field(None, ge=1)
    """k-means cells; None: round(sqrt(n))."""
    m: int = Field(16, ge=1)
    """Sub-quantisers; must divide the dimension. Code size: m * nbits / 8 bytes."""
    nbits: int = Field(8, ge=1, le=16)
    seed: int = 1234
    refine: bool = False
    """Keep the float vectors and re-rank candidates with them (search with k_factor)."""


class IVFPQSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nprobe: int = Field(1, ge=1)
    k_factor: int = Field(1, ge=1)
    """With refine: re-rank k_factor * k PQ candidates with the float vectors."""


@INDEXES.register("faiss-ivfpq")
class FaissIVFPQ:
    Build = IVFPQBuild
    Search = IVFPQSearch
    requires: ClassVar[tuple[str, str] | None] = None

    @staticmethod
    def bits_per_dimension(build: IVFPQBuild) -> float | None:
        return 32.0 if build.refine else None  # PQ codes: m * nbits over any dimension

    def __init__(self, build: IVFPQBuild) -> None:
        self.params = build
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        dim, p = vectors.shape[1], self.params
        if dim % p.m:
            divisors = [d for d in range(1, dim + 1) if dim % d == 0 and d <= 128]
            raise ComponentError(
                f"faiss-ivfpq m={p.m} does not divide the dimension {dim}; try one of {divisors}"
            )
        if len(vectors) < 2**p.nbits:  # faiss's k-means would stop with a C++ assertion
            raise ComponentError(
                f"faiss-ivfpq nbits={p.nbits} trains {2**p.nbits} centroids per sub-quantiser "
                f"from the collection's {len(vectors)} vectors; use nbits <= "
                f"{int(math.log2(len(vectors)))}"
            )
        self._index = trained(
            f"IVF{{nlist}},PQ{p.m}x{p.nbits}np", vectors, p.nlist, p.seed, p.refine
        )

    def search(
        self, queries: np.ndarray, k: int, params: IVFPQSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        k_factor = params.k_factor if self.params.refine else None
        return ivf_search(self._index, queries, k, params.nprobe, k_factor)

    def effective(self, params: IVFPQSearch, k: int) -> dict[str, Any]:
        refined = {"k_factor": params.k_factor} if self.params.refine else {}
        return ivf_settings(self._index, params.nprobe) | refined

    def nbytes(self) -> int:
        return faiss_nbytes(self._index)
