"""The demo behind ``make demo``: track several objects through a generated video from one click each.

The video is a synthetic clip (two textured shapes that move slowly, turn and overlap, see
:mod:`samstream.data.synthetic`) from a seed the demo model never saw in training, so its ground
truth is known and the demo reports how well the tracking did: J&F per object, scored only on the
frames where the object is in the ground truth or in the prediction (:data:`PROTOCOL`; a frame
empty in both says nothing about tracking), with the number of frames tracked (J >= 0.5) and the
first frame where the object was lost. The model is ``samstream-nano``, which ships with samstream
(small, trained on CPU for a few hours: it follows these objects only part of the way, and the demo
says so); ``--model`` picks another one.

Writes into the output folder: ``sample.mp4`` (the generated video), ``overlay.mp4`` (the tracked
masks drawn over it), ``masks/<frame>.png`` (indexed, DAVIS layout), ``masks.jsonl`` (COCO RLE per
frame) and ``demo.json`` (what ran, how fast and how well).
"""

from __future__ import annotations

import time
from dataclasses import replace
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import samstream
from samstream.errors import InvalidInputError
from samstream.eval.clicks import first_click
from samstream.eval.metrics import boundary_f, jaccard
from samstream.eval.synthetic import visible_objects
from samstream.files import write_json
from samstream.io.masks import tracked_frames, write_tracking_run
from samstream.io.outputs import staged_output
from samstream.data.synthetic import SyntheticClip, SyntheticConfig, generate_clip
from samstream.video.frames.decode import write_video

PROTOCOL = ("J&F per object over the frames where it is in the ground truth or in the prediction "
            "(frames empty in both are not scored), then the mean over objects")

DEMO_MODEL = "samstream-nano"
DEMO_SEED = 9_000_777_779  # a held-out seed (samstream.eval.synthetic.HELD_OUT_BASE + 777_779)
DEMO_FRAMES = 24  # the length of the clips samstream-nano was trained on
VIDEO_SIZE = 256
# Two large objects that move slowly and stay in view, no look-alike distractors: what the small
# demo model can follow (see the module docstring for how well it does).
DEMO_CONFIG = SyntheticConfig(size=VIDEO_SIZE, num_frames=DEMO_FRAMES, min_objects=2, max_objects=2,
                              max_distractors=0, radius=(0.14, 0.22), max_speed=0.015, max_growth=0.01,
                              max_spin=0.05, camera_speed=0.005, exit_prob=0.0)
FPS = 12
OUTPUTS = ["sample.mp4", "overlay.mp4", "masks/", "masks.jsonl", "demo.json"]


def present_frames_jf(gt: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Score one object's (T, H, W) bool masks by :data:`PROTOCOL`.

    Returns ``jf``, ``j``, ``f`` (None when no frame is scored), ``frames_scored``,
    ``frames_tracked`` (scored frames with J >= 0.5), ``lost_frames`` (the scored frames with
    J < 0.5: tracking can fail and recover, so they need not be consecutive) and ``first_lost`` (the
    first of them, or None). A frame where the object has left and the prediction is empty says
    nothing about tracking, so it is not counted as a success.
    """
    scored = gt.any(axis=(1, 2)) | pred.any(axis=(1, 2))  # (T,)
    if not scored.any():
        return {"jf": None, "j": None, "f": None, "frames_scored": 0, "frames_tracked": 0, "lost_frames": [],
                "first_lost": None}
    j = jaccard(gt[scored], pred[scored])  # (S,)
    f = boundary_f(gt[scored], pred[scored])  # (S,)
    lost = np.flatnonzero(scored)[j < 0.5]  # frame indices
    return {"jf": round((float(j.mean()) + float(f.mean())) / 2, 4), "j": round(float(j.mean()), 4),
            "f": round(float(f.mean()), 4), "frames_scored": int(scored.sum()),
            "frames_tracked": int((j >= 0.5).sum()), "lost_frames": [int(t) for t in lost],
            "first_lost": int(lost[0]) if lost.size else None}


def demo_clip(num_frames: int = DEMO_FRAMES) -> SyntheticClip:
    """The demo's synthetic clip (frames and ground-truth masks)."""
    if num_frames < 1:
        raise InvalidInputError(f"num_frames: expected at least 1, got {num_frames}")
    return generate_clip(DEMO_SEED, replace(DEMO_CONFIG, num_frames=num_frames))


def run_demo(out_dir: str | Path, model_name: str | None = None, device: str = "auto", force: bool = False,
             num_frames: int = DEMO_FRAMES,
             progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None) -> dict[str, Any]:
    """Generate the sample video, track each object visible on frame 0 from one click, write the outputs.

    ``progress(items, total, unit)`` may wrap the frame loop (a progress bar). Returns the summary
    also written to ``demo.json``. Outputs are written into a hidden folder and moved into ``out_dir``
    at the end: a failed run leaves nothing.
    """
    name = model_name or DEMO_MODEL
    clip = demo_clip(num_frames)
    with staged_output(out_dir, OUTPUTS, force) as staging:
        model = samstream.load_model(name, device=device, allow_download=False)
        write_video(staging / "sample.mp4", clip.frames, FPS)
        objects = visible_objects(clip.masks[0], 64)
        clicks = {clip.obj_ids[k]: _click(clip.masks[0, k]) for k in objects}
        start = time.perf_counter()
        pred, count = _track(model, staging, clicks, progress)  # (T, N, H, W) bool in clicks' order
        seconds = time.perf_counter() - start
        per_object = {str(obj_id): present_frames_jf(clip.masks[:count, k], pred[:count, j])
                      for j, (obj_id, k) in enumerate(zip(clicks, objects))}
        scores = [o["jf"] for o in per_object.values() if o["jf"] is not None]
        out = Path(out_dir)
        summary = {"model": name, "clicks": clicks, "frames": count, "objects": len(objects),
                   "jf": round(float(np.mean(scores)), 4) if scores else None,
                   "protocol": PROTOCOL, "per_object": per_object,
                   "seconds": round(seconds, 3), "fps": round(count / max(seconds, 1e-9), 2),
                   "out": str(out), "overlay": str(out / "overlay.mp4"), "masks": str(out / "masks")}
        write_json(staging / "demo.json", summary)
    return summary


def _click(mask: np.ndarray) -> list[int]:
    """[x, y] of the one positive click on an (H, W) ground-truth mask: its deepest point."""
    click = first_click(mask)
    return [click.x, click.y]


def _track(model: Any, folder: Path, clicks: dict[int, list[int]],
           progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None) -> tuple[np.ndarray, int]:
    """Track ``folder/sample.mp4`` from one click per object; write the tracking outputs into ``folder``.

    Returns the predicted masks, (T, N, H, W) bool with objects in ``clicks``' order, and the frame count.
    """
    ids = list(clicks)
    with samstream.VideoPredictor(model).open(folder / "sample.mp4") as session:
        pred = np.zeros((session.num_frames, len(ids)) + tuple(session.video_size), dtype=bool)

        def keep(items: Iterable[Any]) -> Iterator[Any]:
            for item in items:
                for j, obj_id in enumerate(ids):
                    pred[item.frame_idx, j] = item.masks[item.obj_ids.index(obj_id)]
                yield item

        for obj_id, xy in clicks.items():
            session.add_points(frame=0, obj_id=obj_id, points=[xy], labels=[1])
        items: Iterable[Any] = keep(tracked_frames(session.frames, session.propagate()))
        if progress is not None:
            items = progress(items, session.num_frames, "frames")
        count = write_tracking_run(folder, items, video="overlay.mp4", fps=FPS)
    return pred, count
