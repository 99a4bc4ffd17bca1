"""Issue 16's edges of the command line: no partial outputs, no silent wrong results, a fast start.

Most run in-process on the small random-weight checkpoint of ``conftest.media``; the start-up and
broken-pipe checks run a fresh interpreter, since they are about what a process imports and how it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.cli import main
from samstream.cli.common import set_threads
from samstream.cli.prompts import read_mask_png
from samstream.cli.stream import stream_frames
from samstream.cli.track import VideoPrompt
from samstream.errors import InvalidInputError, PromptError
from samstream.io.outputs import staged_output
from tests.cli.conftest import H, W

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, **kwargs)


def _run(argv: list, capsys, home: Path | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if home is not None:
        monkeypatch.setenv("SAMSTREAM_HOME", str(home))
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ start-up (item 6)
def test_help_models_and_usage_errors_do_not_import_torch() -> None:
    proc = _python(
        "import sys, contextlib, io\n"
        "import samstream, samstream.errors\n"
        "from samstream.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    codes = [main(['--help']), main(['auto', '--help']), main(['track', 'v.mp4', '--point', 'x']),\n"
        "             main(['models']), main(['--version'])]\n"
        "print(codes, 'torch' in sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 0, 2, 0, 0] False"


def test_public_names_load_on_first_use() -> None:
    import samstream

    assert samstream.ImagePredictor.__name__ == "ImagePredictor" and "load_model" in dir(samstream)
    with pytest.raises(AttributeError, match="no attribute"):
        samstream.not_a_name  # noqa: B018


def test_version(capsys) -> None:
    import samstream

    assert _run(["--version"], capsys)[:2] == (0, f"samstream {samstream.__version__}\n")


# ------------------------------------------------------------------ broken pipe (item 7)
@pytest.mark.parametrize("argv", [["models"], ["models", "--jsonl"]])
def test_reader_leaving_early_is_not_an_error(argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line (`| head -0`)
    try:
        proc = subprocess.run([sys.executable, "-m", "samstream.cli", *argv], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")


# ------------------------------------------------------------------ options (item 5)
def test_model_options_only_where_a_model_runs(capsys) -> None:
    for argv in (["models", "--model", "x"], ["download", "sam2.1-tiny", "--device", "cpu"],
                 ["eval", "davis", "a", "b", "--model", "x"]):
        code, _, err = _run(argv, capsys)
        assert code == 2 and "unrecognized arguments" in err, (argv, err)


def test_auto_help_shows_defaults_and_new_options(capsys) -> None:
    _, out, _ = _run(["auto", "--help"], capsys)
    text = " ".join(out.split())
    for expected in ("--points-per-batch", "--box-nms-thresh", "--per-mask", "(default 0.8)", "(default 0.95)",
                     "(default 0.7)", "(default 64)", "--threads"):
        assert expected in text, expected


def test_threads_sets_torch_threads() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        set_threads(argparse.Namespace(threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ staged outputs (item 3)
def test_staged_output_moves_on_success_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deep"
    with pytest.raises(RuntimeError):
        with staged_output(out, ["a.json"]) as staging:
            (staging / "a.json").write_text("{}")
            raise RuntimeError("boom")
    assert not (tmp_path / "new").exists()  # the parents this run made are gone too
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("user file")
    (kept / "masks").mkdir()
    (kept / "masks" / "old.png").write_text("old run")
    with pytest.raises(InvalidInputError, match="--force"):
        with staged_output(kept, ["masks/"]):
            pass
    with staged_output(kept, ["masks/", "a.json"], force=True) as staging:
        (staging / "masks").mkdir()
        (staging / "masks" / "new.png").write_text("new run")
        (staging / "a.json").write_text("{}")
    assert sorted(p.name for p in kept.iterdir()) == ["a.json", "masks", "mine.txt"]
    assert [p.name for p in (kept / "masks").iterdir()] == ["new.png"]
    assert (kept / "mine.txt").read_text() == "user file"


def test_auto_refuses_a_bad_image_before_writing(media, tmp_path: Path, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "o"
    code, _, err = _run(["auto", media["image"], bad, "--out", out, "--model", media["ckpt"]], capsys,
                        media["home"], monkeypatch)
    assert code == 2 and "bad.jpg" in err
    assert not out.exists()


def test_stream_with_an_invalid_point_leaves_nothing(media, tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "s"
    argv = ["stream", media["video"], "--point", f"0:{W + 50},10", "--out", out, "--model", media["ckpt"],
            "--no-video", "-q"]
    code, _, err = _run(argv, capsys, media["home"], monkeypatch)
    assert code == 2 and "outside" in err, err
    assert not out.exists() and not list(tmp_path.glob(".s.*"))
    argv[3] = "0:10,10"  # the corrected command is not blocked by leftovers
    assert _run(argv, capsys, media["home"], monkeypatch)[0] == 0
    assert (out / "masks.jsonl").stat().st_size > 0


def test_failed_track_leaves_nothing(media, tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "t"
    mask = tmp_path / "labels.png"
    labels = np.zeros((H, W), np.uint8)
    labels[10:20, 10:20], labels[30:40, 30:40] = 1, 2
    Image.fromarray(labels, mode="L").save(mask)
    # a label map without object 5: refused, where the union of all ids was used before
    code, _, err = _run(["track", media["video"], "--mask", f"5@0:{mask}", "--out", out, "--model", media["ckpt"]],
                        capsys, media["home"], monkeypatch)
    assert code == 2 and "no pixel of object 5" in err, err
    assert not out.exists()


def test_track_failing_mid_video_leaves_nothing(media, tmp_path: Path, capsys, monkeypatch) -> None:
    from tests.cli.conftest import generated_video

    frames = tmp_path / "frames"
    frames.mkdir()
    for t, rgb in enumerate(generated_video(3, (H, W))):
        Image.fromarray(rgb).save(frames / f"{t:05d}.png")
    (frames / "00002.png").write_bytes((frames / "00002.png").read_bytes()[:200])  # a truncated last frame
    out = tmp_path / "t"
    code, _, err = _run(["track", frames, "--point", "0:40,30", "--out", out, "--model", media["ckpt"], "-q"],
                        capsys, media["home"], monkeypatch)
    assert code == 2, err
    assert not out.exists() and not list(tmp_path.glob(".t.*"))  # frames 0 and 1 were written, then removed


# ------------------------------------------------------------------ silent wrong results (item 4)
def test_mask_png_rules(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    labels = np.zeros((4, 5), np.uint8)
    labels[0, 0], labels[1, 1] = 1, 2
    Image.fromarray(labels, mode="L").save(path)
    assert read_mask_png(path, 2, (4, 5)).sum() == 1
    with pytest.raises(PromptError, match="no pixel of object 5"):
        read_mask_png(path, 5, (4, 5))
    Image.fromarray(np.where(labels > 0, 255, 0).astype(np.uint8), mode="L").save(path)
    assert read_mask_png(path, 5, (4, 5)).sum() == 2  # a binary mask: every nonzero pixel, whatever the id
    Image.fromarray(np.zeros((4, 5), np.uint8), mode="L").save(path)
    with pytest.raises(PromptError, match="no nonzero pixel"):
        read_mask_png(path, 1, (4, 5))


def test_segment_several_boxes_segments_each(media, tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "seg"
    code, _, err = _run(["segment", media["image"], "--box", "10,10,50,40", "--box", "60,30,120,90", "--out", out,
                         "--model", media["ckpt"], "-q"], capsys, media["home"], monkeypatch)
    assert code == 0, err
    doc = json.loads((out / "img.json").read_text())
    assert [m["box"] for m in doc["masks"]] == [[10, 10, 50, 40], [60, 30, 120, 90]]
    assert [m["file"] for m in doc["masks"]] == ["img_box1_mask.png", "img_box2_mask.png"]
    code, _, err = _run(["segment", media["image"], "--box", "1,1,5,5", "--box", "2,2,6,6", "--point", "3,3",
                         "--out", tmp_path / "x"], capsys)
    assert code == 2 and "several boxes" in err


def test_folder_where_an_image_is_expected(tmp_path: Path, capsys) -> None:
    for argv in (["segment", tmp_path, "--point", "1,1", "--out", tmp_path / "o"],
                 ["auto", tmp_path, "--out", tmp_path / "o"]):
        code, _, err = _run(argv, capsys)
        assert code == 2 and "is a folder; expected an image file" in err, err


def test_object_ids_outside_label_png_range_are_refused_with_the_reason(capsys) -> None:
    code, _, err = _run(["track", "v.mp4", "--point", "300@0:1,1", "--out", "o"], capsys)
    assert code == 2 and "1..255" in err and "pixel values" in err


class _FakeTracker:
    """Records the prompts a stream gives it; every frame gets an empty result."""

    class _Result:
        def __init__(self, idx: int, hw: tuple[int, int]) -> None:
            self.frame_idx, self.obj_ids = idx, []
            self.masks = _Array(np.zeros((0, *hw), bool))
            self.object_scores = _Array(np.zeros(0))

    def __init__(self) -> None:
        self.frames, self.points = 0, []

    def step(self, frame: np.ndarray) -> "_FakeTracker._Result":
        self.hw = frame.shape[:2]
        self.frames += 1
        return self._Result(self.frames - 1, self.hw)

    def add_points(self, obj_id: int, points: list, labels: list) -> "_FakeTracker._Result":
        self.points.append((obj_id, points))
        return self._Result(self.frames - 1, self.hw)


class _Array:
    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def numpy(self) -> np.ndarray:
        return self.a

    def tolist(self) -> list:
        return self.a.tolist()


def test_stream_max_size_reads_prompts_in_source_pixels() -> None:
    frames = [np.zeros((200, 400, 3), np.uint8) for _ in range(2)]
    tracker = _FakeTracker()
    pending = {1: [VideoPrompt(1, 3, [(300.0, 100.0)], [1])]}
    out = list(stream_frames(tracker, iter(frames), pending, False, None, max_size=100))
    assert [f.image.shape for f in out] == [(50, 100, 3)] * 2
    assert tracker.points == [(3, [(75.0, 25.0)])]  # (300, 100) of the 400x200 source in the 100x50 frame
