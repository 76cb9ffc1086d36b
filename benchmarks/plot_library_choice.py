"""Which library draws the report site's interactive plots: plotly, bokeh or altair (Vega-Lite).

Each draws the same page, a quality-against-QPS scatter of N cells with the full configuration
on hover, as one self-contained offline HTML file (every script inlined). Printed per library:
the time to import it and build the page, the page's size, and whether the page references
anything outside itself (a `src=` or `href=` to http(s), which a file:// page must not need).

    python benchmarks/plot_library_choice.py [--cells 272] [--repeat 5]

The site ships one copy of the chosen library's script beside its pages, so the size that
matters for many plots is the script once plus each plot's data. A src/href to http(s) is not
necessarily a request: plotly's are attribution links of map layers, bokeh's a MathJax loader
used only for LaTeX labels; the site's browser test checks that no request leaves the page.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = {
    "plotly": """
import plotly.graph_objects as go
figure = go.Figure(go.Scatter(x=x, y=y, mode="markers", text=hover, hoverinfo="text"))
figure.update_layout(xaxis_type="log", xaxis_title="QPS", yaxis_title="nDCG@10")
figure.write_html(out, include_plotlyjs=True, full_html=True)
""",
    "bokeh": """
from bokeh.embed import file_html
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure
from bokeh.resources import INLINE
source = ColumnDataSource({"x": x, "y": y, "config": hover})
plot = figure(x_axis_type="log", x_axis_label="QPS", y_axis_label="nDCG@10")
plot.scatter("x", "y", source=source)
plot.add_tools(HoverTool(tooltips=[("", "@config")]))
open(out, "w").write(file_html(plot, INLINE, "plot"))
""",
    "altair": """
import altair as alt
import pandas as pd
frame = pd.DataFrame({"qps": x, "nDCG@10": y, "config": hover})
chart = alt.Chart(frame).mark_point().encode(
    x=alt.X("qps", scale=alt.Scale(type="log")), y="nDCG@10", tooltip=["config"]
)
chart.save(out, inline=True)
""",
}

DATA = """
import random, sys
rng = random.Random(0)
n, pages = int(sys.argv[2]), int(sys.argv[3])
x = [10 ** rng.uniform(2, 5) for _ in range(n)]
y = [rng.uniform(0.3, 0.7) for _ in range(n)]
hover = [f"minilm-{i % 7} · hnsw-{i % 13} efSearch={i} M=16 threads=1" for i in range(n)]
for page in range(pages):
    out = sys.argv[1].replace(".html", f"-{page}.html")
"""

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']https?://""", re.IGNORECASE)


def measure(library: str, cells: int, pages: int, folder: Path) -> tuple[float, int, bool]:
    """Seconds to import and build `pages` pages in a fresh process, one page's bytes, and
    whether it references anything outside itself."""
    page = folder / f"{library}.html"
    body = "".join("    " + line + "\n" for line in BUILD[library].strip().splitlines())
    script = DATA + body
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(page), str(cells), str(pages)], check=True)
    seconds = time.perf_counter() - started
    text = (folder / f"{library}-0.html").read_text(encoding="utf-8")
    return seconds, len(text.encode()), bool(EXTERNAL.search(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=272)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"scatter pages of {args.cells} cells, each self-contained HTML, built in a fresh "
        f"process; median of {args.repeat}"
    )
    print(f"{'library':8} {'1 page s':>9} {'10 pages s':>11} {'page kB':>8}  src/href to http(s)")
    with tempfile.TemporaryDirectory() as tmp:
        for library in BUILD:
            one = [measure(library, args.cells, 1, Path(tmp)) for _ in range(args.repeat)]
            ten = [measure(library, args.cells, 10, Path(tmp)) for _ in range(args.repeat)]
            size, outside = one[-1][1], one[-1][2]
            print(
                f"{library:8} {statistics.median(r[0] for r in one):9.2f} "
                f"{statistics.median(r[0] for r in ten):11.2f} {size / 1000:8.0f}  "
                f"{'yes (see note)' if outside else 'none'}"
            )


if __name__ == "__main__":
    main()
