"""sentence-transformers models run by ONNX Runtime and OpenVINO: the same figures as PyTorch at
fp32, reduced precisions recorded apart, and clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cache import EmbeddingCache
from harness.cli import app
from harness.datasets.beir import load_beir_folder
from harness.datasets.shrink import shrink
from harness.embedders.sbert import SentenceTransformersEmbedder, SentenceTransformersParams
from harness.errors import ComponentError, SuiteError
from harness.executors.local import run_suite
from harness.spec import identity, load_suite
from tests.conftest import QUICK_TIMING

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
QUICKSTART = Path(__file__).resolve().parent.parent / "suites" / "data" / "quickstart"
SUITE = """\
name: backends
datasets:
  - {{name: cranfield, path: {data}, split: test}}
embedders:
  - {{name: torch, kind: sentence-transformers, model: {model}}}
  - {{name: onnx, kind: sentence-transformers, model: {model}, backend: onnx}}
  - {{name: openvino, kind: sentence-transformers, model: {model}, backend: openvino}}
indexes:
  - {{name: exact, kind: faiss-flat}}
metrics: [nDCG@10, R@100]
{timing}"""


REDUCED = """\
name: reduced
datasets:
  - {{name: quickstart, path: {data}, split: test}}
embedders:
  - {{name: torch, kind: sentence-transformers, model: {model}}}
  - {{name: openvino-bf16, kind: sentence-transformers, model: {model}, backend: openvino, precision: bf16}}
  - {{name: onnx-int8, kind: sentence-transformers, model: {model}, backend: onnx, precision: int8}}
  - {{name: auto, kind: sentence-transformers, model: {model}, backend: openvino, batch_size: auto}}
indexes:
  - {{name: exact, kind: faiss-flat}}
metrics: [nDCG@10]
{timing}"""


@pytest.mark.slow
def test_onnx_and_openvino_fp32_give_pytorch_s_vectors_and_figures_on_a_real_collection(
    data_dir: Path, tmp_path: Path
) -> None:
    # a 50-query tier of Cranfield (those queries, their 400-odd judged abstracts): real text
    # at a third of the encoding
    tier = tmp_path / "cranfield-tier"
    shrink(data_dir / "cranfield", tier, split="test", n_queries=50, pool=[], depth=0)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(data=tier, model=MINILM, timing=QUICK_TIMING))
    cache = EmbeddingCache()
    records = {r.cell.embedder: r for r in run_suite(load_suite(path), cache=cache)}
    assert all(r.status == "ok" for r in records.values()), [r.error for r in records.values()]
    torch_ndcg = round(records["torch"].metrics["nDCG@10"], 4)
    for name in ("onnx", "openvino"):
        assert round(records[name].metrics["nDCG@10"], 4) == torch_ndcg
        assert round(records[name].metrics["R@100"], 4) == round(
            records["torch"].metrics["R@100"], 4
        )
    cranfield = load_beir_folder(tier, name="c", split="test")
    texts = {cranfield.corpus_fingerprint, cranfield.queries_fingerprint}
    entries = {
        (e.key["backend"], e.key["dtype"], e.key["side"]): e
        for e in cache.entries()
        if e.key.get("texts") in texts and e.key.get("model") == MINILM
    }
    assert len(entries) == 6  # three runtimes x two sides: none shares another's vectors
    for side in ("document", "query"):
        reference = entries[("sentence-transformers", "float32", side)]
        for backend in ("onnxruntime", "openvino"):
            fp32 = entries[(f"sentence-transformers+{backend}", "float32", side)]
            agreement = cache.agreement(reference, fp32)
            assert agreement.min_cosine >= 0.99999 and agreement.share_at_least == 1.0
    recorded = {name: r.embedder.params for name, r in records.items()}
    assert recorded["openvino"]["precision"] == "fp32"  # as OpenVINO applied it
    assert recorded["onnx"]["runtime"].startswith("onnxruntime ")
    assert recorded["openvino"]["runtime"].startswith("openvino ")
    assert recorded["torch"]["runtime"].startswith("torch ")


@pytest.mark.slow
def test_reduced_precisions_are_recorded_apart_and_auto_batch_size_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "suite.yaml"
    path.write_text(REDUCED.format(data=QUICKSTART, model=MINILM, timing=QUICK_TIMING))
    cache = EmbeddingCache()
    records = {r.cell.embedder: r for r in run_suite(load_suite(path), cache=cache)}
    assert all(r.status == "ok" for r in records.values()), [r.error for r in records.values()]
    assert all(r.cost["texts_encoded"] > 0 for r in records.values())  # each encoded its own
    recorded = {name: r.embedder.params for name, r in records.items()}
    assert recorded["torch"]["precision"] == "fp32"
    assert recorded["openvino-bf16"]["precision"] == "bf16"  # as OpenVINO applied it
    assert recorded["onnx-int8"]["precision"] == "int8" and recorded["onnx-int8"]["quantized"]
    auto = recorded["auto"]  # measured on the documents, the fastest chosen and recorded
    assert set(auto["batch_rates"]) == {"8", "16", "32", "64", "128"}
    assert auto["batch_size"] == int(max(auto["batch_rates"], key=auto["batch_rates"].get))
    entries = {(e.key["backend"], e.key["dtype"], e.key["side"]): e for e in cache.entries()}
    assert len(entries) == 8
    reference = entries[("sentence-transformers", "float32", "document")]
    for reduced in (("openvino", "bfloat16"), ("onnxruntime", "int8")):
        entry = entries[(f"sentence-transformers+{reduced[0]}", reduced[1], "document")]
        agreement = cache.agreement(reference, entry)
        assert 0.98 < agreement.mean_cosine < 0.999999  # near, and really reduced


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_the_query_side_runs_on_the_cell_s_thread_count(backend: str) -> None:
    embedder = SentenceTransformersEmbedder(
        SentenceTransformersParams(model=MINILM, backend=backend)
    )
    embedder.load()
    default = embedder.describe()["threads"]
    embedder.use_threads(1)  # as the runner does around the timed query side
    assert embedder.describe()["threads"] == 1
    assert embedder.encode(["one thread"], "query", None).shape == (1, 384)
    embedder.use_threads(None)
    assert embedder.describe()["threads"] == default


def test_a_precision_the_backend_cannot_run_names_the_suite_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"name: s\ndatasets: [{{name: d, path: {QUICKSTART}, split: test}}]\nembedders:\n"
        f"  - {{name: m, kind: sentence-transformers, model: {MINILM}, backend: openvino, "
        "precision: int8}\nindexes: [{name: exact, kind: faiss-flat}]\nmetrics: [nDCG@10]\n"
    )
    with pytest.raises(SuiteError, match=r":4: .*backend openvino runs fp32, fp16, bf16, not int8"):
        load_suite(path)


@pytest.mark.parametrize(("backend", "module"), [("openvino", "openvino"), ("onnx", "onnxruntime")])
def test_a_missing_runtime_names_the_extra(
    backend: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ComponentError, match=rf"pip install 'harness\[{backend}\]'"):
        SentenceTransformersEmbedder(SentenceTransformersParams(model=MINILM, backend=backend))


def test_results_of_torch_fp32_keep_their_cell_ids_and_cache_keys() -> None:
    default = SentenceTransformersParams(model=MINILM)
    assert not {"backend", "precision", "threads"} & identity(default).keys()
    assert identity(default.model_copy(update={"backend": "onnx"}))["backend"] == "onnx"
    key = SentenceTransformersEmbedder(default).cache_key("document")
    assert (key["backend"], key["dtype"]) == ("sentence-transformers", "float32")  # as before


def test_cache_diff_reports_agreement_and_refuses_different_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    cache = EmbeddingCache()
    rows = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    for backend, vectors in (("a", rows), ("b", rows + 1e-3), ("c", rows)):
        cache.put({"model": "m", "backend": backend, "texts": "t", "side": "document"}, vectors, 0)
    cache.put({"model": "m", "backend": "d", "texts": "other", "side": "document"}, rows, 0)
    digest = {e.key["backend"]: e.digest[:12] for e in cache.entries()}
    runner = CliRunner()
    near = runner.invoke(app, ["cache", "diff", digest["a"], digest["b"]])
    assert near.exit_code == 0 and "50 rows: cosine mean 0.99" in near.output
    same = runner.invoke(app, ["cache", "diff", digest["a"], digest["c"]])
    assert "(byte for byte identical)" in same.output and "100.00% of rows" in same.output
    other = runner.invoke(app, ["cache", "diff", digest["a"], digest["d"]])
    assert other.exit_code == 2 and "different texts" in other.output
    missing = runner.invoke(app, ["cache", "diff", digest["a"], "ffff"])
    assert missing.exit_code == 2 and "no entry with a digest starting 'ffff'" in missing.output
