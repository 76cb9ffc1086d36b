"""Issue 15's checks of the dataset sources, on the real collections:

1. Fidelity against MTEB itself: all-MiniLM-L6-v2 with exact search, nDCG@10, R@100 and
   MRR@10 by harness and by `mteb.evaluate` (a custom task on the same local files,
   harness.crosscheck), to 5 decimals: SciFact read by harness's `mteb` loader (task SciFact,
   from a local copy in the hub's layout) and Cranfield (a classic collection) from its folder.
2. ir_datasets: SciFact as `beir/scifact/test` (its release files zipped where ir_datasets
   keeps the archive) against the BEIR folder: fingerprints and every metric, MiniLM and BM25.
3. Slices: MiniLM and BM25 on SciFact by judged-document length and by query length.

    HARNESS_DATA_DIR=../shared/datasets python benchmarks/dataset_sources.py [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PAIRS = (("nDCG@10", "ndcg_at_10"), ("R@100", "recall_at_100"), ("RR@10", "mrr_at_10"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("build/dataset-sources"))
    args = parser.parse_args()
    work: Path = args.work.resolve()
    data = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "datasets"))
    home = work / "ir_datasets"
    os.environ |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "IR_DATASETS_HOME": str(home)}
    os.environ.setdefault("HF_DATASETS_CACHE", str(work / "hf-datasets"))
    fidelity(data, work)
    ir_datasets_equality(data, work, home)
    slices(work)


def fidelity(data: Path, work: Path) -> None:
    from harness.crosscheck import mteb_scores
    from harness.datasets.mteb_task import write_hub_copy

    hub = work / "hub-scifact"
    if not (hub / "README.md").is_file():
        write_hub_copy(data / "scifact", hub)
    cases = {
        "scifact (mteb loader, task SciFact)": (
            f"{{name: scifact, loader: mteb, task: SciFact, path: {hub}}}",
            data / "scifact",
        ),
        "cranfield (BEIR folder)": (
            f"{{name: cranfield, path: {data / 'cranfield'}}}",
            data / "cranfield",
        ),
    }
    print("## Fidelity: harness against mteb.evaluate, all-MiniLM-L6-v2, exact search\n")
    print("| collection | metric | harness | mteb | equal to 5 decimals |\n|---|---|---|---|---|")
    for label, (dataset, folder) in cases.items():
        name = folder.name
        ours = run(
            work,
            f"fidelity-{name}",
            [dataset],
            [f"{{name: minilm, kind: sentence-transformers, model: {MINILM}}}"],
        )
        theirs = mteb_scores(folder, "test", MINILM)
        row = ours.iloc[0]
        for metric, key in PAIRS:
            a, b = round(float(row[metric]), 5), round(float(theirs[key]), 5)
            print(f"| {label} | {metric} | {a:.5f} | {b:.5f} | {'yes' if a == b else 'NO'} |")
    print()


def ir_datasets_equality(data: Path, work: Path, home: Path) -> None:
    archive = home / "beir" / "scifact" / "source.zip"
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for member in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv"):
                zf.write(data / "scifact" / member, f"scifact/{member}")
    md5 = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
    embedders = [
        f"{{name: minilm, kind: sentence-transformers, model: {MINILM}}}",
        "{name: bm25, kind: bm25}",
    ]
    irds = run(
        work,
        "irds",
        [f"{{name: scifact, loader: ir_datasets, id: beir/scifact/test, md5: {md5}}}"],
        embedders,
    )
    folder = run(work, "beir-folder", [f"{{name: scifact, path: {data / 'scifact'}}}"], embedders)
    print("## ir_datasets beir/scifact/test against the BEIR folder\n")
    print(f"archive md5 {md5} (built from the release files; the official zip's is 5f7d1de6...)\n")
    print(
        "| system | fingerprint (ir_datasets) | fingerprint (folder) | nDCG@10 | R@100 | RR@10 | identical |"
    )
    print("|---|---|---|---|---|---|---|")
    for embedder in ("minilm", "bm25"):
        a = irds.set_index("embedder").loc[embedder]
        b = folder.set_index("embedder").loc[embedder]
        same = a["dataset_fingerprint"] == b["dataset_fingerprint"] and all(
            a[m] == b[m] for m, _ in PAIRS
        )
        print(
            f"| {embedder} | {a['dataset_fingerprint'][:12]} | {b['dataset_fingerprint'][:12]} | "
            f"{a['nDCG@10']:.4f} / {b['nDCG@10']:.4f} | {a['R@100']:.4f} / {b['R@100']:.4f} | "
            f"{a['RR@10']:.4f} / {b['RR@10']:.4f} | {'yes' if same else 'NO'} |"
        )
    print(f"\nprovenance: {json.loads(irds['dataset_provenance'].iloc[0])}\n")


def slices(work: Path) -> None:
    folder = work / "beir-folder" / "results"
    for by in ("doc_length", "query_length"):
        harness("slices", str(folder), "--by", by)
        print((folder / "slices" / f"slices_{by}.md").read_text())


def run(work: Path, name: str, datasets: list[str], embedders: list[str]) -> pd.DataFrame:
    suite = work / name / "suite.yaml"
    suite.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "datasets:",
        *(f"  - {d}" for d in datasets),
        "embedders:",
        *(f"  - {e}" for e in embedders),
    ]
    suite.write_text(
        f"name: {name}\n" + "\n".join(lines) + "\nindexes:\n  - {name: exact, kind: faiss-flat}\n"
        "metrics: [nDCG@10, R@100, RR@10]\n"
    )
    harness("run", str(suite), "--out", str(work / name / "results"))
    return pd.read_parquet(work / name / "results" / "runs.parquet")


def harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness", *args], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
