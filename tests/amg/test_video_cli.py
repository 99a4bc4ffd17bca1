"""``samstream auto-video``: the files it writes, their layouts, and its refusal to overwrite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samstream.cli import main
from samstream.io.labels import read_label_png
from samstream.data.sav_json import load_sav_annotation
from samstream.io.rle import decode_rle
from samstream.video.frames.decode import write_video
from tests.data.sav_example import EXAMPLE, form, official
from tests.data.synth import moving_objects


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto_video")
    frames, _ = moving_objects(6, late=2)
    write_video(root / "clip.mp4", frames, 24)
    out = root / "out"
    args = ["auto-video", str(root / "clip.mp4"), "--out", str(out), "--model", "samstream-nano", "--device", "cpu",
            "--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-thresh", "0", "--keyframe-interval", "4",
            "--jsonl"]
    return root, out, args


def test_writes_every_format(run_dir, capsys):
    root, out, args = run_dir
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["frame"] for e in lines if e["event"] == "frame"] == list(range(6))
    assert [e["keyframe"] for e in lines if e["event"] == "frame"] == [True, False, False, False, True, False]
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["frames"] == 6 and summary["masklets"] > 0

    records = [json.loads(line) for line in (out / "masks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(6))
    for rec in records:  # masks are disjoint and their areas are right
        masks = [decode_rle(m["segmentation"]) for m in rec["masklets"]]
        assert [int(m.sum()) for m in masks] == [m["area"] for m in rec["masklets"]]
        if masks:
            assert np.sum(masks, axis=0).max() <= 1

    sav = json.loads((out / "clip_auto.json").read_text())
    if EXAMPLE.is_dir():  # every key in SA-V's order, every value's type and nesting as its automatic file's
        assert list(sav) == list(official("auto"))
        assert form(sav) == form(official("auto"))
    assert len(sav["masklet"]) == 2  # frames 0 and 4 (every 4th)
    assert sav["masklet_num"] == len(sav["masklet_id"]) == len(sav["masklet"][0]) == len(sav["masklet_stability_score"][0])
    assert set(sav["masklet_type"]) <= {"auto"} and sav["video_frame_count"] == 6.0
    video = load_sav_annotation(out / "clip_auto.json")  # the repository's own SA-V reader accepts it
    assert len(video.masklets) == sav["masklet_num"]
    # the summary counts both: every masklet of masks.jsonl, and those the SA-V file's frames show
    assert summary["masklets"] == len({m["id"] for rec in records for m in rec["masklets"]})
    assert summary["sav_masklets"] == sav["masklet_num"]
    assert sav["masklet_num"] == len({m["id"] for rec in records if rec["frame"] % 4 == 0 for m in rec["masklets"]})

    pngs = sorted((out / "davis").iterdir())
    assert [p.name for p in pngs] == [f"{t:05d}.png" for t in range(6)]
    ranked = {int(i) for p in pngs for i in np.unique(read_label_png(p))} - {0}
    assert ranked and max(ranked) <= min(20, summary["masklets"])

    ytvis = json.loads((out / "ytvis.json").read_text())
    assert ytvis["videos"][0]["length"] == 6
    assert all(len(a["segmentations"]) == 6 for a in ytvis["annotations"])
    assert (out / "overlay.mp4").stat().st_size > 0


def test_refuses_to_overwrite(run_dir, capsys):
    root, out, args = run_dir
    if not (out / "masks.jsonl").exists():
        pytest.skip("needs the run of test_writes_every_format")
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
