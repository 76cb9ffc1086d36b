"""Fair leaderboards over incomplete grids: shared means, mean ranks and Bradley-Terry."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from harness.report.fair import (
    bradley_terry,
    cell_status,
    fair_leaderboard,
    pairwise_wins,
    score_matrix,
    system_labels,
    to_markdown,
)

METRIC = "nDCG@10"
QUERIES = ["q1", "q2", "q3", "q4"]


def _grid(
    cells: list[tuple[str, str, str, str, str, float]],
    queries: dict[tuple[str, str], list[float]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (embedder, index, search, dataset, status, value) and their per-query values:
    given per (embedder, dataset), else the cell's value on every query."""
    rows = pd.DataFrame(
        [
            {
                "run_id": "r1",
                "cell_id": f"c{n}",
                "dataset": dataset,
                "embedder": embedder,
                "index": index,
                "search_params": search,
                "status": status,
                METRIC: value if status == "ok" else math.nan,
            }
            for n, (embedder, index, search, dataset, status, value) in enumerate(cells)
        ]
    )
    per_query = [
        ("r1", cell_id, "cell", query, METRIC, value)
        for cell_id, embedder, dataset, status, cell_value in zip(
            rows["cell_id"],
            rows["embedder"],
            rows["dataset"],
            rows["status"],
            rows[METRIC],
            strict=True,
        )
        if status == "ok"
        for query, value in zip(
            QUERIES,
            (queries or {}).get((embedder, dataset), [cell_value] * len(QUERIES)),
            strict=True,
        )
    ]
    columns = ["run_id", "cell_id", "cell", "query_id", "measure", "value"]
    return rows, pd.DataFrame(per_query, columns=columns)


EF = json.dumps({"efSearch": 16})
A, B, C = "dense · flat", "dense2 · hnsw efSearch=16", "bm25"


def _hand_grid() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3 systems x 3 datasets; B failed on d2, C never ran d3."""
    return _grid(
        [
            ("dense", "flat", "", "d1", "ok", 0.50),
            ("dense2", "hnsw", EF, "d1", "ok", 0.40),
            ("bm25", "", "", "d1", "ok", 0.30),
            ("dense", "flat", "", "d2", "ok", 0.60),
            ("dense2", "hnsw", EF, "d2", "failed", math.nan),
            ("bm25", "", "", "d2", "ok", 0.70),
            ("dense", "flat", "", "d3", "ok", 0.20),
            ("dense2", "hnsw", EF, "d3", "ok", 0.35),
        ]
    )


def test_systems_are_embedder_index_and_search_setting() -> None:
    rows, _ = _hand_grid()
    assert list(system_labels(rows).unique()) == [A, B, C]
    lexical = pd.DataFrame({"embedder": ["bm25"], "index": [None], "search_params": [math.nan]})
    assert list(system_labels(lexical)) == ["bm25"]


def test_failed_and_absent_cells_are_missing_not_zero() -> None:
    rows, _ = _hand_grid()
    matrix = score_matrix(rows, METRIC)
    assert list(matrix.columns) == ["d1", "d2", "d3"]
    assert math.isnan(matrix.loc[B, "d2"]) and math.isnan(matrix.loc[C, "d3"])
    assert int(matrix.notna().to_numpy().sum()) == 7
    status = cell_status(rows, METRIC)
    assert status.loc[B, "d2"] == "failed" and status.loc[C, "d3"] == "not run"
    assert status.loc[A, "d3"] == "ok"
    by_embedder = score_matrix(rows, METRIC, system_col="embedder")
    assert by_embedder.loc["dense", "d2"] == pytest.approx(0.60)


def test_mean_shared_uses_only_the_datasets_every_system_ran() -> None:
    rows, per_query = _hand_grid()
    board = fair_leaderboard(rows, per_query, METRIC)
    assert board.shared_datasets == ("d1",)
    table = board.table.set_index("system")
    # only d1 is shared: A's d2 and d3 do not enter, and nothing missing counts as 0
    assert table["mean_shared"].to_dict() == pytest.approx({A: 0.50, B: 0.40, C: 0.30})
    assert table["datasets_run"].to_dict() == {A: 3, B: 2, C: 2}
    assert table.loc[B, "missing"] == "d2 (failed)"
    assert table.loc[C, "missing"] == "d3"
    assert table.loc[A, "missing"] == ""
    assert "d1" in board.note and "mean_shared" in board.note


def test_mean_rank_matches_hand_computation() -> None:
    rows, per_query = _hand_grid()
    table = fair_leaderboard(rows, per_query, METRIC).table.set_index("system")
    # d1: A 1, B 2, C 3; d2 (B failed): C 1, A 2; d3 (C absent): B 1, A 2
    assert table["mean_rank"].to_dict() == pytest.approx({A: 5 / 3, B: 3 / 2, C: 4 / 2})


def test_mean_rank_averages_tied_ranks() -> None:
    rows, per_query = _grid(
        [
            ("a", "", "", "d", "ok", 0.5),
            ("b", "", "", "d", "ok", 0.5),
            ("c", "", "", "d", "ok", 0.2),
        ]
    )
    table = fair_leaderboard(rows, per_query, METRIC).table.set_index("system")
    assert table["mean_rank"].to_dict() == {"a": 1.5, "b": 1.5, "c": 3.0}
    assert table.loc["a", "bt_strength"] == pytest.approx(table.loc["b", "bt_strength"])


def test_no_shared_dataset_leaves_mean_shared_empty_and_says_so() -> None:
    rows, per_query = _grid(
        [
            ("a", "", "", "d1", "ok", 0.5),
            ("b", "", "", "d1", "ok", 0.4),
            ("b", "", "", "d2", "ok", 0.4),
            ("c", "", "", "d2", "ok", 0.3),
        ]
    )
    board = fair_leaderboard(rows, per_query, METRIC)
    assert board.shared_datasets == ()
    assert board.table["mean_shared"].isna().all()
    assert "there are none" in board.note
    assert list(board.table["system"]) == ["a", "b", "c"]  # a > b on d1, b > c on d2


def test_pairwise_wins_count_ties_as_half_and_skip_what_is_missing() -> None:
    rows, per_query = _grid(
        [("a", "", "", "d", "ok", 0.5), ("b", "", "", "d", "ok", 0.5)],
        {("a", "d"): [0.9, 0.5, 0.1, 0.7], ("b", "d"): [0.8, 0.5, 0.3, 0.2]},
    )
    per_query = per_query.drop(per_query.index[-1])  # b has no value for q4: not compared
    wins = pairwise_wins(rows, per_query, METRIC)
    assert wins.loc["a", "b"] == 1.5 and wins.loc["b", "a"] == 1.5
    assert wins.loc["a", "a"] == 0


def test_a_failed_cell_has_no_per_query_comparisons() -> None:
    rows, per_query = _hand_grid()
    stray = pd.DataFrame(  # per-query values of the failed cell must not be compared
        [("r1", "c4", "cell", q, METRIC, 1.0) for q in QUERIES], columns=per_query.columns
    )
    wins = pairwise_wins(rows, pd.concat([per_query, stray], ignore_index=True), METRIC)
    # A-B meet on d1 (A wins 4) and d3 (B wins 4); nothing on d2
    assert wins.loc[A, B] == 4 and wins.loc[B, A] == 4
    assert wins.loc[B, C] == 4 and wins.loc[C, B] == 0  # d1 only; C never ran d3


def _simulated_wins(strengths: np.ndarray, games: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(strengths)
    wins = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            won = rng.binomial(games, strengths[i] / (strengths[i] + strengths[j]))
            wins[i, j], wins[j, i] = won, games - won
    return wins


def test_bradley_terry_recovers_known_strengths() -> None:
    truth = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    truth = truth / np.exp(np.log(truth).mean())
    fitted = bradley_terry(_simulated_wins(truth, games=5000, seed=7))
    assert np.exp(np.log(fitted).mean()) == pytest.approx(1.0)
    assert list(np.argsort(-fitted)) == [0, 1, 2, 3, 4]
    assert fitted == pytest.approx(truth, rel=0.08)
    adjacent = fitted[:-1] / fitted[1:]
    assert adjacent == pytest.approx(np.full(4, 2.0), rel=0.08)
    assert np.array_equal(fitted, bradley_terry(_simulated_wins(truth, games=5000, seed=7)))


def _penalised_nll(theta: np.ndarray, wins: np.ndarray, prior: float) -> float:
    diff = theta[:, None] - theta[None, :]
    return float(np.sum(wins * np.logaddexp(0.0, -diff)) + 0.5 * prior * theta @ theta)


def _hunter_mm(wins: np.ndarray, iterations: int = 20000) -> np.ndarray:
    """Hunter (2004) MM updates for the plain maximum-likelihood fit."""
    games = wins + wins.T
    strengths = np.ones(len(wins))
    for _ in range(iterations):
        denominator = (games / (strengths[:, None] + strengths[None, :])).sum(axis=1)
        strengths = wins.sum(axis=1) / denominator
        strengths /= np.exp(np.log(strengths).mean())
    return strengths


def test_bradley_terry_agrees_with_direct_maximisation_and_hunter_mm() -> None:
    truth = np.array([3.0, 1.5, 1.0, 0.6])
    wins = _simulated_wins(truth, games=40, seed=3)
    wins[0, 2] += 0.5  # a tie's half wins
    wins[2, 0] += 0.5
    for prior in (1e-3, 0.5):
        ours = bradley_terry(wins, prior=prior)
        reference = minimize(
            _penalised_nll, np.zeros(4), args=(wins, prior), method="BFGS", options={"gtol": 1e-10}
        )
        expected = np.exp(reference.x - reference.x.mean())
        assert np.max(np.abs(ours - expected)) < 1e-4
    plain = _hunter_mm(wins)
    assert np.max(np.abs(bradley_terry(wins, prior=1e-9) - plain)) < 1e-4


def test_a_system_that_wins_every_comparison_stays_finite() -> None:
    wins = np.array([[0.0, 50, 50], [0, 0, 30], [0, 20, 0]])
    strengths = bradley_terry(wins)
    assert np.all(np.isfinite(strengths)) and np.all(strengths > 0)
    assert strengths[0] > 1e3 * strengths[1] and strengths[1] > strengths[2]
    rows, per_query = _grid(
        [("top", "", "", d, "ok", 0.9) for d in ("d1", "d2")]
        + [("mid", "", "", d, "ok", 0.5) for d in ("d1", "d2")]
        + [("low", "", "", d, "ok", 0.1) for d in ("d1", "d2")]
    )
    table = fair_leaderboard(rows, per_query, METRIC).table
    assert list(table["system"]) == ["top", "mid", "low"]
    assert table["bt_strength"].map(math.isfinite).all()
    assert list(table["bt_rank"]) == [1, 2, 3]


def test_a_missing_cell_does_not_penalise_a_system() -> None:
    # "best" is best on every dataset it ran but never ran d3; a zero there would sink it
    cells = [("best", "", "", d, "ok", 0.8) for d in ("d1", "d2")]
    cells += [("good", "", "", d, "ok", 0.6) for d in ("d1", "d2", "d3")]
    cells += [("fair", "", "", d, "ok", 0.4) for d in ("d1", "d2", "d3")]
    queries = {
        (s, d): [v + 0.05, v - 0.05, v + 0.01, v]
        for s, v in (("best", 0.8), ("good", 0.6), ("fair", 0.4))
        for d in ("d1", "d2", "d3")
    }
    rows, per_query = _grid(cells, queries)
    board = fair_leaderboard(rows, per_query, METRIC)
    table = board.table.set_index("system")
    assert board.table["system"].iloc[0] == "best"
    assert table.loc["best", "bt_rank"] == 1
    assert table.loc["best", "mean_rank"] == 1.0
    assert board.shared_datasets == ("d1", "d2")
    assert table["mean_shared"].idxmax() == "best"
    assert table.loc["best", "missing"] == "d3"


def test_disconnected_systems_and_systems_without_results_are_named() -> None:
    rows, per_query = _grid(
        [
            ("a", "", "", "d1", "ok", 0.5),
            ("b", "", "", "d1", "ok", 0.4),
            ("c", "", "", "d2", "ok", 0.3),
            ("e", "", "", "d2", "ok", 0.2),
            ("f", "", "", "d2", "failed", math.nan),
        ]
    )
    board = fair_leaderboard(rows, per_query, METRIC)
    assert "{a, b}; {c, e}" in board.note
    table = board.table.set_index("system")
    assert math.isnan(table.loc["f", "bt_strength"]) and pd.isna(table.loc["f", "bt_rank"])
    assert board.table["system"].iloc[-1] == "f"
    assert "no strength: f." in board.note


def test_markdown_shows_missing_cells_as_dashes_never_zero() -> None:
    rows, per_query = _hand_grid()
    text = to_markdown(fair_leaderboard(rows, per_query, METRIC))
    matrix_rows = {line.split(" | ")[0][2:]: line for line in text.splitlines()[:7]}
    assert matrix_rows[B] == f"| {B} | 0.4000 | — failed | 0.3500 |"
    assert matrix_rows[C] == f"| {C} | 0.3000 | 0.7000 | — |"
    assert "0.0000" not in text
    assert "mean over shared (d1)" in text
    assert "- bt_strength: Bradley-Terry" in text
