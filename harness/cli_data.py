"""The command line's dataset commands: the catalogue, fetching, small tiers and slices.

Registered on `harness.cli.app` (imported there); like it, imports stay inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli import _console, _table, _writing, app

SLICE_HELP = "query_length, doc_length (of the judged relevant documents) or group."


@app.command()
def slices(
    folder: Annotated[Path, typer.Argument(help="A results folder.")],
    by: Annotated[str, typer.Option(help=SLICE_HELP)] = "doc_length",
    metric: Annotated[str, typer.Option(help="The per-query metric to slice.")] = "nDCG@10",
    bins: Annotated[int, typer.Option(min=1, help="Length bins (quantiles of the queries).")] = 4,
    against: Annotated[
        str | None,
        typer.Option(
            help="A system (as the table labels it): show each other system's paired "
            "difference from it per bin."
        ),
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="SQL condition on the rows, as in harness results.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the table (.csv, .md) and plot (default: FOLDER/slices)."),
    ] = None,
) -> None:
    """Per-query metrics broken down by query length, judged-document length or query group,
    with 95% bootstrap intervals (paired differences with --against): a table and a plot per
    dataset."""
    from harness import results
    from harness.errors import HarnessError
    from harness.report import to_markdown
    from harness.report.slices import SLICES, file_suffix, plot, slice_table, wide

    if by not in SLICES:
        typer.echo(f"error: --by {by}: unknown slice; use {', '.join(SLICES)}", err=True)
        raise typer.Exit(2)
    try:
        rows = results.select([folder], where, latest=True)
        rows = rows[rows["status"] == "ok"]
        if rows.empty:
            typer.echo("no results match")
            return
        store = results.ResultsStore(folder)
        facts = store.query_facts(rows["dataset_fingerprint"])
        table = slice_table(
            rows, store.per_query(rows), facts, by, metric, bins=bins, against=against
        )
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if table.empty:
        typer.echo(f"error: {folder}: no query has a {by.replace('_', ' ')} to slice by", err=True)
        raise typer.Exit(2)
    target = out or folder / "slices"
    name = f"slices_{by}{file_suffix(against)}"
    shows = "mean [95% interval]" if against is None else f"mean difference from {against} [95%]"
    console = _console()
    markdown = []
    for dataset, frame in table.groupby("dataset", sort=False):
        shown = wide(frame).reset_index()
        title = f"{dataset}: {metric} by {by.replace('_', ' ')}, {shows}"
        console.print(_table(shown, title))
        markdown.append(f"## {title}\n\n{to_markdown(shown)}\n")
    with _writing(target, "--out"):
        target.mkdir(parents=True, exist_ok=True)
        table.to_csv(target / f"{name}.csv", index=False)
        (target / f"{name}.md").write_text("\n".join(markdown))
        for path in plot(table, metric, target, against=against):
            typer.echo(f"wrote {path}")
    typer.echo(f"wrote {target / name}.csv and .md")


@app.command()
def shrink(
    dataset: Annotated[Path, typer.Argument(help="A BEIR-layout folder.")],
    queries: Annotated[int, typer.Option(min=1, help="Judged queries to sample.")] = 50,
    pool: Annotated[
        list[Path] | None,
        typer.Option(help="TREC run files or results folders whose top documents to keep."),
    ] = None,
    depth: Annotated[int, typer.Option(min=1, help="Top documents per pooled run.")] = 100,
    out: Annotated[Path, typer.Option(help="The tier's folder (new or empty).")] = Path("tier"),
    split: Annotated[str, typer.Option(help="The qrels split to sample.")] = "test",
    seed: Annotated[int, typer.Option(help="Seed of the query sample.")] = 0,
) -> None:
    """Write a small BEIR-layout tier: sampled queries, their judged documents and the pooled
    runs' top documents (as NanoBEIR was built). Check it with `harness validate-tier`."""
    from harness.datasets.shrink import shrink as write_tier
    from harness.errors import HarnessError

    try:
        with _writing(out, "--out"):
            tier = write_tier(
                dataset,
                out,
                split=split,
                n_queries=queries,
                pool=pool or [],
                depth=depth,
                seed=seed,
            )
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"wrote {out}/: {tier.queries} queries, {tier.documents} documents ({tier.judged_documents}"
        f" judged, {tier.pooled_documents} from {len(tier.runs)} runs' top {tier.depth})"
    )


@app.command("validate-tier")
def validate_tier_command(
    full: Annotated[Path, typer.Argument(help="Results of a suite on the full collection.")],
    tier: Annotated[Path, typer.Argument(help="Results of the same suite on the tier.")],
    metric: Annotated[str, typer.Option(help="The main metric.")] = "nDCG@10",
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 1000,
    markdown: Annotated[
        Path | None, typer.Option(help="Also append the report as Markdown to this file.")
    ] = None,
) -> None:
    """How well a tier ranks systems like the full set: Kendall's tau, Spearman's rho, mean
    absolute error of the metric, each with a 95% bootstrap interval over the tier's queries."""
    from harness.errors import HarnessError
    from harness.report import to_markdown
    from harness.report.tier_validation import validate_tier
    from harness.results import read_views

    try:
        check = validate_tier(read_views(full), read_views(tier), metric, resamples=resamples)
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    lines = [
        f"# Tier check: {tier} against {full}, {metric}, {len(check.systems)} systems",
        "",
        f"- Kendall's tau-b: {check.kendall_tau}",
        f"- Spearman's rho: {check.spearman_rho}",
        f"- mean absolute error: {check.mean_abs_error} (largest {check.max_abs_error:.4f})",
        f"- queries: {check.tier_queries} of {check.full_queries}; wall time "
        f"{check.tier_wall_s:.0f} s against {check.full_wall_s:.0f} s",
        f"- [95% percentile bootstrap intervals, {check.resamples} resamples of the tier's "
        "queries]",
        "",
    ]
    text = "\n".join(lines)
    typer.echo(text)
    _console().print(_table(check.systems, f"{metric}: full set and tier"))
    if markdown is not None:
        with _writing(markdown, "--markdown"), markdown.open("a") as handle:
            handle.write(text + "\n" + to_markdown(check.systems) + "\n")


@app.command()
def datasets(
    source: Annotated[
        str | None, typer.Option(help="beir, mteb or ir_datasets (default: beir, and counts)")
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Only those on this machine.")] = False,
) -> None:
    """The collections harness knows by name (BEIR's public sets, MTEB retrieval tasks,
    ir_datasets ids) and which are on this machine."""
    from harness.datasets import catalogue
    from harness.errors import HarnessError
    from harness.registry import require

    if source is not None and source not in catalogue.SOURCES:
        typer.echo(
            f"error: --source {source}: unknown; use {', '.join(catalogue.SOURCES)}", err=True
        )
        raise typer.Exit(2)
    shown = source or "beir"
    try:
        if shown != "beir":
            require(shown, f"'harness[{shown.replace('_', '-')}]'", needed_by=f"--source {shown}")
        found = [e for e in catalogue.entries(shown) if e.local or not local]
    except HarnessError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    import pandas as pd

    table = pd.DataFrame(
        {
            "name": [e.name for e in found],
            "local": [e.local or "—" for e in found],
            "url": [e.url for e in found],
            "md5": [e.md5 for e in found],
            "size": [f"{e.bytes / 1e6:,.1f} MB" if e.bytes else "" for e in found],
            "licence": [e.licence for e in found],
        }
    )
    if shown != "beir":
        table = table.drop(columns=["size"] + (["md5"] if shown == "mteb" else []))
    present = sum(1 for e in found if e.local)
    _console().print(_table(table, f"{shown}: {len(found)} collections, {present} on this machine"))
    if source is None:
        typer.echo("MTEB tasks: --source mteb; ir_datasets ids: --source ir_datasets")


@app.command()
def fetch(
    name: Annotated[
        str, typer.Argument(help="A BEIR name (scifact), ir_datasets id or MTEB task.")
    ],
) -> None:
    """Download and verify a collection where the network allows; say so where it does not."""
    from harness.datasets import catalogue
    from harness.errors import HarnessError, os_problem

    try:
        where = catalogue.fetch(name)
    except OSError as err:  # a full disk, a read-only cache: nothing half-written is kept
        typer.echo(f"error: fetch {name}: cannot write: {os_problem(err)}", err=True)
        raise typer.Exit(1) from None
    except catalogue.FetchError as err:  # known, but not downloadable now
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except HarnessError as err:  # not a name harness knows
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"fetched {name}: {where}")
