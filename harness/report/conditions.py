"""How steady the machine was while a run measured: warnings from the load, the CPU other
processes took, and the speed probe recorded with each cell (harness.machine)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

BUSY_CORES = 0.25
"""Other processes keeping more than this many cores busy during a cell make it 'busy'."""
PROBE_DRIFT = 0.3
"""The speed probe this much slower in some cell than in the run's fastest: the machine slowed."""
CONDITIONS = ("cell", "threads", "load_start", "load_end", "other_cpu", "probe_ms")
"""What the manifest lists of each cell a run timed."""


def cell_conditions(rows: pd.DataFrame) -> list[dict[str, object]]:
    """Each timed cell's machine state, for the manifest."""
    columns = [c for c in CONDITIONS if c in rows.columns]
    timed = rows[rows["status"] == "ok"] if "status" in rows else rows
    return [
        {str(k): (None if pd.isna(v) else v) for k, v in record.items()}
        for record in timed[columns].to_dict("records")
    ]


def machine_warnings(rows: pd.DataFrame, cpus: int) -> list[str]:
    """One line for each way the machine was not quiet while `rows` were timed."""
    timed = rows[rows["status"] == "ok"] if "status" in rows else rows
    warnings = []
    if "other_cpu" in timed and timed["other_cpu"].notna().any():
        busy = timed[timed["other_cpu"] > BUSY_CORES]
        if len(busy):
            most = float(busy["other_cpu"].max())
            warnings.append(
                f"the machine was busy during {len(busy)} of {len(timed)} cells: other processes "
                f"kept up to {most:.2f} of {cpus} CPUs busy (e.g. {busy['cell'].iloc[0]}); "
                "their cost figures are slower and noisier than this machine can do: rerun "
                "on a quiet machine"
            )
    if "load_start" in timed and timed["load_start"].notna().any():
        loaded = float(timed[["load_start", "load_end"]].max().max())
        if loaded > cpus:
            warnings.append(
                f"load average reached {loaded:.2f} on {cpus} CPUs while cells were timed"
            )
    if "probe_ms" in timed and timed["probe_ms"].notna().sum() >= 2:
        fastest, slowest = float(timed["probe_ms"].min()), float(timed["probe_ms"].max())
        if math.isfinite(fastest) and slowest > fastest * (1 + PROBE_DRIFT):
            cell = timed["cell"].to_numpy()[int(np.nanargmax(timed["probe_ms"].to_numpy()))]
            warnings.append(
                f"the machine's speed drifted: the speed probe took {slowest / fastest:.2f}x as "
                f"long in {cell} as in the fastest cell; cost figures across cells carry that"
            )
    return warnings
