"""Small generated datasets in the DAVIS, SA-V (frame folders, or videos with masklet JSON files),
YouTube-VOS, SA-1B and COCO layouts (for tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from samstream.io.labels import write_label_png

H, W = 48, 64


def moving_objects(num_frames: int, late: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, 3) uint8 frames and (T, H, W) uint8 labels: object 1 moves right from frame 0,
    object 2 (if ``late`` is given) shows from frame ``late`` on."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(60, 120, (num_frames, H, W, 3), dtype=np.uint8)
    labels = np.zeros((num_frames, H, W), np.uint8)
    for t in range(num_frames):
        labels[t, 8:24, 4 + 2 * t : 20 + 2 * t] = 1
        if late is not None and t >= late:
            labels[t, 28:44, 36:56] = 2
    frames[labels == 1] = [230, 40, 40]
    frames[labels == 2] = [40, 40, 230]
    return frames, labels


def write_frames(folder: Path, frames: np.ndarray, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names):
        Image.fromarray(frame).save(folder / f"{name}.jpg", quality=95)


def names_of(num_frames: int, stride: int = 1) -> list[str]:
    return [f"{t * stride:05d}" for t in range(num_frames)]


def write_davis(root: Path, videos: dict[str, tuple[np.ndarray, np.ndarray]], subset: str = "val") -> Path:
    """DAVIS 2017 layout with every frame annotated; all videos listed in ``subset``."""
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / f"{subset}.txt").write_text("".join(f"{v}\n" for v in videos))
    for name, (frames, labels) in videos.items():
        names = names_of(len(frames))
        write_frames(root / "JPEGImages" / "480p" / name, frames, names)
        for lab, n in zip(labels, names):
            write_label_png(root / "Annotations" / "480p" / name / f"{n}.png", lab)
    return root


def write_sav(root: Path, videos: dict[str, tuple[np.ndarray, np.ndarray]], ann_every: int = 2) -> Path:
    """SA-V layout: JPEGImages_24fps, and Annotations_6fps on every ``ann_every``-th frame with one
    folder per object (ids 0, 1, ... = label - 1, as SA-V numbers them from 000)."""
    for name, (frames, labels) in videos.items():
        names = names_of(len(frames))
        write_frames(root / "JPEGImages_24fps" / name, frames, names)
        ids = [int(k) for k in np.unique(labels) if k]
        for t in range(0, len(frames), ann_every):
            for k in ids:
                mask = (labels[t] == k).astype(np.uint8)
                write_label_png(root / "Annotations_6fps" / name / f"{k - 1:03d}" / f"{names[t]}.png", mask)
    return root


def sav_masklets(video_id: str, labels: np.ndarray, kind: str = "manual", stride: int = 4) -> dict:
    """An SA-V masklet file's content for (T, H, W) labels of a 24 fps video: label k is masklet
    k - 1, annotated on frames 0, ``stride``, 2 * ``stride``, ... with pycocotools RLEs."""
    ids = [int(k) for k in np.unique(labels) if k]
    annotated = labels[::stride]
    areas = np.array([[int((lab == k).sum()) for k in ids] for lab in annotated]).reshape(len(annotated), len(ids))
    visible = areas > 0
    first = visible.argmax(axis=0)
    mean = [float(areas[visible[:, j], j].mean()) if visible[:, j].any() else 0.0 for j in range(len(ids))]
    h, w = labels.shape[1:]
    return {
        "video_id": video_id, "video_duration": len(labels) / 24, "video_frame_count": float(len(labels)),
        "video_height": float(h), "video_width": float(w), "video_resolution": float(h * w),
        "video_environment": "Indoor", "video_split": "train",
        "masklet": [[rle_of(lab == k) for k in ids] for lab in annotated],
        "masklet_id": [k - 1 for k in ids],
        "masklet_size_rel": [m / (h * w) for m in mean],
        "masklet_size_abs": mean,
        "masklet_size_bucket": ["medium"] * len(ids),
        "masklet_visibility_changes": [int(np.count_nonzero(np.diff(visible[f:, j].astype(int))))
                                       for j, f in enumerate(first)],
        "masklet_first_appeared_frame": [float(f) for f in first],
        "masklet_frame_count": [len(annotated)] * len(ids),
        "masklet_edited_frame_count": [0] * len(ids),
        "masklet_type": [kind] * len(ids),
        "masklet_stability_score": ([None] * len(ids) if kind == "manual"
                                    else [[0.9] * len(ids) for _ in annotated]),
        "masklet_num": len(ids),
    }


def write_sav_json(root: Path, videos: dict[str, tuple[np.ndarray, np.ndarray]], media: str | None = "video",
                   kind: str = "manual") -> Path:
    """SA-V training layout: ``<video>_<kind>.json`` masklets on every 4th frame, beside the video
    as ``<video>.mp4`` (``media="video"``, 24 fps), as a folder of JPEG frames ``<video>/00000.jpg``
    (``media="folder"``), or without it (``media=None``)."""
    from samstream.video.frames.decode import write_video

    root.mkdir(parents=True, exist_ok=True)
    for name, (frames, labels) in videos.items():
        if media == "video":
            write_video(root / f"{name}.mp4", frames, 24)
        elif media == "folder":
            write_frames(root / name, frames, names_of(len(frames)))
        (root / f"{name}_{kind}.json").write_text(json.dumps(sav_masklets(name, labels, kind)))
    return root


def write_ytvos(root: Path, videos: dict[str, tuple[np.ndarray, np.ndarray]], split: str = "valid") -> Path:
    """YouTube-VOS layout: only the frame where an object first shows is annotated, with that object."""
    base = root / split
    for name, (frames, labels) in videos.items():
        names = names_of(len(frames), stride=5)
        write_frames(base / "JPEGImages" / name, frames, names)
        seen: set[int] = set()
        for t, lab in enumerate(labels):
            new = [int(k) for k in np.unique(lab) if k and int(k) not in seen]
            if new:
                write_label_png(base / "Annotations" / name / f"{names[t]}.png", np.where(np.isin(lab, new), lab, 0))
                seen.update(new)
    return root


def instance_masks(seed: int, n: int = 2, hw: tuple[int, int] = (H, W)) -> tuple[np.ndarray, np.ndarray]:
    """An (H, W, 3) image and (n, H, W) bool masks of coloured rectangles on it."""
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 120, (*hw, 3), dtype=np.uint8)
    masks = np.zeros((n, *hw), bool)
    for i in range(n):
        y0, x0 = rng.integers(2, hw[0] // 2), rng.integers(2, hw[1] // 2)
        masks[i, y0 : y0 + rng.integers(6, hw[0] // 2), x0 : x0 + rng.integers(6, hw[1] // 2)] = True
        image[masks[i]] = rng.integers(150, 255, 3)
    return image, masks


def rle_of(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def write_sa1b(root: Path, num_images: int = 2) -> dict[str, np.ndarray]:
    """SA-1B layout (``sa_<i>.jpg`` + ``sa_<i>.json``); returns name -> (n, H, W) masks."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(num_images):
        image, masks = instance_masks(i)
        name = f"sa_{i}"
        Image.fromarray(image).save(root / f"{name}.png")  # lossless, so colours stay exact
        anns = [{"id": 10 * i + k, "segmentation": rle_of(m), "area": int(m.sum())} for k, m in enumerate(masks)]
        info = {"image_id": i, "file_name": f"{name}.png", "height": H, "width": W}
        (root / f"{name}.json").write_text(json.dumps({"image": info, "annotations": anns}))
        out[name] = masks
    return out


def write_coco(root: Path) -> tuple[Path, dict[int, list[tuple[int, np.ndarray | None]]]]:
    """A COCO instances file over two images: an RLE, a polygon, and a crowd annotation.

    Returns the JSON path and image id -> [(annotation id, mask or None for a polygon)].
    """
    root.mkdir(parents=True, exist_ok=True)
    images, anns, expected = [], [], {}
    for image_id in (1, 2):
        image, masks = instance_masks(image_id + 10)
        Image.fromarray(image).save(root / f"{image_id:012d}.png")
        images.append({"id": image_id, "file_name": f"{image_id:012d}.png", "height": H, "width": W})
        anns.append({"id": 100 + image_id, "image_id": image_id, "iscrowd": 0, "segmentation": rle_of(masks[0])})
        anns.append({"id": 200 + image_id, "image_id": image_id, "iscrowd": 0,
                     "segmentation": [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]})
        anns.append({"id": 300 + image_id, "image_id": image_id, "iscrowd": 1, "segmentation": rle_of(masks[1])})
        expected[image_id] = [(100 + image_id, masks[0]), (200 + image_id, None)]
    images.append({"id": 3, "file_name": "none.png", "height": H, "width": W})  # no annotation: skipped
    ann_file = root / "instances.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))
    return ann_file, expected
