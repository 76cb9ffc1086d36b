"""Reports built from saved results alone: leaderboards and plots."""

from harness.figures import markdown_table as to_markdown
from harness.report.insertion import insertion_spread
from harness.report.leaderboard import leaderboard
from harness.report.plots import quality_vs_cost, quality_vs_dimension, quality_vs_qps
from harness.report.rank_shift import rank_shift

__all__ = [
    "insertion_spread",
    "leaderboard",
    "quality_vs_cost",
    "quality_vs_dimension",
    "quality_vs_qps",
    "rank_shift",
    "to_markdown",
]
