"""The studio of one data dir: settings, and the parts the routes call (store, worker, events, media).

``DATA_DIR`` holds ``studio.sqlite3`` (the state: masks, tracker state per frame, actions, reviews),
``media/`` (videos and frame folders) and ``exports/`` (what the export endpoints wrote).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from samstream.checkpoints import load_model
from samstream.errors import InvalidInputError
from samstream.studio.events import EventHub
from samstream.studio.export import clean_partial_exports
from samstream.studio.media import FramePool, add_media, clean_partial_media, fingerprint, safe_name
from samstream.studio.rows import VideoRow
from samstream.studio.host import HostSpec
from samstream.studio.store import ConflictError, Store
from samstream.studio.workers import ProcessWorker, RemoteWorker, ThreadWorker, WorkerPool, resume_runs

__all__ = ["DB_NAME", "LOOPBACK", "DuplicateError", "Settings", "Studio", "add_video", "is_data_dir", "load_named_model",
           "open_store"]

log = logging.getLogger("samstream.studio")

DB_NAME = "studio.sqlite3"
MAX_RESTARTS = 20  # a worker process that keeps dying is given up on (its requests then fail with a clear error)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Settings:
    """What a studio server is started with."""

    data_dir: Path
    model: str = "samstream-nano"  # registry name or checkpoint path
    device: str = "cpu"
    image_size: int | None = None  # the model's input size (None: its own); smaller is faster and coarser
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None  # required by every request when set (always set off loopback)
    max_upload_bytes: int = 2 << 30
    session_memory: int = 2 << 30  # bytes all warm video sessions may hold together
    feature_cache: int = 256 << 20  # bytes of image features each session keeps (frames encoded ahead)
    outputs_in_memory: int = 32  # per object, tracked outputs kept in memory (the rest are read from the store)
    workers: int = 0  # inference workers (0: one per GPU, or 1 on a CPU); more than one run as processes
    engine: str = "local"  # local (threads or processes of this machine) or ray (actors of a Ray cluster)
    ray_address: str | None = None  # the Ray cluster (None: a local one)
    idle_gap: float = 60.0  # seconds between interactions above which a gap is not annotation time
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.host not in LOOPBACK and not self.token:
            self.token = secrets.token_urlsafe(24)  # never serve a non-loopback address without one
        if self.engine not in ("local", "ray"):
            raise InvalidInputError(f"engine: expected local or ray, got {self.engine!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise InvalidInputError(f"workers: expected a non-negative integer, got {self.workers!r}")
        if self.workers == 0:
            gpus = torch.cuda.device_count() if self.device in ("cuda", "auto") else 0
            self.workers = max(1, gpus)


def is_data_dir(path: Path) -> bool:
    """Whether ``path`` is a studio data dir (it holds the studio's database)."""
    return (path / DB_NAME).is_file()


def open_store(data_dir: Path, idle_gap: float = 60.0, create: bool = False) -> Store:
    """The store of ``data_dir``, with ``idle_gap`` (seconds between interactions above which a gap is not
    annotation time). ``create``: make the data dir if ``data_dir`` does not exist or is an empty folder; otherwise
    a folder that is not a data dir is refused (:class:`InvalidInputError`; nothing is written to it)."""
    if not is_data_dir(data_dir):
        if data_dir.exists() and not data_dir.is_dir():
            raise InvalidInputError(f"DATA_DIR: {str(data_dir)!r} is a file, not a studio data dir")
        if not create:
            raise InvalidInputError(f"DATA_DIR: {str(data_dir)!r} is not a studio data dir (no {DB_NAME}); "
                                    "create one with `samstream studio add DATA_DIR VIDEO`")
        if data_dir.exists() and any(data_dir.iterdir()):
            raise InvalidInputError(f"DATA_DIR: {str(data_dir)!r} is a folder with other files and no {DB_NAME}; "
                                    "give a new or empty folder for a new data dir")
        data_dir.mkdir(parents=True, exist_ok=True)
    return Store(data_dir / DB_NAME, idle_gap=idle_gap)


class DuplicateError(ConflictError):
    """The same source was added before (``force`` adds it again)."""


def add_video(store: Store, data_dir: Path, source: Path, name: str | None = None, move: bool = False,
              force: bool = False) -> VideoRow:
    """Add a video file, an image or a frame folder ``source`` to ``data_dir``; returns the stored video.

    ``name``: the name shown (default: the source's; made safe by :func:`safe_name`); ``move``: rename the source
    into place (an upload's temporary file) instead of copying it. A source added before (same fingerprint) is
    refused with :class:`DuplicateError` unless ``force``; an unreadable one is a :class:`VideoReadError`.
    """
    shown = safe_name(name if name is not None else source.name)
    mark = fingerprint(source)
    earlier = store.videos.with_fingerprint(mark)
    if earlier is not None and not force:
        raise DuplicateError(f"file: {shown!r} was added before, as video {earlier.id} ({earlier.name!r}); "
                             "add it again with --force (or force=true)")
    key = f"{Path(shown).stem}-{uuid.uuid4().hex[:8]}"
    rel, kind, info = add_media(data_dir, key, source, move, shown)
    try:
        return store.videos.add(shown, rel, kind, info["num_frames"], info["height"], info["width"], info["fps"],
                                mark)
    except BaseException:
        target = data_dir / rel
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        raise


class Studio:
    """Store, event hub, inference workers and frame pool of one running server."""

    def __init__(self, settings: Settings, model: Any | None = None) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.store = open_store(self.data_dir, settings.idle_gap, create=True)
        (self.data_dir / "exports").mkdir(exist_ok=True)
        clean_partial_files(self.data_dir)
        self.model_name = settings.model
        self.hub = EventHub()
        self.frames = FramePool()
        self.pool = WorkerPool(self.store, self.hub)
        self._restarting = threading.Lock()
        try:
            self._start_workers(model)
        except BaseException:
            self.pool.close()
            raise

    def host_spec(self, index: int = 0, count: int = 1) -> HostSpec:
        """How to build the host of worker ``index`` of ``count``: the server's model and memory settings, one GPU
        per worker on a machine with several, and the CPU threads shared out between worker processes."""
        s = self.settings
        device = s.device
        if device == "cuda" and torch.cuda.device_count() > 1:
            device = f"cuda:{index % torch.cuda.device_count()}"  # one GPU per worker
        threads = None if device.startswith("cuda") or count == 1 else max(1, (os.cpu_count() or 1) // count)
        return HostSpec(str(self.data_dir), s.model, device, s.image_size, s.session_memory, s.feature_cache,
                        s.outputs_in_memory, threads)

    def _start_workers(self, model: Any | None) -> None:
        count, engine = self.settings.workers, self.settings.engine
        if engine == "ray":
            from samstream.studio.ray_workers import start_ray_workers  # the ray extra

            for worker in start_ray_workers(self, count, self.settings.ray_address):
                self.pool.add(worker)
        elif count == 1:
            self.pool.add(ThreadWorker(self.host_spec(), self.store, self.hub, model))
        else:
            for i in range(count):
                self.pool.add(ProcessWorker(self.host_spec(i, count), self.store, self.hub, self._worker_exited))
        for worker in self.pool.workers:
            if isinstance(worker, RemoteWorker) and not worker.wait_started(600):
                raise InvalidInputError("workers: an inference worker did not start in 10 minutes")
        self.image_size = self.pool.workers[0].call_sync("image_size")

    def _worker_exited(self, dead: ProcessWorker) -> None:
        """A worker process died: start another for its videos; their interrupted runs go on from the
        frame after the last one stored."""
        with self._restarting:
            if not dead.wait_started(0) or dead.restarts >= MAX_RESTARTS:  # it cannot start: no restart loop
                log.error("studio: inference worker %d (pid %s) stopped %s; not starting it again", dead.index,
                          dead.pid, "before it started" if not dead.wait_started(0) else f"{dead.restarts + 1} times")
                # its runs stop here: stored as interrupted (resumable after a server restart), never
                # left "running", which would refuse every later propagation of those videos
                self.store.tracks.interrupt_runs(self.pool.pinned_to(dead.index))
                return
            log.warning("studio: inference worker %d (pid %s) stopped; starting it again", dead.index, dead.pid)
            videos = self.pool.pinned_to(dead.index)
            runs = self.store.tracks.interrupt_runs(videos)
            fresh = ProcessWorker(dead.spec, self.store, self.hub, self._worker_exited)
            fresh.restarts = dead.restarts + 1
            self.pool.replace(dead.index, fresh)
        if fresh.wait_started(600):
            resume_runs(fresh, runs)

    def replace_worker(self, dead: Any) -> None:
        """A Ray actor Ray gave up on (``dead``): a new actor in its place; its runs resume there."""
        from samstream.studio.ray_workers import RayWorker  # only with --engine ray (the ray extra)

        with self._restarting:
            runs = self.store.tracks.interrupt_runs(self.pool.pinned_to(dead.index))
            fresh = RayWorker(dead.spec, self.store, self.hub, self, dead.gpus)
            fresh.restarts = dead.restarts + 1
            self.pool.replace(dead.index, fresh)
        if fresh.wait_started(600):
            resume_runs(fresh, runs)

    @property
    def workers(self) -> list[Any]:
        """The inference workers, by index."""
        return self.pool.workers

    def close(self) -> None:
        """Stop the workers (their runs stay resumable), close the open frame sources and the store."""
        self.pool.close()
        self.frames.close()
        self.store.close()


def clean_partial_files(data_dir: Path) -> None:
    """Remove what an upload, an import, an export or an older server's spill files left in ``data_dir`` when killed
    midway."""
    clean_partial_exports(data_dir)
    clean_partial_media(data_dir)
    shutil.rmtree(data_dir / "cache", ignore_errors=True)  # spill folders of servers before tracker state was kept


def load_named_model(name: str, device: str, image_size: int | None = None) -> Any:
    """A registry name or checkpoint path ``name`` loaded on ``device`` without downloading; ``image_size``: the
    model's input size (None: its own)."""
    return load_model(name, device=device, image_size=image_size, allow_download=False)
