"""The ray executor against a real Ray cluster: the same numbers and cached vectors as a local run,
and a worker killed mid-shard costs nothing but time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cache import AGREEING_COSINE
from harness.plan import shard_rows

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Small encode calls (8 texts) cut into shards of 16: the 80 documents make 5 shards over
# 2 encoder actors, the 24 queries 2.
SUITE = f"""
name: ray-check
datasets:
  - {{name: quickstart, loader: beir, path: {REPO}/suites/data/quickstart, split: test}}
embedders:
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2, batch_size: 8}}
  - {{name: bm25, kind: bm25}}
indexes:
  - {{name: exact, kind: faiss-flat}}
  - {{name: hnsw, kind: faiss-hnsw, build: {{M: 16, efConstruction: 100}}, search: {{efSearch: [10, 40]}}}}
pipelines:
  - {{name: hybrid, fuse: [bm25, minilm/exact], candidates: 10}}
  - {{name: rerank, rerank: bm25, by: minilm, candidates: 10}}
metrics: [nDCG@10, R@10, RR@10]
executor: {{shard_size: 16}}
timing: {{warmup_s: 0, latency_samples: 50, latency_min_s: 0, batch_repeats: 2, batch_min_s: 0}}
"""
QUALITY = ["cell_id", "status", "nDCG@10", "R@10", "RR@10", "ann_recall@10", "texts_encoded"]


class _Step:
    encode_step = 4


def test_shards_are_runs_of_the_longest_first_order_cut_at_whole_encode_calls() -> None:
    texts = ["a" * n for n in (3, 9, 1, 9, 5, 7, 2, 8, 6, 4, 0)]
    shards = shard_rows(_Step(), texts, 10)  # 10 rounds down to 2 calls of 4
    assert [len(s) for s in shards] == [8, 3]
    joined = np.concatenate(shards)
    assert sorted(joined) == list(range(len(texts)))
    lengths = [len(texts[i]) for i in joined]
    assert lengths == sorted(lengths, reverse=True)
    assert list(joined[:2]) == [1, 3]  # ties keep their order (a stable sort, as encode's)
    assert [len(s) for s in shard_rows(_Step(), texts, 1)] == [4, 4, 3]  # at least one call
    assert [list(s) for s in shard_rows(object(), texts, 2)] == [list(range(len(texts)))]
    assert shard_rows(_Step(), [], 8) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 2-CPU Ray cluster started as a user would (`ray start --head`); its address."""
    pytest.importorskip("ray")
    port = _free_port()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tmp_path_factory.mktemp("ray")
    started = subprocess.run(
        [BIN / "ray", "start", "--head", "--num-cpus", "2", "--port", str(port),
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp)],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([BIN / "ray", "stop", "--force"], env=env, capture_output=True, timeout=120)


def _harness(args: list[str], cache: Path) -> subprocess.Popen[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HARNESS_CACHE_DIR": str(cache)}
    return subprocess.Popen(
        [BIN / "harness", "run", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _finished(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out
    return out


def _cache_entries(cache: Path) -> dict[str, np.ndarray]:
    """Entry folder (the key's digest) -> its vectors."""
    return {e.name: np.load(e / "vectors.npy") for e in (cache / "embeddings").iterdir()}


def _quality(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = pd.read_parquet(out / "runs.parquet").sort_values("cell_id").reset_index(drop=True)
    per_query = pd.read_parquet(out / "per_query.parquet")
    per_query = per_query.sort_values(["cell_id", "measure", "query_id"]).reset_index(drop=True)
    return runs, per_query[["cell_id", "measure", "query_id", "value"]]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("local")
    (folder / "suite.yaml").write_text(SUITE)
    _finished(_harness([str(folder / "suite.yaml"), "--out", str(folder / "out")], folder / "c"))
    return folder / "out", folder / "c"


def _assert_same_as_local(out: Path, cache: Path, local: tuple[Path, Path]) -> pd.DataFrame:
    runs, per_query = _quality(out)
    local_runs, local_per_query = _quality(local[0])
    pd.testing.assert_frame_equal(runs[QUALITY], local_runs[QUALITY])
    pd.testing.assert_frame_equal(per_query, local_per_query)
    assert (runs["status"] == "ok").all()
    entries, local_entries = _cache_entries(cache), _cache_entries(local[1])
    assert entries.keys() == local_entries.keys() and len(entries) == 2  # documents, queries
    for name, vectors in entries.items():
        # Shards cut along the model's own encode calls give the local encode's bytes on the
        # same thread count; an actor holding 1 CPU runs PyTorch on 1 thread, the local run on
        # 2, and MiniLM's query vectors then differ in the last bits (1.4e-7, measured): the
        # bar is the runtimes' (cache.AGREEING_COSINE) on every row, and equal metrics above.
        cosine = np.sum(vectors * local_entries[name], axis=1)
        assert vectors.shape == local_entries[name].shape
        assert (cosine >= AGREEING_COSINE).all(), cosine.min()
    return runs


@pytest.mark.slow
def test_a_suite_through_ray_gives_the_local_run_s_metrics_and_cache_entries(
    cluster: str, local_run: tuple[Path, Path], tmp_path: Path
) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    args = [str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out")]
    printed = _finished(
        _harness([*args, "--executor", "ray", "--address", cluster], tmp_path / "c")
    )
    assert "on 2 Ray actors" in printed  # encoded by the cluster's actors, not the driver
    runs = _assert_same_as_local(tmp_path / "out", tmp_path / "c", local_run)
    pipelines = runs["embedder"].isin(["hybrid", "rerank"])
    assert runs[~pipelines]["node"].str.contains(r"\(ray [0-9a-f]{12}\)").all()  # which node
    assert runs[pipelines]["node"].str.endswith("(ray driver)").all()  # second stages: driver
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["executor"]["kind"] == "ray"
    again = _finished(_harness([*args, "--address", cluster], tmp_path / "c"))
    assert "6 ok" in again and "Ray actors" not in again  # resumed: every cell found saved


def _busy_worker(title: bytes) -> int | None:
    """The pid of a Ray worker whose title (Ray sets it to what it runs) is `title`."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and command.startswith(title):
            return int(proc.name)
    return None


@pytest.mark.slow
@pytest.mark.parametrize(
    "title",
    [b"ray::_Encoder.encode", b"ray::_cells_task"],
    ids=["encoder-mid-shard", "cells-task-mid-unit"],
)
def test_a_worker_killed_mid_unit_is_retried_and_the_run_gives_the_same_results(
    cluster: str, local_run: tuple[Path, Path], tmp_path: Path, title: bytes
) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    args = [str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out"), "--address", cluster]
    process = _harness(args, tmp_path / "c")
    deadline, killed = time.monotonic() + 300, None
    while killed is None and process.poll() is None and time.monotonic() < deadline:
        killed = _busy_worker(title)
        if killed is None:
            time.sleep(0.02)
    assert killed is not None, f"no worker titled {title!r} was seen"
    os.kill(killed, signal.SIGKILL)
    _finished(process)
    _assert_same_as_local(tmp_path / "out", tmp_path / "c", local_run)


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "suite.yaml").write_text(SUITE)
    port = _free_port()  # nobody listens there
    args = [str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out")]
    run = _harness([*args, "--address", f"127.0.0.1:{port}"], tmp_path)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 2, out
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith(
            f"error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused; start one"
        )
    )
