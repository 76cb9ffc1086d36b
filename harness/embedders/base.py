"""The two families of retrieval models a suite can name.

A dense embedder turns texts into vectors that an index searches. A lexical retriever (BM25)
owns its own inverted index: it runs once per dataset, not once per vector index. So do the
two other families, which encode like dense models (cached) but search their own index: a
learned sparse model (`sparse`: posting lists) and a multi-vector one (`multivector`: MaxSim
over token vectors): `EncodedIndexModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from harness.registry import Registry

Side = Literal["query", "document"]
Progress = Callable[[int], None]
"""Called with the number of texts just finished."""

EMBEDDERS: Registry[type] = Registry("embedder kind", "harness.embedders")


@runtime_checkable
class DenseEmbedder(Protocol):
    family: ClassVar[Literal["dense"]]

    def load(self) -> None:
        """Load the model; separate from __init__ so load time is measured on its own."""

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> np.ndarray:
        """float32 array (len(texts), dim); rows are unit length when the similarity is cosine."""

    def cache_key(self, side: Side) -> dict[str, Any]:
        """Everything that changes this side's vectors except the texts: model, a digest of
        its weights, similarity, length, prompt, backend, dtype. Computed without loading."""

    def describe(self) -> dict[str, Any]:
        """Resolved settings recorded with every result: model, source, dim, prompts, ..."""


@runtime_checkable
class LexicalRetriever(Protocol):
    family: ClassVar[Literal["lexical"]]

    def index(self, texts: Sequence[str]) -> None: ...

    def encode_queries(self, texts: Sequence[str]) -> Any:
        """The query side (tokenising, for BM25), timed apart from the search."""

    def search(self, encoded: Any, k: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document positions) for encoded queries, each (len(queries), k), best
        first; -1 pads short lists. Runs on `threads` threads."""

    def nbytes(self) -> int: ...

    def describe(self) -> dict[str, Any]: ...


@runtime_checkable
class SearchIndex(Protocol):
    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document positions), each (len(queries), k), best first; -1 pads."""

    def nbytes(self) -> int: ...


@runtime_checkable
class EncodedIndexModel(Protocol):
    """A model that encodes like a dense one (cached, through `pack`/`unpack`) but searches an
    index of its own over what it encodes: families `sparse` (posting lists) and
    `multivector` (MaxSim)."""

    index_kind: ClassVar[str]

    def load(self) -> None: ...

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> Any: ...

    def cache_key(self, side: Side) -> dict[str, Any]: ...

    def pack(self, encoded: Any) -> np.ndarray:
        """What the embedding cache keeps: one float32 2-D array."""

    def unpack(self, packed: np.ndarray) -> Any: ...

    def searchable(self, encoded: Any, side: Side) -> Any:
        """What the index holds (documents) or is asked (queries), e.g. pruned to top terms."""

    def index_for(self, documents: Any) -> SearchIndex: ...

    def index_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(build, search) settings as recorded with the index."""

    def figures(self, documents: Any, queries: Any) -> dict[str, float]:
        """Figures of its encodings (harness.figures names): dim, vector_bytes, per-text counts."""

    def describe(self) -> dict[str, Any]: ...
