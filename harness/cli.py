"""The `harness` command line: the only module that prints.

Imports stay inside commands so `harness --help` answers without loading torch or faiss.
"""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from harness.runner import CellResult
    from harness.spec import Cell, Suite

app = typer.Typer(
    help="Retrieval evaluation harness: quality and cost of embedders and indexes from one suite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SuiteArg = Annotated[Path, typer.Argument(help="A suite YAML file, e.g. suites/quickstart.yaml.")]


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200  # logs and CI output: keep leaderboard columns readable
    return console


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
    """Check a suite (keys, types, component names, files, models) without running it."""
    loaded = _load(suite)
    cells = loaded.cells()
    typer.echo(
        f"{suite}: ok: {len(cells)} cells, k={loaded.k}, metrics {', '.join(loaded.metrics)}"
    )


@app.command()
def run(
    suite: SuiteArg,
    out: Annotated[
        Path | None, typer.Option(help="Results folder [default: results/<suite name>].")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the grid of cells and stop.")
    ] = False,
) -> None:
    """Run every cell of a suite; write runs, per-query values, leaderboard, plot and manifest."""
    loaded = _load(suite)
    console = _console()
    if dry_run:
        _print_grid(console, loaded)
        return
    from rich.markup import escape

    from harness import manifest, results
    from harness.runner import run_suite

    folder = out or Path("results") / loaded.name
    meta = manifest.collect() | {
        "run_id": _run_id(),
        "suite": loaded.name,
        "suite_file": str(suite),
    }
    finished: list[CellResult] = []

    def on_cell(result: CellResult) -> None:
        finished.append(result)
        results.save(folder, loaded, finished, meta)  # after every cell: a crash loses nothing done

    with _ProgressReporter(console, total_cells=len(loaded.cells()), on_cell=on_cell) as reporter:
        run_suite(loaded, reporter)

    runs = results.runs_table(loaded, finished, meta)
    _write_reports(console, folder, runs, loaded.metrics)
    failed = runs[runs["status"] == "failed"]
    for _, row in failed.iterrows():
        console.print(f"[red]failed[/red] {escape(row['cell'])}: {escape(row['error'])}")
    console.print(f"results: {folder}/ ({len(runs) - len(failed)} ok, {len(failed)} failed)")
    if len(failed):
        raise typer.Exit(1)


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


def _run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _print_grid(console: Console, suite: Suite) -> None:
    from rich.table import Table

    table = Table(title=f"{suite.name}: {len(suite.cells())} cells, k={suite.k}")
    for column in ("dataset", "embedder", "index", "search"):
        table.add_column(column)
    for cell in suite.cells():
        table.add_row(cell.dataset, cell.embedder, cell.index or "-", cell.search or "-")
    console.print(table)


def _write_reports(
    console: Console, folder: Path, runs: pd.DataFrame, metrics: tuple[str, ...]
) -> None:
    from rich.table import Table

    from harness.report import leaderboard, quality_vs_qps, to_markdown
    from harness.report.leaderboard import format_value

    board = leaderboard(runs, metrics)
    (folder / "leaderboard.md").write_text(to_markdown(board))
    board.to_csv(folder / "leaderboard.csv", index=False)
    metric = "nDCG@10" if "nDCG@10" in metrics else metrics[0]
    plots = quality_vs_qps(runs, metric, folder / "plots")
    table = Table(title=f"leaderboard ({folder / 'leaderboard.md'})")
    for column in board.columns:
        table.add_column(
            str(column),
            justify="left"
            if column in ("dataset", "embedder", "index", "search", "status")
            else "right",
        )
    for _, row in board.iterrows():
        table.add_row(*(format_value(row[c], str(c)) for c in board.columns))
    console.print(table)
    for plot in plots:
        console.print(f"plot: {plot}")


def _cell_label(cell: Cell) -> str:
    from harness.report.leaderboard import search_label

    parts = [cell.dataset, cell.embedder, *([cell.index] if cell.index else [])]
    label = " · ".join(parts)
    return f"{label} {search_label(cell.search)}" if cell.search else label


class _ProgressReporter:
    """Two bars: cells finished out of the grid, and the stage in progress."""

    def __init__(self, console: Console, total_cells: int, on_cell: Any) -> None:
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
        self._grid = self._progress.add_task("grid", total=total_cells)
        self._stage: Any = None
        self._on_cell = on_cell

    def __enter__(self) -> _ProgressReporter:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def task(self, description: str, total: int) -> None:
        if self._stage is not None:
            self._progress.remove_task(self._stage)
        self._stage = self._progress.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self._stage is not None:
            self._progress.advance(self._stage, n)

    def cell_done(self, result: CellResult) -> None:
        self._progress.advance(self._grid, 1)
        mark = "ok" if result.status == "ok" else "[red]failed[/red]"
        first = next(iter(result.metrics.items()), None)
        score = f" {first[0]}={first[1]:.4f}" if first else ""
        from rich.markup import escape

        self._progress.console.print(f"{mark} {escape(_cell_label(result.cell))}{score}")
        self._on_cell(result)
