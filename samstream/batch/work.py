"""The per-item work, the same for every engine: :class:`BatchWorker` loads the model once and
runs one item at a time; the local engine calls it in this process, the Ray engine in its actors.

Outputs of an item (paths relative to the job's ``out_dir``)::

    auto    masks/<key>.json   {"image": {"file_name", "height", "width"},
                                "annotations": [{"id", "segmentation": COCO RLE, "area", "bbox" (XYWH),
                                                 "predicted_iou", "stability_score", "point_coords",
                                                 "crop_box"}, ...]}   (the SA-1B per-image layout)
    auto-video  <key>/...       what ``samstream auto-video VIDEO --out <key>`` writes: masks.jsonl,
                                <stem>_auto.json (SA-V), davis/*.png, ytvis.json, overlay.mp4
    track   <video>/...         the layout of ``samstream predict-dataset`` for the dataset's format

Each output appears whole or not at all: the JSON goes through :func:`samstream.files.write_json`;
a video's files are written into a private folder under ``<out>/.batch-staging/`` and the finished
folder is renamed into place. A worker that dies mid-item leaves at most a staging folder, which
the driver removes; a retry writes the same names again, so nothing is duplicated.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samstream.amg import MaskGenerator
from samstream.amg.masklet_io import MaskletRun, write_masklets
from samstream.amg.video import VideoMaskGenerator
from samstream.batch.items import Item
from samstream.batch.spec import ItemResult, JobSpec
from samstream.checkpoints import load_model
from samstream.data.video_datasets import VideoDataset
from samstream.errors import SamstreamError
from samstream.eval.predict import predict_video
from samstream.files import write_json
from samstream.model.sam2 import SAM2Model
from samstream.rgb import to_rgb
from samstream.video.predictor import VideoPredictor

__all__ = ["BatchWorker", "STAGING", "auto_image", "auto_video", "error_line", "mask_json_path",
           "result_of_row", "track_video"]

STAGING = ".batch-staging"


def mask_json_path(key: str) -> str:
    """Where an image's masks go, relative to the job's ``out_dir``."""
    return f"masks/{key}.json"


def auto_image(generator: MaskGenerator, item: Item, out_dir: Path) -> tuple[tuple[str, ...], int]:
    """Automatic masks of one image, written to ``masks/<key>.json``; returns (outputs, masks)."""
    image = to_rgb(item.source, "image")  # (H, W, 3) uint8
    records = generator.generate(image)
    doc = {"image": {"file_name": item.file_name, "height": int(image.shape[0]), "width": int(image.shape[1])},
           "annotations": [{"id": i + 1, **record} for i, record in enumerate(records)]}
    rel = mask_json_path(item.key)
    write_json(out_dir / rel, doc, indent=None)
    return (rel,), len(records)


def auto_video(generator: VideoMaskGenerator, run: MaskletRun, item: Item,
               out_dir: Path) -> tuple[tuple[str, ...], int]:
    """Automatic masklets of one video (a file or frame folder), the files of ``samstream auto-video``
    in ``<key>/``; returns (outputs, frames)."""
    with _staging(out_dir) as stage:
        writer = write_masklets(generator, item.source, stage / "video", run)
        # each file is an output, so that a re-run redoes a video that lost one
        outputs = tuple(f"{item.key}/{p.name}" for p in sorted((stage / "video").iterdir()))
        _publish_dir(stage / "video", out_dir / item.key)
    return outputs, writer.frames


def track_video(predictor: VideoPredictor, spec: JobSpec, item: Item, out_dir: Path) -> tuple[tuple[str, ...], int]:
    """Track one video's annotated objects (as ``predict-dataset``); returns (outputs, frames)."""
    assert spec.dataset_root is not None and spec.fmt is not None  # checked by JobSpec
    dataset = VideoDataset(spec.dataset_root, spec.fmt, spec.subset, sequences=[item.source])
    entry = dataset[0]
    with _staging(out_dir) as stage:
        frames, _ = predict_video(predictor, entry, stage, dataset.fmt)
        _publish_dir(stage / entry.name, out_dir / entry.name)
    return (entry.name,), frames


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A private folder under ``<out>/.batch-staging/`` for one item, removed afterwards whatever happens."""
    stage = out_dir / STAGING / uuid.uuid4().hex
    stage.mkdir(parents=True)
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        try:
            stage.parent.rmdir()  # the last worker out removes the staging folder
        except OSError:
            pass  # other items are being staged there (or it is gone already)


def _publish_dir(staged: Path, target: Path) -> None:
    """Rename a finished folder onto ``target``; an older copy is swapped out first, then removed."""
    old = staged.with_name(staged.name + ".old")
    had_old = target.exists()
    if had_old:
        os.replace(target, old)
    os.replace(staged, target)
    if had_old:
        shutil.rmtree(old, ignore_errors=True)


def error_line(exc: BaseException) -> str:
    """An exception as one line: samstream's own messages as they are, others with their type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, SamstreamError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


class BatchWorker:
    """Runs items of one job: the model is loaded once, in the constructor.

    Ray Data calls it with a batch of columns (``{"key": (B,), "source": (B,)}`` arrays) and gets
    the results back as columns (``{"key": (B,), "result": (B,)}``, each result a JSON string of
    :class:`ItemResult`); the local engine calls :meth:`run` directly.
    """

    def __init__(self, spec: JobSpec, model: SAM2Model | None = None, own_process: bool = False) -> None:
        """``model``: one already loaded (it must be ``spec.model``); None loads ``spec.model``.
        ``own_process``: the worker has its process to itself (a Ray actor) and sets torch's thread
        count there to ``spec.threads``; the local engine sets it around its run instead."""
        self.spec = spec
        if own_process:
            torch.set_num_threads(spec.threads)
        self.out_dir = Path(spec.out_dir)
        if model is None:
            model = load_model(spec.model, device=spec.device, allow_download=False)
        if spec.task == "auto":
            self.generator = MaskGenerator(model, output_mode="coco_rle", **spec.generator)
        elif spec.task == "auto-video":
            self.masklets = VideoMaskGenerator(model, **spec.generator)
            self.masklet_run = MaskletRun(**spec.video)
        else:
            self.predictor = VideoPredictor(model, method=spec.method)

    def run(self, item: Item) -> ItemResult:
        """Do one item; any exception it raises becomes a failed result (the job goes on)."""
        start = time.perf_counter()
        try:
            if self.spec.task == "auto":
                outputs, count = auto_image(self.generator, item, self.out_dir)
            elif self.spec.task == "auto-video":
                outputs, count = auto_video(self.masklets, self.masklet_run, item, self.out_dir)
            else:
                outputs, count = track_video(self.predictor, self.spec, item, self.out_dir)
        except Exception as exc:  # a corrupt or unreadable item must not stop the job
            return ItemResult(item.key, item.source, False, seconds=time.perf_counter() - start,
                              message=error_line(exc), threads=torch.get_num_threads())
        return ItemResult(item.key, item.source, True, outputs, count, time.perf_counter() - start,
                          threads=torch.get_num_threads())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [self.run(Item(str(k), str(s))) for k, s in zip(batch["key"], batch["source"])]
        return {"key": np.array([r.key for r in results], dtype=object),
                "result": np.array([json.dumps(r.to_json()) for r in results], dtype=object)}


def result_of_row(row: dict[str, Any]) -> ItemResult:
    """The :class:`ItemResult` of one output row of :meth:`BatchWorker.__call__`."""
    return ItemResult.from_json(json.loads(row["result"]))
