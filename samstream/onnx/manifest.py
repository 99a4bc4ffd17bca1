"""``manifest.json`` of an ONNX export: what the graphs are, how to feed them, and how to track.

The manifest is the contract between the exporter and any host (samstream's numpy host, or one in
C++ or JavaScript): the variant and input size, the opset, every graph's input and output names and
shapes (dynamic axes by name), the normalisation, the tracking settings the host must apply, the
model configuration, the few parameters the host applies itself (``constants``), and the SHA-256
of every graph file. This module needs neither torch nor onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from samstream.config import ModelConfig, config_from_dict
from samstream.errors import CheckpointError
from samstream.files import write_json

MANIFEST_NAME = "manifest.json"
# ONNX opsets an export can target. 18 is the first with antialiased Resize; from 20 GELU is one op
# (Gelu) instead of erf arithmetic, about 6 % of the image encoder's time on onnxruntime; 23 has a
# fused Attention op (tested with onnxruntime 1.32). 20 is the default: the oldest that has Gelu.
OPSETS = range(18, 24)
DEFAULT_OPSET = 20
FORMAT_VERSION = 1
GRAPH_FILES = {
    "image_encoder": "image_encoder.onnx",
    "decoder": "decoder.onnx",
    "memory_encoder": "memory_encoder.onnx",
    "memory_attention": "memory_attention.onnx",
}
# video options of samstream's trackers that change results; a host applies them after the graphs
HOST_DEFAULTS = {
    "fill_hole_area": 8,  # background holes up to this many low-res pixels become foreground (logit 0.1)
    "binarize_mask_from_pts": True,  # memories of clicked frames are encoded from the thresholded mask
    "memory_dtype": "bfloat16",  # memories are rounded to bfloat16 when stored
    "mask_input_clamp": 32.0,  # a previous mask given back to the decoder is clamped to +-this
    "no_object_score": -1024.0,  # logit of every pixel of an object predicted absent
}


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tracking_settings(cfg: ModelConfig) -> dict[str, Any]:
    """The settings a host needs to choose masks and memories as samstream's trackers do."""
    mem, dec, trk = cfg.memory, cfg.decoder, cfg.tracking
    return {
        "num_maskmem": mem.num_maskmem,
        "memory_temporal_stride": trk.memory_temporal_stride_for_eval,
        "max_obj_ptrs_in_encoder": mem.max_obj_ptrs_in_encoder,
        "max_cond_frames_in_attn": trk.max_cond_frames_in_attn,
        "only_obj_ptrs_in_the_past": trk.only_obj_ptrs_in_the_past_for_eval,
        "use_signed_tpos_enc_to_obj_ptrs": mem.use_signed_tpos_enc_to_obj_ptrs,
        "multimask_output_in_sam": trk.multimask_output_in_sam,
        "multimask_output_for_tracking": trk.multimask_output_for_tracking,
        "multimask_min_pt_num": trk.multimask_min_pt_num,
        "multimask_max_pt_num": trk.multimask_max_pt_num,
        "use_mask_input_as_output_without_sam": trk.use_mask_input_as_output_without_sam,
        "use_multimask_token_for_obj_ptr": dec.use_multimask_token_for_obj_ptr,
        "dynamic_multimask_via_stability": dec.dynamic_multimask_via_stability,
        "dynamic_multimask_stability_delta": dec.dynamic_multimask_stability_delta,
        "dynamic_multimask_stability_thresh": dec.dynamic_multimask_stability_thresh,
        "pred_obj_scores": dec.pred_obj_scores,
        **HOST_DEFAULTS,
    }


@dataclass
class Manifest:
    variant: str
    image_size: int
    opset: int
    fp16: bool
    parts: str  # "all" or "image"
    pixel_mean: list[float]
    pixel_std: list[float]
    graphs: dict[str, dict[str, Any]]  # name -> {"inputs": [...], "outputs": [...], "shapes": {name: [...]}}
    files: dict[str, str]  # file name -> SHA-256
    tracking: dict[str, Any]
    config: dict[str, Any]
    format_version: int = FORMAT_VERSION
    int8: bool = False  # the image encoder's matrix products dynamically quantised to 8 bits
    producer: str = field(default="samstream")
    # parameters of the steps the host computes itself, flattened (empty in exports made before them):
    # "mask_downsample_weight" (16: the 4x4 kernel of the mask prompt's stride-4 convolution),
    # "mask_downsample_bias" (1) and "no_obj_ptr" (C: the pointer of an absent object)
    constants: dict[str, list[float]] = field(default_factory=dict)

    def constant(self, name: str) -> list[float]:
        if name not in self.constants:
            raise CheckpointError(f"onnx export: the manifest has no {name!r} (an export from an older samstream); "
                                  f"export the model again")
        return self.constants[name]

    def write(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, asdict(self))

    def model_config(self) -> ModelConfig:
        return config_from_dict(self.config)

    def graph_path(self, folder: str | os.PathLike[str], name: str) -> Path:
        if name not in self.graphs:
            raise CheckpointError(f"graph: this export (parts={self.parts!r}) has no {name!r} graph; "
                                  f"export with --parts all")
        return Path(folder) / GRAPH_FILES[name]


def read_manifest(folder: str | os.PathLike[str], variant: str | None = None, verify: bool = True) -> Manifest:
    """The manifest of an export folder, its files checked against their checksums.

    ``variant``: the variant the caller expects (an error if the export is of another one).
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise CheckpointError(f"onnx export: {path} not found; export with `samstream export onnx MODEL --out DIR`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
        manifest.model_config()
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"onnx export: {path} is not a samstream manifest ({exc})") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise CheckpointError(f"onnx export: {path} has format version {manifest.format_version}, "
                              f"this samstream reads version {FORMAT_VERSION}")
    if variant is not None and manifest.variant != variant:
        raise CheckpointError(f"variant: the export in {folder} is of {manifest.variant!r}, not {variant!r}")
    if manifest.model_config().image_size != manifest.image_size:
        raise CheckpointError(f"onnx export: {path} gives image_size {manifest.image_size} but its config "
                              f"{manifest.model_config().image_size}")
    if verify:
        for name, digest in manifest.files.items():
            graph = Path(folder) / name
            if not graph.is_file():
                raise CheckpointError(f"onnx export: graph file {graph} is missing")
            if file_sha256(graph) != digest:
                raise CheckpointError(f"onnx export: {graph} does not match its checksum in {path} "
                                      f"(edited, truncated or from another export)")
    return manifest
