"""Synthetic collections for scale: deterministic vectors, texts and distractors, written in the
layouts harness already reads (an ann-benchmarks HDF5 file, a BEIR folder).

- Vectors: shaped like real embeddings rather than isotropic Gaussian noise (which makes ANN
  search unrealistically hard): a mixture of Gaussian clusters in a space whose variance falls
  off as a power law over its dimensions, randomly rotated, unit length. Queries come from the
  same distribution; each query's relevant documents are its exact nearest neighbours, as in
  ann-benchmarks. `benchmarks/synth_calibration.py` compares its ANN difficulty with real GloVe.
- Texts: documents drawn from topics over a Zipf-distributed vocabulary of made-up words; each
  query is a few of one document's rarest terms, and that document is planted as its relevant
  one.
- Distractors: a real BEIR collection with its queries and judgements, plus N documents drawn
  from its own vocabulary and length distribution, none of them judged.

Everything is generated block by block from (seed, block) streams, so memory stays bounded and
the same arguments give the same bytes on every machine.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets.beir import load_beir_folder
from harness.errors import DatasetError
from harness.registry import require

BLOCK = 65_536
"""Rows (or documents) generated at once."""
NEIGHBOURS = 100
"""Exact neighbours stored per query, as ann-benchmarks stores them."""
DECAY = 0.8
"""Variance of the i-th latent dimension ~ i^-DECAY (effective rank well below the dimension)."""
SEPARATION = 0.8
"""Spread of cluster centres relative to the spread within a cluster. DECAY and SEPARATION are
set so that HNSW recall on 200K x 50 synthetic vectors matches real GloVe 6B.50d's
(benchmarks/synth_calibration.py)."""


@dataclass(frozen=True)
class VectorShape:
    """How synthetic vectors are distributed; the same shape and seed give the same vectors."""

    dim: int
    seed: int = 0
    clusters: int = 0
    """0: about the square root of the number of documents."""
    decay: float = DECAY
    separation: float = SEPARATION


class _Mixture:
    def __init__(self, shape: VectorShape, n_docs: int) -> None:
        rng = np.random.default_rng([shape.seed, 0])
        self.shape = shape
        clusters = shape.clusters or max(8, round(math.sqrt(n_docs)))
        self.scales = np.arange(1, shape.dim + 1, dtype=np.float64) ** (-shape.decay / 2)
        self.centres = rng.standard_normal((clusters, shape.dim)) * self.scales * shape.separation
        # cluster sizes follow a power law too: a few large topics, many small ones
        weights = 1.0 / np.arange(1, clusters + 1) ** 0.5
        self.weights = weights / weights.sum()
        self.rotation, _ = np.linalg.qr(rng.standard_normal((shape.dim, shape.dim)))

    def block(self, stream: int, index: int, rows: int) -> np.ndarray:
        rng = np.random.default_rng([self.shape.seed, stream, index])
        which = rng.choice(len(self.centres), size=rows, p=self.weights)
        points = self.centres[which] + rng.standard_normal((rows, self.shape.dim)) * self.scales
        rotated = (points @ self.rotation).astype(np.float32)
        rotated /= np.linalg.norm(rotated, axis=1, keepdims=True)
        return np.asarray(rotated, dtype=np.float32)


def vector_blocks(
    shape: VectorShape, n_docs: int, n_queries: int
) -> Iterator[tuple[str, int, np.ndarray]]:
    """('train' | 'test', first row, rows) blocks of the documents, then the queries."""
    mixture = _Mixture(shape, n_docs)
    for stream, name, total in ((1, "train", n_docs), (2, "test", n_queries)):
        for index, start in enumerate(range(0, total, BLOCK)):
            yield name, start, mixture.block(stream, index, min(BLOCK, total - start))


def write_vectors(path: Path, shape: VectorShape, n_docs: int, n_queries: int) -> None:
    """An ann-benchmarks file (train, test, neighbors, distances; distance 'angular')."""
    require("h5py", "'harness[hdf5]'", needed_by="harness synth vectors")
    import h5py

    from harness.evaluate import exact_neighbours

    if n_docs < 1 or n_queries < 1:
        raise DatasetError("synthetic vectors need at least one document and one query")
    depth = min(NEIGHBOURS, n_docs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.attrs["distance"] = "angular"
        handle.attrs["generator"] = json.dumps(
            {"harness": "synth vectors", "docs": n_docs, "queries": n_queries} | vars(shape)
        )
        sets = {
            "train": handle.create_dataset("train", (n_docs, shape.dim), np.float32),
            "test": handle.create_dataset("test", (n_queries, shape.dim), np.float32),
        }
        for name, start, rows in vector_blocks(shape, n_docs, n_queries):
            sets[name][start : start + len(rows)] = rows
        documents = np.asarray(sets["train"][:])  # the one full copy: exact search needs it
        queries = np.asarray(sets["test"][:])
        scores, ids = exact_neighbours(documents, queries, depth)
        handle["neighbors"] = ids.astype(np.int32)
        handle["distances"] = (1 - scores).astype(np.float32)  # angular: 1 - cosine


def _made_up_words(n: int, rng: np.random.Generator) -> list[str]:
    """`n` distinct pronounceable words (consonant-vowel syllables), none a real stopword."""
    consonants, vowels = list("bdfgklmnprstvz"), list("aeiou")
    words: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < n:
        syllables = rng.integers(2, 5)
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
        if word not in words:
            words.add(word)
            ordered.append(word)
    return ordered


@dataclass(frozen=True)
class TextShape:
    seed: int = 0
    vocabulary: int = 50_000
    topics: int = 200
    words_per_doc: int = 60
    words_per_query: int = 4


def write_texts(folder: Path, shape: TextShape, n_docs: int, n_queries: int) -> None:
    """A BEIR folder: synthetic documents, queries made of one document's rarest terms, that
    document planted as relevant (grade 1) in qrels/test.tsv."""
    if n_docs < 1 or not 1 <= n_queries <= n_docs:
        raise DatasetError("synthetic texts need 1 <= queries <= documents")
    rng = np.random.default_rng([shape.seed, 0])
    vocabulary = np.array(_made_up_words(shape.vocabulary, rng), dtype=object)
    zipf = 1.0 / np.arange(1, shape.vocabulary + 1)
    background = zipf / zipf.sum()
    # each topic prefers its own 200 words (a permutation of the vocabulary's ranks)
    topics = np.stack([rng.permutation(shape.vocabulary)[:200] for _ in range(shape.topics)])
    targets = np.sort(rng.choice(n_docs, size=n_queries, replace=False))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    doc_frequency = np.zeros(shape.vocabulary, np.int64)
    planted: dict[int, np.ndarray] = {}
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for index, start in enumerate(range(0, n_docs, BLOCK)):
            rows = min(BLOCK, n_docs - start)
            block = np.random.default_rng([shape.seed, 1, index])
            inside = {int(t) for t in targets[(targets >= start) & (targets < start + rows)]}
            for doc, words in enumerate(_documents(block, rows, shape, background, topics), start):
                doc_frequency[np.unique(words)] += 1
                if doc in inside:
                    planted[doc] = words
                text = " ".join(vocabulary[words])
                corpus.write(json.dumps({"_id": f"d{doc}", "title": "", "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for number, doc in enumerate(targets):
            terms = np.unique(planted[int(doc)])
            rarest = terms[np.argsort(doc_frequency[terms], kind="stable")][: shape.words_per_query]
            text = " ".join(vocabulary[rarest])
            queries.write(json.dumps({"_id": f"q{number}", "text": text}) + "\n")
    qrels = "".join(f"q{number}\td{doc}\t1\n" for number, doc in enumerate(targets))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)


def _documents(
    rng: np.random.Generator,
    n: int,
    shape: TextShape,
    background: np.ndarray,
    topic_words: np.ndarray,
) -> Iterator[np.ndarray]:
    """Word ids of `n` documents: half from the document's topic, half from the background."""
    lengths = np.maximum(5, rng.poisson(shape.words_per_doc, n))
    topics = rng.integers(0, len(topic_words), n)
    total = int(lengths.sum())
    from_topic = rng.random(total) < 0.5
    words = rng.choice(len(background), size=total, p=background)
    topical = topic_words[np.repeat(topics, lengths), rng.integers(0, topic_words.shape[1], total)]
    words[from_topic] = topical[from_topic]
    yield from np.split(words, np.cumsum(lengths)[:-1])


def write_distracted(
    source: Path, folder: Path, n_distractors: int, seed: int = 0, split: str = "test"
) -> None:
    """`source` (a BEIR folder) with the queries and judgements of its `split`, plus
    `n_distractors` documents (ids `synth-<n>`) drawn from its own word frequencies and
    document lengths, unjudged."""
    dataset = load_beir_folder(source, name=source.name, split=split)
    counts: Counter[str] = Counter()
    lengths = []
    for text in dataset.doc_texts:
        tokens = text.split()
        counts.update(tokens)
        lengths.append(len(tokens))
    words = np.array(list(counts), dtype=object)
    frequency = np.array(list(counts.values()), dtype=np.float64)
    frequency /= frequency.sum()
    taken = [doc_id for doc_id in dataset.doc_ids if doc_id.startswith("synth-")]
    if taken:
        raise DatasetError(f"{source}: already has a document id {taken[0]!r} like a distractor's")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for doc_id, text in zip(dataset.doc_ids, dataset.doc_texts, strict=True):
            corpus.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
        for index, start in enumerate(range(0, n_distractors, BLOCK)):
            rng = np.random.default_rng([seed, 3, index])
            rows = min(BLOCK, n_distractors - start)
            sizes = rng.choice(np.asarray(lengths), size=rows)
            drawn = words[rng.choice(len(words), size=int(sizes.sum()), p=frequency)]
            for number, chunk in enumerate(np.split(drawn, np.cumsum(sizes)[:-1]), start):
                text = " ".join(chunk)
                corpus.write(
                    json.dumps({"_id": f"synth-{number}", "title": "", "text": text}) + "\n"
                )
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for query_id, text in zip(dataset.query_ids, dataset.query_texts, strict=True):
            queries.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    judged = "".join(
        f"{q}\t{d}\t{grade}\n" for q, docs in dataset.qrels.items() for d, grade in docs.items()
    )
    (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + judged)
