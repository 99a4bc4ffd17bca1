"""``eval`` and ``predict-dataset`` subcommands, run in-process on a parser built with ``register``."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from samstream.checkpoints import save_checkpoint
from samstream.errors import InvalidInputError, SamstreamError
from samstream.cli.evaluate import register
from samstream.eval.davis import evaluate_davis
from samstream.io.labels import list_pngs, read_label_png, write_label_png
from samstream.eval.sav import evaluate_sav
from tests.data.synth import moving_objects, write_davis, write_sa1b, write_sav


def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What the real CLI's ``common`` adds to every command."""
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--jsonl", action="store_true")
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    return p


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="samstream")
    register(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(tiny_model, path)  # {"model": state_dict, "samstream_config": 256-pixel input}
    return path


@pytest.fixture(scope="module")
def davis_run(checkpoint, tmp_path_factory) -> tuple[Path, Path]:
    """predict-dataset over a generated DAVIS root (one 4-frame sequence, two objects)."""
    root = tmp_path_factory.mktemp("davis")
    frames, labels = moving_objects(4, late=0)
    write_davis(root / "DAVIS", {"seq": (frames, labels)})
    out = root / "pred"
    assert run("predict-dataset", root / "DAVIS", "--format", "davis", "--out", out, "--model", checkpoint,
               "--device", "cpu", "--sequences", "seq", "-q") == 0
    return root / "DAVIS", out


def test_predict_then_eval_davis(davis_run, tmp_path: Path, capsys) -> None:
    davis, pred = davis_run
    assert list_pngs(pred / "seq") == [f"{t:05d}.png" for t in range(4)]
    out_json, out_csv = tmp_path / "scores.json", tmp_path / "scores.csv"
    assert run("eval", "davis", davis, pred, "--json", out_json, "--csv", out_csv) == 0
    text = capsys.readouterr().out.splitlines()
    expected = evaluate_davis(pred, davis, "val").to_json()
    data = json.loads(out_json.read_text())
    assert data == json.loads(json.dumps(expected))
    assert set(data) == {"J&F", "J", "F", "per_object", "protocol"} and set(data["J"]) == {"mean", "recall", "decay"}
    # the text says what was scored and what was left out, in the unit of the files, object by object
    assert text[0] == f"eval davis: DAVIS 2017 semi-supervised, ground truth {davis / 'Annotations' / '480p'}"
    assert text[1] == "  frames not scored: the first and last frame of every sequence"
    assert "fractions of 1" in text[2]
    assert text[3].startswith(f"  J&F {data['J&F']:.3f}  J {data['J']['mean']:.3f} ")
    per_object = data["per_object"]["seq_2"]
    assert text[5] == (f"    seq_2  J&F {(per_object['J'] + per_object['F']) / 2:.3f}  J {per_object['J']:.3f}  "
                       f"F {per_object['F']:.3f}  (2 frames scored)")  # 4 frames, the first and last left out
    assert set(data["per_object"]) == {"seq_1", "seq_2"} and set(data["per_object"]["seq_1"]) == {"J", "F"}
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["object"] for r in rows] == ["global", "seq_1", "seq_2"]
    assert float(rows[0]["J&F"]) == pytest.approx(data["J&F"])
    assert float(rows[1]["J-mean"]) == pytest.approx(data["per_object"]["seq_1"]["J"])


def test_existing_outputs_need_force(davis_run, tmp_path: Path) -> None:
    davis, pred = davis_run
    out_json = tmp_path / "scores.json"
    out_json.write_text("keep me")
    with pytest.raises(InvalidInputError, match="--force"):
        run("eval", "davis", davis, pred, "--json", out_json, "-q")
    assert out_json.read_text() == "keep me"
    assert run("eval", "davis", davis, pred, "--json", out_json, "--force", "-q") == 0
    assert "J&F" in json.loads(out_json.read_text())


def test_predict_dataset_refuses_to_overwrite_without_force(davis_run, checkpoint) -> None:
    davis, pred = davis_run
    marker = pred / "seq" / "00000.png"
    before = marker.read_bytes()
    args = ("predict-dataset", davis, "--format", "davis", "--out", pred, "--model", checkpoint, "--device", "cpu",
            "--sequences", "seq", "-q")
    with pytest.raises(InvalidInputError, match="--force"):
        run(*args)
    assert marker.read_bytes() == before and not list(pred.parent.glob(".pred.*"))
    assert run(*args, "--force") == 0
    assert sorted(p.name for p in pred.iterdir()) == ["seq"]  # replaced in place, nothing else left


def test_eval_davis_jsonl_and_sequences(davis_run, capsys) -> None:
    davis, pred = davis_run
    assert run("eval", "davis", davis, pred, "--sequences", "seq", "--jsonl") == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert record["command"] == "eval davis" and 0 <= record["J&F"] <= 1
    with pytest.raises(SamstreamError, match="nope"):
        run("eval", "davis", davis, pred, "--sequences", "seq,nope")


@pytest.fixture()
def sav_gt_and_pred(tmp_path: Path) -> tuple[Path, Path]:
    """SA-V ground truth (two objects, one late) and predictions missing some frames."""
    frames, labels = moving_objects(7, late=3)
    write_sav(tmp_path / "sav", {"v": (frames, labels)}, ann_every=2)
    gt = tmp_path / "sav" / "Annotations_6fps"
    pred = tmp_path / "pred"
    for obj in ("000", "001"):
        for name in list_pngs(gt / "v" / obj):
            if (obj, name) != ("000", "00004.png"):  # one frame left without a prediction
                write_label_png(pred / "v" / obj / name, read_label_png(gt / "v" / obj / name))
    return gt, pred


def test_eval_sav_missing_frames(sav_gt_and_pred, tmp_path: Path) -> None:
    gt, pred = sav_gt_and_pred
    out = tmp_path / "sav.json"
    assert run("eval", "sav", gt, pred, "--json", out, "-q") == 0
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(evaluate_sav(pred, gt, strict=False).to_json()))
    assert data["per_object"]["v_001"] == {"J": 1.0, "F": 1.0}
    assert data["per_object"]["v_000"]["J"] < 1.0  # the missing frame is an empty mask
    with pytest.raises(InvalidInputError, match="missing prediction"):
        run("eval", "sav", gt, pred, "--strict", "-q")
    assert run("eval", "sav", gt, pred, "--keep-first-last", "--json", out, "--force", "-q") == 0
    kept = json.loads(out.read_text())
    assert kept == json.loads(json.dumps(evaluate_sav(pred, gt, keep_first_last=True, strict=False).to_json()))


def test_eval_image(checkpoint, tmp_path: Path, capsys) -> None:
    write_sa1b(tmp_path / "sa1b", num_images=2)
    out = tmp_path / "image.json"
    assert run("eval", "image", tmp_path / "sa1b", "--format", "sa1b", "--max-images", "1", "--json", out,
               "--model", checkpoint, "--device", "cpu") == 0
    assert "mIoU" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert set(data["mIoU"]) == {"1-click", "5-click", "box"} and len(data["per_click"]) == 5
    assert data["images"] == 1 and data["instances"] == 2


def test_argument_errors() -> None:
    with pytest.raises(SystemExit):
        run("predict-dataset", "root", "--out", "x")  # --format is required
    with pytest.raises(SystemExit):
        run("eval", "image", "root", "--format", "voc")
    with pytest.raises(SystemExit):
        run("eval")
    with pytest.raises(InvalidInputError, match="not a folder"):
        run("predict-dataset", "/nonexistent/root", "--format", "sav", "--out", "x")
