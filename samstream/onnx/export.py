"""Export a SAM 2 model as ONNX graphs, one per step, with a manifest the host reads.

>>> export_onnx(samstream.load_model("sam2.1-tiny"), "tiny-onnx")       # 4 graphs + manifest.json

Graphs are made with the dynamo-based ``torch.onnx.export`` (``torch.export`` then translation to
ONNX), which needs the ``onnx`` and ``onnxscript`` packages (``pip install 'samstream[onnx]'``;
:func:`require_export_tools` checks them before anything is written). Each graph is traced from a
copy of the model whose rotary tables are in real (cos, sin) form, with autograd on so that the
literal (not the CPU fast-path) form of each step is traced, and in eval mode (the graphs hold no
dropout, but torch warns about a module in training mode).
"""

from __future__ import annotations

import copy
import importlib
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from samstream.config import config_to_dict
from samstream.errors import InvalidInputError
from samstream.files import atomic_write
from samstream.model.rope import use_real_rotations
from samstream.model.runtime import RuntimeOptions
from samstream.model.sam2 import SAM2Model
from samstream.onnx import graphs
from samstream.onnx.manifest import (
    DEFAULT_OPSET,
    GRAPH_FILES,
    MANIFEST_NAME,
    OPSETS,
    Manifest,
    file_sha256,
    tracking_settings,
)
from samstream.onnx.precision import quantize_image_encoder, to_float16
from samstream.registry import variant_for_config

PARTS = ("all", "image")
EXPORT_TOOLS = ("onnx", "onnxscript")  # what torch.onnx.export(dynamo=True) imports; not core dependencies


def require_export_tools() -> None:
    """Raise a one-line :class:`InvalidInputError` naming the extra to install when writing ONNX
    graphs is not possible here (``onnx`` or ``onnxscript`` missing)."""
    for name in EXPORT_TOOLS:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise InvalidInputError(f"writing ONNX graphs needs {' and '.join(EXPORT_TOOLS)}: "
                                    f"pip install 'samstream[onnx]' ({exc})") from exc


def graph_files(parts: str = "all") -> list[str]:
    """The files :func:`export_onnx` writes for ``parts``: the graphs, then ``manifest.json``."""
    if parts not in PARTS:
        raise InvalidInputError(f"parts: expected one of {', '.join(PARTS)}, got {parts!r}")
    names = list(GRAPH_FILES) if parts == "all" else ["image_encoder", "decoder"]
    return [GRAPH_FILES[n] for n in names] + [MANIFEST_NAME]


def export_onnx(model: SAM2Model, out_dir: str | os.PathLike[str], parts: str = "all", opset: int = DEFAULT_OPSET,
                fp16: bool = False, variant: str | None = None, overwrite: bool = False,
                progress: Callable[[str], None] | None = None, int8: bool = False) -> Manifest:
    """Write the graphs of ``model`` and ``manifest.json`` to ``out_dir``; returns the manifest.

    ``parts``: "all" (image encoder, decoder, memory encoder, memory attention) or "image" (the
    first two: what image segmentation needs). ``fp16`` stores weights and activations in float16
    (inputs and outputs stay float32). ``int8`` quantises the image encoder's matrix products to
    int8 (dynamic quantisation; the other graphs stay float32). Existing graph files are an error
    unless ``overwrite``.
    """
    if fp16 and int8:
        raise InvalidInputError("int8: quantises a float32 image encoder; choose fp16 or int8, not both")
    if parts not in PARTS:
        raise InvalidInputError(f"parts: expected one of {', '.join(PARTS)}, got {parts!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise InvalidInputError(f"opset: expected an integer in [{OPSETS[0]}, {OPSETS[-1]}], got {opset!r}")
    if not isinstance(model, SAM2Model):
        raise InvalidInputError(f"model: expected a SAM2Model, got {type(model).__name__}")
    require_export_tools()
    out = Path(out_dir)
    names = list(GRAPH_FILES) if parts == "all" else ["image_encoder", "decoder"]
    targets = [out / f for f in graph_files(parts)]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise InvalidInputError(f"out_dir: {existing[0]} exists; choose another folder or pass overwrite=True")
    prepared = export_copy(model)
    io: dict[str, dict[str, Any]] = {}
    for name in names:
        module, args, inputs, outputs, dynamic = _graph(prepared, name)
        start = time.perf_counter()
        _export_one(module, args, inputs, outputs, dynamic, out / GRAPH_FILES[name], opset, fp16)
        io[name] = {"inputs": inputs, "outputs": outputs, "shapes": _shapes(module, args, inputs, outputs, dynamic)}
        if progress is not None:
            progress(f"{name}: {GRAPH_FILES[name]} in {time.perf_counter() - start:.1f} s")
    cfg = model.cfg
    manifest = Manifest(
        variant=variant or _variant_name(model), image_size=cfg.image_size, opset=opset, fp16=fp16, parts=parts,
        pixel_mean=list(cfg.pixel_mean), pixel_std=list(cfg.pixel_std), graphs=io,
        files={GRAPH_FILES[n]: file_sha256(out / GRAPH_FILES[n]) for n in names},
        tracking=tracking_settings(cfg), config=config_to_dict(cfg), constants=host_constants(prepared),
    )
    manifest.write(out / MANIFEST_NAME)
    if int8:
        start = time.perf_counter()
        manifest = quantize_image_encoder(out)
        if progress is not None:
            progress(f"image_encoder: int8 in {time.perf_counter() - start:.1f} s")
    return manifest


def export_copy(model: SAM2Model) -> SAM2Model:
    """A CPU float32 copy of ``model`` in eval mode with the plain (exportable) kernels and
    real-valued rotary tables."""
    prepared = copy.deepcopy(model).to("cpu", torch.float32).eval()
    prepared.optimize(RuntimeOptions(kernels="plain"))  # the literal form of every step is traced
    use_real_rotations(prepared)
    return prepared


def host_constants(model: SAM2Model) -> dict[str, list[float]]:
    """The parameters of the steps the host computes itself (the mask prompt's output), flattened."""
    conv = model.mask_downsample
    params = {"mask_downsample_weight": conv.weight, "mask_downsample_bias": conv.bias, "no_obj_ptr": model.no_obj_ptr}
    return {name: p.detach().reshape(-1).tolist() for name, p in params.items()}  # float32 values are exact in JSON


def _variant_name(model: SAM2Model) -> str:
    variant = variant_for_config(model.cfg.with_image_size(1024)) or variant_for_config(model.cfg)
    return variant.name if variant is not None else "custom"


def example_inputs(model: SAM2Model, name: str) -> tuple[Tensor, ...]:
    """Example inputs of one graph (the shapes the manifest lists; dynamic axes at small sizes)."""
    cfg = model.cfg
    s, side, c, d = cfg.image_size, cfg.embedding_size, cfg.hidden_dim, cfg.memory.mem_dim
    gen = torch.Generator().manual_seed(0)
    embed = torch.randn(1, c, side, side, generator=gen)
    if name == "image_encoder":
        return (torch.randn(1, 3, s, s, generator=gen),)
    if name == "decoder":
        return (embed, torch.randn(1, c // 8, 4 * side, 4 * side, generator=gen),
                torch.randn(1, c // 4, 2 * side, 2 * side, generator=gen),
                torch.rand(2, 3, 2, generator=gen) * s, torch.tensor([[1, 0, -1], [2, 3, 1]], dtype=torch.int32),
                torch.randn(2, 1, 4 * side, 4 * side, generator=gen), torch.tensor([True]))
    if name == "memory_encoder":
        return (embed, torch.randn(2, 1, 4 * side, 4 * side, generator=gen), torch.tensor([[1.0], [-1.0]]),
                torch.tensor([False]))
    if name == "memory_attention":
        return (embed, torch.randn(3, 1, d, side, side, generator=gen), torch.tensor([0, 5, 6]),
                torch.randn(4, 1, c, generator=gen), torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([15.0]))
    raise InvalidInputError(f"graph: unknown graph {name!r}; expected one of {', '.join(GRAPH_FILES)}")


def _graph(model: SAM2Model, name: str) -> tuple[nn.Module, tuple[Tensor, ...], list[str], list[str], dict]:
    """The module (in eval mode), example inputs, names and dynamic axes of one graph."""
    dim = torch.export.Dim
    args = example_inputs(model, name)
    if name == "image_encoder":
        return graphs.ImageEncoderGraph(model).eval(), args, graphs.IMAGE_INPUTS, graphs.IMAGE_OUTPUTS, {}
    if name == "decoder":
        b, n = dim("prompts", min=1, max=1024), dim("points", min=1, max=1024)
        dynamic = {"point_coords": {0: b, 1: n}, "point_labels": {0: b, 1: n}, "mask_input": {0: b}}
        return graphs.DecoderGraph(model).eval(), args, graphs.DECODER_INPUTS, graphs.DECODER_OUTPUTS, dynamic
    if name == "memory_encoder":
        b = dim("objects", min=1, max=1024)
        dynamic = {"mask_logits": {0: b}, "object_score_logits": {0: b}}
        module: nn.Module = graphs.MemoryEncoderGraph(model).eval()
        return module, args, graphs.MEMORY_ENCODER_INPUTS, graphs.MEMORY_ENCODER_OUTPUTS, dynamic
    f, p = dim("frames", min=1, max=64), dim("pointers", min=1, max=256)
    dynamic = {"memory": {0: f}, "memory_slots": {0: f}, "obj_ptrs": {0: p}, "ptr_distances": {0: p}}
    module = graphs.MemoryAttentionGraph(model, memory_position(model)).eval()
    return module, args, graphs.MEMORY_ATTENTION_INPUTS, graphs.MEMORY_ATTENTION_OUTPUTS, dynamic


def memory_position(model: SAM2Model) -> Tensor:
    """(1, D, h, w) position encoding of every memory (a constant of the input size)."""
    side = model.cfg.embedding_size
    return model.memory_pos_enc(side, side).detach().clone()


def _export_one(module: nn.Module, args: tuple[Tensor, ...], inputs: list[str], outputs: list[str], dynamic: dict,
                path: Path, opset: int, fp16: bool) -> None:
    shapes = {name: dynamic.get(name) for name in inputs}
    # autograd on: the literal form of every step is traced (see the module notes)
    with torch.enable_grad(), atomic_write(path) as tmp, warnings.catch_warnings():
        # one axis named for several inputs (the prompt batch of coords, labels and mask) is what we
        # mean; torch notes each repeat as "will not be used", which tells the user nothing
        warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used", category=UserWarning)
        program = torch.onnx.export(
            module, args, dynamo=True, input_names=inputs, output_names=outputs, dynamic_shapes=shapes,
            opset_version=opset, optimize=True, verbose=False,
        )
        if fp16:
            to_float16(program.model_proto, tmp)
        else:
            program.save(str(tmp))


def _shapes(module: nn.Module, args: tuple[Tensor, ...], inputs: list[str], outputs: list[str],
            dynamic: dict) -> dict[str, list[int | str]]:
    """Input and output shapes for the manifest, dynamic axes by name (outputs share the inputs' batch)."""
    with torch.no_grad():
        results = module(*args)
    results = results if isinstance(results, tuple) else (results,)
    shapes: dict[str, list[int | str]] = {}
    batch: str | None = None
    for name, tensor in zip(inputs, args):
        axes = dynamic.get(name, {})
        shapes[name] = [axes[i].__name__ if i in axes else int(s) for i, s in enumerate(tensor.shape)]
        if 0 in axes and axes[0].__name__ in ("prompts", "objects"):
            batch = axes[0].__name__
    for name, tensor in zip(outputs, results):
        shape: list[int | str] = [int(s) for s in tensor.shape]
        if batch is not None:
            shape[0] = batch
        shapes[name] = shape
    return shapes
