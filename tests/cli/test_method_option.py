"""``--method`` on ``track``, ``stream``, ``predict-dataset`` and ``batch track`` (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samstream.batch import JobSpec
from samstream.cli import main
from samstream.errors import InvalidInputError
from samstream.io.labels import list_pngs
from tests.batch.conftest import write_videos
from tests.data.synth import moving_objects, write_davis


def _summary(capsys) -> dict:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["event"] == "summary"
    return lines[-1]


@pytest.mark.parametrize("command", ["track", "stream"])
def test_track_and_stream_run_the_method_named(media, tmp_path: Path, capsys, command) -> None:
    out = tmp_path / command
    args = [command, str(media["video"]), "--point", "0:40,30", "--method", "sam2long", "--no-video", "--jsonl",
            "--model", str(media["ckpt"]), "--out", str(out)]
    assert main(args) == 0
    summary = _summary(capsys)
    assert summary["method"] == "sam2long" and summary["frames"] == 3
    assert len(list((out / "masks").iterdir())) == 3


def test_predict_dataset_and_batch_track_give_the_masks_of_the_method(tmp_path: Path, capsys, tiny_model) -> None:
    from samstream.checkpoints import save_checkpoint

    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(tiny_model, ckpt)
    frames, labels = moving_objects(4, late=0)
    write_davis(tmp_path / "DAVIS", {"seq": (frames, labels)})
    pred = tmp_path / "pred"
    assert main(["predict-dataset", str(tmp_path / "DAVIS"), "--format", "davis", "--out", str(pred), "--model",
                 str(ckpt), "--device", "cpu", "--method", "samurai", "--jsonl"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["method"] == "samurai"
    assert list_pngs(pred / "seq") == [f"{t:05d}.png" for t in range(4)]

    root = write_videos(tmp_path / "videos", 1)
    out = tmp_path / "batch"
    args = ["batch", "track", str(root), "--format", "davis", "--out", str(out), "--model", str(ckpt),
            "--device", "cpu", "--jsonl"]
    assert main([*args, "--method", "dam4sam"]) == 0
    capsys.readouterr()
    assert json.loads((out / "batch.json").read_text())["method"] == "dam4sam"
    assert list_pngs(out / "vid_0") == ["00000.png", "00001.png", "00002.png"]
    # the same folder with another method is another job: refused (one line), not resumed
    assert main([*args, "--method", "sam2"]) != 0
    assert "holds a batch job with other settings" in capsys.readouterr().err


def test_a_job_spec_names_its_method_and_resumes_only_the_same_one() -> None:
    base = dict(task="track", out_dir="/tmp/x", dataset_root="/d", fmt="davis")
    assert "method" not in JobSpec(**base).settings()  # SAM 2 jobs resume as they always did
    assert JobSpec(**base, method="samurai").settings()["method"] == "samurai"
    with pytest.raises(InvalidInputError, match="method: expected one of sam2, samurai, dam4sam, sam2long"):
        JobSpec(**base, method="kalman")
    with pytest.raises(InvalidInputError, match="for the track task"):
        JobSpec("auto", "/tmp/x", method="samurai")


def test_an_unknown_method_is_a_one_line_usage_error(media, tmp_path: Path, capsys) -> None:
    assert main(["track", str(media["video"]), "--point", "0:40,30", "--method", "sam3", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--method: invalid choice: 'sam3'" in err[0]
