"""Batch jobs without Ray: the per-item functions, resume from the manifest, error records,
atomic outputs, --max-errors, and the command line (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samstream.amg import MaskGenerator
from samstream.batch import COCO_FILE, BatchJob, Item, JobSpec, auto_image, list_images, list_videos, track_video
from samstream.batch.work import STAGING
from samstream.cli import main
from samstream.data.video_datasets import VideoDataset
from samstream.errors import InvalidInputError
from samstream.eval.predict import predict_video
from samstream.video.predictor import VideoPredictor
from tests.batch.conftest import (GENERATOR, MODEL, assert_same_outputs, auto_spec, done_keys, error_records,
                                  read_outputs, track_spec, write_images, write_videos)


def _recording(engine, seen: list[str]):
    """``engine`` that also notes which items it was given."""
    def run(spec, items):
        seen.extend(item.key for item in items)
        yield from engine(spec, items)
    return run


def _leftovers(out: Path) -> list[str]:
    """Temporary files or staging folders anywhere under ``out``."""
    return [p.name for p in out.rglob("*") if ".tmp" in p.name or p.name == STAGING]


def test_auto_image_writes_the_generators_records(nano, tmp_path: Path) -> None:
    write_images(tmp_path / "imgs", 1)
    item = list_images([str(tmp_path / "imgs")])[0]
    generator = MaskGenerator(nano, output_mode="coco_rle", **GENERATOR)
    outputs, count = auto_image(generator, item, tmp_path / "out")
    assert outputs == ("masks/img_00.json",)
    doc = json.loads((tmp_path / "out" / outputs[0]).read_text())
    expected = json.loads(json.dumps(MaskGenerator(nano, output_mode="coco_rle", **GENERATOR).generate(item.source)))
    assert count == len(expected) > 0
    assert doc["image"] == {"file_name": "img_00.png", "height": 48, "width": 64}
    assert [a["id"] for a in doc["annotations"]] == list(range(1, count + 1))
    assert [{k: v for k, v in a.items() if k != "id"} for a in doc["annotations"]] == expected


def test_track_video_writes_what_predict_dataset_writes(nano, tmp_path: Path) -> None:
    root = write_videos(tmp_path / "davis", 2)
    spec = track_spec(tmp_path / "out", root)
    predictor = VideoPredictor(nano)
    outputs, frames = track_video(predictor, spec, Item("vid_1", "vid_1"), tmp_path / "out")
    assert (outputs, frames) == (("vid_1",), 3)
    entry = VideoDataset(root, "davis", sequences=["vid_1"])[0]
    predict_video(predictor, entry, tmp_path / "ref", "davis")
    assert_same_outputs(read_outputs(tmp_path / "out"), read_outputs(tmp_path / "ref"))
    assert not _leftovers(tmp_path / "out")


def test_resume_skips_finished_items_and_redoes_missing_or_torn_ones(local_engine, tmp_path: Path) -> None:
    items = list_images([str(write_images(tmp_path / "imgs", 4))])
    out = tmp_path / "out"
    first = BatchJob.open(auto_spec(out), items).run(local_engine)
    assert (first.done, first.failed, first.skipped) == (4, 0, 0)
    reference = read_outputs(out)
    (out / "masks" / "img_01.json").unlink()  # an output lost after its entry was written
    lines = (out / "batch.done.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["img_00", "img_01", "img_02", "img_03"]
    (out / "batch.done.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])  # a torn last line

    seen: list[str] = []
    job = BatchJob.open(auto_spec(out), items)
    assert (job.skipped, [i.key for i in job.pending]) == (2, ["img_01", "img_03"])
    second = job.run(_recording(local_engine, seen))
    assert seen == ["img_01", "img_03"] and (second.done, second.skipped) == (2, 2)
    assert_same_outputs(read_outputs(out), reference)

    seen.clear()
    third = BatchJob.open(auto_spec(out), items).run(_recording(local_engine, seen))
    assert seen == [] and (third.done, third.skipped) == (0, 4)


def test_a_corrupt_item_is_recorded_and_the_job_goes_on(local_engine, tmp_path: Path) -> None:
    folder = write_images(tmp_path / "imgs", 2, corrupt=("broken.png",))
    out = tmp_path / "out"
    summary = BatchJob.open(auto_spec(out), list_images([str(folder)])).run(local_engine)
    assert (summary.done, summary.failed, summary.stopped) == (2, 1, False)
    [error] = error_records(out)
    assert error["key"] == "broken" and error["source"] == str(folder / "broken.png")
    assert "not a readable image" in error["message"] and "\n" not in error["message"]
    assert done_keys(out) == ["img_00", "img_01"]
    merged = json.loads((out / COCO_FILE).read_text())
    assert [img["file_name"] for img in merged["images"]] == ["img_00.png", "img_01.png"]
    per_image = [json.loads((out / "masks" / f"img_0{i}.json").read_text())["annotations"] for i in range(2)]
    assert len(merged["annotations"]) == sum(map(len, per_image))
    assert merged["annotations"][0]["segmentation"] == per_image[0][0]["segmentation"]


def test_max_errors_stops_early_and_a_rerun_goes_on(local_engine, tmp_path: Path) -> None:
    folder = write_images(tmp_path / "imgs", 2, corrupt=("bad_0.png", "bad_1.png", "bad_2.png"))
    items = list_images([str(folder)])  # the three bad ones sort first
    out = tmp_path / "out"
    seen: list[str] = []
    stopped = BatchJob.open(auto_spec(out), items).run(_recording(local_engine, seen), max_errors=2)
    assert (stopped.done, stopped.failed, stopped.stopped) == (0, 2, True)
    assert [e["key"] for e in error_records(out)] == ["bad_0", "bad_1"]
    rest = BatchJob.open(auto_spec(out), items).run(local_engine)
    assert (rest.done, rest.failed, rest.stopped) == (2, 3, False)  # failed items are tried again
    assert [e["key"] for e in error_records(out)] == ["bad_0", "bad_1", "bad_2"]  # this run's errors


def test_a_video_failing_midway_leaves_no_partial_output(local_engine, tmp_path: Path, monkeypatch) -> None:
    root = write_videos(tmp_path / "davis", 2)
    real = predict_video

    def fails_after_writing(predictor, entry, out_dir, fmt, progress=False):
        real(predictor, entry, out_dir, fmt)  # every frame written (into the staging folder) ...
        if entry.name == "vid_0":
            raise RuntimeError("disk\nfull")  # ... then the item fails
        return 3, 1

    monkeypatch.setattr("samstream.batch.work.predict_video", fails_after_writing)
    out = tmp_path / "out"
    summary = BatchJob.open(track_spec(out, root), list_videos(str(root), "davis")).run(local_engine)
    assert (summary.done, summary.failed) == (1, 1)
    assert error_records(out)[0]["message"] == "RuntimeError: disk full"
    assert not (out / "vid_0").exists() and sorted(p.name for p in (out / "vid_1").iterdir()) == [
        "00000.png", "00001.png", "00002.png"]
    assert not _leftovers(out)


def test_another_job_or_foreign_outputs_are_refused_unless_forced(local_engine, tmp_path: Path) -> None:
    items = list_images([str(write_images(tmp_path / "imgs", 1))])
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "mine.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="already exists; pass --force"):
        BatchJob.open(auto_spec(out), items)
    BatchJob.open(auto_spec(out), items, force=True).run(local_engine)
    assert not (out / "masks" / "mine.json").exists() and done_keys(out) == ["img_00"]
    other = JobSpec("auto", str(out), MODEL, "cpu", {**GENERATOR, "points_per_side": 8})
    with pytest.raises(InvalidInputError, match="holds a batch job with other settings"):
        BatchJob.open(other, items)


def test_cli_batch_auto_jsonl_and_exit_codes(tmp_path: Path, capsys) -> None:
    folder = write_images(tmp_path / "imgs", 2, corrupt=("zz.png",))
    args = ["batch", "auto", str(folder), "--out", str(tmp_path / "out"), "--model", MODEL, "--device", "cpu",
            "--points-per-side", "4", "--pred-iou-thresh", "0.5", "--stability-thresh", "0.5", "--jsonl"]
    assert main(args) == 1  # one item failed
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e.get("item"), e.get("ok")) for e in events] == [
        ("image", "img_00", True), ("image", "img_01", True), ("image", "zz", False), ("summary", None, None)]
    assert events[-1]["command"] == "batch auto" and (events[-1]["done"], events[-1]["failed"]) == (2, 1)
    assert main(args[:-1] + ["-q"]) == 1  # the rerun redoes only the failed one
    assert done_keys(tmp_path / "out") == ["img_00", "img_01"]
    assert main(args + ["--workers", "2"]) == 2
    assert "--workers 2: needs --engine ray" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out" / "masks").iterdir()) == ["img_00.json", "img_01.json"]


def test_cli_batch_track_writes_predict_dataset_layout_and_resumes(tmp_path: Path, capsys) -> None:
    root = write_videos(tmp_path / "davis", 1)
    out = tmp_path / "pred"
    args = ["batch", "track", str(root), "--format", "davis", "--out", str(out), "--model", MODEL,
            "--device", "cpu", "--jsonl"]
    assert main(args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e.get("item"), e.get("count")) for e in events] == [("video", "vid_0", 3),
                                                                            ("summary", None, None)]
    assert sorted(p.name for p in (out / "vid_0").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert main(args) == 0  # nothing left to do: the model is not even loaded
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (summary["done"], summary["skipped"]) == (0, 1)
