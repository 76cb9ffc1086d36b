"""Each page's content, from the site's data: tables, charts and notes, escaped by the
templates (Jinja2 autoescape) and, inside plots, by the chart specs."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from harness.figures import format_value
from harness.gate.check import grade
from harness.gate.compare import Runs, compare
from harness.gate.output import check_display, check_verdict, compare_display, compare_verdict
from harness.gate.rules import default_gates, parse_gate
from harness.report.fair import fair_leaderboard, ranking_text
from harness.report.insertion import insertion_spread
from harness.report.leaderboard import leaderboard, ranked
from harness.report.plots import slug
from harness.report.rank_shift import rank_shift
from harness.report.site.charts import Chart, charts
from harness.report.site.data import SiteData, Source
from harness.report.site.significance import ALPHA, standings
from harness.report.site.tables import Table, from_frames
from harness.report.slices import SLICES, slice_table, wide


@dataclass(frozen=True)
class PlotSlot:
    """Where a page draws a chart: the element's id, its accessible title, its spec."""

    id: str
    title: str
    json: str


@dataclass(frozen=True)
class Overview:
    metric: str
    summary: str
    rankings: Table
    notes: list[str]
    matrix: Table


@dataclass(frozen=True)
class DatasetCells:
    summary: str
    cells: Table
    notes: list[str]


@dataclass(frozen=True)
class Section:
    """A titled table: a dataset's significance, a graded suite, a gate, a study."""

    title: str
    table: Table
    verdict: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sections:
    sections: list[Section]
    method: str = ""


@dataclass(frozen=True)
class RunProvenance:
    title: str
    table: Table
    command: str
    manifest: str


@dataclass(frozen=True)
class Provenance:
    runs: list[RunProvenance]


@dataclass(frozen=True)
class Page:
    """One HTML file: its template and what the template shows (`body`)."""

    file: str
    title: str
    template: str
    body: Overview | DatasetCells | Sections | Provenance
    charts: list[PlotSlot] = field(default_factory=list)


def dataset_file(dataset: str) -> str:
    """A file name for a dataset page; any name (even a hostile one) becomes a safe one."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-.")[:60] or "dataset"
    if slug == dataset:
        return f"dataset-{slug}.html"
    digest = hashlib.sha256(dataset.encode()).hexdigest()[:8]  # names that differ stay apart
    return f"dataset-{slug}-{digest}.html"


RANKING_TITLES = {
    "datasets_run": "datasets run",
    "mean_shared": "mean over shared datasets",
    "mean_rank": "mean rank",
    "bt_strength": "BT strength",
    "bt_rank": "BT rank",
    "bt_comparisons": "BT comparisons",
}


def overview(data: SiteData) -> Page:
    board = fair_leaderboard(data.rows, data.per_query, data.metric)
    rankings = board.table.rename(columns=RANKING_TITLES)
    shown = pd.DataFrame(
        {
            c: [ranking_text(k, v) for v in board.table[k]]
            for k, c in zip(board.table.columns, rankings.columns, strict=True)
        }
    )
    matrix_shown = pd.DataFrame({"system": [str(s) for s in board.matrix.index]})
    classes = {}
    for dataset in board.matrix.columns:
        values, states = board.matrix[dataset], board.status[dataset]
        matrix_shown[str(dataset)] = [
            format_value(data.metric, float(v))
            if not math.isnan(v)
            else ("—" if s == "not run" else f"— {s}")
            for v, s in zip(values, states, strict=True)
        ]
        classes[str(dataset)] = states.map(lambda s: "" if s == "ok" else "missing").reset_index(
            drop=True
        )
    numbers = board.matrix.reset_index(drop=True)
    numbers.columns = [str(c) for c in numbers.columns]
    n_systems, n_datasets = len(board.matrix.index), len(board.matrix.columns)
    return Page(
        "index.html",
        "Overview",
        "overview.html",
        Overview(
            metric=data.metric,
            summary=(
                f"{n_systems} systems on {n_datasets} datasets from {len(data.sources)} results "
                f"folder(s); ranked by {data.metric}. Every dataset has its own page."
            ),
            rankings=from_frames("rankings", "Rankings (click a column to sort)", shown, rankings),
            notes=board.note.splitlines(),
            matrix=from_frames(
                "matrix", f"{data.metric} by system and dataset", matrix_shown, numbers, classes
            ),
        ),
    )


def dataset_page(data: SiteData, dataset: str) -> Page:
    rows = data.rows[data.rows["dataset"] == dataset].reset_index(drop=True)
    board = leaderboard(rows, list(data.metrics))
    shown = board.shown.drop(columns="dataset")  # the page is the dataset's
    numbers = board.table.drop(columns="dataset")
    order = ranked(rows, data.metrics)
    for recall in [c for c in rows.columns if c.startswith("ann_recall@")]:
        shown.insert(
            len(data.metrics) + 3,
            recall,
            order[recall].map(lambda v, r=recall: format_value(r, v)).to_numpy(),
        )
        numbers[recall] = order[recall].to_numpy()
    status = {"status": shown["status"].map(lambda s: "" if s == "ok" else "failed")}
    found = charts(rows, data.metric)
    ok = int((rows["status"] == "ok").sum())
    return Page(
        dataset_file(dataset),
        f"Dataset: {dataset}",
        "dataset.html",
        DatasetCells(
            summary=(
                f"{len(rows)} cells, {ok} ok, {len(rows) - ok} failed. Best first by "
                f"{data.metric}; failures last."
            ),
            cells=from_frames(
                "cells", f"Every cell of {dataset}", shown, numbers, status, filterable=True
            ),
            notes=board.notes,
        ),
        charts=[_chart(c, dataset) for c in found],
    )


def _chart(chart: Chart, dataset: str) -> PlotSlot:
    return PlotSlot(chart.slug, f"{dataset}: {chart.title}", chart.json())


def significance_page(data: SiteData) -> Page:
    sections: list[Section] = []
    for dataset, standing in standings(data.rows, data.per_query, data.metric).items():
        frame = pd.DataFrame(
            {
                "rank": [s.rank for s in standing],
                "system": [s.system for s in standing],
                data.metric: [s.mean for s in standing],
                "Δ to best": [s.delta_to_best for s in standing],
                "p vs best (Holm)": [s.p_vs_best for s in standing],
                "tied with best": ["yes" if s.tied_with_best else "no" for s in standing],
                "p vs next (Holm)": [s.p_vs_next for s in standing],
                "separable from next": ["yes" if s.separable_from_next else "no" for s in standing],
                "queries": [s.queries for s in standing],
            }
        )
        shown = frame.assign(
            **{
                data.metric: frame[data.metric].map(lambda v: format_value(data.metric, v)),
                "Δ to best": frame["Δ to best"].map(lambda v: format_value(data.metric, v)),
                "p vs best (Holm)": frame["p vs best (Holm)"].map(_p),
                "p vs next (Holm)": frame["p vs next (Holm)"].map(_p),
            }
        )
        tied = {
            "tied with best": frame["tied with best"].map(lambda t: "tied" if t == "yes" else "")
        }
        table = from_frames(
            f"significance-{len(sections)}",
            f"{dataset}: systems by {data.metric}",
            shown,
            frame,
            tied,
        )
        sections.append(Section(dataset, table))
    method = (
        f"Each system is compared with the best of its dataset, and with the next in rank, by a "
        f"paired randomisation test over the queries both scored ({data.metric}, 10,000 "
        f"resamples); p-values are Holm-adjusted across each kind of test within a dataset, as "
        f"harness compare adjusts its tests. 'tied with best': not separable from the best at "
        f"the {ALPHA} level; 'separable from next': this rank and the next differ beyond chance."
    )
    return Page(
        "significance.html",
        "Significance",
        "significance.html",
        Sections(sections, method),
    )


def _p(value: float) -> str:
    if math.isnan(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def reproduction_page(data: SiteData) -> Page:
    sections: list[Section] = []
    for source in data.sources:
        expected = source.views.manifest.get("expectations") or []
        if expected:
            graded = grade(expected, source.views.rows)
            shown = check_display(graded)
            classes = {
                "grade": graded["grade"].map(lambda g: {"within tolerance": "within"}.get(g, g))
            }
            sections.append(
                Section(
                    f"Expected values of {_suite(source)}",
                    from_frames(
                        f"expected-{len(sections)}", "expected, got, grade", shown, None, classes
                    ),
                    check_verdict(graded),
                )
            )
        if data.baseline is not None:
            sections.append(_against_baseline(data, source, len(sections)))
    return Page("reproduction.html", "Reproduction", "reproduction.html", Sections(sections))


def _against_baseline(data: SiteData, source: Source, n: int) -> Section:
    assert data.baseline is not None
    now, then = source.views, data.baseline
    metrics = [m for m in data.metrics if m in now.rows.columns and m in then.rows.columns]
    gates = [parse_gate(text) for text in now.manifest.get("gates", [])] or default_gates(metrics)
    result = compare(
        Runs(now.rows, now.per_query, now.timings),
        Runs(then.rows, then.per_query, then.timings),
        metrics,
        gates,
    )
    shown = compare_display(result, metrics)
    classes = {"verdict": shown["verdict"].map(lambda v: v if v in ("FAIL", "pass") else "")}
    return Section(
        f"{_suite(source)} against the baseline",
        from_frames(
            f"baseline-{n}", "deltas, significance and gates", shown, None, classes, filterable=True
        ),
        compare_verdict(result),
        result.notes,
    )


def provenance_page(data: SiteData) -> Page:
    runs: list[RunProvenance] = []
    for source in data.sources:
        for manifest in source.manifests:
            fields = {
                "suite": manifest.get("suite", ""),
                "run": manifest.get("run_id", ""),
                "created": manifest.get("created", ""),
                "harness": manifest.get("harness_version", ""),
                "git sha": manifest.get("git_sha", ""),
                "python": manifest.get("python", ""),
                "CPU": (
                    f"{manifest.get('cpu', '')} ({manifest.get('cpus_usable', '?')} of "
                    f"{manifest.get('cpu_count', '?')} CPUs usable)"
                ),
                "governor": manifest.get("governor") or "not readable",
                "thread pools": json.dumps(manifest.get("threads", {})),
                "load (start, end)": (
                    f"{manifest.get('load_start', '—')}, {manifest.get('load_end', '—')}"
                ),
                "warnings": "; ".join(manifest.get("warnings", [])) or "none",
                "datasets": json.dumps(manifest.get("datasets", {})),
            }
            frame = pd.DataFrame(
                {"field": list(fields), "value": [str(v) for v in fields.values()]}
            )
            sha = str(manifest.get("git_sha", "")).removesuffix("+dirty")
            checkout = f"git checkout {sha}\n" if sha else ""
            dirty = (
                "  # the run had uncommitted changes\n"
                if str(manifest.get("git_sha", "")).endswith("+dirty")
                else ""
            )
            runs.append(
                RunProvenance(
                    f"{fields['suite']} · run {fields['run']} · {source.folder}",
                    _plain_table(f"run-{len(runs)}", frame),
                    (
                        f"{checkout}{dirty}harness run "
                        f"{manifest.get('suite_file', 'SUITE.yaml')} --out {source.folder}"
                    ),
                    json.dumps(manifest, indent=2, default=str),
                )
            )
    return Page("provenance.html", "Provenance", "provenance.html", Provenance(runs))


def _plain_table(id: str, frame: pd.DataFrame) -> Table:
    table = from_frames(id, "machine and versions", frame)
    return Table(table.id, table.caption, table.columns, table.rows, sortable=False)


def studies_page(data: SiteData) -> Page | None:
    sections: list[Section] = []
    shifts = rank_shift(data.rows, data.metric)
    if len(shifts):
        sections.append(
            Section(
                "Rank shift: ANN configurations that reorder the embedders",
                from_frames(
                    "rank-shift",
                    "rank under exact search and under each configuration",
                    shifts,
                    filterable=True,
                ),
                notes=[
                    (
                        "Each embedder's rank under exact search and under each approximate "
                        "configuration every embedder ran; a non-zero shift changes the conclusion "
                        "a benchmark draws."
                    )
                ],
            )
        )
    spread = insertion_spread(data.rows, data.metric)
    if len(spread):
        sections.append(
            Section(
                "Insertion order: the spread of quality across insertion orders",
                from_frames("insertion", "spread across insertion orders", spread),
                notes=["The same index built from shuffled insertion orders (insertion_seeds)."],
            )
        )
    if not sections:
        return None
    return Page("studies.html", "Studies", "studies.html", Sections(sections))


def slices_page(data: SiteData) -> Page | None:
    """The first metric by query length, judged-document length and query group, per dataset,
    with bootstrap intervals (harness.report.slices)."""
    rows = data.rows[data.rows["status"] == "ok"].drop_duplicates("cell_id", keep="last")
    if data.query_facts.empty or "dataset_fingerprint" not in rows:
        return None
    rows = rows[rows["dataset_fingerprint"].isin(data.query_facts["dataset_fingerprint"])]
    sections = []
    for by, kind in SLICES.items():
        table = slice_table(rows, data.per_query, data.query_facts, by, data.metric)
        for dataset, frame in table.groupby("dataset", sort=True):
            shown = wide(frame).reset_index()
            sections.append(
                Section(
                    f"{dataset}: {data.metric} by {kind.title}",
                    from_frames(f"slices-{slug(str(dataset))}-{by}", kind.title, shown),
                )
            )
    if not sections:
        return None
    method = (
        "Each cell's per-query values, grouped by a property of the query: its length and the "
        "mean length of its relevant documents (whitespace words; bins are quantiles of the "
        "dataset's judged queries) or the user's query group. Each entry: mean [95% percentile "
        "bootstrap interval over the bin's queries]; n counts the bin's queries."
    )
    return Page("slices.html", "Slices", "studies.html", Sections(sections, method))


def _suite(source: Source) -> str:
    return f"{source.views.manifest.get('suite', source.folder.name)} ({source.folder})"
