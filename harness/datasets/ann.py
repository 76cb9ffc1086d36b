"""ann-benchmarks' HDF5 files as test collections: the `train` rows are the documents, the
`test` rows the queries, and each query's first `relevant` true neighbours (`neighbors`) are its
relevant documents, numbered by row ("0", "1", ...).

With the `vectors` embedder reading the same file, `R@10` with `relevant: 10` is
ann-benchmarks' recall@10 (up to ties at the tenth distance, which ann-benchmarks counts as
found). The collection has no texts: only given vectors run on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.datasets.base import LOADERS, Dataset
from harness.embedders.vectors import check_distance
from harness.errors import DatasetError
from harness.registry import require

LAYOUT = ("train", "test", "neighbors")


class AnnParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    relevant: int = Field(10, ge=1)
    """How many of each query's true nearest neighbours count as relevant."""


@LOADERS.register("ann-benchmarks")
class AnnBenchmarksLoader:
    Params = AnnParams
    has_texts: ClassVar[bool] = False

    def __init__(self, params: AnnParams) -> None:
        require("h5py", "'harness[hdf5]'", needed_by="the ann-benchmarks dataset loader")
        if not params.path.is_file():
            raise DatasetError(f"{params.path}: dataset not found; check the path in the suite")
        self.params = params

    def load(self, name: str) -> Dataset:
        import h5py

        path, relevant = self.params.path, self.params.relevant
        try:
            with h5py.File(path, "r") as handle:
                missing = [key for key in LAYOUT if key not in handle]
                if missing:
                    raise DatasetError(
                        f"{path}: no {', '.join(missing)}; ann-benchmarks' layout has "
                        f"{', '.join(LAYOUT)}"
                    )
                check_distance(path, str(handle.attrs.get("distance", "angular")))
                n_docs = int(handle["train"].shape[0])
                n_queries = int(handle["test"].shape[0])
                neighbours = np.asarray(handle["neighbors"][:, :relevant], dtype=np.int64)
        except OSError as err:
            raise DatasetError(f"{path}: not an HDF5 file ({err})") from None
        if neighbours.shape != (n_queries, relevant):
            raise DatasetError(
                f"{path}: 'neighbors' has shape {neighbours.shape}; expected {n_queries} queries "
                f"with at least relevant={relevant} neighbours each"
            )
        if neighbours.size and (neighbours.min() < 0 or neighbours.max() >= n_docs):
            raise DatasetError(f"{path}: 'neighbors' names rows outside the {n_docs} of 'train'")
        query_ids = [str(q) for q in range(n_queries)]
        return Dataset(
            name=name,
            split="test",
            doc_ids=[str(d) for d in range(n_docs)],
            doc_texts=[""] * n_docs,
            query_ids=query_ids,
            query_texts=[""] * n_queries,
            qrels={
                q: {str(d): 1 for d in row} for q, row in zip(query_ids, neighbours, strict=True)
            },
            source=str(path),
            has_texts=False,
        )
