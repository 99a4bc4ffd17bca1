"""The SA-V annotation reader on the two example files of video sav_000001."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from samstream.errors import InvalidInputError
from samstream.eval.sav import evaluate_sav
from samstream.data.sav_json import ANNOTATION_STRIDE, load_sav_annotation

pytest.importorskip("pycocotools")

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sav_example"
if not EXAMPLE.is_dir():  # the checkout sits beside shared/ (e.g. /work/main and /work/shared)
    EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "sav_example"
pytestmark = pytest.mark.skipif(not EXAMPLE.is_dir(), reason="SA-V example files not found")


@pytest.fixture(scope="module", params=["manual", "auto"])
def example(request):
    path = EXAMPLE / f"sav_000001_{request.param}.json"
    return request.param, json.loads(path.read_text()), load_sav_annotation(path)


def test_video_fields(example):
    kind, raw, video = example
    assert video.video_id == "sav_000001"
    assert (video.height, video.width) == (int(raw["video_height"]), int(raw["video_width"]))
    assert video.height * video.width == int(raw["video_resolution"])
    assert video.frame_count == int(raw["video_frame_count"])
    # every 4th frame of the 24 fps video is annotated (6 fps), starting at frame 0
    assert ANNOTATION_STRIDE == 4
    assert video.num_annotated_frames == math.ceil(video.frame_count / 4) == len(raw["masklet"])
    assert video.annotated_frames()[:3] == [0, 4, 8]
    assert video.annotated_frames()[-1] < video.frame_count
    assert video.duration == pytest.approx(video.frame_count / 24, abs=0.05)


def test_masklets_consistent_with_their_fields(example):
    kind, raw, video = example
    assert len(video.masklets) == raw["masklet_num"]
    assert [m.masklet_id for m in video.masklets] == raw["masklet_id"]
    for m in video.masklets:
        assert m.masklet_type == kind
        areas = m.areas()
        visible = areas > 0
        assert len(areas) == m.frame_count == video.num_annotated_frames
        # first_appeared_frame counts annotated frames
        assert m.first_appeared_frame == int(np.argmax(visible))
        # visibility changes are counted from the first appearance on
        changes = np.count_nonzero(np.diff(visible[m.first_appeared_frame :].astype(int)))
        assert m.visibility_changes == changes
        # sizes: mean visible area, and that over the frame area
        assert m.size_abs == pytest.approx(areas[visible].mean(), rel=1e-6)
        assert m.size_rel == pytest.approx(m.size_abs / (video.height * video.width), rel=1e-6)
        if kind == "manual":
            assert m.stability_scores is None
        else:
            assert len(m.stability_scores) == video.num_annotated_frames


def test_decoded_masks(example):
    _, _, video = example
    m = video.masklets[0]
    first = m.mask(m.first_appeared_frame)
    assert first.shape == (video.height, video.width) and first.dtype == bool
    assert first.sum() == m.areas()[m.first_appeared_frame] > 0
    stack = video.masks(m.first_appeared_frame)
    assert stack.shape == (len(video.masklets), video.height, video.width)
    np.testing.assert_array_equal(stack[0], first)


def test_manual_example_specifics():
    video = load_sav_annotation(EXAMPLE / "sav_000001_manual.json")
    assert (video.height, video.width, video.frame_count) == (848, 480, 483)
    assert [m.first_appeared_frame for m in video.masklets] == [0, 0, 0, 113, 0]
    assert video.masklets[3].areas()[:113].max() == 0


def test_written_folders_evaluate_to_one(tmp_path):
    video = load_sav_annotation(EXAMPLE / "sav_000001_manual.json")
    # two masklets over the first 6 annotated frames keep the test fast
    small = dataclasses.replace(
        video,
        masklets=tuple(dataclasses.replace(m, rles=m.rles[:6]) for m in video.masklets[:2]),
    )
    folder = small.write_png_folders(tmp_path / "gt")
    assert sorted(p.name for p in folder.iterdir()) == ["000", "001"]
    assert sorted(p.name for p in (folder / "000").iterdir())[:2] == ["00000.png", "00004.png"]
    result = evaluate_sav(tmp_path / "gt", tmp_path / "gt")
    assert result.jf == 1.0
    assert set(result.per_object) == {"sav_000001_000", "sav_000001_001"}


def test_bad_files(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="not an SA-V annotation"):
        load_sav_annotation(tmp_path / "x.json")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_sav_annotation(tmp_path / "missing.json")
