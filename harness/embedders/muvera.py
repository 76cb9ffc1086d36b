"""MUVERA's fixed-dimensional encodings (Dhulipala et al., "MUVERA: Multi-Vector Retrieval via
Fixed Dimensional Encodings", NeurIPS 2024): a multi-vector embedder's token vectors turned into
one vector per text, whose inner products approximate MaxSim (Chamfer similarity), so any
single-vector index searches them. Derived from the base's cached token vectors.

Computed by `muvera-python` (Apache-2.0), a port of the authors' C++ (google/graph-mining,
sketching/point_cloud/fixed_dimensional_encoding.cc): for each of `repetitions`, SimHash with
`simhash_projections` Gaussian hyperplanes splits the space into 2**simhash_projections
partitions; each partition holds the sum of a query's tokens in it, and the average of a
document's (an empty partition takes the document's nearest token by Hamming distance); an AMS
sketch projects each token to `projection_dim` first. Defaults are the paper's: 20
repetitions, 5 projections (32 partitions), 16 dimensions: 10,240 dimensions per text.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.embedders.base import EMBEDDERS
from harness.registry import require


class MuveraParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    of: str
    """Name of a multivector embedder in the same suite."""
    repetitions: int = Field(20, ge=1)
    simhash_projections: int = Field(5, ge=0, le=20)
    projection_dim: int | None = Field(16, ge=1)
    """Each token's dimensions after the AMS sketch; None keeps them all."""
    fill_empty_partitions: bool = True
    final_dim: int | None = Field(None, ge=1)
    """A Count Sketch of the whole encoding to this many dimensions; None: none."""
    seed: int = 42


@EMBEDDERS.register("muvera")
class Muvera:
    family: ClassVar[Literal["dense"]] = "dense"
    derived: ClassVar[bool] = True
    derives_from: ClassVar[str] = "multivector"
    Params = MuveraParams

    def __init__(self, params: MuveraParams) -> None:
        require("muvera", "'harness[muvera]'", needed_by="kind 'muvera'")
        self.params = params

    def transform(self, documents: Any, queries: Any) -> tuple[np.ndarray, np.ndarray]:
        """(document encodings, query encodings) from `Ragged` token vectors."""
        encoder = self._encoder(documents.vectors.shape[1])
        return (
            np.ascontiguousarray(encoder.encode_documents(documents.texts()), dtype=np.float32),
            np.ascontiguousarray(encoder.encode_queries(queries.texts()), dtype=np.float32),
        )

    def _encoder(self, dim: int) -> Any:
        from muvera import Muvera as Encoder

        p = self.params
        return Encoder(
            num_repetitions=p.repetitions,
            num_simhash_projections=p.simhash_projections,
            dimension=dim,
            projection_type="identity" if p.projection_dim is None else "ams_sketch",
            projection_dimension=p.projection_dim,
            fill_empty_partitions=p.fill_empty_partitions,
            final_projection_dimension=p.final_dim,
            seed=p.seed,
        )

    def vector_bytes(self, dim: int) -> int:
        return 4 * dim
