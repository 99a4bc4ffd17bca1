"""ONNX export of SAM 2 and an onnxruntime host that needs no torch.

Host (numpy + onnxruntime): :class:`OnnxImagePredictor`, :class:`OnnxTracker`, :class:`OnnxGraphs`.
Export (torch): :func:`export_onnx`.

The public names are loaded on first use (PEP 562): the host never imports torch (the exporter
does), and a light submodule such as :mod:`samstream.onnx.manifest`, which the command line reads
for its defaults, does not load the host with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from samstream.lazy import lazy_names

# public name -> module defining it
_PUBLIC = {
    "Manifest": "samstream.onnx.manifest",
    "OnnxFrameResult": "samstream.onnx.tracker",
    "OnnxGraphs": "samstream.onnx.runtime",
    "OnnxImagePrediction": "samstream.onnx.image",
    "OnnxImagePredictor": "samstream.onnx.image",
    "OnnxTracker": "samstream.onnx.tracker",
    "export_onnx": "samstream.onnx.export",
    "read_manifest": "samstream.onnx.manifest",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_names(globals(), _PUBLIC)


if TYPE_CHECKING:  # what type checkers and IDEs see
    from samstream.onnx.export import export_onnx
    from samstream.onnx.image import OnnxImagePrediction, OnnxImagePredictor
    from samstream.onnx.manifest import Manifest, read_manifest
    from samstream.onnx.runtime import OnnxGraphs
    from samstream.onnx.tracker import OnnxFrameResult, OnnxTracker
