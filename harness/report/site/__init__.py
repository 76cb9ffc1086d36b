"""A static report site built from results folders alone: no model, no index, no torch.

    <site>/index.html                 overview: fair leaderboard across datasets, the matrix
    <site>/dataset-<name>.html        every cell of a dataset, sortable and filterable; plots
    <site>/significance.html          per dataset, the systems indistinguishable from the best
    <site>/reproduction.html          expected values graded; with a baseline, the gate
    <site>/provenance.html            each run's manifest and the command that reproduces it
    <site>/studies.html               rank shift and insertion-order spread, when present
    <site>/assets/                    site.css, site.js and plotly.min.js, shipped once

Every page works from file:// with no network: scripts and styles are files beside it.
"""

from harness.report.site.build import Site, build_site

__all__ = ["Site", "build_site"]
