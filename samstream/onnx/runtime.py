"""onnxruntime sessions over an export folder, and the model inputs the host prepares. No torch.

>>> graphs = OnnxGraphs("tiny-onnx", threads=2)
>>> feats = graphs.encode(graphs.frame_input(rgb))      # dict of the image encoder's outputs
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from samstream.errors import CheckpointError
from samstream.onnx.arrays import FLOAT, resize_bilinear
from samstream.onnx.manifest import Manifest, read_manifest


def import_onnxruntime() -> Any:
    try:
        import onnxruntime  # heavy optional dependency: only the host needs it
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CheckpointError("onnxruntime is not installed; install samstream[onnx]") from exc
    return onnxruntime


class OnnxGraphs:
    """The graphs of one export, checked against the manifest (names, shapes, checksums)."""

    def __init__(self, folder: str | os.PathLike[str], threads: int | None = None, variant: str | None = None,
                 providers: list[str] | None = None) -> None:
        ort = import_onnxruntime()
        self.folder = Path(folder)
        self.manifest: Manifest = read_manifest(self.folder, variant=variant)
        self.config = self.manifest.model_config()
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        # idle workers sleep instead of spinning: a tracker calls small graphs between host steps,
        # and spinning threads would take those cores from the host (and from other processes)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sessions: dict[str, Any] = {}
        for name in self.manifest.graphs:
            path = self.manifest.graph_path(self.folder, name)
            try:
                session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own error types for unreadable graphs
                raise CheckpointError(f"onnx export: {path} cannot be loaded by onnxruntime ({exc})") from exc
            self._check_io(name, session)
            self.sessions[name] = session
        size = self.manifest.image_size
        self.image_size = size
        self.mean = np.asarray(self.manifest.pixel_mean, dtype=FLOAT)
        self.std = np.asarray(self.manifest.pixel_std, dtype=FLOAT)
        # (v / 255 - mean) / std as one multiply-add per pixel of a 0..255 image
        self.pixel_scale = (1.0 / (255.0 * self.std.astype(np.float64))).astype(FLOAT)
        self.pixel_shift = (self.mean.astype(np.float64) / self.std).astype(FLOAT)
        levels = (np.arange(256) / 255.0).astype(FLOAT)  # the division in float64, as the trackers do
        self.table = ((levels[None, :] - self.mean[:, None]) / self.std[:, None]).astype(FLOAT)  # (3, 256)

    def _check_io(self, name: str, session: Any) -> None:
        listed = self.manifest.graphs[name]
        shapes = listed["shapes"]
        for node in session.get_inputs():
            want = shapes.get(node.name)
            got = [d if isinstance(d, int) else "?" for d in node.shape]
            if want is None or [w if isinstance(w, int) else "?" for w in want] != got:
                raise CheckpointError(
                    f"onnx export: {name} graph input {node.name!r} has shape {node.shape}, the manifest says "
                    f"{want} (a manifest from another variant or input size?)")
        if [n.name for n in session.get_inputs()] != listed["inputs"]:
            raise CheckpointError(f"onnx export: {name} graph inputs {[n.name for n in session.get_inputs()]} "
                                  f"differ from the manifest's {listed['inputs']}")

    def has(self, name: str) -> bool:
        return name in self.sessions

    def run(self, name: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if name not in self.sessions:
            raise CheckpointError(f"graph: this export (parts={self.manifest.parts!r}) has no {name} graph; "
                                  f"export with --parts all")
        return self.sessions[name].run(None, feeds)

    # ---------------------------------------------------------------- inputs
    def image_input(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (1, 3, S, S) as :class:`~samstream.ImagePredictor` makes it (antialiased
        bilinear resize of the [0, 1] image, then the normalisation)."""
        x = rgb.transpose(2, 0, 1).astype(FLOAT)
        size = self.image_size
        if x.shape[-2:] != (size, size):
            # the resize is linear: it runs on 0..255 and the division by 255 joins the normalisation
            x = resize_bilinear(x, (size, size), antialias=True)
        return (x * self.pixel_scale[:, None, None] - self.pixel_shift[:, None, None])[None]

    def frame_input(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (1, 3, S, S) as the video trackers make it (PIL bicubic resize of the
        uint8 frame, then a per-level lookup of the normalised value)."""
        size = self.image_size
        resized = Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC)
        planes = np.asarray(resized).transpose(2, 0, 1)  # (3, S, S) uint8
        return np.stack([self.table[c][planes[c]] for c in range(3)])[None]

    # ----------------------------------------------------------------- steps
    def encode(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """(1, 3, S, S) model input -> image_embed, prompt_embed, high_res_0, high_res_1."""
        names = self.manifest.graphs["image_encoder"]["outputs"]
        return dict(zip(names, self.run("image_encoder", {"image": image})))

    def decode(self, embed: np.ndarray, feats: dict[str, np.ndarray], coords: np.ndarray, labels: np.ndarray,
               mask_input: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every mask token's masks (B, 4, s, s), IoU (B, 4), object scores (B, 1), pointers (B, 4, C)."""
        side = self.image_size // 4
        has_mask = mask_input is not None
        if mask_input is None:
            mask_input = np.zeros((coords.shape[0], 1, side, side), dtype=FLOAT)
        feeds = {"image_embed": embed, "high_res_0": feats["high_res_0"], "high_res_1": feats["high_res_1"],
                 "point_coords": coords.astype(FLOAT), "point_labels": labels.astype(np.int32),
                 "mask_input": mask_input.astype(FLOAT), "has_mask_input": np.array([has_mask])}
        masks, iou, scores, ptrs = self.run("decoder", feeds)
        return masks, iou, scores, ptrs

    def encode_memory(self, image_embed: np.ndarray, low_res: np.ndarray, scores: np.ndarray,
                      binarize: bool) -> np.ndarray:
        """(B, D, h, w) memories of low-res mask logits (B, 1, s, s) with object scores (B, 1)."""
        feeds = {"image_embed": image_embed, "mask_logits": low_res.astype(FLOAT),
                 "object_score_logits": scores.astype(FLOAT), "binarize": np.array([binarize])}
        return self.run("memory_encoder", feeds)[0]

    def attend(self, image_embed: np.ndarray, memories: np.ndarray, slots: np.ndarray, ptrs: np.ndarray,
               distances: np.ndarray, normaliser: float) -> np.ndarray:
        """Features (1, C, h, w) conditioned on memories (F, 1, D, h, w) and pointers (P, 1, C)."""
        feeds = {"image_embed": image_embed, "memory": memories.astype(FLOAT), "memory_slots": slots.astype(np.int64),
                 "obj_ptrs": ptrs.astype(FLOAT), "ptr_distances": distances.astype(FLOAT),
                 "ptr_normaliser": np.array([normaliser], dtype=FLOAT)}
        return self.run("memory_attention", feeds)[0]
