"""Synthetic clips, clip augmentation and training datasets."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from samstream.train.augment import NO_AUGMENT, AugmentConfig, augment_clip
from samstream.train.clips import ClipDataset, SyntheticSource, collate_clips
from samstream.data.synthetic import SyntheticConfig, generate_clip


def test_synthetic_is_deterministic_and_seed_dependent():
    cfg = SyntheticConfig(size=64, num_frames=3)
    a, b, c = generate_clip(5, cfg), generate_clip(5, cfg), generate_clip(6, cfg)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (3, 64, 64, 3)
    assert a.masks.shape[:2] == (3, len(a.obj_ids)) and a.masks.dtype == bool


def test_synthetic_masks_are_disjoint_and_visible():
    cfg = SyntheticConfig(size=96, num_frames=4, max_distractors=2, exit_prob=0.0)
    for seed in range(4):
        clip = generate_clip(seed, cfg)
        assert clip.masks.sum(axis=1).max() <= 1  # each pixel belongs to at most one object
        area = clip.masks.sum(axis=(2, 3))  # (T, N)
        assert (area.sum(axis=0) > 0).all()  # every labelled object is seen in the clip


def test_synthetic_objects_leave_and_reenter():
    cfg = SyntheticConfig(size=64, num_frames=12, min_objects=3, max_objects=3, exit_prob=1.0)
    found = False
    for seed in range(5):
        area = generate_clip(seed, cfg).masks.sum(axis=(2, 3))  # (T, N)
        for k in range(area.shape[1]):
            visible = area[:, k] > 0
            gone = np.flatnonzero(~visible)
            if len(gone) and visible[: gone[0]].any() and visible[gone[-1] :].any():
                found = True
    assert found


def test_synthetic_speed():
    generate_clip(0, SyntheticConfig())
    start = time.perf_counter()
    generate_clip(1, SyntheticConfig(size=256, num_frames=8))
    assert time.perf_counter() - start < 1.0


def _square_clip(t: int = 4, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    frames = np.zeros((t, size, size, 3), dtype=np.uint8)
    masks = np.zeros((t, 1, size, size), dtype=bool)
    for i in range(t):
        frames[i, 8 + i : 20 + i, 10:30] = 255
        masks[i, 0, 8 + i : 20 + i, 10:30] = True
    return frames, masks


def test_augmentation_is_consistent_across_the_clip():
    frames, masks = _square_clip()
    same_frames = np.repeat(frames[:1], 4, axis=0)
    same_masks = np.repeat(masks[:1], 4, axis=0)
    cfg = AugmentConfig(crop_prob=1.0, hflip=0.5, frame_brightness=0.0, frame_contrast=0.0, frame_saturation=0.0)
    for seed in range(6):
        images, out = augment_clip(same_frames, same_masks, 32, np.random.default_rng(seed), cfg)
        assert images.shape == (4, 3, 32, 32) and out.shape == (4, 1, 32, 32)
        # identical input frames stay identical: one transform and one colour jitter per clip
        assert torch.equal(images[0], images[3]) and torch.equal(out[0], out[3])


def test_augmentation_keeps_masks_on_their_pixels():
    frames, masks = _square_clip()
    for seed in range(6):
        images, out = augment_clip(frames, masks, 32, np.random.default_rng(seed), AugmentConfig(crop_prob=1.0))
        bright = images.mean(dim=1) > 0.5  # the white square, after flip / crop / resize / jitter
        agree = (bright == out[:, 0]).float().mean().item()
        assert agree > 0.95  # a misplaced (e.g. unflipped) mask would agree on about half


def test_clip_dataset_items_and_batch():
    src = SyntheticSource(4, SyntheticConfig(size=64, num_frames=5, min_objects=2, max_objects=3))
    ds = ClipDataset(src, image_size=64, num_frames=3, max_objects=2, augment=AugmentConfig(), seed=1)
    a, b = ds[2], ds[2]
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert a.images.shape == (3, 3, 64, 64) and a.masks.shape[0] == 3 and 1 <= a.masks.shape[1] <= 2
    assert a.masks[0].flatten(1).any(dim=1).all()  # chosen objects are visible on the first frame
    ds.set_epoch(1)
    assert not torch.equal(ds[2].images, a.images)  # a new epoch draws new augmentations
    batch = collate_clips([ds[0], ds[1]])
    n0 = ds[0].masks.shape[1]
    assert batch.images.shape[:2] == (3, 2)
    assert batch.obj_clip.tolist() == [0] * n0 + [1] * (batch.num_objects - n0)


def _write_davis(root, frames: np.ndarray, labels: np.ndarray) -> None:
    img_dir = root / "JPEGImages" / "480p" / "seq"
    ann_dir = root / "Annotations" / "480p" / "seq"
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("seq\n")
    for i, (f, lab) in enumerate(zip(frames, labels)):
        Image.fromarray(f).save(img_dir / f"{i:05d}.png")
        png = Image.fromarray(lab.astype(np.uint8), mode="P")
        png.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
        png.save(ann_dir / f"{i:05d}.png")


def test_davis_layout_feeds_training_clips(tmp_path):
    pytest.importorskip("samstream.data")
    from samstream.train.build import VideoSource
    from samstream.data import VideoDataset

    frames, masks = _square_clip(t=3, size=32)
    labels = masks[:, 0].astype(np.uint8)
    labels[:, 0:4, 0:4] = 2  # a second object in the corner
    _write_davis(tmp_path, frames, labels)
    source = VideoSource(VideoDataset(tmp_path, "davis", subset="train"))
    got_frames, got_masks = source.clip(0, 3, np.random.default_rng(0))
    assert got_frames.shape == (3, 32, 32, 3) and got_masks.shape == (3, 2, 32, 32)
    assert np.array_equal(got_masks[:, 0], labels == 1) and np.array_equal(got_masks[:, 1], labels == 2)
    ds = ClipDataset(source, image_size=32, num_frames=3, max_objects=3, augment=NO_AUGMENT)
    assert ds[0].masks.shape == (3, 2, 32, 32)


def test_coco_layout_feeds_one_frame_clips(tmp_path):
    pytest.importorskip("pycocotools")
    import json

    from samstream.train.build import ImageSource
    from samstream.data import open_image_dataset

    image = np.zeros((40, 50, 3), dtype=np.uint8)
    image[10:30, 5:25] = 200
    Image.fromarray(image).save(tmp_path / "a.png")
    box = [5, 10, 25, 10, 25, 30, 5, 30]  # the square as a polygon (x, y pairs)
    (tmp_path / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 50}],
        "annotations": [{"id": 7, "image_id": 1, "segmentation": [box], "iscrowd": 0}],
    }))
    source = ImageSource(open_image_dataset("coco", tmp_path))
    frames, masks = source.clip(0, 8, np.random.default_rng(0))
    assert frames.shape == (1, 40, 50, 3) and masks.shape == (1, 1, 40, 50)
    assert masks[0, 0, 15, 10] and not masks[0, 0, 35, 40]
    sample = ClipDataset(source, image_size=32, num_frames=1, max_objects=3, augment=NO_AUGMENT)[0]
    assert sample.images.shape == (1, 3, 32, 32) and sample.masks.shape == (1, 1, 32, 32)
