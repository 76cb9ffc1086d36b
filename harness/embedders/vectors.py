"""Bring your own vectors: document and query embeddings computed elsewhere (a GPU cluster, an
API), read from files and evaluated like any other embedder's, ANN recall included.

Files, by suffix:
- `.npz`: an array `ids` (strings) and an array `vectors` (one row per id);
- `.npy`: the rows alone, their ids one per line in the file named by `documents_ids` or
  `queries_ids`;
- `.parquet`: an id column and a vector column of float lists (`id_column`, `vector_column`);
- `.hdf5` / `.h5`: ann-benchmarks' layout, documents in `train` and queries in `test`, ids the
  row numbers ("0", "1", ...) as the `ann-benchmarks` dataset loader numbers them.

Rows are matched to the dataset's documents and queries by id, so their order in the file does
not matter; an id of the dataset without a row is an error naming it. harness's indexes rank by
inner product: `similarity: cosine` (the default) makes rows unit length, `dot` keeps them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.embedders.base import EMBEDDERS, Progress, Side
from harness.errors import DatasetError
from harness.registry import require

SUFFIXES = (".npz", ".npy", ".parquet", ".hdf5", ".h5")
BLOCK = 65_536
"""Rows checked and normalised at once."""
HDF5_SIDES: dict[Side, str] = {"document": "train", "query": "test"}
"""ann-benchmarks' names for the two sides."""


class VectorsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: Path
    queries: Path | None = None
    """Defaults to `documents` (an ann-benchmarks file holds both sides)."""
    documents_ids: Path | None = None
    """For a .npy file of documents: its ids, one per line."""
    queries_ids: Path | None = None
    id_column: str = "id"
    vector_column: str = "vector"
    similarity: Literal["cosine", "dot"] = "cosine"


@EMBEDDERS.register("vectors")
class GivenVectors:
    """Precomputed vectors: `vectors(ids, side)` replaces encoding; nothing is timed for it."""

    family: ClassVar[Literal["dense"]] = "dense"
    precomputed: ClassVar[bool] = True
    Params = VectorsParams

    def __init__(self, params: VectorsParams) -> None:
        self.params = params
        self._digests: dict[Side, str] = {}
        for side in HDF5_SIDES:
            path, ids = self._files(side)
            if not path.is_file():
                raise DatasetError(f"{path}: {side} vectors not found; check the path in the suite")
            if path.suffix not in SUFFIXES:
                raise DatasetError(
                    f"{path}: unknown vector file type; use one of {', '.join(SUFFIXES)}"
                )
            if path.suffix == ".npy" and (ids is None or not ids.is_file()):
                option = f"{'documents' if side == 'document' else 'queries'}_ids"
                raise DatasetError(
                    f"{path}: a .npy file holds no ids; name a file of its ids, one per line, "
                    f"as '{option}'"
                )
            if path.suffix in (".hdf5", ".h5"):
                require("h5py", "'harness[hdf5]'", needed_by=f"{path.name} (HDF5 vectors)")

    def load(self) -> None:
        pass

    def vectors(self, ids: Sequence[str], side: Side) -> np.ndarray:
        """float32 rows for `ids`, in their order (unit length for cosine)."""
        path, ids_file = self._files(side)
        found_ids, rows = _read(path, ids_file, side, self.params)
        if rows.ndim != 2 or len(found_ids) != len(rows):
            raise DatasetError(
                f"{path}: {len(found_ids)} ids for {rows.shape[0]} rows of shape {rows.shape}; "
                "give one id per row"
            )
        if found_ids == list(ids):  # the file in the dataset's order: no gathered copy
            picked = rows
        else:
            position = {i: n for n, i in enumerate(found_ids)}
            missing = [i for i in ids if i not in position]
            if missing:
                raise DatasetError(
                    f"{path}: no vector for {len(missing)} of the dataset's {len(ids)} {side} "
                    f"ids (first: {missing[0]!r}); the file must cover the dataset's {side}s"
                )
            picked = rows[np.array([position[i] for i in ids], dtype=np.int64)]
        # one writable float32 copy at most (a memory-mapped .npy is read-only)
        picked = np.require(picked, np.float32, ["C_CONTIGUOUS", "WRITEABLE"])
        for start in range(0, len(picked), BLOCK):  # in blocks: no temporary of the whole
            block = picked[start : start + BLOCK]
            if not np.isfinite(block).all():
                raise DatasetError(f"{path}: a {side} vector holds NaN or infinity")
            if self.params.similarity == "cosine":
                norms = np.linalg.norm(block, axis=1, keepdims=True)
                block /= np.where(norms == 0, 1, norms)
        return picked

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> np.ndarray:
        raise TypeError("precomputed vectors are looked up by id (GivenVectors.vectors)")

    def cache_key(self, side: Side) -> dict[str, Any]:
        return {"kind": "vectors", "file": self._digest(side), **self._settings()}

    def describe(self) -> dict[str, Any]:
        documents, queries = self._files("document")[0], self._files("query")[0]
        return {
            "model": f"vectors:{documents.name}",
            "model_source": str(documents if queries == documents else f"{documents}, {queries}"),
            "documents_sha256": self._digest("document"),
            "queries_sha256": self._digest("query"),
            **self._settings(),
        }

    def _settings(self) -> dict[str, Any]:
        return {"similarity": self.params.similarity}

    def _files(self, side: Side) -> tuple[Path, Path | None]:
        p = self.params
        if side == "document":
            return p.documents, p.documents_ids
        return (p.queries or p.documents), (p.queries_ids if p.queries else p.documents_ids)

    def _digest(self, side: Side) -> str:
        """sha256 of the side's vector file (and ids file), recorded with every result."""
        if side not in self._digests:
            digest = hashlib.sha256()
            for path in self._files(side):
                if path is not None:
                    with path.open("rb") as handle:
                        while chunk := handle.read(1 << 20):
                            digest.update(chunk)
            self._digests[side] = digest.hexdigest()
        return self._digests[side]


def _read(
    path: Path, ids_file: Path | None, side: Side, params: VectorsParams
) -> tuple[list[str], np.ndarray]:
    """(ids, rows) of one side's file."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                for name in ("ids", "vectors"):
                    if name not in archive:
                        raise DatasetError(
                            f"{path}: no array '{name}'; an .npz needs 'ids' and 'vectors'"
                        )
                return [str(i) for i in archive["ids"]], np.asarray(archive["vectors"])
        if path.suffix == ".npy":
            assert ids_file is not None  # checked when the embedder was built
            ids = ids_file.read_text(encoding="utf-8").splitlines()
            return ids, np.load(path, mmap_mode="r", allow_pickle=False)
        if path.suffix == ".parquet":
            return _read_parquet(path, params)
        return _read_hdf5(path, side)
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DatasetError(f"{path}: cannot read {side} vectors ({problem})") from None


def _read_parquet(path: Path, params: VectorsParams) -> tuple[list[str], np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for column, option in (
        (params.id_column, "id_column"),
        (params.vector_column, "vector_column"),
    ):
        if column not in table.column_names:
            raise DatasetError(
                f"{path}: no column '{column}'; columns: {', '.join(table.column_names)} "
                f"(set '{option}')"
            )
    vectors = table.column(params.vector_column).combine_chunks()
    if not pa.types.is_list(vectors.type) and not pa.types.is_fixed_size_list(vectors.type):
        raise DatasetError(
            f"{path}: column '{params.vector_column}' holds {vectors.type}, not lists"
        )
    if vectors.null_count:
        raise DatasetError(f"{path}: {vectors.null_count} rows have no vector")
    lengths = set(pc.list_value_length(vectors).to_pylist())
    if len(lengths) > 1:
        raise DatasetError(f"{path}: vectors of different lengths ({sorted(lengths)[:3]})")
    flat = np.asarray(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    rows = flat.reshape(len(vectors), lengths.pop() if lengths else 0)
    return [str(i) for i in table.column(params.id_column).to_pylist()], rows


def _read_hdf5(path: Path, side: Side) -> tuple[list[str], np.ndarray]:
    import h5py

    with h5py.File(path, "r") as handle:
        name = HDF5_SIDES[side]
        if name not in handle:
            raise DatasetError(f"{path}: no '{name}' dataset; not in ann-benchmarks' layout")
        check_distance(path, str(handle.attrs.get("distance", "angular")))
        rows = np.asarray(handle[name], dtype=np.float32)
    return [str(i) for i in range(len(rows))], rows


def check_distance(path: Path, distance: str) -> None:
    """harness's indexes rank by inner product: angular (cosine) and dot files only."""
    if distance not in ("angular", "dot", "ip"):
        raise DatasetError(
            f"{path}: distance '{distance}'; harness's indexes rank by inner product, so only "
            "angular (cosine) and inner-product files can be evaluated"
        )
