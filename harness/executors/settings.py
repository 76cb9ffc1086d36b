"""The `executor:` block of a suite, which `harness run --executor/--address/...` override."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExecutorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    """A running Ray cluster (`ray start --head` prints it); None: $RAY_ADDRESS, else a
    local cluster started for the run and stopped after it."""
    encoders: int | None = Field(None, gt=0)
    """Encoder actors per model; None: as many as the cluster's CPUs (or GPUs) hold."""
    cpus_per_encoder: float = Field(1, gt=0)
    gpus_per_encoder: float | None = Field(None, ge=0)
    """GPUs each encoder actor holds; None: 1 where the cluster has GPUs, else 0."""
    shard_size: int = Field(2048, gt=0)
    """Texts per encoding shard, rounded to whole encode calls of the embedder."""
    retries: int = Field(2, ge=0)
    """How often a unit whose worker died is run again before its cells are recorded failed."""
