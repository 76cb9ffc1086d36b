"""Dense embedders through sentence-transformers, by hub id or local path."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.cache import folder_digest
from harness.embedders.base import EMBEDDERS, Progress, Side
from harness.embedders.models import ResolvedModel, load_error, resolve_model, weights_folder
from harness.embedders.runtimes import Backend, Forward, Precision, check_precision
from harness.errors import ComponentError
from harness.measure import timed
from harness.registry import ID_WHEN_SET


class SentenceTransformersParams(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    """Hugging Face hub id (kept in results) or a local folder."""
    similarity: Literal["auto", "cosine", "dot"] = "auto"
    """cosine normalises vectors (MTEB and BEIR's default); auto takes the model's own setting."""
    batch_size: Annotated[int, Field(gt=0)] | Literal["auto"] = 32
    """Texts per forward pass; auto: the fastest of 8 to 128 on a sample of the first texts
    encoded, measured and recorded (batch_size, batch_rates)."""
    max_seq_length: int | None = Field(None, gt=0)
    """Tokens kept per text; None keeps the model's configured length."""
    query_prompt: str = ""
    """Prefix added to every query, e.g. 'query: ' for E5 models."""
    document_prompt: str = ""
    device: str | None = None
    """cpu, cuda, mps; None picks the best available."""
    backend: Backend = Field("torch", json_schema_extra=ID_WHEN_SET)
    """torch, or the model's transformer exported to ONNX and run by onnx (ONNX Runtime) or
    openvino; tokenising and pooling stay the model's own."""
    precision: Precision = Field("fp32", json_schema_extra=ID_WHEN_SET)
    """torch: fp32, fp16, bf16; onnx: fp32, int8 (dynamic); openvino: fp32, fp16, bf16 (pinned)."""
    threads: int | None = Field(None, gt=0, json_schema_extra=ID_WHEN_SET)
    """Intra-op threads of ONNX Runtime or OpenVINO; None lets the runtime choose."""


_BATCHES_PER_CALL = 8  # batches per encode call: progress steps without losing throughput
AUTO_BATCH_SIZES = (8, 16, 32, 64, 128)
AUTO_SAMPLE = 128
"""Texts `batch_size: auto` times each candidate on, spread over the texts' lengths."""
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}
_CACHE_BACKENDS = {
    "torch": "sentence-transformers",
    "onnx": "sentence-transformers+onnxruntime",
    "openvino": "sentence-transformers+openvino",
}


@EMBEDDERS.register("sentence-transformers")
class SentenceTransformersEmbedder:
    family: ClassVar[Literal["dense"]] = "dense"
    Params = SentenceTransformersParams

    def __init__(self, params: SentenceTransformersParams) -> None:
        problem = check_precision(params.backend, params.precision)
        if problem is not None:
            raise ComponentError(f"model '{params.model}': {problem}")
        if params.backend != "torch":
            from harness.embedders.runtimes import require_runtime

            require_runtime(params.backend)
        self.params = params
        self._model: Any = None
        self._forward: Forward | None = None
        self._forwards: dict[int | None, Forward] = {}
        self._compiled: Callable[[int | None], Forward] | None = None
        self._batch_size = params.batch_size if isinstance(params.batch_size, int) else None
        self._batch_rates: dict[int, float] = {}
        self._resolved: ResolvedModel = resolve_model(params.model)
        self._similarity: str = params.similarity
        self._max_seq_length = params.max_seq_length
        if Path(self._resolved.location).is_dir():
            self._read_settings(Path(self._resolved.location))

    def _read_settings(self, folder: Path) -> None:
        """The model's own similarity and length, from its files: known without loading it."""
        native = _json(folder / "config_sentence_transformers.json").get("similarity_fn_name")
        self._resolve_similarity(str(native or "cosine"))
        if self._max_seq_length is None:
            self._max_seq_length = _json(folder / "sentence_bert_config.json").get("max_seq_length")

    def _resolve_similarity(self, native: str) -> None:
        if self._similarity != "auto":
            return
        if native not in ("cosine", "dot"):
            raise ComponentError(
                f"model '{self.params.model}' uses {native} similarity; harness indexes "
                "search by inner product: set similarity: cosine or dot"
            )
        self._similarity = native

    def load(self) -> None:
        resolved = self._resolved
        # imported here, not at the top: sentence-transformers takes ~11 s to import
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # harness draws its own progress bars
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        try:
            model = SentenceTransformer(resolved.location, device=self.params.device)
        except Exception as err:
            raise load_error(self.params.model, resolved, err) from None
        if self.params.max_seq_length is not None:
            model.max_seq_length = self.params.max_seq_length
        self._max_seq_length = model.max_seq_length
        self._resolve_similarity(str(model.similarity_fn_name or "cosine"))
        if self.params.backend != "torch":
            self._forward = self._exported(model)
        elif self.params.precision != "fp32":
            import torch

            model.to({"fp16": torch.float16, "bf16": torch.bfloat16}[self.params.precision])
        self._model = model

    def _exported(self, model: Any) -> Forward:
        from harness.embedders import runtimes

        params = self.params
        weights = folder_digest(Path(resolve_model(params.model).location))
        exported = runtimes.export(model, weights, int8=params.precision == "int8")
        device = str(model.device)

        def compiled(threads: int | None) -> Forward:
            return runtimes.forward(params.backend, exported, params.precision, threads, device)

        self._compiled = compiled
        self._forwards = {params.threads: compiled(params.threads)}
        return self._forwards[params.threads]

    def use_threads(self, threads: int | None) -> None:
        """Run on `threads` intra-op threads from now on (None: the `threads` setting); the
        runner times the query side on each cell's thread count. ONNX Runtime and OpenVINO
        fix their thread pool when a model is compiled, so there is one per count; torch
        follows harness.measure.thread_limit."""
        if self._forward is None or self._compiled is None:
            return
        count = self.params.threads if threads is None else threads
        if count not in self._forwards:
            self._forwards[count] = self._compiled(count)
        self._forward = self._forwards[count]

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> np.ndarray:
        if self._model is None:
            self.load()
        prompt = self.params.query_prompt if side == "query" else self.params.document_prompt
        batch_size = self.calibrate(texts, side)
        # Longest first, as sentence-transformers orders one call's texts, so batches hold
        # texts of similar length; then encode in batch-aligned slices for progress.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = batch_size * _BATCHES_PER_CALL
        vectors = np.empty((len(texts), self.dim()), dtype=np.float32)
        for start in range(0, len(texts), step):
            rows = order[start : start + step]
            vectors[rows] = self._call([texts[i] for i in rows], prompt, batch_size)
            if progress is not None:
                progress(len(rows))
        return vectors

    def calibrate(self, texts: Sequence[str], side: Side) -> int:
        """The batch size: as set, or (auto) the fastest of AUTO_BATCH_SIZES on a sample of
        `texts` spread over their lengths, measured once."""
        if self._batch_size is None:
            if self._model is None:
                self.load()
            prompt = self.params.query_prompt if side == "query" else self.params.document_prompt
            order = np.argsort([-len(t) for t in texts], kind="stable")
            picks = np.unique(np.linspace(0, len(order) - 1, AUTO_SAMPLE).astype(int))
            sample = [texts[i] for i in order[picks]]
            for size in AUTO_BATCH_SIZES:
                self._call(sample[:size], prompt, size)  # warm-up: first calls of a shape
                with timed() as watch:
                    self._call(sample, prompt, size)
                self._batch_rates[size] = len(sample) / max(watch.seconds, 1e-9)
            self._batch_size = max(self._batch_rates, key=lambda size: self._batch_rates[size])
        return self._batch_size

    def _call(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        encode = self._encode_call if self._forward is not None else self._model.encode
        vectors: np.ndarray = encode(
            texts,
            prompt=prompt or None,
            batch_size=batch_size,
            normalize_embeddings=self._similarity == "cosine",
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors

    def _encode_call(
        self,
        texts: list[str],
        *,
        prompt: str | None,
        batch_size: int,
        normalize_embeddings: bool,
        **_: Any,
    ) -> np.ndarray:
        """As SentenceTransformer.encode, with the transformer run by the exported graph: the
        model's own tokeniser, then its modules after the transformer (pooling, dense, ...)."""
        import torch

        assert self._forward is not None
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                features = self._model.preprocess(texts[start : start + batch_size], prompt=prompt)
                feed = {n: features[n].numpy() for n in self._forward.inputs}
                features["token_embeddings"] = torch.from_numpy(self._forward(feed))
                for module in list(self._model)[1:]:
                    features = module(features)
                pooled = features["sentence_embedding"].float()
                if normalize_embeddings:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out.append(pooled.numpy())
        return np.concatenate(out) if out else np.empty((0, self.dim()), dtype=np.float32)

    @property
    def encode_step(self) -> int | None:
        """Texts per encode call in the longest-first order: encoding runs of whole calls
        apart gives the same bytes as one encode (harness.plan.shard_rows). None while
        `batch_size: auto` is not measured yet."""
        return None if self._batch_size is None else self._batch_size * _BATCHES_PER_CALL

    def cache_key(self, side: Side) -> dict[str, Any]:
        self._resolved = weights_folder(self.params.model, self._resolved, self.load)
        location = Path(self._resolved.location)
        return {
            "backend": _CACHE_BACKENDS[self.params.backend],  # torch fp32 keys as before
            "dtype": _DTYPES[self.params.precision],
            "model": self.params.model,
            "weights": folder_digest(location),  # config, pooling and tokenizer files included
            "similarity": self.params.similarity,
            "max_seq_length": self.params.max_seq_length,
            "prompt": self.params.query_prompt if side == "query" else self.params.document_prompt,
            "side": side,
        }

    def dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "model": self.params.model,
            "similarity": self._similarity,
            "query_prompt": self.params.query_prompt,
            "document_prompt": self.params.document_prompt,
            "batch_size": self._batch_size or self.params.batch_size,
            "model_source": self._resolved.source,
            "max_seq_length": self._max_seq_length,
        }
        described |= {"backend": self.params.backend, "precision": self.params.precision}
        if self._batch_rates:  # batch_size: auto, as measured (texts per second by size)
            described["batch_rates"] = {str(k): round(v, 1) for k, v in self._batch_rates.items()}
        if self._forward is not None:
            described |= self._forward.describe()
        elif self._model is not None:  # not loaded when every vector came from the cache
            import torch

            described |= {
                "runtime": f"torch {torch.__version__}",
                "device": str(self._model.device),
            }
        return described


def _json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
