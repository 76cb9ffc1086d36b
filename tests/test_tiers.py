"""Small validated tiers (`harness shrink`, `harness validate-tier`) and slices
(`harness slices`) through the command line, on real Cranfield with BM25 systems."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from harness.cli import app
from harness.datasets.beir import load_beir_folder
from tests.conftest import QUICK_TIMING

SYSTEMS = [  # four BM25 variants that differ in quality on Cranfield
    "{name: bm25, kind: bm25}",
    "{name: bm25-b1, kind: bm25, b: 1.0}",
    "{name: bm25-nostem, kind: bm25, stemmer: null}",
    "{name: bm25-k0, kind: bm25, k1: 0.1, b: 0.1}",
]


def _suite(folder: Path, data: Path, name: str, extra: str = "") -> Path:
    embedders = "\n".join(f"  - {s}" for s in SYSTEMS)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndatasets:\n  - {{name: cranfield, path: {data}{extra}}}\n"
        f"embedders:\n{embedders}\nindexes: []\nmetrics: [nDCG@10, R@100]\n{QUICK_TIMING}"
    )
    return path


def _run(suite: Path, out: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("full")
    _run(_suite(folder, data_dir / "cranfield", "full"), folder / "results")
    return folder / "results"


def test_shrink_keeps_sampled_queries_their_judgments_and_the_pooled_top_documents(
    full: Path, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tier"
    args = ["shrink", str(data_dir / "cranfield"), "--queries", "20", "--pool", str(full)]
    result = CliRunner().invoke(app, [*args, "--depth", "10", "--out", str(out), "--seed", "7"])
    assert result.exit_code == 0, result.output
    source = load_beir_folder(data_dir / "cranfield", name="c", split="test")
    tier = load_beir_folder(out, name="t", split="test")
    assert len(tier.query_ids) == 20 and set(tier.query_ids) <= set(source.query_ids)
    for query in tier.query_ids:  # every judgment of a sampled query, unchanged
        assert tier.qrels[query] == source.qrels[query]
    texts = dict(zip(source.doc_ids, source.doc_texts, strict=True))
    assert all(texts[d] == t for d, t in zip(tier.doc_ids, tier.doc_texts, strict=True))
    pooled = set()  # each pooled run's top 10 of each sampled query, read from its run file
    for trec in sorted((full / "trec").rglob("*.trec")):
        run = pd.read_csv(trec, sep=" ", header=None, names=["q", "z", "d", "rank", "s", "t"])
        run = run[run["q"].astype(str).isin(tier.query_ids)]
        pooled |= set(run[run["rank"] <= 10]["d"].astype(str))
    judged = {d for q in tier.query_ids for d in source.qrels[q]}
    assert set(tier.doc_ids) == judged | pooled
    assert tier.doc_ids == [d for d in source.doc_ids if d in set(tier.doc_ids)]  # source order
    made = json.loads((out / "tier.json").read_text())
    assert made["queries"] == 20 and len(made["runs"]) == len(SYSTEMS)
    assert made["fingerprint"] == tier.fingerprint and made["seed"] == 7
    again = tmp_path / "again"  # the same seed samples the same queries
    args[-1] = str(full)
    CliRunner().invoke(app, [*args, "--depth", "10", "--out", str(again), "--seed", "7"])
    assert load_beir_folder(again, name="a", split="test").fingerprint == tier.fingerprint


def test_validate_tier_measures_rank_agreement_with_bootstrap_intervals(
    full: Path, data_dir: Path, tmp_path: Path
) -> None:
    tier = tmp_path / "tier"
    shrink = ["shrink", str(data_dir / "cranfield"), "--queries", "60", "--pool", str(full)]
    assert CliRunner().invoke(app, [*shrink, "--out", str(tier)]).exit_code == 0
    _run(_suite(tmp_path, tier, "tier"), tmp_path / "tier-results")
    report = tmp_path / "tier.md"
    result = CliRunner().invoke(
        app,
        ["validate-tier", str(full), str(tmp_path / "tier-results"), "--markdown", str(report)],
    )
    assert result.exit_code == 0, result.output
    full_rows = pd.read_parquet(full / "runs.parquet").set_index("embedder")["nDCG@10"]
    tier_rows = pd.read_parquet(tmp_path / "tier-results" / "runs.parquet")
    tier_scores = tier_rows.set_index("embedder")["nDCG@10"].loc[full_rows.index]
    tau = stats.kendalltau(full_rows, tier_scores).statistic
    mae = float(np.mean(np.abs(tier_scores - full_rows)))
    text = report.read_text()
    assert f"Kendall's tau-b: {tau:.4f} [" in text
    assert f"mean absolute error: {mae:.4f} [" in text
    assert "queries: 60 of 225" in text
    for line in ("Kendall's tau-b", "Spearman's rho", "mean absolute error"):
        value, low, high = (float(x) for x in _numbers(text, line))
        assert -1 <= value <= 1 and -1 <= low <= high <= 1
    assert text.count("| bm25") == len(SYSTEMS)


def _numbers(text: str, label: str) -> list[str]:
    line = next(row for row in text.splitlines() if row.startswith(f"- {label}"))
    value, interval = line.split(": ", 1)[1].split(" [", 1)
    return [value, *interval.split("]")[0].split(", ")]


def test_slices_by_length_match_a_direct_computation(full: Path, data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["slices", str(full), "--by", "query_length", "--bins", "3"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(full / "slices" / "slices_query_length.csv")
    assert (full / "slices" / "slices_cranfield_query_length.png").is_file()
    source = load_beir_folder(data_dir / "cranfield", name="c", split="test")
    words = pd.Series([len(t.split()) for t in source.query_texts], index=source.query_ids)
    per_query = pd.read_parquet(full / "per_query.parquet")
    rows = pd.read_parquet(full / "runs.parquet")
    bm25 = rows.loc[rows["embedder"] == "bm25", "cell_id"].item()
    scores = per_query[(per_query["cell_id"] == bm25) & (per_query["measure"] == "nDCG@10")]
    scores = scores.set_index("query_id")["value"]
    mine = table[table["system"] == "bm25"].sort_values("bin_order")
    assert mine["queries"].sum() == len(source.query_ids)
    edges = np.quantile(words, [0, 1 / 3, 2 / 3, 1])
    first = words[words < edges[1]].index  # the first bin: [min, first tercile)
    assert mine["queries"].iloc[0] == len(first)
    assert mine["mean"].iloc[0] == pytest.approx(scores.loc[first].mean(), abs=1e-12)
    assert (mine["low"] <= mine["mean"]).all() and (mine["mean"] <= mine["high"]).all()


def test_slices_against_a_baseline_show_paired_differences(full: Path, data_dir: Path) -> None:
    args = ["slices", str(full), "--by", "query_length", "--bins", "3", "--against", "bm25"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(full / "slices" / "slices_query_length_vs_bm25.csv")
    assert (full / "slices" / "slices_cranfield_query_length_vs_bm25.png").is_file()
    assert set(table["system"]) == {
        f"{s} minus bm25" for s in ("bm25-b1", "bm25-nostem", "bm25-k0")
    }
    source = load_beir_folder(data_dir / "cranfield", name="c", split="test")
    words = pd.Series([len(t.split()) for t in source.query_texts], index=source.query_ids)
    first = words[words < np.quantile(words, 1 / 3)].index
    per_query = pd.read_parquet(full / "per_query.parquet")
    per_query = per_query[per_query["measure"] == "nDCG@10"]
    rows = pd.read_parquet(full / "runs.parquet").set_index("embedder")["cell_id"]

    def scores(embedder: str) -> pd.Series:
        return per_query[per_query["cell_id"] == rows[embedder]].set_index("query_id")["value"]

    differences = (scores("bm25-k0") - scores("bm25")).loc[first]
    mine = table[table["system"] == "bm25-k0 minus bm25"].sort_values("bin_order").iloc[0]
    assert mine["queries"] == len(first)
    assert mine["mean"] == pytest.approx(differences.mean(), abs=1e-12)
    assert mine["low"] <= mine["mean"] <= mine["high"]
    unknown = CliRunner().invoke(app, [*args[:-1], "nosuch"])
    assert unknown.exit_code == 2
    assert "error: --against 'nosuch': no such system on dataset 'cranfield'" in unknown.output


def test_slices_by_group_read_a_groups_file(data_dir: Path, tmp_path: Path) -> None:
    source = load_beir_folder(data_dir / "cranfield", name="c", split="test")
    groups = tmp_path / "groups.tsv"
    lines = [f"{q}\t{'even' if int(q) % 2 == 0 else 'odd'}" for q in source.query_ids]
    groups.write_text("query-id\tgroup\n" + "\n".join(lines) + "\n")
    suite = _suite(tmp_path, data_dir / "cranfield", "grouped", f", groups: {groups}")
    _run(suite, tmp_path / "out")
    result = CliRunner().invoke(app, ["slices", str(tmp_path / "out"), "--by", "group"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "slices" / "slices_group.csv")
    bm25 = table[table["system"] == "bm25"].set_index("bin")
    assert bm25.loc["even", "queries"] == sum(int(q) % 2 == 0 for q in source.query_ids)
    assert bm25.loc["odd", "queries"] == sum(int(q) % 2 == 1 for q in source.query_ids)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("1\tshort\tx\n", "expected 2 tab-separated columns (query-id, group)"),
        ("nope\tshort\n", "names none of the split's 225 judged queries"),
    ],
)
def test_a_malformed_groups_file_is_one_line_naming_it(
    data_dir: Path, tmp_path: Path, content: str, needle: str
) -> None:
    groups = tmp_path / "groups.tsv"
    groups.write_text(content)
    suite = _suite(tmp_path, data_dir / "cranfield", "bad", f", groups: {groups}")
    result = CliRunner().invoke(app, ["run", str(suite), "--out", str(tmp_path / "out")])
    lines = [line for line in result.output.splitlines() if "groups.tsv" in line]
    assert result.exit_code in (1, 2) and lines and needle in lines[0], result.output


def test_shrink_refuses_what_it_cannot_build(full: Path, data_dir: Path, tmp_path: Path) -> None:
    def shrink(*args: object) -> str:
        result = CliRunner().invoke(app, ["shrink", *map(str, args)])
        assert result.exit_code == 2, result.output
        return result.output

    assert "ask for at most that many" in shrink(data_dir / "cranfield", "--queries", "9999")
    other = shrink(data_dir / "cisi", "--pool", full, "--out", tmp_path / "t")
    assert "no finished cell of this dataset" in other and str(full) in other
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    assert "not empty" in shrink(data_dir / "cranfield", "--out", tmp_path / "busy")


def test_outputs_that_cannot_be_written_are_one_line(full: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["slices", str(full), "--out", str(blocker / "slices")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"error: --out {blocker / 'slices'}: cannot write" in result.output
