"""MTEB retrieval and re-ranking tasks by name (`{loader: mteb, task: SciFact}`).

The `mteb` package resolves the task: its dataset on the Hugging Face hub and pinned revision,
eval splits, main score, whether a document with the query's own id is dropped
(`ignore_identical_ids`, as for ArguAna) and the prompts it defines. The data are read by
mteb's own loader (`RetrievalDatasetLoader`), so documents, queries, qrels and candidate
lists (`top_ranked`) are what mteb evaluates: from the Hugging Face datasets cache, or from
`path:`, a local copy of the hub repository (its README's configs and data files). A
document is its title and text joined as MTEB joins them (and as BEIR does).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.datasets.base import LOADERS, Dataset, Qrels, join_title_text
from harness.datasets.beir import text_lines
from harness.errors import DatasetError
from harness.registry import did_you_mean, require

EXTRA = "'harness[mteb]'"
TASK_TYPES = ("Retrieval", "Reranking", "InstructionRetrieval", "InstructionReranking")
MAIN_SCORES = {"ndcg_at": "nDCG@", "recall_at": "R@", "mrr_at": "RR@", "map_at": "AP@"}
"""MTEB's score names -> the suite's metric strings (ndcg_at_10 -> nDCG@10)."""


class MtebParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1)
    """An MTEB task name, e.g. SciFact."""
    path: Path | None = None
    """A local copy of the task's hub repository; default: the Hugging Face datasets cache."""
    split: str | None = None
    """Default: the task's first eval split."""
    subset: str | None = None
    """A multilingual task's subset (language); default: the task's only one."""


@LOADERS.register("mteb")
class MtebLoader:
    Params = MtebParams

    def __init__(self, params: MtebParams) -> None:
        require("mteb", EXTRA, needed_by="the mteb dataset loader")
        self.params = params
        self.task = _task(params.task)
        meta = self.task.metadata
        if meta.type not in TASK_TYPES:
            raise DatasetError(
                f"MTEB task '{params.task}' is a {meta.type} task; harness runs "
                f"{', '.join(TASK_TYPES)} tasks"
            )
        self.split = params.split or meta.eval_splits[0]
        if self.split not in meta.eval_splits:
            raise DatasetError(
                f"MTEB task '{params.task}' has no eval split '{self.split}'; its eval splits: "
                f"{', '.join(meta.eval_splits)}"
            )
        subsets = list(meta.eval_langs) if isinstance(meta.eval_langs, dict) else ["default"]
        self.subset = params.subset or (subsets[0] if len(subsets) == 1 else "")
        if self.subset not in subsets:
            raise DatasetError(
                f"MTEB task '{params.task}': give 'subset', one of {', '.join(subsets)}"
            )
        if params.path is not None and not params.path.is_dir():
            raise DatasetError(
                f"{params.path}: not a folder; 'path' is a local copy of the hub repository "
                f"{meta.dataset['path']}"
            )
        self.ignore_identical_ids = bool(getattr(self.task, "ignore_identical_ids", False))

    def load(self, name: str) -> Dataset:
        import datasets
        import mteb
        from mteb.abstasks.retrieval_dataset_loaders import RetrievalDatasetLoader

        meta = self.task.metadata
        repo, revision = meta.dataset["path"], meta.dataset["revision"]
        source = str(self.params.path) if self.params.path is not None else repo
        logging.getLogger("mteb").setLevel(logging.WARNING)
        datasets.disable_progress_bars()  # harness draws its own progress
        try:
            data = RetrievalDatasetLoader(
                hf_repo=source,
                revision=revision,
                split=self.split,
                config=None if self.subset == "default" else self.subset,
            ).load()
        except Exception as err:  # datasets raises many kinds; each means the data are not here
            raise DatasetError(self._unreadable(err)) from None
        documents = {
            str(row["id"]): join_title_text(row.get("title") or "", row["text"] or "")
            for row in data["corpus"]
        }
        queries = {str(row["id"]): str(row["text"]) for row in data["queries"]}
        qrels = _qrels(data["relevant_docs"], documents, queries, self.params.task)
        query_ids = [q for q in queries if q in qrels]
        prompt = meta.prompt
        return Dataset(
            name=name,
            split=self.split,
            doc_ids=list(documents),
            doc_texts=list(documents.values()),
            query_ids=query_ids,
            query_texts=[queries[q] for q in query_ids],
            qrels=qrels,
            source=source,
            candidates=_candidates(data.get("top_ranked"), documents, self.params.task),
            provenance={
                "loader": "mteb",
                "mteb_task": meta.name,
                "mteb_version": mteb.__version__,
                "dataset_path": repo,
                "dataset_revision": revision,
                "read_from": "local copy" if self.params.path else "Hugging Face datasets cache",
                "eval_split": self.split,
                "subset": self.subset,
                "main_score": meta.main_score,
                "main_metric": main_metric(meta.main_score),
                "task_type": meta.type,
                **({"prompts": json.dumps(prompt, sort_keys=True)} if prompt else {}),
            },
        )

    def _unreadable(self, err: Exception) -> str:
        problem = (str(err).splitlines() or [type(err).__name__])[0][:160]
        meta = self.task.metadata
        if self.params.path is not None:
            return (
                f"{self.params.path}: not readable as the hub repository {meta.dataset['path']} "
                f"({type(err).__name__}: {problem}); it needs the repository's README.md "
                "(configs corpus, queries and default with the qrels) and its data files"
            )
        cache = os.environ.get("HF_DATASETS_CACHE", "~/.cache/huggingface/datasets")
        return (
            f"MTEB task '{meta.name}': {meta.dataset['path']} at revision "
            f"{meta.dataset['revision'][:12]} is not in the Hugging Face datasets cache ({cache}) "
            f"and the hub cannot be reached ({type(err).__name__}); load it once online "
            "(harness fetch), or give path: a local copy of the hub repository"
        )


def main_metric(main_score: str) -> str:
    """The suite's metric string for an MTEB main score (ndcg_at_10 -> nDCG@10); '' if none."""
    for prefix, metric in MAIN_SCORES.items():
        if main_score.startswith(prefix + "_"):
            return metric + main_score.removeprefix(prefix + "_")
    return ""


def _task(name: str) -> Any:
    import mteb

    try:
        return mteb.get_task(name)
    except (KeyError, ValueError):
        types: Any = list(TASK_TYPES)
        names = [t.metadata.name for t in mteb.get_tasks(task_types=types)]
        raise DatasetError(
            f"'{name}' is not an MTEB retrieval task.{did_you_mean(name, names)} "
            "`harness datasets` lists them"
        ) from None


def _qrels(
    relevant: Mapping[str, Mapping[str, int]],
    documents: dict[str, str],
    queries: dict[str, str],
    task: str,
) -> Qrels:
    qrels: Qrels = {}
    for query_id, judged in relevant.items():
        if query_id not in queries:
            raise DatasetError(
                f"MTEB task '{task}': qrels name query '{query_id}', which its queries lack"
            )
        for doc_id in judged:
            if doc_id not in documents:
                raise DatasetError(
                    f"MTEB task '{task}': qrels name document '{doc_id}', which its corpus lacks"
                )
        if judged:
            qrels[str(query_id)] = {str(d): int(g) for d, g in judged.items()}
    if not qrels:
        raise DatasetError(f"MTEB task '{task}': the split has no qrels")
    return qrels


def _candidates(
    top_ranked: Mapping[str, list[str]] | None, documents: dict[str, str], task: str
) -> dict[str, list[str]]:
    if not top_ranked:
        return {}
    unknown = {d for docs in top_ranked.values() for d in docs} - set(documents)
    if unknown:
        raise DatasetError(
            f"MTEB task '{task}': top_ranked names {len(unknown)} documents its corpus lacks "
            f"(e.g. '{sorted(unknown)[0]}')"
        )
    return {str(q): [str(d) for d in docs] for q, docs in top_ranked.items()}


HUB_README = """---
configs:
- config_name: default
  data_files:
{qrels}
- config_name: corpus
  data_files:
  - split: corpus
    path: corpus.jsonl
- config_name: queries
  data_files:
  - split: queries
    path: queries.jsonl
{top_ranked}---
A BEIR-layout collection in the layout of MTEB's hub repositories (written by harness).
"""


def write_hub_copy(
    beir_folder: Path, out: Path, top_ranked: dict[str, list[str]] | None = None
) -> Path:
    """A BEIR folder as a local copy in the layout of MTEB's hub repositories (mteb/scifact):
    the same corpus.jsonl and queries.jsonl, the qrels as qrels/<split>.jsonl (one JSON builder
    reads every config, as on the hub) and a README declaring the configs `corpus`, `queries`
    and `default` (the qrels, a split per file); with `top_ranked` (query id -> candidate ids),
    a re-ranking task's `top_ranked` config too."""
    splits = sorted(p.stem for p in (beir_folder / "qrels").glob("*.tsv"))
    if not splits or not (beir_folder / "corpus.jsonl").is_file():
        raise DatasetError(f"{beir_folder}: not a BEIR folder (corpus.jsonl, qrels/<split>.tsv)")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        shutil.copyfile(beir_folder / name, out / name)
    for split in splits:
        rows = []
        for _, line in text_lines(beir_folder / "qrels" / f"{split}.tsv"):
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) == 4:
                cols = [cols[0], cols[2], cols[3]]
            if len(cols) == 3 and cols[2].strip().lstrip("-").isdigit():
                query, doc, score = (c.strip() for c in cols)
                rows.append(json.dumps({"query-id": query, "corpus-id": doc, "score": int(score)}))
        (out / "qrels" / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    qrels = "\n".join(f"  - split: {s}\n    path: qrels/{s}.jsonl" for s in splits)
    candidates = ""
    if top_ranked is not None:
        rows = [json.dumps({"query-id": q, "corpus-ids": docs}) for q, docs in top_ranked.items()]
        (out / "top_ranked.jsonl").write_text("\n".join(rows) + "\n")
        candidates = (  # one split: mteb reads a config's only split for any eval split
            "- config_name: top_ranked\n  data_files:\n  - split: top_ranked\n"
            "    path: top_ranked.jsonl\n"
        )
    (out / "README.md").write_text(HUB_README.format(qrels=qrels, top_ranked=candidates))
    return out
