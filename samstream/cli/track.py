"""``samstream track VIDEO --point F:X,Y ... --out DIR``: track objects through a video."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from samstream.cli.common import (INTERRUPTED, Reporter, add_method, add_out, load_model, non_negative_int,
                                  positive_int, stop_on_interrupt)
from samstream.cli.prompts import (VideoPrompt, VideoPromptAction, check_obj_ids, group_prompts,
                                   read_mask_png, read_prompts_file)
from samstream.errors import InvalidInputError, PromptError, SamstreamError

VIDEO_FILE = "overlay.mp4"


def add_prompt_options(p: argparse.ArgumentParser) -> None:
    """``--obj``, ``--point``, ``--box``, ``--mask`` and ``--prompts`` (shared with ``stream``)."""
    g = p.add_argument_group("prompts", "F is a frame index; ID@ names the object (else the last --obj, default 1)")
    g.add_argument("--obj", action=VideoPromptAction, metavar="ID",
                   help="object id of the prompts after it (1-255: ids are the pixel values of masks/<frame>.png)")
    g.add_argument("--point", dest="prompts", action=VideoPromptAction, metavar="[ID@]F:X,Y[:LABEL]",
                   help="a click; LABEL 1 = object (default), 0 = background")
    g.add_argument("--box", dest="prompts", action=VideoPromptAction, metavar="[ID@]F:X0,Y0,X1,Y1", help="a box")
    g.add_argument("--mask", dest="prompts", action=VideoPromptAction, metavar="[ID@]F:PNG",
                   help="a mask PNG of the frame's size (pixels equal to ID if it holds several ids, else nonzero)")
    g.add_argument("--prompts", dest="prompts_file", metavar="FILE.json",
                   help='prompts for many objects and frames: [{"frame": 0, "obj_id": 1, "points": [[x, y]], '
                        '"labels": [1]}, {"frame": 3, "obj_id": 2, "box": [x0, y0, x1, y1]}, '
                        '{"frame": 0, "obj_id": 3, "mask": "m.png"}]')


def add_video_outputs(p: argparse.ArgumentParser) -> None:
    add_out(p)
    p.add_argument("--per-object", action="store_true", help="also write objects/<ID>/<frame>.png (SA-V layout)")
    p.add_argument("--no-video", action="store_true", help=f"do not write {VIDEO_FILE}")
    p.add_argument("--fps", type=positive_int, default=None, help="frame rate of the overlay video "
                                                                   "(default: the source's, else 24)")


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``track`` to the command line's subparsers ``sub`` (``common`` adds the model options)."""
    p = common(sub.add_parser(
        "track", help="track prompted objects through a video file or frame folder",
        description="Track objects through VIDEO. Writes masks/<frame>.png (indexed, DAVIS layout), "
                    "masks.jsonl (COCO RLE per frame), overlay.mp4 (frames in processing order) and, "
                    "with --per-object, objects/<ID>/<frame>.png (SA-V layout) into --out."))
    p.add_argument("video", metavar="VIDEO", help="video file or folder of JPEG/PNG frames")
    add_prompt_options(p)
    p.add_argument("--start", type=non_negative_int, default=None,
                   help="frame to start from (default: the first prompted frame)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="process at most this many frames")
    p.add_argument("--reverse", action="store_true", help="track backwards from --start")
    add_method(p)
    add_video_outputs(p)
    p.set_defaults(func=run)


def collect_prompts(args: argparse.Namespace) -> list[VideoPrompt]:
    """Command-line and file prompts merged per frame and object; mask files must exist."""
    prompts = list(args.prompts or [])
    if args.prompts_file:
        prompts += read_prompts_file(args.prompts_file)
    if not prompts:
        raise PromptError("--point/--box/--mask/--prompts: give at least one prompt")
    prompts = group_prompts(prompts)
    check_obj_ids(prompts)
    for p in prompts:
        if p.mask is not None and not p.mask.is_file():
            raise InvalidInputError(f"--mask: no such file {str(p.mask)!r}")
    return prompts


def output_names(args: argparse.Namespace) -> list[str]:
    from samstream.io.masks import VideoMaskWriter  # imports torch: only when a command runs

    return VideoMaskWriter.output_names(args.per_object) + ([] if args.no_video else [VIDEO_FILE])


def describe(p: VideoPrompt) -> str:
    return f"object {p.obj_id} on frame {p.frame}"


def apply_prompt(add: Any, p: VideoPrompt, hw: tuple[int, int], mask_hw: tuple[int, int] | None = None) -> Any:
    """Give prompt ``p`` to ``add`` (a session or a tracker, through ``add.points/box/mask``).

    A mask PNG must be ``hw`` (the source's frame size); it is given to ``add`` resized to ``mask_hw``
    (the frame the model sees) when that differs.
    """
    try:
        if p.mask is not None:
            mask = read_mask_png(p.mask, p.obj_id, hw)
            if mask_hw is not None and mask_hw != hw:
                mask = resize_mask(mask, mask_hw)
            return add.mask(p.obj_id, mask)
        if p.box is not None:
            return add.box(p.obj_id, list(p.box), p.points, p.labels)
        return add.points(p.obj_id, p.points, p.labels)
    except SamstreamError as exc:
        raise type(exc)(f"{describe(p)}: {exc}") from None


def resize_mask(mask: Any, hw: tuple[int, int]) -> Any:
    """An (H, W) bool mask resized (nearest) to ``hw``."""
    from PIL import Image  # Pillow: imported when a mask is resized, not for --help

    img = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize((hw[1], hw[0]), Image.NEAREST)
    return np.asarray(img) > 127


class _SessionPrompts:
    """Adapts a :class:`VideoSession` frame to :func:`apply_prompt`."""

    def __init__(self, session: Any, frame: int) -> None:
        self.session, self.frame = session, frame

    def points(self, obj_id: int, points: list, labels: list) -> Any:
        return self.session.add_points(self.frame, obj_id, points, labels)

    def box(self, obj_id: int, box: list, points: list, labels: list) -> Any:
        return self.session.add_box(self.frame, obj_id, box, points or None, labels or None)

    def mask(self, obj_id: int, mask: Any) -> Any:
        return self.session.add_mask(self.frame, obj_id, mask)


def run(args: argparse.Namespace) -> int:
    """Run ``samstream track``; returns the exit code: 0, or 130 when Ctrl-C stopped it (the files
    then cover the frames done).
    """
    # the library imports torch: imported here, when the command runs, so that --help stays fast
    from samstream.io.masks import tracked_frames, write_tracking_run
    from samstream.io.outputs import staged_output
    from samstream.video.predictor import VideoPredictor

    report = Reporter(args)
    prompts = collect_prompts(args)
    if not Path(args.video).exists():
        raise InvalidInputError(f"VIDEO: no such file or folder {args.video!r}")
    out = Path(args.out)
    # outputs are written into a hidden folder beside --out and moved into place at the end; a failed
    # run (bad prompt, unreadable frame, ...) leaves nothing, while Ctrl-C keeps the frames done so far
    with staged_output(out, output_names(args), args.force, keep_on=(KeyboardInterrupt,)) as staging:
        model, model_name = load_model(args)
        with VideoPredictor(model, method=args.method).open(args.video) as session:
            for p in prompts:
                apply_prompt(_SessionPrompts(session, p.frame), p, session.video_size)
            if args.start is not None and args.start >= session.num_frames:
                raise InvalidInputError(f"--start: frame {args.start} is past the end of the video "
                                        f"({session.num_frames} frames: 0 to {session.num_frames - 1})")
            results = session.propagate(start=args.start, max_frames=args.max_frames, reverse=args.reverse)
            total = _expected_frames(session.num_frames, args, prompts)
            fps = args.fps or session.frames.fps or 24
            start = time.perf_counter()
            with stop_on_interrupt() as stop:
                frames = report.progress(tracked_frames(session.frames, results, stop), total, "frames")
                count = write_tracking_run(staging, frames, args.per_object, None if args.no_video else VIDEO_FILE,
                                           fps, on_frame=lambda rec: report.event(_frame_event(rec)))
            seconds = time.perf_counter() - start
    summarize_tracking(report, count, len({p.obj_id for p in prompts}), seconds, out, model_name, bool(stop),
                       args.method)
    return INTERRUPTED if stop else 0


def _frame_event(record: dict[str, Any]) -> dict[str, Any]:
    return {"event": "frame", "frame": record["frame"], "name": record["name"],
            "areas": {str(o["obj_id"]): o["area"] for o in record["objects"]}}


def _expected_frames(n: int, args: argparse.Namespace, prompts: list[VideoPrompt]) -> int:
    start = args.start if args.start is not None else min(p.frame for p in prompts)
    total = start + 1 if args.reverse else n - start
    return min(total, args.max_frames) if args.max_frames else total


def summarize_tracking(report: Reporter, count: int, n_obj: int, seconds: float, out: Path, model_name: str,
                       stopped: bool, method: str = "sam2") -> None:
    """The final line (or JSON record) of a tracking run."""
    fps = count / max(seconds, 1e-9)
    named = "" if method == "sam2" else f" ({method})"
    report.summary(f"{count} frames, {n_obj} object(s), {fps:.1f} fps{named} -> {out}"
                   + (" (stopped by Ctrl-C: the files cover the frames done)" if stopped else ""),
                   {"frames": count, "objects": n_obj, "fps": round(fps, 2), "seconds": round(seconds, 3),
                    "out": str(out), "model": model_name, "method": method, "stopped": stopped})
