"""Training clips: N frames with up to M objects, augmented, normalised and batched.

A *source* is anything with ``__len__`` and ``clip(index, rng) -> (frames, masks)`` returning
uint8 frames (T, H, W, 3) and bool masks (T, N, H, W) of a clip of at least ``num_frames``
frames (images are one-frame clips). :class:`ClipDataset` picks the objects, augments and
normalises; :func:`collate_clips` stacks clips into a :class:`ClipBatch` whose objects from all
clips form one batch (each object knows its clip), as the model tracks them.

Objects are chosen among those visible on the clip's first frame (up to ``max_objects``, at
random), as the official video sampler does (8 frames, 3 objects in the fine-tuning config).
Every random choice comes from a generator seeded by (seed, epoch, index), so an item is the
same whichever worker or rank loads it, and a resumed run sees the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from samstream.train.augment import AugmentConfig, augment_clip
from samstream.data.synthetic import SyntheticConfig, generate_clip

PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


class ClipSource(Protocol):
    def __len__(self) -> int: ...

    def clip(self, index: int, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


class SyntheticSource:
    """``length`` synthetic clips; clip ``i`` is generated from seed ``seed * 1_000_003 + i``."""

    def __init__(self, length: int, cfg: SyntheticConfig, seed: int = 0) -> None:
        self.length, self.cfg, self.seed = length, cfg, seed

    def __len__(self) -> int:
        return self.length

    def clip(self, index: int, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        clip = generate_clip(self.seed * 1_000_003 + index, self.cfg)
        start = int(rng.integers(0, clip.frames.shape[0] - num_frames + 1)) if num_frames <= len(clip.frames) else 0
        sl = slice(start, start + num_frames)
        return clip.frames[sl], clip.masks[sl]


def pick_window(count: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """``num_frames`` consecutive indices of ``range(count)`` from a random start (``count >= 1``);
    a shorter range is padded by repeating its last index."""
    start = int(rng.integers(0, max(1, count - num_frames + 1)))
    picked = list(range(start, min(count, start + num_frames)))
    return picked + [picked[-1]] * (num_frames - len(picked))


@dataclass
class ClipSample:
    images: Tensor  # (T, 3, S, S) normalised float32
    masks: Tensor  # (T, N, S, S) bool


@dataclass
class ClipBatch:
    images: Tensor  # (T, B, 3, S, S) normalised
    masks: Tensor  # (T, O, S, S) bool, the objects of all clips
    obj_clip: Tensor  # (O,) long, the clip of each object

    @property
    def num_frames(self) -> int:
        return self.images.shape[0]

    @property
    def num_objects(self) -> int:
        return self.masks.shape[1]

    def to(self, device: torch.device | str) -> "ClipBatch":
        return ClipBatch(self.images.to(device), self.masks.to(device), self.obj_clip.to(device))


def normalise(frames: Tensor) -> Tensor:
    """(..., 3, H, W) in [0, 1] -> normalised by the ImageNet mean and std the models expect."""
    mean = torch.tensor(PIXEL_MEAN, dtype=frames.dtype).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, dtype=frames.dtype).view(3, 1, 1)
    return (frames - mean) / std


def choose_objects(masks: Tensor, max_objects: int, rng: np.random.Generator) -> Tensor:
    """Indices of up to ``max_objects`` objects visible on frame 0 (any object if none is)."""
    visible = masks[0].flatten(1).any(dim=1).nonzero().flatten().tolist()
    pool = visible or list(range(masks.shape[1]))
    if len(pool) > max_objects:
        pool = sorted(rng.choice(pool, size=max_objects, replace=False).tolist())
    return torch.tensor(pool, dtype=torch.long)


class ClipDataset(Dataset):
    """Augmented, normalised clips of ``num_frames`` frames and at most ``max_objects`` objects."""

    def __init__(
        self,
        source: ClipSource,
        image_size: int,
        num_frames: int,
        max_objects: int,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.source, self.image_size, self.num_frames = source, image_size, num_frames
        self.max_objects, self.augment, self.seed = max_objects, augment or AugmentConfig(), seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> ClipSample:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        frames, masks = self.source.clip(index, self.num_frames, rng)
        images, masks_t = augment_clip(frames, masks, self.image_size, rng, self.augment)
        keep = choose_objects(masks_t, self.max_objects, rng)
        return ClipSample(normalise(images), masks_t[:, keep].contiguous())


def collate_clips(samples: list[ClipSample]) -> ClipBatch:
    images = torch.stack([s.images for s in samples], dim=1)  # (T, B, 3, S, S)
    masks = torch.cat([s.masks for s in samples], dim=1)  # (T, O, S, S)
    obj_clip = torch.cat([torch.full((s.masks.shape[1],), i, dtype=torch.long) for i, s in enumerate(samples)])
    return ClipBatch(images, masks, obj_clip)
