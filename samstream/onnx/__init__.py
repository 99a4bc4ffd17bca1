"""ONNX export of SAM 2 and an onnxruntime host that needs no torch.

Host (numpy + onnxruntime): :class:`OnnxImagePredictor`, :class:`OnnxTracker`, :class:`OnnxGraphs`.
Export (torch): :func:`export_onnx`, loaded on first use so that the host never imports torch.
"""

from __future__ import annotations

from typing import Any

from samstream.onnx.image import OnnxImagePrediction, OnnxImagePredictor
from samstream.onnx.manifest import Manifest, read_manifest
from samstream.onnx.runtime import OnnxGraphs
from samstream.onnx.tracker import OnnxFrameResult, OnnxTracker

__all__ = ["Manifest", "OnnxFrameResult", "OnnxGraphs", "OnnxImagePrediction", "OnnxImagePredictor",
           "OnnxTracker", "export_onnx", "read_manifest"]


def __getattr__(name: str) -> Any:  # PEP 562: the exporter needs torch, the host does not
    if name == "export_onnx":
        from samstream.onnx.export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'samstream.onnx' has no attribute {name!r}")
