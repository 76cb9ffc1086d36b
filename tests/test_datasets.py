from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from harness.datasets.beir import BeirLoader, BeirParams, load_beir_folder
from harness.errors import DatasetError
from tests.conftest import TINY_QRELS, WriteBeir


def load(folder: Path, split: str = "test"):  # type: ignore[no-untyped-def]
    return load_beir_folder(folder, name="tiny", split=split)


def test_loads_judged_queries_and_joins_title_and_text_as_beir(write_beir: WriteBeir) -> None:
    ds = load(write_beir())
    assert ds.doc_ids == ["d1", "d2", "d3", "d4"]
    assert ds.doc_texts[0] == "Cats Cats are small domesticated carnivores."
    assert ds.doc_texts[2] == "The stock market fell sharply on Monday."  # empty title: stripped
    assert ds.query_ids == ["q1", "q2"]  # q3 has no judgment in the split
    assert ds.qrels == {"q1": {"d4": 2, "d1": 1}, "q2": {"d2": 1}}


def test_crlf_qrels_gz_corpus_and_fingerprint(write_beir: WriteBeir, tmp_path: Path) -> None:
    plain = load(write_beir("plain"))
    folder = write_beir("crlf", qrels={"test": TINY_QRELS.replace("\n", "\r\n")})
    corpus = folder / "corpus.jsonl"
    with gzip.open(folder / "corpus.jsonl.gz", "wt") as handle:
        handle.write(corpus.read_text())
    corpus.unlink()
    other = load(folder)
    assert other.qrels == plain.qrels
    assert other.fingerprint == plain.fingerprint  # same content, other encoding
    edited = write_beir("edited", qrels={"test": TINY_QRELS.replace("q2\td2\t1", "q2\td2\t2")})
    assert load(edited).fingerprint != plain.fingerprint
    assert load(edited).corpus_fingerprint == plain.corpus_fingerprint


def test_trec_format_qrels(write_beir: WriteBeir) -> None:
    ds = load(write_beir(qrels={"test": "q1 0 d4 2\nq2 0 d2 1\n"}))
    assert ds.qrels == {"q1": {"d4": 2}, "q2": {"d2": 1}}


def test_zip_archive(
    write_beir: WriteBeir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_beir("zipped")
    archive = Path(shutil.make_archive(str(tmp_path / "zipped"), "zip", tmp_path, "zipped"))
    ds = BeirLoader(BeirParams(path=archive)).load("zipped")
    assert ds.fingerprint == load(folder).fingerprint


BAD_INPUTS = [
    (
        {"corpus": '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": oops}\n'},
        r"corpus.jsonl:2: malformed JSON",
    ),
    (
        {"corpus": '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n'},
        r"corpus.jsonl:2: duplicate document id 'd1' \(first at line 1\)",
    ),
    (
        {"queries": '{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n'},
        r"queries.jsonl:2: duplicate query id 'q1'",
    ),
    ({"corpus": '{"title": "no id", "text": "a"}\n'}, r'corpus.jsonl:1: missing "_id"'),
    ({"corpus": '{"_id": "d1", "text": 7}\n'}, r'corpus.jsonl:1: "text" must be a string'),
    ({"corpus": "\n"}, r"corpus.jsonl: the corpus is empty"),
    (
        {"qrels": {"test": "query-id\tcorpus-id\tscore\nq1\tdX\t1\n"}},
        r"test.tsv:2: document 'dX' is not in the corpus",
    ),
    (
        {"qrels": {"test": "query-id\tcorpus-id\tscore\nqX\td1\t1\n"}},
        r"test.tsv:2: query 'qX' is not in the queries file",
    ),
    (
        {"qrels": {"test": "query-id\tcorpus-id\tscore\nq1\td1\thigh\n"}},
        r"test.tsv:2: score 'high' is not an integer",
    ),
    (
        {"qrels": {"test": "query-id\tcorpus-id\tscore\nq1\td1\n"}},
        r"test.tsv:2: expected 3 tab-separated columns",
    ),
    ({"qrels": {"test": "query-id\tcorpus-id\tscore\n"}}, r"split 'test' has no judgments"),
    ({"qrels": {"dev": TINY_QRELS}}, r"split 'test' not found; available splits: dev"),
]


@pytest.mark.parametrize(("override", "message"), BAD_INPUTS)
def test_malformed_inputs_name_file_and_line(
    write_beir: WriteBeir, override: dict[str, object], message: str
) -> None:
    with pytest.raises(DatasetError, match=message) as info:
        load(write_beir(**override))  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset not found"):
        BeirLoader(BeirParams(path=tmp_path / "nowhere"))


def test_matches_beir_generic_data_loader_on_scifact(data_dir: Path) -> None:
    """Our loader sees exactly what BEIR's loader sees, and joins text as BEIR's SentenceBERT."""
    from beir.datasets.data_loader import GenericDataLoader

    corpus, queries, qrels = GenericDataLoader(str(data_dir / "scifact")).load(split="test")
    ds = load_beir_folder(data_dir / "scifact", name="scifact", split="test")
    assert ds.qrels == qrels
    assert ds.query_ids == list(queries)
    assert ds.query_texts == list(queries.values())
    beir_join = {k: (d["title"] + " " + d["text"]).strip() for k, d in corpus.items()}
    assert dict(zip(ds.doc_ids, ds.doc_texts, strict=True)) == beir_join
    assert (len(ds.doc_ids), len(ds.query_ids), sum(map(len, ds.qrels.values()))) == (
        5183,
        300,
        339,
    )


@pytest.mark.parametrize(
    ("name", "docs", "queries"),
    [
        ("cranfield", 1400, 225),
        ("cisi", 1460, 76),
        ("cacm", 3204, 52),
        ("medline", 1033, 30),
        ("vaswani", 11429, 93),
        ("lisa", 5999, 35),
        ("nfcorpus", 3633, 323),
    ],
)
def test_every_shared_collection_loads_with_published_counts(
    data_dir: Path, name: str, docs: int, queries: int
) -> None:
    ds = load_beir_folder(data_dir / name, name=name, split="test")
    assert (len(ds.doc_ids), len(ds.query_ids)) == (docs, queries)
    assert json.dumps(ds.qrels)  # serialisable, ids are strings
