"""The vector index Protocol: build once over document vectors, search with a parameter grid."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.registry import Registry

INDEXES: Registry[type] = Registry("index kind", "harness.indexes")


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product search over float32 vectors (cosine when the vectors are unit length).

    Implementations declare `Build` and `Search` pydantic models; the suite's `build:` mapping
    is validated against `Build` and given to __init__, each `search:` entry against `Search`.
    `requires` names (module, pip install argument) for an optional dependency.
    """

    Build: ClassVar[type[BaseModel]]
    Search: ClassVar[type[BaseModel]]
    requires: ClassVar[tuple[str, str] | None]

    @staticmethod
    def bits_per_dimension(build: Any) -> float | None:
        """Bits stored per dimension of each vector (codes plus any float copy kept to
        re-rank); None where that is not fixed per dimension (product quantisation)."""

    def build(self, vectors: np.ndarray) -> None: ...

    def search(
        self, queries: np.ndarray, k: int, params: Any, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document positions), each (len(queries), k), best first; -1 pads.

        The runner searches inside `measure.thread_limit(threads)`, which pins the process to
        `threads` CPUs and limits OpenMP and BLAS pools (faiss) to as many; a backend with a
        thread pool of its own (hnswlib, usearch) passes `threads` to it as well."""

    def effective(self, params: Any, k: int) -> dict[str, Any]:
        """The search settings really used, where the backend adjusts them (e.g. ef >= k)."""

    def nbytes(self) -> int:
        """Size of the index as serialised, vectors included."""


def rescored(
    queries: np.ndarray, vectors: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidate positions (-1 for none) by exact inner product; keep the best k."""
    safe = np.where(candidates < 0, 0, candidates)
    exact = np.einsum("qd,qcd->qc", queries, vectors[safe])
    exact[candidates < 0] = -np.inf
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(exact, order, 1), np.take_along_axis(candidates, order, 1)


def with_refinement(index: Any, vectors: np.ndarray) -> Any:
    """Wrap a trained, empty faiss index so its candidates are re-ranked with float vectors
    (IndexRefineFlat); the float vectors are stored too, and counted in the index size."""
    import faiss

    refined = faiss.IndexRefineFlat(index)
    refined.add(vectors)
    return refined


def refinement(k_factor: int, base: Any = None) -> Any:
    """Search parameters for `with_refinement`: re-rank k_factor * k candidates."""
    import faiss

    return faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=base)  # type: ignore[call-arg]


def faiss_nbytes(index: Any, *, binary: bool = False) -> int:
    """Size of a faiss index as serialised: what it takes on disk or to ship. Counted as faiss
    writes it, chunk by chunk, never holding the serialised copy (as large as the index)."""
    import faiss

    written = 0

    def count(chunk: bytes) -> int:
        nonlocal written
        written += len(chunk)
        return len(chunk)

    writer = faiss.PyCallbackIOWriter(count)  # type: ignore[attr-defined]
    (faiss.write_index_binary if binary else faiss.write_index)(index, writer)
    del writer  # flushes what it buffered
    return written
