"""The studio of one data dir: settings, and the parts the routes call (store, worker, events, media).

``DATA_DIR`` holds ``studio.sqlite3`` (the state), ``media/`` (videos and frame folders),
``exports/`` (what the export endpoints wrote) and ``cache/`` (spill files of long videos; disposable).
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samstream.checkpoints import load_model
from samstream.errors import InvalidInputError
from samstream.studio.annotate import Annotator
from samstream.studio.auto import AutoMasklets
from samstream.studio.events import EventHub
from samstream.studio.export import clean_partial_exports
from samstream.studio.media import FramePool, add_media, safe_name
from samstream.studio.store import Store
from samstream.studio.worker import Worker

__all__ = ["Settings", "Studio", "DB_NAME", "LOOPBACK"]

DB_NAME = "studio.sqlite3"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Settings:
    """What a studio server is started with."""

    data_dir: Path
    model: str = "samstream-nano"  # registry name or checkpoint path
    device: str = "cpu"
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None  # required by every request when set (always set off loopback)
    max_upload_bytes: int = 2 << 30
    warm_sessions: int = 2  # videos whose model state is kept in memory
    max_outputs_in_memory: int | None = 256  # per object; older outputs spill to DATA_DIR/cache
    idle_gap: float = 60.0  # seconds between interactions above which a gap is not annotation time
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.host not in LOOPBACK and not self.token:
            self.token = secrets.token_urlsafe(24)  # never serve a non-loopback address without one


def open_store(data_dir: Path, idle_gap: float = 60.0) -> Store:
    data_dir.mkdir(parents=True, exist_ok=True)
    if not data_dir.is_dir():
        raise InvalidInputError(f"DATA_DIR: {str(data_dir)!r} is not a folder")
    return Store(data_dir / DB_NAME, idle_gap=idle_gap)


def add_video(store: Store, data_dir: Path, source: Path, name: str | None = None, move: bool = False) -> dict[str, Any]:
    """Add a video file, an image or a frame folder to the data dir; returns the stored video."""
    shown = safe_name(name if name is not None else source.name)
    key = f"{Path(shown).stem}-{uuid.uuid4().hex[:8]}"
    rel, kind, info = add_media(data_dir, key, source, move)
    try:
        return store.add_video(shown, rel, kind, info["num_frames"], info["height"], info["width"], info["fps"])
    except BaseException:
        target = data_dir / rel
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        raise


class Studio:
    """Store, worker, event hub, annotator and frame pool of one running server."""

    def __init__(self, settings: Settings, model: Any | None = None) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.store = open_store(self.data_dir, settings.idle_gap)
        (self.data_dir / "exports").mkdir(exist_ok=True)
        clean_partial_files(self.data_dir)
        if model is None:
            model = load_named_model(settings.model, settings.device)
        self.model_name = settings.model
        self.hub = EventHub()
        self.worker = Worker()
        self.frames = FramePool()
        self.annotator = Annotator(self.store, self.hub, self.worker, self.data_dir, model,
                                   settings.warm_sessions, settings.max_outputs_in_memory)
        self.auto = AutoMasklets(self.annotator)

    @property
    def model(self) -> Any:
        return self.annotator.model

    def set_model(self, model: Any) -> None:
        """Use ``model`` from now on (on the worker): every run of the old one stops first."""
        self.auto.cancel_all("model switched")
        self.annotator.set_model(model)

    def close(self) -> None:
        try:
            self.worker.submit(lambda: (self.auto.cancel_all("server stopping"), self.annotator.close_all())).result(timeout=60)
        finally:
            self.worker.stop()
        self.frames.close()
        self.store.close()


def clean_partial_files(data_dir: Path) -> None:
    """Remove what an upload, an import or an export killed midway left (hidden temporary names)."""
    clean_partial_exports(data_dir)
    media = data_dir / "media"
    if media.is_dir():
        for tmp in media.glob(".*.tmp*"):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def load_named_model(name: str, device: str) -> Any:
    """A registry name or checkpoint path loaded without downloading."""
    return load_model(name, device=device, allow_download=False)
