"""Fixtures of the batch tests: synthetic image sets and video datasets, job settings, output readers.

Everything is small (48 x 64 images, 3-frame videos (4 frames for automatic masklets), a 4 x 4 point
grid (2 x 2 for masklets)) and runs the bundled ``samstream-nano`` model on the CPU.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.batch import JobSpec, run_local
from samstream.checkpoints import load_model
from samstream.io.labels import read_label_png
from samstream.video.frames.decode import write_video
from tests.data.synth import instance_masks, moving_objects, names_of, write_davis, write_frames

MODEL = "samstream-nano"
# a coarse grid and low thresholds: a few masks per image, found fast
GENERATOR = {"points_per_side": 4, "pred_iou_thresh": 0.5, "stability_score_thresh": 0.5}
# automatic masklets: a key frame every 2 frames, a 2 x 2 grid keeping every mask; as command-line
# options (MASKLET_ARGS) and as VideoMaskGenerator keywords (MASKLETS), written out independently
MASKLET_ARGS = ["--keyframe-interval", "2", "--points-per-side", "2", "--pred-iou-thresh", "0",
                "--stability-thresh", "0"]
MASKLETS = {"keyframe_interval": 2, "points_per_side": 2, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
CLIP_FRAMES = 4


def write_images(folder: Path, count: int, corrupt: tuple[str, ...] = ()) -> Path:
    """``count`` PNG images ``img_00.png``... of coloured rectangles, and corrupt files named ``corrupt``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, _ = instance_masks(i, n=3)
        Image.fromarray(image).save(folder / f"img_{i:02d}.png")
    for name in corrupt:
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image needs")
    return folder


def write_videos(root: Path, count: int) -> Path:
    """A DAVIS dataset of ``count`` 3-frame videos ``vid_0``...; odd ones have a second, late object."""
    videos = {f"vid_{i}": moving_objects(3, late=1 if i % 2 else None, seed=i) for i in range(count)}
    return write_davis(root, videos)


def write_clips(folder: Path, count: int, frame_folders: int = 0, corrupt: tuple[str, ...] = ()) -> Path:
    """``count`` MP4 clips ``clip_0.mp4``..., ``frame_folders`` JPEG folders ``frames_0/``..., and
    corrupt files named ``corrupt`` (an ``.mp4`` of junk; a folder name: frames whose last is junk)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        write_video(folder / f"clip_{i}.mp4", moving_objects(CLIP_FRAMES, late=1 if i % 2 else None, seed=i)[0], 24)
    for i in range(frame_folders):
        write_frames(folder / f"frames_{i}", moving_objects(CLIP_FRAMES, late=2, seed=10 + i)[0], names_of(CLIP_FRAMES))
    for name in corrupt:
        if name.endswith(".mp4"):
            (folder / name).write_bytes(b"\x00\x00\x00\x18ftypmp42 and then nothing a video needs")
        else:
            write_frames(folder / name, moving_objects(CLIP_FRAMES, seed=99)[0], names_of(CLIP_FRAMES))
            (folder / name / f"{CLIP_FRAMES - 1:05d}.jpg").write_bytes(b"\xff\xd8 not a JPEG after all")
    return folder


def auto_spec(out: Path) -> JobSpec:
    return JobSpec("auto", str(out), MODEL, "cpu", dict(GENERATOR))


def track_spec(out: Path, root: Path) -> JobSpec:
    return JobSpec("track", str(out), MODEL, "cpu", dataset_root=str(root), fmt="davis")


def auto_video_spec(out: Path) -> JobSpec:
    return JobSpec("auto-video", str(out), MODEL, "cpu", dict(MASKLETS))


def read_outputs(out: Path) -> dict[str, object]:
    """Every output file under ``out`` (batch logs left out): JSON as data, PNGs as arrays, others as bytes."""
    found: dict[str, object] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel.startswith("batch."):
            continue
        if path.suffix == ".json":
            found[rel] = json.loads(path.read_text())
        else:
            found[rel] = read_label_png(path) if path.suffix == ".png" else path.read_bytes()
    return found


def assert_same_outputs(a: dict[str, object], b: dict[str, object]) -> None:
    assert sorted(a) == sorted(b)
    for rel in a:
        if isinstance(a[rel], np.ndarray):
            assert np.array_equal(a[rel], b[rel]), rel
        else:
            assert a[rel] == b[rel], rel


def done_keys(out: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (out / "batch.done.jsonl").read_text().splitlines()]


def error_records(out: Path) -> list[dict]:
    path = out / "batch.errors.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="session")
def nano():
    """The bundled model, loaded once for the session (engines and workers take it as ``model``)."""
    return load_model(MODEL, device="cpu", allow_download=False)


@pytest.fixture(scope="session")
def local_engine(nano):
    """The local engine on the session's model."""
    return functools.partial(run_local, model=nano)
