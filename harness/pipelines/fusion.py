"""Fusing the rankings of several first stages for one query: reciprocal rank fusion and convex
combination of normalised scores. Pure functions of the stages' hits; the runner times them.

Each stage's hits are its best `candidates`, in trec_eval's order (record.ranked), so a stage's
rank here is its rank in its TREC run file.

- RRF (Cormack et al. 2009): score(d) = sum over stages of weight / (k + rank of d), rank from
  1; a stage that did not retrieve d adds nothing.
- Convex: score(d) = sum over stages of weight * norm(score of d). `min-max` maps a stage's
  candidate scores onto [0, 1] (all equal: all 1); `z-score` subtracts their mean and divides
  by their standard deviation (population; all equal: all 0); `none` keeps them. A stage that
  did not retrieve d gives it its lowest normalised candidate score (0 for min-max).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.pipelines.settings import Fusion, Normalization
from harness.record import ranked

Hits = list[tuple[str, float]]
"""One stage's hits for one query, best first: (document id, score)."""


def candidates(ranking: dict[str, float], n: int) -> Hits:
    return ranked(ranking)[:n]


def fuse(stages: Sequence[Hits], fusion: Fusion, weights: Sequence[float]) -> dict[str, float]:
    """Every candidate document's fused score (unordered)."""
    if fusion.method == "rrf":
        return rrf(stages, weights, fusion.k)
    return convex(stages, weights, fusion.normalize)


def rrf(stages: Sequence[Hits], weights: Sequence[float], k: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for weight, hits in zip(weights, stages, strict=True):
        for rank, (doc, _) in enumerate(hits, start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return fused


def convex(
    stages: Sequence[Hits], weights: Sequence[float], normalize: Normalization
) -> dict[str, float]:
    normalized = [normalized_scores(hits, normalize) for hits in stages]
    floors = [min(n.values(), default=0.0) for n in normalized]
    docs = dict.fromkeys(doc for hits in stages for doc, _ in hits)
    return {
        doc: sum(
            w * n.get(doc, floor) for w, n, floor in zip(weights, normalized, floors, strict=True)
        )
        for doc in docs
    }


def normalized_scores(hits: Hits, normalize: Normalization) -> dict[str, float]:
    scores = np.array([s for _, s in hits], dtype=np.float64)
    if normalize == "min-max" and len(scores):
        low, high = scores.min(), scores.max()
        scores = (scores - low) / (high - low) if high > low else np.ones_like(scores)
    elif normalize == "z-score" and len(scores):
        spread = scores.std()
        scores = (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)
    return {doc: float(v) for (doc, _), v in zip(hits, scores, strict=True)}


def best(fused: dict[str, float], depth: int) -> dict[str, float]:
    """The `depth` best documents, in trec_eval's order."""
    return dict(ranked(fused)[:depth])
