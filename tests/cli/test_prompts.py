"""Unit tests of prompt parsing (no model)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.cli.common import CliParser
from samstream.cli.prompts import (
    VideoPrompt,
    VideoPromptAction,
    group_prompts,
    parse_box,
    parse_point,
    parse_video_prompt,
    read_mask_png,
    read_prompts_file,
)
from samstream.errors import InvalidInputError, PromptError


def test_parse_point_default_and_explicit_label() -> None:
    assert parse_point("10,20") == (10.0, 20.0, 1)
    assert parse_point("10.5,2e1:0") == (10.5, 20.0, 0)


@pytest.mark.parametrize("text", ["10", "10,20,30", "a,b", "10,20:2", "10,20:", "nan,1", "inf,3"])
def test_parse_point_rejects(text: str) -> None:
    with pytest.raises(PromptError, match="--point"):
        parse_point(text)


def test_parse_box() -> None:
    assert parse_box("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(PromptError, match="X0 <= X1"):
        parse_box("5,2,3,4")
    with pytest.raises(PromptError, match="four numbers"):
        parse_box("1,2,3")


def test_video_prompt_forms() -> None:
    p = parse_video_prompt("point", "3:10,20:0", default_obj=4)
    assert (p.frame, p.obj_id, p.points, p.labels) == (3, 4, [(10.0, 20.0)], [0])
    p = parse_video_prompt("box", "7@2:1,2,3,4")
    assert (p.frame, p.obj_id, p.box) == (2, 7, (1.0, 2.0, 3.0, 4.0))
    p = parse_video_prompt("mask", "2@0:some/dir:with:colons.png")
    assert (p.frame, p.obj_id, p.mask) == (0, 2, Path("some/dir:with:colons.png"))


@pytest.mark.parametrize("kind,text,match", [
    ("point", "10,20", "frame index"),
    ("point", "x:10,20", "not a frame index"),
    ("point", "-1:10,20", "out of range"),
    ("point", "0@0:1,2", "object id 0 is out of range"),
    ("point", "256@0:1,2", "out of range"),
    ("box", "0:1,2,3", "four numbers"),
    ("mask", "0:", "frame index"),
])
def test_video_prompt_rejects(kind: str, text: str, match: str) -> None:
    with pytest.raises(PromptError, match=match):
        parse_video_prompt(kind, text)


def _parser() -> argparse.ArgumentParser:
    p = CliParser(prog="t")
    p.add_argument("--obj", action=VideoPromptAction)
    for kind in ("point", "box", "mask"):
        p.add_argument(f"--{kind}", dest="prompts", action=VideoPromptAction)
    return p


def test_obj_applies_to_following_prompts_in_order() -> None:
    args = _parser().parse_args(["--point", "0:1,1", "--obj", "3", "--point", "0:2,2", "--box", "5@1:0,0,4,4",
                                 "--mask", "2:m.png"])
    assert [(p.obj_id, p.frame) for p in args.prompts] == [(1, 0), (3, 0), (5, 1), (3, 2)]


def test_group_merges_points_and_box_of_same_frame_and_object() -> None:
    prompts = [parse_video_prompt("point", "0:1,1"), parse_video_prompt("point", "0:2,2:0"),
               parse_video_prompt("box", "0:0,0,5,5"), parse_video_prompt("point", "2@0:3,3")]
    groups = group_prompts(prompts)
    assert [(g.frame, g.obj_id) for g in groups] == [(0, 1), (0, 2)]
    assert groups[0].points == [(1.0, 1.0), (2.0, 2.0)] and groups[0].labels == [1, 0]
    assert groups[0].box == (0.0, 0.0, 5.0, 5.0)


def test_group_rejects_two_boxes_and_mask_with_points() -> None:
    with pytest.raises(PromptError, match="two boxes"):
        group_prompts([parse_video_prompt("box", "0:0,0,5,5"), parse_video_prompt("box", "0:1,1,5,5")])
    with pytest.raises(PromptError, match="a mask and points"):
        group_prompts([parse_video_prompt("mask", "0:m.png"), parse_video_prompt("point", "0:1,1")])


def test_prompts_file(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"prompts": [
        {"frame": 0, "obj_id": 1, "points": [[1, 2], [3, 4]], "labels": [1, 0]},
        {"frame": 2, "obj_id": 2, "box": [0, 0, 5, 6]},
        {"frame": 1, "obj_id": 3, "mask": "m.png"},
        {"frame": 1, "points": [[5, 5]]},
    ]}))
    got = read_prompts_file(f)
    assert got[0] == VideoPrompt(0, 1, [(1.0, 2.0), (3.0, 4.0)], [1, 0])
    assert got[1].box == (0.0, 0.0, 5.0, 6.0)
    assert got[2].mask == tmp_path / "m.png"
    assert (got[3].obj_id, got[3].labels) == (1, [1])


@pytest.mark.parametrize("content,match", [
    ("{", "not valid JSON"),
    ('{"x": 1}', "expected a list"),
    ('[{"obj_id": 1, "points": [[1, 2]]}]', "frame must be"),
    ('[{"frame": 0, "obj_id": 0, "points": [[1, 2]]}]', "obj_id must be"),
    ('[{"frame": 0, "points": [[1, 2]], "labels": [1, 1]}]', "need as many labels"),
    ('[{"frame": 0, "points": [[1, 2]], "labels": [3]}]', "each 0 or 1"),
    ('[{"frame": 0}]', "give points, a box or a mask"),
    ('[{"frame": 0, "box": [1, 2]}]', "box must be"),
    ('[{"frame": 0, "boxes": [1, 2, 3, 4]}]', "unknown keys"),
])
def test_prompts_file_rejects(tmp_path: Path, content: str, match: str) -> None:
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(InvalidInputError, match=match):
        read_prompts_file(f)


def test_read_mask_png(tmp_path: Path) -> None:
    labels = np.zeros((6, 8), np.uint8)
    labels[1:3, 1:3] = 1
    labels[4:, 5:] = 2
    Image.fromarray(labels, mode="L").save(tmp_path / "m.png")
    assert (read_mask_png(tmp_path / "m.png", 2, (6, 8)) == (labels == 2)).all()
    with pytest.raises(PromptError, match="no pixel of object 7"):  # issue 16: was the union of all ids
        read_mask_png(tmp_path / "m.png", 7, (6, 8))
    with pytest.raises(PromptError, match="is 8x6, the video is 10x6"):
        read_mask_png(tmp_path / "m.png", 1, (6, 10))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="cannot read"):
        read_mask_png(tmp_path / "bad.png", 1, (6, 8))
