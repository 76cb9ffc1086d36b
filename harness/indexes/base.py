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

    def build(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int, params: Any) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document positions), each (len(queries), k), best first; -1 pads."""

    def effective(self, params: Any, k: int) -> dict[str, Any]:
        """The search settings really used, where the backend adjusts them (e.g. ef >= k)."""

    def nbytes(self) -> int:
        """Size of the index as serialised, vectors included."""
