"""MTEB's own evaluation of a local BEIR folder, to hold harness's figures against the field's:
`mteb.evaluate` on a custom retrieval task whose data are the folder's files (read here with
the json module, not by any harness loader), with a sentence-transformers model.

    mteb_scores(Path("scifact"), "test", "sentence-transformers/all-MiniLM-L6-v2")
    -> {"ndcg_at_10": 0.64508, "recall_at_100": 0.925, "mrr_at_10": ..., ...}
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from harness.datasets.beir import first_existing, split_qrels, text_lines
from harness.registry import require


def mteb_scores(
    folder: Path,
    split: str,
    model: str,
    top_ranked: dict[str, list[str]] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """MTEB's scores (its own names: ndcg_at_10, recall_at_100, mrr_at_10, ...) for `model` on
    the BEIR folder's split; `model` is a hub id (found offline as harness finds it) or a
    local folder. With `top_ranked` (query id -> candidate ids) MTEB re-ranks those."""
    require("mteb", "'harness[mteb]'", needed_by="the MTEB cross-check")
    import mteb
    from datasets import Dataset as HfDataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata
    from sentence_transformers import SentenceTransformer

    from harness.embedders.models import resolve_model

    corpus = [_json(line) for line in _lines(first_existing(folder, ["corpus.jsonl"]))]
    queries = [_json(line) for line in _lines(first_existing(folder, ["queries.jsonl"]))]
    qrels: dict[str, dict[str, int]] = {}
    for line in _lines(split_qrels(folder, split)):
        cols = line.split("\t")
        if cols[0].strip().lower() in {"query-id", "query_id", "qid"}:
            continue
        qrels.setdefault(cols[0].strip(), {})[cols[1].strip()] = int(cols[2])
    data: Any = {
        "corpus": HfDataset.from_list(
            [{"id": str(d["_id"]), "title": d.get("title", ""), "text": d["text"]} for d in corpus]
        ),
        "queries": HfDataset.from_list([{"id": str(q["_id"]), "text": q["text"]} for q in queries]),
        "relevant_docs": qrels,
        "top_ranked": top_ranked,
    }

    class LocalFolder(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name=f"harness-crosscheck-{folder.name}",
            description=f"The BEIR folder {folder}",
            dataset={"path": str(folder), "revision": "local"},
            type="Reranking" if top_ranked else "Retrieval",
            category="t2t",
            eval_splits=[split],
            eval_langs=["eng-Latn"],
            main_score="ndcg_at_10",
        )

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = {"default": {split: data}}
            self.data_loaded = True

    encoder = SentenceTransformer(resolve_model(model).location, device="cpu")
    with tempfile.TemporaryDirectory() as predictions:
        result = mteb.evaluate(
            encoder,
            LocalFolder(),
            cache=None,  # a local model has no name: a results cache would answer for another
            encode_kwargs={"batch_size": batch_size},
            prediction_folder=predictions,
            show_progress_bar=False,
        )
    return dict(result.task_results[0].scores[split][0])


def _lines(path: Path) -> list[str]:
    return [line for _, line in text_lines(path) if line.strip()]


def _json(line: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(line)
    return value
