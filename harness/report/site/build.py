"""Render the site: pages from templates (Jinja2, autoescaped), assets copied beside them."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError, StoreError, os_problem
from harness.report.site import pages
from harness.report.site.data import load

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Site:
    folder: Path
    pages: list[Path]
    bytes: int
    """The whole site folder's size."""
    seconds: float


def build_site(
    folders: list[Path],
    out: Path,
    title: str = "harness results",
    baseline: Path | None = None,
) -> Site:
    """Build the site for `folders` (results folders, or folders of them) into `out`."""
    started = time.perf_counter()
    data = load(folders, baseline)
    built = [
        pages.overview(data),
        *(pages.dataset_page(data, d) for d in data.datasets),
        pages.significance_page(data),
        pages.reproduction_page(data),
        pages.provenance_page(data),
    ]
    studies = pages.studies_page(data)
    built += [studies] if studies is not None else []
    slices = pages.slices_page(data)
    built += [slices] if slices is not None else []
    nav = [{"href": p.file, "text": _nav_text(p)} for p in built]
    site = {
        "title": title,
        "nav": nav,
        "version": _version(),
        "sources": len(data.sources),
        "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    environment = _environment()
    written = []
    try:
        (out / "assets").mkdir(parents=True, exist_ok=True)
        for asset in ("site.css", "site.js"):
            shutil.copyfile(HERE / "assets" / asset, out / "assets" / asset)
        shutil.copyfile(_plotly_js(), out / "assets" / "plotly.min.js")
        for page in built:
            html = environment.get_template(page.template).render(site=site, page=page)
            (out / page.file).write_text(html, encoding="utf-8")
            written.append(out / page.file)
    except OSError as err:
        raise StoreError(f"{out}: cannot write the site: {os_problem(err)}") from None
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return Site(out, written, size, time.perf_counter() - started)


def _nav_text(page: pages.Page) -> str:
    return page.title.removeprefix("Dataset: ")


def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _plotly_js() -> Path:
    """plotly.min.js from the plotly package (shipped once per site, never fetched)."""
    try:
        found = resources.files("plotly") / "package_data" / "plotly.min.js"
    except ModuleNotFoundError:
        raise HarnessError(
            "harness report needs plotly for its plots: pip install 'harness[report]'"
        ) from None
    return Path(str(found))


def _version() -> str:
    from harness import __version__

    return __version__
