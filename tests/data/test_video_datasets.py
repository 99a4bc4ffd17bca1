"""Video dataset layout readers on generated DAVIS, SA-V and YouTube-VOS folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samstream.data.video_datasets import VideoDataset
from samstream.errors import InvalidInputError
from samstream.io.labels import write_label_png
from tests.data.synth import moving_objects, write_davis, write_sav, write_ytvos


@pytest.fixture()
def videos() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"early": moving_objects(4), "late": moving_objects(6, late=3, seed=1)}


def test_davis(tmp_path: Path, videos) -> None:
    root = write_davis(tmp_path / "DAVIS", videos)
    ds = VideoDataset(root, "davis")
    assert ds.names == ["early", "late"] and len(ds) == 2
    entry = ds[1]
    assert entry.frame_names == [f"{t:05d}" for t in range(6)]
    assert entry.annotated_frames() == list(range(6))
    labels = videos["late"][1]
    ann = entry.read_annotation(4)
    assert sorted(ann) == [1, 2] and all(np.array_equal(ann[k], labels[4] == k) for k in ann)
    first = entry.object_prompts(first_frame_only=True)  # the DAVIS task: frame 0 only
    assert [(p.obj_id, p.frame_idx) for p in first] == [(1, 0)]
    every = entry.object_prompts()
    assert [(p.obj_id, p.frame_idx) for p in every] == [(1, 0), (2, 3)]
    assert np.array_equal(every[1].mask, labels[3] == 2)
    assert VideoDataset(root, "davis", sequences=["late"]).names == ["late"]


def test_davis_void_is_not_an_object(tmp_path: Path) -> None:
    frames, labels = moving_objects(3)
    labels[:, 0, :] = 255
    entry = VideoDataset(write_davis(tmp_path, {"v": (frames, labels)}), "davis")[0]
    assert sorted(entry.read_annotation(0)) == [1]


def test_sav_per_object_folders(tmp_path: Path) -> None:
    frames, labels = moving_objects(7, late=3)
    root = write_sav(tmp_path / "sav", {"sav_001": (frames, labels)}, ann_every=2)
    ds = VideoDataset(root, "sav")
    entry = ds[0]
    assert entry.per_object and len(entry.frame_paths) == 7
    assert entry.annotated_frames() == [0, 2, 4, 6]
    prompts = entry.object_prompts()
    # object "001" (label 2) shows from frame 3, first annotated at frame 4
    assert [(p.obj_id, p.frame_idx) for p in prompts] == [(0, 0), (1, 4)]
    assert np.array_equal(prompts[1].mask, labels[4] == 2)


def test_ytvos_sparse_and_split_folder(tmp_path: Path, videos) -> None:
    root = write_ytvos(tmp_path / "ytvos", videos)
    for ds in (VideoDataset(root, "ytvos"), VideoDataset(root / "valid", "ytvos")):
        entry = ds[ds.names.index("late")]
        assert entry.frame_names[:2] == ["00000", "00005"]
        assert entry.annotated_frames() == [0, 3]
        assert [(p.obj_id, p.frame_idx) for p in entry.object_prompts()] == [(1, 0), (2, 3)]


def test_errors(tmp_path: Path, videos) -> None:
    root = write_davis(tmp_path / "DAVIS", videos)
    with pytest.raises(InvalidInputError, match="format"):
        VideoDataset(root, "kinetics")
    with pytest.raises(InvalidInputError, match="nope"):
        VideoDataset(root, "davis", sequences=["nope"])
    with pytest.raises(InvalidInputError, match="subset 'test'"):
        VideoDataset(root, "davis", subset="test")
    with pytest.raises(InvalidInputError, match="not a folder"):
        VideoDataset(tmp_path / "missing", "sav")
    write_label_png(root / "Annotations" / "480p" / "early" / "00099.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(InvalidInputError, match="00099"):
        VideoDataset(root, "davis")[0].annotated_frames()
