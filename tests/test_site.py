"""The report site: built from saved results only, escaped everywhere, complete pages; and, in
a real headless Chromium, offline, sortable, with plots whose hover shows a configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.conftest import QUICK_TIMING_FORMAT, REPO

runner = CliRunner()
HOSTILE = "<script>alert(1)</script>"

SUITE = (
    """\
name: site
datasets:
  - {{name: quickstart, path: {data}}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}
  - {{name: minilm-64, kind: truncate, of: minilm, dim: 64}}
  - {{name: bm25, kind: bm25}}
indexes:
  - {{name: exact, kind: faiss-flat}}
  - {{name: hnsw, kind: faiss-hnsw, build: {{M: 8, efConstruction: 40}}, search: {{efSearch: [2, 32]}}}}
metrics: [nDCG@10, R@10]
expect:
  - {{dataset: quickstart, embedder: bm25, nDCG@10: 0.7368}}
"""
    + QUICK_TIMING_FORMAT
)


def _rename_dataset(folder: Path, old: str, new: str) -> None:
    """Results as a foreign or older writer could leave them: a dataset name no suite allows."""
    for name in ("runs.parquet", "per_query.parquet"):
        table = pd.read_parquet(folder / name)
        if "dataset" in table:
            table["dataset"] = table["dataset"].replace(old, new)
        table["cell"] = table["cell"].str.replace(old, new, regex=False)
        table["cell_id"] = table["cell_id"] + ".renamed"
        table.to_parquet(folder / name, index=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: MiniLM exact and HNSW, a truncated variant, BM25; with expectations."""
    folder = tmp_path_factory.mktemp("site-results")
    suite = folder / "site.yaml"
    suite.write_text(SUITE.format(data=REPO / "suites/data/quickstart"))
    out = folder / "out"
    result = runner.invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def site(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    hostile = tmp_path_factory.mktemp("hostile") / "out"
    shutil.copytree(results, hostile)
    _rename_dataset(hostile, "quickstart", HOSTILE)
    out = tmp_path_factory.mktemp("site") / "site"
    result = runner.invoke(
        app,
        ["report", str(results), str(hostile), "--out", str(out), "--baseline", str(results)],
    )
    assert result.exit_code == 0, result.output
    return out


def test_the_site_has_every_page_and_asset(site: Path) -> None:
    names = {p.name for p in site.glob("*.html")}
    hostile = {n for n in names if n.startswith("dataset-script")}
    assert len(hostile) == 1  # a safe file name for the hostile dataset
    assert names - hostile == {
        "index.html",
        "dataset-quickstart.html",
        "significance.html",
        "reproduction.html",
        "provenance.html",
        "studies.html",  # two dense embedders under exact and HNSW: the rank shift
        "slices.html",  # every run stores its queries' lengths
    }
    assert sorted(p.name for p in (site / "assets").iterdir()) == [
        "plotly.min.js",
        "site.css",
        "site.js",
    ]
    page = (site / "dataset-quickstart.html").read_text()
    assert page.count('data-plot="') == 4  # quality vs QPS, bytes, dimension; recall vs QPS
    slices = (site / "slices.html").read_text()
    assert "quickstart: nDCG@10 by query length" in slices and "judged document length" in slices
    reproduction = (site / "reproduction.html").read_text()
    assert "Expected values" in reproduction and "against the baseline" in reproduction
    assert 'class="OK"' in reproduction or 'class="within"' in reproduction


def test_every_page_references_only_files_beside_it(site: Path) -> None:
    for page in site.glob("*.html"):
        text = page.read_text()
        for link in [*_attributes(text, "src"), *_attributes(text, "href")]:
            assert "://" not in link and (site / link).exists(), (page.name, link)


def _attributes(text: str, name: str) -> Iterator[str]:
    import re

    yield from re.findall(rf'\b{name}="([^"]*)"', text)


def test_hostile_names_are_escaped_in_pages_and_plots(site: Path) -> None:
    for page in site.glob("*.html"):
        assert HOSTILE not in page.read_text(), page.name
    hostile_pages = [p for p in site.glob("dataset-*.html") if "quickstart" not in p.name]
    (page,) = hostile_pages
    text = page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    specs = [json.loads(s) for s in _plot_specs(text)]
    assert specs and all(trace["type"] == "scatter" for s in specs for trace in s["data"])


def _plot_specs(text: str) -> list[str]:
    import re

    return re.findall(r'<script type="application/json" data-plot="[^"]+">(.*?)</script>', text)


def test_report_imports_no_model_library_or_component(results: Path, tmp_path: Path) -> None:
    script = (
        "import sys\nfrom pathlib import Path\nfrom harness.report.site import build_site\n"
        f"build_site([Path({str(results)!r})], Path({str(tmp_path / 'site')!r}))\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.check_output([sys.executable, "-c", script], text=True).split()
    forbidden = ("torch", "faiss", "sentence_transformers", "harness.embedders", "harness.indexes")
    assert [m for m in loaded if m.startswith(forbidden)] == []


def test_no_results_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "site")])
    assert result.exit_code == 2 and result.output.startswith("error: ")


# --- in a real browser -------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium here: `make setup` installs Debian's chromium package")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


Opened = Callable[[str], tuple[object, list[str], list[str]]]


@pytest.fixture
def open_page(browser: object, site: Path) -> Iterator[Opened]:
    pages: list[object] = []

    def opened(name: str) -> tuple[object, list[str], list[str]]:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: errors.append(f"a dialog opened: {d.message}"))
        page.goto((site / name).as_uri())
        page.wait_for_load_state("load")
        pages.append(page)
        return page, errors, requests

    yield opened
    for page in pages:
        page.close()  # type: ignore[attr-defined]


def test_the_overview_sorts_and_stays_offline(open_page: Opened, results: Path) -> None:
    page, errors, requests = open_page("index.html")
    rows = page.locator("#rankings tbody tr")  # type: ignore[attr-defined]
    systems = pd.read_parquet(results / "runs.parquet")
    expected = len(systems.drop_duplicates(["embedder", "index", "search_params"]))
    assert rows.count() == expected
    first_before = rows.first.inner_text()
    header = page.locator("#rankings thead th", has_text="system")  # type: ignore[attr-defined]
    header.click()
    after_one = [rows.nth(i).inner_text().split("\t")[0] for i in range(rows.count())]
    assert after_one == sorted(after_one, key=str.lower)
    header.click()
    after_two = [rows.nth(i).inner_text().split("\t")[0] for i in range(rows.count())]
    assert after_two == sorted(after_one, key=str.lower, reverse=True)
    assert first_before in {rows.nth(i).inner_text() for i in range(rows.count())}
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests


def test_a_dataset_page_draws_plots_with_hover_and_literal_hostile_names(
    open_page: Opened, site: Path
) -> None:
    page, errors, requests = open_page("dataset-quickstart.html")
    page.wait_for_selector("#quality-vs-qps .main-svg")  # type: ignore[attr-defined]
    point = page.locator("#quality-vs-qps .scatterlayer .point").first  # type: ignore[attr-defined]
    point.hover(force=True)
    hover = page.locator(".hoverlayer .hovertext").first  # type: ignore[attr-defined]
    hover.wait_for(timeout=5000)
    text = hover.text_content()
    assert "index:" in text and "threads:" in text and "efSearch" in page.content()
    filter_box = page.locator("input.filter")  # type: ignore[attr-defined]
    filter_box.fill("bm25")
    visible = page.locator("#cells tbody tr:not([hidden])")  # type: ignore[attr-defined]
    assert visible.count() == 1
    filter_box.fill("")
    assert errors == [] and all(url.startswith("file://") for url in requests)

    hostile = next(p.name for p in site.glob("dataset-*.html") if "quickstart" not in p.name)
    page, errors, _ = open_page(hostile)
    page.wait_for_selector(".main-svg")  # type: ignore[attr-defined]
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert HOSTILE in body  # shown as the literal text it is, never run
    assert errors == []


def test_screenshots_of_the_overview_and_a_dataset_page(
    browser: object, results: Path, tmp_path: Path
) -> None:
    """The README's pictures: HARNESS_SCREENSHOTS=1 make test-fast writes them to docs/."""
    site = tmp_path / "site"
    built = runner.invoke(
        app, ["report", str(results), "--out", str(site), "--title", "quickstart"]
    )
    assert built.exit_code == 0, built.output
    page = browser.new_page(viewport={"width": 1300, "height": 900})  # type: ignore[attr-defined]
    shots = []
    for name, wait in (("index.html", "#rankings"), ("dataset-quickstart.html", ".main-svg")):
        page.goto((site / name).as_uri())
        page.wait_for_selector(wait)
        shot = tmp_path / f"{name}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
        shots.append(shot)
    page.close()
    if os.environ.get("HARNESS_SCREENSHOTS"):
        for shot, name in zip(shots, ("site-overview.png", "site-dataset.png"), strict=True):
            shutil.copyfile(shot, REPO / "docs" / name)


def test_run_with_report_builds_the_site_into_its_folder(tmp_path: Path) -> None:
    suite = tmp_path / "bm25.yaml"
    suite.write_text(
        "name: tiny-report\ndatasets:\n"
        f"  - {{name: quickstart, path: {REPO / 'suites/data/quickstart'}}}\n"
        "embedders:\n  - {name: bm25, kind: bm25}\nmetrics: [nDCG@10]\n"
        + QUICK_TIMING_FORMAT.replace("{{", "{").replace("}}", "}")
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(suite), "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    assert f"site: {out / 'site' / 'index.html'}" in result.output
    assert (out / "site" / "dataset-quickstart.html").is_file()
