"""Where each frame of a video file is: the index behind exact random access.

The truth is sequential decoding: frame ``i`` of a file is the ``i``-th frame PyAV's decoder
delivers when the file is decoded from its start. Container headers are not trusted for that: frame
counts are often wrong (an AVI that announces 444 frames and holds 68, with gaps in the timestamps),
and so are timestamps (an MP4 whose H.264 stream reorders frames while its packets carry decoding
timestamps only; MPEG-4 part 2 "packed B-frames" in AVI).

:func:`load_index` builds the index in the cheapest way that is still exact:

1. One demux pass (packets only, nothing decoded, milliseconds) gives every packet's timestamp and
   keyframe flag. It also finds truncated files: a file whose packets end well before the duration
   its header announces is refused with a :class:`VideoReadError`, however it is opened.
2. When timestamps are present and unique, the frames in timestamp order are the candidate index.
   The first frames are decoded to check that the decoder delivers exactly that order.
3. Otherwise (or when that check fails), the file is decoded once from start to end and the index
   records what the decoder delivered.

Either index is cached in samstream's cache folder (``$SAMSTREAM_HOME/video-index``, default
``~/.cache/samstream``), keyed by the file's absolute path, size and modification time; nothing is
written beside the video. A cached index skips the demux pass too: it is linear in the video's length
(about 13 ms for 795 frames, seconds for an hour), and a session the studio rebuilds after a restart
or an eviction opens its video again before the first click is answered. The file it describes had
passed the truncation check when it was indexed, and a file that changed since no longer fits the key.

The reader (:mod:`samstream.video.frames.decode`) checks every frame it decodes from the start of a file
against the index, so an index that was wrong despite step 2 is detected and replaced by a decoded one.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from samstream.errors import VideoReadError
from samstream.files import write_json
from samstream.registry import cache_dir

PROBE_FRAMES = 16  # frames decoded at open to check a timestamp-order index
_CACHE_VERSION = 2  # 2: packet indexes are cached too, with their ``decoded`` flag
_MIN_MISSING_S = 0.5  # a file ending this much (and 3 frames) before its announced end is truncated


def import_av() -> Any:
    """The ``av`` module, or a :class:`VideoReadError` saying how to install it."""
    try:
        # PyAV is a core dependency, imported on first use all the same: it takes 50-80 ms to import
        # and only video files need it (not frame folders, arrays, images or `samstream --help`)
        import av
    except ImportError as exc:  # pragma: no cover - a broken install
        raise VideoReadError("reading or writing video files needs PyAV: pip install av") from exc
    return av


@dataclass(frozen=True)
class FrameIndex:
    """The frames of one video stream, in the order sequential decoding delivers them.

    ``pts[i]`` is frame ``i``'s presentation timestamp, or ``pts`` is ``None`` when timestamps
    cannot tell frames apart (missing or repeated: frames are then counted from the file's start).
    ``keyframes`` holds the frame indices decoding may restart from after a seek (always 0).
    ``decoded`` says whether the index comes from a full decode (True) or from the packets (False).
    """

    count: int
    pts: tuple[int, ...] | None
    keyframes: tuple[int, ...]
    decoded: bool = False

    def keyframe_slot(self, index: int) -> int:
        """Position in ``keyframes`` of the last keyframe at or before frame ``index``."""
        return max(bisect.bisect_right(self.keyframes, index) - 1, 0)


@dataclass(frozen=True)
class PacketScan:
    """What one demux pass found in a file's first video stream."""

    pts: list[int | None]  # presentation timestamps of the shown packets, in decoding order
    keys: list[bool]  # keyframe flag of each of them


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


def scan_packets(container: Any, stream: Any, path: Path) -> PacketScan:
    """Demux every stream once (no decoding); refuse files that end before their announced end.

    Other streams (audio) are read too because a container's announced duration covers them all.
    """
    av = import_av()
    pts: list[int | None] = []
    keys: list[bool] = []
    ends: dict[str, float] = {}  # latest end time (s) seen per stream kind
    try:
        for packet in container.demux():
            if packet.size == 0:  # end-of-stream marker or an AVI "dropped frame" placeholder
                continue
            end = _seconds(None if packet.pts is None else packet.pts + (packet.duration or 0), packet.time_base)
            kind = "video" if packet.stream.index == stream.index else "other"
            if end is not None:
                ends[kind] = max(ends.get(kind, end), end)
            if kind != "video" or packet.is_discard:  # discarded: hidden by an edit list, never shown
                continue
            pts.append(packet.pts)
            keys.append(bool(packet.is_keyframe))
    except av.FFmpegError as exc:
        raise VideoReadError(f"video {str(path)!r}: cannot read packet {len(pts)} ({exc})") from exc
    if pts and None not in pts:
        _check_complete(container, stream, path, ends, len(pts))
    return PacketScan(pts=pts, keys=keys)


def _check_complete(container: Any, stream: Any, path: Path, ends: dict[str, float], count: int) -> None:
    """Raise when the packets stop well before the end the header announces (a truncated file)."""
    rate = stream.average_rate or stream.guessed_rate
    frame_s = float(1 / rate) if rate else 0.04
    start = _seconds(stream.start_time, stream.time_base) or 0.0
    video_end = ends.get("video", start)
    claims = []  # (announced end, where the data ends), in seconds
    if stream.duration:  # the video stream's own duration (MP4, MOV; AVI: what was found)
        claims.append((start + float(stream.duration * stream.time_base), video_end))
    if container.format.name == "avi" and stream.frames:  # AVI's header counts frames (dropped ones too)
        claims.append((start + float(stream.frames * stream.time_base), video_end))
    if not claims and container.duration:  # the whole file's (Matroska, WebM): compare with every stream's end
        announced = (container.start_time or 0) / 1e6 + container.duration / 1e6
        claims.append((announced, max(ends.values(), default=start)))
    for announced, present in claims:
        if announced - present > max(_MIN_MISSING_S, 3 * frame_s):
            raise VideoReadError(
                f"video {str(path)!r} is truncated: its header announces {announced - start:.2f} s but the "
                f"data ends at {present - start:.2f} s, at frame {count}"
            )


def packet_index(scan: PacketScan) -> FrameIndex | None:
    """Frames in timestamp order, or ``None`` when timestamps are missing or repeated."""
    stamps = scan.pts
    if not stamps or None in stamps or len(set(stamps)) != len(stamps):
        return None
    ordered = sorted(stamps)  # type: ignore[type-var]  # display order
    position = {p: i for i, p in enumerate(ordered)}
    keys = sorted({0} | {position[p] for p, key in zip(stamps, scan.keys) if key})
    return FrameIndex(count=len(ordered), pts=tuple(ordered), keyframes=tuple(keys))  # type: ignore[arg-type]


def open_video(path: Path) -> tuple[Any, Any]:
    """(container, first video stream) of ``path``, or a :class:`VideoReadError`."""
    av = import_av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise VideoReadError(f"video {str(path)!r}: cannot open it as a video file ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"video {str(path)!r} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def decoded_frames(path: Path, limit: int | None = None) -> tuple[list[int | None], list[bool], Exception | None]:
    """Timestamps and keyframe flags of the first ``limit`` frames (all when None) in decoding order.

    Returns the error that stopped decoding early, if any (a damaged frame), as the third item.
    """
    av = import_av()
    container, stream = open_video(path)
    pts: list[int | None] = []
    keys: list[bool] = []
    try:
        for frame in container.decode(stream):
            pts.append(frame.pts)
            keys.append(bool(frame.key_frame))
            if limit is not None and len(pts) >= limit:
                break
    except (av.FFmpegError, ValueError, OSError) as exc:
        return pts, keys, exc
    finally:
        container.close()
    return pts, keys, None


def decode_index(path: Path) -> FrameIndex:
    """Decode the whole file once and index what the decoder delivered."""
    pts, keys, error = decoded_frames(path)
    if error is not None:
        raise VideoReadError(f"video {str(path)!r}: cannot decode frame {len(pts)} ({error})") from error
    if not pts:
        raise VideoReadError(f"video {str(path)!r} contains no frames")
    if None in pts or len(set(pts)) != len(pts):  # frames cannot be told apart: count them
        return FrameIndex(count=len(pts), pts=None, keyframes=(0,), decoded=True)
    keyframes = tuple(sorted({0} | {i for i, key in enumerate(keys) if key}))
    return FrameIndex(count=len(pts), pts=tuple(pts), keyframes=keyframes, decoded=True)  # type: ignore[arg-type]


def _prefix_agrees(path: Path, index: FrameIndex) -> bool:
    """Do the first decoded frames come out with the index's timestamps, in its order?

    A decoding error is not a disagreement: a damaged frame is reported when it is read.
    """
    pts, _, _ = decoded_frames(path, limit=min(PROBE_FRAMES, index.count))
    return index.pts is not None and list(index.pts[: len(pts)]) == pts


def _cache_file(path: Path) -> tuple[Path, dict[str, Any]]:
    """Where a decoded index of ``path`` is cached, and the identity it must match."""
    stat = path.stat()
    identity = {"version": _CACHE_VERSION, "path": str(path.resolve()), "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    return cache_dir() / "video-index" / f"{key}.json", identity


def _read_cached(path: Path) -> FrameIndex | None:
    try:
        file, identity = _cache_file(path)
        data = json.loads(file.read_text())
        if data.get("identity") != identity:
            return None
        pts = None if data["pts"] is None else tuple(int(p) for p in data["pts"])
        index = FrameIndex(count=int(data["count"]), pts=pts, keyframes=tuple(int(k) for k in data["keyframes"]),
                           decoded=bool(data["decoded"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no cache, or an unreadable one: build the index again
    ok = index.count > 0 and (pts is None or len(pts) == index.count) and index.keyframes[:1] == (0,)
    return index if ok else None


def _write_cached(path: Path, index: FrameIndex) -> None:
    try:
        file, identity = _cache_file(path)
        write_json(file, {"identity": identity, "count": index.count,
                          "pts": None if index.pts is None else list(index.pts),
                          "keyframes": list(index.keyframes), "decoded": index.decoded}, indent=None)
    except OSError:
        pass  # a read-only cache folder only costs the decode next time


def load_index(container: Any, stream: Any, path: Path) -> FrameIndex:
    """The exact frame index of ``path`` (see the module docstring); ``container`` is freshly opened."""
    cached = _read_cached(path)
    if cached is not None:
        return cached
    scan = scan_packets(container, stream, path)  # refuses truncated files
    index = packet_index(scan)
    if index is not None and _prefix_agrees(path, index):
        _write_cached(path, index)
        return index
    return rebuild_index(path)


def rebuild_index(path: Path) -> FrameIndex:
    """Index ``path`` by decoding it fully, and cache the result."""
    index = decode_index(path)
    _write_cached(path, index)
    return index


def check_video_file(path: str | os.PathLike[str]) -> None:
    """Refuse a video file that cannot be opened, has no video stream or is truncated (one demux pass)."""
    container, stream = open_video(Path(path))
    try:
        scan_packets(container, stream, Path(path))
    finally:
        container.close()
