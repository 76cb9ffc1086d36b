"""Which embedded vector database to offer as a backend: LanceDB or Milvus Lite, measured on real
embeddings (SciFact test, all-MiniLM-L6-v2 unit vectors through harness's embedding cache).

For each: install footprint, ingest + index build time, bytes on disk, ANN recall@10 against exact
inner product (faiss IndexFlatIP), nDCG@10, batch-1 latency, batched QPS, whether two builds give
the same results, and the threads and listening TCP sockets it adds to the process.

    HF_HUB_OFFLINE=1 HARNESS_DATA_DIR=../shared/datasets python benchmarks/vectordb_choice.py

Choice: LanceDB. Both reach recall@10 = 1.0 at their most exhaustive settings (LanceDB: no index,
IVF_FLAT with nprobes = partitions, HNSW ef 512, SQ or PQ with refine_factor; Milvus Lite: FLAT,
IVF_FLAT nprobe = nlist, HNSW ef 512). But Milvus Lite 3.x is pure Python around faiss: its HNSW,
IVF_FLAT, IVF_SQ8 and HNSW_SQ are faiss IndexHNSWFlat, IndexIVFFlat, IndexIVFScalarQuantizer and
IndexHNSWSQ (milvus_lite/index/), the code our faiss backends already measure, reached through a
gRPC server it starts in-process on a loopback TCP port: a layer, not another ANN implementation.
It also ignores build parameters as pymilvus 3.0 sends them (see MilvusLite.build) and builds
indexes in a background thread, answering by brute force until it is done. LanceDB is an
independent engine (Rust; its own IVF, PQ, SQ, RaBitQ and HNSW), in-process with no server or
socket; its IVF_FLAT gave about 3x Milvus Lite's batched QPS at recall 1.0, with similar batch-1
latency (both a few ms, mostly call overhead). Its costs: a 190 MB wheel (Milvus Lite adds 29 MB),
and unseeded index training: two builds of an approximate index return different neighbours for
some queries (exhaustive settings repeat exactly).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from packaging.requirements import Requirement

from harness.cache import EmbeddingCache
from harness.datasets.beir import load_beir_folder
from harness.embedders.sbert import SentenceTransformersEmbedder, SentenceTransformersParams
from harness.evaluate import ann_recall, evaluate, exact_neighbours, to_run
from harness.measure import TimingSettings, thread_limit, time_stage
from harness.spread import summarize

K = 10
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def scifact() -> tuple[Any, np.ndarray, np.ndarray]:
    """SciFact and its MiniLM vectors, through the runner's cache key (a hit loads no model)."""
    ds = load_beir_folder(
        Path(os.environ["HARNESS_DATA_DIR"]) / "scifact", name="scifact", split="test"
    )
    embedder = SentenceTransformersEmbedder(SentenceTransformersParams(model=MODEL))
    cache, out = EmbeddingCache(), {}
    for side, texts, fingerprint in (
        ("document", ds.doc_texts, ds.corpus_fingerprint),
        ("query", ds.query_texts, ds.queries_fingerprint),
    ):
        key = embedder.cache_key(side) | {"texts": fingerprint, "count": len(texts)}
        hit = cache.get(key)
        if hit is None:
            start = time.perf_counter()
            fresh = embedder.encode(texts, side, None)
            hit = cache.put(key, fresh, time.perf_counter() - start)
        out[side] = np.ascontiguousarray(hit.vectors)
    return ds, out["document"], out["query"]


def footprint(roots: list[str], ours: str = "harness") -> str:
    """Installed size of the packages and everything they require, and how much of it is new."""

    def closure(names: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = metadata.distribution(todo.pop()).metadata["Name"].lower()
            if name in seen:
                continue
            seen.add(name)
            for spec in metadata.requires(name) or []:
                req = Requirement(spec)
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    todo.append(req.name)
        return seen

    def size(name: str) -> int:
        files = metadata.distribution(name).files or []
        return sum(f.locate().stat().st_size for f in files if Path(f.locate()).is_file())

    mine = closure(roots)
    new = mine - closure([ours])
    return (
        f"{' + '.join(roots)}: {sum(map(size, roots)) / 1e6:.0f} MB itself; {len(mine) - len(roots)}"
        f" dependencies, {sum(map(size, mine)) / 1e6:.0f} MB in all; not already required by harness:"
        f" {len(new)} packages, {sum(map(size, new)) / 1e6:.0f} MB ({', '.join(sorted(new))})"
    )


def folder_bytes(folder: str) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def listening_sockets() -> int:
    """TCP sockets this process listens on (Linux)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            inodes.add(os.readlink(f"/proc/self/fd/{fd}").removeprefix("socket:[").rstrip("]"))
    tables = [Path(f"/proc/net/{t}").read_text().splitlines()[1:] for t in ("tcp", "tcp6")]
    rows = [line.split() for table in tables for line in table]
    return sum(r[3] == "0A" and r[9] in inodes for r in rows)


class LanceDB:
    def __init__(self, index: str | None, **build: Any) -> None:
        self.index, self.build_params = index, build

    def build(self, docs: np.ndarray) -> None:
        import lancedb
        import lancedb.index as li
        import pyarrow as pa

        self.folder = tempfile.mkdtemp(prefix="lancedb-")
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(docs.reshape(-1)), docs.shape[1])
        data = pa.table({"position": pa.array(np.arange(len(docs))), "vector": vectors})
        self.table = lancedb.connect(self.folder).create_table("docs", data=data)
        if self.index is not None:
            config = getattr(li, self.index)(distance_type="dot", **self.build_params)
            self.table.create_index("vector", config=config)

    def search(self, queries: np.ndarray, **params: Any) -> np.ndarray:
        query = (
            self.table.search(queries)
            .distance_type("dot")
            .limit(K)
            .select(["position", "_distance"])
        )
        for name, value in params.items():
            query = getattr(query, name)(value)
        found = query.to_arrow()
        rows = found["query_index"].to_numpy() if len(queries) > 1 else np.zeros(found.num_rows)
        return np.stack([found["position"].to_numpy()[rows == i] for i in range(len(queries))])


class MilvusLite:
    def __init__(self, index: str, **build: Any) -> None:
        self.index, self.build_params = index, build

    def build(self, docs: np.ndarray) -> None:
        from pymilvus import DataType, MilvusClient

        self.folder = tempfile.mkdtemp(prefix="milvus-")
        self.client = client = MilvusClient(f"{self.folder}/milvus.db")
        schema = client.create_schema(auto_id=False)
        schema.add_field("position", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=docs.shape[1])
        client.create_collection("docs", schema=schema)
        client.insert("docs", [{"position": i, "vector": v} for i, v in enumerate(docs.tolist())])
        client.flush("docs")
        client.release_collection("docs")
        index = client.prepare_index_params()
        # pymilvus 3.0 sends params={...} as flat key-value pairs, which milvus-lite 3.2 ignores
        # (it reads only a "params" key: the index silently gets its defaults); nest them.
        index.add_index(
            "vector", index_type=self.index, metric_type="IP", params={"params": self.build_params}
        )
        client.create_index("docs", index)
        client.load_collection("docs")  # builds the index now, not in the background
        described = client.describe_index("docs", "vector").get("params", {})
        assert described == self.build_params, described

    def search(self, queries: np.ndarray, **params: Any) -> np.ndarray:
        hits = self.client.search(
            "docs", data=queries, limit=K, search_params={"metric_type": "IP", "params": params}
        )
        return np.array([[h["position"] for h in row] for row in hits])


def main() -> int:
    ds, docs, queries = scifact()
    truth, _ = exact_neighbours(docs, queries, K)
    print(f"SciFact test: {len(docs)} documents, {len(queries)} queries, dim {docs.shape[1]}")
    print(f"unit length: {np.allclose(np.linalg.norm(docs, axis=1), 1, atol=1e-5)}; k = {K}\n")
    print("install footprint")
    print(" ", footprint(["lancedb"]))
    print(" ", footprint(["pymilvus", "milvus-lite"]))

    lance_hnsw = {"num_partitions": 1, "m": 20, "ef_construction": 300}
    grid: list[tuple[str, Callable[[], Any], list[dict[str, Any]]]] = [
        ("lancedb no index", lambda: LanceDB(None), [{}]),
        (
            "lancedb IvfFlat p32",
            lambda: LanceDB("IvfFlat", num_partitions=32),
            [{"nprobes": n} for n in (1, 4, 16, 32)],
        ),
        (
            "lancedb IvfSq p32",
            lambda: LanceDB("IvfSq", num_partitions=32),
            [{"nprobes": 8}, {"nprobes": 32}, {"nprobes": 32, "refine_factor": 4}],
        ),
        (
            "lancedb IvfPq p32 m48",
            lambda: LanceDB("IvfPq", num_partitions=32, num_sub_vectors=48),
            [{"nprobes": 32}, {"nprobes": 32, "refine_factor": 10}],
        ),
        (
            "lancedb HnswSq",
            lambda: LanceDB("HnswSq", **lance_hnsw),
            [{"ef": 10}, {"ef": 64}, {"ef": 512}, {"ef": 512, "refine_factor": 4}],
        ),
        (
            "lancedb HnswFlat",
            lambda: LanceDB("HnswFlat", **lance_hnsw),
            [{"ef": e} for e in (10, 64, 512)],
        ),
        ("milvus FLAT", lambda: MilvusLite("FLAT"), [{}]),
        (
            "milvus IVF_FLAT nlist32",
            lambda: MilvusLite("IVF_FLAT", nlist=32),
            [{"nprobe": n} for n in (1, 4, 16, 32)],
        ),
        ("milvus IVF_SQ8 nlist32", lambda: MilvusLite("IVF_SQ8", nlist=32), [{"nprobe": 32}]),
        (
            "milvus HNSW M16",
            lambda: MilvusLite("HNSW", M=16, efConstruction=200),
            [{"ef": e} for e in (10, 64, 512)],
        ),
        (
            "milvus HNSW_SQ M16",
            lambda: MilvusLite("HNSW_SQ", M=16, efConstruction=200),
            [{"ef": 64}, {"ef": 512}],
        ),
    ]
    header = (
        f"{'database / index':<24}{'search':<28}{'build s':>8}{'MB disk':>8}{'recall':>8}"
        f"{'nDCG@10':>8}{'p50 ms':>8}{'p95 ms':>8}{'QPS':>7}  same twice"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for name, make, searches in grid:
        threads, listening = len(os.listdir("/proc/self/task")), listening_sockets()
        index, again = make(), make()
        start = time.perf_counter()
        index.build(docs)
        build_s = time.perf_counter() - start
        again.build(docs)
        for params in searches:
            with thread_limit(1):  # both databases searched on one CPU
                times, found = time_stage(
                    lambda rows, ix=index, p=params: ix.search(queries[rows], **p),
                    len(queries),
                    TimingSettings(),
                )
            timing = summarize(
                {"search.single": times.single, "search.batch": times.batch}, len(queries)
            )
            same = (found == again.search(queries, **params)).all(1).mean()
            run = to_run(
                ds.query_ids, ds.doc_ids, -np.arange(K)[None].repeat(len(found), 0), found, K
            )
            ndcg = evaluate(ds.qrels, run, ["nDCG@10"]).means["nDCG@10"]
            shown = ", ".join(f"{k} {v}" for k, v in params.items()) or "exhaustive"
            print(
                f"{name:<24}{shown:<28}{build_s:>8.2f}{folder_bytes(index.folder) / 1e6:>8.1f}"
                f"{ann_recall(found, truth, K, docs, queries):>8.4f}{ndcg:>8.4f}"
                f"{timing['latency_p50_ms']:>8.2f}{timing['latency_p95_ms']:>8.2f}"
                f"{timing['qps']:>7.0f}  {same:.0%} of queries"
            )
        added = len(os.listdir("/proc/self/task")) - threads, listening_sockets() - listening
        print(f"{'':<24}(process gained {added[0]} OS threads, {added[1]} listening TCP sockets)")
    print(f"\nPython threads alive at the end: {threading.active_count()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
