"""Learned sparse retrieval (SPLADE and kin) through sentence-transformers' `SparseEncoder`,
searched by an inverted index of its own.

A text becomes a weight per vocabulary term, most of them zero. The index keeps, for every
term, the documents that carry it and their weights (posting lists); a query's score for a
document is the dot product of their weights, accumulated term by term over the query's
posting lists, exactly (scipy's sparse product). `doc_terms` / `query_terms` keep only the
heaviest terms of each text: smaller, faster and approximate.

Vectors are cached like dense ones, packed into one float32 array (`pack`): row 0 holds n, the
number of texts; rows 1..n each text's number of non-zeros; the rows after (term id, weight),
text after text. Counts and term ids are whole numbers below 2**24, exact in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.cache import folder_digest
from harness.embedders.base import EMBEDDERS, Progress, Side
from harness.embedders.models import ResolvedModel, load_error, resolve_model, weights_folder
from harness.errors import ComponentError
from harness.registry import require

_EXACT_IN_FLOAT32 = 1 << 24
_CHUNK = 256  # texts per encode call: a progress step


class SparseParams(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    """Hugging Face hub id (kept in results) or a local folder."""
    batch_size: int = Field(32, gt=0)
    max_seq_length: int | None = Field(None, gt=0)
    """Tokens kept per text; None keeps the model's configured length."""
    doc_terms: int | None = Field(None, gt=0)
    """Keep each document's heaviest terms only (approximate search); None keeps all."""
    query_terms: int | None = Field(None, gt=0)
    """Keep each query's heaviest terms only; None keeps all."""
    device: str | None = None


@EMBEDDERS.register("sparse")
class SparseEncoderEmbedder:
    family: ClassVar[Literal["sparse"]] = "sparse"
    Params = SparseParams

    def __init__(self, params: SparseParams) -> None:
        require("sentence_transformers", "sentence-transformers", needed_by="kind 'sparse'")
        self.params = params
        self._resolved: ResolvedModel = resolve_model(params.model)
        self._model: Any = None
        self._max_seq_length: int | None = params.max_seq_length

    def load(self) -> None:
        from sentence_transformers import SparseEncoder

        try:
            model = SparseEncoder(self._resolved.location, device=self.params.device or "cpu")
        except Exception as err:
            raise load_error(self.params.model, self._resolved, err) from None
        if self.params.max_seq_length is not None:
            model.max_seq_length = self.params.max_seq_length
        self._max_seq_length = model.max_seq_length
        self._model = model

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> Any:
        """scipy CSR (len(texts), vocabulary) float32, every term the model weighs."""
        from scipy import sparse

        if self._model is None:
            self.load()
        call = self._model.encode_query if side == "query" else self._model.encode_document
        parts = []
        for start in range(0, len(texts), _CHUNK):
            chunk = list(texts[start : start + _CHUNK])
            encoded = call(
                chunk,
                batch_size=self.params.batch_size,
                convert_to_sparse_tensor=True,
                show_progress_bar=False,
            ).coalesce()
            rows, cols = encoded.indices().cpu().numpy()
            values = encoded.values().float().cpu().numpy()
            shape = (len(chunk), int(encoded.shape[1]))
            parts.append(sparse.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float32))
            if progress is not None:
                progress(len(chunk))
        return sparse.vstack(parts, format="csr", dtype=np.float32)

    def searchable(self, matrix: Any, side: Side) -> Any:
        """What the index holds or is asked: each row's `doc_terms` / `query_terms` heaviest
        weights (all when unset)."""
        keep = self.params.query_terms if side == "query" else self.params.doc_terms
        return matrix if keep is None else top_terms(matrix, keep)

    index_kind: ClassVar[str] = "inverted"

    def index_for(self, documents: Any) -> InvertedIndex:
        return InvertedIndex(documents)

    def index_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(build, search) settings as recorded with the index."""
        return {"doc_terms": self.params.doc_terms}, {"query_terms": self.params.query_terms}

    def figures(self, documents: Any, queries: Any) -> dict[str, float]:
        n = max(1, documents.shape[0])
        return {
            "dim": float(documents.shape[1]),
            "vector_bytes": documents.nnz * 8 / n,  # a term id and a weight per non-zero
            "doc_nnz": documents.nnz / n,
            "query_nnz": queries.nnz / max(1, queries.shape[0]),
        }

    def cache_key(self, side: Side) -> dict[str, Any]:
        self._resolved = weights_folder(self.params.model, self._resolved, self.load)
        location = Path(self._resolved.location)
        return {
            "backend": "sentence-transformers-sparse",
            "model": self.params.model,
            "weights": folder_digest(location),
            "max_seq_length": self.params.max_seq_length,
            "side": side,
            "layout": "csr-packed",
        }

    @staticmethod
    def pack(matrix: Any) -> np.ndarray:
        """A CSR matrix as one float32 (1 + n + nnz, 2) array (module docstring)."""
        n, width = matrix.shape
        if max(n, width) >= _EXACT_IN_FLOAT32:
            raise ComponentError("too many texts or terms to cache sparse vectors (2**24)")
        packed = np.zeros((1 + n + matrix.nnz, 2), dtype=np.float32)
        packed[0, 0] = n
        packed[1 : 1 + n, 0] = np.diff(matrix.indptr)
        packed[1 + n :, 0] = matrix.indices
        packed[1 + n :, 1] = matrix.data
        return packed

    def unpack(self, packed: np.ndarray) -> Any:
        from scipy import sparse

        n = int(packed[0, 0])
        indptr = np.concatenate([[0], np.cumsum(packed[1 : 1 + n, 0].astype(np.int64))])
        entries = packed[1 + n :]
        width = self.vocabulary()
        return sparse.csr_matrix(
            (np.ascontiguousarray(entries[:, 1]), entries[:, 0].astype(np.int32), indptr),
            shape=(n, width),
        )

    def vocabulary(self) -> int:
        """The number of terms a vector has, from the model's configuration."""
        config = Path(self._resolved.location) / "config.json"
        import json

        try:
            return int(json.loads(config.read_text())["vocab_size"])
        except (OSError, ValueError, KeyError):
            if self._model is None:
                self.load()
            return int(self._model.get_sentence_embedding_dimension())

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.params.model,
            "model_source": self._resolved.source,
            "batch_size": self.params.batch_size,
            "max_seq_length": self._max_seq_length,
            "doc_terms": self.params.doc_terms,
            "query_terms": self.params.query_terms,
            "similarity": "dot",
        }


def top_terms(matrix: Any, keep: int) -> Any:
    """Each row of a CSR matrix cut to its `keep` largest weights."""
    from scipy import sparse

    rows, cols, values = [], [], []
    for i in range(matrix.shape[0]):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        data, index = matrix.data[start:end], matrix.indices[start:end]
        if len(data) > keep:
            best = np.argpartition(-data, keep - 1)[:keep]
            data, index = data[best], index[best]
        rows.append(np.full(len(data), i))
        cols.append(index)
        values.append(data)
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
        dtype=np.float32,
    )


class InvertedIndex:
    """Posting lists of a sparse document matrix; exact dot-product search, term at a time."""

    def __init__(self, documents: Any) -> None:
        self.postings = documents.T.tocsr()  # term -> (document, weight)
        self.postings.sort_indices()
        self.n_docs = documents.shape[0]

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document positions), each (len(queries), k), best first; documents that
        share no term with a query are not hits (-1 pads)."""
        scored = (queries @ self.postings).tocsr()
        n = scored.shape[0]
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        positions = np.full((n, k), -1, dtype=np.int64)
        for i in range(n):
            start, end = scored.indptr[i], scored.indptr[i + 1]
            data, docs = scored.data[start:end], scored.indices[start:end]
            if len(data) > k:
                top = np.argpartition(-data, k - 1)[:k]
                data, docs = data[top], docs[top]
            order = np.lexsort((docs, -data))  # score descending, ties by position
            scores[i, : len(order)] = data[order]
            positions[i, : len(order)] = docs[order]
        return scores, positions

    def nbytes(self) -> int:
        p = self.postings
        return int(p.data.nbytes + p.indices.nbytes + p.indptr.nbytes)
