"""The `ray` executor: a suite's units on a Ray cluster (`harness run SUITE --executor ray`).

The driver (this process) loads each dataset and works out which cells are left (resume), then:
1. encodes every side that is not in the cache on a pool of encoder actors per model, each
   loading the model once (with `gpus_per_encoder` GPUs), in shards cut along the embedder's
   own encoding calls, so the vectors and their cache entry are byte for byte a local
   encode's. The driver assembles them and writes the cache;
2. runs each CellsUnit as a task that holds all of one node's CPUs, one unit per node at a
   time, so timed searches never share a node's cores with other harness work; each record
   names the node that measured it;
3. saves every record itself (the reporter's `cell_done`): workers never write the store.
A worker that dies is retried `retries` times (an encoder actor is restarted and its shard
encoded again); after that the unit's cells are recorded failed and a rerun resumes them.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import sys
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cache import Cached, GivenVectors, VectorStore, key_digest
from harness.datasets import Dataset
from harness.embedders import EMBEDDERS
from harness.embedders.base import Side
from harness.errors import HarnessError
from harness.executors.settings import ExecutorSettings
from harness.measure import timed
from harness.pipelines.run import cell_of, pipeline_records, stage_ids
from harness.plan import (
    CellsUnit,
    EncodedShard,
    EncodeShard,
    assemble,
    cells_units,
    encode_shards,
    unloaded_cells,
    without,
)
from harness.record import CellRecord
from harness.runner import (
    Reporter,
    Session,
    SilentReporter,
    encoder,
    load_dataset,
    run_unit,
    sides,
    vectors_key,
)
from harness.spec import Cell, DatasetSpec, EmbedderSpec, Suite

_PASSED_ON = ("HF_HUB_OFFLINE", "HF_HOME", "HARNESS_CACHE_DIR", "HARNESS_DATA_DIR")
"""Environment the workers need as the driver has it: offline models, where data lives."""


def run_on_ray(
    suite: Suite,
    reporter: Reporter,
    cache: VectorStore | None,
    skip: Collection[str],
    settings: ExecutorSettings,
) -> list[CellRecord]:
    ray, started_here = _connect(settings)
    try:
        # what the driver computes itself (pipelines' second stages) names it as such
        driver = Session(suite, reporter, cache, node=f"{platform.node()} (ray driver)")
        records = []
        for record in _records(ray, driver, skip, settings):
            reporter.cell_done(record)  # saved here, by the driver only
            records.append(record)
        return records
    finally:
        if started_here:
            ray.shutdown()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError("the ray executor needs Ray: pip install 'harness[ray]'") from None
    return ray


def _connect(settings: ExecutorSettings) -> tuple[Any, bool]:
    """Ray, connected to the settings' cluster, and whether it was connected here (and so is
    to be shut down here) rather than by the caller already."""
    address = settings.address or os.environ.get("RAY_ADDRESS")
    if address not in (None, "auto", "local"):
        _check_reachable(address)  # ray.init waits minutes on an address nobody answers at
        if "ray" not in sys.modules:  # Ray reads its authentication mode when imported
            _token_auth_as_ray_start_does()
    ray = _ray()
    if ray.is_initialized():
        return ray, False
    env = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env={"env_vars": env},
        )
    except Exception as err:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise HarnessError(
            f"cannot start or reach {where}: {type(err).__name__}: {_first_line(err)}; "
            "start one with `ray start --head` and pass the address it prints, or leave "
            "--address out to start a local one"
        ) from None
    return ray, True


def _token_auth_as_ray_start_does() -> None:
    """`ray start` turns token authentication on where a token exists (RAY_AUTH_MODE unset),
    but ray.init given an address does not, and fails to connect: do as `ray start` does."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token"
    if os.environ.get("RAY_AUTH_TOKEN") or Path(token_file).is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def _check_reachable(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    problem = "" if port.isdigit() else "not HOST:PORT"
    if not problem:
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as err:
            problem = err.strerror or type(err).__name__
    if problem:
        raise HarnessError(
            f"cannot reach the Ray cluster at {address}: {problem}; start one with "
            "`ray start --head` and pass the address it prints, or leave --address out to "
            "start a local one"
        )


def _records(
    ray: Any, driver: Session, skip: Collection[str], settings: ExecutorSettings
) -> Iterator[CellRecord]:
    suite, reporter = driver.suite, driver.reporter
    units: list[tuple[Dataset, CellsUnit]] = []
    loaded: list[tuple[Dataset, DatasetSpec]] = []
    for spec in suite.datasets:
        try:
            dataset = load_dataset(spec, reporter)
        except Exception as err:  # recorded on each of its cells
            cells = unloaded_cells(suite, spec)
            yield from (driver.failed(c, i, err) for c, i in cells.items())
            continue
        loaded.append((dataset, spec))
        reread = stage_ids(suite, spec.name, dataset.fingerprint, skip)
        for unit in cells_units(suite, spec, dataset.fingerprint):
            for cell, cell_id in unit.ids.items():
                if cell_id in skip and cell_id not in reread:
                    reporter.cell_skipped(cell, cell_id)
            todo = without(unit, set(skip) - reread)
            if todo.cells:
                units.append((dataset, todo))
    encoders = _Encoders(ray, driver, settings)
    ready: list[tuple[Dataset, CellsUnit, GivenVectors]] = []
    try:
        for dataset, unit in units:
            try:
                ready.append((dataset, unit, encoders.vectors(dataset, unit.embedder)))
            except Exception as err:  # this unit's cells fail; the others still run
                yield from (driver.failed(c, i, _cause(err)) for c, i in unit.ids.items())
    finally:
        encoders.release()  # their CPUs and GPUs go back before any search is timed
    done: dict[Cell, CellRecord] = {}
    for record in _run_cells(ray, driver, ready, settings):
        done[cell_of(record.cell)] = record
        yield record
    for dataset, spec in loaded:  # second stages run here, over the records the tasks made
        yield from pipeline_records(driver, dataset, spec, done, skip)


class _Encoder:
    """A Ray actor: one embedder, its model loaded once, encoding shard after shard."""

    def __init__(self, spec: EmbedderSpec) -> None:
        self.embedder = EMBEDDERS.get(spec.kind)(spec.params)

    def encode(self, shard: EncodeShard) -> EncodedShard:
        with timed() as watch:
            vectors = self.embedder.encode(list(shard.texts), shard.side, None)
        return EncodedShard(shard.rows, vectors, watch.seconds)


class _Encoders:
    """Pools of encoder actors by model, started when first needed; every side they encode
    is cached by the driver and handed to the units as GivenVectors."""

    def __init__(self, ray: Any, driver: Session, settings: ExecutorSettings) -> None:
        self.ray, self.driver, self.settings = ray, driver, settings
        self._pools: dict[str, list[Any]] = {}
        self._done: dict[str, Cached] = {}

    def vectors(self, dataset: Dataset, spec: EmbedderSpec) -> GivenVectors:
        """Both sides' vectors for a unit of `spec`: none for given vectors, nor for models
        that are not dense (lexical, sparse, multivector: their unit encodes them itself)."""
        base = encoder(self.driver.suite, spec)
        embedder = self.driver.embedder(base)
        if base.family != "dense" or getattr(embedder, "precomputed", False):
            return GivenVectors({})
        given = {}
        for side, texts in sides(dataset).items():
            key = vectors_key(embedder, dataset, side)
            digest = key_digest(key)
            if digest not in self._done:
                cache = self.driver.cache
                hit = cache.get(key) if cache is not None else None
                if hit is None:
                    label = f"{dataset.name} · {base.name}"
                    with timed() as watch:
                        shards = self._encode(base, embedder, side, texts, label)
                    vectors = assemble(shards, len(texts))
                    fresh = cache.put(key, vectors, watch.seconds) if cache else None
                    hit = Cached(fresh.vectors if fresh else vectors, watch.seconds, fresh=True)
                self._done[digest] = dataclasses.replace(hit, fresh=False)  # once per run
            else:
                hit = self._done[digest]
            given[digest] = hit
        return GivenVectors(given)

    def _encode(
        self, spec: EmbedderSpec, embedder: Any, side: Side, texts: Any, label: str
    ) -> list[EncodedShard]:
        if getattr(embedder, "encode_step", 0) is None:  # batch_size: auto
            batch_size = embedder.calibrate(texts, side)  # measured here, once, for every actor
            params = spec.params.model_copy(update={"batch_size": batch_size})
            spec = dataclasses.replace(spec, params=params)
        pool = self._pool(spec)
        todo = deque(encode_shards(embedder, spec, side, texts, self.settings.shard_size))
        reporter = self.driver.reporter
        reporter.task(f"{label}: encoding {side} texts on {len(pool)} Ray actors", len(texts))
        idle, done = list(pool), []
        running: dict[Any, Any] = {}  # object ref -> the actor encoding it
        while todo or running:
            while todo and idle:
                actor = idle.pop()
                running[actor.encode.remote(todo.popleft())] = actor
            [ref], _ = self.ray.wait(list(running), num_returns=1)
            idle.append(running.pop(ref))
            shard: EncodedShard = self.ray.get(ref)  # raises once its retries are spent
            reporter.advance(len(shard.rows))
            done.append(shard)
        return done

    def _pool(self, spec: EmbedderSpec) -> list[Any]:
        if spec.name not in self._pools:
            settings, resources = self.settings, self.ray.cluster_resources()
            gpus = settings.gpus_per_encoder
            if gpus is None:
                gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
            fits = resources.get("CPU", 1) // settings.cpus_per_encoder
            if gpus > 0:
                fits = min(fits, resources.get("GPU", 0) // gpus)
            actor = self.ray.remote(_Encoder).options(
                num_cpus=settings.cpus_per_encoder,
                num_gpus=gpus,
                max_restarts=settings.retries,
                max_task_retries=settings.retries,
            )
            count = settings.encoders or max(1, int(fits))
            self._pools[spec.name] = [actor.remote(spec) for _ in range(count)]
        return self._pools[spec.name]

    def release(self) -> None:
        for pool in self._pools.values():
            for actor in pool:
                self.ray.kill(actor)
        self._pools.clear()


@dataclass(frozen=True)
class _Node:
    node_id: str
    cpus: float
    label: str
    """What the records say measured them: host name and Ray node id."""


def _nodes(ray: Any) -> list[_Node]:
    return [
        _Node(
            node["NodeID"],
            node["Resources"]["CPU"],
            f"{node.get('NodeManagerHostname') or platform.node()} (ray {node['NodeID'][:12]})",
        )
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= 1
    ]


def _cells_task(
    suite: Suite, dataset: Dataset, unit: CellsUnit, given: GivenVectors, node: str
) -> list[CellRecord]:
    """A Ray task: the unit's records, computed on the node it holds whole."""
    session = Session(suite, SilentReporter(), given, node=node)
    return list(run_unit(session, dataset, unit))


def _run_cells(
    ray: Any,
    driver: Session,
    ready: list[tuple[Dataset, CellsUnit, GivenVectors]],
    settings: ExecutorSettings,
) -> Iterator[CellRecord]:
    """Each unit as a task on a node of its own, at most one per node at a time."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = _nodes(ray)
    if not nodes and ready:
        raise HarnessError("the Ray cluster has no live node with a CPU to run cells on")
    task = ray.remote(_cells_task)
    suite = ray.put(driver.suite)
    datasets = {id(d): ray.put(d) for d, _, _ in ready}
    pending, free = deque(ready), list(nodes)
    running: dict[Any, tuple[CellsUnit, _Node]] = {}
    driver.reporter.task(f"cells on {len(nodes)} Ray nodes", len(ready))
    while pending or running:
        while pending and free:
            node = free.pop(0)
            dataset, unit, given = pending.popleft()
            ref = task.options(
                num_cpus=node.cpus,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
                max_retries=settings.retries,
            ).remote(suite, datasets[id(dataset)], unit, given, node.label)
            running[ref] = (unit, node)
        [ref], _ = ray.wait(list(running), num_returns=1)
        unit, node = running.pop(ref)
        free.append(node)
        try:
            records: list[CellRecord] = ray.get(ref)
        except Exception as err:  # the worker or its node died, and its retries with it
            records = [driver.failed(c, i, _cause(err)) for c, i in unit.ids.items()]
        driver.reporter.advance(1)
        yield from records


def _cause(err: Exception) -> Exception:
    """The error a Ray task raised, rather than Ray's wrapper around it; Ray's own errors (a
    worker or node that died) in one line."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, Exception):
        return cause
    return HarnessError(f"{type(err).__name__}: {_first_line(err)} (Ray)")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
