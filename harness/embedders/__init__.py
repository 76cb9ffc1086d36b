"""Embedders; importing this package registers the built-in kinds."""

from harness.embedders import (
    bm25,
    multivector,
    muvera,
    onnx,
    quantize,
    sbert,
    sparse,
    truncate,
    vectors,
)
from harness.embedders.base import EMBEDDERS, DenseEmbedder, LexicalRetriever

__all__ = [
    "EMBEDDERS",
    "DenseEmbedder",
    "LexicalRetriever",
    "bm25",
    "multivector",
    "muvera",
    "onnx",
    "quantize",
    "sbert",
    "sparse",
    "truncate",
    "vectors",
]
