"""A sentence-transformers model's transformer run by ONNX Runtime or OpenVINO instead of PyTorch.

`export` writes the loaded model's transformer (token ids -> token embeddings) to ONNX once,
offline, with `torch.onnx.export` (opset 17, the TorchScript exporter), into the cache keyed by
the model files' digest and the export settings. `forward` runs it. Tokenising, pooling
(mean, CLS, last token, as the model's own modules say) and normalising stay the model's own
sentence-transformers modules, so only the transformer's arithmetic changes.

Precision is explicit: ONNX Runtime runs fp32, or int8 (dynamic quantisation of the exported
weights); OpenVINO runs with its inference precision pinned (fp32 by default; its default on
CPUs with AMX or avx512_bf16 is bf16, which changes rankings).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from harness.cache import key_digest, root
from harness.errors import ComponentError

Backend = Literal["torch", "onnx", "openvino"]
Precision = Literal["fp32", "fp16", "bf16", "int8"]
OPSET = 17
PRECISIONS: dict[Backend, tuple[Precision, ...]] = {
    "torch": ("fp32", "fp16", "bf16"),
    "onnx": ("fp32", "int8"),
    "openvino": ("fp32", "fp16", "bf16"),
}
_EXTRA: dict[Backend, tuple[str, str]] = {
    "onnx": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino"),
}
_OPENVINO_HINT = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
_INT8 = "onnxruntime dynamic int8, per-channel weights, MatMul"


class Forward(Protocol):
    inputs: tuple[str, ...]

    def __call__(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        """Token embeddings (batch, tokens, dim) for the tokeniser's arrays."""

    def describe(self) -> dict[str, Any]:
        """Runtime and version, precision as applied, device or execution provider."""


def check_precision(backend: Backend, precision: Precision) -> str | None:
    """Why the backend cannot run at that precision, or None."""
    if precision in PRECISIONS[backend]:
        return None
    hint = " (int8: backend onnx)" if precision == "int8" else ""
    return f"backend {backend} runs {', '.join(PRECISIONS[backend])}, not {precision}{hint}"


def require_runtime(backend: Backend) -> None:
    module, extra = _EXTRA[backend]
    try:
        __import__(module)
        __import__("onnx")  # torch.onnx.export writes through it
    except ImportError:
        raise ComponentError(
            f"backend {backend} needs {module} and onnx: pip install 'harness[{extra}]'"
        ) from None


@dataclass(frozen=True)
class Exported:
    path: Path
    inputs: tuple[str, ...]
    digest: str
    """Of the export's key (the model's files, the export settings, int8's quantisation),
    recorded with results."""


def export(model: Any, weights_digest: str, int8: bool) -> Exported:
    """The model's transformer as ONNX (int8: dynamically quantised), from the cache if there."""
    import torch
    import transformers

    inputs = _input_names(model)
    key = {
        "weights": weights_digest,
        "inputs": list(inputs),
        "opset": OPSET,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    folder = root() / "exports" / key_digest(key)
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        _write_export(model, inputs, key, folder)
    if not int8:
        return Exported(fp32, inputs, key_digest(key))
    quantized = folder / "model.int8.onnx"
    if not quantized.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = folder / f".model.int8.{os.getpid()}.onnx"
        # per-channel int8 weights of the matrix products: cosine to fp32 0.995 on Cranfield
        # (MiniLM), where per-tensor weights (quantize_dynamic's default) reach only 0.93
        logger, level = logging.getLogger(), logging.getLogger().level
        logger.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing on the root logger
        try:
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
            )
        finally:
            logger.setLevel(level)
        os.replace(tmp, quantized)
    return Exported(quantized, inputs, key_digest(key | {"quantized": _INT8}))


def _input_names(model: Any) -> tuple[str, ...]:
    """What the tokeniser gives that the transformer takes, in a fixed order."""
    sample = model.preprocess(["a b"])
    known = ("input_ids", "attention_mask", "token_type_ids")
    return tuple(name for name in known if name in sample)


def _write_export(model: Any, inputs: tuple[str, ...], key: dict[str, Any], folder: Path) -> None:
    import torch

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *arrays: Any) -> Any:
            named = dict(zip(inputs, arrays, strict=True))
            return self.transformer(**named, return_dict=True).last_hidden_state

    transformer = model[0].auto_model
    sample = model.preprocess(["an example sentence to trace", "short"])
    args = tuple(sample[name].to(transformer.device) for name in inputs)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".partial-{os.getpid()}-"))
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it treats as fixed
            torch.onnx.export(
                TokenEmbeddings(transformer).eval(),
                args,
                str(tmp / "model.onnx"),
                input_names=list(inputs),
                output_names=["token_embeddings"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*inputs, "token_embeddings"]},
                opset_version=OPSET,
                dynamo=False,
            )
        (tmp / "export.json").write_text(json.dumps(key, indent=1, sort_keys=True))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "model.onnx").is_file():
                raise
            shutil.rmtree(tmp)  # another process exported it first
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ComponentError(
            f"exporting {type(transformer).__name__} to ONNX failed: {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}"
        ) from None


def forward(
    backend: Backend, exported: Exported, precision: Precision, threads: int | None, device: str
) -> Forward:
    if backend == "openvino":
        return _OpenVino(exported, precision, threads)
    return _OnnxRuntime(exported, precision, threads, device)


class _OnnxRuntime:
    def __init__(
        self, exported: Exported, precision: Precision, threads: int | None, device: str
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        if threads is not None:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in (
            onnxruntime.get_available_providers()
        ):
            providers.insert(0, "CUDAExecutionProvider")
        self.session = onnxruntime.InferenceSession(
            str(exported.path), options, providers=providers
        )
        self.inputs, self.export = exported.inputs, exported.digest
        self.precision = precision
        self.runtime = f"onnxruntime {onnxruntime.__version__}"
        self.quantized = _INT8 if precision == "int8" else ""

    def __call__(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        out: np.ndarray = self.session.run(None, {n: feed[n] for n in self.inputs})[0]
        return out

    def describe(self) -> dict[str, Any]:
        described = {
            "runtime": self.runtime,
            "precision": self.precision,
            "device": self.session.get_providers()[0],
            "threads": self.session.get_session_options().intra_op_num_threads,  # 0: its choice
            "export": self.export,
        }
        return described | ({"quantized": self.quantized} if self.quantized else {})


class _OpenVino:
    def __init__(self, exported: Exported, precision: Precision, threads: int | None) -> None:
        import openvino

        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _OPENVINO_HINT[precision]}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = openvino.Core().compile_model(str(exported.path), "CPU", config)
        self.inputs, self.export = exported.inputs, exported.digest
        self.output = self.compiled.output(0)
        self.runtime = f"openvino {_version('openvino')}"

    def __call__(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        out: np.ndarray = self.compiled({n: feed[n] for n in self.inputs})[self.output]
        return out

    def describe(self) -> dict[str, Any]:
        applied = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        return {
            "runtime": self.runtime,
            "precision": {v: k for k, v in _OPENVINO_HINT.items()}.get(applied, applied),
            "device": "openvino:CPU",
            "threads": self.compiled.get_property("INFERENCE_NUM_THREADS"),  # 0: its choice
            "export": self.export,
        }


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
