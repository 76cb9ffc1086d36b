"""Reports built from saved results alone: leaderboards and plots."""

from harness.report.leaderboard import leaderboard, to_markdown
from harness.report.plots import quality_vs_qps

__all__ = ["leaderboard", "quality_vs_qps", "to_markdown"]
