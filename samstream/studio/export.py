"""Exports of a data dir's masklets (SA-V JSON, DAVIS PNGs, YouTube-VIS RLE JSON, overlay MP4), effort figures.

Layouts under ``DATA_DIR/exports/<format>/`` (``<key>`` is the video's name without suffix):

* ``sav``: ``<key>_manual.json`` in the layout of SA-V's ``*_manual.json`` (every ``stride``-th frame),
  ``<key>_studio.json`` beside it (object ids, names, categories, reviews, who annotated and who verified
  each masklet, effort per masklet: SA-V's own file keeps its official fields only), and
  ``Annotations_6fps/<key>/<masklet:03d>/<frame:05d>.png`` for ``samstream eval sav``;
* ``davis``: a DAVIS root, ``Annotations/480p/<key>/<frame:05d>.png`` (label maps, ids 1..255) and
  ``ImageSets/2017/val.txt``, for ``samstream eval davis`` on either side. A label map holds one id per
  pixel: where masks of two objects overlap, the object with the higher id wins (SA-V and COCO keep
  every object's whole mask);
* ``coco``: ``<key>.json`` in YouTube-VIS style (per object one COCO RLE per frame, or null);
* ``mp4``: ``<key>.mp4``, the masks drawn over the video.

``done_only`` and ``accepted_only`` limit an export to the videos whose work flow is done and the
masklets a review accepted: a training set.

Each video's outputs are written under a hidden temporary folder and renamed into place when whole,
so a failed export leaves nothing (and an older export of the same video stays). Folder exports (SA-V
PNGs, DAVIS PNGs) also come as one zip beside them, for download.
"""

from __future__ import annotations

import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from samstream.data.sav_json import AUTO, MANUAL, SavMasklet, SavVideo
from samstream.errors import InvalidInputError
from samstream.files import write_json, write_text
from samstream.io.labels import write_label_png
from samstream.io.masks import label_map, mask_bbox
from samstream.io.overlay import overlay
from samstream.io.rle import decode_rle, encode_rle, rle_areas
from samstream.studio.effort import effort_rows
from samstream.studio.media import FramePool
from samstream.studio.rows import ObjectRow, VideoRow
from samstream.studio.store import Store
from samstream.video.frames.decode import write_video

__all__ = ["FORMATS", "clean_partial_exports", "export_videos", "sav_document"]

Progress = Callable[[int, int], None]  # (frames written, frames to write) of the export under way

FORMATS = ("sav", "davis", "coco", "mp4")


def video_key(store: Store, video: VideoRow) -> str:
    """The name of ``video``'s exports: its file name's stem, with its id when another video of ``store`` shares it."""
    stem = Path(video.name).stem
    same = [v for v in store.videos.all() if Path(v.name).stem == stem]
    return stem if len(same) == 1 else f"{stem}_{video.id}"


def _objects(store: Store, video_id: int, accepted_only: bool) -> list[ObjectRow]:
    """The objects of a video an export holds (``accepted_only``: those a review accepted)."""
    return [o for o in store.videos.objects(video_id) if not accepted_only or o.review_status == "accepted"]


def _object_masks(store: Store, video_id: int, accepted_only: bool = False) -> dict[int, dict[int, dict[str, Any]]]:
    """obj_id -> frame -> RLE of every mask in force of a video (of its accepted objects)."""
    out: dict[int, dict[int, dict[str, Any]]] = {o.obj_id: {} for o in _objects(store, video_id, accepted_only)}
    for row in store.tracks.masks(video_id):
        if row.obj_id in out:
            out[row.obj_id][row.frame] = row.rle
    return out


def sav_document(store: Store, video_id: int, stride: int = 4, accepted_only: bool = False,
                 ) -> tuple[SavVideo, dict[str, Any]]:
    """An SA-V manual masklet file of a video (every ``stride``-th frame) and its studio sidecar.

    Args:
        store: the data dir's store.
        video_id: the studio's id of the video.
        stride: video frames between annotated frames (SA-V: 4).
        accepted_only: keep only the masklets a review accepted.

    Returns:
        The document (its per-masklet fields computed by :class:`~samstream.data.sav_json.SavMasklet`;
        edited frames from the studio's effort figures) and the sidecar (object ids, names, categories,
        reviews, who annotated and who verified, and effort per masklet). The document keeps SA-V's
        official fields only: what the studio adds goes in the sidecar.
    """
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise InvalidInputError(f"stride: expected an integer >= 1, got {stride!r}")
    video = store.videos.get(video_id)
    (h, w), n = video.hw, video.num_frames
    frames = list(range(0, n, stride))
    empty = encode_rle(np.zeros((h, w), dtype=bool))
    objects = {o.obj_id: o for o in store.videos.objects(video_id)}
    per_object = {k: v for k, v in _object_masks(store, video_id, accepted_only).items() if v}  # with any mask
    editors = store.workflow.editors(video_id)
    effort = {e["obj_id"]: e for e in effort_rows(store, video_id)}
    masklets = []
    for j, (obj_id, masks) in enumerate(per_object.items()):
        m = SavMasklet.from_rles(j, [masks.get(f, empty) for f in frames], (h, w), MANUAL,
                                 edited_frame_count=int(effort[obj_id]["edited_frames"]))
        if objects[obj_id].origin == AUTO:  # an accepted automatic masklet no person has edited
            m = replace(m, masklet_type=AUTO, edited_frame_count=0)
        masklets.append(m)
    doc = SavVideo(video_id=video_key(store, video), height=h, width=w, frame_count=n,
                   duration=n / float(video.fps or 24.0), environment="", split="", masklets=tuple(masklets),
                   kind=MANUAL, stride=stride)
    sidecar = {"video_id": doc.video_id, "studio_video_id": video_id, "stride": stride, "masklets": [
        {"masklet_id": j, "obj_id": obj_id, **_object_fields(objects[obj_id], editors), "effort": effort[obj_id]}
        for j, obj_id in enumerate(per_object)]}
    return doc, sidecar


def _object_fields(obj: ObjectRow, editors: dict[int, list[str]]) -> dict[str, Any]:
    """What the studio knows of a masklet beyond its masks: names, review, who annotated and verified it."""
    return {"name": obj.name, "category": obj.category, "origin": obj.origin, "review_status": obj.review_status,
            "reviewer": obj.reviewer, "note": obj.note, "annotated_by": editors.get(obj.obj_id, []),
            "verified_by": (obj.reviewer or None) if obj.review_status == "accepted" else None}


def _write_sav(store: Store, data_dir: Path, video_id: int, key: str, tmp: Path, stride: int,
               accepted_only: bool, with_media: bool) -> list[Path]:
    doc, sidecar = sav_document(store, video_id, stride, accepted_only)
    json_path = doc.write(tmp / f"{key}_manual.json")
    side_path = write_json(tmp / f"{key}_studio.json", sidecar)
    pngs = doc.write_png_folders(tmp / "Annotations_6fps")
    out = [json_path, side_path, pngs, _zip(pngs, tmp / f"{key}_pngs.zip")]
    if with_media:  # the SA-V training layout: the video (or its frames) beside its masklet file
        out.append(_link_media(data_dir / store.videos.get(video_id).path, tmp, key))
    return out


def _zip(folder: Path, target: Path) -> Path:
    """A zip of ``folder`` (its files under its own name), for one download."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, str(Path(folder.name) / path.relative_to(folder)))
    return target


def _link_media(source: Path, tmp: Path, key: str) -> Path:
    """Hard links (copies across file systems) of a video file as ``<key>.mp4`` or a frame folder as ``<key>/``."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir():
        shutil.copytree(source, tmp / key, copy_function=link)
        return tmp / key
    if source.suffix.lower() != ".mp4":
        raise InvalidInputError(f"with_media: SA-V training reads .mp4 videos or frame folders, not {source.suffix}")
    link(str(source), str(tmp / f"{key}.mp4"))
    return tmp / f"{key}.mp4"


def _label_maps(store: Store, video_id: int, accepted_only: bool) -> tuple[
        VideoRow, dict[int, dict[int, dict[str, Any]]], Callable[[int], np.ndarray]]:
    video = store.videos.get(video_id)
    masks = _object_masks(store, video_id, accepted_only)
    too_big = [o for o in masks if o > 255]
    if too_big:
        raise InvalidInputError(f"format: DAVIS label maps hold object ids 1..255; video {video_id} has {too_big}")

    def label(frame: int) -> np.ndarray:  # ids in increasing order: the higher id wins where masks overlap
        present = [o for o in sorted(masks) if frame in masks[o]]
        stack = np.stack([decode_rle(masks[o][frame]) for o in present]) if present else None
        return label_map(present, stack, video.hw)  # type: ignore[arg-type]

    return video, masks, label


def _write_davis(store: Store, video_id: int, key: str, tmp: Path, accepted_only: bool,
                 progress: Progress) -> list[Path]:
    video, _, label = _label_maps(store, video_id, accepted_only)
    folder = tmp / "Annotations" / "480p" / key
    for frame in range(video.num_frames):
        write_label_png(folder / f"{frame:05d}.png", label(frame))
        progress(frame + 1, video.num_frames)
    return [folder, _zip(folder, tmp / "Annotations" / "480p" / f"{key}.zip")]


def _write_coco(store: Store, video_id: int, key: str, tmp: Path, accepted_only: bool) -> list[Path]:
    video = store.videos.get(video_id)
    n = video.num_frames
    effort = {e["obj_id"]: e for e in effort_rows(store, video_id)}
    masks = _object_masks(store, video_id, accepted_only)
    editors = store.workflow.editors(video_id)
    categories: dict[str, int] = {}
    annotations = []
    for obj in _objects(store, video_id, accepted_only):
        segs = [masks[obj.obj_id].get(f) for f in range(n)]
        areas = iter(int(a) for a in rle_areas([s for s in segs if s is not None]))
        cat = categories.setdefault(obj.category or "object", len(categories) + 1)
        annotations.append({
            "id": len(annotations) + 1, "video_id": 1, "obj_id": obj.obj_id, "category_id": cat, "iscrowd": 0,
            "segmentations": segs, "areas": [next(areas) if s is not None else None for s in segs],
            "bboxes": [mask_bbox(decode_rle(s)) if s is not None else None for s in segs],
            **_object_fields(obj, editors), "effort": effort[obj.obj_id]})
    doc = {"videos": [{"id": 1, "name": key, "width": video.width, "height": video.height, "length": n,
                       "file_names": [f"{key}/{f:05d}.jpg" for f in range(n)]}],
           "categories": [{"id": i, "name": name} for name, i in categories.items()], "annotations": annotations}
    return [write_json(tmp / f"{key}.json", doc, indent=None)]


def _write_mp4(store: Store, data_dir: Path, video_id: int, key: str, tmp: Path, accepted_only: bool,
               progress: Progress) -> list[Path]:
    video, masks, _ = _label_maps(store, video_id, accepted_only)
    pool = FramePool(1)

    def frames() -> Iterator[np.ndarray]:
        for f in range(video.num_frames):
            rgb = pool.raw(data_dir / video.path, f)
            yield overlay(rgb, {o: decode_rle(m[f]) for o, m in masks.items() if f in m})
            progress(f + 1, video.num_frames)

    try:
        write_video(tmp / f"{key}.mp4", frames(), video.fps or 24.0)
    finally:
        pool.close()
    return [tmp / f"{key}.mp4"]


def _no_progress(done: int, total: int) -> None:
    pass


def export_videos(store: Store, data_dir: Path, video_ids: list[int], fmt: str, stride: int = 4,
                  accepted_only: bool = False, with_media: bool = False,
                  progress: Progress = _no_progress, done_only: bool = False) -> dict[str, Any]:
    """Export videos in ``fmt``; returns the written paths (relative to ``exports/``) and their URLs.

    Args:
        store: the data dir's store.
        data_dir: the data dir (its ``exports/`` receives the files).
        video_ids: the videos to export.
        fmt: ``sav``, ``davis``, ``coco`` or ``mp4``.
        stride: SA-V: video frames per annotated frame (SA-V's own: 4).
        accepted_only: only the masklets a review accepted.
        with_media: SA-V: the video beside its masklet file, so that ``samstream finetune --data
            DATA_DIR/exports/sav --format sav`` trains on the export.
        progress: called with (frames written, frames in all) while frame-by-frame formats are written.
        done_only: only the videos whose work flow is done (with ``accepted_only``: a training set of
            verified masklets); refused when none of ``video_ids`` is.

    Returns:
        ``{"format", "files", "urls", "downloads"}``; ``downloads`` are single files (zips of the PNG
        folders).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    videos = [store.videos.get(vid) for vid in video_ids]
    if done_only:
        if videos and not any(v.status == "done" for v in videos):
            states = ", ".join(f"video {v.id} is {v.status}" for v in videos[:5])
            raise InvalidInputError(f"done_only: none of the videos is done yet ({states})")
        videos = [v for v in videos if v.status == "done"]
    total, offset = sum(v.num_frames for v in videos), 0
    root = data_dir / "exports" / fmt
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    keys = []
    for video in videos:
        key = video_key(store, video)
        keys.append(key)
        tmp = data_dir / "exports" / f".{fmt}-{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        step = (lambda done, _n, o=offset: progress(o + done, total))  # noqa: E731
        try:
            if fmt == "sav":
                paths = _write_sav(store, data_dir, video.id, key, tmp, stride, accepted_only, with_media)
            elif fmt == "davis":
                paths = _write_davis(store, video.id, key, tmp, accepted_only, step)
            elif fmt == "coco":
                paths = _write_coco(store, video.id, key, tmp, accepted_only)
            else:
                paths = _write_mp4(store, data_dir, video.id, key, tmp, accepted_only, step)
            for p in paths:
                written.append(str(_move_into(root, tmp, p).relative_to(data_dir / "exports")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        offset += video.num_frames
        progress(offset, total)
    if fmt == "davis":
        listed = data_dir / "exports" / "davis" / "ImageSets" / "2017" / "val.txt"
        old = listed.read_text().split() if listed.is_file() else []
        write_text(listed, "\n".join(sorted(set(old) | set(keys))) + "\n")
    downloads = [p for p in written if (data_dir / "exports" / p).is_file()]
    return {"format": fmt, "files": written, "urls": [f"/api/exports/{p}" for p in downloads], "downloads": downloads}


def _move_into(root: Path, tmp: Path, path: Path) -> Path:
    """Rename ``path`` (under ``tmp``) to the same place under ``root``, replacing an older export."""
    target = root / path.relative_to(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        target.rename(old)
        path.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        path.replace(target)
    return target


def clean_partial_exports(data_dir: Path) -> None:
    """Remove what an export killed midway left under ``exports/`` of ``data_dir`` (hidden temporary folders)."""
    exports = data_dir / "exports"
    for tmp in list(exports.glob(".*.tmp")) + list(exports.glob("**/.*.old")):
        shutil.rmtree(tmp, ignore_errors=True)
