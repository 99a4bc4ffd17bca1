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
from samstream.demo import generated_video
from samstream.video.decode import write_video

H, W = 96, 128  # size of the generated media
FRAMES = 3  # length of the generated video


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


