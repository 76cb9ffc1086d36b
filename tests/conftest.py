"""Shared fixtures: tiny BEIR folders written inline, and the real collections in ../shared."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness.embedders import EMBEDDERS
from harness.embedders.bm25 import BM25Retriever

REPO = Path(__file__).resolve().parent.parent


def _session_folder(prefix: str) -> str:
    """A temporary folder for this test session, removed when the session ends."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Hugging Face datasets (the mteb loader) cache what they read: here, not in the user's cache.
os.environ["HF_DATASETS_CACHE"] = _session_folder("harness-test-hf-datasets-")
# ir_datasets reads its home once, at import: one per test session.
os.environ["IR_DATASETS_HOME"] = _session_folder("harness-test-ir-datasets-")
os.environ.setdefault("IR_DATASETS_DL_TRIES", "1")
# A fresh embedding cache per test session: a developer's cache must not turn encodes into hits.
# `make test` names an emptied build/test-cache instead, which `make gate` then reads.
os.environ["HARNESS_CACHE_DIR"] = os.environ.get("HARNESS_TEST_CACHE_DIR") or _session_folder(
    "harness-test-cache-"
)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real collections: $HARNESS_DATA_DIR, else ../shared/datasets beside the repo."""
    folder = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "datasets"))
    if not (folder / "scifact" / "corpus.jsonl").is_file():
        pytest.fail(f"real collections not found at {folder}; set HARNESS_DATA_DIR")
    return folder


QUICK_TIMING = (
    "timing: {warmup_s: 0, latency_samples: 50, latency_min_s: 0, batch_repeats: 2, "
    "batch_min_s: 0}\n"
)
"""For suites in tests that check quality, not cost: the timing protocol at its quickest."""
QUICK_TIMING_FORMAT = QUICK_TIMING.replace("{", "{{").replace("}", "}}")
"""The same line inside a suite written with str.format."""

TINY_CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats are small domesticated carnivores."},
    {"_id": "d2", "title": "Dogs", "text": "Dogs are loyal companions and good guards."},
    {"_id": "d3", "title": "", "text": "The stock market fell sharply on Monday."},
    {"_id": "d4", "title": "Kittens", "text": "A kitten is a juvenile cat."},
]
TINY_QUERIES = [
    {"_id": "q1", "text": "young cats"},
    {"_id": "q2", "text": "loyal dogs"},
    {"_id": "q3", "text": "unjudged query"},
]
TINY_QRELS = "query-id\tcorpus-id\tscore\nq1\td4\t2\nq1\td1\t1\nq2\td2\t1\n"

WriteBeir = Callable[..., Path]


@pytest.fixture
def write_beir(tmp_path: Path) -> WriteBeir:
    """Write a BEIR folder; override any file's raw text to make it malformed."""

    def write(
        name: str = "tiny",
        corpus: str | None = None,
        queries: str | None = None,
        qrels: dict[str, str] | None = None,
    ) -> Path:
        folder = tmp_path / name
        (folder / "qrels").mkdir(parents=True)
        (folder / "corpus.jsonl").write_text(
            corpus if corpus is not None else "".join(json.dumps(d) + "\n" for d in TINY_CORPUS)
        )
        (folder / "queries.jsonl").write_text(
            queries if queries is not None else "".join(json.dumps(q) + "\n" for q in TINY_QUERIES)
        )
        for split, text in (qrels or {"test": TINY_QRELS}).items():
            (folder / "qrels" / f"{split}.tsv").write_bytes(text.encode())
        return folder

    return write


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "suite.yaml"
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def cranfield_vectors(data_dir: Path) -> tuple[object, object]:
    """Real MiniLM embeddings of Cranfield (1,400 abstracts, 225 queries), encoded once, into
    the session's embedding cache: the suites of other tests that run MiniLM on Cranfield find
    them there."""
    from harness.cache import EmbeddingCache
    from harness.datasets.beir import load_beir_folder
    from harness.embedders.sbert import SentenceTransformersEmbedder, SentenceTransformersParams
    from harness.runner import vectors_key

    ds = load_beir_folder(data_dir / "cranfield", name="cranfield", split="test")
    embedder = SentenceTransformersEmbedder(
        SentenceTransformersParams(model="sentence-transformers/all-MiniLM-L6-v2")
    )
    cache, vectors = EmbeddingCache(), []
    for side, texts in (("document", ds.doc_texts), ("query", ds.query_texts)):
        key = vectors_key(embedder, ds, side)  # type: ignore[arg-type]
        hit = cache.get(key)
        if hit is None:
            started = time.perf_counter()
            fresh = embedder.encode(texts, side, None)  # type: ignore[arg-type]
            hit = cache.put(key, fresh, time.perf_counter() - started)
        vectors.append(hit.vectors)
    return vectors[0], vectors[1]


class SlowedBM25(BM25Retriever):
    """BM25 whose every search is followed by a busy wait, so it takes `factor` times as long."""

    family: ClassVar[Any] = "lexical"
    factor: ClassVar[float] = 2.0

    def search(self, encoded: Any, k: int, threads: int = 1) -> Any:
        start = time.perf_counter()
        found = super().search(encoded, k, threads)
        until = time.perf_counter() + (self.factor - 1) * (time.perf_counter() - start)
        while time.perf_counter() < until:
            pass
        return found


@EMBEDDERS.register("test-doubled-bm25")
class DoubledBM25(SlowedBM25):
    factor = 2.0


@EMBEDDERS.register("test-tripled-bm25")
class TripledBM25(SlowedBM25):
    factor = 3.0
