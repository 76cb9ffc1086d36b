"""faiss inverted file over flat vectors (IVF-Flat): k-means cells, `nprobe` of them searched."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ComponentError
from harness.indexes.base import INDEXES, faiss_nbytes, refinement, with_refinement


class IVFBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nlist: int | None = Field(None, ge=1)
    """k-means cells; None: round(sqrt(n)), a common starting point."""
    seed: int = 1234


class IVFSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nprobe: int = Field(1, ge=1)


def trained(
    factory: str, vectors: np.ndarray, nlist: int | None, seed: int, refine: bool = False
) -> Any:
    """A trained, filled faiss IVF index from a factory string with an {nlist} placeholder."""
    import faiss

    cells = nlist or max(1, round(math.sqrt(len(vectors))))
    if len(vectors) < cells:  # faiss's k-means would stop with a C++ assertion
        raise ComponentError(
            f"nlist={cells}: k-means needs at least as many vectors as cells, and the collection "
            f"has {len(vectors)}; lower nlist, or leave it out (round(sqrt(n)))"
        )
    index = faiss.index_factory(
        vectors.shape[1], factory.format(nlist=cells), faiss.METRIC_INNER_PRODUCT
    )
    faiss.extract_index_ivf(index).cp.seed = seed
    index.train(vectors)
    if refine:
        return with_refinement(index, vectors)
    index.add(vectors)
    return index


def ivf_search(
    index: Any, queries: np.ndarray, k: int, nprobe: int, k_factor: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Search `nprobe` cells; with `k_factor`, re-rank k_factor * k candidates (refined index)."""
    import faiss

    probe = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
    settings = probe if k_factor is None else refinement(k_factor, probe)
    scores, ids = index.search(queries, k, params=settings)
    return scores, ids


def ivf_settings(index: Any, nprobe: int) -> dict[str, Any]:
    import faiss

    nlist = int(faiss.extract_index_ivf(index).nlist)
    return {"nprobe": min(nprobe, nlist), "nlist": nlist}


@INDEXES.register("faiss-ivf")
class FaissIVF:
    Build = IVFBuild
    Search = IVFSearch
    requires: ClassVar[tuple[str, str] | None] = None

    @staticmethod
    def bits_per_dimension(build: IVFBuild) -> float | None:
        return 32.0

    def __init__(self, build: IVFBuild) -> None:
        self.params = build
        self._index: Any = None

    def build(self, vectors: np.ndarray) -> None:
        self._index = trained("IVF{nlist},Flat", vectors, self.params.nlist, self.params.seed)

    def search(
        self, queries: np.ndarray, k: int, params: IVFSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        return ivf_search(self._index, queries, k, params.nprobe)

    def effective(self, params: IVFSearch, k: int) -> dict[str, Any]:
        return ivf_settings(self._index, params.nprobe)

    def nbytes(self) -> int:
        return faiss_nbytes(self._index)
