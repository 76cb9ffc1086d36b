"""The `harness` command line: the only module that prints.

Imports stay inside commands so `harness --help` answers without loading torch or faiss.
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from harness.record import CellKey, CellRecord
    from harness.results import Views
    from harness.spec import Cell, Suite

app = typer.Typer(
    help="Retrieval evaluation harness: quality and cost of embedders and indexes from one suite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from harness import __version__

        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Retrieval evaluation harness: quality and cost of embedders and indexes from one suite."""
    import warnings

    if getattr(warnings.showwarning, "harness", False):
        return  # installed by an earlier command in this process
    shown = warnings.showwarning

    def one_line(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        """Harness's warnings (a skipped damaged file) as one `warning:` line on stderr."""
        from harness.errors import HarnessWarning

        if issubclass(category, HarnessWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, *args, **kwargs)

    one_line.harness = True  # type: ignore[attr-defined]
    warnings.showwarning = one_line


SuiteArg = Annotated[Path, typer.Argument(help="A suite YAML file, e.g. suites/quickstart.yaml.")]


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200  # logs and CI output: keep leaderboard columns readable
    return console


def _print_warnings(warnings: Iterable[str]) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


def _load(path: Path) -> Suite:
    from harness.errors import HarnessError
    from harness.spec import load_suite

    try:
        return load_suite(path)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


@app.command()
def validate(suite: SuiteArg) -> None:
    """Check a suite (keys, types, component names, models, data files: splits exist, first
    lines parse) without running it or loading a model."""
    loaded = _load(suite)
    _print_warnings(loaded.warnings)
    typer.echo(
        f"{suite}: ok: {loaded.n_cells:,} cells, k={loaded.k}, metrics {', '.join(loaded.metrics)}"
    )


@app.command()
def run(
    suite: SuiteArg,
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: results/<suite name>).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the grid of cells and stop.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Encode afresh; neither read nor write the cache.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Recompute cells that already have a result in --out; write into an --out "
            "that harness did not create.",
        ),
    ] = False,
    report: Annotated[
        bool,
        typer.Option("--report", help="Then build the HTML site into <out>/site (harness report)."),
    ] = False,
    repeat: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Run every timed measurement (builds, query side, searches) this many times "
            "(default: the suite's timing: rounds, else 1).",
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="Where the work runs: local (this process) or ray (a Ray cluster; needs "
            "pip install 'harness[ray]'). Default: the suite's executor: kind, else local.",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="The Ray cluster to run on (as `ray start --head` prints it); default: "
            "$RAY_ADDRESS, else a local cluster started for this run. Implies --executor ray.",
        ),
    ] = None,
    encoders: Annotated[
        int | None,
        typer.Option(min=1, help="Ray encoder actors per model (default: as the cluster fits)."),
    ] = None,
    gpus_per_encoder: Annotated[
        float | None,
        typer.Option(min=0, help="GPUs each Ray encoder actor holds (default: 1 if any)."),
    ] = None,
) -> None:
    """Run every cell of a suite; write runs, per-query values, timed calls, leaderboard,
    plots and manifest."""
    loaded = _load(suite)
    console = _console()
    _print_warnings(loaded.warnings)
    if repeat is not None:
        timing = loaded.timing.model_copy(update={"rounds": repeat})
        loaded = dataclasses.replace(loaded, timing=timing)
    loaded = _with_executor(loaded, executor, address, encoders, gpus_per_encoder)
    if dry_run:
        _print_grid(loaded)
        return
    from rich.markup import escape

    from harness import manifest, results
    from harness.cache import EmbeddingCache
    from harness.errors import HarnessError, StoreError
    from harness.executors import run as run_units
    from harness.machine import load_average
    from harness.record import RunStamp
    from harness.report.conditions import cell_conditions, machine_warnings

    folder = out or Path("results") / loaded.name
    meta = manifest.collect() | {
        "run_id": _run_id(),
        "suite": loaded.name,
        "suite_file": str(suite),
        "gates": [gate.text for gate in loaded.gates],  # so check and compare need no suite
        "expectations": loaded.expected_values(),
        "timing": loaded.timing.model_dump(),
        "suite_warnings": list(loaded.warnings),
        "executor": loaded.executor.model_dump(),
    }
    stamp = RunStamp(meta["run_id"], meta["created"], meta["harness_version"], meta["git_sha"])
    began = time.monotonic()
    store = results.ResultsStore(folder, repair=True)
    cache = None if no_cache else EmbeddingCache()
    total = loaded.n_cells
    cell_ids: list[str] = []  # this suite's cells, computed now or found from an earlier run
    found: list[str] = []  # found from an earlier run

    def on_cell(record: CellRecord) -> None:
        store.add(record, stamp)  # at once, atomically: a crash loses nothing finished
        cell_ids.append(record.cell.cell_id)

    def on_found(cell_id: str) -> None:
        found.append(cell_id)
        cell_ids.append(cell_id)

    started = False
    try:
        with store.lock(adopt=force):
            started = True
            skip = set() if force else store.finished()
            with _ProgressReporter(console, total, on_cell, on_found) as reporter:
                run_units(loaded, reporter, cache, skip, loaded.executor)
            meta["wall_s"] = round(time.monotonic() - began, 3)  # this invocation's
            meta["threads"] = manifest.thread_counts()  # read now: the run imported the libraries
            meta["load_end"] = load_average()
            latest = store.latest(cell_ids)
            measured = latest[latest["run_id"] == meta["run_id"]]
            meta["cells"] = cell_conditions(measured)
            meta["warnings"] = machine_warnings(measured, int(meta["cpus_usable"]))
            store.write_manifest(meta)
            runs = store.write_views(cell_ids, meta)
    except KeyboardInterrupt:
        # counted on disk: Ctrl-C may land between a cell's saving and its counting
        now = store.saved(stamp.run_id)
        typer.echo(
            f"interrupted: {len(set(found)) + len(now)} of {total} cells saved in {folder}/ "
            f"({len(now)} by this run); run the same command again to resume",
            err=True,
        )
        raise typer.Exit(130) from None
    except StoreError as err:
        typer.echo(f"error: {err}", err=True)
        if not started:
            raise typer.Exit(2) from None
        typer.echo(
            f"{len(cell_ids)} of {total} cells saved in {folder}/; nothing half-written: "
            "fix the cause and run the same command again to resume",
            err=True,
        )
        raise typer.Exit(1) from None
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    _print_warnings([*(cache.warnings if cache else []), *meta["warnings"]])
    try:
        _write_reports(console, folder, runs, loaded.metrics)
    except OSError as err:
        from harness.errors import os_problem

        typer.echo(
            f"error: {folder}: results saved, but the leaderboard and plots could not be "
            f"written: {os_problem(err, folder)}; fix it and run the same command again",
            err=True,
        )
        raise typer.Exit(1) from None
    failed = runs[runs["status"] == "failed"]
    for _, row in failed.iterrows():
        console.print(f"[red]failed[/red] {escape(row['cell'])}: {escape(row['error'])}")
    console.print(f"results: {folder}/ ({len(runs) - len(failed)} ok, {len(failed)} failed)")
    if report:
        _build_site([folder], folder / "site", loaded.name, None)
    if len(failed):
        raise typer.Exit(1)


def _with_executor(
    suite: Suite,
    kind: str | None,
    address: str | None,
    encoders: int | None,
    gpus_per_encoder: float | None,
) -> Suite:
    """The suite with the command line's executor options over its own `executor:`."""
    if kind not in (None, "local", "ray"):
        typer.echo(f"error: --executor {kind}: unknown; use local or ray", err=True)
        raise typer.Exit(2)
    given = {
        "kind": "ray" if address is not None and kind is None else kind,
        "address": address,
        "encoders": encoders,
        "gpus_per_encoder": gpus_per_encoder,
    }
    settings = suite.executor.model_copy(update={k: v for k, v in given.items() if v is not None})
    if settings.kind == "local" and address is not None:
        typer.echo("error: --address names a Ray cluster; it needs --executor ray", err=True)
        raise typer.Exit(2)
    return dataclasses.replace(suite, executor=settings)


@app.command()
def components() -> None:
    """List the dataset loaders, embedder kinds and index kinds this installation knows."""
    from harness.datasets import LOADERS
    from harness.embedders import EMBEDDERS
    from harness.indexes import INDEXES

    for title, registry in (
        ("dataset loaders", LOADERS),
        ("embedders", EMBEDDERS),
        ("indexes", INDEXES),
    ):
        typer.echo(f"{title}: {', '.join(registry.names())}")


@app.command("results")
def results_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Results folders, or folders of them (default: results)."),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(help="SQL condition, e.g. \"dataset = 'scifact' AND status = 'ok'\"."),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Only the newest row of each cell.")
    ] = False,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns to show.")] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the selection to a .csv, .parquet, .json or .md file."),
    ] = None,
) -> None:
    """List, filter and export results across runs (DuckDB over the stored Parquet rows)."""
    from harness import results
    from harness.errors import HarnessError
    from harness.report import to_markdown

    try:
        rows = results.select(folders or [Path("results")], where, latest)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if not len(rows):
        typer.echo("no results match")
        return
    default = ["run_id", "dataset", "embedder", "index", "search_params", "status"]
    shown = columns.split(",") if columns else default + results.metric_columns(rows) + ["qps"]
    unknown = [c for c in shown if c not in rows.columns]
    if unknown:
        from harness.registry import did_you_mean

        hint = did_you_mean(unknown[0], [str(c) for c in rows.columns])
        typer.echo(
            f"error: --columns: unknown column(s) {', '.join(unknown)}.{hint} "
            "See every column with --export rows.csv",
            err=True,
        )
        raise typer.Exit(2)
    if export is not None:
        writers: dict[str, Callable[[], object]] = {
            ".csv": lambda: rows.to_csv(export, index=False),
            ".parquet": lambda: rows.to_parquet(export, index=False),
            ".json": lambda: rows.to_json(export, orient="records", indent=1),
            ".md": lambda: export.write_text(to_markdown(rows[shown])),
        }
        if export.suffix not in writers:
            typer.echo(f"error: --export {export}: use one of {', '.join(writers)}", err=True)
            raise typer.Exit(2)
        with _writing(export, "--export"):
            writers[export.suffix]()
        typer.echo(f"{len(rows)} rows -> {export}")
        return
    _console().print(_table(rows[shown], f"{len(rows)} rows"))


ResultsArg = Annotated[Path, typer.Argument(help="A results folder: the --out of harness run.")]
SuiteOption = Annotated[
    Path | None,
    typer.Option(
        "--suite",
        help="Read expect: and gates: from this suite file (default: as the suite had them "
        "when the results were run, from their manifest).",
    ),
]
MarkdownOption = Annotated[
    Path | None,
    typer.Option(
        help="Also append the report as Markdown to this file, e.g. $GITHUB_STEP_SUMMARY."
    ),
]
JunitOption = Annotated[Path | None, typer.Option(help="Also write a JUnit XML report here.")]


@app.command("leaderboard")
def leaderboard_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Results folders, or folders of them (default: results)."),
    ] = None,
    metric: Annotated[str, typer.Option(help="The metric to rank by.")] = "nDCG@10",
    by: Annotated[
        str | None,
        typer.Option(
            help="Rank this column's values (e.g. model) instead of each "
            "embedder · index · search setting."
        ),
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="SQL condition on the rows, as in harness results.")
    ] = None,
    markdown: MarkdownOption = None,
) -> None:
    """Rank systems across datasets fairly when not every system ran every dataset: mean over
    shared datasets, mean rank, and Bradley-Terry strengths from per-query wins."""
    from harness import results
    from harness.errors import HarnessError
    from harness.report.fair import fair_leaderboard
    from harness.report.fair import to_markdown as fair_markdown

    try:
        rows = results.select(folders or [Path("results")], where, latest=True)
        if not len(rows):
            typer.echo("no results match")
            return
        per_query = _concat(
            results.ResultsStore(Path(str(folder))).per_query(group)
            for folder, group in rows.groupby("results_folder")
        )
        board = fair_leaderboard(rows, per_query, metric, system_col=by)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    text = fair_markdown(board)
    typer.echo(text)
    if markdown is not None:
        _append(markdown, text + "\n")


@app.command("report")
def report_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Results folders, or folders of them (default: results)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="The site's folder.")] = Path("site"),
    title: Annotated[str, typer.Option(help="The site's title.")] = "harness results",
    baseline: Annotated[
        Path | None,
        typer.Option(help="A results folder to gate against, shown on the reproduction page."),
    ] = None,
) -> None:
    """Build a static HTML site from saved results: overview, a page per dataset with
    interactive plots, significance, reproduction and provenance. Opens from disk, offline."""
    _build_site(folders or [Path("results")], out, title, baseline)


def _build_site(folders: list[Path], out: Path, title: str, baseline: Path | None) -> None:
    from harness.errors import HarnessError
    from harness.report.site import build_site

    try:
        site = build_site(folders, out, title, baseline)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"site: {site.folder / 'index.html'} ({len(site.pages)} pages, "
        f"{site.bytes / 1e6:.1f} MB, built in {site.seconds:.1f} s)"
    )


def _concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    return pd.concat(list(frames), ignore_index=True)


@app.command()
def check(
    results_dir: ResultsArg,
    suite: SuiteOption = None,
    markdown: MarkdownOption = None,
    junit: JunitOption = None,
) -> None:
    """Grade results against the suite's expect: values. Exit 0 all OK or within tolerance,
    1 any FAIL, 2 bad input."""
    from harness.gate.check import grade
    from harness.gate.output import check_cases, check_display, check_verdict

    views = _views(results_dir)
    rows, meta = views.rows, views.manifest
    name, expected = str(meta.get("suite", results_dir.name)), meta.get("expectations", [])
    if suite is not None:
        loaded = _load(suite)
        name, expected = loaded.name, loaded.expected_values()
    if not expected:
        where = suite or f"{results_dir}/manifest.json"
        typer.echo(f"error: {where}: no expect: values to check against", err=True)
        raise typer.Exit(2)
    graded = grade(expected, rows)
    verdict = check_verdict(graded)
    title = f"harness check: {name}"
    _gate_report(check_display(graded), title, verdict, [], markdown)
    if junit is not None:
        _write_junit(junit, name, check_cases(graded))
    if (graded["grade"] == "FAIL").any():
        raise typer.Exit(1)


@app.command()
def compare(
    current: ResultsArg,
    baseline: Annotated[
        Path, typer.Option(help="The results folder to compare with (e.g. a committed baseline).")
    ],
    gate: Annotated[
        list[str] | None,
        typer.Option(
            help="A gate, e.g. 'nDCG@10 drop > 0.005 p < 0.05' or 'latency_p95_ms rise > 20%'; "
            "repeatable (default: the suite's gates:, else every metric drop > 0.005 p < 0.05)."
        ),
    ] = None,
    suite: SuiteOption = None,
    correction: Annotated[
        str, typer.Option(help="p-value adjustment across the tests: holm, bh or none.")
    ] = "holm",
    resamples: Annotated[
        int, typer.Option(min=100, help="Randomisation and bootstrap resamples.")
    ] = 10_000,
    every_figure: Annotated[
        bool, typer.Option("--all", help="Show every cost figure too, not only gated ones.")
    ] = False,
    pair: Annotated[
        list[str] | None,
        typer.Option(
            help="Compare baseline cells with these settings to current cells with those, e.g. "
            "'efSearch=16:efSearch=24' or 'index=hnsw16:index=hnsw24'; repeatable."
        ),
    ] = None,
    failures: Annotated[
        bool, typer.Option("--failures", help="Show only the failing gate checks.")
    ] = False,
    markdown: MarkdownOption = None,
    junit: JunitOption = None,
) -> None:
    """Compare a run with a baseline cell by cell: deltas, paired significance, gates.
    Exit 0 every gate passes, 1 a gate fails, 2 bad input."""
    from harness.errors import HarnessError
    from harness.gate.compare import Runs, compare, parse_pairing
    from harness.gate.output import compare_cases, compare_display, compare_verdict
    from harness.gate.rules import default_gates, parse_gate
    from harness.results import metric_columns

    if correction not in ("holm", "bh", "none"):
        typer.echo(f"error: --correction {correction}: use holm, bh or none", err=True)
        raise typer.Exit(2)
    now, then = _views(current), _views(baseline)
    rows, meta = now.rows, now.manifest
    metrics = [m for m in metric_columns(rows) if m in metric_columns(then.rows)]
    try:
        gates = [parse_gate(g) for g in gate or []]
    except ValueError as err:
        typer.echo(f"error: --gate: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        pairings = [parse_pairing(p) for p in pair or []]
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    name = str(meta.get("suite", current.name))
    if not gates and suite is not None:
        loaded = _load(suite)
        gates, name = list(loaded.gates), loaded.name
    elif not gates:  # the gates the suite had when it ran
        try:
            gates = [parse_gate(text) for text in meta.get("gates", [])]
        except ValueError as err:
            typer.echo(f"error: {current}/manifest.json: {err}", err=True)
            raise typer.Exit(2) from None
    gates = gates or default_gates(metrics)
    try:
        result = compare(
            Runs(now.rows, now.per_query, now.timings),
            Runs(then.rows, then.per_query, then.timings),
            metrics,
            gates,
            correction=correction,  # type: ignore[arg-type]
            resamples=resamples,
            pairings=pairings,
        )
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    verdict = compare_verdict(result)
    title = f"harness compare: {name} against {baseline}"
    notes = [*result.notes, f"p-values: paired randomisation test, {correction}-adjusted"]
    display = compare_display(result, metrics, every_figure)
    if failures:
        display = display[display["verdict"] == "FAIL"]
        notes = [f"{len(display)} failing gate checks shown (--failures)", *notes]
    _gate_report(display, title, verdict, notes, markdown)
    if junit is not None:
        _write_junit(junit, name, compare_cases(result))
    if not result.failures.empty:
        raise typer.Exit(1)


@app.command("bench-compare")
def bench_compare_command(
    candidate: Annotated[Path, typer.Argument(help="The candidate configuration: a suite file.")],
    baseline: Annotated[Path, typer.Option(help="The baseline configuration: a suite file.")],
    rounds: Annotated[
        int, typer.Option(min=2, help="Interleaved rounds; each times both sides once.")
    ] = 10,
    gate: Annotated[
        list[str] | None,
        typer.Option(
            help="A gate on a search figure (qps, latency_p50_ms/p95/p99), e.g. 'qps drop > "
            "10%'; repeatable (default: latency_p50_ms and latency_p95_ms rise > 20%, "
            "qps drop > 20%)."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Encode afresh; neither read nor write the cache.")
    ] = False,
    markdown: MarkdownOption = None,
    junit: JunitOption = None,
) -> None:
    """Time a baseline and a candidate configuration alternately in one process (A B, B A, ...)
    so both see the same machine; gate the ratio of their search figures. Cells pair by dataset,
    embedder and index name, search settings in order. Exit 0 pass, 1 a gate fails, 2 bad input.
    """
    from harness.bench import FIGURES, bench_compare
    from harness.cache import EmbeddingCache
    from harness.errors import HarnessError
    from harness.gate.output import compare_cases, compare_display, compare_verdict
    from harness.gate.rules import DEFAULT_BENCH_GATES, parse_gate

    base_suite, cand_suite = _load(baseline), _load(candidate)
    try:
        gates = [parse_gate(g) for g in gate or DEFAULT_BENCH_GATES]
    except ValueError as err:
        typer.echo(f"error: --gate: {err}", err=True)
        raise typer.Exit(2) from None
    for g in gates:
        if g.metric not in FIGURES:
            typer.echo(
                f"error: --gate '{g.text}': bench-compare gates {', '.join(FIGURES)}", err=True
            )
            raise typer.Exit(2)
    console = _console()
    try:
        with _ProgressReporter(console, 0, lambda result: None, lambda cell_id: None) as reporter:
            result = bench_compare(
                base_suite,
                cand_suite,
                gates,
                rounds,
                reporter=reporter,
                cache=None if no_cache else EmbeddingCache(),
            )
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    title = f"harness bench-compare: {candidate} against {baseline}"
    metrics = [m for m in base_suite.metrics if m in cand_suite.metrics]
    display = compare_display(result, metrics, every_figure=True)
    _gate_report(display, title, compare_verdict(result), result.notes, markdown)
    if junit is not None:
        _write_junit(junit, cand_suite.name, compare_cases(result))
    if not result.failures.empty:
        raise typer.Exit(1)


def _views(folder: Path) -> Views:
    from harness.errors import HarnessError
    from harness.results import read_views

    try:
        return read_views(folder)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def _gate_report(
    display: pd.DataFrame, title: str, verdict: str, notes: list[str], markdown: Path | None
) -> None:
    from rich.markup import escape

    from harness.gate.output import markdown as as_markdown

    console = _console()
    console.print(_table(display, title))
    for note in notes:
        console.print(f"note: {escape(note)}")
    colour = "red" if verdict.startswith("FAIL") else "green"
    console.print(f"[{colour}]{escape(verdict)}[/{colour}]")
    if markdown is not None:  # appends: $GITHUB_STEP_SUMMARY collects sections
        _append(markdown, as_markdown(display, title, verdict, notes) + "\n")


def _write_junit(path: Path, suite: str, cases: list[Any]) -> None:
    from harness.gate.output import junit_xml

    with _writing(path, "--junit"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(junit_xml(suite, cases))


def _append(path: Path, text: str) -> None:
    with _writing(path, "--markdown"), path.open("a") as handle:
        handle.write(text)


@contextmanager
def _writing(path: Path, option: str) -> Iterator[None]:
    """A file the user asked for: one that cannot be written is bad input (exit 2)."""
    from harness.errors import os_problem

    try:
        yield
    except OSError as err:
        typer.echo(f"error: {option} {path}: cannot write: {os_problem(err)}", err=True)
        raise typer.Exit(2) from None


synth_app = typer.Typer(
    help="Generate synthetic collections for scale: vectors, texts, distractors (deterministic).",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")
DocsOption = Annotated[int, typer.Option("--docs", min=1, help="Documents to generate.")]
QueriesOption = Annotated[int, typer.Option("--queries", min=1, help="Queries to generate.")]
SeedOption = Annotated[int, typer.Option(help="Same seed, same bytes.")]


@synth_app.command("vectors")
def synth_vectors(
    out: Annotated[Path, typer.Argument(help="The ann-benchmarks HDF5 file to write.")],
    docs: DocsOption = 10_000,
    queries: QueriesOption = 1_000,
    dim: Annotated[int, typer.Option(min=2, help="Dimensions.")] = 384,
    seed: SeedOption = 0,
) -> None:
    """Clustered, low-rank unit vectors with their exact neighbours, in ann-benchmarks' layout:
    run them with dataset loader 'ann-benchmarks' and embedder kind 'vectors'."""
    from harness.synth import VectorShape, write_vectors

    _synth(lambda at: write_vectors(at, VectorShape(dim=dim, seed=seed), docs, queries), out)


@synth_app.command("texts")
def synth_texts(
    out: Annotated[Path, typer.Argument(help="The BEIR folder to write.")],
    docs: DocsOption = 10_000,
    queries: QueriesOption = 1_000,
    seed: SeedOption = 0,
) -> None:
    """Documents of made-up words on topics; each query is one document's rarest terms, with
    that document judged relevant."""
    from harness.synth import TextShape, write_texts

    _synth(lambda at: write_texts(at, TextShape(seed=seed), docs, queries), out)


@synth_app.command("distract")
def synth_distract(
    source: Annotated[Path, typer.Argument(help="A BEIR folder (its test split).")],
    out: Annotated[Path, typer.Argument(help="The BEIR folder to write.")],
    docs: DocsOption = 10_000,
    seed: SeedOption = 0,
) -> None:
    """A real collection's queries and judgements with `--docs` unjudged distractor documents
    drawn from its own words and document lengths."""
    from harness.synth import write_distracted

    _synth(lambda at: write_distracted(source, at, docs, seed), out)


def _synth(write: Callable[[Path], None], out: Path) -> None:
    """`write(path)` into a temporary sibling, renamed to `out` only once whole: a failure
    (a full disk) leaves nothing that looks finished."""
    import os
    import shutil

    from harness.errors import HarnessError, os_problem

    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        typer.echo(f"error: {out}: already exists; remove it or give another path", err=True)
        raise typer.Exit(2)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        if out.is_dir():
            out.rmdir()  # empty (checked above)
        partial.replace(out)
    except (HarnessError, OSError) as err:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        partial.unlink(missing_ok=True)
        if isinstance(err, HarnessError):
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"error: {out}: cannot write: {os_problem(err, out.parent)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}")


cache_app = typer.Typer(help="The embedding cache: list, size, prune.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("ls")
def cache_ls() -> None:
    """List cached embeddings: model, side, rows x dims, size, last use."""
    from harness.cache import EmbeddingCache

    cache = EmbeddingCache()
    entries = cache.entries()
    for e in sorted(entries, key=lambda e: e.last_used, reverse=True):
        used = datetime.fromtimestamp(e.last_used, UTC).strftime("%Y-%m-%d %H:%M")
        shape = "x".join(map(str, e.shape))
        runtime = f"{e.key.get('backend', '?')} {e.key.get('dtype', '?')}"
        typer.echo(
            f"{e.digest[:12]}  {e.key.get('model', '?')}  {e.key.get('side', '?'):<8} "
            f"{runtime}  {shape:>12}  {_size(e.nbytes):>9}  used {used}"
        )
    typer.echo(f"{len(entries)} entries in {cache.folder}")


@cache_app.command("diff")
def cache_diff(
    first: Annotated[str, typer.Argument(help="A digest (or its start) as `cache ls` prints.")],
    second: Annotated[str, typer.Argument(help="Another entry of the same texts.")],
) -> None:
    """How far two encodes of the same texts agree (another backend or precision): cosine per
    row, mean and least, and the share of rows at cosine >= 0.99999."""
    from harness.cache import AGREEING_COSINE, EmbeddingCache
    from harness.errors import HarnessError

    cache = EmbeddingCache()
    try:
        a, b = cache.find(first), cache.find(second)
        agreement = cache.agreement(a, b)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    for e in (a, b):
        key = e.key
        typer.echo(
            f"{e.digest[:12]}  {key.get('model', '?')}  {key.get('side', '?')}  "
            f"{key.get('backend', '?')} {key.get('dtype', '?')}"
        )
    typer.echo(
        f"{agreement.rows:,} rows{' (byte for byte identical)' if agreement.identical else ''}: "
        f"cosine mean {agreement.mean_cosine:.7f}, least {agreement.min_cosine:.7f}; "
        f"{agreement.share_at_least:.2%} of rows at >= {AGREEING_COSINE}"
    )


@cache_app.command("du")
def cache_du() -> None:
    """Total size of the embedding cache."""
    from harness.cache import EmbeddingCache

    cache = EmbeddingCache()
    entries = cache.entries()
    typer.echo(
        f"{_size(sum(e.nbytes for e in entries))} in {len(entries)} entries ({cache.folder})"
    )


@cache_app.command("prune")
def cache_prune(
    older_than: Annotated[
        float | None, typer.Option(help="Remove entries unused for this many days.")
    ] = None,
    max_size: Annotated[
        float | None,
        typer.Option(help="Then remove least recently used entries above this many MB."),
    ] = None,
) -> None:
    """Remove cache entries by age, by total size, or both."""
    from harness.cache import EmbeddingCache

    if older_than is None and max_size is None:
        typer.echo("error: give --older-than DAYS, --max-size MB, or both", err=True)
        raise typer.Exit(2)
    cache = EmbeddingCache()
    removed = cache.prune(
        older_than_s=None if older_than is None else older_than * 86400,
        max_bytes=None if max_size is None else int(max_size * 1e6),
    )
    _print_warnings(cache.warnings)
    typer.echo(f"removed {len(removed)} entries, {_size(sum(e.nbytes for e in removed))}")


def _size(n_bytes: float) -> str:
    units = ["B", "kB", "MB", "GB"]
    power = 0
    while n_bytes >= 1000 and power < len(units) - 1:
        n_bytes /= 1000
        power += 1
    return f"{n_bytes:.0f} B" if power == 0 else f"{n_bytes:.1f} {units[power]}"


def _run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _print_grid(suite: Suite) -> None:
    """The grid, a line per cell as it is generated, so a huge grid starts printing at once."""
    typer.echo(f"{suite.name}: {suite.n_cells:,} cells, k={suite.k}")
    typer.echo("dataset\tembedder\tindex\tsearch\tthreads")
    for cell in suite.iter_cells():
        order = f" (order {cell.order})" if cell.order is not None else ""
        index = (cell.index or "-") + order
        typer.echo(
            f"{cell.dataset}\t{cell.embedder}\t{index}\t{cell.search or '-'}\t{cell.threads}"
        )


def _write_reports(
    console: Console, folder: Path, runs: pd.DataFrame, metrics: tuple[str, ...]
) -> None:
    from rich.markup import escape

    from harness.report import (
        insertion_spread,
        leaderboard,
        quality_vs_cost,
        quality_vs_dimension,
        rank_shift,
        to_markdown,
    )
    from harness.report.plots import AXES

    board = leaderboard(runs, metrics)
    notes = "".join(f"\n- {note}" for note in board.notes)
    (folder / "leaderboard.md").write_text(to_markdown(board.shown) + notes + "\n")
    board.table.to_csv(folder / "leaderboard.csv", index=False)
    metric = "nDCG@10" if "nDCG@10" in metrics else metrics[0]
    plots = [p for axis in AXES for p in quality_vs_cost(runs, metric, axis, folder / "plots")]
    plots += quality_vs_dimension(runs, metric, folder / "plots")
    console.print(_table(board.shown, f"leaderboard ({folder / 'leaderboard.md'})"))
    for note in board.notes:
        console.print(f"note: {escape(note)}")
    shifts = rank_shift(runs, metric)
    if len(shifts):
        (folder / "rank_shift.md").write_text(to_markdown(shifts))
        moved = shifts[shifts["shift"] != 0]
        title = f"ANN configurations that reorder the embedders (all: {folder / 'rank_shift.md'})"
        console.print(
            _table(moved, title)
            if len(moved)
            else "rank shift: no ANN configuration reorders the embedders"
        )
    spread = insertion_spread(runs, metric)
    if len(spread):
        (folder / "insertion_spread.md").write_text(to_markdown(spread))
        console.print(
            _table(spread, f"spread across insertion orders ({folder / 'insertion_spread.md'})")
        )
    for plot in plots:
        console.print(f"plot: {plot}")


class _PlainProgress:
    """Progress as plain lines on stderr, for logs: a stage's name when it begins, then its
    count every PLAIN_EVERY_S seconds."""

    PLAIN_EVERY_S = 30.0

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._description, self._total, self._done, self._last = "", 0, 0, 0.0

    def task(self, description: str, total: int) -> None:
        self._description, self._total, self._done = description, total, 0
        self._last = self._clock()
        typer.echo(f"... {description}", err=True)

    def advance(self, n: int) -> None:
        self._done += n
        if self._clock() - self._last >= self.PLAIN_EVERY_S:
            self._last = self._clock()
            typer.echo(f"... {self._description}: {self._done:,} of {self._total:,}", err=True)


def _cell_label(cell: Cell | CellKey) -> str:
    from harness.report.leaderboard import search_label

    parts = [cell.dataset, cell.embedder, *([cell.index] if cell.index else [])]
    label = " · ".join(parts) + (f" order={cell.order}" if cell.order is not None else "")
    return f"{label} {search_label(cell.search)}" if cell.search else label


def _table(frame: pd.DataFrame, title: str) -> Table:
    import pandas as pd
    from rich.table import Table

    from harness.figures import format_value

    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) or _printed_number(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for _, row in frame.iterrows():
        table.add_row(*(format_value(str(c), row[c]) for c in frame.columns))
    return table


_PRINTED_NUMBER = r"—|-?[\d,.]+( ±[\d.]+%)?( [kMG]?B)?"


def _printed_number(column: pd.Series) -> bool:
    """Strings that print numbers ('22,847 ±3%', '1.5 MB', '—'): right-aligned like numbers."""
    text = column.astype(str)
    return bool(len(text)) and bool(text.str.fullmatch(_PRINTED_NUMBER).all())


class _ProgressReporter:
    """Two bars: cells finished out of the grid (none when `total_cells` is 0), and the stage
    in progress."""

    def __init__(
        self,
        console: Console,
        total_cells: int,
        on_cell: Callable[[CellRecord], None],
        on_skip: Callable[[str], None],
    ) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not sys.stderr.isatty() and not console.is_terminal,
        )
        self._grid = self._progress.add_task("grid", total=total_cells) if total_cells else None
        self._stage: Any = None
        # without a terminal (CI logs) there are no bars: a line per stage, and one every
        # PLAIN_EVERY_S seconds while a long stage runs
        self._plain: _PlainProgress | None = _PlainProgress() if self._progress.disable else None
        self._on_cell = on_cell
        self._on_skip = on_skip

    def __enter__(self) -> _ProgressReporter:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def task(self, description: str, total: int) -> None:
        if self._stage is not None:
            self._progress.remove_task(self._stage)
        self._stage = self._progress.add_task(description, total=total)
        if self._plain is not None:
            self._plain.task(description, total)

    def advance(self, n: int) -> None:
        if self._stage is not None:
            self._progress.advance(self._stage, n)
        if self._plain is not None:
            self._plain.advance(n)

    def cell_done(self, record: CellRecord) -> None:
        """Save the record, then say so: a cell is not reported finished before it is saved."""
        from rich.markup import escape

        from harness.figures import format_value

        self._on_cell(record)
        self._advance_grid()
        label = escape(_cell_label(record.cell))
        if record.status == "ok":
            first = next(iter(record.metrics.items()), None)
            score = f" {first[0]}={format_value(*first)}" if first else ""
            self._progress.console.print(f"ok {label}{score}")
        else:
            self._progress.console.print(f"[red]failed[/red] {label}: {escape(record.error)}")

    def cell_skipped(self, cell: Cell, cell_id: str) -> None:
        from rich.markup import escape

        self._advance_grid()
        self._progress.console.print(f"[dim]done earlier[/dim] {escape(_cell_label(cell))}")
        self._on_skip(cell_id)

    def _advance_grid(self) -> None:
        if self._grid is not None:
            self._progress.advance(self._grid, 1)


from harness import cli_data  # noqa: E402, F401  (registers the dataset commands on app)
