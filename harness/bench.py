"""`harness bench-compare`: a baseline configuration and a candidate timed alternately in one
process, round after round (A B, then B A, ...), so both see the same machine. Each round gives
each figure on both sides; the candidate / baseline ratio per round, its median over the rounds
and a bootstrap interval over rounds are what a gate tests. Drift of the machine between
rounds, which separate runs cannot tell from a regression, cancels out of the ratio.

Cells pair by dataset, embedder, index name, insertion order and threads, their search
settings in the order listed: a candidate may change an index's build or search settings
(efSearch 64 -> 512) and still pair with the baseline's. Only the search is timed: the query
side belongs to the embedder, which both sides share by name.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.cache import EmbeddingCache
from harness.datasets import LOADERS, Dataset
from harness.errors import HarnessError
from harness.evaluate import evaluate, to_run
from harness.gate.compare import COLUMNS, Comparison, ratio_gate_text
from harness.gate.rules import Gate
from harness.measure import thread_limit, time_stage
from harness.runner import (
    Hits,
    OrderedIndex,
    Reporter,
    Session,
    SilentReporter,
    dense_vectors,
    indexed_retriever,
    lexical_search,
)
from harness.spec import Cell, Suite, search_key
from harness.spread import CONFIDENCE, Series, interleaved_ratio

FIGURES = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "qps")


@dataclass(frozen=True)
class Pair:
    baseline: Cell
    candidate: Cell

    @property
    def label(self) -> str:
        if self.baseline.key == self.candidate.key:
            return self.baseline.key
        return f"{self.baseline.key} -> {self.candidate.search or '-'}"


def pair_cells(baseline: Suite, candidate: Suite) -> list[Pair]:
    """The cells of both suites that pair up, in the baseline's order."""

    def groups(suite: Suite) -> dict[tuple[object, ...], list[Cell]]:
        out: dict[tuple[object, ...], list[Cell]] = {}
        for c in suite.cells():
            out.setdefault((c.dataset, c.embedder, c.index, c.order, c.threads), []).append(c)
        return out

    theirs = groups(candidate)
    pairs = []
    for key, cells in groups(baseline).items():
        if key not in theirs:
            continue
        if len(cells) != len(theirs[key]):
            raise HarnessError(
                f"{cells[0].dataset} · {cells[0].embedder} · {cells[0].index}: "
                f"{len(cells)} search setting(s) in {baseline.path} but {len(theirs[key])} "
                f"in {candidate.path}; list as many in both to pair them in order"
            )
        pairs += [Pair(b, c) for b, c in zip(cells, theirs[key], strict=True)]
    if not pairs:
        raise HarnessError(
            f"no cell of {candidate.path} pairs with one of {baseline.path}; both need the same "
            "dataset, embedder and index names"
        )
    return pairs


def bench_compare(
    baseline: Suite,
    candidate: Suite,
    gates: list[Gate],
    rounds: int,
    *,
    reporter: Reporter | None = None,
    cache: EmbeddingCache | None = None,
) -> Comparison:
    """Time every pair of cells in `rounds` interleaved rounds and gate the ratios."""
    if rounds < 2:
        raise HarnessError(f"--rounds {rounds}: interleaving needs at least 2 rounds")
    pairs = pair_cells(baseline, candidate)
    reporter = reporter or SilentReporter()
    sides = (Session(baseline, reporter, cache), Session(candidate, reporter, cache))
    datasets = _datasets(baseline, candidate, {p.baseline.dataset for p in pairs}, reporter)
    metrics = [m for m in baseline.metrics if m in candidate.metrics]
    records: list[dict[str, object]] = []
    for pair in pairs:
        dataset = datasets[pair.baseline.dataset]
        searches = [
            _search(session, dataset, cell)
            for session, cell in zip(sides, (pair.baseline, pair.candidate), strict=True)
        ]
        timed, hits = _interleaved(
            searches, pair, len(dataset.query_ids), baseline, rounds, reporter
        )
        records += _quality_records(pair, dataset, hits, metrics, baseline.k)
        records += _timing_records(pair, timed, len(dataset.query_ids), gates)
    return Comparison(
        pd.DataFrame(records, columns=COLUMNS),
        [
            f"{rounds} rounds, baseline and candidate alternating (A B, B A, ...) in one process; "
            "ratio = median over rounds of candidate / baseline, 95% bootstrap interval over "
            "rounds; search only (both sides share the query side)"
        ],
    )


def _datasets(
    baseline: Suite, candidate: Suite, names: set[str], reporter: Reporter
) -> dict[str, Dataset]:
    """Each dataset loaded once; the candidate's must hold the same data as the baseline's."""
    loaded = {}
    for spec in baseline.datasets:
        if spec.name not in names:
            continue
        reporter.task(f"{spec.name}: loading", 1)
        loaded[spec.name] = LOADERS.get(spec.loader)(spec.params).load(spec.name)
        theirs = next(d for d in candidate.datasets if d.name == spec.name)
        if theirs.params != spec.params:
            other = LOADERS.get(theirs.loader)(theirs.params).load(theirs.name)
            if other.fingerprint != loaded[spec.name].fingerprint:
                raise HarnessError(
                    f"dataset '{spec.name}' holds other data in {candidate.path} than in "
                    f"{baseline.path}; bench-compare times the same data on both sides"
                )
        reporter.advance(1)
    return loaded


def _search(session: Session, dataset: Dataset, cell: Cell) -> Callable[[np.ndarray], Hits]:
    """The cell's search over query positions, its index built (once)."""
    suite = session.suite
    spec = suite.embedder(cell.embedder)
    ignore = next(d for d in suite.datasets if d.name == cell.dataset).ignore_identical_ids
    depth = suite.k + 1 if ignore else suite.k
    if spec.family == "lexical":
        retriever = indexed_retriever(spec, dataset)
        encoded = list(retriever.encode_queries(dataset.query_texts))
        return functools.partial(lexical_search, retriever, encoded, depth, cell.threads)
    vectors, _ = dense_vectors(session, dataset, spec)
    index_spec = suite.index(cell.index or "")
    settings = next(s for s in index_spec.search if search_key(s) == cell.search)
    built = OrderedIndex(index_spec, vectors["document"], cell.order).build()
    return functools.partial(built.search, vectors["query"], depth, settings, cell.threads)


def _interleaved(
    searches: list[Callable[[np.ndarray], Hits]],
    pair: Pair,
    n_queries: int,
    suite: Suite,
    rounds: int,
    reporter: Reporter,
) -> tuple[list[dict[str, Series]], list[Hits]]:
    """Each side's timed calls, labelled by round, and each side's hits from its first round."""
    one_round = suite.timing.model_copy(update={"rounds": 1})
    calls: list[dict[str, list[Series]]] = [
        {"search.single": [], "search.batch": []} for _ in (0, 1)
    ]
    hits: list[Hits | None] = [None, None]
    reporter.task(f"{pair.label}: {rounds} interleaved rounds", rounds)
    for r in range(rounds):
        for side in (0, 1) if r % 2 == 0 else (1, 0):
            with thread_limit(pair.baseline.threads if side == 0 else pair.candidate.threads):
                times, found = time_stage(searches[side], n_queries, one_round)
            if hits[side] is None:
                hits[side] = found
            for name, series in (("search.single", times.single), ("search.batch", times.batch)):
                relabelled = Series.of(series.seconds, np.full(len(series), r), series.queries)
                calls[side][name].append(relabelled)
        reporter.advance(1)
    joined = [
        {name: _concatenated(parts) for name, parts in side_calls.items()} for side_calls in calls
    ]
    return joined, [h for h in hits if h is not None]


def _concatenated(parts: list[Series]) -> Series:
    asked = [p.queries for p in parts if p.queries is not None]
    queries = np.concatenate(asked) if len(asked) == len(parts) else None
    return Series.of(
        np.concatenate([p.seconds for p in parts]),
        np.concatenate([p.rounds for p in parts]),
        queries,
    )


def _quality_records(
    pair: Pair, dataset: Dataset, hits: list[Hits], metrics: list[str], k: int
) -> list[dict[str, object]]:
    """Both sides' quality, shown beside their cost (not gated)."""
    means = []
    for scores, positions in hits:
        run = to_run(dataset.query_ids, dataset.doc_ids, scores, positions, k)
        means.append(evaluate(dataset.qrels, run, metrics).means)
    return [
        _record(pair.label, m, means[0][m], means[1][m]) | {"gate": "", "verdict": ""}
        for m in metrics
    ]


def _timing_records(
    pair: Pair, timed: list[dict[str, Series]], n_queries: int, gates: list[Gate]
) -> list[dict[str, object]]:
    records = []
    for figure in FIGURES:
        found = interleaved_ratio(figure, timed[0], timed[1], n_queries)
        if found is None:
            continue
        ratio, then, now = found
        baseline = float(np.median(then))
        record = _record(pair.label, figure, baseline, float(np.median(now))) | {
            "n": ratio.n,
            "ci_low": baseline * (ratio.low - 1),
            "ci_high": baseline * (ratio.high - 1),
            "gate": "",
            "verdict": "",
        }
        for gate in (g for g in gates if g.metric == figure):
            fired, limit = gate.beyond_noise(ratio.low, ratio.high, baseline)
            text = ratio_gate_text(gate, ratio, limit, CONFIDENCE)
            record["gate"] = f"{record['gate']}; {text}" if record["gate"] else text
            record["verdict"] = "FAIL" if fired or record["verdict"] == "FAIL" else "pass"
        records.append(record)
    return records


def _record(cell: str, figure: str, baseline: float, current: float) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(COLUMNS, math.nan)
    delta = current - baseline
    return record | {
        "cell": cell,
        "figure": figure,
        "baseline": baseline,
        "current": current,
        "delta": delta,
        "change": delta / abs(baseline) if baseline else math.nan,
    }
