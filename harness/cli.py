"""The `harness` command line: the only module that prints.

Imports stay inside commands so `harness --help` answers without loading torch or faiss.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

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
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Encode afresh; neither read nor write the cache.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Recompute cells that already have a result in --out."),
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
    from harness.cache import EmbeddingCache
    from harness.errors import HarnessError
    from harness.runner import run_suite

    folder = out or Path("results") / loaded.name
    meta = manifest.collect() | {
        "run_id": _run_id(),
        "suite": loaded.name,
        "suite_file": str(suite),
    }
    store = results.ResultsStore(folder)
    cell_ids: list[str] = []  # this suite's cells, computed now or found from an earlier run

    def on_cell(result: CellResult) -> None:
        store.add(loaded, result, meta)  # at once, atomically: a crash loses nothing finished
        cell_ids.append(result.cell_id)

    try:
        with store.lock():
            skip = set() if force else store.finished()
            with _ProgressReporter(
                console, len(loaded.cells()), on_cell, cell_ids.append
            ) as reporter:
                run_suite(loaded, reporter, None if no_cache else EmbeddingCache(), skip)
            meta["threads"] = manifest.thread_counts()  # read now: the run imported the libraries
            store.write_manifest(meta)
            runs = store.write_views(cell_ids, meta)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
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


@app.command("results")
def results_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Results folders, or folders of them [default: results]."),
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
        typer.echo(f"error: unknown column(s) {', '.join(unknown)}; see --export for all", err=True)
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
        writers[export.suffix]()
        typer.echo(f"{len(rows)} rows -> {export}")
        return
    _console().print(_table(rows[shown], f"{len(rows)} rows"))


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
        typer.echo(
            f"{e.digest[:12]}  {e.key.get('model', '?')}  {e.key.get('side', '?'):<8} "
            f"{shape:>12}  {_size(e.nbytes):>9}  used {used}"
        )
    typer.echo(f"{len(entries)} entries in {cache.folder}")


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
    removed = EmbeddingCache().prune(
        older_than_s=None if older_than is None else older_than * 86400,
        max_bytes=None if max_size is None else int(max_size * 1e6),
    )
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


def _print_grid(console: Console, suite: Suite) -> None:
    from rich.table import Table

    table = Table(title=f"{suite.name}: {len(suite.cells())} cells, k={suite.k}")
    for column in ("dataset", "embedder", "index", "search"):
        table.add_column(column)
    for cell in suite.cells():
        order = f" (order {cell.order})" if cell.order is not None else ""
        table.add_row(cell.dataset, cell.embedder, (cell.index or "-") + order, cell.search or "-")
    console.print(table)


def _write_reports(
    console: Console, folder: Path, runs: pd.DataFrame, metrics: tuple[str, ...]
) -> None:
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
    (folder / "leaderboard.md").write_text(to_markdown(board))
    board.to_csv(folder / "leaderboard.csv", index=False)
    metric = "nDCG@10" if "nDCG@10" in metrics else metrics[0]
    plots = [p for cost in AXES for p in quality_vs_cost(runs, metric, cost, folder / "plots")]
    plots += quality_vs_dimension(runs, metric, folder / "plots")
    console.print(_table(board, f"leaderboard ({folder / 'leaderboard.md'})"))
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


def _cell_label(cell: Cell) -> str:
    from harness.report.leaderboard import search_label

    parts = [cell.dataset, cell.embedder, *([cell.index] if cell.index else [])]
    label = " · ".join(parts) + (f" order={cell.order}" if cell.order is not None else "")
    return f"{label} {search_label(cell.search)}" if cell.search else label


def _table(frame: pd.DataFrame, title: str) -> Table:
    import pandas as pd
    from rich.table import Table

    from harness.report.leaderboard import format_value

    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for _, row in frame.iterrows():
        table.add_row(*(format_value(row[c], str(c)) for c in frame.columns))
    return table


class _ProgressReporter:
    """Two bars: cells finished out of the grid, and the stage in progress."""

    def __init__(
        self,
        console: Console,
        total_cells: int,
        on_cell: Callable[[CellResult], None],
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
        self._grid = self._progress.add_task("grid", total=total_cells)
        self._stage: Any = None
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

    def cell_skipped(self, cell: Cell, cell_id: str) -> None:
        from rich.markup import escape

        self._progress.advance(self._grid, 1)
        self._progress.console.print(f"[dim]done earlier[/dim] {escape(_cell_label(cell))}")
        self._on_skip(cell_id)
