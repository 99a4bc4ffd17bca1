"""``samstream batch auto|auto-video|track``: dataset-scale inference, in this process or on a Ray cluster.

Parses, builds a :class:`~samstream.batch.JobSpec` and the item list, runs a
:class:`~samstream.batch.BatchJob` on the chosen engine and reports: a progress bar (items done,
failed, items/s) on stderr, ``--jsonl`` events (one per item, then the summary), the exit code
(0: every item done; 1: some failed, see ``batch.errors.jsonl``).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from samstream.cli.auto import GENERATOR_OPTIONS, add_generator_options
from samstream.cli.auto_video import add_masklet_options, masklet_settings
from samstream.cli.common import DEFAULT_MODEL, INTERRUPTED, Reporter, add_method, positive_int, require_file
from samstream.errors import InvalidInputError

if TYPE_CHECKING:  # the library imports torch: imported when a command runs, so that --help stays fast
    from samstream.batch import BatchSummary, Item, ItemResult, JobSpec
    from samstream.batch.job import Engine

__all__ = ["register"]

FORMATS = ("davis", "sav", "ytvos")  # samstream.data.video_datasets.FORMATS, without importing it


def register(sub: argparse._SubParsersAction, common: Callable) -> None:
    """Add ``batch`` (``auto``, ``auto-video``, ``track``) to the command line's subparsers ``sub``."""
    p = sub.add_parser("batch", help="dataset-scale inference (automatic masks, tracking), local or on Ray")
    batch_sub = p.add_subparsers(dest="batch_command", required=True, metavar="TASK")

    a = common(batch_sub.add_parser(
        "auto", help="automatic masks of an image set", conflict_handler="resolve",
        description="Automatic masks of every image: OUT/masks/<name>.json (COCO RLE, the SA-1B per-image "
                    "layout) and OUT/annotations.json (merged COCO instances). A re-run skips finished images."))
    a.add_argument("images", nargs="+", metavar="IMAGES",
                   help="image folders (searched recursively; SA-1B layout too), image files, quoted glob "
                        "patterns, .txt lists (one path a line) or COCO instances .json files")
    a.add_argument("--image-root", default=None, metavar="DIR",
                   help="folder of a COCO JSON's images (default: the JSON's folder)")
    add_generator_options(a)
    _engine_options(a)
    a.set_defaults(func=_cmd_auto)

    v = common(batch_sub.add_parser(
        "auto-video", help="automatic masklets of a video set (as auto-video)", conflict_handler="resolve",
        description="Automatic masklets of every video, with no prompts: OUT/<name>/ holds what `samstream "
                    "auto-video VIDEO --out OUT/<name>` writes (masks.jsonl, <name>_auto.json in the SA-V layout, "
                    "davis/*.png, ytvis.json, overlay.mp4). A re-run skips finished videos."))
    v.add_argument("videos", nargs="+", metavar="VIDEOS",
                   help="video files, frame folders, folders holding those (one level: e.g. DAVIS/JPEGImages/480p), "
                        "quoted glob patterns or .txt lists (one video a line)")
    add_masklet_options(v)
    _engine_options(v)
    v.set_defaults(func=_cmd_auto_video)

    t = common(batch_sub.add_parser(
        "track", help="track the annotated objects of a video dataset (as predict-dataset)", conflict_handler="resolve",
        description="Track every video's annotated objects and write the layout of `samstream predict-dataset` "
                    "(davis, ytvos: OUT/<video>/<frame>.png; sav: OUT/<video>/<obj>/<frame>.png). "
                    "A re-run skips finished videos."))
    t.add_argument("dataset_root", metavar="DATASET", help="dataset root (see --format)")
    t.add_argument("--format", required=True, choices=FORMATS, help="dataset layout")
    t.add_argument("--subset", default=None, help="DAVIS ImageSets subset (default: val) or YouTube-VOS split "
                                                  "(default: valid)")
    t.add_argument("--sequences", type=_names, default=None, help="comma-separated videos (default: all)")
    add_method(t)
    _engine_options(t)
    t.set_defaults(func=_cmd_track)


def _engine_options(p: argparse.ArgumentParser) -> None:
    # replaces the shared --threads (torch's default): a batch worker's count is the job's, the same on
    # both engines, so that an item's outputs do not depend on the engine that ran it
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="CPU threads of torch in each worker: the local engine, or each Ray actor, which reserves "
                        "N CPUs (default 1; the same N gives the same outputs on either engine)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (shared by every node on a cluster)")
    p.add_argument("--force", action="store_true", help="start over: remove earlier outputs and the manifest in --out")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: in this process (default); ray: a Ray Data actor pool")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start a local one)")
    p.add_argument("--workers", type=positive_int, default=1, help="Ray actors, each holding a model (default 1)")
    p.add_argument("--gpus-per-worker", type=float, default=None, metavar="F",
                   help="GPUs per Ray actor, fractions share a GPU (default: 1 if the cluster has GPUs, else 0)")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="items per call of a Ray actor, the unit of a retry (default 1)")
    p.add_argument("--max-errors", type=positive_int, default=None, metavar="N",
                   help="stop once N items failed (default: never; failures go to batch.errors.jsonl)")


def _names(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _cmd_auto(args: argparse.Namespace) -> int:
    from samstream.batch import JobSpec, list_images

    items = list_images(args.images, args.image_root)
    generator = {kw: getattr(args, opt) for opt, kw in GENERATOR_OPTIONS.items()}
    spec = JobSpec("auto", _absolute(args.out), _model(args), args.device, generator, threads=args.threads)
    return _run(args, spec, items, "image")


def _cmd_auto_video(args: argparse.Namespace) -> int:
    from samstream.batch import JobSpec, list_video_files

    items = list_video_files(args.videos)
    generator, video = masklet_settings(args)
    spec = JobSpec("auto-video", _absolute(args.out), _model(args), args.device, generator, video=video,
                   threads=args.threads)
    return _run(args, spec, items, "video")


def _cmd_track(args: argparse.Namespace) -> int:
    from samstream.batch import JobSpec, list_videos

    root = _absolute(args.dataset_root)
    items = list_videos(root, args.format, args.subset, args.sequences)
    spec = JobSpec("track", _absolute(args.out), _model(args), args.device, dataset_root=root, fmt=args.format,
                   subset=args.subset, method=args.method, threads=args.threads)
    return _run(args, spec, items, "video")


def _absolute(path: str) -> str:
    """Workers may run in another folder (or machine): paths they read are absolute."""
    return os.path.abspath(path)


def _model(args: argparse.Namespace) -> str:
    """The ``--model`` every worker loads, checked here first (an absolute path if it is a file)."""
    name = args.model or DEFAULT_MODEL
    path = Path(name).expanduser()
    if path.suffix == ".pt" or path.exists() or "/" in name:
        return _absolute(str(require_file(path, "--model")))
    from samstream.checkpoints import find_checkpoint

    find_checkpoint(name, allow_download=False)  # a one-line error now, not one per worker
    return name


def _engine(args: argparse.Namespace) -> Engine:
    from samstream.batch import run_local, run_ray

    if args.engine == "ray":
        return functools.partial(run_ray, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                                 batch_size=args.batch_size, address=args.address)
    for option, value, default in (("--workers", args.workers, 1), ("--address", args.address, None),
                                   ("--gpus-per-worker", args.gpus_per_worker, None)):
        if value != default:
            raise InvalidInputError(f"{option} {value}: needs --engine ray (the local engine runs in this process)")
    return run_local


def _run(args: argparse.Namespace, spec: JobSpec, items: list[Item], unit: str) -> int:
    from samstream.batch import BatchJob

    engine = _engine(args)
    report = Reporter(argparse.Namespace(**{**vars(args), "command": f"batch {args.batch_command}"}))
    job = BatchJob.open(spec, items, force=args.force)
    if job.skipped:
        report.note(f"{job.skipped} of {len(items)} {unit}s done by an earlier run; {len(job.pending)} left")
    bar = None
    if not (report.quiet or report.jsonl):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(job.pending), unit=f" {unit}", desc=report.command, file=sys.stderr, leave=False)
    counts = {"done": 0, "failed": 0}

    def on_result(result: ItemResult) -> None:
        counts["done" if result.ok else "failed"] += 1
        report.event({"event": unit, "item": result.key, "source": result.source, "ok": result.ok,
                      "count": result.count, "seconds": round(result.seconds, 3),
                      **({} if result.ok else {"message": result.message})})
        if bar is not None:
            bar.set_postfix(counts, refresh=False)
            bar.update(1)

    try:
        summary = job.run(engine, args.max_errors, on_result)
    except KeyboardInterrupt:  # Ctrl-C: the items done are in the manifest; the one in progress is redone
        if bar is not None:
            bar.close()
            bar = None
        report.summary(f"stopped by Ctrl-C: {counts['done']} done and {counts['failed']} failed this run, "
                       f"{job.skipped} done earlier, of {len(items)} items, kept in {spec.out_dir}; run the same "
                       f"command again to go on", {**counts, "skipped": job.skipped, "items": len(items),
                                                   "interrupted": True, "out": str(spec.out_dir)})
        return INTERRUPTED
    finally:
        if bar is not None:
            bar.close()
    _summarise(report, summary, spec.out_dir, args.max_errors)
    return 0 if summary.failed == 0 else 1


def _summarise(report: Reporter, s: BatchSummary, out: str, max_errors: int | None) -> None:
    from samstream.batch import ERRORS_FILE

    if s.failed:
        report.note(f"{s.failed} item(s) failed: see {Path(out) / ERRORS_FILE}")
    if s.stopped:
        report.note(f"stopped after {s.failed} failed item(s) (--max-errors {max_errors}); "
                    "run the same command again to go on")
    report.summary(
        f"{s.done} done, {s.failed} failed, {s.skipped} done earlier, of {s.items} items; "
        f"{s.seconds:.1f} s ({s.items_per_s:.2f} items/s) -> {out}",
        {"items": s.items, "done": s.done, "failed": s.failed, "skipped": s.skipped, "stopped": s.stopped,
         "seconds": round(s.seconds, 3), "items_per_s": round(s.items_per_s, 4), "out": str(out)})
