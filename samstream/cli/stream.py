"""``samstream stream SOURCE --point F:X,Y ... --out DIR``: live tracking with the streaming tracker.

Outputs appear as frames arrive; Ctrl-C stops cleanly and keeps everything written so far.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from samstream.cli.common import INTERRUPTED, Reporter, add_method, load_model, positive_int, stop_on_interrupt
from samstream.cli.prompts import VideoPrompt
from samstream.cli.track import VIDEO_FILE, add_prompt_options, add_video_outputs, apply_prompt, collect_prompts
from samstream.cli.track import output_names, summarize_tracking
from samstream.errors import InvalidInputError, PromptError


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``stream`` to the command line's subparsers ``sub`` (``common`` adds the model options)."""
    p = common(sub.add_parser(
        "stream", help="track objects live in a camera, URL or video file (streaming tracker)",
        description="Track objects frame by frame as SOURCE delivers them; a prompt on frame F applies when F "
                    "arrives. Writes the same files as `track`, as they come. Ctrl-C stops and keeps them."))
    p.add_argument("source", metavar="SOURCE", help="camera index (0, 1, ...), device path, URL or video file")
    add_prompt_options(p)
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after this many frames")
    p.add_argument("--max-size", type=positive_int, default=None,
                   help="shrink frames whose longer side exceeds this many pixels (prompts stay in the "
                        "source's pixels; outputs have the shrunk size)")
    add_method(p)
    add_video_outputs(p)
    p.set_defaults(func=run)


def parse_source(text: str) -> int | str:
    """A camera index, or a path / URL (a local path must exist)."""
    if text.isdigit():
        return int(text)
    if "://" not in text and not Path(text).exists():
        raise InvalidInputError(f"SOURCE: no such file or device {text!r}")
    return text


class _TrackerPrompts:
    """Adapts a :class:`StreamTracker` (current frame) to :func:`apply_prompt`."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def points(self, obj_id: int, points: list, labels: list) -> Any:
        return self.tracker.add_points(obj_id, points, labels)

    def box(self, obj_id: int, box: list, points: list, labels: list) -> Any:
        return self.tracker.add_box(obj_id, box, points or None, labels or None)

    def mask(self, obj_id: int, mask: Any) -> Any:
        return self.tracker.add_mask(obj_id, mask)


def scaled_prompt(p: VideoPrompt, sx: float, sy: float) -> VideoPrompt:
    """``p`` with its coordinates (source pixels) in the pixels of a frame shrunk by (sx, sy)."""
    box = None if p.box is None else (p.box[0] * sx, p.box[1] * sy, p.box[2] * sx, p.box[3] * sy)
    return VideoPrompt(p.frame, p.obj_id, [(x * sx, y * sy) for x, y in p.points], list(p.labels), box, p.mask)


def shrink(frame: Any, max_size: int | None) -> Any:
    """``frame`` (H, W, 3) shrunk so that its longer side is at most ``max_size`` (bilinear)."""
    # NOTE(lead): FrameStream(max_size=...) does the same; once it exposes the source's frame size, use it
    # and drop this copy. The CLI needs both sizes: prompts are given in the source's pixels.
    h, w = frame.shape[:2]
    if max_size is None or max(h, w) <= max_size:
        return frame
    from PIL import Image  # Pillow: imported when frames are shrunk, not for --help

    scale = max_size / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))


def stream_frames(tracker: Any, frames: Any, pending: dict[int, list[VideoPrompt]], stop: Any,
                  max_frames: int | None, max_size: int | None = None) -> Iterator[Any]:
    """Step the tracker through ``frames`` (shrunk to ``max_size``), prompting on arrival; yields TrackedFrames.

    Prompt coordinates are in the source's pixels (as everywhere) and are scaled to the shrunk frame.
    A mask prompt must have the source's size; it is shrunk with the frame.
    """
    from samstream.io.masks import TrackedFrame  # imports torch: only when a command runs

    count = 0
    for source_frame in frames:
        frame = shrink(source_frame, max_size)
        result = tracker.step(frame)
        sy, sx = frame.shape[0] / source_frame.shape[0], frame.shape[1] / source_frame.shape[1]
        for p in pending.pop(int(result.frame_idx), []):
            result = apply_prompt(_TrackerPrompts(tracker), scaled_prompt(p, sx, sy), source_frame.shape[:2],
                                  frame.shape[:2])
        yield TrackedFrame(int(result.frame_idx), f"{int(result.frame_idx):05d}", frame, list(result.obj_ids),
                           result.masks.numpy(), result.object_scores.tolist())
        count += 1
        if stop or (max_frames is not None and count >= max_frames):
            return


def run(args: argparse.Namespace) -> int:
    """Run ``samstream stream``; returns the exit code: 0, or 130 when Ctrl-C stopped it (the files
    then cover the frames done).
    """
    # the library imports torch: imported here, when the command runs, so that --help stays fast
    from samstream.io.masks import write_tracking_run
    from samstream.io.outputs import staged_output
    from samstream.video.frames.frame_stream import read_frames
    from samstream.video.stream import StreamTracker

    report = Reporter(args)
    prompts = collect_prompts(args)
    source = parse_source(args.source)
    out = Path(args.out)
    pending: dict[int, list[VideoPrompt]] = {}
    for p in prompts:
        pending.setdefault(p.frame, []).append(p)
    # files are written into a hidden folder beside --out and moved into place when the run ends, also
    # when Ctrl-C stops it (every file written is complete); a failed run leaves nothing behind
    with staged_output(out, output_names(args), args.force, keep_on=(KeyboardInterrupt,)) as staging:
        model, model_name = load_model(args)
        tracker = StreamTracker(model, method=args.method)  # SAM2Long shows its best pathway so far
        start = time.perf_counter()
        with read_frames(source) as frames, stop_on_interrupt() as stop:
            fps = args.fps or getattr(frames, "fps", None) or 24
            stream = report.progress(stream_frames(tracker, frames, pending, stop, args.max_frames, args.max_size),
                                     args.max_frames, "frames")
            count = write_tracking_run(staging, stream, args.per_object, None if args.no_video else VIDEO_FILE, fps,
                                       on_frame=lambda rec: report.event({"event": "frame", "frame": rec["frame"],
                                                                          "areas": {str(o["obj_id"]): o["area"]
                                                                                    for o in rec["objects"]}}))
    seconds = time.perf_counter() - start
    summarize_tracking(report, count, len({p.obj_id for p in prompts}), seconds, out, model_name, bool(stop),
                       args.method)
    if pending and not stop:
        raise PromptError(f"--point/--box/--mask: frame {min(pending)} was never reached; the run ended after "
                          f"{count} frames (0 to {count - 1}); the outputs so far are kept in {out}")
    return INTERRUPTED if stop else 0
