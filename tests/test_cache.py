from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.cache import EmbeddingCache, key_digest
from harness.embedders.sbert import SentenceTransformersEmbedder, SentenceTransformersParams

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "embeddings")


def _key(**changes: object) -> dict[str, object]:
    return {"model": "m", "side": "document", "texts": "abc", "count": 3} | changes


def test_put_then_get_returns_the_same_vectors_memory_mapped(cache: EmbeddingCache) -> None:
    vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    cache.put(_key(), vectors, encode_seconds=1.5)
    hit = cache.get(_key())
    assert hit is not None and isinstance(hit.vectors, np.memmap)
    assert np.array_equal(hit.vectors, vectors) and hit.encode_seconds == 1.5
    assert cache.get(_key(texts="other")) is None


@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(0, 20), st.integers(1, 16))))
def test_a_hit_is_bit_identical(vectors: np.ndarray) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp))
        cache.put(_key(), vectors, 0.0)
        hit = cache.get(_key())
        assert hit is not None
        assert hit.vectors.tobytes() == np.ascontiguousarray(vectors).tobytes()


def test_query_and_document_keys_never_collide_for_the_same_text() -> None:
    embedder = SentenceTransformersEmbedder(SentenceTransformersParams(model=MINILM))
    query, document = embedder.cache_key("query"), embedder.cache_key("document")
    assert query != document
    assert key_digest(query | {"texts": "t"}) != key_digest(document | {"texts": "t"})


@pytest.mark.parametrize(
    "change",
    [{"query_prompt": "query: "}, {"max_seq_length": 128}, {"similarity": "dot"}],
)
def test_every_setting_that_changes_vectors_changes_the_key(change: dict[str, object]) -> None:
    base = SentenceTransformersEmbedder(SentenceTransformersParams(model=MINILM)).cache_key("query")
    other = SentenceTransformersEmbedder(
        SentenceTransformersParams(model=MINILM, **change)
    ).cache_key("query")
    assert key_digest(base) != key_digest(other)


def test_the_key_holds_a_digest_of_the_weights(tmp_path: Path) -> None:
    from harness.embedders.models import PACKAGED

    copy = tmp_path / "model"
    copy.mkdir()
    for file in PACKAGED[MINILM].path().iterdir():
        if file.is_file():
            (copy / file.name).write_bytes(file.read_bytes())
    (copy / "1_Pooling").mkdir()
    pooling = PACKAGED[MINILM].path() / "1_Pooling" / "config.json"
    (copy / "1_Pooling" / "config.json").write_bytes(pooling.read_bytes())
    original = SentenceTransformersEmbedder(SentenceTransformersParams(model=str(copy))).cache_key(
        "document"
    )
    config = json.loads(pooling.read_text()) | {
        "pooling_mode_mean_tokens": False,
        "pooling_mode_cls_token": True,
    }
    (copy / "1_Pooling" / "config.json").write_text(
        json.dumps(config)
    )  # other pooling: other vectors
    changed = SentenceTransformersEmbedder(SentenceTransformersParams(model=str(copy))).cache_key(
        "document"
    )
    assert original["weights"] != changed["weights"]


def _entry(cache: EmbeddingCache) -> Path:
    return cache.folder / key_digest(_key())


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: (entry / "vectors.npy").write_bytes(
            (entry / "vectors.npy").read_bytes()[:-7]
        ),
        lambda entry: (entry / "vectors.npy").write_bytes(
            (entry / "vectors.npy").read_bytes()[:-1] + b"\x7f"
        ),
        lambda entry: (entry / "entry.json").unlink(),
        lambda entry: (entry / "entry.json").write_text("{not json"),
        lambda entry: (entry / "vectors.npy").unlink(),
    ],
    ids=["truncated", "bit-flip", "no-metadata", "bad-metadata", "no-vectors"],
)
def test_a_corrupt_or_partial_entry_is_detected_and_removed(
    cache: EmbeddingCache, damage: object
) -> None:
    cache.put(_key(), np.ones((3, 4), dtype=np.float32), 0.0)
    damage(_entry(cache))  # type: ignore[operator]
    assert cache.get(_key()) is None
    assert not _entry(cache).exists()  # gone, so the next put recomputes it
    cache.put(_key(), np.ones((3, 4), dtype=np.float32), 0.0)
    assert cache.get(_key()) is not None


def test_prune_by_age_and_size(cache: EmbeddingCache) -> None:
    for i in range(3):
        cache.put(_key(texts=str(i)), np.zeros((100, 10), dtype=np.float32), 0.0)
    entries = {e.key["texts"]: e for e in cache.entries()}
    old = time.time() - 10 * 86400
    os.utime(cache.folder / entries["0"].digest / "last_used", (old, old))
    (cache.folder / ".partial-leftover").mkdir()
    removed = cache.prune(older_than_s=86400)
    assert [e.key["texts"] for e in removed] == ["0"]
    assert not (cache.folder / ".partial-leftover").exists()
    recent = time.time()
    os.utime(cache.folder / entries["2"].digest / "last_used", (recent, recent))
    removed = cache.prune(max_bytes=max(e.nbytes for e in cache.entries()))
    assert [e.key["texts"] for e in removed] == ["1"]  # least recently used goes first
    assert [e.key["texts"] for e in cache.entries()] == ["2"]


def test_cache_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    EmbeddingCache().put(_key(model="org/model"), np.zeros((3, 4), dtype=np.float32), 0.0)
    runner = CliRunner()
    listed = runner.invoke(app, ["cache", "ls"])
    assert listed.exit_code == 0 and "org/model" in listed.output and "3x4" in listed.output
    assert "in 1 entries" in runner.invoke(app, ["cache", "du"]).output
    assert runner.invoke(app, ["cache", "prune"]).exit_code == 2  # says what to give
    pruned = runner.invoke(app, ["cache", "prune", "--max-size", "0"])
    assert pruned.exit_code == 0 and "removed 1 entries" in pruned.output
    assert EmbeddingCache().entries() == []
