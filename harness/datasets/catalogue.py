"""The collections harness knows by name, where each is found locally, and fetching them.

Three sources: BEIR's public zips (official URLs and md5 sums, as BEIR's README and
ir_datasets' metadata give them, which agree), MTEB's retrieval and re-ranking tasks (through
the `mteb` package) and ir_datasets' ids (through `ir_datasets`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import cache
from harness.datasets.irds import file_md5
from harness.errors import DatasetError, HarnessError

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
BEIR_LICENCE = "cc-by-sa-4.0 (BEIR hub card tag; check the source dataset)"
BEIR_PUBLIC = {  # name: (md5 of the zip, bytes as ir_datasets records them, licence)
    "msmarco": ("444067daf65d982533ea17ebd59501e4", 1082258632, BEIR_LICENCE),
    "trec-covid": ("ce62140cb23feb9becf6270d0d1fe6d1", 73876720, BEIR_LICENCE),
    "nfcorpus": (
        "a89dba18a62ef92f7d323ec890a0d38d",
        2448432,
        "none stated by its authors (StatNLP Heidelberg): research use",
    ),
    "nq": ("d4d3d2e48787a744b6f6e691ff534307", 498307926, BEIR_LICENCE),
    "hotpotqa": ("f412724f78b0d91183a0e86805e16114", 654025350, BEIR_LICENCE),
    "fiqa": ("17918ed23cd04fb15047f73e6c3bd9d9", 17948027, BEIR_LICENCE),
    "arguana": ("8ad3e3c2a5867cdced806d6503f29b99", 3773617, BEIR_LICENCE),
    "webis-touche2020": ("46f650ba5a527fc69e0a6521c5a23563", 227132363, BEIR_LICENCE),
    "cqadupstack": ("4e41456d7df8ee7760a7f866133bda78", 5343728040, BEIR_LICENCE),
    "quora": ("18fb154900ba42a600f84b839c173167", 15853968, BEIR_LICENCE),
    "dbpedia-entity": ("c2a39eb420a3164af735795df012ac2c", 639285131, BEIR_LICENCE),
    "scidocs": ("38121350fc3a4d2f48850f6aff52e4a9", 142471588, BEIR_LICENCE),
    "fever": ("5a818580227bfb4b35bb6fa46d9b6c03", 1236988269, BEIR_LICENCE),
    "climate-fever": ("8b66f0a9126c521bae2bde127b4dc99d", 1228666652, BEIR_LICENCE),
    "scifact": (
        "5f7d1de60b170fc8027bb7898e2efca1",
        2816079,
        "claims CC BY 4.0, abstracts ODC-By 1.0 (allenai/scifact; CC BY-NC 2.0 until 2023)",
    ),
}
SOURCES = ("beir", "mteb", "ir_datasets")


class FetchError(HarnessError):
    """A known collection could not be downloaded (no network, moved, damaged)."""


@dataclass(frozen=True)
class Entry:
    name: str
    """What a suite (and `harness fetch`) names it by."""
    source: str
    url: str = ""
    md5: str = ""
    bytes: int | None = None
    licence: str = ""
    local: str = ""
    """Where it is on this machine ('' if not)."""


def beir_entries() -> Iterator[Entry]:
    for name, (md5, size, licence) in BEIR_PUBLIC.items():
        yield Entry(
            name, "beir", BEIR_URL.format(name=name), md5, size, licence, str(_beir_local(name))
        )


def mteb_entries() -> Iterator[Entry]:
    import mteb

    from harness.datasets.mteb_task import TASK_TYPES

    types: Any = list(TASK_TYPES)  # mteb types the names as a Literal
    for task in sorted(mteb.get_tasks(task_types=types), key=lambda t: t.metadata.name):
        meta = task.metadata
        repo = meta.dataset["path"]
        yield Entry(
            meta.name,
            "mteb",
            f"https://huggingface.co/datasets/{repo}@{meta.dataset['revision'][:12]}",
            licence=str(meta.license or ""),
            local=str(_hf_cached(repo) or ""),
        )


def ir_datasets_entries() -> Iterator[Entry]:
    import ir_datasets

    from harness.datasets.irds import source_files

    home = irds_home()
    for dataset_id in sorted(ir_datasets.registry):
        files = source_files(dataset_id, home)
        present = files and all(Path(f["path"]).is_file() for f in files)
        url = files[0]["url"] if len(files) == 1 else ""
        md5 = files[0]["expected_md5"] if len(files) == 1 else ""
        yield Entry(dataset_id, "ir_datasets", url, md5, local=files[0]["path"] if present else "")


def entries(source: str) -> Iterator[Entry]:
    return {"beir": beir_entries, "mteb": mteb_entries, "ir_datasets": ir_datasets_entries}[
        source
    ]()


def irds_home() -> Path:
    return Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets"))


def _beir_local(name: str) -> Path | str:
    """The BEIR folder of `name` under $HARNESS_DATA_DIR or where `harness fetch` (and a suite's
    `url:`) unpacks it."""
    candidates = [cache.root() / "datasets" / "downloads" / name]
    if "HARNESS_DATA_DIR" in os.environ:
        candidates.insert(0, Path(os.environ["HARNESS_DATA_DIR"]) / name)
    for folder in candidates:
        if (folder / "corpus.jsonl").is_file() or (folder / "corpus.jsonl.gz").is_file():
            return folder
    return ""


def _hf_cached(repo: str) -> Path | None:
    root = Path(
        os.environ.get("HF_DATASETS_CACHE", Path.home() / ".cache" / "huggingface" / "datasets")
    )
    folder = root / repo.replace("/", "___")
    return folder if folder.is_dir() else None


def fetch(name: str) -> Path:
    """Download and verify a BEIR zip (unpacked where a suite's `url:` finds it) or an
    ir_datasets id's source files (where ir_datasets reads them); an MTEB task is read once
    through the hub into the Hugging Face datasets cache. Returns where it now is."""
    if name in BEIR_PUBLIC:
        md5 = BEIR_PUBLIC[name][0]
        target = cache.root() / "datasets" / "downloads"
        archive = download(BEIR_URL.format(name=name), target / f"{name}.zip", md5)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
        return target / name
    if "/" in name:
        from harness.datasets.irds import source_files

        files = source_files(name, irds_home())
        if not files:
            raise DatasetError(
                f"'{name}': unknown; name a BEIR set, an ir_datasets id with source files, or an "
                "MTEB task (`harness datasets` lists them)"
            )
        for entry in files:
            download(entry["url"], Path(entry["path"]), entry["expected_md5"])
        return Path(files[0]["path"])
    from harness.datasets.mteb_task import MtebLoader, MtebParams

    offline = [v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if _truthy(os.environ.get(v))]
    if offline:
        raise FetchError(
            f"fetch {name}: {'=1 and '.join(offline)}=1 keep the Hugging Face hub offline; run "
            f"`{'=0 '.join(offline)}=0 harness fetch {name}` where the network allows"
        )
    loader = MtebLoader(MtebParams(task=name))  # an unknown name: DatasetError
    try:
        loader.load(name)
    except DatasetError as err:
        raise FetchError(str(err)) from None
    repo = loader.task.metadata.dataset["path"]
    return _hf_cached(repo) or Path(repo)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def download(url: str, path: Path, md5: str) -> Path:
    """`url` into `path`, verified against `md5`; a file already there with that md5 is kept."""
    if path.is_file() and file_md5(path) == md5:
        return path
    import requests

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with requests.get(url, stream=True, timeout=30) as response:
            response.raise_for_status()
            with partial.open("wb") as handle:
                for block in response.iter_content(1 << 20):
                    handle.write(block)
    except requests.RequestException as err:
        partial.unlink(missing_ok=True)
        raise FetchError(
            f"{url}: cannot download ({type(err).__name__}: the network is unreachable or the "
            f"file has moved); fetch it where the network allows and place it at {path} "
            f"(md5 {md5})"
        ) from None
    except OSError:  # a full disk (requests' own errors are OSErrors too: caught above)
        partial.unlink(missing_ok=True)
        raise
    got = file_md5(partial)
    if got != md5:
        partial.unlink()
        raise FetchError(
            f"{url}: downloaded file has md5 {got}, expected {md5}; the file has changed "
            "upstream or the download was damaged: try again"
        )
    partial.rename(path)
    return path
