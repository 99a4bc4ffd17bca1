"""Scripted interactive sessions run identically on the reference and on samstream's compat API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_video(folder: Path, frames: int = 8, h: int = 96, w: int = 128, seed: int = 0) -> Path:
    """JPEG frames named 0.jpg, 1.jpg, ... with moving coloured shapes on a textured background."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([80 + 30 * np.sin(xx / 7.0), 100 + 30 * np.cos(yy / 5.0), 90 + 0 * xx], -1)
    for t in range(frames):
        img = base + rng.normal(0, 8, base.shape)
        cx, cy = 30 + 6 * t, 40 + 2 * t
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 15**2] = [230, 40, 40]
        img[(abs(yy - 25) < 10) & (abs(xx - (100 - 5 * t)) < 12)] = [40, 200, 60]
        img[(abs(yy - 75) < 8) & (abs(xx - 90) < 20)] = [40, 60, 220]
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{t}.jpg", quality=95)
    return folder


def blue_mask(h: int = 96, w: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (abs(yy - 75) < 8) & (abs(xx - 90) < 20)


def _record(log: list, tag: str, out) -> None:
    frame_idx, obj_ids, masks = out
    log.append((tag, int(frame_idx), list(obj_ids), masks.detach().float().cpu().clone()))


def _propagate(log: list, tag: str, predictor, state, **kwargs) -> None:
    for out in predictor.propagate_in_video(state, **kwargs):
        _record(log, tag, out)


def full_session(predictor, video: str) -> list:
    """Every interaction the video issue lists, in one session. Returns a log of all outputs."""
    log: list = []
    state = predictor.init_state(video)
    _record(log, "points", predictor.add_new_points_or_box(
        state, 0, 1, points=np.array([[30.0, 40.0], [100.0, 80.0]], np.float32), labels=np.array([1, 0], np.int32)))
    _record(log, "box", predictor.add_new_points_or_box(state, 0, 2, box=np.array([85.0, 14.0, 115.0, 36.0])))
    _record(log, "mask", predictor.add_new_mask(state, 2, 3, blue_mask()))
    _propagate(log, "forward", predictor, state)
    _record(log, "correction", predictor.add_new_points_or_box(
        state, 4, 1, points=np.array([[50.0, 48.0]], np.float32), labels=np.array([1], np.int32),
        clear_old_points=False))
    _propagate(log, "re-forward", predictor, state)
    _record(log, "new-object", predictor.add_new_points_or_box(
        state, 5, 4, points=np.array([[60.0, 50.0]], np.float32), labels=np.array([1], np.int32)))
    _propagate(log, "after-new", predictor, state, start_frame_idx=3, max_frame_num_to_track=3)
    _propagate(log, "reverse", predictor, state, start_frame_idx=6, reverse=True)
    _record(log, "clear", predictor.clear_all_prompts_in_frame(state, 4, 1))
    ids, updated = predictor.remove_object(state, 2)
    log.append(("remove", -1, list(ids), torch.zeros(0)))
    for frame_idx, masks in updated:
        log.append(("removed-update", int(frame_idx), list(ids), masks.float().cpu().clone()))
    _propagate(log, "after-remove", predictor, state, start_frame_idx=1)
    predictor.reset_state(state)
    _record(log, "after-reset", predictor.add_new_points_or_box(
        state, 3, 7, points=np.array([[40.0, 45.0]], np.float32), labels=np.array([1], np.int32)))
    _propagate(log, "final", predictor, state)
    return log
