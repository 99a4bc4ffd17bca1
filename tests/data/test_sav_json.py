"""The SA-V document type (read, computed fields, write) on the two official example files of video
sav_000001: its manual and its automatic masklet file."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from samstream.errors import InvalidInputError
from samstream.eval.sav import evaluate_sav
from samstream.data.sav_json import (ANNOTATION_STRIDE, AUTO, MANUAL, SavMasklet, SavVideo, load_sav_annotation,
                                     parse_sav)
from tests.data.sav_example import EXAMPLE, form, official

pytest.importorskip("pycocotools")

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
    with pytest.raises(InvalidInputError, match="doc is not an SA-V annotation"):
        parse_sav({"masklet_num": 1}, source="doc")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="not an SA-V annotation"):
        load_sav_annotation(tmp_path / "x.json")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_sav_annotation(tmp_path / "missing.json")


# ----------------------------------------------------------------------------- writing


def rebuilt(raw, kind):
    """The masks of an official file as a new document of ``kind``, every per-masklet statistic computed
    by samstream; the video's fields, the edit counts and (automatic only) the stability scores copied,
    scores of 1.0 where the file has none."""
    hw = (int(raw["video_height"]), int(raw["video_width"]))
    scores = raw["masklet_stability_score"]
    frames = len(raw["masklet"])
    masklets = tuple(
        SavMasklet.from_rles(
            j, [frame[j] for frame in raw["masklet"]], hw, kind,
            edited_frame_count=raw["masklet_edited_frame_count"][j],
            stability_scores=None if kind == MANUAL else (
                [frame[j] for frame in scores] if isinstance(scores[0], list) else [1.0] * frames))
        for j in range(raw["masklet_num"]))
    return SavVideo(video_id=raw["video_id"], height=hw[0], width=hw[1], frame_count=int(raw["video_frame_count"]),
                    duration=raw["video_duration"], environment=raw["video_environment"], split=raw["video_split"],
                    masklets=masklets, kind=kind)


@pytest.mark.parametrize("kind", [MANUAL, AUTO])
def test_a_document_rebuilt_from_the_masks_is_the_official_file(kind):
    # every key, value, type and nesting, in SA-V's key order: the statistics SA-V computed are
    # computed again here from its masks alone, and come out the same to the last digit written
    raw = official(kind)
    doc = rebuilt(raw, kind).to_dict()
    assert list(doc) == list(raw)
    assert form(doc) == form(raw)
    assert doc == raw


@pytest.mark.parametrize("kind", [MANUAL, AUTO])
def test_reading_then_writing_gives_the_file_back(kind, tmp_path):
    raw = official(kind)
    video = load_sav_annotation(EXAMPLE / f"sav_000001_{kind}.json")
    assert video.kind == kind
    path = video.write(tmp_path / "again.json")
    assert json.loads(path.read_text()) == raw
    assert parse_sav(raw) == video


def test_manual_and_auto_of_the_same_masks_differ_where_the_official_files_do():
    manual_raw, auto_raw = official(MANUAL), official(AUTO)
    # where the two official files differ in form (type or nesting): computed, not listed by hand
    differ_in_form = {k for k in manual_raw if form(manual_raw[k]) != form(auto_raw[k])}
    assert differ_in_form == {"masklet_first_appeared_frame", "masklet_stability_score"}
    # the manual file's masks written as both kinds
    manual = rebuilt(manual_raw, MANUAL).to_dict()
    auto = rebuilt(manual_raw, AUTO).to_dict()
    assert {k for k in manual if form(manual[k]) != form(auto[k])} == differ_in_form
    # beyond the form: the kind's name, and the sizes the manual files round to 10 decimals
    assert {k for k in manual if json.dumps(manual[k]) != json.dumps(auto[k])} == differ_in_form | {
        "masklet_type", "masklet_size_rel", "masklet_size_abs"}
    assert manual["masklet_first_appeared_frame"] == [float(f) for f in auto["masklet_first_appeared_frame"]]
    assert set(manual["masklet_type"]) == {"manual"} and set(auto["masklet_type"]) == {"auto"}
    for key in ("masklet_size_rel", "masklet_size_abs"):
        assert manual[key] == [round(v, 10) for v in auto[key]]
        assert auto[key] == pytest.approx(manual[key], abs=1e-10)
    assert manual["masklet_stability_score"] == [None] * manual["masklet_num"]
    assert len(auto["masklet_stability_score"]) == len(auto["masklet"])


def test_a_file_without_masklets_keeps_its_annotated_frames():
    for kind in (MANUAL, AUTO):
        empty = SavVideo(video_id="v", height=4, width=6, frame_count=9, duration=9 / 24, environment="", split="",
                         masklets=(), kind=kind)
        doc = empty.to_dict()
        assert doc["masklet"] == [[], [], []]  # frames 0, 4, 8
        assert doc["masklet_stability_score"] == ([] if kind == MANUAL else [[], [], []])
        assert parse_sav(doc).kind == kind and parse_sav(doc).num_annotated_frames == 3


def test_the_document_refuses_mixed_forms():
    raw = official(MANUAL)
    video = parse_sav(raw)
    with pytest.raises(InvalidInputError, match="kind"):
        dataclasses.replace(video, kind="semi")
    with pytest.raises(InvalidInputError, match="stability"):  # manual masklets in an automatic file
        dataclasses.replace(video, kind=AUTO)
    with pytest.raises(InvalidInputError, match="stability_scores"):
        SavMasklet.from_rles(0, raw["masklet"][0][:1], (848, 480), AUTO)
