"""Training clip sources over dataset layouts: SA-V's training layout (a video or its frames beside
masklet JSON files), SA-V frame folders, YouTube-VOS and SA-1B, and the dataset a config builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samstream.errors import InvalidInputError, VideoReadError
from samstream.train.augment import NO_AUGMENT
from samstream.train.build import ImageSource, VideoSource, build_dataset, build_source
from samstream.train.clips import PIXEL_MEAN, PIXEL_STD, pick_window
from samstream.train.config import DataSection, ModelSection, TrainConfig
from samstream.train.sav_source import SavJsonSource, has_sav_json
from tests.data.synth import (
    H, W, instance_masks, moving_objects, names_of, write_frames, write_sa1b, write_sav, write_sav_json, write_ytvos,
)

pytest.importorskip("pycocotools")
pytest.importorskip("av")

T = 24  # one second of 24 fps video: annotated frames are video frames 0, 4, ..., 20
LATE = 9  # object 2 (masklet 1) shows from video frame 9 on, so from annotated frame 3 (frame 12)
VIDEO = "sav_000001"


@pytest.fixture(scope="module")
def video() -> tuple[np.ndarray, np.ndarray]:
    return moving_objects(T, late=LATE)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def nearest_frames(got: np.ndarray, frames: np.ndarray) -> list[int]:
    """For each decoded frame, the original frame closest to it (every frame's noise differs)."""
    diff = got[:, None].astype(np.float32) - frames[None].astype(np.float32)
    return (diff**2).mean(axis=(2, 3, 4)).argmin(axis=1).tolist()


def red(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 -> where object 1's red (230, 40, 40) is, against the grey noise."""
    r, g, b = (frames[..., c].astype(int) for c in range(3))
    return (r > 170) & (g < 100) & (b < 100)


def red_of_images(images: torch.Tensor) -> torch.Tensor:
    """(T, 3, S, S) normalised model input -> (T, S, S) red pixels."""
    rgb = images * torch.tensor(PIXEL_STD).view(3, 1, 1) + torch.tensor(PIXEL_MEAN).view(3, 1, 1)
    return (rgb[:, 0] > 0.65) & (rgb[:, 1] < 0.4) & (rgb[:, 2] < 0.4)


def config(fmt: str, root: object, frames: int = 3, size: int = 32, max_objects: int = 3) -> TrainConfig:
    return TrainConfig(
        model=ModelSection(name="micro", image_size=size),
        data=DataSection(format=fmt, root=str(root), num_frames=frames, max_objects=max_objects),
        augment=NO_AUGMENT,
    )


def test_pick_window_is_consecutive_and_pads_short_ranges():
    starts = set()
    for seed in range(10):
        picked = pick_window(6, 3, rng(seed))
        assert picked == list(range(picked[0], picked[0] + 3)) and 0 <= picked[0] <= 3
        starts.add(picked[0])
    assert len(starts) > 1
    assert pick_window(2, 4, rng()) == [0, 1, 1, 1]


# --- SA-V training layout: video or frame folder + masklet JSON --------------------------------


@pytest.mark.parametrize("media", ["video", "folder", "annotated frames only"])
def test_sav_json_clips_are_consecutive_annotated_frames(tmp_path, video, media):
    frames, labels = video
    if media == "annotated frames only":  # a folder of 00000.jpg, 00004.jpg, ...: named by video frame
        write_sav_json(tmp_path, {VIDEO: video}, media=None)
        write_frames(tmp_path / VIDEO, frames[::4], names_of(T // 4, stride=4))
    else:
        write_sav_json(tmp_path, {VIDEO: video}, media=media)
    source = SavJsonSource(tmp_path)
    assert len(source) == 1 and source.media[0].name == (f"{VIDEO}.mp4" if media == "video" else VIDEO)
    starts = set()
    for seed in range(16):
        got_frames, got_masks = source.clip(0, 3, rng(seed))
        assert got_frames.shape == (3, H, W, 3) and got_frames.dtype == np.uint8
        shown = nearest_frames(got_frames, frames)  # which video frames were decoded
        start = shown[0]
        assert start % 4 == 0 and shown == [start, start + 4, start + 8]
        starts.add(start)
        # one channel per masklet seen in the clip (masklet 1 only from frame 12 on), equal to the RLEs
        ids = [k for k in (1, 2) if (labels[shown] == k).any()]
        assert got_masks.dtype == bool and got_masks.shape == (3, len(ids), H, W)
        for j, k in enumerate(ids):
            np.testing.assert_array_equal(got_masks[:, j], labels[shown] == k)
        # and the decoded frames show the red object where masklet 0 is
        assert (red(got_frames) == got_masks[:, 0]).mean() > 0.99
    assert starts == {0, 4, 8, 12}  # random starts, over all the possible ones


def test_sav_json_short_video_repeats_its_last_annotated_frame(tmp_path, video):
    frames, labels = video
    write_sav_json(tmp_path, {VIDEO: video})
    got_frames, got_masks = SavJsonSource(tmp_path).clip(0, 8, rng())
    picked = [0, 4, 8, 12, 16, 20, 20, 20]
    assert nearest_frames(got_frames, frames) == picked
    assert got_masks.shape == (8, 2, H, W)
    np.testing.assert_array_equal(got_masks[:, 0], labels[picked] == 1)
    np.testing.assert_array_equal(got_masks[:, 1], labels[picked] == 2)


def test_sav_json_auto_masklets_only_on_request(tmp_path, video):
    frames, labels = video
    write_sav_json(tmp_path, {VIDEO: video})
    box = np.zeros_like(labels)
    box[:, 30:40, 2:12] = 1
    write_sav_json(tmp_path, {VIDEO: (frames, box)}, media=None, kind="auto")
    manual = SavJsonSource(tmp_path).clip(0, 6, rng())[1]
    both = SavJsonSource(tmp_path, include_auto=True).clip(0, 6, rng())[1]
    assert manual.shape == (6, 2, H, W) and both.shape == (6, 3, H, W)
    np.testing.assert_array_equal(both[:, :2], manual)  # manual masklets first
    np.testing.assert_array_equal(both[:, 2], box[::4] == 1)


def test_sav_json_errors_name_the_file(tmp_path, video):
    frames, _ = video
    with pytest.raises(InvalidInputError, match="_manual.json"):
        SavJsonSource(tmp_path)  # no masklet file at all
    write_sav_json(tmp_path, {VIDEO: video}, media=None)
    with pytest.raises(VideoReadError, match=f"{VIDEO}.mp4"):
        SavJsonSource(tmp_path)  # neither the video nor its frame folder
    from samstream.video.frames.decode import write_video

    write_video(tmp_path / f"{VIDEO}.mp4", frames[:10], 24)  # shorter than its annotation
    source = SavJsonSource(tmp_path)
    with pytest.raises(VideoReadError, match=rf"{VIDEO}\.mp4.*no frame 12"):
        source.clip(0, 6, rng())
    (tmp_path / f"{VIDEO}_manual.json").write_text("{}")
    with pytest.raises(InvalidInputError, match=f"{VIDEO}_manual.json"):
        source.clip(0, 2, rng())


# --- the frame-folder layouts and SA-1B, through build_source and ClipDataset --------------------


def test_sav_png_layout_feeds_training_clips(tmp_path):
    frames, labels = moving_objects(6, late=2)
    write_sav(tmp_path, {"vid": (frames, labels)}, ann_every=2)  # annotated frames 0, 2, 4
    source, num_frames = build_source(config("sav", tmp_path))
    assert isinstance(source, VideoSource) and num_frames == 3  # no masklet JSON: the PNG layout
    got_frames, got_masks = source.clip(0, 3, rng())
    assert got_frames.shape == (3, H, W, 3) and got_masks.shape == (3, 2, H, W)
    assert nearest_frames(got_frames, frames) == [0, 2, 4]
    np.testing.assert_array_equal(got_masks[:, 0], labels[[0, 2, 4]] == 1)
    np.testing.assert_array_equal(got_masks[:, 1], labels[[0, 2, 4]] == 2)
    _check_video_items(build_dataset(config("sav", tmp_path)), objects=1)  # object 2 is not on frame 0


def test_ytvos_layout_feeds_training_clips(tmp_path):
    frames, labels = moving_objects(4, late=2)
    write_ytvos(tmp_path, {"vid": (frames, labels)}, split="train")  # frame 0: object 1; frame 2: object 2
    source, num_frames = build_source(config("ytvos", tmp_path, frames=2))
    assert isinstance(source, VideoSource) and num_frames == 2
    got_frames, got_masks = source.clip(0, 2, rng())
    assert got_frames.shape == (2, H, W, 3) and got_masks.shape == (2, 2, H, W)
    assert nearest_frames(got_frames, frames) == [0, 2]  # the annotated frames only
    np.testing.assert_array_equal(got_masks[0, 0], labels[0] == 1)
    np.testing.assert_array_equal(got_masks[1, 1], labels[2] == 2)
    assert not got_masks[0, 1].any() and not got_masks[1, 0].any()  # each is annotated once
    _check_video_items(build_dataset(config("ytvos", tmp_path, frames=2)), objects=1)


def test_sa1b_layout_feeds_one_frame_clips(tmp_path):
    expected = write_sa1b(tmp_path, num_images=2)
    source, num_frames = build_source(config("sa1b", tmp_path, frames=8))
    assert isinstance(source, ImageSource) and num_frames == 1 and len(source) == 2
    dataset = build_dataset(config("sa1b", tmp_path, frames=8))
    for i in range(2):
        got_frames, got_masks = source.clip(i, 8, rng())
        assert got_frames.shape == (1, H, W, 3) and got_masks.shape == (1, 2, H, W)
        np.testing.assert_array_equal(got_frames[0], instance_masks(i)[0])  # written losslessly
        np.testing.assert_array_equal(got_masks[0], expected[f"sa_{i}"])
        sample = dataset[i]
        assert sample.images.shape == (1, 3, 32, 32) and sample.masks.shape == (1, 2, 32, 32)
        small = F.interpolate(torch.from_numpy(expected[f"sa_{i}"])[None].float(), size=(32, 32)) > 0.5
        iou = (sample.masks & small).sum(dim=(2, 3)) / (sample.masks | small).sum(dim=(2, 3))
        assert (iou > 0.9).all()


def _check_video_items(dataset, objects: int) -> None:
    """Items of a video dataset: the configured shapes, and object 1's mask on its red pixels."""
    sample = dataset[0]
    t = dataset.num_frames
    assert sample.images.shape == (t, 3, 32, 32) and sample.images.dtype == torch.float32
    assert sample.masks.shape == (t, objects, 32, 32) and sample.masks.dtype == torch.bool
    assert sample.masks[0].flatten(1).any(dim=1).all()  # the chosen objects show on the first frame
    agree = (red_of_images(sample.images) == sample.masks[:, 0]).float().mean().item()
    assert agree > 0.95


# --- end to end: a config with data.format="sav" over the JSON layout ---------------------------


def test_build_dataset_reads_the_sav_json_layout(tmp_path, video):
    write_sav_json(tmp_path, {VIDEO: video})
    write_sav_json(tmp_path, {"sav_000002": moving_objects(T, seed=1)}, media="folder")
    dataset = build_dataset(config("sav", tmp_path, frames=3, max_objects=2))
    assert isinstance(dataset.source, SavJsonSource) and len(dataset) == 2
    for index in range(2):
        sample = dataset[index]
        assert sample.images.shape == (3, 3, 32, 32) and sample.images.dtype == torch.float32
        assert sample.masks.shape[0] == 3 and 1 <= sample.masks.shape[1] <= 2
        assert sample.masks.shape[2:] == (32, 32) and sample.masks[0].flatten(1).any(dim=1).all()
        agree = (red_of_images(sample.images) == sample.masks[:, 0]).float().mean().item()
        assert agree > 0.95  # masklet 0 (always visible) lies on the red object
    again = dataset[0]
    assert torch.equal(again.images, dataset[0].images) and torch.equal(again.masks, dataset[0].masks)


def test_sav_json_videos_in_subfolders(tmp_path, video):
    """The released training set is split into sav_000/, sav_001/, ...: each video's media sit
    beside its masklet files there."""
    write_sav_json(tmp_path / "sav_000", {VIDEO: video})
    write_sav_json(tmp_path / "sav_001", {"sav_000002": moving_objects(T, seed=1)}, media="folder")
    assert has_sav_json(tmp_path) and not has_sav_json(tmp_path / "empty_missing")
    source = SavJsonSource(tmp_path)
    assert source.video_ids == [VIDEO, "sav_000002"]
    assert source.media[0] == tmp_path / "sav_000" / f"{VIDEO}.mp4"
    assert source.media[1] == tmp_path / "sav_001" / "sav_000002"
    for index in range(2):
        frames, masks = source.clip(index, 2, rng(index))
        assert frames.shape == (2, H, W, 3) and masks.shape[:2] == (2, masks.shape[1])
        assert masks.shape[1] >= 1 and (red(frames) == masks[:, 0]).mean() > 0.99
