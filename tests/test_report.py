"""Reports from saved results alone: frontier, rank shift, leaderboard formatting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.report import leaderboard, quality_vs_cost, rank_shift, to_markdown
from harness.report.plots import AXES, pareto_frontier


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
        p for axis in ("qps", "bytes") for p in quality_vs_cost(runs, "nDCG@10", axis, tmp_path)
    ]
    assert [p.name for p in paths] == ["d-ndcg_10-vs-qps.png", "d-ndcg_10-vs-bytes.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    board = leaderboard(runs.assign(search_params="", status="ok"), ["nDCG@10"])
    text = to_markdown(board.shown)
    assert text.splitlines()[2].startswith("| d | a | exact | - | 0.6000 |")


def test_values_are_formatted_by_what_they_measure() -> None:
    from harness.figures import format_value, format_with_spread

    assert format_value("docs_per_s", 70.8981) == "70.9"
    assert format_value("qps", 833536.2) == "833,536"
    assert format_value("nDCG@10", 0.645082) == "0.6451"
    assert format_value("latency_p95_ms", 0.1134) == "0.113"
    assert format_value("latency_p95_ms", 12.345) == "12.35"
    assert format_value("index_rss_bytes", 12_345_678.0) == "12.3 MB"
    assert format_value("qps", float("nan")) == "—"
    assert format_value("exact rank", 3) == "3"  # counts and ranks print as they are
    assert format_with_spread("qps", 20_000.0, 19_000.0, 20_600.0) == "20,000 ±5.0%"
    assert format_with_spread("qps", 20_000.0, float("nan"), float("nan")) == "20,000"


def test_a_point_is_on_the_frontier_unless_beaten_beyond_the_noise() -> None:
    points = pd.DataFrame(
        {
            "m": [0.50, 0.50, 0.49, 0.60],
            "qps": [1000.0, 900.0, 2000.0, 100.0],
            "low": [950.0, 850.0, 1900.0, 90.0],
            "high": [1050.0, 960.0, 2100.0, 110.0],
        }
    )
    noisy = pareto_frontier(points, "m", "qps", True, "low", "high")["qps"].tolist()
    # 900 and 1000 overlap at equal quality: neither beats the other beyond the noise
    assert noisy == [2000.0, 1000.0, 900.0, 100.0]
    plain = pareto_frontier(points, "m", "qps", True)["qps"].tolist()
    assert plain == [2000.0, 1000.0, 100.0]  # without intervals 1000 beats 900


def test_the_leaderboard_shows_end_to_end_figures_when_query_sides_differ() -> None:
    rows = pd.DataFrame(
        {
            "dataset": ["d", "d"],
            "embedder": ["minilm", "bm25"],
            "index": ["exact", ""],
            "index_kind": ["faiss-flat", ""],
            "embedder_kind": ["sentence-transformers", "bm25"],
            "query_encoder": ["sentence-transformers:minilm", "bm25:bm25"],
            "search_params": ["", ""],
            "status": ["ok", "ok"],
            "nDCG@10": [0.6, 0.5],
            "qps": [20_000.0, 9_000.0],
            "e2e_qps": [150.0, 8_000.0],
            "e2e_qps_low": [140.0, 7_880.0],
            "e2e_qps_high": [155.0, 8_100.0],
        }
    )
    board = leaderboard(rows, ["nDCG@10"])
    assert board.stage == "e2e" and "QPS (e2e)" in board.shown.columns
    assert board.shown["QPS (e2e)"].tolist() == ["150 ±6.7%", "8,000 ±1.5%"]
    assert "end-to-end" in board.notes[0]
    same_side = leaderboard(rows.iloc[:1], ["nDCG@10"])
    assert same_side.stage == "search" and same_side.shown["QPS (search)"].tolist() == ["20,000"]


def test_binary_codes_in_a_float_index_are_noted_and_plotted_at_their_code_size(
    tmp_path: Path,
) -> None:
    runs = _runs([("d", "bits", "exact", "faiss-flat", 0.58, 20_000, 1536)]).assign(
        embedder_kind="quantize", vector_bytes=48.0
    )
    board = leaderboard(runs.assign(search_params=""), ["nDCG@10"])
    assert any("bits (48 B codes) searched through exact (faiss-flat)" in n for n in board.notes)
    from harness.report.plots import axis_points

    points, label = axis_points(runs, "bytes", AXES["bytes"])
    assert points["x"].tolist() == [48.0] and "codes" in label


def test_point_labels_never_overlap_or_leave_the_axes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.report.plots import _annotate_apart

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    xs = [1.0 + i / 1000 for i in range(10)] + [5.0, 9.99]  # ten points in one spot
    ys = [0.5] * 10 + [0.7, 0.9]
    ax.plot(xs, ys, "o")
    notes = [
        (x, y, f"efSearch={16 * (i + 1)}") for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]
    _annotate_apart(fig, ax, notes)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    inside = ax.get_window_extent(renderer)
    assert 3 <= len(boxes) < len(notes)  # crowded labels are left out, not piled up
    for i, box in enumerate(boxes):
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
    plt.close(fig)
