"""DAVIS 2017 protocol on a small generated dataset whose scores are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samstream.errors import InvalidInputError
from samstream.data.video_datasets import read_davis_subset
from samstream.eval.davis import evaluate_davis
from samstream.io.labels import read_label_png, write_label_png

H, W = 24, 32


def frame(*objects: tuple[int, slice, slice]) -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    for k, rows, cols in objects:
        labels[rows, cols] = k
    return labels


A1 = (1, slice(2, 8), slice(3, 11))  # object 1 of sequence "a"
A2 = (2, slice(12, 20), slice(15, 25))  # object 2 of "a", from frame 3 on
B1 = (1, slice(5, 15), slice(5, 15))


def write_seq(root: Path, seq: str, frames: list[np.ndarray | None]) -> None:
    for t, labels in enumerate(frames):
        if labels is not None:
            write_label_png(root / seq / f"{t:05d}.png", labels)


@pytest.fixture()
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    davis = tmp_path / "DAVIS"
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("a\nb\n")
    (davis / "ImageSets" / "2017" / "other.txt").write_text("b\n")
    ann = davis / "Annotations" / "480p"
    # "a": 6 frames; object 2 appears at frame 3; frame 5 has a void (255) region.
    gt_a = [frame(A1), frame(A1), frame(A1), frame(A1, A2), frame(A1, A2), frame(A1, A2)]
    gt_a[5][0, :] = 255
    write_seq(ann, "a", gt_a)
    # "b": 4 frames, one object.
    write_seq(ann, "b", [frame(B1)] * 4)

    pred = tmp_path / "pred"
    # "a": first and last frames wrong (not scored); frame 2 missing (empty); others exact.
    write_seq(pred, "a", [frame(), frame(A1), None, frame(A1, A2), frame(A1, A2), frame()])
    # "b": frame 1 exact plus a stray id 7 (ignored); frame 2 half of the object.
    half = (1, slice(5, 15), slice(5, 10))
    write_seq(pred, "b", [frame(), frame(B1, (7, slice(0, 2), slice(0, 2))), frame(half), frame()])
    return davis, pred


def test_scores_by_hand(dataset):
    davis, pred = dataset
    result = evaluate_davis(pred, davis, "val")
    # Scored frames of "a": 1..4.
    # a_1: J = [1, 0 (missing frame -> empty), 1, 1]; F likewise (empty prediction -> F = 0).
    #      mean 0.75, recall 0.75, decay: bins v[0:2] = [1, 0], v[2:4] = [1, 1] -> 0.5 - 1 = -0.5.
    # a_2: frames 1, 2: not yet in the ground truth and not predicted -> J = F = 1; frames 3, 4
    #      exact -> 1. All ones.
    # b_1: scored frames 1, 2: frame 1 exact (the stray id 7 is ignored) -> 1; frame 2: half the
    #      10x10 object -> J = 50 / 100 = 0.5. Two frames: bins v[0:1], v[1:2] -> decay 0.5.
    j = {k: r.j for k, r in result.per_object.items()}
    assert set(j) == {"a_1", "a_2", "b_1"}
    assert (j["a_1"].mean, j["a_1"].recall, j["a_1"].decay) == (0.75, 0.75, -0.5)
    assert (j["a_2"].mean, j["a_2"].recall, j["a_2"].decay) == (1.0, 1.0, 0.0)
    assert (j["b_1"].mean, j["b_1"].recall, j["b_1"].decay) == (0.75, 0.5, 0.5)
    assert result.per_object["a_1"].f.mean == 0.75
    assert result.per_object["a_2"].f.mean == 1.0
    # b_1 frame 2, tolerance ceil(0.008 * hypot(24, 32)) = ceil(0.32) = 1 pixel. Boundaries (the
    # object's right column and bottom row, the row above and the column left of it):
    #   ground truth (rows 5-14, cols 5-14): 11 above + 10 left + 9 right + 10 bottom = 40 pixels,
    #   prediction (rows 5-14, cols 5-9):     6 above + 10 left + 9 right + 5 bottom = 30 pixels.
    # Precision: all but the inner pixels of the predicted right side (rows 6-12, col 9; (5, 9) and
    # (13, 9) touch the ground truth's top and bottom rows) -> 23/30.
    # Recall: above cols 4-10 (7), left (10), bottom cols 5-10 (6) -> 23/40.
    p, r = 23 / 30, 23 / 40
    assert result.per_object["b_1"].f.mean == pytest.approx((1 + 2 * p * r / (p + r)) / 2)
    # Averages over the three objects.
    assert result.j.mean == pytest.approx((0.75 + 1 + 0.75) / 3)
    assert result.j.recall == pytest.approx((0.75 + 1 + 0.5) / 3)
    assert result.j.decay == pytest.approx((-0.5 + 0 + 0.5) / 3)
    assert result.jf == pytest.approx((result.j.mean + result.f.mean) / 2)


def test_json_shape(dataset):
    davis, pred = dataset
    out = evaluate_davis(pred, davis, "val").to_json()
    assert set(out) == {"J&F", "J", "F", "per_object", "protocol"}
    assert out["protocol"] == {"name": "DAVIS 2017 semi-supervised", "ground_truth": str(davis / "Annotations" / "480p"),
                               "frames_not_scored": "the first and last frame of every sequence"}
    assert set(out["J"]) == {"mean", "recall", "decay"} == set(out["F"])
    assert set(out["per_object"]) == {"a_1", "a_2", "b_1"}
    assert set(out["per_object"]["a_1"]) == {"J", "F"}
    values = [out["J&F"], *out["J"].values(), *out["F"].values()]
    assert all(isinstance(v, float) for v in values)
    assert 0 <= out["J&F"] <= 1


def test_workers_give_the_same_result(dataset):
    davis, pred = dataset
    assert evaluate_davis(pred, davis, workers=2) == evaluate_davis(pred, davis, workers=1)


def test_subset_and_sequences(dataset):
    davis, pred = dataset
    assert read_davis_subset(davis, "val") == ["a", "b"]
    assert set(evaluate_davis(pred, davis, "other").per_object) == {"b_1"}
    assert set(evaluate_davis(pred, davis, sequences=["a"]).per_object) == {"a_1", "a_2"}
    with pytest.raises(InvalidInputError, match="not found"):
        evaluate_davis(pred, davis, "test-dev")
    with pytest.raises(InvalidInputError, match="annotation folder"):
        evaluate_davis(pred, davis, sequences=["zzz"])


def test_missing_prediction_folder_counts_as_empty(dataset, tmp_path):
    davis, _ = dataset
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = evaluate_davis(empty, davis)
    # a_1 and b_1 are present on every scored frame: J = 0; a_2 is absent on frames 1, 2 (J = 1)
    # and present on 3, 4 (J = 0).
    assert result.per_object["a_1"].j.mean == 0.0
    assert result.per_object["a_2"].j.mean == 0.5
    assert result.per_object["b_1"].j.mean == 0.0


def test_prediction_shape_mismatch(dataset):
    davis, pred = dataset
    write_label_png(pred / "b" / "00001.png", np.zeros((H + 1, W), np.uint8))
    with pytest.raises(InvalidInputError, match="shape"):
        evaluate_davis(pred, davis, sequences=["b"])


def test_label_png_roundtrip(tmp_path):
    labels = np.arange(H * W, dtype=np.int64).reshape(H, W) % 256
    write_label_png(tmp_path / "x.png", labels)
    back = read_label_png(tmp_path / "x.png")
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels)
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InvalidInputError, match="mode"):
        read_label_png(tmp_path / "rgb.png")
    with pytest.raises(InvalidInputError, match="255"):
        write_label_png(tmp_path / "y.png", np.full((2, 2), 300))
