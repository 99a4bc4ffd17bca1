"""Fixtures of the command-line tests: a small checkpoint, generated media, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.checkpoints import build_model, save_checkpoint
from samstream.config import ModelConfig
from samstream.registry import get_variant
from samstream.video.frames.decode import write_video

H, W = 96, 128  # size of the generated media
FRAMES = 3  # length of the generated video


def generated_video(num_frames: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 frames: a red disc moving over a textured background past a green square."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([60 + 40 * np.sin(xx / 23.0), 90 + 30 * np.cos(yy / 17.0), 120 + 0 * xx], -1)
    square = (abs(yy - h * 0.7) < h // 8) & (abs(xx - w * 0.6) < h // 8)
    radius = min(h, w) // 8
    frames = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    for t in range(num_frames):
        img = background + rng.normal(0, 5, background.shape)
        img[square] = [50, 200, 90]
        s = t / max(num_frames - 1, 1)
        cx, cy = int(w * (0.25 + 0.5 * s)), int(h * (0.5 - 0.15 * np.sin(np.pi * s)))
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = [235, 70, 60]
        frames[t] = img.clip(0, 255).astype(np.uint8)
    return frames


def small_config() -> ModelConfig:
    """sam2.1-tiny at input size 256 with a shallower trunk (5 blocks, windowed and global attention):
    every code path of the real models, at half the cost of the tiny one."""
    cfg = get_variant("sam2.1-tiny").config.with_image_size(256)
    return replace(cfg, hiera=replace(cfg.hiera, stages=(1, 1, 2, 1), global_att_blocks=(3,)))


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """A small random-weight checkpoint (it carries its config: samstream_config), two images and a video."""
    root = tmp_path_factory.mktemp("cli_media")
    save_checkpoint(build_model(small_config(), device="cpu", seed=0), root / "tiny256.pt")
    video = generated_video(FRAMES, (H, W))
    write_video(root / "clip.mp4", video, 12)
    Image.fromarray(video[0]).save(root / "img.png")
    Image.fromarray(video[-1]).save(root / "img2.jpg")
    (root / "home").mkdir()  # an empty SAMSTREAM_HOME: nothing is cached
    return {"root": root, "ckpt": root / "tiny256.pt", "video": root / "clip.mp4", "image": root / "img.png",
            "image2": root / "img2.jpg", "home": root / "home"}


def cli_command() -> list[str]:
    """The installed console script, else ``python -m samstream.cli``."""
    script = Path(sys.executable).parent / "samstream"
    return [str(script)] if script.exists() else [sys.executable, "-m", "samstream.cli"]


def run_cli(args: list[str], home: Path, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, SAMSTREAM_HOME=str(home), PYTHONWARNINGS="ignore")
    return subprocess.run(cli_command() + [str(a) for a in args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def video_info(path: Path) -> tuple[int, int, int]:
    """(frames, height, width) of a video file, decoded with PyAV."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return len(frames), frames[0].shape[0], frames[0].shape[1]


def indexed_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "P", f"{path} is {img.mode}, not an indexed PNG"
        assert img.getpalette() is not None
        return np.asarray(img)


