"""Exports of a data dir's masklets (SA-V JSON, DAVIS PNGs, YouTube-VIS RLE JSON, overlay MP4), effort figures.

Layouts under ``DATA_DIR/exports/<format>/`` (``<key>`` is the video's name without suffix):

* ``sav``: ``<key>_manual.json`` in the layout of SA-V's ``*_manual.json`` (every ``stride``-th frame),
  ``<key>_studio.json`` beside it (object ids, names, categories, reviews, effort per masklet), and
  ``Annotations_6fps/<key>/<masklet:03d>/<frame:05d>.png`` for ``samstream eval sav``;
* ``davis``: a DAVIS root, ``Annotations/480p/<key>/<frame:05d>.png`` (label maps, ids 1..255) and
  ``ImageSets/2017/val.txt``, for ``samstream eval davis`` on either side;
* ``coco``: ``<key>.json`` in YouTube-VIS style (per object one COCO RLE per frame, or null);
* ``mp4``: ``<key>.mp4``, the masks drawn over the video.

Each video's outputs are written under a hidden temporary folder and renamed into place when whole.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from samstream.amg import MaskGenerator
from samstream.errors import InvalidInputError
from samstream.data.sav_json import MANUAL, SavMasklet, SavVideo, parse_sav
from samstream.files import write_json, write_text
from samstream.io.labels import list_pngs, read_label_png, write_label_png
from samstream.io.masks import label_map, mask_bbox
from samstream.io.overlay import overlay
from samstream.io.rle import decode_rle, encode_rle, encode_rles, rle_areas
from samstream.studio.media import FramePool
from samstream.studio.store import Store
from samstream.video.frames.decode import write_video

__all__ = ["FORMATS", "effort_summary", "export_videos", "propose", "sav_document"]

FORMATS = ("sav", "davis", "coco", "mp4")


def video_key(store: Store, video: dict[str, Any]) -> str:
    stem = Path(video["name"]).stem
    same = [v for v in store.videos() if Path(v["name"]).stem == stem]
    return stem if len(same) == 1 else f"{stem}_{video['id']}"


def _object_masks(store: Store, video_id: int) -> dict[int, dict[int, dict[str, Any]]]:
    """obj_id -> frame -> RLE of every stored mask of a video."""
    out: dict[int, dict[int, dict[str, Any]]] = {o["obj_id"]: {} for o in store.objects(video_id)}
    for row in store.mask_rows(video_id):
        if row["obj_id"] in out:
            out[row["obj_id"]][row["frame"]] = row["rle"]
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
        reviews and effort per masklet).
    """
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise InvalidInputError(f"stride: expected an integer >= 1, got {stride!r}")
    video = store.video(video_id)
    h, w, n = video["height"], video["width"], video["num_frames"]
    frames = list(range(0, n, stride))
    empty = encode_rle(np.zeros((h, w), dtype=bool))
    objects = {o["obj_id"]: o for o in store.objects(video_id)}
    per_object = {k: v for k, v in _object_masks(store, video_id).items()  # masklets with any mask
                  if v and (not accepted_only or objects[k]["review_status"] == "accepted")}
    effort = {e["obj_id"]: e for e in store.effort(video_id)}
    masklets = tuple(SavMasklet.from_rles(j, [masks.get(f, empty) for f in frames], (h, w), MANUAL,
                                          edited_frame_count=int(effort[obj_id]["edited_frames"]))
                     for j, (obj_id, masks) in enumerate(per_object.items()))
    doc = SavVideo(video_id=video_key(store, video), height=h, width=w, frame_count=n,
                   duration=n / float(video["fps"] or 24.0), environment="", split="", masklets=masklets,
                   kind=MANUAL, stride=stride)
    sidecar = {"video_id": doc.video_id, "studio_video_id": video_id, "stride": stride, "masklets": [
        {"masklet_id": j, "obj_id": obj_id, "name": objects[obj_id]["name"], "category": objects[obj_id]["category"],
         "review_status": objects[obj_id]["review_status"], "reviewer": objects[obj_id]["reviewer"],
         "note": objects[obj_id]["note"], "effort": effort[obj_id]}
        for j, obj_id in enumerate(per_object)]}
    return doc, sidecar


def _write_sav(store: Store, data_dir: Path, video_id: int, key: str, tmp: Path, stride: int,
               accepted_only: bool, with_media: bool) -> list[Path]:
    doc, sidecar = sav_document(store, video_id, stride, accepted_only)
    json_path = doc.write(tmp / f"{key}_manual.json")
    side_path = write_json(tmp / f"{key}_studio.json", sidecar)
    pngs = doc.write_png_folders(tmp / "Annotations_6fps")
    out = [json_path, side_path, pngs]
    if with_media:  # the SA-V training layout: the video (or its frames) beside its masklet file
        out.append(_link_media(data_dir / store.video(video_id)["path"], tmp, key))
    return out


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


def _frame_label_maps(store: Store, video_id: int) -> tuple[dict[str, Any], list[int], Any]:
    video = store.video(video_id)
    obj_ids = [o["obj_id"] for o in store.objects(video_id)]
    too_big = [o for o in obj_ids if o > 255]
    if too_big:
        raise InvalidInputError(f"format: DAVIS label maps hold object ids 1..255; video {video_id} has {too_big}")
    masks = _object_masks(store, video_id)

    def label(frame: int) -> np.ndarray:
        present = [o for o in obj_ids if frame in masks[o]]
        stack = np.stack([decode_rle(masks[o][frame]) for o in present]) if present else None
        return label_map(present, stack, (video["height"], video["width"]))  # type: ignore[arg-type]

    return video, obj_ids, label


def _write_davis(store: Store, video_id: int, key: str, tmp: Path) -> list[Path]:
    video, _, label = _frame_label_maps(store, video_id)
    folder = tmp / "Annotations" / "480p" / key
    for frame in range(video["num_frames"]):
        write_label_png(folder / f"{frame:05d}.png", label(frame))
    return [folder]


def _write_coco(store: Store, video_id: int, key: str, tmp: Path) -> list[Path]:
    video = store.video(video_id)
    n = video["num_frames"]
    effort = {e["obj_id"]: e for e in store.effort(video_id)}
    categories: dict[str, int] = {}
    annotations = []
    for obj in store.objects(video_id):
        masks = _object_masks(store, video_id)[obj["obj_id"]]
        segs = [masks.get(f) for f in range(n)]
        areas = [int(a) for a in rle_areas([s for s in segs if s is not None])]
        it = iter(areas)
        cat = categories.setdefault(obj["category"] or "object", len(categories) + 1)
        annotations.append({
            "id": len(annotations) + 1, "video_id": 1, "obj_id": obj["obj_id"], "category_id": cat, "iscrowd": 0,
            "segmentations": segs, "areas": [next(it) if s is not None else None for s in segs],
            "bboxes": [mask_bbox(decode_rle(s)) if s is not None else None for s in segs],
            "name": obj["name"], "review_status": obj["review_status"], "reviewer": obj["reviewer"],
            "note": obj["note"], "effort": effort[obj["obj_id"]]})
    doc = {"videos": [{"id": 1, "name": key, "width": video["width"], "height": video["height"], "length": n,
                       "file_names": [f"{key}/{f:05d}.jpg" for f in range(n)]}],
           "categories": [{"id": i, "name": name} for name, i in categories.items()], "annotations": annotations}
    return [write_json(tmp / f"{key}.json", doc, indent=None)]


def _write_mp4(store: Store, data_dir: Path, video_id: int, key: str, tmp: Path) -> list[Path]:
    video, obj_ids, _ = _frame_label_maps(store, video_id)
    masks = _object_masks(store, video_id)
    pool = FramePool(1)

    def frames() -> Any:
        for f in range(video["num_frames"]):
            rgb = pool.raw(data_dir / video["path"], f)
            yield overlay(rgb, {o: decode_rle(masks[o][f]) for o in obj_ids if f in masks[o]})

    try:
        write_video(tmp / f"{key}.mp4", frames(), video["fps"] or 24.0)
    finally:
        pool.close()
    return [tmp / f"{key}.mp4"]


def export_videos(store: Store, data_dir: Path, video_ids: list[int], fmt: str, stride: int = 4,
                  accepted_only: bool = False, with_media: bool = False) -> dict[str, Any]:
    """Export videos in ``fmt``; returns the written paths (relative to ``exports/``).

    SA-V only: ``accepted_only`` keeps the masklets whose review accepted them, ``with_media`` puts the
    video beside its masklet file, so ``samstream finetune --data DATA_DIR/exports/sav --format sav``
    trains on the export (stride 4, SA-V's).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    root = data_dir / "exports" / fmt
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    keys = []
    for vid in video_ids:
        key = video_key(store, store.video(vid))
        keys.append(key)
        tmp = data_dir / "exports" / f".{fmt}-{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        try:
            if fmt == "sav":
                paths = _write_sav(store, data_dir, vid, key, tmp, stride, accepted_only, with_media)
            elif fmt == "davis":
                paths = _write_davis(store, vid, key, tmp)
            elif fmt == "coco":
                paths = _write_coco(store, vid, key, tmp)
            else:
                paths = _write_mp4(store, data_dir, vid, key, tmp)
            for p in paths:
                written.append(str(_move_into(root, tmp, p).relative_to(data_dir / "exports")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if fmt == "davis":
        listed = data_dir / "exports" / "davis" / "ImageSets" / "2017" / "val.txt"
        old = listed.read_text().split() if listed.is_file() else []
        write_text(listed, "\n".join(sorted(set(old) | set(keys))) + "\n")
    return {"format": fmt, "files": written, "urls": [f"/api/exports/{p}" for p in written]}


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
    """Remove what an export killed midway left (hidden temporary folders)."""
    exports = data_dir / "exports"
    for tmp in list(exports.glob(".*.tmp")) + list(exports.glob("**/.*.old")):
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- effort, proposals, import


def effort_summary(store: Store, video_ids: list[int]) -> dict[str, Any]:
    """Effort per masklet, per video and for all of ``video_ids``."""
    keys = ("clicks", "prompted_frames", "edited_frames", "active_seconds")
    videos = []
    for vid in video_ids:
        rows = store.effort(vid)
        num_frames = store.video(vid)["num_frames"]
        totals = {k: round(sum(r[k] for r in rows), 3) for k in keys}
        videos.append({"video_id": vid, "num_frames": num_frames, "objects": rows, "totals": totals})
    totals = {k: round(sum(v["totals"][k] for v in videos), 3) for k in keys}
    frames = sum(v["num_frames"] for v in videos)
    totals["seconds_per_frame"] = round(totals["active_seconds"] / frames, 4) if frames else 0.0
    return {"videos": videos, "totals": totals}


def propose(model: Any, rgb: np.ndarray, options: dict[str, Any], limit: int = 64,
            ) -> list[tuple[dict[str, Any], float, list[int]]]:
    """'Segment everything' on one frame: (RLE, predicted IoU, XYWH box) per proposal, best first.

    ``options`` go to :class:`~samstream.MaskGenerator` (``points_per_side``, thresholds).
    """
    records = MaskGenerator(model, **options).generate(np.ascontiguousarray(rgb))
    records = sorted(records, key=lambda r: -r["predicted_iou"])[:limit]
    if not records:
        return []
    rles = encode_rles(np.stack([r["segmentation"] for r in records]))
    return [(rle, round(float(r["predicted_iou"]), 4), [int(v) for v in r["bbox"]]) for rle, r in zip(rles, records)]


def import_sav_doc(store: Store, video_id: int, doc: dict[str, Any], stride: int = 4) -> dict[str, Any]:
    """SA-V masklets as new objects with imported masks on the annotated frames (then editable)."""
    video = store.video(video_id)
    sav = parse_sav(doc, stride, source="doc")
    if (sav.height, sav.width) != (video["height"], video["width"]):
        raise InvalidInputError(f"masklet: size {sav.height}x{sav.width} is not the video's "
                                f"{video['height']}x{video['width']}")
    return import_masklets(store, video_id, [(m.masklet_id, {i * stride: r for i, r in enumerate(m.rles)})
                                             for m in sav.masklets])


def import_davis_folder(store: Store, video_id: int, folder: Path) -> dict[str, Any]:
    """DAVIS label PNGs (``<frame>.png``, in frame order) as starting masklets, one per id."""

    video = store.video(video_id)
    names = list_pngs(folder)
    if not names:
        raise InvalidInputError(f"folder: no PNG in {str(folder)!r}")
    per_object: dict[int, dict[int, dict[str, Any]]] = {}
    for name in names:
        frame = int(Path(name).stem) if Path(name).stem.isdigit() else names.index(name)
        if frame >= video["num_frames"]:
            raise InvalidInputError(f"folder: {name} is past the video's last frame {video['num_frames'] - 1}")
        labels = read_label_png(folder / name)
        if labels.shape != (video["height"], video["width"]):
            raise InvalidInputError(f"folder: {name} is {labels.shape}, the video is "
                                    f"{video['height']}x{video['width']}")
        for k in np.unique(labels):
            if 0 < k < 255:
                per_object.setdefault(int(k), {})[frame] = encode_rle(labels == k)
    return import_masklets(store, video_id, sorted(per_object.items()))


def import_masklets(store: Store, video_id: int, masklets: list[tuple[int, dict[int, dict[str, Any]]]],
                    name: str = "imported {}", category: str = "", source: str = "imported",
                    expect: int | None = None) -> dict[str, Any]:
    """New objects with the given masks; each masklet's first visible mask becomes its mask prompt,
    so that it can be propagated and corrected like any other (drop the video's warm session after).

    ``name`` is formatted with the masklet's source id; ``expect`` is checked against the video's version
    before the first object is made (a stale one changes nothing).
    """
    created, items = [], []
    n = store.video(video_id)["num_frames"]
    for source_id, frames in masklets:
        obj, _ = store.create_object(video_id, None, name.format(source_id), category, "", expect)
        expect = None
        created.append(obj["obj_id"])
        kept = {f: rle for f, rle in sorted(frames.items()) if f < n}
        items += [(obj["obj_id"], f, rle) for f, rle in kept.items()]
        visible = [f for f, rle in kept.items() if decode_rle(rle).any()]
        if visible:
            rle = kept[visible[0]]
            store.add_edit(video_id, obj["obj_id"], visible[0], "mask", {"mask": rle}, rle, None)
    store.put_imported_masks(video_id, items, source)
    return {"objects": created, "masks": len(items), "version": store.version(video_id)}
