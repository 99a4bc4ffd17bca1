"""Clip augmentation: one random transform per clip, applied to every frame and mask alike.

Geometric transforms (flip, crop, resize) are drawn once per clip so that frames and masks stay
aligned over time; colour jitter is drawn once per clip and then, more weakly, once per frame —
the layout of the official fine-tuning transforms (consistent flip, consistent resize to a square,
consistent colour jitter with brightness 0.1 / contrast 0.03 / saturation 0.03, grayscale with
probability 0.05, then per-frame jitter 0.1 / 0.05 / 0.05). The official random affine
(rotation, shear) is replaced here by a random crop with scale and aspect jitter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AugmentConfig:
    hflip: float = 0.5  # probability
    crop_scale: tuple[float, float] = (0.5, 1.0)  # crop area as a fraction of the frame
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    crop_prob: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.03
    saturation: float = 0.03
    grayscale: float = 0.05
    frame_brightness: float = 0.1
    frame_contrast: float = 0.05
    frame_saturation: float = 0.05


NO_AUGMENT = AugmentConfig(hflip=0.0, crop_prob=0.0, brightness=0.0, contrast=0.0, saturation=0.0, grayscale=0.0,
                           frame_brightness=0.0, frame_contrast=0.0, frame_saturation=0.0)


@dataclass(frozen=True)
class ClipTransform:
    """The geometric part of one clip's augmentation (colour is applied separately)."""

    flip: bool
    crop: tuple[int, int, int, int]  # y0, x0, height, width in the source frame

    def apply(self, frames: Tensor, masks: Tensor, size: int) -> tuple[Tensor, Tensor]:
        """frames (T, 3, H, W) float in [0, 1], masks (T, N, H, W) bool -> both at size x size."""
        y0, x0, ch, cw = self.crop
        frames = frames[..., y0 : y0 + ch, x0 : x0 + cw]
        masks = masks[..., y0 : y0 + ch, x0 : x0 + cw]
        if self.flip:
            frames, masks = frames.flip(-1), masks.flip(-1)
        if frames.shape[-2:] != (size, size):
            frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if masks.shape[-2:] != (size, size) and masks.shape[1] > 0:
            masks = F.interpolate(masks.float(), size=(size, size), mode="nearest") > 0.5
        elif masks.shape[-2:] != (size, size):
            masks = masks.new_zeros(*masks.shape[:2], size, size)
        return frames.clamp(0, 1), masks


def sample_transform(rng: np.random.Generator, height: int, width: int, cfg: AugmentConfig) -> ClipTransform:
    flip = bool(rng.random() < cfg.hflip)
    crop = (0, 0, height, width)
    if rng.random() < cfg.crop_prob:
        for _ in range(10):
            area = rng.uniform(*cfg.crop_scale) * height * width
            ratio = math.exp(rng.uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
            cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if 0 < cw <= width and 0 < ch <= height:
                crop = (int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1)), ch, cw)
                break
    return ClipTransform(flip, crop)


def _jitter(frames: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor) -> Tensor:
    """frames (T, 3, H, W) in [0, 1]; factors (T,) multiplicative, 1 = unchanged."""
    b, c, s = (x.view(-1, 1, 1, 1) for x in (brightness, contrast, saturation))
    x = (frames * b).clamp(0, 1)
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)  # (T, 1, H, W)
    x = ((x - gray.mean(dim=(2, 3), keepdim=True)) * c + gray.mean(dim=(2, 3), keepdim=True)).clamp(0, 1)
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    return ((x - gray) * s + gray).clamp(0, 1)


def _factors(rng: np.random.Generator, strength: float, n: int) -> Tensor:
    return torch.from_numpy(rng.uniform(1 - strength, 1 + strength, size=n).astype(np.float32))


def color_augment(frames: Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> Tensor:
    """Clip-level jitter (the same factors for every frame), optional grayscale, per-frame jitter."""
    t = frames.shape[0]
    clip = [_factors(rng, s, 1).expand(t) for s in (cfg.brightness, cfg.contrast, cfg.saturation)]
    frames = _jitter(frames, *clip)
    if rng.random() < cfg.grayscale:
        gray = 0.299 * frames[:, 0] + 0.587 * frames[:, 1] + 0.114 * frames[:, 2]
        frames = gray.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    per_frame = [_factors(rng, s, t) for s in (cfg.frame_brightness, cfg.frame_contrast, cfg.frame_saturation)]
    return _jitter(frames, *per_frame)


def augment_clip(
    frames: np.ndarray, masks: np.ndarray, size: int, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[Tensor, Tensor]:
    """uint8 frames (T, H, W, 3) and bool masks (T, N, H, W) -> float frames (T, 3, S, S) in [0, 1]
    and bool masks (T, N, S, S), the same geometric transform on every frame."""
    frames, masks = np.ascontiguousarray(frames), np.ascontiguousarray(masks)
    if not frames.flags.writeable:  # e.g. arrays viewing PIL images; torch wants writable memory
        frames = frames.copy()
    if not masks.flags.writeable:
        masks = masks.copy()
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    m = torch.from_numpy(masks)
    transform = sample_transform(rng, x.shape[-2], x.shape[-1], cfg)
    x, m = transform.apply(x, m, size)
    return color_augment(x, rng, cfg), m
