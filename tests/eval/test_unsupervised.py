"""DAVIS 2017 unsupervised protocol: proposals matched to objects by the assignment that maximises J&F."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from samstream.errors import InvalidInputError
from samstream.eval.davis import evaluate_davis
from samstream.eval.unsupervised import assign, evaluate_davis_unsupervised, score_unsupervised
from samstream.io.labels import write_label_png

T, H, W = 3, 24, 32


def _boxes(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """(T, H, W) label maps with box k (y0, y1, x0, x1) drawn as id k + 1 on every frame."""
    labels = np.zeros((T, H, W), np.int32)
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        labels[:, y0:y1, x0:x1] = k + 1
    return labels


A, B, C = (2, 10, 2, 12), (12, 22, 16, 30), (14, 20, 2, 8)


def _means(scores):
    return {s.name: (float(s.j.mean()), float(s.f.mean())) for s in scores}


def test_swapped_ids_score_perfectly():
    gt = _boxes(A, B)
    pred = _boxes(B, A)  # proposal 1 is object 2 and proposal 2 is object 1
    assert _means(score_unsupervised("s", gt, pred)) == {"s_1": (1.0, 1.0), "s_2": (1.0, 1.0)}


def test_split_object_gets_one_half():
    gt = _boxes((4, 14, 4, 14))  # 10 x 10
    pred = np.zeros_like(gt)
    pred[:, 4:14, 4:9] = 1  # left half
    pred[:, 4:14, 9:14] = 2  # right half
    (score,) = score_unsupervised("s", gt, pred)
    np.testing.assert_allclose(score.j, 50 / 100)  # one half, the other is left unmatched


def test_more_proposals_than_objects_picks_the_right_one():
    gt = _boxes(A)
    pred = _boxes(C, A, B)  # junk, the object, more junk
    (score,) = score_unsupervised("s", gt, pred)
    np.testing.assert_allclose(score.j, 1.0)
    np.testing.assert_allclose(score.f, 1.0)


def test_fewer_proposals_than_objects_scores_missing_objects_zero():
    gt = _boxes(A, B)
    pred = np.where(gt == 2, 1, 0)  # one proposal, exactly object 2
    means = _means(score_unsupervised("s", gt, pred))
    assert means == {"s_1": (0.0, 0.0), "s_2": (1.0, 1.0)}


def test_every_frame_is_scored_and_void_is_ignored():
    gt = _boxes(A)
    gt[:, 15:20, 20:25] = 255  # void
    pred = np.where(gt == 1, 1, 0)
    pred[:, 15:20, 20:25] = 1  # extra pixels under void do not count
    pred[0] = 0  # the first frame is scored (the semi-supervised protocol skips it)
    (score,) = score_unsupervised("s", gt, pred)
    assert score.j.tolist() == [0.0, 1.0, 1.0]


def test_assignment_maximises_the_total_not_greedily():
    rng = np.random.default_rng(0)
    for shape in ((2, 2), (4, 3), (6, 4)):
        scores = rng.random(shape)
        scores[0, 0] = 0.99  # a greedy choice that is wrong more often than not
        best = max(itertools.permutations(range(shape[0]), shape[1]),
                   key=lambda perm: sum(scores[p, k] for k, p in enumerate(perm)))
        match = assign(scores)
        assert len(set(match)) == shape[1]
        assert sum(scores[p, k] for k, p in enumerate(match)) == pytest.approx(
            sum(scores[p, k] for k, p in enumerate(best)))
    greedy_trap = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert assign(greedy_trap) == [1, 0]


def test_more_than_20_proposals_is_an_error():
    gt = _boxes(A)
    pred = np.zeros_like(gt)
    pred[0, 0, 0] = 21
    with pytest.raises(InvalidInputError, match="21"):
        score_unsupervised("s", gt, pred)


def _write(root, name, labels):
    for t, lab in enumerate(labels):
        write_label_png(root / f"{t:05d}.png", lab)


def test_folder_evaluation_and_cli_json(tmp_path):
    from samstream.cli import main

    davis = tmp_path / "davis"
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("one\ntwo\n")
    _write(davis / "Annotations" / "480p" / "one", "one", _boxes(A, B))
    _write(davis / "Annotations" / "480p" / "two", "two", _boxes(C))
    _write(tmp_path / "pred" / "one", "one", _boxes(C, B, A))  # objects found as proposals 3 and 2
    result = evaluate_davis_unsupervised(tmp_path / "pred", davis)  # "two" has no predictions: all empty
    assert {n: r.j.mean for n, r in result.per_object.items()} == {"one_1": 1.0, "one_2": 1.0, "two_1": 0.0}
    assert result.jf == pytest.approx(2 / 3)
    out = tmp_path / "scores.json"
    assert main(["eval", "davis", str(davis), str(tmp_path / "pred"), "--task", "unsupervised",
                 "--json", str(out), "-q"]) == 0
    summary = json.loads(out.read_text())
    assert set(summary) == {"J&F", "J", "F", "per_object", "protocol"}
    assert summary["protocol"]["ground_truth"] == str(davis / "Annotations" / "480p")  # no unsupervised folder here
    assert summary["J&F"] == pytest.approx(2 / 3)


def _official_root(root):
    """A DAVIS 2017 root laid out exactly as the official download (trainval, 480p): JPEGImages,
    Annotations (semi-supervised), Annotations_unsupervised and ImageSets/2017/{train,val}.txt. On
    "one" the two annotations differ, as on the real dataset (the unsupervised task groups or splits
    objects differently): semi-supervised objects A and B, unsupervised objects A and C."""
    from PIL import Image

    for seq in ("one", "two"):
        folder = root / "JPEGImages" / "480p" / seq
        folder.mkdir(parents=True)
        for t in range(T):
            Image.fromarray(np.full((H, W, 3), 40 * t, np.uint8)).save(folder / f"{t:05d}.jpg")
    _write(root / "Annotations" / "480p" / "one", "one", _boxes(A, B))
    _write(root / "Annotations" / "480p" / "two", "two", _boxes(B))
    _write(root / "Annotations_unsupervised" / "480p" / "one", "one", _boxes(A, C))
    _write(root / "Annotations_unsupervised" / "480p" / "two", "two", _boxes(B))
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("two\n")
    (root / "ImageSets" / "2017" / "val.txt").write_text("one\n")
    return root


def test_the_official_layout_is_scored_against_annotations_unsupervised(tmp_path, capsys):
    from samstream.cli import main

    davis = _official_root(tmp_path / "DAVIS")
    _write(tmp_path / "pred" / "one", "one", _boxes(C, A))  # the unsupervised objects, as proposals 2 and 1
    result = evaluate_davis_unsupervised(tmp_path / "pred", davis, "val")
    assert {n: r.j.mean for n, r in result.per_object.items()} == {"one_1": 1.0, "one_2": 1.0}
    assert result.protocol.ground_truth == str(davis / "Annotations_unsupervised" / "480p")
    assert result.protocol.frames_not_scored == "none (every frame is scored)"
    # against the semi-supervised folder these proposals would miss object B entirely
    semi = score_unsupervised("one", _boxes(A, B), _boxes(C, A))
    assert min(float(s.j.mean()) for s in semi) == 0.0
    # the command line reads the same folder, and says so
    assert main(["eval", "davis", str(davis), str(tmp_path / "pred"), "--task", "unsupervised"]) == 0
    out = capsys.readouterr().out
    assert f"DAVIS 2017 unsupervised, ground truth {davis / 'Annotations_unsupervised' / '480p'}" in out
    assert "J&F 1.000" in out


def test_a_root_without_annotations_unsupervised_falls_back_and_says_so(tmp_path):
    davis = _official_root(tmp_path / "DAVIS")
    shutil.rmtree(davis / "Annotations_unsupervised")
    _write(tmp_path / "pred" / "one", "one", _boxes(B, A))
    result = evaluate_davis_unsupervised(tmp_path / "pred", davis, "val")
    assert result.protocol.ground_truth == str(davis / "Annotations" / "480p")
    assert result.jf == 1.0
    davis_semi_missing = tmp_path / "only_unsupervised"
    _write(davis_semi_missing / "Annotations_unsupervised" / "480p" / "one", "one", _boxes(A))
    with pytest.raises(InvalidInputError, match=r"no annotation folder under .*Annotations/480p"):
        evaluate_davis(tmp_path / "pred", davis_semi_missing, sequences=["one"])
