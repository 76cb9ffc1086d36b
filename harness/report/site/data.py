"""What the site shows, read from results folders (and a baseline) through the store only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.results import ResultsStore, Views, metric_columns, read_views, stores_under


@dataclass(frozen=True)
class Source:
    """One results folder: the last run of its suite, and the manifest of every run in it."""

    folder: Path
    views: Views
    manifests: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class SiteData:
    sources: tuple[Source, ...]
    rows: pd.DataFrame
    """Every source's rows, with `results_folder`; newest last."""
    per_query: pd.DataFrame
    metrics: tuple[str, ...]
    """The suites' metric strings, first seen first; the first ranks the leaderboards."""
    baseline: Views | None
    query_facts: pd.DataFrame
    """Each dataset's judged queries: lengths and groups (harness.results.QUERY_FACT_COLUMNS)."""

    @property
    def metric(self) -> str:
        return self.metrics[0]

    @property
    def datasets(self) -> list[str]:
        return sorted(str(d) for d in self.rows["dataset"].unique())


def load(folders: list[Path], baseline: Path | None = None) -> SiteData:
    """Every results folder among (or one level below) `folders`; HarnessError when none."""
    found = stores_under(folders)
    gating = baseline is not None  # timed calls matter only to the cost gates of a baseline
    sources = tuple(
        Source(folder, read_views(folder, timings=gating), _manifests(folder))
        for folder in found
        if (folder / "runs.parquet").is_file()
    )
    if not sources:
        where = ", ".join(str(f) for f in folders)
        raise HarnessError(f"{where}: no results to report; give the --out of a harness run")
    rows = pd.concat(
        [s.views.rows.assign(results_folder=str(s.folder)) for s in sources], ignore_index=True
    )
    per_query = pd.concat([s.views.per_query for s in sources], ignore_index=True)
    metrics = tuple(metric_columns(rows))
    if not metrics:
        raise HarnessError(f"{sources[0].folder}: the results name no metric; rerun harness run")
    facts = pd.concat(
        [
            ResultsStore(s.folder).query_facts(s.views.rows.get("dataset_fingerprint", []))
            for s in sources
        ],
        ignore_index=True,
    ).drop_duplicates(["dataset_fingerprint", "query_id"])
    baseline_views = read_views(baseline) if baseline is not None else None
    return SiteData(sources, rows, per_query, metrics, baseline_views, facts)


def _manifests(folder: Path) -> tuple[dict[str, Any], ...]:
    """Each run's manifest, oldest first; the folder's manifest.json when there are none."""
    files = sorted((folder / "manifests").glob("*.json"))
    if not files and (folder / "manifest.json").is_file():
        files = [folder / "manifest.json"]
    found = []
    for path in files:
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a damaged manifest is left out; the run's rows still show
        if isinstance(manifest, dict):
            found.append(manifest)
    return tuple(found)
