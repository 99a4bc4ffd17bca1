"""Reduced-precision copies of exported graphs: float16 storage, int8 dynamic quantisation."""

from __future__ import annotations

import os
from typing import Any


def to_float16(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` (an ``onnx.ModelProto``) with float16 weights and activations to ``path``;
    inputs and outputs stay float32 so that a host feeds every export alike."""
    import onnx  # heavy optional dependency: exports only
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # ops whose float16 form loses the most (normalisation statistics, softmax) stay in float32
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=["LayerNormalization", "Softmax"])
    onnx.save(half, os.fspath(path))


def quantize_int8(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Dynamic int8 quantisation of the weights of MatMul / Gemm nodes of the graph at ``source``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # heavy optional dependency

    quantize_dynamic(os.fspath(source), os.fspath(path), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gemm"])
