"""``samstream auto-video VIDEO --out DIR``: segment and track everything in a video, with no prompts.

Writes ``masks.jsonl`` and ``overlay.mp4`` as frames become final, then ``<video>_auto.json`` (SA-V),
``davis/`` (DAVIS unsupervised PNGs) and ``ytvis.json`` (see :mod:`samstream.amg.masklet_io`).
Ctrl-C stops cleanly; the files then cover the frames finished so far.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from samstream.cli.auto import GENERATOR_OPTIONS
from samstream.cli.common import Reporter, add_out, load_model, non_negative_int, positive_int, unit_float

VIDEO_FILE = "overlay.mp4"


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    p = common(sub.add_parser(
        "auto-video", help="segment and track everything in a video (automatic masklets, no prompts)",
        description="Automatic masklets of VIDEO: masks.jsonl, overlay.mp4, VIDEO_auto.json (SA-V), "
                    "davis/*.png (DAVIS unsupervised, 20 best masklets) and ytvis.json in --out."))
    p.add_argument("video", metavar="VIDEO", help="video file or frame folder")
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
    add_out(p)
    p.set_defaults(func=run)


def _limited(frames: Any, stop: Any, max_frames: int | None) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames):
        if stop or (max_frames is not None and i >= max_frames):
            return
        yield frame


def run(args: argparse.Namespace) -> int:
    # the library imports torch: imported here, when the command runs, so that --help stays fast
    from samstream.amg.masklet_io import MaskletWriter, output_names
    from samstream.amg.video import VideoMaskGenerator
    from samstream.cli.common import stop_on_interrupt
    from samstream.errors import InvalidInputError
    from samstream.io.outputs import staged_output
    from samstream.io.overlay import overlay
    from samstream.video.live import read_frames

    report = Reporter(args)
    video = Path(args.video)
    if not video.exists():
        raise InvalidInputError(f"VIDEO: no such file or folder {args.video!r}")
    video_id = video.stem
    names = output_names(video_id) + ([] if args.no_video else [VIDEO_FILE])
    model, model_name = load_model(args)
    options = {kw: getattr(args, opt) for opt, kw in GENERATOR_OPTIONS.items() if hasattr(args, opt)}
    gen = VideoMaskGenerator(model, keyframe_interval=args.keyframe_interval, scene_cut_threshold=args.scene_cut,
                             track_backward=args.backward, max_absent_frames=args.max_absent, **options)
    start = time.perf_counter()
    with staged_output(args.out, names, args.force) as out, read_frames(video, max_size=args.max_size) as frames, \
            stop_on_interrupt() as stop:
        fps = args.fps or getattr(frames, "fps", None) or 24
        writer = MaskletWriter(out, video_id, fps, args.sav_every)
        masklet_frames = report.progress(gen.generate(_limited(frames, stop, args.max_frames)), args.max_frames,
                                         "frames")

        def overlays() -> Iterator[np.ndarray]:
            for f in masklet_frames:
                record = writer.write(f)
                report.event({"event": "frame", "frame": f.frame_idx, "keyframe": f.is_keyframe,
                              "masklets": {str(m["id"]): m["area"] for m in record["masklets"]}})
                yield overlay(f.image, {i: f.labels == i for i in f.obj_ids})

        try:
            if args.no_video:
                for _ in overlays():
                    pass
            else:
                from samstream.video.decode import write_video  # PyAV: only when an overlay is written

                write_video(out / VIDEO_FILE, overlays(), fps)
        except BaseException:
            writer.close(commit=False)  # the staged folder is dropped: a failed run leaves nothing
            raise
        writer.close()  # masks.jsonl into place, then the whole-video files
    seconds = time.perf_counter() - start
    shown = len(writer.stats)
    note = " (stopped)" if stop else ""
    report.summary(f"{writer.frames} frames, {shown} masklets, {seconds:.2f} s -> {args.out}{note}",
                   {"frames": writer.frames, "masklets": shown, "seconds": round(seconds, 3), "out": str(args.out),
                    "model": model_name, "stopped": bool(stop)})
    return 0
