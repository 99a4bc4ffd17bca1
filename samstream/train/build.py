"""Build the model and the training data a :class:`~samstream.train.config.TrainConfig` describes.

Real datasets are read with :mod:`samstream.data` (DAVIS / YouTube-VOS / SA-V frame folders,
SA-1B / COCO images), or, for SA-V's training layout (videos and ``*_manual.json`` masklet files),
with :mod:`samstream.train.sav_source`; this module only adapts them to clip sources: a video
gives ``num_frames`` consecutive *annotated* frames from a random start (SA-V annotates every 4th
frame, so its clips step over the unannotated ones), an image gives a one-frame clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samstream.checkpoints import load_model
from samstream.data import VideoDataset, open_image_dataset
from samstream.data.synthetic import SyntheticConfig
from samstream.errors import InvalidInputError
from samstream.model.sam2 import SAM2Model
from samstream.presets import micro_config, nano_config
from samstream.registry import get_variant
from samstream.rgb import to_rgb
from samstream.train.clips import ClipDataset, ClipSource, SyntheticSource, pick_window
from samstream.train.config import TrainConfig
from samstream.train.sav_source import SavJsonSource, has_sav_json


def build_train_model(cfg: TrainConfig) -> SAM2Model:
    """The model to train: the named architecture, with weights from ``model.weights`` if given."""
    m = cfg.model
    if m.weights is not None:
        return load_model(m.weights, device="cpu", image_size=m.image_size)
    if m.name == "micro":
        model_cfg = micro_config(m.image_size)
    elif m.name == "nano":
        model_cfg = nano_config(m.image_size)
    else:
        model_cfg = get_variant(m.name).config.with_image_size(m.image_size)
    return SAM2Model(model_cfg)


def _read_rgb(path: object) -> np.ndarray:
    return to_rgb(path, "image")


class VideoSource:
    """Clips of consecutive annotated frames from a :class:`samstream.data.VideoDataset`."""

    def __init__(self, videos: Sequence) -> None:
        self.videos = videos

    def __len__(self) -> int:
        return len(self.videos)

    def clip(self, index: int, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        entry = self.videos[index]
        annotated = entry.annotated_frames()
        if not annotated:
            raise InvalidInputError(f"video {entry.name}: no annotated frames")
        picked = [annotated[i] for i in pick_window(len(annotated), num_frames, rng)]
        anns = [entry.read_annotation(f) for f in picked]
        ids = sorted({k for a in anns for k in a})
        frames = np.stack([_read_rgb(entry.frame_paths[f]) for f in picked])
        h, w = frames.shape[1:3]
        masks = np.zeros((len(picked), len(ids), h, w), dtype=bool)
        for t, ann in enumerate(anns):
            for j, k in enumerate(ids):
                if k in ann:
                    masks[t, j] = ann[k]
        return frames, masks


class ImageSource:
    """One-frame clips from a sequence of :class:`samstream.data.ImageSample`."""

    def __init__(self, images: Sequence) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def clip(self, index: int, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        sample = self.images[index]
        return _read_rgb(sample.image_path)[None], np.asarray(sample.masks, dtype=bool)[None]


def build_source(cfg: TrainConfig) -> tuple[ClipSource, int]:
    """The clip source and the number of frames per clip (1 for image datasets)."""
    d = cfg.data
    if d.format == "synthetic":
        length = max(d.num_frames, d.synthetic_length)
        syn = SyntheticConfig(size=max(cfg.model.image_size, 64), num_frames=length,
                              max_objects=max(1, d.max_objects))
        return SyntheticSource(d.synthetic_clips, syn, seed=cfg.run.seed), d.num_frames
    if d.root is None:
        raise InvalidInputError(f"data.root: format {d.format!r} needs a dataset folder")
    if d.format == "sav" and has_sav_json(d.root):  # SA-V training: videos + masklet JSON files
        return SavJsonSource(d.root), d.num_frames
    if d.format in ("davis", "sav", "ytvos"):
        subset = d.subset or ("train" if d.format in ("davis", "ytvos") else None)
        return VideoSource(VideoDataset(d.root, d.format, subset=subset)), d.num_frames
    return ImageSource(open_image_dataset(d.format, d.root)), 1


def build_dataset(cfg: TrainConfig) -> ClipDataset:
    source, frames = build_source(cfg)
    return ClipDataset(source, cfg.model.image_size, frames, cfg.data.max_objects, cfg.augment, seed=cfg.run.seed)
