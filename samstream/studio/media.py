"""Media of a data dir: adding videos and image folders, and frames served as images.

Media live under ``DATA_DIR/media/<video id>_<safe name>``. A file reaches its final name only when
whole and readable (uploads are streamed to a hidden temporary file, checked with PyAV, renamed), so
a failed or interrupted upload leaves nothing. Names from users never reach the file system as
given: :func:`safe_name` refuses separators and ``..`` and keeps a small character set.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import unicodedata
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from samstream.errors import InvalidInputError, SamstreamError, VideoReadError
from samstream.files import atomic_write
from samstream.video.frames.raw import IMAGE_SUFFIXES, VIDEO_SUFFIXES, RawFrames, open_raw_frames

__all__ = ["FramePool", "VIDEO_SUFFIXES", "add_media", "clean_partial_media", "fingerprint", "probe", "render_frame",
           "safe_name"]

# characters a file name cannot safely hold (separators, NUL, what Windows and shells refuse, controls)
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class TooLargeError(SamstreamError):
    """An upload over the size limit."""


def safe_name(name: Any) -> str:
    """A user's file name made safe for the file system: letters of any script, digits, spaces and
    punctuation are kept (``cüp.mp4`` stays ``cüp.mp4``); only characters unsafe in a path are
    replaced. Paths (separators, ``..``) are refused."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"name: expected a file name such as 'clip.mp4', got {name!r}")
    if "/" in name or "\\" in name or "\x00" in name or name.strip() in (".", "..") or ".." in name:
        raise InvalidInputError(f"name: {name!r} is a path; give a plain file name such as 'clip.mp4'")
    cleaned = unicodedata.normalize("NFC", _UNSAFE.sub("_", name.strip())).lstrip(".").strip()
    if not cleaned:
        raise InvalidInputError(f"name: {name!r} has no usable character")
    if len(cleaned) > 120:
        stem, suffix = Path(cleaned).stem, Path(cleaned).suffix[:12]
        cleaned = stem[: 120 - len(suffix)] + suffix
    return cleaned


def probe(path: Path) -> dict[str, Any]:
    """Frame count, size and rate of the video file, image or frame folder at ``path`` (decodes the first frame
    only): ``{"num_frames", "height", "width", "fps"}`` (``fps`` None when unknown). :class:`VideoReadError` when it
    cannot be read."""
    with open_raw_frames(path, cache_size=1) as frames:
        return {"num_frames": len(frames), "height": frames.height, "width": frames.width, "fps": frames.fps}


def fingerprint(source: Path) -> str:
    """What tells a source apart cheaply: its size and a hash of its first and last MiB (for a frame
    folder: its file names and sizes). The same file added twice has the same fingerprint."""
    digest = hashlib.sha256()
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(source)}:{path.stat().st_size};".encode())
        return "dir:" + digest.hexdigest()
    size = source.stat().st_size
    with open(source, "rb") as fh:
        digest.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), 2)
            digest.update(fh.read(1 << 20))
    return f"{size}:{digest.hexdigest()}"


def check_kind(name: str) -> str:
    """The media kind a file ``name`` has by its suffix: ``"file"`` (a video) or ``"image"``;
    :class:`InvalidInputError` listing the suffixes otherwise."""
    suffix = Path(name).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "file"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    raise InvalidInputError(f"name: {name!r} is not a video ({', '.join(VIDEO_SUFFIXES)}) "
                            f"or an image ({', '.join(IMAGE_SUFFIXES)})")


def clean_partial_media(data_dir: Path) -> None:
    """Remove what an upload or an add killed midway left (hidden temporary names under ``media/`` of ``data_dir``)."""
    media = data_dir / "media"
    if media.is_dir():
        for tmp in media.glob(".*.tmp*"):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)



def _probe_copy(tmp: Path, shown: str, what: str, as_what: str) -> dict[str, Any]:
    """``probe`` of the copy ``tmp`` being added; an error names the user's ``shown`` name, never the
    temporary one."""
    try:
        return probe(tmp)
    except (VideoReadError, InvalidInputError) as exc:
        reason = str(exc).replace(str(tmp), shown).replace(tmp.name, shown)
        raise VideoReadError(f"{what}: {shown!r} cannot be read as {as_what} ({reason})") from None

def add_media(data_dir: Path, video_key: str, source: Path, move: bool,
              shown: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """Put ``source`` (a video file, an image or a frame folder) under ``media/`` of ``data_dir`` as ``video_key``
    (plus the file's suffix); returns (path relative to ``data_dir``, kind: file, image or folder, :func:`probe`'s
    info).

    ``move`` renames a finished upload into place; otherwise the file or folder is copied. The copy is made under a
    temporary name and renamed, and is probed before it becomes visible. ``shown``: the name errors give (the
    user's, not a temporary one); an unreadable source is a :class:`VideoReadError`.
    """
    shown = shown or source.name
    media = data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        kind, target = "folder", media / video_key
        tmp = media / f".{video_key}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            shutil.copytree(source, tmp)
            info = _probe_copy(tmp, shown, "folder", "frames")
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return str(target.relative_to(data_dir)), kind, info
    kind = check_kind(source.name)
    target = media / (video_key + source.suffix.lower())
    with atomic_write(target) as tmp:
        if move:
            source.replace(tmp)
        else:
            shutil.copyfile(source, tmp)
        info = _probe_copy(tmp, shown, "file", "a video or image")
    return str(target.relative_to(data_dir)), "file" if kind == "file" else "image", info


class FramePool:
    """Open frame sources of the served videos (a few, least recently used closed first); decodes on demand."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._open: OrderedDict[str, RawFrames] = OrderedDict()
        self._lock = threading.Lock()

    def raw(self, path: Path, frame: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame ``frame`` of the video at ``path``."""
        key = str(path)
        with self._lock:
            source = self._open.pop(key, None)
            if source is None:
                source = open_raw_frames(path, cache_size=2)
            self._open[key] = source
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)[1].close()
        return source.raw(frame)

    def close(self) -> None:
        """Close every open frame source."""
        with self._lock:
            for source in self._open.values():
                source.close()
            self._open.clear()


def render_frame(rgb: np.ndarray, max_side: int | None, fmt: str) -> bytes:
    """The frame ``rgb`` ((H, W, 3) uint8) encoded as ``fmt`` (``"jpeg"``, quality 90, or ``"png"``), scaled down
    (bilinear) so its longer side is at most ``max_side`` pixels (None: full size)."""
    img = Image.fromarray(np.ascontiguousarray(rgb))
    if max_side is not None and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if fmt == "jpeg" else "PNG", quality=90)
    return buf.getvalue()
