"""Quantised embeddings: another embedder's vectors stored at a lower precision (float16, int8
with per-dimension ranges calibrated on the corpus, or one sign bit per dimension), derived
from the base's cached vectors. Indexes search the values the codes stand for, so a flat index
scores exactly what a float16/int8/Hamming kernel over the codes would rank."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.embedders.base import EMBEDDERS

Precision = Literal["float16", "int8", "binary"]
_BITS: dict[str, int] = {"float16": 16, "int8": 8, "binary": 1}
_Codec = Callable[[np.ndarray], np.ndarray]


class QuantizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    of: str
    """Name of a dense embedder in the same suite."""
    precision: Precision
    quantize_queries: bool = True
    """False: queries stay float32 against quantised documents (asymmetric search)."""


@EMBEDDERS.register("quantize")
class Quantized:
    family: ClassVar[Literal["dense"]] = "dense"
    derived: ClassVar[bool] = True
    Params = QuantizeParams

    def __init__(self, params: QuantizeParams) -> None:
        self.params = params

    def transform(
        self, documents: np.ndarray, queries: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        quantize = {"float16": _float16, "int8": _int8_on(documents), "binary": _signs}
        code = quantize[self.params.precision]
        return code(documents), (code(queries) if self.params.quantize_queries else queries)

    @staticmethod
    def bits_per_dimension(params: QuantizeParams) -> float:
        """Bits one code takes per dimension (validation compares it with the index's)."""
        return float(_BITS[params.precision])

    def vector_bytes(self, dim: int) -> int:
        """Bytes one document vector takes as codes (int8 ranges are shared, not counted)."""
        return math.ceil(dim * _BITS[self.params.precision] / 8)


def _float16(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float16).astype(np.float32)


def _int8_on(documents: np.ndarray) -> _Codec:
    """256 levels per dimension between the corpus's min and max, as sentence-transformers'
    `quantize_embeddings(precision="int8")` calibrates; queries outside the range clip."""
    low, high = documents.min(axis=0), documents.max(axis=0)
    step = np.where(high > low, (high - low) / 255, 1).astype(np.float32)

    def codec(vectors: np.ndarray) -> np.ndarray:
        codes = np.clip(np.rint((vectors - low) / step), 0, 255)
        return np.ascontiguousarray(low + codes * step, dtype=np.float32)

    return codec


def _signs(vectors: np.ndarray) -> np.ndarray:
    """+1/-1 per dimension (x > 0), scaled to unit length: inner product = 1 - 2 Hamming / d."""
    signs = np.where(vectors > 0, 1.0, -1.0) / np.sqrt(vectors.shape[1])
    return np.ascontiguousarray(signs, dtype=np.float32)
