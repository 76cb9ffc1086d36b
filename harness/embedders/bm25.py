"""BM25 through bm25s.

Defaults follow Pyserini's BM25 "flat" BEIR baselines (Lucene): k1=0.9, b=0.4, Lucene's
BM25 variant, Porter stemming, Lucene's 33 English stopwords, lower-casing. The tokenizer is
bm25s's regex (runs of two or more word characters), not Lucene's StandardTokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.embedders.base import EMBEDDERS
from harness.registry import require


class BM25Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k1: float = Field(0.9, ge=0)
    b: float = Field(0.4, ge=0, le=1)
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    stemmer: str | None = "porter"
    """A PyStemmer algorithm (porter, english, ...), or null for no stemming."""
    stopwords: str | list[str] | None = "en"
    """A bm25s language code ('en' is Lucene's English set), a list of words, or null."""
    lowercase: bool = True


@EMBEDDERS.register("bm25")
class BM25Retriever:
    family: ClassVar[Literal["lexical"]] = "lexical"
    Params = BM25Params

    def __init__(self, params: BM25Params) -> None:
        require("bm25s", "bm25s", needed_by="the bm25 embedder")
        if params.stemmer is not None:
            require("Stemmer", "PyStemmer", needed_by=f"bm25 stemming ({params.stemmer})")
            import Stemmer

            if params.stemmer not in Stemmer.algorithms():
                known = ", ".join(Stemmer.algorithms())
                raise ValueError(f"unknown stemmer '{params.stemmer}'; PyStemmer knows {known}")
        self.params = params
        self._retriever: Any = None
        self._tokenizer: Any = None
        self._n_docs = 0

    def _make_tokenizer(self) -> Any:
        import bm25s.tokenization

        stem = None
        if self.params.stemmer is not None:
            import Stemmer

            stem = Stemmer.Stemmer(self.params.stemmer).stemWord
        return bm25s.tokenization.Tokenizer(
            lower=self.params.lowercase, stopwords=self.params.stopwords or [], stemmer=stem
        )

    def index(self, texts: Sequence[str]) -> None:
        import bm25s

        self._tokenizer = self._make_tokenizer()
        tokens = self._tokenizer.tokenize(list(texts), return_as="tuple", show_progress=False)
        self._retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        self._retriever.index(tokens, show_progress=False)
        self._n_docs = len(texts)

    def encode_queries(self, texts: Sequence[str]) -> list[list[int]]:
        """The query side: each query's token ids in the indexed vocabulary."""
        ids = self._tokenizer.tokenize(
            list(texts), update_vocab=False, return_as="ids", show_progress=False
        )
        return [list(q) for q in ids]

    def search(
        self, encoded: list[list[int]], k: int, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        depth = min(k, self._n_docs)
        docs, scores = self._retriever.retrieve(
            encoded, k=depth, show_progress=False, n_threads=threads if threads > 1 else 0
        )
        docs = np.asarray(docs, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float32)
        # bm25s maps a query with no known term to its empty token, which matches empty
        # documents; Lucene returns nothing for such a query, and so do we.
        empty = self._tokenizer.word_to_id.get("")
        no_terms = np.array([all(t == empty for t in q) for q in encoded], dtype=bool)
        docs[no_terms], scores[no_terms] = -1, -np.inf
        if depth < k:
            pad = k - depth
            docs = np.pad(docs, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return scores, docs

    def score_candidates(self, encoded: list[int], positions: np.ndarray) -> np.ndarray:
        """BM25 scores of the documents at `positions` for one query (-inf for all where the
        query has no known term, as `search` returns nothing for it)."""
        empty = self._tokenizer.word_to_id.get("")
        if all(t == empty for t in encoded):
            return np.full(len(positions), -np.inf, dtype=np.float32)
        scores: np.ndarray = np.asarray(self._retriever.get_scores(encoded), dtype=np.float32)
        picked: np.ndarray = scores[positions]
        return picked

    def nbytes(self) -> int:
        arrays = self._retriever.scores if self._retriever is not None else {}
        return int(sum(a.nbytes for a in arrays.values() if isinstance(a, np.ndarray)))

    def describe(self) -> dict[str, Any]:
        return {"model": "bm25", "model_source": "bm25s", **self.params.model_dump()}
