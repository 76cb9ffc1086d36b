"""Bring your own vectors (embedder kind `vectors`) and ann-benchmarks' HDF5 files as datasets."""

from __future__ import annotations

from pathlib import Path

import h5py
import ir_measures
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.datasets.ann import AnnBenchmarksLoader, AnnParams
from harness.datasets.beir import load_beir_folder
from harness.embedders.vectors import GivenVectors, VectorsParams
from harness.errors import DatasetError
from tests.conftest import QUICK_TIMING, TINY_CORPUS, TINY_QUERIES, WriteBeir

runner = CliRunner()
DOC_IDS = [d["_id"] for d in TINY_CORPUS]
QUERY_IDS = [q["_id"] for q in TINY_QUERIES]


def _rows(ids: list[str], dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((len(ids), dim)).astype(np.float32)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _write(path: Path, ids: list[str], rows: np.ndarray) -> Path:
    """`rows` of `ids` in the format `path`'s suffix names, in reversed order (files need not
    follow the dataset's order)."""
    ids, rows = ids[::-1], rows[::-1]
    if path.suffix == ".npz":
        np.savez(path, ids=np.array(ids), vectors=rows)
    elif path.suffix == ".npy":
        np.save(path, rows)
        path.with_suffix(".ids").write_text("\n".join(ids) + "\n")
    elif path.suffix == ".parquet":
        table = pa.table({"doc": ids, "emb": pa.array(list(rows), pa.list_(pa.float32()))})
        pq.write_table(table, path)
    return path


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".parquet"])
def test_each_file_type_gives_the_rows_of_the_datasets_ids_in_its_order(
    tmp_path: Path, suffix: str
) -> None:
    documents, queries = _rows(DOC_IDS), _rows(QUERY_IDS, seed=1)
    extra = {"id_column": "doc", "vector_column": "emb"} if suffix == ".parquet" else {}
    ids = {}
    if suffix == ".npy":
        ids = {"documents_ids": tmp_path / "d.ids", "queries_ids": tmp_path / "q.ids"}
    given = GivenVectors(
        VectorsParams(
            documents=_write(tmp_path / f"d{suffix}", DOC_IDS, documents),
            queries=_write(tmp_path / f"q{suffix}", QUERY_IDS, queries),
            **ids,
            **extra,
        )
    )
    np.testing.assert_allclose(given.vectors(DOC_IDS, "document"), _unit(documents), rtol=1e-6)
    np.testing.assert_allclose(given.vectors(QUERY_IDS[:2], "query"), _unit(queries[:2]), 1e-6)
    dot = GivenVectors(given.params.model_copy(update={"similarity": "dot"}))
    np.testing.assert_array_equal(dot.vectors(DOC_IDS, "document"), documents)


def test_bad_vector_files_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    rows = _rows(DOC_IDS)
    npz = _write(tmp_path / "d.npz", DOC_IDS[:3], rows[:3])
    with pytest.raises(DatasetError, match=r"d.npz: no vector for 1 of the dataset's 4 .*'d4'"):
        GivenVectors(VectorsParams(documents=npz)).vectors(DOC_IDS, "document")
    np.save(tmp_path / "bare.npy", rows)
    with pytest.raises(DatasetError, match=r"bare.npy: a .npy file holds no ids; .*documents_ids"):
        GivenVectors(VectorsParams(documents=tmp_path / "bare.npy"))
    (tmp_path / "d.csv").write_text("x")
    with pytest.raises(DatasetError, match=r"d.csv: unknown vector file type"):
        GivenVectors(VectorsParams(documents=tmp_path / "d.csv"))
    with pytest.raises(DatasetError, match=r"gone.npz: document vectors not found"):
        GivenVectors(VectorsParams(documents=tmp_path / "gone.npz"))
    table = _write(tmp_path / "d.parquet", DOC_IDS, rows)
    with pytest.raises(
        DatasetError, match=r"no column 'id'; columns: doc, emb \(set 'id_column'\)"
    ):
        GivenVectors(VectorsParams(documents=table)).vectors(DOC_IDS, "document")
    np.savez(tmp_path / "nan.npz", ids=np.array(DOC_IDS), vectors=rows * np.nan)
    with pytest.raises(DatasetError, match=r"nan.npz: a document vector holds NaN"):
        GivenVectors(VectorsParams(documents=tmp_path / "nan.npz")).vectors(DOC_IDS, "document")
    np.savez(tmp_path / "short.npz", ids=np.array(DOC_IDS), vectors=rows[:2])
    with pytest.raises(DatasetError, match=r"short.npz: 4 ids for 2 rows"):
        GivenVectors(VectorsParams(documents=tmp_path / "short.npz")).vectors(DOC_IDS, "document")


def _suite(folder: Path, body: str) -> Path:
    path = folder / "suite.yaml"
    path.write_text(body + "metrics: [nDCG@10, R@3]\n" + QUICK_TIMING)
    return path


def test_a_run_on_given_vectors_scores_what_exact_search_on_them_scores(
    write_beir: WriteBeir, tmp_path: Path
) -> None:
    data = write_beir()
    dataset = load_beir_folder(data, name="tiny", split="test")
    documents, queries = _rows(DOC_IDS), _rows(QUERY_IDS, seed=1)
    _write(tmp_path / "d.npz", DOC_IDS, documents)
    _write(tmp_path / "q.npz", QUERY_IDS, queries)
    suite = _suite(
        tmp_path,
        f"name: given\ndatasets:\n  - {{name: tiny, path: {data}}}\nembedders:\n"
        f"  - {{name: mine, kind: vectors, documents: {tmp_path / 'd.npz'}, "
        f"queries: {tmp_path / 'q.npz'}}}\n"
        "  - {name: mine-1bit, kind: quantize, of: mine, precision: binary}\n"
        "indexes:\n  - {name: exact, kind: faiss-flat}\n",
    )
    result = runner.invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(tmp_path / "out" / "runs.parquet").set_index("embedder")
    # the reference: cosine scores of every document, ranked, scored by ir_measures directly
    scores = _unit(queries) @ _unit(documents).T
    run = [
        ir_measures.ScoredDoc(q, d, float(scores[i, j]))
        for i, q in enumerate(QUERY_IDS)
        for j, d in enumerate(DOC_IDS)
        if q in dataset.qrels
    ]
    qrels = [ir_measures.Qrel(q, d, r) for q, ds in dataset.qrels.items() for d, r in ds.items()]
    expected = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.R @ 3], qrels, run)
    assert rows.loc["mine", "nDCG@10"] == pytest.approx(expected[ir_measures.nDCG @ 10], abs=1e-9)
    assert rows.loc["mine", "R@3"] == pytest.approx(expected[ir_measures.R @ 3], abs=1e-9)
    assert rows.loc["mine", "model"] == "vectors:d.npz" and rows.loc["mine-1bit", "status"] == "ok"
    # nothing was encoded or timed on the query side: missing, never zero
    for figure in ("docs_per_s", "queries_per_s", "e2e_latency_p50_ms", "query_latency_p50_ms"):
        assert rows[figure].isna().all(), figure
    assert (rows["qps"] > 0).all() and rows["texts_encoded"].eq(0).all()


def _ann_file(path: Path, distance: str = "angular") -> Path:
    """A small ann-benchmarks file: clustered unit vectors, exact neighbours by inner product."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((20, 16))
    train = _unit(centres[rng.integers(0, 20, 2000)] + 0.4 * rng.standard_normal((2000, 16)))
    test = _unit(centres[rng.integers(0, 20, 50)] + 0.4 * rng.standard_normal((50, 16)))
    neighbours = np.argsort(-(test @ train.T), axis=1)[:, :100]
    with h5py.File(path, "w") as handle:
        handle.attrs["distance"] = distance
        handle["train"], handle["test"] = train.astype(np.float32), test.astype(np.float32)
        handle["neighbors"] = neighbours
    return path


def test_an_ann_benchmarks_file_runs_and_recall_agrees_with_ann_recall(tmp_path: Path) -> None:
    hdf5 = _ann_file(tmp_path / "clusters-16-angular.hdf5")
    suite = _suite(
        tmp_path,
        f"name: ann\ndatasets:\n  - {{name: clusters, loader: ann-benchmarks, path: {hdf5}, "
        "relevant: 10}\n"
        f"embedders:\n  - {{name: given, kind: vectors, documents: {hdf5}}}\n"
        "indexes:\n  - {name: exact, kind: faiss-flat}\n"
        "  - {name: hnsw, kind: faiss-hnsw, build: {M: 4, efConstruction: 8}, "
        "search: {efSearch: [1, 64]}}\n",
    )
    suite.write_text(suite.read_text().replace("R@3", "R@10"))
    result = runner.invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    exact = rows[rows["index"] == "exact"].iloc[0]
    assert exact["R@10"] == 1.0 and exact["n_queries"] == 50
    hnsw = rows[rows["index"] == "hnsw"].sort_values("R@10")
    assert hnsw["R@10"].iloc[0] < 0.9  # efSearch 1 on a graph of degree 4 misses neighbours
    # two computations of one quantity: R@10 against the file's neighbours, and harness's
    # ann_recall@10 against exact search on the same vectors
    np.testing.assert_allclose(hnsw["R@10"], hnsw["ann_recall@10"], atol=1e-9)


def test_an_ann_benchmarks_file_refuses_what_cannot_run_on_it(tmp_path: Path) -> None:
    euclidean = _ann_file(tmp_path / "e.hdf5", distance="euclidean")
    with pytest.raises(DatasetError, match=r"e.hdf5: distance 'euclidean'; .*inner product"):
        AnnBenchmarksLoader(AnnParams(path=euclidean)).load("e")
    with h5py.File(tmp_path / "partial.hdf5", "w") as handle:
        handle["train"] = np.zeros((3, 2), np.float32)
    with pytest.raises(DatasetError, match=r"no test, neighbors; ann-benchmarks' layout"):
        AnnBenchmarksLoader(AnnParams(path=tmp_path / "partial.hdf5")).load("p")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(DatasetError, match=r"text.hdf5: not an HDF5 file"):
        AnnBenchmarksLoader(AnnParams(path=tmp_path / "text.hdf5")).load("t")
    hdf5 = _ann_file(tmp_path / "a.hdf5")
    suite = _suite(
        tmp_path,
        f"name: ann\ndatasets:\n  - {{name: a, loader: ann-benchmarks, path: {hdf5}}}\n"
        "embedders:\n  - {name: bm25, kind: bm25}\n",
    )
    result = runner.invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "suite.yaml:3: datasets[0]: dataset 'a' holds vectors, not texts; embedder 'bm25'" in (
        result.output.replace("\n", "")
    )
