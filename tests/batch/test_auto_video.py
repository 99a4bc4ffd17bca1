"""``batch auto-video`` without Ray: a video's automatic masklets give the files of ``samstream
auto-video``; a re-run skips finished videos; a corrupt video is recorded and the job goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samstream.amg.masklet_io import MaskletRun
from samstream.amg.video import VideoMaskGenerator
from samstream.batch import BatchJob, Item, JobSpec, auto_video, list_video_files
from samstream.batch.work import STAGING
from samstream.cli import main
from samstream.errors import InvalidInputError
from tests.batch.conftest import (CLIP_FRAMES, MASKLET_ARGS, MASKLETS, MODEL, assert_same_outputs, auto_spec,
                                  auto_video_spec, done_keys, error_records, read_outputs, write_clips)

# what `samstream auto-video` writes for a video with stem STEM (overlay.mp4 included by default)
FILES = ["STEM_auto.json", "masks.jsonl", "overlay.mp4", "ytvis.json"] + [
    f"davis/{t:05d}.png" for t in range(CLIP_FRAMES)]


def _auto_video_cli(video: Path, out: Path, *extra: str) -> dict[str, object]:
    """The outputs of ``samstream auto-video VIDEO --out OUT`` with the test's options."""
    assert main(["auto-video", str(video), "--out", str(out), "--model", MODEL, "--device", "cpu", "-q",
                 *MASKLET_ARGS, *extra]) == 0
    return read_outputs(out)


def _leftovers(out: Path) -> list[str]:
    return [p.name for p in out.rglob("*") if ".tmp" in p.name or p.name == STAGING]


def test_auto_video_item_writes_what_auto_video_writes(nano, tmp_path: Path) -> None:
    folder = write_clips(tmp_path / "clips", 2, frame_folders=1)
    expected = {name: _auto_video_cli(folder / name, tmp_path / "ref" / name) for name in ("clip_1.mp4", "frames_0")}
    generator = VideoMaskGenerator(nano, **MASKLETS)
    out = tmp_path / "out"
    for source, key in ((folder / "clip_1.mp4", "clip_1"), (folder / "frames_0", "frames_0")):
        outputs, frames = auto_video(generator, MaskletRun(), Item(key, str(source)), out)
        assert frames == CLIP_FRAMES
        assert outputs == tuple(f"{key}/{name}" for name in sorted([f"{key}_auto.json", "davis", "masks.jsonl",
                                                                    "overlay.mp4", "ytvis.json"]))
        written = read_outputs(out / key)
        assert sorted(written) == sorted(f.replace("STEM", key) for f in FILES)
        assert_same_outputs(written, expected[source.name])
        assert json.loads((out / key / "masks.jsonl").read_text().splitlines()[0])["masklets"]  # masklets found
    assert sorted(p.name for p in out.iterdir()) == ["clip_1", "frames_0"] and not _leftovers(out)


def test_run_settings_reach_the_files(nano, tmp_path: Path) -> None:
    """sav_every, max_frames, overlay: the batch task's MaskletRun fields mean what auto-video's options mean."""
    video = write_clips(tmp_path / "clips", 1) / "clip_0.mp4"
    expected = _auto_video_cli(video, tmp_path / "ref", "--sav-every", "2", "--max-frames", "3", "--no-video")
    out = tmp_path / "out"
    run = MaskletRun(sav_every=2, max_frames=3, overlay=False)
    outputs, frames = auto_video(VideoMaskGenerator(nano, **MASKLETS), run, Item("clip_0", str(video)), out)
    assert frames == 3 and "clip_0/overlay.mp4" not in outputs
    assert "clip_0/overlay.mp4" not in read_outputs(out)
    assert len(json.loads((out / "clip_0" / "clip_0_auto.json").read_text())["masklet"]) == 2  # frames 0 and 2
    assert_same_outputs(read_outputs(out / "clip_0"), expected)


def test_batch_auto_video_resumes_and_records_corrupt_videos(local_engine, tmp_path: Path) -> None:
    folder = write_clips(tmp_path / "clips", 2, corrupt=("broken.mp4", "cut_short"))
    items = list_video_files([str(folder)])
    assert [i.key for i in items] == ["broken", "clip_0", "clip_1", "cut_short"]
    out = tmp_path / "out"
    first = BatchJob.open(auto_video_spec(out), items).run(local_engine)
    assert (first.done, first.failed, first.stopped) == (2, 2, False)
    errors = {e["key"]: e["message"] for e in error_records(out)}
    assert sorted(errors) == ["broken", "cut_short"]
    assert "broken.mp4" in errors["broken"] and "frame 3" in errors["cut_short"]
    assert all("\n" not in m for m in errors.values())
    assert done_keys(out) == ["clip_0", "clip_1"]
    assert not (out / "broken").exists() and not (out / "cut_short").exists() and not _leftovers(out)
    reference = read_outputs(out)

    seen: list[str] = []

    def recording(spec, pending):
        seen.extend(i.key for i in pending)
        yield from local_engine(spec, pending)

    (out / "clip_1" / "ytvis.json").unlink()  # a finished video's output lost: it is done again
    second = BatchJob.open(auto_video_spec(out), items).run(recording)
    assert seen == ["broken", "clip_1", "cut_short"]
    assert (second.skipped, second.done, second.failed) == (1, 1, 2)
    assert_same_outputs(read_outputs(out), reference)


def test_cli_batch_auto_video_matches_auto_video_and_skips_finished(tmp_path: Path, capsys) -> None:
    folder = write_clips(tmp_path / "clips", 1, corrupt=("broken.mp4",))
    expected = _auto_video_cli(folder / "clip_0.mp4", tmp_path / "ref", "--no-video")
    out = tmp_path / "out"
    args = ["batch", "auto-video", str(folder / "*.mp4"), "--out", str(out), "--model", MODEL, "--device", "cpu",
            *MASKLET_ARGS, "--no-video", "--jsonl"]
    capsys.readouterr()
    assert main(args) == 1  # one video failed
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e.get("item"), e.get("ok"), e.get("count")) for e in events] == [
        ("video", "broken", False, 0), ("video", "clip_0", True, CLIP_FRAMES), ("summary", None, None, None)]
    assert events[-1]["command"] == "batch auto-video"
    assert_same_outputs(read_outputs(out / "clip_0"), expected)
    assert main(args) == 1  # the re-run tries only the failed video again
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e.get("item") for e in events] == ["broken", None] and events[-1]["skipped"] == 1
    assert main(args[:-2] + ["--keyframe-interval", "3", "-q"]) == 2  # other settings: another job
    assert "holds a batch job with other settings" in capsys.readouterr().err


def test_run_settings_are_checked_and_kept_to_their_task(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="sav_every: expected a positive integer, got 0"):
        MaskletRun(sav_every=0)
    with pytest.raises(InvalidInputError, match="fps: expected a positive number"):
        MaskletRun(fps=-24.0)
    with pytest.raises(InvalidInputError, match="video: .* for the auto-video task, not 'auto'"):
        JobSpec("auto", str(tmp_path), MODEL, video={"overlay": False})
    spec = JobSpec("auto-video", str(tmp_path), MODEL, generator=dict(MASKLETS), video={"overlay": False})
    assert spec.settings()["video"] == {"overlay": False}
    assert "video" not in auto_spec(tmp_path).settings()  # jobs of the other tasks resume as before
