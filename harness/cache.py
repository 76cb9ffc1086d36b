"""Where harness keeps what it downloads or derives; the only code that knows the cache layout.

    <root>/embeddings/<key digest>/vectors.npy   float32 (n, dim), memory-mapped on read
                                  /entry.json    the key, shape, sha256 of vectors.npy, created
                                  /last_used     touched on every hit (prune by age reads it)
    <root>/datasets/...                          unzipped or downloaded collections
    <root>/fingerprints.json                     model-folder digests, by path, size and mtime

An entry is written to a temporary folder and renamed into place, and checked against its
sha256 when read: a partial or corrupt entry is removed and recomputed, never used. The cache
is a convenience: when it cannot be written (read-only, disk full) the vectors are used
uncached and a warning says why; a read-only cache is still read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


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


def folder_digest(folder: Path) -> str:
    """sha256 over every file in a model folder (names and contents); memoised by size+mtime."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts)
    stamp = [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo_path = root() / "fingerprints.json"
    memo: dict[str, Any] = {}
    if memo_path.is_file():
        try:
            memo = json.loads(memo_path.read_text())
        except ValueError:
            memo = {}
    known = memo.get(str(folder.resolve()))
    if known is not None and known["stamp"] == stamp:
        return str(known["digest"])
    h = hashlib.sha256()
    for (name, *_), path in zip(stamp, files, strict=True):
        h.update(f"{name}\0{file_digest(path)}\n".encode())
    digest = h.hexdigest()
    memo[str(folder.resolve())] = {"stamp": stamp, "digest": digest}
    with contextlib.suppress(OSError):  # read-only or full: the digest is computed again
        _write_json_atomic(memo_path, memo)
    return digest


def key_digest(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(key), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Cached:
    vectors: np.ndarray
    """Read-only memory map of float32 (n, dim)."""
    encode_seconds: float
    """How long the encode that produced them took."""
    fresh: bool = False
    """Encoded by this run (elsewhere: a cluster's encoders), not found from an earlier one."""


class VectorStore(Protocol):
    """Where the runner finds a side's vectors before encoding them, and keeps them after."""

    def get(self, key: Mapping[str, Any]) -> Cached | None: ...

    def put(self, key: Mapping[str, Any], vectors: np.ndarray, encode_seconds: float) -> Cached: ...


class GivenVectors:
    """Vectors a run's driver encoded or read from its cache, handed to a unit running in
    another process; `put` keeps nothing (only the driver writes the cache)."""

    def __init__(self, entries: Mapping[str, Cached]) -> None:
        self.entries = dict(entries)
        """By key_digest of the cache key."""

    def get(self, key: Mapping[str, Any]) -> Cached | None:
        return self.entries.get(key_digest(key))

    def put(self, key: Mapping[str, Any], vectors: np.ndarray, encode_seconds: float) -> Cached:
        return Cached(vectors, encode_seconds, fresh=True)


AGREEING_COSINE = 0.99999
"""Two encodes of a text agree when their vectors' cosine is at least this: the bar for an
fp32 runtime (ONNX Runtime, OpenVINO) against PyTorch."""
VECTORS = "vectors.npy"


@dataclass(frozen=True)
class Agreement:
    rows: int
    identical: bool
    """Byte for byte."""
    mean_cosine: float
    min_cosine: float
    share_at_least: float
    """Of rows with cosine >= AGREEING_COSINE."""


@dataclass(frozen=True)
class Entry:
    digest: str
    key: dict[str, Any]
    shape: tuple[int, ...]
    nbytes: int
    created: float
    last_used: float


class EmbeddingCache:
    """Content-addressed vectors: `get(key)` returns a read-only memory map or None."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or root() / "embeddings"
        self.warnings: list[str] = []
        """Why vectors went uncached, one line each, for the caller to show."""

    def get(self, key: Mapping[str, Any]) -> Cached | None:
        entry = self.folder / key_digest(key)
        if not entry.is_dir():
            if entry.exists() or entry.is_symlink():  # a stray file where the entry belongs
                self._discard(entry)
            return None
        cached = self._verified(entry, key)
        if cached is None:  # partial or corrupt: drop it so it is recomputed
            self._discard(entry)
            return None
        with contextlib.suppress(OSError):  # a read-only cache is still read
            (entry / "last_used").touch()
        return cached

    def put(self, key: Mapping[str, Any], vectors: np.ndarray, encode_seconds: float) -> Cached:
        """Store `vectors` and return them memory-mapped; when the cache cannot be written,
        return them in memory and add a warning."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            stored = self._put(key, vectors, encode_seconds)
        except OSError as err:
            from harness.errors import os_problem

            where = self.folder if self.folder.is_dir() else None
            self.warnings.append(
                f"{self.folder}: cannot cache {key.get('model', 'vectors')} "
                f"({key.get('side', '?')}s): {os_problem(err, where)}; used them uncached "
                "(set HARNESS_CACHE_DIR to cache elsewhere, or pass --no-cache)"
            )
            return Cached(vectors, encode_seconds)
        return stored

    def _put(self, key: Mapping[str, Any], vectors: np.ndarray, encode_seconds: float) -> Cached:
        entry = self.folder / key_digest(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f"{PARTIAL}{os.getpid()}-"))
        try:
            np.save(tmp / "vectors.npy", vectors)
            meta = {
                "key": dict(key),
                "shape": list(vectors.shape),
                "sha256": file_digest(tmp / "vectors.npy"),
                "created": time.time(),
                "encode_seconds": encode_seconds,
            }
            (tmp / "entry.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
            (tmp / "last_used").touch()
            try:
                os.rename(tmp, entry)
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not entry.is_dir():
                    raise
                shutil.rmtree(tmp)  # another writer finished first: keep its copy
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        stored = self.get(key)
        if stored is None:
            raise OSError(f"{entry}: cache entry unreadable right after writing; is the disk full?")
        return stored

    def entries(self) -> list[Entry]:
        out = []
        for entry in sorted(self.folder.glob("[0-9a-f]*")) if self.folder.is_dir() else []:
            try:
                meta = json.loads((entry / "entry.json").read_text())
                size = sum(p.stat().st_size for p in entry.iterdir())
                last_used = (entry / "last_used").stat().st_mtime
            except (OSError, ValueError):
                continue
            out.append(
                Entry(
                    entry.name, meta["key"], tuple(meta["shape"]), size, meta["created"], last_used
                )
            )
        return out

    def find(self, prefix: str) -> Entry:
        """The one entry whose digest starts with `prefix` (as `harness cache ls` prints it)."""
        found = [e for e in self.entries() if e.digest.startswith(prefix)] if prefix else []
        if len(found) != 1:
            from harness.errors import HarnessError

            what = "no entry" if not found else f"{len(found)} entries"
            raise HarnessError(
                f"{self.folder}: {what} with a digest starting '{prefix}'; "
                "`harness cache ls` lists them"
            )
        return found[0]

    def agreement(self, first: Entry, second: Entry) -> Agreement:
        """How far two entries' vectors of the same texts agree, row by row (cosine)."""
        from harness.errors import HarnessError

        if first.key.get("texts") != second.key.get("texts") or first.shape[0] != second.shape[0]:
            raise HarnessError(
                f"cache entries {first.digest[:12]} and {second.digest[:12]} hold vectors of "
                "different texts; compare two encodes of the same side of one dataset"
            )
        a, b = (
            np.load(self.folder / e.digest / "vectors.npy", mmap_mode="r") for e in (first, second)
        )
        if a.shape != b.shape:
            raise HarnessError(
                f"cache entries {first.digest[:12]} and {second.digest[:12]} differ in "
                f"dimensions ({a.shape[1]} and {b.shape[1]})"
            )
        cosines = np.empty(len(a), dtype=np.float64)
        for start in range(0, len(a), 65536):  # in blocks: a million rows need no copy
            x = np.asarray(a[start : start + 65536], dtype=np.float64)
            y = np.asarray(b[start : start + 65536], dtype=np.float64)
            norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
            cosines[start : start + len(x)] = (x * y).sum(1) / np.where(norms > 0, norms, 1)
        return Agreement(
            rows=len(cosines),
            identical=bool(np.array_equal(a, b)),
            mean_cosine=float(cosines.mean()) if len(cosines) else math.nan,
            min_cosine=float(cosines.min()) if len(cosines) else math.nan,
            share_at_least=float((cosines >= AGREEING_COSINE).mean()) if len(cosines) else math.nan,
        )

    def remove(self, digest: str) -> None:
        shutil.rmtree(self.folder / digest, ignore_errors=True)

    def prune(
        self, *, older_than_s: float | None = None, max_bytes: int | None = None
    ) -> list[Entry]:
        """Drop entries unused for `older_than_s`, then least recently used above `max_bytes`."""
        removed = []
        entries = sorted(self.entries(), key=lambda e: e.last_used)
        if older_than_s is not None:
            cutoff = time.time() - older_than_s
            removed += [e for e in entries if e.last_used < cutoff]
        kept = [e for e in entries if e not in removed]
        if max_bytes is not None:
            total = sum(e.nbytes for e in kept)
            for e in kept:
                if total <= max_bytes:
                    break
                removed.append(e)
                total -= e.nbytes
        for e in removed:
            self.remove(e.digest)
        kept_anyway = [e for e in removed if (self.folder / e.digest).exists()]
        if kept_anyway:
            self.warnings.append(
                f"{self.folder}: {len(kept_anyway)} entries could not be removed "
                "(read-only or in use); they are still there"
            )
        removed = [e for e in removed if e not in kept_anyway]
        for leftover in self.folder.glob(f"{PARTIAL}*") if self.folder.is_dir() else []:
            if not _writer_alive(leftover):  # a live run's entry in the making stays
                shutil.rmtree(leftover, ignore_errors=True)
        return removed

    @staticmethod
    def _discard(entry: Path) -> None:
        with contextlib.suppress(OSError):  # read-only: recomputed (and not cached) instead
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    @staticmethod
    def _verified(entry: Path, key: Mapping[str, Any]) -> Cached | None:
        try:
            meta = json.loads((entry / "entry.json").read_text())
            if meta["key"] != dict(key) or file_digest(entry / "vectors.npy") != meta["sha256"]:
                return None
            vectors: np.ndarray = np.load(entry / "vectors.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError):
            return None
        if list(vectors.shape) != meta["shape"] or vectors.dtype != np.float32:
            return None
        return Cached(vectors, float(meta["encode_seconds"]))


PARTIAL = ".partial-"
"""An entry being written: `.partial-<pid>-<random>`."""


def _writer_alive(partial: Path) -> bool:
    """Whether the process that is writing `partial` still runs (pre-pid names: no)."""
    pid = partial.name.removeprefix(PARTIAL).split("-")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
