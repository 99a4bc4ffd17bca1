"""Listing a job's items: folders, globs, list files, COCO JSONs, video datasets; keys are unique."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from samstream.batch import Item, list_images, list_video_files, list_videos
from samstream.errors import InvalidInputError
from tests.batch.conftest import write_clips, write_images, write_videos


def test_folder_is_searched_recursively_with_relative_keys(tmp_path: Path) -> None:
    write_images(tmp_path / "set" / "a", 2)
    write_images(tmp_path / "set" / "b", 1)
    (tmp_path / "set" / "b" / "img_00.json").write_text("{}")  # SA-1B: annotations beside images, not items
    items = list_images([str(tmp_path / "set")])
    assert [i.key for i in items] == ["a/img_00", "a/img_01", "b/img_00"]
    assert items[2] == Item("b/img_00", str(tmp_path / "set" / "b" / "img_00.png"))
    assert items[2].file_name == "b/img_00.png"


def test_glob_list_file_and_image_give_stems_as_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    write_images(tmp_path / "imgs", 3)
    (tmp_path / "list.txt").write_text("# two of them\nimgs/img_02.png\n\nimgs/img_00.png\n")
    monkeypatch.chdir(tmp_path)
    assert [i.key for i in list_images(["imgs/img_0[01].png"])] == ["img_00", "img_01"]
    listed = list_images(["list.txt"])
    assert [i.key for i in listed] == ["img_02", "img_00"]
    assert listed[0].source == os.path.join(str(tmp_path), "imgs", "img_02.png")
    assert list_images(["imgs/img_01.png"])[0].source == str(tmp_path / "imgs" / "img_01.png")


def test_coco_json_names_images_under_its_folder_or_image_root(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": "val/000001.jpg"}, {"id": 2, "file_name": "val/000002.jpg"}]
    (tmp_path / "instances.json").write_text(json.dumps({"images": images, "annotations": []}))
    items = list_images([str(tmp_path / "instances.json")])
    assert items == [Item("val/000001", str(tmp_path / "val/000001.jpg")),
                     Item("val/000002", str(tmp_path / "val/000002.jpg"))]
    rooted = list_images([str(tmp_path / "instances.json")], image_root=str(tmp_path / "coco"))
    assert rooted[0].source == str(tmp_path / "coco" / "val" / "000001.jpg")


def test_same_name_twice_is_refused(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 1)
    write_images(tmp_path / "b", 1)
    with pytest.raises(InvalidInputError, match="same name 'img_00'"):
        list_images([str(tmp_path / "a" / "img_00.png"), str(tmp_path / "b" / "*.png")])


@pytest.mark.parametrize("source, message", [
    ("missing.png", "no such file, folder or matching pattern"),
    ("*.nothing", "matches no image"),
    ("empty", "holds no image"),
    ("notes.md", "is not an image"),
])
def test_bad_sources_name_the_argument(tmp_path: Path, monkeypatch, source: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.md").write_text("hi")
    with pytest.raises(InvalidInputError, match=f"IMAGES: .*{message}"):
        list_images([source])


def test_videos_are_the_dataset_sequences(tmp_path: Path) -> None:
    root = write_videos(tmp_path / "davis", 3)
    assert list_videos(str(root), "davis") == [Item(f"vid_{i}", f"vid_{i}") for i in range(3)]
    assert [i.key for i in list_videos(str(root), "davis", sequences=["vid_2"])] == ["vid_2"]


def test_video_files_frame_folders_and_folders_of_them(tmp_path: Path, monkeypatch) -> None:
    folder = write_clips(tmp_path / "set", 2, frame_folders=1)
    (folder / "notes.txt").write_text("not a video")  # neither a video nor a frame folder: not an item
    (folder / "empty").mkdir()
    expected = [Item("clip_0", str(folder / "clip_0.mp4")), Item("clip_1", str(folder / "clip_1.mp4")),
                Item("frames_0", str(folder / "frames_0"))]
    assert list_video_files([str(folder)]) == expected  # a folder without frames: the videos in it
    assert list_video_files([str(folder / "frames_0")]) == expected[2:]  # a frame folder: one video
    monkeypatch.chdir(tmp_path)
    assert list_video_files(["set/clip_*"]) == expected[:2]
    (tmp_path / "videos.txt").write_text("# a list\nset/frames_0\n\nset/clip_1.mp4\nset/missing.mp4\n")
    assert [i.key for i in list_video_files(["videos.txt"])] == ["frames_0", "clip_1", "missing"]  # not opened


def test_video_sources_that_name_no_video_or_clash_are_refused(tmp_path: Path) -> None:
    folder = write_clips(tmp_path / "a", 1)
    write_clips(tmp_path / "b", 1)
    with pytest.raises(InvalidInputError, match="VIDEOS: .* have the same name 'clip_0'"):
        list_video_files([str(folder), str(tmp_path / "b" / "clip_0.mp4")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="VIDEOS: the folder .* holds no frames"):
        list_video_files([str(tmp_path / "empty")])
    with pytest.raises(InvalidInputError, match="VIDEOS: the pattern .* matches no video"):
        list_video_files([str(tmp_path / "*.mov")])
    with pytest.raises(InvalidInputError, match="is not a video"):
        list_video_files([str(write_images(tmp_path / "imgs", 1) / "img_00.png")])
    with pytest.raises(InvalidInputError, match="VIDEOS: give at least one"):
        list_video_files([])
