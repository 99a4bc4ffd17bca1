"""Issue 33's rough edges of the command line, as a new user met them: a missing extra, options a
command does not take, a run that finds nothing, Ctrl-C, several images, counts that must agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from samstream.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _cli(argv: list[str], tmp_path: Path, shims: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m samstream.cli ARGV`` in a fresh interpreter; ``shims``: module name -> source of a
    stand-in module put first on the path (a package that fails to import, say)."""
    path = [str(ROOT)]
    if shims:
        folder = tmp_path / "shims"
        folder.mkdir(exist_ok=True)
        for name, source in shims.items():
            (folder / f"{name}.py").write_text(source)
        path.insert(0, str(folder))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    return subprocess.run([sys.executable, "-m", "samstream.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=tmp_path)


def test_export_onnx_without_the_onnx_extra_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "nano-onnx"
    missing = 'raise ModuleNotFoundError("No module named \'onnxscript\'", name="onnxscript")\n'
    run = _cli(["export", "onnx", "samstream-nano", "--out", str(out)], tmp_path, {"onnxscript": missing})
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        "samstream export: error: writing ONNX graphs needs onnx and onnxscript: pip install 'samstream[onnx]' "
        "(No module named 'onnxscript')"]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["shims"]


def test_export_onnx_takes_no_model_or_device_option(tmp_path: Path, capsys) -> None:
    # MODEL is positional and the export runs on the CPU: the options are refused, not replaced
    for extra in (["--model", "sam2.1-tiny"], ["--device", "cuda"]):
        assert main(["export", "onnx", "samstream-nano", "--out", str(tmp_path / "x"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"unrecognized arguments: {' '.join(extra)}" in err
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- a run that keeps nothing (item 9)


def test_auto_says_every_candidate_fell_below_the_thresholds(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    import samstream
    from samstream.amg import MaskGenerator
    from tests.cli.conftest import H, W, generated_video

    image = tmp_path / "frame.png"
    Image.fromarray(generated_video(1, (H, W))[0]).save(image)
    # the best predicted IoU of every candidate, found independently: with no threshold, NMS keeps the best
    model = samstream.load_model("samstream-nano", device="cpu")
    records = MaskGenerator(model, points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0).generate(
        np.asarray(Image.open(image)))
    best = max(r["predicted_iou"] for r in records)
    assert best < 0.99
    out = tmp_path / "out"
    assert main(["auto", str(image), "--model", "samstream-nano", "--points-per-side", "4",
                 "--pred-iou-thresh", "0.99", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "0 masks" in captured.out
    assert (f"every one of the 48 candidate masks fell below the thresholds: the best predicted IoU was {best:.2f}, "
            f"under --pred-iou-thresh 0.99; lower it (e.g. --pred-iou-thresh {int(best * 10) / 10:.1f})") in captured.err
    # and when some pass the IoU threshold but none the stability one, that is the flag named
    assert main(["auto", str(image), "--model", "samstream-nano", "--points-per-side", "4", "--pred-iou-thresh", "0",
                 "--stability-thresh", "1", "--out", str(tmp_path / "out2")]) == 0
    err = capsys.readouterr().err
    assert "48 passed --pred-iou-thresh 0, but the best stability among them was" in err and "--stability-thresh 1;" in err


# ----------------------------------------------------------------------------- Ctrl-C (item 11)


def _interrupt(argv: list[str], tmp_path: Path, after: str) -> tuple[int, list[dict], str]:
    """Run the command with --jsonl, send SIGINT once a line with ``"event": after`` is printed; returns
    (exit code, JSON lines, stderr)."""
    import json
    import signal

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Ctrl-C as a person at a terminal has it: a suite run in the background (`make test &`, nohup) ignores
    # SIGINT, children inherit that, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "samstream.cli", *argv, "--jsonl"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1].get("event") == after:
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=300)
    lines += [json.loads(line) for line in rest.splitlines()]
    return proc.returncode, lines, err


def _long_clip(path: Path, frames: int) -> Path:
    from tests.cli.conftest import H, W, generated_video
    from samstream.video.frames.decode import write_video

    write_video(path, generated_video(frames, (H, W)), 12)
    return path


def test_ctrl_c_in_auto_video_keeps_the_frames_done_and_exits_130(tmp_path: Path) -> None:
    import json

    clip = _long_clip(tmp_path / "long.mp4", 80)
    out = tmp_path / "av"
    code, lines, err = _interrupt(["auto-video", str(clip), "--model", "samstream-nano", "--points-per-side", "2",
                                   "--pred-iou-thresh", "0", "--stability-thresh", "0", "--out", str(out)],
                                  tmp_path, after="frame")
    assert code == 130, err
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["stopped"] is True and 1 <= summary["frames"] < 80
    assert "Traceback" not in err
    records = [json.loads(line) for line in (out / "masks.jsonl").read_text().splitlines()]
    assert len(records) == summary["frames"]  # the files cover the frames done, whole
    assert json.loads((out / "long_auto.json").read_text())["video_frame_count"] == summary["frames"]


def test_ctrl_c_in_track_keeps_the_frames_done_and_exits_130(tmp_path: Path) -> None:
    clip = _long_clip(tmp_path / "long.mp4", 80)
    out = tmp_path / "tr"
    code, lines, err = _interrupt(["track", str(clip), "--point", "0:40,30", "--model", "samstream-nano",
                                   "--out", str(out)], tmp_path, after="frame")
    assert code == 130, err
    summary = lines[-1]
    assert summary["stopped"] is True and 1 <= summary["frames"] < 80
    assert len(list((out / "masks").iterdir())) == summary["frames"]


def test_ctrl_c_in_batch_keeps_the_items_done_exits_130_and_a_rerun_goes_on(tmp_path: Path) -> None:
    import json

    clips = tmp_path / "clips"
    clips.mkdir()
    count = 3
    for i in range(count):
        _long_clip(clips / f"clip_{i}.mp4", 24)
    out = tmp_path / "batch"
    argv = ["batch", "auto-video", str(clips), "--model", "samstream-nano", "--points-per-side", "2",
            "--pred-iou-thresh", "0", "--stability-thresh", "0", "--no-video", "--out", str(out)]
    code, lines, err = _interrupt(argv, tmp_path, after="video")
    assert code == 130, err
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["interrupted"] is True
    done = [json.loads(line)["key"] for line in (out / "batch.done.jsonl").read_text().splitlines()]
    assert 1 <= len(done) == summary["done"] < count
    rerun = _cli(argv + ["--jsonl"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    final = json.loads(rerun.stdout.splitlines()[-1])
    assert (final["skipped"], final["done"], final["failed"]) == (len(done), count - len(done), 0)


# ----------------------------------------------------------------------------- several images (item 14)


def test_segment_of_several_images_says_it_takes_one(tmp_path: Path, capsys) -> None:
    images = [tmp_path / f"{name}.jpg" for name in ("a", "b", "c", "d")]
    code = main(["segment", *map(str, images), "--point", "1,1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "segment takes one image, got 4" in err and "samstream auto" in err and "unrecognized" not in err
    assert not (tmp_path / "o").exists()
