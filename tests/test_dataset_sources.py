"""MTEB tasks by name and ir_datasets ids: the same data as the BEIR folder (same fingerprint),
what MTEB itself computes, provenance recorded, and one-line errors for what is missing or
malformed."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.datasets.beir import load_beir_folder
from harness.datasets.irds import IrDatasetsLoader, IrDatasetsParams
from harness.datasets.mteb_task import MtebLoader, MtebParams, write_hub_copy
from harness.datasets.runs import top_of_run
from harness.errors import DatasetError
from harness.spec import load_suite
from tests.conftest import QUICK_TIMING

QUICKSTART = Path(__file__).resolve().parent.parent / "suites" / "data" / "quickstart"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _suite(tmp_path: Path, dataset: str, embedder: str = "{name: bm25, kind: bm25}") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"name: sources\ndatasets:\n  - {dataset}\nembedders:\n  - {embedder}\n"
        f"indexes:\n  - {{name: exact, kind: faiss-flat}}\nmetrics: [nDCG@10, R@100, RR@10]\n"
        f"{QUICK_TIMING}"
    )
    return path


def _error_line(output: str, *needles: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    assert all(needle in lines[0] for needle in needles), output
    return lines[0]


def _ran(suite: Path, out: Path) -> pd.Series:
    """The one row of a suite run into `out`, after checking the run succeeded."""
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out / "runs.parquet").iloc[0]


# --- MTEB ---


@pytest.fixture(scope="module")
def hub_scifact(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return write_hub_copy(data_dir / "scifact", tmp_path_factory.mktemp("hub") / "scifact")


def test_an_mteb_task_reads_the_same_data_as_the_beir_folder(
    hub_scifact: Path, data_dir: Path
) -> None:
    loader = MtebLoader(MtebParams(task="SciFact", path=hub_scifact))
    dataset = loader.load("scifact")
    beir = load_beir_folder(data_dir / "scifact", name="scifact", split="test")
    assert dataset.fingerprint == beir.fingerprint
    assert (len(dataset.doc_ids), len(dataset.query_ids)) == (5183, 300)
    recorded = dataset.provenance
    assert recorded["mteb_task"] == "SciFact" and recorded["eval_split"] == "test"
    assert recorded["dataset_revision"] == "d56462d0e63a25450459c4f213e49ffdb866f7f9"
    assert recorded["main_metric"] == "nDCG@10" and recorded["mteb_version"]
    assert "scientific claim" in json.loads(recorded["prompts"])["query"]


def test_the_task_s_identical_id_rule_and_main_score_come_from_mteb(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "{name: arguana, loader: mteb, task: ArguAna}"))
    assert suite.datasets[0].ignore_identical_ids  # ArguAna drops the query's own document
    suite = load_suite(
        _suite(tmp_path, "{name: a, loader: mteb, task: ArguAna, ignore_identical_ids: false}")
    )
    assert not suite.datasets[0].ignore_identical_ids  # the suite's word wins


def test_harness_equals_mteb_evaluate_on_the_same_local_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MiniLM, exact search: harness's nDCG@10, R@100 and MRR@10 equal mteb.evaluate's (a
    custom task on the same files) to 5 decimals."""
    from harness.crosscheck import mteb_scores

    reference = mteb_scores(QUICKSTART, "test", MINILM)
    embedder = f"{{name: minilm, kind: sentence-transformers, model: {MINILM}}}"
    row = _ran(_suite(tmp_path, f"{{name: q, path: {QUICKSTART}}}", embedder), tmp_path / "out")
    for ours, theirs in (
        ("nDCG@10", "ndcg_at_10"),
        ("R@100", "recall_at_100"),
        ("RR@10", "mrr_at_10"),
    ):
        assert round(row[ours], 5) == round(reference[theirs], 5), ours


def test_results_record_the_task_revision_and_mteb_version(
    hub_scifact: Path, tmp_path: Path
) -> None:
    suite = _suite(tmp_path, f"{{name: scifact, loader: mteb, task: SciFact, path: {hub_scifact}}}")
    row = _ran(suite, tmp_path / "out")
    recorded = json.loads(row["dataset_provenance"])
    assert recorded["mteb_task"] == "SciFact" and recorded["dataset_path"] == "mteb/scifact"
    assert recorded["dataset_revision"].startswith("d56462d0") and recorded["mteb_version"]


def test_an_mteb_task_missing_offline_is_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "{name: nfcorpus, loader: mteb, task: NFCorpus}")
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    error = pd.read_parquet(tmp_path / "out" / "runs.parquet")["error"].item()
    assert "MTEB task 'NFCorpus': mteb/nfcorpus at revision" in error and "\n" not in error
    assert "not in the Hugging Face datasets cache" in error
    assert "give path: a local copy of the hub repository" in error


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("{name: s, loader: mteb, task: SciFactt}", "Did you mean 'SciFact'?"),
        ("{name: s, loader: mteb, task: STS12}", "is a STS task"),
        ("{name: s, loader: mteb, task: SciFact, split: dev}", "no eval split 'dev'"),
        ("{name: s, loader: mteb, task: SciFact, path: /no/such}", "not a folder"),
    ],
)
def test_a_malformed_mteb_entry_is_a_suite_error_on_its_line(
    tmp_path: Path, entry: str, needle: str
) -> None:
    result = CliRunner().invoke(app, ["validate", str(_suite(tmp_path, entry))])
    assert result.exit_code == 2
    assert "suite.yaml:3" in _error_line(result.output, needle)


def test_a_local_copy_not_in_the_hub_layout_names_the_folder_and_what_it_needs(
    hub_scifact: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "corpus.jsonl").write_text((hub_scifact / "corpus.jsonl").read_text()[:2000])
    with pytest.raises(DatasetError, match=r"broken: not readable as the hub repository.*README"):
        MtebLoader(MtebParams(task="SciFact", path=broken)).load("s")


# --- ir_datasets ---


def _beir_zip(data_dir: Path, home: Path) -> str:
    """SciFact's release files zipped as BEIR ships them, where ir_datasets keeps the archive;
    returns its md5 (not the official zip's: the bytes of a zip depend on its writer)."""
    archive = home / "beir" / "scifact" / "source.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv"):
            zf.write(data_dir / "scifact" / name, f"scifact/{name}")
    return hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.fixture(scope="module")
def irds_home(data_dir: Path) -> tuple[Path, str]:
    home = Path(os.environ["IR_DATASETS_HOME"])
    return home, _beir_zip(data_dir, home)


def test_an_ir_datasets_id_reads_the_same_data_as_the_beir_folder(
    irds_home: tuple[Path, str], data_dir: Path, tmp_path: Path
) -> None:
    _, md5 = irds_home
    entry = f"{{name: scifact, loader: ir_datasets, id: beir/scifact/test, md5: {md5}}}"
    result = CliRunner().invoke(
        app, ["run", str(_suite(tmp_path, entry)), "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    (tmp_path / "b").mkdir()
    folder = _suite(tmp_path / "b", f"{{name: scifact, path: {data_dir / 'scifact'}}}")
    result = CliRunner().invoke(app, ["run", str(folder), "--out", str(tmp_path / "b" / "out")])
    assert result.exit_code == 0, result.output
    irds = pd.read_parquet(tmp_path / "a" / "runs.parquet").iloc[0]
    beir = pd.read_parquet(tmp_path / "b" / "out" / "runs.parquet").iloc[0]
    assert irds["dataset_fingerprint"] == beir["dataset_fingerprint"]
    for metric in ("nDCG@10", "R@100", "RR@10"):
        assert irds[metric] == beir[metric]
    recorded = json.loads(irds["dataset_provenance"])
    assert recorded["ir_datasets_id"] == "beir/scifact/test"
    assert recorded["md5:source.zip"] == md5 and recorded["md5_checked_against"] == "suite"


def test_an_archive_that_is_not_the_one_ir_datasets_names_is_refused(
    irds_home: tuple[Path, str],
) -> None:
    home, md5 = irds_home
    loader = IrDatasetsLoader(IrDatasetsParams(id="beir/scifact/test", home=home))
    with pytest.raises(DatasetError) as caught:
        loader.load("s")
    message = str(caught.value)
    assert "source.zip: md5 " + md5 in message
    assert "ir_datasets expects 5f7d1de60b170fc8027bb7898e2efca1" in message
    assert "harness fetch beir/scifact/test" in message and "\n" not in message


@pytest.mark.parametrize(
    ("dataset_id", "needle"),
    [
        ("beir/no-such/test", "unknown to ir_datasets"),
        ("beir/scifact", "has no qrels"),
        ("beir/nfcorpus/test", "source files missing"),
    ],
)
def test_ir_datasets_ids_that_cannot_load_are_one_line(
    irds_home: tuple[Path, str], dataset_id: str, needle: str
) -> None:
    home, _ = irds_home
    with pytest.raises(DatasetError, match=needle) as caught:
        IrDatasetsLoader(IrDatasetsParams(id=dataset_id, home=home)).load("s")
    assert "\n" not in str(caught.value)


# --- the catalogue ---


def test_the_catalogue_lists_beir_with_urls_md5s_and_what_is_here(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.datasets.catalogue import entries

    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    beir = {e.name: e for e in entries("beir")}
    assert len(beir) == 15 and beir["scifact"].md5 == "5f7d1de60b170fc8027bb7898e2efca1"
    assert beir["scifact"].url.endswith("/BEIR/datasets/scifact.zip")
    assert beir["scifact"].local == str(data_dir / "scifact")  # found under HARNESS_DATA_DIR
    assert beir["fever"].local == "" and beir["fever"].bytes == 1236988269
    result = CliRunner().invoke(app, ["datasets"])
    assert result.exit_code == 0 and "15 collections, " in result.output, result.output


def test_the_catalogue_finds_ir_datasets_files_and_mteb_tasks(
    irds_home: tuple[Path, str],
) -> None:
    from harness.datasets.catalogue import entries

    irds = {e.name: e for e in entries("ir_datasets")}
    assert irds["beir/scifact/test"].local.endswith("beir/scifact/source.zip")
    assert irds["beir/arguana"].local == ""
    mteb = {e.name: e for e in entries("mteb")}
    assert "huggingface.co/datasets/mteb/scifact@d56462d0e63a" in mteb["SciFact"].url
    assert "NFCorpus" in mteb and "SciDocsRR" in mteb  # retrieval and re-ranking tasks


def test_fetch_says_in_one_line_when_the_network_does_not_allow(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fetch", "nfcorpus"])
    assert result.exit_code == 1
    line = _error_line(result.output, "nfcorpus.zip: cannot download", "a89dba18a62ef92f7d323")
    assert "place it at" in line
    _error_line(CliRunner().invoke(app, ["fetch", "beir/nosuch"]).output, "unknown")
    assert CliRunner().invoke(app, ["fetch", "beir/nosuch"]).exit_code == 2


@pytest.fixture
def http_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on this machine serving a folder: (its URL, the folder)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "served"
    folder.mkdir()
    for variable in ("NO_PROXY", "no_proxy"):  # never through a proxy the environment names
        monkeypatch.setenv(variable, "127.0.0.1,localhost")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # no request lines
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def _zipped_quickstart(archive: Path) -> str:
    """The quickstart collection zipped as BEIR zips its sets (one top folder); its md5."""
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(QUICKSTART.rglob("*")):
            zf.write(path, Path("quickstart") / path.relative_to(QUICKSTART))
    return hashlib.md5(archive.read_bytes()).hexdigest()


def test_download_verifies_the_md5_and_keeps_only_a_whole_verified_file(
    http_folder: tuple[str, Path], tmp_path: Path
) -> None:
    from harness.datasets.catalogue import FetchError, download

    url, served = http_folder
    archive = served / "quickstart.zip"
    md5 = _zipped_quickstart(archive)
    target = tmp_path / "downloads" / "quickstart.zip"
    assert download(f"{url}/quickstart.zip", target, md5) == target
    assert target.read_bytes() == archive.read_bytes()
    archive.unlink()  # already there with its md5: kept, not fetched again
    assert download(f"{url}/quickstart.zip", target, md5) == target

    elsewhere = tmp_path / "elsewhere" / "quickstart.zip"
    archive.write_bytes(target.read_bytes() + b"damaged")
    with pytest.raises(FetchError, match=f"has md5 [0-9a-f]{{32}}, expected {md5}"):
        download(f"{url}/quickstart.zip", elsewhere, md5)
    with pytest.raises(FetchError, match=r"nowhere.zip: cannot download \(HTTPError"):
        download(f"{url}/nowhere.zip", elsewhere, md5)
    assert list(elsewhere.parent.iterdir()) == []  # no partial or unverified file left


def test_fetch_downloads_verifies_and_unpacks_a_beir_zip_where_the_catalogue_finds_it(
    http_folder: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness fetch` end to end against a server on this machine standing in for BEIR's."""
    from harness.datasets import catalogue

    url, served = http_folder
    md5 = _zipped_quickstart(served / "quickstart.zip")
    monkeypatch.setattr(catalogue, "BEIR_URL", url + "/{name}.zip")
    monkeypatch.setitem(catalogue.BEIR_PUBLIC, "quickstart", (md5, 0, "made for harness"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    result = CliRunner().invoke(app, ["fetch", "quickstart"])
    assert result.exit_code == 0, result.output
    local = {e.name: e.local for e in catalogue.entries("beir")}["quickstart"]
    assert local == str(tmp_path / "cache" / "datasets" / "downloads" / "quickstart")
    fetched = load_beir_folder(Path(local), name="q", split="test")
    assert fetched.fingerprint == load_beir_folder(QUICKSTART, name="q", split="test").fingerprint
    assert result.output.strip() == f"fetched quickstart: {local}"


# --- re-ranking collections ---

RERANK_METRICS = (("AP@1000", "map_at_1000"), ("RR@10", "mrr_at_10"), ("nDCG@10", "ndcg_at_10"))


def _rerank_suite(tmp_path: Path, dataset: str, embedders: list[str]) -> Path:
    path = tmp_path / "rerank.yaml"
    lines = "\n".join(f"  - {e}" for e in embedders)
    path.write_text(
        f"name: rerank\ndatasets:\n  - {dataset}\nembedders:\n{lines}\n"
        "indexes:\n  - {name: exact, kind: faiss-flat}\n"
        f"metrics: [{', '.join(m for m, _ in RERANK_METRICS)}, R@100]\n{QUICK_TIMING}"
    )
    return path


def _ranks_only_candidates(out: Path, candidates: dict[str, list[str]]) -> bool:
    """Whether every document the run in `out` ranked is one of its query's candidates."""
    for trec in (out / "trec").rglob("*.trec"):
        ranked = pd.read_csv(trec, sep=" ", header=None, dtype=str)
        if not all(d in candidates[q] for q, d in zip(ranked[0], ranked[2], strict=True)):
            return False
    return True


@pytest.fixture(scope="module")
def bm25_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BM25's run on the quickstart collection: the first stage whose lists get re-ranked."""
    folder = tmp_path_factory.mktemp("first-stage")
    suite = _rerank_suite(folder, f"{{name: q, path: {QUICKSTART}}}", ["{name: bm25, kind: bm25}"])
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(folder / "out")])
    assert result.exit_code == 0, result.output
    return next((folder / "out" / "trec").rglob("*.trec"))


def test_a_re_ranking_collection_ranks_only_each_query_s_candidates_as_mteb_does(
    bm25_run: Path, tmp_path: Path
) -> None:
    """MiniLM re-ranks BM25's top 5 of each query: harness's MAP, MRR@10 and nDCG@10 equal
    mteb.evaluate's with the same lists as `top_ranked`; BM25 re-ranking its own top 20 keeps
    its own top 10, so its nDCG@10 and MRR@10 equal its full retrieval's."""
    from harness.crosscheck import mteb_scores

    dataset = f"{{name: q, path: {QUICKSTART}, candidates: {bm25_run}, candidates_depth: 5}}"
    minilm = f"{{name: minilm, kind: sentence-transformers, model: {MINILM}}}"
    row = _ran(_rerank_suite(tmp_path, dataset, [minilm]), tmp_path / "out")
    assert row["index_kind"] == "candidates" and row["candidates_per_query"] <= 5
    candidates = top_of_run(bm25_run, 5)
    assert _ranks_only_candidates(tmp_path / "out", candidates)
    reference = mteb_scores(QUICKSTART, "test", MINILM, top_ranked=candidates)
    for ours, theirs in RERANK_METRICS:
        assert round(row[ours], 5) == round(reference[theirs], 5), ours

    dataset = f"{{name: q, path: {QUICKSTART}, candidates: {bm25_run}, candidates_depth: 20}}"
    own = _ran(_rerank_suite(tmp_path, dataset, ["{name: bm25, kind: bm25}"]), tmp_path / "own")
    full = pd.read_parquet(bm25_run.parents[2] / "runs.parquet").iloc[0]
    assert own["nDCG@10"] == full["nDCG@10"] and own["RR@10"] == full["RR@10"]
    assert own["dataset_fingerprint"] != full["dataset_fingerprint"]  # other lists, other cells


@pytest.mark.slow
@pytest.mark.parametrize(
    "embedder",
    [
        "{name: splade, kind: sparse, model: rasyosef/splade-tiny}",
        f"{{name: tokens, kind: multivector, model: {MINILM}}}",
    ],
)
def test_sparse_and_multivector_models_re_rank_candidates_as_they_score_them(
    embedder: str, tmp_path: Path
) -> None:
    """A learned sparse model (dot products of term weights) and a multi-vector one (MaxSim)
    re-ranking their own full retrieval's top 20 rank only those candidates and keep their own
    top 10: nDCG@10 and RR@10 equal their full retrieval's."""
    full_suite = _rerank_suite(tmp_path, f"{{name: q, path: {QUICKSTART}}}", [embedder])
    full = _ran(full_suite, tmp_path / "full")
    run = next((tmp_path / "full" / "trec").rglob("*.trec"))
    dataset = f"{{name: q, path: {QUICKSTART}, candidates: {run}, candidates_depth: 20}}"
    own = _ran(_rerank_suite(tmp_path, dataset, [embedder]), tmp_path / "own")
    assert own["index_kind"] == "candidates" and own["candidates_per_query"] <= 20
    assert round(own["nDCG@10"], 6) == round(full["nDCG@10"], 6)
    assert round(own["RR@10"], 6) == round(full["RR@10"], 6)
    assert _ranks_only_candidates(tmp_path / "own", top_of_run(run, 20))


def test_an_mteb_re_ranking_task_carries_its_candidate_lists(tmp_path: Path) -> None:
    docs = [json.loads(line)["_id"] for line in (QUICKSTART / "corpus.jsonl").open()]
    top_ranked = {"q25": docs[:3], "q26": docs[5:6]}
    hub = write_hub_copy(QUICKSTART, tmp_path / "hub", top_ranked=top_ranked)
    dataset = MtebLoader(MtebParams(task="SciFact", path=hub)).load("q")
    assert dataset.candidates == top_ranked


def test_a_bad_candidate_run_is_one_line_naming_it(tmp_path: Path) -> None:
    run = tmp_path / "run.trec"
    run.write_text("q25 Q0 nowhere 1 2.0 x\n")
    suite = _rerank_suite(
        tmp_path,
        f"{{name: q, path: {QUICKSTART}, candidates: {run}}}",
        ["{name: bm25, kind: bm25}"],
    )
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    error = pd.read_parquet(tmp_path / "out" / "runs.parquet")["error"].item()
    assert "run.trec: query 'q25' ranks document 'nowhere'" in error
    run.write_text("q25 nowhere 1\n")
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(tmp_path / "out2")])
    error = pd.read_parquet(tmp_path / "out2" / "runs.parquet")["error"].item()
    assert "run.trec:1: not a TREC run line" in error
