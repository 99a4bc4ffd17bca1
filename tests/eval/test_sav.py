"""SA-V protocol: per-object PNG folders and DAVIS-style folders, scores worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samstream.errors import InvalidInputError
from samstream.io.labels import write_label_png
from samstream.eval.sav import evaluate_sav

H, W = 20, 20
FRAMES = [0, 4, 8, 12, 16, 20]  # annotated frames (every 4th video frame)


def box(rows: slice, cols: slice, value: int = 1) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[rows, cols] = value
    return m


EMPTY = np.zeros((H, W), np.uint8)
OBJ = box(slice(4, 12), slice(4, 12))  # 8x8
HALF = box(slice(4, 12), slice(4, 8))  # the left half of OBJ


def write_object(root: Path, video: str, obj: str, masks: list[np.ndarray | None]) -> None:
    for t, m in zip(FRAMES, masks):
        if m is not None:
            write_label_png(root / video / obj / f"{t:05d}.png", m)


@pytest.fixture()
def sav(tmp_path: Path) -> tuple[Path, Path]:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    # v1/000: visible throughout; prediction exact except annotated frame 12 (half).
    write_object(gt, "v1", "000", [OBJ] * 6)
    write_object(pred, "v1", "000", [EMPTY, OBJ, OBJ, HALF, OBJ, EMPTY])
    # v1/001: appears at frame 12; predicted exactly, but also (wrongly) at frame 8 already.
    write_object(gt, "v1", "001", [EMPTY, EMPTY, EMPTY, OBJ, OBJ, OBJ])
    write_object(pred, "v1", "001", [EMPTY, EMPTY, OBJ, OBJ, OBJ, OBJ])
    # v1/002: only in the first annotated frame, which is skipped: not an object of the average.
    write_object(gt, "v1", "002", [OBJ] + [EMPTY] * 5)
    write_object(pred, "v1", "002", [OBJ] + [EMPTY] * 5)
    # v2 (DAVIS-style multi-label PNGs): id 2 shows at frames 8 and 20; no prediction at frame 16.
    for t, labels in zip(FRAMES, [OBJ, OBJ, OBJ + box(slice(14, 18), slice(14, 18), 2)] * 2):
        write_label_png(gt / "v2" / f"{t:05d}.png", labels)
    for t in FRAMES[:4]:
        write_label_png(pred / "v2" / f"{t:05d}.png", OBJ)
    write_label_png(pred / "v2" / "00020.png", OBJ)
    return gt, pred


def test_scores_by_hand(sav):
    gt, pred = sav
    result = evaluate_sav(pred, gt, strict=False)
    # Scored frames: 4, 8, 12, 16 (first and last annotated frames skipped).
    # v1_000: J = [1, 1, 0.5, 1] -> 0.875.
    # v1_001: shown first at frame 8 (by the prediction): scored 8, 12, 16; J = [0, 1, 1] -> 2/3.
    # v1_002: absent from every scored frame of the ground truth -> not averaged.
    # v2_1: frames 4, 8, 12 exact, 16 missing -> empty -> J = [1, 1, 1, 0] -> 0.75.
    # v2_2 (the object with id 2): in the ground truth at 8 only among scored frames (frames 8 and
    #   20 hold it; 20 is skipped); never predicted; scored from 8: frames 8, 12, 16 -> GT = [obj,
    #   empty, empty], pred empty -> J = [0, 1, 1] -> 2/3.
    j = {k: r.j.mean for k, r in result.per_object.items()}
    assert j.keys() == {"v1_000", "v1_001", "v2_1", "v2_2"}
    assert j["v1_000"] == pytest.approx(0.875)
    assert j["v1_001"] == pytest.approx(2 / 3)
    assert j["v2_1"] == pytest.approx(0.75)
    assert j["v2_2"] == pytest.approx(2 / 3)
    assert result.per_object["v1_001"].num_frames == 3
    assert result.j.mean == pytest.approx((0.875 + 2 / 3 + 0.75 + 2 / 3) / 4)
    # F: the false positive at frame 8 of v1_001 and the missing frame of v2_1 score 0.
    assert result.per_object["v1_001"].f.mean == pytest.approx(2 / 3)
    assert result.per_object["v2_1"].f.mean == pytest.approx(0.75)
    out = result.to_json()
    assert set(out) == {"J&F", "J", "F", "per_object", "protocol"}
    assert out["protocol"]["name"] == "SA-V" and out["protocol"]["ground_truth"] == str(gt)
    assert out["protocol"]["frames_not_scored"].startswith("the first and last annotated frame")
    assert out["per_object"]["v1_000"]["J"] == pytest.approx(0.875)


def test_keep_first_last(sav):
    gt, pred = sav
    result = evaluate_sav(pred, gt, strict=False, keep_first_last=True)
    # v1_000 now also scores frames 0 and 20, both predicted empty: J = [0, 1, 1, .5, 1, 0] -> 3.5/6
    assert result.per_object["v1_000"].j.mean == pytest.approx(3.5 / 6)
    # v1_002 is now in the ground truth (frame 0) and predicted exactly there; scored from frame 0,
    # then empty on both sides: all ones.
    assert result.per_object["v1_002"].j.mean == 1.0


def test_strict_mode(sav, tmp_path):
    gt, pred = sav
    with pytest.raises(InvalidInputError, match="missing prediction"):
        evaluate_sav(pred, gt)  # v2 lacks frame 16
    write_label_png(pred / "v2" / "00016.png", OBJ)
    assert evaluate_sav(pred, gt).per_object["v2_1"].j.mean == 1.0
    write_object(gt, "v3", "000", [OBJ] * 6)
    with pytest.raises(InvalidInputError, match="without predictions"):
        evaluate_sav(pred, gt)
    assert "v3_000" not in evaluate_sav(pred, gt, strict=False).per_object
    write_object(pred, "v3", "000", [OBJ] * 6)
    write_object(pred, "v4", "000", [OBJ] * 6)
    with pytest.raises(InvalidInputError, match="without ground truth"):
        evaluate_sav(pred, gt)


def test_workers_give_the_same_result(sav):
    gt, pred = sav
    assert evaluate_sav(pred, gt, strict=False, workers=2) == evaluate_sav(pred, gt, strict=False)


def test_perfect_predictions_score_one(sav):
    gt, _ = sav
    result = evaluate_sav(gt, gt)
    assert result.jf == 1.0 and result.j.recall == 1.0 and result.f.decay == 0.0


def test_no_videos(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    with pytest.raises(InvalidInputError, match="no video"):
        evaluate_sav(tmp_path / "pred", tmp_path / "gt")
