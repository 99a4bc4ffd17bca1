"""``samstream auto-video VIDEO --out DIR``: segment and track everything in a video, with no prompts.

Writes ``masks.jsonl`` and ``overlay.mp4`` as frames become final, then ``<video>_auto.json`` (SA-V),
``davis/`` (DAVIS unsupervised PNGs) and ``ytvis.json`` (see :mod:`samstream.amg.masklet_io`).
Ctrl-C stops cleanly: the files then cover the frames finished so far, and the exit code is 130 (the
rule of every command, :data:`samstream.cli.common.INTERRUPTED`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samstream.cli.auto import GENERATOR_OPTIONS
from samstream.cli.common import (INTERRUPTED, Reporter, add_out, load_model, non_negative_int, nothing_found_note,
                                  positive_int, unit_float)

VIDEO_FILE = "overlay.mp4"  # samstream.amg.masklet_io.OVERLAY, named here without importing torch
# command-line option -> samstream.amg.masklet_io.MaskletRun field
RUN_OPTIONS = {"sav_every": "sav_every", "max_frames": "max_frames", "max_size": "max_size", "fps": "fps"}


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``auto-video`` to the command line's subparsers ``sub`` (``common`` adds the model options)."""
    p = common(sub.add_parser(
        "auto-video", help="segment and track everything in a video (automatic masklets, no prompts)",
        description="Automatic masklets of VIDEO: masks.jsonl, overlay.mp4, VIDEO_auto.json (SA-V), "
                    "davis/*.png (DAVIS unsupervised, 20 best masklets) and ytvis.json in --out."))
    p.add_argument("video", metavar="VIDEO", help="video file or frame folder")
    add_masklet_options(p)
    add_out(p)
    p.set_defaults(func=run)


def add_masklet_options(p: argparse.ArgumentParser) -> None:
    """Every option of a video's automatic masklets and their files, shared with `samstream batch auto-video`
    (read back by :func:`masklet_settings`)."""
    p.add_argument("--keyframe-interval", type=positive_int, default=8,
                   help="run the mask generator every N frames (default 8)")
    p.add_argument("--scene-cut", type=float, default=None, metavar="T",
                   help="also a key frame where the frame changes by more than T (mean grey level, 0-255)")
    p.add_argument("--backward", action="store_true", help="track new masklets backward from their key frame")
    p.add_argument("--max-absent", type=non_negative_int, default=16,
                   help="close a masklet absent for more than this many frames (default 16)")
    p.add_argument("--points-per-side", type=positive_int, default=16, help="grid of point prompts (default 16)")
    p.add_argument("--pred-iou-thresh", type=unit_float, default=0.8, help="keep masks above this predicted IoU")
    p.add_argument("--stability-thresh", type=unit_float, default=0.95, help="keep masks above this stability")
    p.add_argument("--crop-layers", type=non_negative_int, default=0, help="layers of image crops (default 0)")
    p.add_argument("--min-area", type=non_negative_int, default=0,
                   help="remove islands and fill holes smaller than this many pixels (default 0)")
    p.add_argument("--sav-every", type=positive_int, default=4,
                   help="annotate every N-th frame in the SA-V JSON (default 4, i.e. 6 fps from 24)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after this many frames")
    p.add_argument("--max-size", type=positive_int, default=None,
                   help="shrink frames whose longer side exceeds this many pixels")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the outputs (default: the video's)")
    p.add_argument("--no-video", action="store_true", help=f"do not write {VIDEO_FILE}")


def masklet_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options of :func:`add_masklet_options` as (VideoMaskGenerator keywords, MaskletRun fields)."""
    generator = {"keyframe_interval": args.keyframe_interval, "scene_cut_threshold": args.scene_cut,
                 "track_backward": args.backward, "max_absent_frames": args.max_absent,
                 **{kw: getattr(args, opt) for opt, kw in GENERATOR_OPTIONS.items() if hasattr(args, opt)}}
    run = {field: getattr(args, opt) for opt, field in RUN_OPTIONS.items()}
    return generator, {**run, "overlay": not args.no_video}


def run(args: argparse.Namespace) -> int:
    """Run ``samstream auto-video``; returns the exit code: 0, or 130 when Ctrl-C stopped it (the
    files then cover the frames done).
    """
    # the library imports torch: imported here, when the command runs, so that --help stays fast
    from samstream.amg.masklet_io import MaskletRun, write_masklets
    from samstream.amg.video import VideoMaskGenerator
    from samstream.cli.common import stop_on_interrupt
    from samstream.errors import InvalidInputError
    from samstream.io.outputs import staged_output

    report = Reporter(args)
    video = Path(args.video)
    if not video.exists():
        raise InvalidInputError(f"VIDEO: no such file or folder {args.video!r}")
    options, run_fields = masklet_settings(args)
    settings = MaskletRun(**run_fields)
    model, model_name = load_model(args)
    gen = VideoMaskGenerator(model, **options)

    def on_frame(frame: Any, record: dict[str, Any]) -> None:
        report.event({"event": "frame", "frame": frame.frame_idx, "keyframe": frame.is_keyframe,
                      "masklets": {str(m["id"]): m["area"] for m in record["masklets"]}})

    start = time.perf_counter()
    with staged_output(args.out, settings.output_names(video.stem), args.force) as out, \
            stop_on_interrupt() as stop:
        writer = write_masklets(gen, video, out, settings, stop,
                                lambda frames: report.progress(frames, args.max_frames, "frames"), on_frame)
    seconds = time.perf_counter() - start
    shown, sampled = len(writer.stats), writer.sav_masklets
    counts = getattr(gen.mask_generator, "counts", None)
    note = None if counts is None else nothing_found_note(counts, args.pred_iou_thresh, args.stability_thresh)
    if note is not None:
        report.note(note)
    # masks.jsonl holds every masklet; the SA-V file only those visible on its every n-th frames
    report.summary(f"{writer.frames} frames, {shown} masklets ({sampled} of them visible on the 1-in-"
                   f"{settings.sav_every} frames of the SA-V file), {seconds:.2f} s -> {args.out}"
                   + (" (stopped by Ctrl-C: the files cover the frames done)" if stop else ""),
                   {"frames": writer.frames, "masklets": shown, "sav_masklets": sampled, "seconds": round(seconds, 3),
                    "out": str(args.out), "model": model_name, "stopped": bool(stop),
                    **({"note": note} if note else {})})
    return INTERRUPTED if stop else 0
