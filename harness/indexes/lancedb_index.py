"""LanceDB, an embedded vector database (Rust, in-process): one table in a temporary folder,
searched by dot product through one of its vector indexes, or by a full scan without one.
Index training samples at random with no seed: two builds of an approximate index can differ."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.indexes.base import INDEXES

IndexType = Literal["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]
# LanceDB's index names -> its config classes (lancedb.index)
_CONFIGS = {
    "IVF_FLAT": "IvfFlat",
    "IVF_SQ": "IvfSq",
    "IVF_PQ": "IvfPq",
    "IVF_HNSW_FLAT": "HnswFlat",
    "IVF_HNSW_SQ": "HnswSq",
    "IVF_HNSW_PQ": "HnswPq",
}


class LanceBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index_type: IndexType | None = "IVF_FLAT"
    """None: no index; every search scans the whole table (exact)."""
    num_partitions: int | None = Field(None, ge=1)
    """IVF partitions; None: LanceDB's choice (one per 8,192 rows for IVF_FLAT). PQ training
    may make fewer than asked (about one per 256 rows), with a warning."""
    num_sub_vectors: int | None = Field(None, ge=1)
    """PQ codes per vector (IVF_PQ, IVF_HNSW_PQ); None: LanceDB's choice."""
    m: int = Field(20, ge=2)
    """HNSW graph degree (IVF_HNSW_*)."""
    ef_construction: int = Field(300, ge=1)


class LanceSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nprobes: int = Field(20, ge=1)
    """IVF partitions searched (every index kind here is IVF-partitioned)."""
    ef: int | None = Field(None, ge=1)
    """HNSW candidates (IVF_HNSW_*); None: 1.5 k, LanceDB's default. Raised to k: LanceDB
    rejects ef < k."""
    refine_factor: int | None = Field(None, ge=1)
    """Re-rank refine_factor * k candidates with the float vectors; None: no re-ranking."""


@INDEXES.register("lancedb")
class LanceDB:
    Build = LanceBuild
    Search = LanceSearch
    requires: ClassVar[tuple[str, str] | None] = ("lancedb", "'harness[lancedb]'")

    @staticmethod
    def bits_per_dimension(build: LanceBuild) -> float | None:
        return 32.0  # the table keeps the float vectors beside any index

    def __init__(self, build: LanceBuild) -> None:
        self.params = build
        self._folder: tempfile.TemporaryDirectory[str] | None = None  # removed with this object
        self._table: Any = None

    def build(self, vectors: np.ndarray) -> None:
        import lancedb
        import lancedb.index
        import pyarrow as pa

        p = self.params
        self._folder = tempfile.TemporaryDirectory(prefix="harness-lancedb-")
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        data = pa.table(
            {
                "position": pa.array(np.arange(len(vectors), dtype=np.int64)),
                "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )
        self._table = lancedb.connect(self._folder.name).create_table("documents", data=data)
        if p.index_type is None:
            return
        config_class = getattr(lancedb.index, _CONFIGS[p.index_type])
        settings = {"num_partitions": p.num_partitions, "num_sub_vectors": p.num_sub_vectors}
        if "HNSW" in p.index_type:
            settings |= {"m": p.m, "ef_construction": p.ef_construction}
        if "PQ" not in p.index_type:
            del settings["num_sub_vectors"]
        config = config_class(distance_type="dot", **settings)
        self._table.create_index("vector", config=config)

    def search(
        self, queries: np.ndarray, k: int, params: LanceSearch, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        query = (
            self._table.search(queries)
            .distance_type("dot")
            .limit(k)
            .select(["position", "_distance"])
        )
        for name, value in self.effective(params, k).items():
            query = getattr(query, name)(value)
        found = query.to_arrow()
        # several queries come back as one table with a query_index column; one query without
        rows = (
            found["query_index"].to_numpy()
            if "query_index" in found.column_names
            else np.zeros(found.num_rows, dtype=np.int64)
        )
        positions = found["position"].to_numpy()
        found_scores = 1.0 - found["_distance"].to_numpy()  # LanceDB's dot distance is 1 - q.v
        # by query, best first, ties by position
        order = np.lexsort((positions, -found_scores, rows))
        rows, positions, found_scores = rows[order], positions[order], found_scores[order]
        ranks = np.arange(len(rows)) - np.searchsorted(rows, rows)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids[rows, ranks], scores[rows, ranks] = positions, found_scores
        return scores, ids

    def effective(self, params: LanceSearch, k: int) -> dict[str, Any]:
        index_type = self.params.index_type
        if index_type is None:
            return {}
        used: dict[str, Any] = {"nprobes": params.nprobes}
        if "HNSW" in index_type:
            used["ef"] = max(k, params.ef or math.ceil(1.5 * k))
        if params.refine_factor is not None:
            used["refine_factor"] = params.refine_factor
        return used

    def nbytes(self) -> int:
        """Bytes on disk: the table (vectors included) and its index files."""
        if self._folder is None:
            return 0
        return sum(p.stat().st_size for p in Path(self._folder.name).rglob("*") if p.is_file())
