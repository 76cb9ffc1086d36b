"""Reports from saved results alone: frontier, rank shift, leaderboard formatting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.report import leaderboard, quality_vs_cost, rank_shift, to_markdown
from harness.report.plots import pareto_frontier


def _runs(rows: list[tuple[str, str, str, str, float, float, float]]) -> pd.DataFrame:
    columns = ["dataset", "embedder", "index", "index_kind", "nDCG@10", "qps", "bytes_per_vector"]
    frame = pd.DataFrame([r[:7] for r in rows], columns=columns)
    frame["search_params"] = [
        json.dumps({"ef": 10}) if k != "faiss-flat" else "" for k in frame["index_kind"]
    ]
    frame["status"] = "ok"
    return frame


def test_pareto_frontier_keeps_only_undominated_points() -> None:
    points = pd.DataFrame({"m": [0.50, 0.60, 0.55, 0.40, 0.61], "qps": [100, 50, 80, 200, 10]})
    frontier = pareto_frontier(points, "m", "qps", more_is_better=True)
    # 200 qps (0.40), 100 (0.50), 80 (0.55), 50 (0.60), 10 (0.61): each buys quality with speed
    assert frontier["qps"].tolist() == [200, 100, 80, 50, 10]
    points.loc[2, "m"] = 0.45  # now dominated by 100 qps at 0.50
    assert 80 not in pareto_frontier(points, "m", "qps", more_is_better=True)["qps"].tolist()
    bytes_ = pd.DataFrame({"m": [0.5, 0.6, 0.55], "b": [32, 1536, 1536]})
    assert pareto_frontier(bytes_, "m", "b", more_is_better=False)["b"].tolist() == [32, 1536]


def test_rank_shift_counts_places_moved() -> None:
    runs = _runs(
        [
            ("d", "a", "exact", "faiss-flat", 0.60, 1, 1),
            ("d", "b", "exact", "faiss-flat", 0.55, 1, 1),
            ("d", "c", "exact", "faiss-flat", 0.50, 1, 1),
            ("d", "a", "hnsw", "faiss-hnsw", 0.40, 1, 1),  # a collapses under this ANN setting
            ("d", "b", "hnsw", "faiss-hnsw", 0.54, 1, 1),
            ("d", "c", "hnsw", "faiss-hnsw", 0.50, 1, 1),
            ("d", "a", "ivf", "faiss-ivf", 0.60, 1, 1),  # b never ran ivf: no fair ranking for it
        ]
    )
    shifts = rank_shift(runs, "nDCG@10").set_index("embedder")
    assert set(shifts["config"]) == {"hnsw ef=10"}
    assert shifts["exact rank"].to_dict() == {"a": 1, "b": 2, "c": 3}
    assert shifts["shift"].to_dict() == {"a": 2, "b": -1, "c": -1}


def test_plots_and_markdown_from_a_runs_table(tmp_path: Path) -> None:
    runs = _runs(
        [
            ("d", "a", "exact", "faiss-flat", 0.60, 1000, 1536),
            ("d", "a", "sq8", "faiss-sq", 0.59, 3000, 384),
        ]
    )
    paths = [
        p
        for cost in ("qps", "bytes_per_vector")
        for p in quality_vs_cost(runs, "nDCG@10", cost, tmp_path)
    ]
    assert [p.name for p in paths] == ["d-ndcg_10-vs-qps.png", "d-ndcg_10-vs-bytes.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    board = leaderboard(runs.assign(search_params="", status="ok"), ["nDCG@10"])
    text = to_markdown(board)
    assert text.splitlines()[2].startswith("| d | a | exact | - | 0.6000 |")


def test_values_are_formatted_by_what_they_measure() -> None:
    from harness.report.leaderboard import format_value

    assert format_value(70.8981, "docs/s") == "70.9"
    assert format_value(833536.2, "QPS") == "833,536"
    assert format_value(0.645082, "nDCG@10") == "0.6451"
    assert format_value(0.1134, "p95 ms") == "0.11"
    assert format_value(float("nan"), "QPS") == "—"
