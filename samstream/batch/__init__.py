"""Dataset-scale inference: automatic masks over image sets, automatic masklets over video sets,
tracking over video datasets.

One per-item function per task (:mod:`samstream.batch.work`: an image's masks, a video's masklets, a
dataset video's tracks), run by an engine: ``run_local`` (this process) or ``run_ray`` (a Ray Data
actor pool; Ray is optional and imported only by that engine).
:class:`BatchJob` is the driver: a manifest in the output folder makes a re-run skip finished items,
failed items are logged and skipped, ``max_errors`` stops early.

>>> items = list_images(["photos/"])
>>> spec = JobSpec("auto", "out/", model="sam2.1-tiny", generator={"points_per_side": 32})
>>> summary = BatchJob.open(spec, items).run(run_local)
"""

from samstream.batch.items import Item, list_images, list_video_files, list_videos
from samstream.batch.job import COCO_FILE, BatchJob, BatchSummary
from samstream.batch.local import run_local
from samstream.batch.manifest import DONE_FILE, ERRORS_FILE, JOB_FILE, Manifest
from samstream.batch.ray_engine import run_ray
from samstream.batch.spec import ItemResult, JobSpec
from samstream.batch.work import BatchWorker, auto_image, auto_video, track_video

__all__ = [
    "COCO_FILE", "DONE_FILE", "ERRORS_FILE", "JOB_FILE", "BatchJob", "BatchSummary", "BatchWorker", "Item",
    "ItemResult", "JobSpec", "Manifest", "auto_image", "auto_video", "list_images", "list_video_files", "list_videos",
    "run_local", "run_ray", "track_video",
]
