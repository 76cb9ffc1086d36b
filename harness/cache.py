"""Where harness keeps what it downloads or derives; the only code that knows the cache layout."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def root() -> Path:
    """$HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness, else ~/.cache/harness."""
    if "HARNESS_CACHE_DIR" in os.environ:
        return Path(os.environ["HARNESS_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "harness"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
