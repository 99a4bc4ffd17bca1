"""Masklets from elsewhere as objects: SA-V masklet files, DAVIS label PNGs, accepted automatic masklets.

Each masklet becomes a new object holding exactly the given masks (one action: undo takes the masks
back). Its first visible mask is also its mask prompt, so it can be propagated and corrected like any
other object: the tracker's state of that prompt is made the first time the video's session is built
(the masks stay as given).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from samstream.data.sav_json import parse_sav
from samstream.errors import InvalidInputError
from samstream.io.labels import list_pngs, read_label_png
from samstream.io.rle import decode_rle, encode_rle
from samstream.studio.store import FrameChange, Store

__all__ = ["import_davis_folder", "import_masklets", "import_sav_doc"]


def import_sav_doc(store: Store, video_id: int, doc: Any, stride: int = 4, person: str | None = None) -> dict[str, Any]:
    """The masklets of an SA-V masklet file (its parsed JSON) as new objects, masks on the annotated frames.

    Args:
        store: the data dir's store.
        video_id: the video they belong to (same size).
        doc: the file's JSON (a manual or an automatic SA-V masklet file).
        stride: video frames per annotated frame (SA-V: 4).
        person: who imported them.

    Returns:
        ``{"objects": [new ids], "masks": count, "video_version": the video's version}``.
    """
    video = store.videos.get(video_id)
    sav = parse_sav(doc, stride, source="doc")
    if (sav.height, sav.width) != video.hw:
        raise InvalidInputError(f"masklet: size {sav.height}x{sav.width} is not the video's "
                                f"{video.height}x{video.width}")
    return import_masklets(store, video_id, [(m.masklet_id, {i * stride: r for i, r in enumerate(m.rles)})
                                             for m in sav.masklets], person=person)


def import_davis_folder(store: Store, video_id: int, folder: Path, person: str | None = None) -> dict[str, Any]:
    """DAVIS label PNGs (``<frame>.png``, in frame order) as new objects, one per label id.

    Args:
        store: the data dir's store.
        video_id: the video they belong to (same size).
        folder: the folder of PNGs of one sequence.
        person: who imported them.

    Returns:
        As :func:`import_sav_doc`.
    """
    video = store.videos.get(video_id)
    names = list_pngs(folder)
    if not names:
        raise InvalidInputError(f"folder: no PNG in {str(folder)!r}")
    per_object: dict[int, dict[int, dict[str, Any]]] = {}
    for name in names:
        frame = int(Path(name).stem) if Path(name).stem.isdigit() else names.index(name)
        if frame >= video.num_frames:
            raise InvalidInputError(f"folder: {name} is past the video's last frame {video.num_frames - 1}")
        labels = read_label_png(folder / name)
        if labels.shape != video.hw:
            raise InvalidInputError(f"folder: {name} is {labels.shape[0]}x{labels.shape[1]}, the video is "
                                    f"{video.height}x{video.width}")
        for k in np.unique(labels):
            if 0 < k < 255:
                per_object.setdefault(int(k), {})[frame] = encode_rle(labels == k)
    return import_masklets(store, video_id, sorted(per_object.items()), person=person)


def import_masklets(store: Store, video_id: int, masklets: list[tuple[int, dict[int, dict[str, Any]]]],
                    name: str = "imported {}", category: str = "", source: str = "imported",
                    origin: str = "imported", person: str | None = None) -> dict[str, Any]:
    """New objects with the given masks (one action); each masklet's first visible mask is its mask prompt.

    Args:
        store: the data dir's store.
        video_id: the video.
        masklets: (source id, {frame: COCO RLE}) per masklet; frames past the video's end are dropped.
        name: each object's name, formatted with its masklet's source id.
        category: each object's category.
        source: what the records say their masks came from (``imported``, ``proposal``).
        origin: the objects' origin (``imported``, or ``auto`` for automatic masklets).
        person: who made the import.

    Returns:
        ``{"objects": [new ids], "masks": count, "video_version": the video's version}``. Drop the video's
        warm session afterwards: the new mask prompts are applied when it is next built.
    """
    video = store.videos.get(video_id)
    created: list[int] = []
    changes: list[FrameChange] = []
    for source_id, frames in masklets:
        obj, _ = store.videos.create_object(video_id, None, name.format(source_id), category, "", origin, person)
        created.append(obj.obj_id)
        kept = {f: rle for f, rle in sorted(frames.items()) if 0 <= f < video.num_frames}
        first = next((f for f, rle in kept.items() if decode_rle(rle).any()), None)
        for f, rle in kept.items():
            prompts = [{"points": None, "labels": None, "box": None, "mask": rle}] if f == first else None
            changes.append(FrameChange(obj.obj_id, f, rle, "prompt" if f == first else source, None, prompts))
    if created:
        store.tracks.record_action(video_id, person, "import" if origin == "imported" else "accept", created,
                                   {"masklets": len(created)}, changes)
    return {"objects": created, "masks": len(changes), "video_version": store.videos.version(video_id)}
