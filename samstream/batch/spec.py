"""What a batch job does: one small frozen value, sent as is to every worker (it pickles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from samstream.config import TRACKING_METHODS
from samstream.data.video_datasets import FORMATS
from samstream.errors import InvalidInputError

__all__ = ["JobSpec", "ItemResult", "TASKS"]

TASKS = ("auto", "auto-video", "track")


@dataclass(frozen=True)
class JobSpec:
    """A batch job's settings.

    ``task`` is ``"auto"`` (automatic masks of images; ``generator`` holds
    :class:`~samstream.amg.MaskGenerator` keywords), ``"auto-video"`` (automatic masklets of videos,
    as ``samstream auto-video`` does; ``generator`` holds
    :class:`~samstream.amg.video.VideoMaskGenerator` keywords, ``video`` the fields of
    :class:`~samstream.amg.masklet_io.MaskletRun`) or ``"track"`` (the annotated objects of a video
    dataset ``dataset_root`` in layout ``fmt``, as ``samstream predict-dataset`` does, with the tracking
    ``method``). Outputs go
    under ``out_dir``, which every worker must see (a shared file system on a cluster).

    ``threads``: torch's CPU threads in each worker, the same on both engines (the local engine's
    process while it runs the job; each Ray actor, which reserves as many CPUs). The same count gives
    the same outputs, bit for bit, whichever engine runs an item. Different counts do not: MKL's float
    matrix products split their sums across threads when a product has few rows, and so add them in
    another order (measured 2026-12-07 on 2 cores: the 1024 -> 256 MLP layer of samstream-nano on 64
    rows differs by 1.4e-6 between 1 and 2 threads; over 98 masks of ``batch auto-video`` on two
    OpenCV sample videos, one mask differed by one pixel, IoU 0.9998; at equal counts none did).
    Like the device, it is left out of :meth:`settings`: a job may be finished with other threads.
    """

    task: Literal["auto", "auto-video", "track"]
    out_dir: str
    model: str = "sam2.1-tiny"
    device: str = "auto"
    generator: dict[str, Any] = field(default_factory=dict)
    dataset_root: str | None = None
    fmt: str | None = None
    subset: str | None = None
    video: dict[str, Any] = field(default_factory=dict)
    method: str = "sam2"  # the tracking method of a track job (samstream.video.methods)
    threads: int = 1  # torch CPU threads per worker: the same on both engines, so their outputs are equal

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise InvalidInputError(f"threads: expected a positive integer, got {self.threads!r}")
        if self.task not in TASKS:
            raise InvalidInputError(f"task: {self.task!r} is not one of {', '.join(TASKS)}")
        if self.task == "track" and (self.dataset_root is None or self.fmt not in FORMATS):
            raise InvalidInputError(f"track job: needs dataset_root and fmt in {', '.join(FORMATS)}, "
                                    f"got {self.dataset_root!r} and {self.fmt!r}")
        if self.method not in TRACKING_METHODS:
            raise InvalidInputError(f"method: expected one of {', '.join(TRACKING_METHODS)}, got {self.method!r}")
        if self.method != "sam2" and self.task != "track":
            raise InvalidInputError(f"method: a tracking method is for the track task, not {self.task!r}")
        if self.video and self.task != "auto-video":
            raise InvalidInputError(f"video: settings of how videos are read and written are for the auto-video "
                                    f"task, not {self.task!r}")

    def settings(self) -> dict[str, Any]:
        """What decides the outputs: a re-run resumes only a job with the same settings.

        The device is left out on purpose: a job started on one machine may be finished on another.
        """
        settings = {"task": self.task, "model": self.model, "generator": dict(sorted(self.generator.items())),
                    "dataset_root": self.dataset_root, "fmt": self.fmt, "subset": self.subset}
        if self.task == "auto-video":  # only there, so that jobs of the other tasks resume as before
            settings["video"] = dict(sorted(self.video.items()))
        if self.method != "sam2":  # likewise: track jobs of SAM 2 resume as before
            settings["method"] = self.method
        return settings


@dataclass(frozen=True)
class ItemResult:
    """What became of one item: its outputs (paths relative to ``out_dir``) or a one-line error."""

    key: str
    source: str
    ok: bool
    outputs: tuple[str, ...] = ()
    count: int = 0  # masks of an image, frames of a video
    seconds: float = 0.0
    message: str = ""
    threads: int = 0  # torch's CPU threads where the item ran (its outputs depend on it; 0: not recorded)

    def to_json(self) -> dict[str, Any]:
        """The item's line of ``batch.done.jsonl`` / ``batch.errors.jsonl``."""
        return {"key": self.key, "source": self.source, "ok": self.ok, "outputs": list(self.outputs),
                "count": self.count, "seconds": round(self.seconds, 4), "message": self.message,
                "threads": self.threads}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ItemResult":
        """The result of a :meth:`to_json` line (lines of older runs have no ``threads``)."""
        return cls(str(data["key"]), str(data["source"]), bool(data["ok"]), tuple(data["outputs"]),
                   int(data["count"]), float(data["seconds"]), str(data["message"]), int(data.get("threads", 0)))
