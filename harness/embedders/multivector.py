"""Multi-vector late interaction: a vector per token, scored by MaxSim (ColBERT's late
interaction: for each query token, its best match among the document's tokens, summed).

Kind `multivector` keeps the token embeddings of any sentence-transformers model (its
transformer's output before pooling, padding dropped, each token vector scaled to unit length
as ColBERT does) and searches them exactly: every query token against every document token.
Kind `muvera` turns them into one vector per text, MUVERA's fixed-dimensional encodings
(Dhulipala et al., 2024), which any index searches; a pipeline re-ranks their candidates by
exact MaxSim (`rerank: muvera/exact, by: <multivector embedder>`).

Token vectors are cached like dense ones, packed into one float32 array: row 0 holds n, the
number of texts, in column 0; rows 1..n each text's number of tokens; the rows after the
token vectors, text after text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.cache import folder_digest
from harness.embedders.base import EMBEDDERS, Progress, Side
from harness.embedders.models import ResolvedModel, load_error, resolve_model, weights_folder
from harness.errors import ComponentError
from harness.registry import require

_CHUNK = 256  # texts per encode call: a progress step


@dataclass(frozen=True)
class Ragged:
    """Texts' token vectors: text i's are `vectors[starts[i] : starts[i] + lengths[i]]`."""

    lengths: np.ndarray
    vectors: np.ndarray
    """float32 (total tokens, dim), unit rows."""

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def text(self, i: int) -> np.ndarray:
        start = int(self.starts[i])
        return self.vectors[start : start + int(self.lengths[i])]

    def __getitem__(self, rows: np.ndarray) -> Ragged:
        starts = self.starts
        spans = [np.arange(starts[i], starts[i] + self.lengths[i]) for i in rows]
        take = np.concatenate(spans) if spans else np.empty(0, dtype=np.int64)
        return Ragged(self.lengths[rows], self.vectors[take])

    def texts(self) -> list[np.ndarray]:
        return [self.text(i) for i in range(len(self))]


class MultiVectorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    """Hugging Face hub id (kept in results) or a local folder of a sentence-transformers model."""
    batch_size: int = Field(32, gt=0)
    max_seq_length: int | None = Field(None, gt=0)
    query_prompt: str = ""
    document_prompt: str = ""
    device: str | None = None


@EMBEDDERS.register("multivector")
class MultiVectorEmbedder:
    family: ClassVar[Literal["multivector"]] = "multivector"
    Params = MultiVectorParams

    def __init__(self, params: MultiVectorParams) -> None:
        require("sentence_transformers", "sentence-transformers", needed_by="kind 'multivector'")
        self.params = params
        self._resolved: ResolvedModel = resolve_model(params.model)
        self._model: Any = None
        self._max_seq_length = params.max_seq_length

    def load(self) -> None:
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(self._resolved.location, device=self.params.device or "cpu")
        except Exception as err:
            raise load_error(self.params.model, self._resolved, err) from None
        if self.params.max_seq_length is not None:
            model.max_seq_length = self.params.max_seq_length
        self._max_seq_length = model.max_seq_length
        self._model = model

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> Ragged:
        if self._model is None:
            self.load()
        prompt = self.params.query_prompt if side == "query" else self.params.document_prompt
        lengths, parts = [], []
        for start in range(0, len(texts), _CHUNK):
            chunk = [prompt + t for t in texts[start : start + _CHUNK]]
            tokens = self._model.encode(
                chunk,
                output_value="token_embeddings",
                batch_size=self.params.batch_size,
                show_progress_bar=False,
            )
            for matrix in tokens:
                vectors = matrix.float().cpu().numpy()
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                parts.append(vectors / np.where(norms == 0, 1, norms))
                lengths.append(len(vectors))
            if progress is not None:
                progress(len(chunk))
        dim = parts[0].shape[1] if parts else 0
        stacked = np.concatenate(parts) if parts else np.empty((0, dim))
        return Ragged(np.asarray(lengths, np.int64), stacked.astype(np.float32))

    def cache_key(self, side: Side) -> dict[str, Any]:
        self._resolved = weights_folder(self.params.model, self._resolved, self.load)
        location = Path(self._resolved.location)
        return {
            "backend": "sentence-transformers-tokens",
            "model": self.params.model,
            "weights": folder_digest(location),
            "max_seq_length": self.params.max_seq_length,
            "prompt": self.params.query_prompt if side == "query" else self.params.document_prompt,
            "side": side,
            "layout": "ragged-packed",
        }

    @staticmethod
    def pack(ragged: Ragged) -> np.ndarray:
        n, dim = len(ragged), ragged.vectors.shape[1]
        packed = np.zeros((1 + n + len(ragged.vectors), dim), dtype=np.float32)
        packed[0, 0] = n
        packed[1 : 1 + n, 0] = ragged.lengths
        packed[1 + n :] = ragged.vectors
        return packed

    @staticmethod
    def unpack(packed: np.ndarray) -> Ragged:
        n = int(packed[0, 0])
        return Ragged(packed[1 : 1 + n, 0].astype(np.int64), packed[1 + n :])

    def searchable(self, encoded: Ragged, side: Side) -> Ragged:
        return encoded

    def index_for(self, documents: Ragged) -> MaxSimIndex:
        return MaxSimIndex(documents)

    def figures(self, documents: Ragged, queries: Ragged) -> dict[str, float]:
        n = max(1, len(documents))
        return {
            "dim": float(documents.vectors.shape[1]),
            "vector_bytes": documents.vectors.nbytes / n,
            "doc_vectors": float(documents.lengths.mean()) if len(documents) else 0.0,
            "query_vectors": float(queries.lengths.mean()) if len(queries) else 0.0,
        }

    index_kind: ClassVar[str] = "maxsim"

    def index_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {}

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.params.model,
            "model_source": self._resolved.source,
            "batch_size": self.params.batch_size,
            "max_seq_length": self._max_seq_length,
            "query_prompt": self.params.query_prompt,
            "document_prompt": self.params.document_prompt,
            "similarity": "maxsim",
        }


def maxsim(queries: Ragged, documents: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """MaxSim of each query against the documents whose token rows begin at `starts` (in
    `documents`), (len(queries), len(starts))."""
    out = np.empty((len(queries), len(starts)), dtype=np.float32)
    for i in range(len(queries)):
        similarity = queries.text(i) @ documents.T  # (query tokens, document tokens)
        out[i] = np.maximum.reduceat(similarity, starts, axis=1).sum(axis=0)
    return out


class MaxSimIndex:
    """Every document's token vectors; exact MaxSim against all of them."""

    def __init__(self, documents: Ragged) -> None:
        if len(documents) and documents.lengths.min() < 1:
            raise ComponentError("a document has no token vector; MaxSim needs one at least")
        self.documents = documents
        self._starts = documents.starts

    def search(self, queries: Ragged, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = maxsim(queries, self.documents.vectors, self._starts)
        depth = min(k, scores.shape[1])
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        top_scores = np.take_along_axis(scores, top, 1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        positions = np.full((len(queries), k), -1, dtype=np.int64)
        out = np.full((len(queries), k), -np.inf, dtype=np.float32)
        positions[:, :depth] = np.take_along_axis(top, order, 1)
        out[:, :depth] = np.take_along_axis(top_scores, order, 1)
        return out, positions

    def nbytes(self) -> int:
        return int(self.documents.vectors.nbytes + self.documents.lengths.nbytes)
