from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluate import ann_recall, evaluate, exact_neighbours, to_run

QRELS = {"q1": {"d1": 2, "d2": 1, "d9": 0}, "q2": {"d3": 1}}


def test_hand_checked_values() -> None:
    run = {"q1": {"d5": 3.0, "d1": 2.0, "d2": 1.0}, "q2": {"d7": 2.0, "d8": 1.5, "d6": 1.0}}
    ev = evaluate(QRELS, run, ["nDCG@10", "RR@10", "R@2", "P@3"])
    # q1: graded gains 0, 2, 1 at ranks 1-3 (trec_eval's nDCG uses the grade as gain)
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ev.per_query["nDCG@10"] == pytest.approx({"q1": dcg / idcg, "q2": 0.0})
    assert ev.per_query["RR@10"] == pytest.approx({"q1": 0.5, "q2": 0.0})
    assert ev.per_query["R@2"] == pytest.approx({"q1": 0.5, "q2": 0.0})  # d1 of {d1, d2} in top 2
    assert ev.per_query["P@3"] == pytest.approx({"q1": 2 / 3, "q2": 0.0})
    assert ev.means["RR@10"] == pytest.approx(0.25)


def test_rr_cutoff_is_honoured() -> None:
    run = {"q1": {f"x{i}": 100.0 - i for i in range(12)} | {"d1": 1.0}, "q2": {"d3": 1.0}}
    ev = evaluate(QRELS, run, ["RR@10", "RR"])
    assert ev.per_query["RR@10"]["q1"] == 0.0  # first relevant at rank 13
    assert ev.per_query["RR"]["q1"] == pytest.approx(1 / 13)


def test_rr_breaks_ties_as_trec_eval_does() -> None:
    """Tied scores rank by document id descending (trec_eval, pytrec_eval, MTEB's MRR): the
    relevant d1 tied with d2 ranks after it. ir-measures' default provider for RR@10 read 0.5."""
    run = {"q1": {"d1": 0.5, "d2": 0.5, "d5": 0.9}, "q2": {"d3": 1.0}}
    ev = evaluate({"q1": {"d1": 1}, "q2": {"d3": 1}}, run, ["RR@10", "RR", "RR@2"])
    reference = pytrec_eval.RelevanceEvaluator({"q1": {"d1": 1}}, {"recip_rank"})
    assert ev.per_query["RR@10"]["q1"] == reference.evaluate(run)["q1"]["recip_rank"] == 1 / 3
    assert ev.per_query["RR"]["q1"] == 1 / 3
    assert ev.per_query["RR@2"]["q1"] == 0.0  # d1 is third: cut off
    assert ev.per_query["RR@10"]["q2"] == 1.0


def test_a_query_without_results_counts_as_zero() -> None:
    ev = evaluate(QRELS, {"q1": {"d1": 1.0}, "q2": {}}, ["R@10"])
    assert ev.per_query["R@10"] == {"q1": 0.5, "q2": 0.0}
    assert ev.means["R@10"] == 0.25
    assert evaluate(QRELS, {}, ["nDCG@10"]).means["nDCG@10"] == 0.0


def test_to_run_skips_padding_and_drops_identical_ids() -> None:
    scores = np.array([[0.9, 0.8, 0.7], [0.5, -np.inf, -np.inf]])
    positions = np.array([[1, 0, 2], [2, -1, -1]])
    docs = ["q1", "d2", "d3"]
    assert to_run(["q1", "q2"], docs, scores, positions, k=2) == {
        "q1": {"d2": pytest.approx(0.9), "q1": pytest.approx(0.8)},
        "q2": {"d3": pytest.approx(0.5)},
    }
    dropped = to_run(["q1", "q2"], docs, scores, positions, k=2, ignore_identical_ids=True)
    assert list(dropped["q1"]) == ["d2", "d3"]


def _random_case(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels = {
        f"q{q}": {d: int(rng.integers(0, 3)) for d in rng.choice(docs, 8, replace=False)}
        for q in range(20)
    }
    run = {
        q: {
            d: float(s)
            for d, s in zip(
                rng.choice(docs, 40, replace=False), rng.random(40).round(2), strict=True
            )
        }
        for q in qrels
    }  # rounded scores: ties, broken by trec_eval's rule
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pytrec_eval_directly(seed: int) -> None:
    qrels, run = _random_case(seed)
    ours = evaluate(qrels, run, ["nDCG@10", "nDCG@5", "R@100", "R@10", "P@5", "AP"])
    reference = pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut.10", "ndcg_cut.5", "recall.100", "recall.10", "P.5", "map"}
    ).evaluate(run)
    names = {
        "nDCG@10": "ndcg_cut_10",
        "nDCG@5": "ndcg_cut_5",
        "R@100": "recall_100",
        "R@10": "recall_10",
        "P@5": "P_5",
        "AP": "map",
    }
    for ours_name, trec_name in names.items():
        for query, values in reference.items():
            assert ours.per_query[ours_name][query] == pytest.approx(values[trec_name], abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_scores_in_unit_range_and_invariant_to_renaming_and_order(seed: int) -> None:
    qrels, run = _random_case(seed)
    metrics = ["nDCG@10", "R@100", "RR@10", "AP"]
    base = evaluate(qrels, run, metrics)
    for values in base.per_query.values():
        assert all(0.0 <= v <= 1.0 for v in values.values())
    # renaming documents while keeping their sort order (trec_eval breaks ties by id), and
    # shuffling the order in which hits are listed, keeps every score
    rename = {d: f"doc{rank:03d}" for rank, d in enumerate(sorted(f"d{i}" for i in range(60)))}
    rng = np.random.default_rng(seed)

    def shuffled(hits: dict[str, float]) -> dict[str, float]:
        items = list(hits.items())
        return dict(items[i] for i in rng.permutation(len(items)))

    renamed = evaluate(
        {q: {rename[d]: r for d, r in js.items()} for q, js in qrels.items()},
        {q: shuffled({rename[d]: s for d, s in hits.items()}) for q, hits in run.items()},
        metrics,
    )
    for metric in metrics:
        assert renamed.means[metric] == pytest.approx(base.means[metric])


def test_ann_recall_counts_ties_with_the_last_true_neighbour_as_hits() -> None:
    docs = np.array([[1.0, 0.0], [0.8, 0.6], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    queries = np.array([[1.0, 0.0]], dtype=np.float32)
    scores, ids = exact_neighbours(docs, queries, 2)
    assert ids[0, 0] == 0 and np.allclose(scores[0], [1.0, 0.8])

    def recall(found: list[int]) -> float:
        return ann_recall(np.array([found]), scores, 2, docs, queries)

    assert recall([0, 1]) == recall([0, 2]) == 1.0  # doc 2 ties doc 1: either is a true neighbour
    assert recall([0, 3]) == 0.5  # a worse document is a miss
    assert recall([0, -1]) == 0.5  # so is a missing one
    assert recall([2, 0]) == 1.0  # order within the top `at` does not matter
