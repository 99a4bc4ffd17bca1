"""The demo behind ``make demo``: track a moving object through a generated video from one click.

Writes into the output folder: ``sample.mp4`` (the generated video), ``overlay.mp4`` (the tracked
mask drawn over it), ``masks/<frame>.png`` (indexed, DAVIS layout), ``masks.jsonl`` (COCO RLE per
frame) and ``demo.json`` (what ran and how fast).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError

DEMO_MODEL = "sam2.1-tiny"
RANDOM_IMAGE_SIZE = 256  # input size of the random-weight fallback (keeps the demo well under a minute)
FPS = 12
OUTPUTS = ["sample.mp4", "overlay.mp4", "masks/", "masks.jsonl", "demo.json"]


def disc_center(t: int, num_frames: int, size: tuple[int, int]) -> tuple[int, int]:
    """(x, y) of the moving disc on frame ``t``: left to right along a gentle arc."""
    h, w = size
    s = t / max(num_frames - 1, 1)
    return int(w * (0.25 + 0.5 * s)), int(h * (0.5 - 0.15 * np.sin(np.pi * s)))


def generated_video(num_frames: int = 24, size: tuple[int, int] = (240, 320), seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 frames: a red disc moving over a textured background past a green square."""
    if num_frames < 1:
        raise InvalidInputError(f"num_frames: expected at least 1, got {num_frames}")
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([60 + 40 * np.sin(xx / 23.0), 90 + 30 * np.cos(yy / 17.0), 120 + 0 * xx], -1)
    square = (abs(yy - h * 0.7) < h // 8) & (abs(xx - w * 0.6) < h // 8)
    radius = min(h, w) // 8
    frames = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    for t in range(num_frames):
        img = background + rng.normal(0, 5, background.shape)  # (H, W, 3) float
        img[square] = [50, 200, 90]
        cx, cy = disc_center(t, num_frames, size)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = [235, 70, 60]
        frames[t] = img.clip(0, 255).astype(np.uint8)
    return frames


def demo_model(model_name: str | None, device: str = "auto", on_note: Callable[[str], None] | None = None
               ) -> tuple[Any, str, str]:
    """The model the demo runs: ``model_name`` if given, else sam2.1-tiny if cached, else random weights.

    Returns the model, its name and where its weights came from.
    """
    import samstream
    from samstream.checkpoints import cached_path
    from samstream.registry import get_variant

    if model_name is not None:
        return samstream.load_model(model_name, device=device, allow_download=False), model_name, "checkpoint"
    variant = get_variant(DEMO_MODEL)
    if cached_path(variant).exists():
        return samstream.load_model(DEMO_MODEL, device=device, allow_download=False), DEMO_MODEL, "checkpoint"
    if on_note is not None:
        on_note(f"no {DEMO_MODEL} checkpoint at {cached_path(variant)}: using RANDOM weights at input size "
                f"{RANDOM_IMAGE_SIZE}, so the masks are meaningless; run `samstream download {DEMO_MODEL}` "
                "for real results")
    cfg = variant.config.with_image_size(RANDOM_IMAGE_SIZE)
    model = samstream.build_model(cfg, device=device, seed=0)
    return model, DEMO_MODEL, f"random weights, input size {RANDOM_IMAGE_SIZE} (no checkpoint cached)"


def run_demo(out_dir: str | Path, model_name: str | None = None, device: str = "auto", force: bool = False,
             num_frames: int = 24, on_note: Callable[[str], None] | None = None,
             progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None) -> dict[str, Any]:
    """Generate the sample video, track the disc from one click on frame 0, write the outputs.

    ``progress(items, total, unit)`` may wrap the frame loop (a progress bar). Returns the summary
    also written to ``demo.json``.
    """
    import samstream
    from samstream.io.masks import prepare_output_dir, tracked_frames, write_json_atomic, write_tracking_run
    from samstream.video.decode import write_video

    out = prepare_output_dir(out_dir, OUTPUTS, force)
    model, name, weights = demo_model(model_name, device, on_note)
    frames = generated_video(num_frames)
    write_video(out / "sample.mp4", frames, FPS)
    x, y = disc_center(0, num_frames, frames.shape[1:3])
    start = time.perf_counter()
    with samstream.VideoPredictor(model).open(out / "sample.mp4") as session:
        session.add_points(frame=0, obj_id=1, points=[[x, y]], labels=[1])
        items: Iterable[Any] = tracked_frames(session.frames, session.propagate())
        if progress is not None:
            items = progress(items, session.num_frames, "frames")
        count = write_tracking_run(out, items, video="overlay.mp4", fps=FPS)
    seconds = time.perf_counter() - start
    summary = {"model": name, "weights": weights, "click": [x, y], "frames": count, "objects": 1,
               "seconds": round(seconds, 3), "fps": round(count / max(seconds, 1e-9), 2),
               "out": str(out), "overlay": str(out / "overlay.mp4"), "masks": str(out / "masks")}
    write_json_atomic(out / "demo.json", summary)
    return summary
