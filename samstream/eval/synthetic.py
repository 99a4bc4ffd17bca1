"""Held-out synthetic benchmarks: video object segmentation (J&F) and 1-click image mIoU.

Videos and images come from :mod:`samstream.data.synthetic` with seeds from a range the trainer
never uses (clip ``i`` of a training run has seed ``run.seed * 1_000_003 + i``; the held-out seeds
start at :data:`HELD_OUT_BASE`), so the scores measure generalisation to unseen clips.

* **Video (semi-supervised VOS, the DAVIS protocol):** each object visible on the first frame
  (at least ``min_area`` pixels) is given by its ground-truth mask there; the predictor tracks all
  of them through the clip; J and F (:mod:`samstream.eval.metrics`) are averaged over the frames
  between the first and the last (both excluded, as DAVIS does), then over objects.
* **Images (1 click):** each object of a clip's first frame with at least ``min_area`` visible
  pixels gets one positive click at the deepest point of its mask
  (:func:`samstream.eval.clicks.first_click`); the multi-mask candidate with the highest
  predicted IoU is scored.
* :func:`memory_disabled` is the ablation: memory attention is skipped and every tracked frame
  sees only the "no memory" embedding, as a first frame does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from samstream.data.synthetic import SyntheticConfig, generate_clip
from samstream.eval.image_eval import click_ious
from samstream.eval.metrics import object_means
from samstream.image.predictor import ImagePredictor
from samstream.video.predictor import VideoPredictor

HELD_OUT_BASE = 9_000_000_000  # far above any training seed (run seeds are small integers)


@dataclass
class VideoScores:
    j: float  # mean region similarity over objects
    f: float  # mean boundary accuracy over objects
    objects: int
    frames: int  # frames tracked, all videos

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


def held_out_clip(index: int, cfg: SyntheticConfig, base: int = HELD_OUT_BASE):
    return generate_clip(base + index, cfg)


def visible_objects(first: np.ndarray, min_area: int) -> list[int]:
    """Indices of the objects with at least ``min_area`` pixels in a frame's (K, H, W) masks."""
    return [k for k in range(first.shape[0]) if first[k].sum() >= min_area]


@contextmanager
def memory_disabled(model) -> Iterator[None]:
    """Within the block, ``model`` tracks without memory: frame features are never conditioned."""

    def no_memory(embed, pos, memory, memory_pos, num_ptr_tokens, key_scale=None):
        return model.no_memory_features(embed, memory.shape[1])

    model.condition_on_memory = no_memory
    try:
        yield
    finally:
        del model.condition_on_memory


def evaluate_videos(model, num_videos: int, cfg: SyntheticConfig, min_area: int = 16,
                    base: int = HELD_OUT_BASE, progress: bool = False) -> VideoScores:
    """Mean J, F over the objects of ``num_videos`` held-out clips (see the module docstring)."""
    predictor = VideoPredictor(model)
    js: list[float] = []
    fs: list[float] = []
    frames = 0
    for i in tqdm(range(num_videos), disable=not progress, desc="videos"):
        clip = held_out_clip(i, cfg, base)
        first = clip.masks[0]
        objects = visible_objects(first, min_area)
        if not objects:
            continue
        pred = np.zeros((clip.masks.shape[0], len(objects)) + clip.masks.shape[2:], dtype=bool)
        with torch.inference_mode(), predictor.open(clip.frames) as session:
            for j, k in enumerate(objects):
                session.add_mask(0, j + 1, first[k])
            for result in session.propagate():
                masks = result.masks.numpy()
                for j in range(len(objects)):
                    pred[result.frame_idx, j] = masks[result.obj_ids.index(j + 1)]
                frames += 1
        inner = slice(1, clip.masks.shape[0] - 1)
        j_means, f_means = object_means(clip.masks[inner][:, objects], pred[inner])
        js += j_means
        fs += f_means
    if not js:
        return VideoScores(float("nan"), float("nan"), 0, frames)
    return VideoScores(float(np.mean(js)), float(np.mean(fs)), len(js), frames)


def evaluate_clicks(model, num_images: int, cfg: SyntheticConfig, min_area: int = 64,
                    base: int = HELD_OUT_BASE + 500_000_000, progress: bool = False) -> tuple[float, int]:
    """1-click mIoU over the objects of ``num_images`` held-out images, and the object count."""
    predictor = ImagePredictor(model)
    single = replace(cfg, num_frames=1)
    ious: list[float] = []
    with torch.inference_mode():
        for i in tqdm(range(num_images), disable=not progress, desc="images"):
            clip = held_out_clip(i, single, base)
            objects = visible_objects(clip.masks[0], min_area)
            if not objects:
                continue
            predictor.set_image(clip.frames[0])
            for k in objects:
                ious.append(click_ious(predictor, clip.masks[0, k], num_clicks=1)[0])
    return (float(np.mean(ious)) if ious else float("nan")), len(ious)
