"""Synthetic collections: deterministic, in the layouts harness reads, with findable relevance."""

from __future__ import annotations

import errno
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import harness.synth
from harness.cli import app
from harness.datasets.beir import load_beir_folder
from harness.embedders.bm25 import BM25Params, BM25Retriever
from harness.synth import TextShape, VectorShape, write_distracted, write_texts, write_vectors
from tests.conftest import WriteBeir

runner = CliRunner()


def _read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: np.asarray(handle[name]) for name in handle}


def test_synthetic_vectors_are_deterministic_unit_length_with_exact_neighbours(
    tmp_path: Path,
) -> None:
    shape = VectorShape(dim=24, seed=3)
    write_vectors(tmp_path / "a.hdf5", shape, 3000, 40)
    write_vectors(tmp_path / "b.hdf5", shape, 3000, 40)
    a, b = _read(tmp_path / "a.hdf5"), _read(tmp_path / "b.hdf5")
    assert all(np.array_equal(a[k], b[k]) for k in a) and set(a) == {
        "train",
        "test",
        "neighbors",
        "distances",
    }
    assert a["train"].shape == (3000, 24) and a["test"].shape == (40, 24)
    np.testing.assert_allclose(np.linalg.norm(a["train"], axis=1), 1, atol=1e-5)
    truth = np.argsort(-(a["test"] @ a["train"].T), axis=1, kind="stable")[:, :100]
    assert (a["neighbors"][:, :10] == truth[:, :10]).mean() > 0.999  # ties aside
    write_vectors(tmp_path / "c.hdf5", VectorShape(dim=24, seed=4), 3000, 40)
    assert not np.array_equal(_read(tmp_path / "c.hdf5")["train"], a["train"])


def test_synthetic_vectors_are_clustered_and_low_rank_unlike_gaussian_noise(
    tmp_path: Path,
) -> None:
    write_vectors(tmp_path / "v.hdf5", VectorShape(dim=64), 4000, 10)
    train = _read(tmp_path / "v.hdf5")["train"]
    variance = np.sort(np.linalg.eigvalsh(np.cov(train.T)))[::-1]
    # 90% of the variance in fewer directions than isotropic noise needs (about 57 of 64)
    assert np.searchsorted(np.cumsum(variance) / variance.sum(), 0.9) < 48
    # and each point's nearest neighbour is much closer than a random point
    sample = train[:200]
    nearest = np.sort(sample @ train.T, axis=1)[:, -2]
    assert np.median(nearest) > np.median(sample @ train[1000:1200].T) + 0.3


def test_synthetic_texts_plant_a_document_that_bm25_finds(tmp_path: Path) -> None:
    write_texts(tmp_path / "t", TextShape(seed=1, vocabulary=5000), 2000, 100)
    dataset = load_beir_folder(tmp_path / "t", name="t", split="test")
    assert (len(dataset.doc_ids), len(dataset.query_ids)) == (2000, 100)
    assert all(len(docs) == 1 for docs in dataset.qrels.values())
    retriever = BM25Retriever(BM25Params(stemmer=None, stopwords=None))
    retriever.index(dataset.doc_texts)
    _, positions = retriever.search(retriever.encode_queries(dataset.query_texts), 10)
    found = [
        dataset.doc_ids[positions[i, 0]] in dataset.qrels[q]
        for i, q in enumerate(dataset.query_ids)
    ]
    assert np.mean(found) > 0.9  # the planted document ranks first for nearly every query
    write_texts(tmp_path / "u", TextShape(seed=1, vocabulary=5000), 2000, 100)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        assert (tmp_path / "t" / name).read_bytes() == (tmp_path / "u" / name).read_bytes()


def test_distractors_add_unjudged_documents_and_keep_the_real_collection(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    source = write_beir()
    write_distracted(source, tmp_path / "d", 500, seed=2)
    real = load_beir_folder(source, name="x", split="test")
    grown = load_beir_folder(tmp_path / "d", name="x", split="test")
    assert grown.doc_ids[:4] == real.doc_ids and grown.doc_texts[:4] == real.doc_texts
    assert len(grown.doc_ids) == 504 and grown.doc_ids[4] == "synth-0"
    assert (grown.query_ids, grown.query_texts, grown.qrels) == (
        real.query_ids,
        real.query_texts,
        real.qrels,
    )
    real_words = {w for text in real.doc_texts for w in text.split()}
    assert {w for text in grown.doc_texts[4:] for w in text.split()} <= real_words


def test_synth_commands_write_what_the_loaders_read_and_refuse_bad_arguments(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "synth",
            "vectors",
            str(tmp_path / "v.hdf5"),
            "--docs",
            "500",
            "--queries",
            "50",
            "--dim",
            "8",
        ],
    )
    assert result.exit_code == 0 and "wrote" in result.output, result.output
    assert _read(tmp_path / "v.hdf5")["test"].shape == (50, 8)
    again = runner.invoke(app, ["synth", "vectors", str(tmp_path / "v.hdf5")])
    assert again.exit_code == 2 and "already exists; remove it" in again.output
    source = write_beir()
    into_itself = runner.invoke(app, ["synth", "distract", str(source), str(source)])
    assert into_itself.exit_code == 2 and (source / "corpus.jsonl").stat().st_size < 1000
    result = runner.invoke(app, ["synth", "texts", str(tmp_path / "t"), "--docs", "5"])
    assert result.exit_code == 2 and "1 <= queries <= documents" in result.output
    result = runner.invoke(
        app, ["synth", "distract", str(tmp_path / "missing"), str(tmp_path / "d"), "--docs", "5"]
    )
    assert result.exit_code == 2 and "missing" in result.output and "Traceback" not in result.output


def test_a_synth_write_that_fails_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fill_the_disk(folder: Path, *args: object) -> None:
        folder.mkdir()
        (folder / "corpus.jsonl").write_text('{"_id": "d0"')  # half a line, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(harness.synth, "write_texts", fill_the_disk)
    result = runner.invoke(app, ["synth", "texts", str(tmp_path / "t"), "--docs", "5"])
    assert result.exit_code == 1 and "t: cannot write: disk full" in result.output, result.output
    assert list(tmp_path.iterdir()) == []  # no half-written folder, finished or not
