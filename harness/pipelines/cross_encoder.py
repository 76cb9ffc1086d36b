"""Re-ranking by a cross-encoder (sentence-transformers `CrossEncoder`): each candidate scored
with its query, read together by one model. The model loads like any other (local path,
Hugging Face cache, hub when online: harness.embedders.models)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.embedders.models import resolve_model
from harness.measure import timed
from harness.pipelines.fusion import Hits, best
from harness.pipelines.settings import CrossEncoderParams
from harness.registry import require
from harness.runner import CellGroup


def by_cross_encoder(
    group: CellGroup,
    params: CrossEncoderParams | None,
    first: list[Hits],
    depth: int,
    cost: dict[str, float],
) -> tuple[Any, dict[str, float], dict[str, Any]]:
    assert params is not None
    require("sentence_transformers", "'harness[minilm]'", needed_by="cross-encoder re-ranking")
    resolved = resolve_model(params.model)
    with timed() as load:
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(resolved.location, device="cpu", max_length=params.max_length)
    dataset = group.dataset
    position = {doc: i for i, doc in enumerate(dataset.doc_ids)}
    queries, documents = dataset.query_texts, dataset.doc_texts

    def rerank(rows: np.ndarray) -> list[dict[str, float]]:
        pairs = [(queries[i], documents[position[doc]]) for i in rows for doc, _ in first[i]]
        scores = (
            model.predict(pairs, batch_size=params.batch_size, show_progress_bar=False)
            if pairs
            else np.empty(0)
        )
        out, start = [], 0
        for i in rows:
            hits = first[i]
            row = scores[start : start + len(hits)]
            start += len(hits)
            out.append(best({d: float(s) for (d, _), s in zip(hits, row, strict=True)}, depth))
        return out

    described = {
        "cross_encoder": params.model,
        "cross_encoder_source": resolved.source,
        "batch_size": params.batch_size,
        "max_length": model.max_seq_length,
    }
    return rerank, cost | {"model_load_s": load.seconds}, described
