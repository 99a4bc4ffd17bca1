"""The demo behind ``make demo``: track several objects through a generated video from one click each.

The video is a synthetic clip (textured shapes that move, turn, overlap and leave the frame, plus
look-alike distractors; see :mod:`samstream.train.synthetic`) from a seed the demo model never saw
in training, so its ground truth is known and the demo reports how well the tracking did (J&F).
The model is ``samstream-nano``, which ships with samstream; ``--model`` picks another one.

Writes into the output folder: ``sample.mp4`` (the generated video), ``overlay.mp4`` (the tracked
masks drawn over it), ``masks/<frame>.png`` (indexed, DAVIS layout), ``masks.jsonl`` (COCO RLE per
frame) and ``demo.json`` (what ran, how fast and how well).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

import samstream
from samstream.errors import InvalidInputError
from samstream.eval.clicks import first_click
from samstream.eval.metrics import boundary_f, jaccard
from samstream.eval.synthetic import visible_objects
from samstream.files import write_json
from samstream.io.masks import prepare_output_dir, tracked_frames, write_tracking_run
from samstream.train.synthetic import SyntheticConfig, generate_clip
from samstream.video.decode import write_video

PROTOCOL = ("J&F per object over the frames where it is in the ground truth or in the prediction "
            "(frames empty in both are not scored), then the mean over objects")

DEMO_MODEL = "samstream-nano"
DEMO_SEED = 9_000_777_777  # a held-out seed (samstream.eval.synthetic.HELD_OUT_BASE + 777_777)
VIDEO_SIZE = 256
FPS = 12
OUTPUTS = ["sample.mp4", "overlay.mp4", "masks/", "masks.jsonl", "demo.json"]


def present_frames_jf(gt: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Score one object's (T, H, W) bool masks by :data:`PROTOCOL`.

    Returns ``jf``, ``j``, ``f`` (None when no frame is scored), ``frames_scored``,
    ``frames_tracked`` (scored frames with J >= 0.5) and ``first_lost`` (the first scored frame
    with J < 0.5, or None). A frame where the object has left and the prediction is empty says
    nothing about tracking, so it is not counted as a success.
    """
    scored = gt.any(axis=(1, 2)) | pred.any(axis=(1, 2))  # (T,)
    if not scored.any():
        return {"jf": None, "j": None, "f": None, "frames_scored": 0, "frames_tracked": 0, "first_lost": None}
    j = jaccard(gt[scored], pred[scored])  # (S,)
    f = boundary_f(gt[scored], pred[scored])  # (S,)
    lost = np.flatnonzero(scored)[j < 0.5]  # frame indices
    return {"jf": round((float(j.mean()) + float(f.mean())) / 2, 4), "j": round(float(j.mean()), 4),
            "f": round(float(f.mean()), 4), "frames_scored": int(scored.sum()),
            "frames_tracked": int((j >= 0.5).sum()), "first_lost": int(lost[0]) if lost.size else None}


def demo_clip(num_frames: int = 48, size: int = VIDEO_SIZE):
    """The demo's synthetic clip (frames and ground-truth masks)."""
    if num_frames < 1:
        raise InvalidInputError(f"num_frames: expected at least 1, got {num_frames}")
    return generate_clip(DEMO_SEED, SyntheticConfig(size=size, num_frames=num_frames, min_objects=2, max_objects=3))


def run_demo(out_dir: str | Path, model_name: str | None = None, device: str = "auto", force: bool = False,
             num_frames: int = 48,
             progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None) -> dict[str, Any]:
    """Generate the sample video, track each object visible on frame 0 from one click, write the outputs.

    ``progress(items, total, unit)`` may wrap the frame loop (a progress bar). Returns the summary
    also written to ``demo.json``.
    """
    out = prepare_output_dir(out_dir, OUTPUTS, force)
    name = model_name or DEMO_MODEL
    model = samstream.load_model(name, device=device, allow_download=False)
    clip = demo_clip(num_frames)
    write_video(out / "sample.mp4", clip.frames, FPS)
    objects = visible_objects(clip.masks[0], 64)
    clicks = {}
    for k in objects:
        c = first_click(clip.masks[0, k])
        clicks[clip.obj_ids[k]] = [c.x, c.y]
    pred = np.zeros((len(clip.frames), len(objects)) + clip.masks.shape[2:], dtype=bool)

    def keep(items: Iterable[Any]) -> Iterable[Any]:
        for item in items:
            for j, k in enumerate(objects):
                pred[item.frame_idx, j] = item.masks[item.obj_ids.index(clip.obj_ids[k])]
            yield item

    start = time.perf_counter()
    with samstream.VideoPredictor(model).open(out / "sample.mp4") as session:
        for obj_id, xy in clicks.items():
            session.add_points(frame=0, obj_id=obj_id, points=[xy], labels=[1])
        items: Iterable[Any] = keep(tracked_frames(session.frames, session.propagate()))
        if progress is not None:
            items = progress(items, session.num_frames, "frames")
        count = write_tracking_run(out, items, video="overlay.mp4", fps=FPS)
    seconds = time.perf_counter() - start
    per_object = {str(clip.obj_ids[k]): present_frames_jf(clip.masks[:count, k], pred[:count, j])
                  for j, k in enumerate(objects)}
    scores = [o["jf"] for o in per_object.values() if o["jf"] is not None]
    jf = round(float(np.mean(scores)), 4) if scores else None
    summary = {"model": name, "clicks": clicks, "frames": count, "objects": len(objects), "jf": jf,
               "protocol": PROTOCOL, "per_object": per_object,
               "seconds": round(seconds, 3), "fps": round(count / max(seconds, 1e-9), 2),
               "out": str(out), "overlay": str(out / "overlay.mp4"), "masks": str(out / "masks")}
    write_json(out / "demo.json", summary)
    return summary
