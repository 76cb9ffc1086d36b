"""A pipeline's cells: a second stage (fusion or re-ranking) over its first stages' records,
timed by the same protocol as any search and evaluated like any cell.

Cost, stage by stage and end to end: the record's query side (`query.*`) is its first stages
end to end, each query's calls summed over the stages as if run one after the other (each
stage's own query side and search, paired by query as `e2e.single` pairs them); its search
(`search.*`) is the second stage itself, timed here; `e2e` is the two together. Each first
stage keeps its own row. Bytes are the first stages' indexes plus what a re-ranker keeps per
document.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from harness.datasets import Dataset
from harness.errors import HarnessError
from harness.figures import ENCODING_FIGURES
from harness.machine import cpu_snapshot, load_average, others_cpu
from harness.measure import thread_limit, time_stage
from harness.pipelines.cross_encoder import by_cross_encoder
from harness.pipelines.fusion import Hits, best, candidates, fuse
from harness.pipelines.scorers import by_embedder
from harness.pipelines.settings import PipelineSpec
from harness.record import CellKey, CellRecord, EmbedderInfo, IndexInfo
from harness.runner import (
    PIPELINE_KIND,
    CellGroup,
    Session,
    cell_series,
    named_series,
)
from harness.spec import Cell, DatasetSpec, Suite
from harness.spread import Series, end_to_end, with_end_to_end

Stage = Callable[[np.ndarray], list[dict[str, float]]]
"""The second stage: query positions -> each query's ranking."""


def cell_of(key: CellKey) -> Cell:
    return Cell(key.dataset, key.embedder, key.index or None, key.search, key.order, key.threads)


def stage_ids(suite: Suite, dataset: str, fingerprint: str, skip: Collection[str]) -> set[str]:
    """Ids of the cells that pipelines still to compute read (transitively): a resumed run
    computes them again, as their rankings and timings are what a pipeline reads."""
    needed: set[Cell] = set()
    for pipeline in reversed(suite.pipelines):
        cells = [Cell(dataset, pipeline.name, None, key) for key in pipeline.settings]
        if any(c in needed or suite.cell_id(c, fingerprint) not in skip for c in cells):
            needed.update(suite.stage_cell(s, dataset) for s in pipeline.stages)
            needed.update(_scorer_cells(suite, pipeline, dataset))
    return {suite.cell_id(c, fingerprint) for c in needed}


def _scorer_cells(suite: Suite, pipeline: PipelineSpec, dataset: str) -> list[Cell]:
    """A re-ranking scorer's exhaustive cells, which its `ann_recall` is measured against."""
    by = pipeline.rerank.by if pipeline.rerank is not None else None
    return [
        c
        for c in suite.cells()
        if (c.dataset, c.embedder) == (dataset, by)
        and (c.index is None or suite.index(c.index).kind in EXHAUSTIVE)
    ]


def pipeline_records(
    session: Session,
    dataset: Dataset,
    spec: DatasetSpec,
    done: Mapping[Cell, CellRecord],
    skip: Collection[str] = frozenset(),
) -> Iterator[CellRecord]:
    """The dataset's pipeline cells, from the records of its other cells (`done`)."""
    suite, reporter = session.suite, session.reporter
    records = dict(done)
    for pipeline in suite.pipelines:
        for key in pipeline.settings:
            cell = Cell(dataset.name, pipeline.name, None, key)
            cell_id = suite.cell_id(cell, dataset.fingerprint)
            if cell_id in skip:
                reporter.cell_skipped(cell, cell_id)
                continue
            try:
                stages = [
                    _stage_record(records, suite.stage_cell(s, dataset.name))
                    for s in pipeline.stages
                ]
                group = CellGroup(session, dataset, spec, {cell: cell_id})
                record = _pipeline_cell(group, pipeline, cell, stages)
                record.cost |= _found_of_exhaustive(pipeline, records, record, suite.k)
            except Exception as err:  # recorded on the cell; the grid goes on
                record = session.failed(cell, cell_id, err)
            records[cell] = record
            yield record


EXHAUSTIVE = ("faiss-flat", "inverted", "maxsim")
"""Index kinds that score every document: a scorer's own cell of one of these is the ranking
its re-ranking of candidates can at best reproduce."""


def _found_of_exhaustive(
    pipeline: PipelineSpec, records: Mapping[Cell, CellRecord], record: CellRecord, k: int
) -> dict[str, float]:
    """For a re-ranking by an embedder with an exhaustive cell in the run: `ann_recall@n`, the
    share of that cell's top n the pipeline finds (MUVERA against exact MaxSim, say)."""
    by = pipeline.rerank.by if pipeline.rerank is not None else None
    exhaustive = [
        r
        for c, r in records.items()
        if (c.dataset, c.embedder) == (record.cell.dataset, by)
        and r.status == "ok"
        and r.index is not None
        and r.index.kind in EXHAUSTIVE
    ]
    if record.status != "ok" or not exhaustive:
        return {}
    truth = exhaustive[0].ranking
    found = {}
    for at in dict.fromkeys((10, k)):
        shares = []
        for query, ranking in truth.items():
            best_truth = {d for d, _ in candidates(ranking, at)}
            if best_truth:
                got = {d for d, _ in candidates(record.ranking.get(query, {}), at)}
                shares.append(len(best_truth & got) / len(best_truth))
        found[f"ann_recall@{at}"] = float(np.mean(shares)) if shares else math.nan
    return found


def _stage_record(records: Mapping[Cell, CellRecord], cell: Cell) -> CellRecord:
    record = records.get(cell)
    if record is None:
        raise HarnessError(f"stage {cell.key} has no record in this run")
    if record.status != "ok":
        raise HarnessError(f"stage {cell.key} failed: {record.error}")
    return record


def _pipeline_cell(
    group: CellGroup, pipeline: PipelineSpec, cell: Cell, stages: list[CellRecord]
) -> CellRecord:
    dataset, session = group.dataset, group.session
    label = f"{dataset.name} · {pipeline.name}{cell.search}"
    hits = [
        [candidates(r.ranking.get(qid, {}), pipeline.candidates) for r in stages]
        for qid in dataset.query_ids
    ]
    stage, cost, params = _second_stage(group, pipeline, cell, hits)
    session.reporter.task(f"{label}: timing the second stage", 1)
    group.memory.before_search()
    load_start, cpu_start = load_average(), cpu_snapshot()
    with thread_limit(cell.threads):
        times, rankings = time_stage(
            stage, len(dataset.query_ids), session.suite.timing, session.probe.once
        )
    cpu_end, load_end = cpu_snapshot(), load_average()
    group.memory.after_search()
    session.reporter.advance(1)
    series = cell_series(named_series(times, "search", dataset.query_ids), _first_stages(stages))
    index_bytes = sum(r.cost.get("index_bytes", math.nan) for r in stages) + cost.pop(
        "scorer_bytes", 0.0
    )
    cost |= {
        "index_bytes": index_bytes,
        "bytes_per_vector": index_bytes / len(dataset.doc_ids),
        "threads": float(cell.threads),
        "load_start": load_start,
        "load_end": load_end,
        "other_cpu": others_cpu(cpu_start, cpu_end),
    }
    run = dict(zip(dataset.query_ids, rankings, strict=True))
    embedder = EmbedderInfo(
        kind=PIPELINE_KIND,
        model=pipeline.description,
        query_encoder=f"{PIPELINE_KIND}:{pipeline.name}",
        params=params | {"stages": [r.cell.key for r in stages]},
    )
    index = IndexInfo(
        kind=PIPELINE_KIND,
        build_params=json.dumps(pipeline.definition(), sort_keys=True),
        search_effective=json.dumps(
            {"candidates": pipeline.candidates, "weights": list(pipeline.weights(cell.search))}
            if pipeline.fusion is not None
            else {"candidates": pipeline.candidates},
            sort_keys=True,
        ),
    )
    return group.record(cell, embedder, index, series, run, cost)


def _second_stage(
    group: CellGroup, pipeline: PipelineSpec, cell: Cell, hits: list[list[Hits]]
) -> tuple[Stage, dict[str, float], dict[str, Any]]:
    """The timed second stage, its costs outside the timing, and its settings as recorded."""
    depth = group.suite.k
    no_encoding = dict.fromkeys(ENCODING_FIGURES, math.nan) | {"texts_encoded": 0.0}
    if pipeline.fusion is not None:
        fusion, weights = pipeline.fusion, pipeline.weights(cell.search)

        def fused(rows: np.ndarray) -> list[dict[str, float]]:
            return [best(fuse(hits[i], fusion, weights), depth) for i in rows]

        params: dict[str, Any] = {
            "method": fusion.method,
            "weights": list(weights),
            "candidates": pipeline.candidates,
        }
        params |= {"k": fusion.k} if fusion.method == "rrf" else {"normalize": fusion.normalize}
        return fused, no_encoding, params
    assert pipeline.rerank is not None
    first = [h[0] for h in hits]
    if pipeline.rerank.by is not None:
        return by_embedder(group, pipeline.rerank.by, first, depth)
    return by_cross_encoder(group, pipeline.rerank.cross_encoder, first, depth, no_encoding)


def _first_stages(stages: Sequence[CellRecord]) -> dict[str, Series]:
    """The first stages as one query side: per query, each stage's end-to-end call summed;
    batched, each stage's batched calls (query side and search) summed."""
    singles, batches = [], []
    for record in stages:
        timings = with_end_to_end(record.timings)
        singles.append(timings.get("e2e.single", timings.get("search.single")))
        parts = [timings[n] for n in ("query.batch", "search.batch") if n in timings]
        batches.append(_summed(parts))
    present = [s for s in singles if s is not None]
    return {
        "query.single": functools.reduce(end_to_end, present),
        "query.batch": _summed(batches),
    }


def _summed(parts: Sequence[Series]) -> Series:
    """Call i of the first series plus call i (cycling) of each other: calls run one after
    another."""
    first = parts[0]
    total = first.seconds.copy()
    for other in parts[1:]:
        total += other.seconds[np.arange(len(total)) % len(other.seconds)]
    return Series.of(total, first.rounds)
