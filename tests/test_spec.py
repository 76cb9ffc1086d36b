from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.spec import load_suite
from tests.conftest import WriteBeir

WriteSuite = Callable[[str], Path]

MINIMAL = """\
name: beir-small
datasets:
  - {name: scifact, loader: beir, path: ${HARNESS_DATA_DIR}/scifact, split: test}
embedders:
  - {name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}
  - {name: bm25, kind: bm25}
indexes:
  - {name: exact, kind: faiss-flat}
  - {name: hnsw, kind: faiss-hnsw, build: {M: 32, efConstruction: 200}, search: [{efSearch: 16}, {efSearch: 64}, {efSearch: 256}]}
metrics: [nDCG@10, R@100, RR@10]
"""


def test_the_minimal_shape_from_the_issue_is_accepted(
    write_suite: WriteSuite, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    suite = load_suite(write_suite(MINIMAL))
    assert suite.k == 100  # deepest metric cutoff
    assert suite.metrics == ("nDCG@10", "R@100", "RR@10")
    cells = suite.cells()
    # minilm x (exact + 3 hnsw settings) + bm25 once: a lexical retriever has no index
    assert len(cells) == 5
    assert [c.index for c in cells if c.embedder == "bm25"] == [None]
    assert suite.datasets[0].params.path == data_dir / "scifact"  # type: ignore[attr-defined]


def test_relative_paths_resolve_against_the_suite_file(
    write_suite: WriteSuite, write_beir: WriteBeir
) -> None:
    write_beir("tiny")
    suite = load_suite(write_suite(_suite("tiny")))
    path = suite.datasets[0].params.path  # type: ignore[attr-defined]
    assert path.is_dir() and path.name == "tiny"


def test_search_grid_mapping_expands_to_the_product(
    write_suite: WriteSuite, write_beir: WriteBeir
) -> None:
    write_beir("tiny")
    suite = load_suite(
        write_suite(_suite("tiny", index="{name: h, kind: hnswlib, search: {ef: [10, 20, 40]}}"))
    )
    assert [c.search for c in suite.cells() if c.index == "h"] == [
        '{"ef":10}',
        '{"ef":20}',
        '{"ef":40}',
    ]


def test_env_default_expands(
    write_suite: WriteSuite, write_beir: WriteBeir, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_beir("tiny")
    monkeypatch.delenv("TINY_HOME", raising=False)
    suite = load_suite(write_suite(_suite("${TINY_HOME:-" + str(folder) + "}")))
    assert suite.datasets[0].params.path == folder  # type: ignore[attr-defined]


def _suite(path: str, index: str = "{name: exact, kind: faiss-flat}", extra: str = "") -> str:
    return f"""\
name: t
datasets:
  - {{name: tiny, path: {path}}}
embedders:
  - {{name: bm25, kind: bm25}}
  - {{name: minilm, kind: sentence-transformers, model: sentence-transformers/all-MiniLM-L6-v2}}
indexes:
  - {index}
metrics: [nDCG@10]
{extra}"""


BAD_SUITES = [
    # (what to replace in the valid suite, expected line, expected message)
    (("name: t", "name: t\nmetrix: [P@5]"), 2, r"unknown key 'metrix'\. Did you mean 'metrics'\?"),
    (
        ("kind: faiss-flat", "kind: hnsw"),
        8,
        r"unknown index kind 'hnsw'\. Did you mean 'hnswlib'\?",
    ),
    (("kind: bm25", "kind: bm52"), 5, r"unknown embedder kind 'bm52'\. Did you mean 'bm25'\?"),
    (
        ("path: tiny", "path: tiny, lodaer: beir"),
        3,
        r"unknown key 'lodaer'\. Did you mean 'loader'\?",
    ),
    (
        ("path: tiny", "path: tiny, loader: beer"),
        3,
        r"unknown dataset loader 'beer'\. Did you mean 'beir'\?",
    ),
    (("path: tiny", "path: missing"), 3, r"dataset not found"),
    (("kind: bm25}", "kind: bm25, k1: high}"), 5, r"k1: Input should be a valid number"),
    (("kind: bm25}", "kind: bm25, k_1: 1.2}"), 5, r"unknown key 'k_1'\. Did you mean 'k1'\?"),
    (
        ("kind: bm25}", "kind: bm25, stemmer: portr}"),
        5,
        r"unknown stemmer 'portr'; PyStemmer knows .*porter",
    ),
    (
        ("[nDCG@10]", "[nDGC@10]"),
        9,
        r"'nDGC@10' is not an ir-measures metric\. Did you mean 'nDCG@10'\?",
    ),
    (("[nDCG@10]", "[nDCG@10]\nk: 5"), 10, r"k=5 is below the deepest metric cutoff 10"),
    (("[nDCG@10]", "[nDCG@10]\nk: ten"), 10, r"Input should be a valid integer"),
    (("kind: faiss-flat}", "kind: faiss-flat, build: {M: 3}}"), 8, r"unknown key 'M'"),
    (
        ("kind: faiss-flat}", "kind: faiss-hnsw, search: [{ef: 3}]}"),
        8,
        r"unknown key 'ef'\. Did you mean 'efSearch'\?",
    ),
    (
        ("path: tiny", "path: ${NOT_SET_ANYWHERE}"),
        3,
        r"environment variable NOT_SET_ANYWHERE is not set",
    ),
    (("name: bm25,", "name: minilm,"), 6, r"duplicate name 'minilm'"),
    (("name: t", "name: t\nname: u"), 2, r"duplicate key 'name'"),
    (("metrics: [nDCG@10]", "metrics: [nDCG@10"), 10, r"invalid YAML"),
    (
        ("model: sentence-transformers/all-MiniLM-L6-v2", "model: nobody/no-such-model"),
        6,
        r"model 'nobody/no-such-model' is not a local path, not in the Hugging Face cache",
    ),
    (
        ("model: sentence-transformers/all-MiniLM-L6-v2", "model: ./no/such/folder"),
        6,
        r"model path '.*no/such/folder' does not exist",
    ),
    (("  - {name: exact, kind: faiss-flat}\n", ""), 7, r"indexes: Input should be a valid list"),
    (
        ("  - {name: bm25, kind: bm25}", "  - {name: small, kind: truncate, of: minlm, dim: 64}"),
        5,
        r"embedders\[0\]\.of: 'minlm' is not a dense embedder of this suite\. Did you mean 'minilm'\?",
    ),
    (("name: t", "name: t\nthreads: 0"), 2, r"threads: threads must be a whole number >= 1"),
    (("name: t", "name: t\nthreads: [1, 2, 1]"), 2, r"a thread count appears twice"),
    (("name: t", "name: t\nthreads: yes"), 2, r"threads must be a whole number"),
    (
        ("kind: faiss-flat}", "kind: faiss-flat, threads: [0]}"),
        8,
        r"indexes\[0\]\.threads: threads must be a whole number >= 1",
    ),
    (
        ("name: t", "name: t\ntiming: {latency_sample: 10}"),
        2,
        r"timing\.latency_sample: unknown key 'latency_sample'\. Did you mean 'latency_samples'",
    ),
    (
        ("name: t", "name: t\ntiming: {budget_s: 0}"),
        2,
        r"timing\.budget_s: Input should be greater",
    ),
]


@pytest.mark.parametrize(("replace", "line", "message"), BAD_SUITES)
def test_bad_suites_fail_with_file_line_and_fix(
    write_suite: WriteSuite,
    write_beir: WriteBeir,
    replace: tuple[str, str],
    line: int,
    message: str,
) -> None:
    write_beir("tiny")
    text = _suite("tiny")
    assert replace[0] in text
    path = write_suite(text.replace(replace[0], replace[1], 1))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    error = str(info.value)
    assert "\n" not in error
    assert error.startswith(f"{path}:{line}: "), error
    assert re.search(message, error), error


def test_dense_embedder_without_index_is_an_error(
    write_suite: WriteSuite, write_beir: WriteBeir
) -> None:
    write_beir("tiny")
    text = _suite("tiny").replace("indexes:\n  - {name: exact, kind: faiss-flat}\n", "")
    with pytest.raises(
        SuiteError, match=r":6: embedders\[1\]: dense embedder 'minilm' needs an index"
    ):
        load_suite(write_suite(text))


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")


def test_shipped_suites_validate(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    for path in sorted(Path(__file__).parent.parent.glob("suites/*.yaml")):
        assert load_suite(path).cells(), path


def test_threads_sweep_a_suite_and_an_index_sets_its_own(
    write_suite: WriteSuite, write_beir: WriteBeir
) -> None:
    write_beir("tiny")
    two = "{name: exact, kind: faiss-flat}\n  - {name: one, kind: faiss-flat, threads: 1}"
    suite = load_suite(write_suite(_suite("tiny", index=two, extra="threads: [1, 2]\n")))
    keys = [c.key for c in suite.cells()]
    assert keys == [
        "tiny/bm25/-/-",
        "tiny/bm25/-/-/threads=2",
        "tiny/minilm/exact/-",
        "tiny/minilm/exact/-/threads=2",
        "tiny/minilm/one/-",
    ]
    ids = {c.key: suite.cell_id(c, "f" * 64) for c in suite.cells()}
    assert len(set(ids.values())) == 5  # threads enter the id ...
    default = load_suite(write_suite(_suite("tiny")))
    # ... but single-threaded cells keep the ids they had before threads were a setting
    assert ids["tiny/bm25/-/-"] == default.cell_id(default.cells()[0], "f" * 64)
    assert suite.timing.latency_samples == 1000 and suite.timing.rounds == 1


def test_quantised_codes_in_an_index_of_wider_values_warn_at_validation(
    write_suite: WriteSuite, write_beir: WriteBeir
) -> None:
    write_beir("tiny")
    codes = "{name: bits, kind: quantize, of: minilm, precision: binary}"
    indexes = "{name: exact, kind: faiss-flat}\n  - {name: hamming, kind: faiss-binary}"
    text = _suite("tiny", index=indexes).replace(
        "  - {name: bm25, kind: bm25}", "  - {name: bm25, kind: bm25}\n  - " + codes
    )
    path = write_suite(text)
    (warning,) = load_suite(path).warnings
    assert warning.startswith(f"{path}:6: 'bits' stores 1-bit codes per dimension")
    assert "'exact' (faiss-flat, 32 bits)" in warning and "hamming" not in warning
    assert load_suite(write_suite(_suite("tiny"))).warnings == ()


def test_cell_ids_are_stable(write_suite: WriteSuite, write_beir: WriteBeir) -> None:
    """Ids name stored results: a change to how they are computed orphans every result."""
    write_beir("tiny")
    suite = load_suite(write_suite(_suite("tiny")))
    ids = [suite.cell_id(c, "f" * 64) for c in suite.cells()]
    assert ids == [  # as computed by harness at commit 71df910, before insertion orders
        "tiny.bm25.lexical.bbad07fb1a0faee4",
        "tiny.minilm.exact.60f5f330e196b82d",
    ]
