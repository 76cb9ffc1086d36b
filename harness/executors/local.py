"""The local executor: every unit of the suite in this process, dataset by dataset, then the
dataset's pipelines over the records its units made."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from harness.cache import VectorStore
from harness.pipelines.run import cell_of, pipeline_records, stage_ids
from harness.plan import cells_units, unloaded_cells
from harness.record import CellRecord
from harness.runner import Reporter, Session, SilentReporter, load_dataset, run_unit
from harness.spec import Cell, Suite


def run_suite(
    suite: Suite,
    reporter: Reporter | None = None,
    cache: VectorStore | None = None,
    skip: Collection[str] = frozenset(),
) -> list[CellRecord]:
    """Run every cell whose id is not in `skip`; `cache` (None: off) keeps encoded vectors."""
    session = Session(suite, reporter or SilentReporter(), cache)
    records = []
    for record in _records(session, skip):
        session.reporter.cell_done(record)  # where it is saved: a failure here stops the run
        records.append(record)
    return records


def _records(session: Session, skip: Collection[str]) -> Iterator[CellRecord]:
    """Every cell's record, dataset by dataset and unit by unit; a dataset that cannot load
    fails its cells and the grid goes on."""
    suite = session.suite
    for dataset_spec in suite.datasets:
        try:
            dataset = load_dataset(dataset_spec, session.reporter)
        except Exception as err:  # recorded on each of its cells
            cells = unloaded_cells(suite, dataset_spec)
            yield from (session.failed(c, i, err) for c, i in cells.items())
            continue
        fingerprint = dataset.fingerprint
        reread = stage_ids(suite, dataset_spec.name, fingerprint, skip)
        done: dict[Cell, CellRecord] = {}
        for unit in cells_units(suite, dataset_spec, fingerprint):
            for record in run_unit(session, dataset, unit, set(skip) - reread):
                done[cell_of(record.cell)] = record
                yield record
        yield from pipeline_records(session, dataset, dataset_spec, done, skip)
