"""A suite's work as units with typed, serialisable inputs and outputs, for any executor.

Two kinds of unit:
- `EncodeShard`: encode some texts of one side of a dataset with one embedder. Shards are cut
  along the embedder's own encoding calls (`shard_rows`), so a sharded encode gives the same
  bytes as an encode of the whole side, and fills the same cache entry.
- `CellsUnit`: the cells of one dataset x embedder, which share the encoded vectors, the
  exact neighbours, index builds and the query side's timings. It searches and evaluates them
  and yields one CellRecord each.

Units hold only specs, ids and texts (never a loaded model or index), so they pickle to
another process or machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.embedders.base import Side
from harness.spec import Cell, DatasetSpec, EmbedderSpec, Suite


@dataclass(frozen=True)
class EncodeShard:
    """Texts of one side to encode with `embedder`; `rows` are their positions in the side."""

    embedder: EmbedderSpec
    side: Side
    rows: np.ndarray
    texts: tuple[str, ...]


@dataclass(frozen=True)
class EncodedShard:
    rows: np.ndarray
    vectors: np.ndarray
    """float32 (len(rows), dim)."""
    seconds: float


@dataclass(frozen=True)
class CellsUnit:
    """The cells of one dataset x embedder still to compute, with their ids."""

    dataset: DatasetSpec
    embedder: EmbedderSpec
    cells: tuple[Cell, ...]
    cell_ids: tuple[str, ...]

    @property
    def ids(self) -> dict[Cell, str]:
        return dict(zip(self.cells, self.cell_ids, strict=True))


def cells_units(suite: Suite, spec: DatasetSpec, fingerprint: str) -> list[CellsUnit]:
    """Every cell of the dataset, as one unit per embedder, in the suite's order."""
    cells = suite.cells()
    units = []
    for embedder in suite.embedders:
        group = tuple(c for c in cells if (c.dataset, c.embedder) == (spec.name, embedder.name))
        ids = tuple(suite.cell_id(c, fingerprint) for c in group)
        units.append(CellsUnit(spec, embedder, group, ids))
    return units


def unloaded_cells(suite: Suite, spec: DatasetSpec) -> dict[Cell, str]:
    """Every cell of a dataset that could not be loaded, their ids naming no fingerprint."""
    return {c: suite.cell_id(c, "not loaded") for c in suite.cells() if c.dataset == spec.name}


def without(unit: CellsUnit, finished: set[str]) -> CellsUnit:
    """The unit less the cells whose ids are in `finished`."""
    kept = [(c, i) for c, i in zip(unit.cells, unit.cell_ids, strict=True) if i not in finished]
    return CellsUnit(
        unit.dataset, unit.embedder, tuple(c for c, _ in kept), tuple(i for _, i in kept)
    )


def shard_rows(embedder: Any, texts: Sequence[str], size: int) -> list[np.ndarray]:
    """Rows of `texts` in shards of about `size` that encode to the same bytes apart as
    together: runs of the embedder's encoding order (longest first, stable) cut at its call
    boundaries (`encode_step` texts). An embedder without `encode_step` is one shard."""
    if not texts:
        return []
    step = getattr(embedder, "encode_step", None)
    if step is None:
        return [np.arange(len(texts))]
    order = np.argsort([-len(t) for t in texts], kind="stable")
    per = max(step, size // step * step)
    return [order[start : start + per] for start in range(0, len(order), per)]


def encode_shards(
    embedder: Any, spec: EmbedderSpec, side: Side, texts: Sequence[str], size: int
) -> list[EncodeShard]:
    return [
        EncodeShard(spec, side, rows, tuple(texts[i] for i in rows))
        for rows in shard_rows(embedder, texts, size)
    ]


def assemble(shards: Sequence[EncodedShard], n: int) -> np.ndarray:
    """The side's vectors in row order, from its encoded shards."""
    dim = shards[0].vectors.shape[1] if shards else 0
    vectors = np.empty((n, dim), dtype=np.float32)
    filled = 0
    for shard in shards:
        vectors[shard.rows] = shard.vectors
        filled += len(shard.rows)
    if filled != n:
        raise ValueError(f"{filled} of {n} rows encoded")
    return vectors
