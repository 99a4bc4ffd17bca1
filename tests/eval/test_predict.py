"""predict-dataset's library: objects join on their first frame, outputs in the evaluators' layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samstream.data.video_datasets import VideoDataset
from samstream.io.labels import davis_palette, list_pngs, read_label_png
from samstream.eval.predict import predict_dataset
from samstream.eval.sav import evaluate_sav
from samstream.video.predictor import VideoPredictor
from tests.data.synth import H, W, moving_objects, write_sav, write_ytvos


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def ytvos_run(tiny_model, tmp_path_factory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("ytvos")
    frames, labels = moving_objects(5, late=3)
    write_ytvos(root, {"vid": (frames, labels)})
    out = root / "pred"
    summary = predict_dataset(VideoPredictor(tiny_model), VideoDataset(root, "ytvos"), out, progress=False)
    assert (summary.videos, summary.frames, summary.objects) == (1, 5, 2)
    return out / "vid", labels


def test_label_maps_for_every_frame(ytvos_run) -> None:
    out, labels = ytvos_run
    names = [f"{5 * t:05d}.png" for t in range(5)]
    assert list_pngs(out) == names
    with Image.open(out / names[0]) as img:
        assert img.mode == "P" and img.size == (W, H)
        assert np.array_equal(np.asarray(img.getpalette(), np.uint8).reshape(-1, 3), davis_palette())


def test_late_object_joins_on_its_first_frame(ytvos_run) -> None:
    out, labels = ytvos_run
    preds = [read_label_png(out / f"{5 * t:05d}.png") for t in range(5)]
    assert not any((p == 2).any() for p in preds[:3])  # never tracked before it shows
    assert _iou(preds[3] == 2, labels[3] == 2) > 0.9  # the input mask comes back on its frame
    assert _iou(preds[0] == 1, labels[0] == 1) > 0.9


@pytest.fixture(scope="module")
def sav_run(tiny_model, tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    root = tmp_path_factory.mktemp("sav")
    frames, labels = moving_objects(6, late=3, seed=2)
    write_sav(root, {"v1": (frames, labels)}, ann_every=2)
    out = root / "pred"
    predict_dataset(VideoPredictor(tiny_model), VideoDataset(root, "sav"), out, progress=False)
    return root, frames, labels


def test_sav_layout_and_eval(sav_run) -> None:
    root, _, labels = sav_run
    pred = root / "pred" / "v1"
    assert sorted(p.name for p in pred.iterdir()) == ["000", "001"]
    for obj in ("000", "001"):
        assert list_pngs(pred / obj) == [f"{t:05d}.png" for t in range(6)]  # all 24 fps frames
    late = [read_label_png(pred / "001" / f"{t:05d}.png") for t in range(6)]
    assert not any(m.any() for m in late[:4])  # first annotated at frame 4
    assert _iou(late[4] > 0, labels[4] == 2) > 0.9
    result = evaluate_sav(root / "pred", root / "Annotations_6fps", keep_first_last=True)
    assert set(result.per_object) == {"v1_000", "v1_001"}


def test_late_object_equals_tracking_it_alone(tiny_model, sav_run) -> None:
    """Object 001, added at frame 4 mid-video, matches a session opened at frame 4 with it alone."""
    root, _, labels = sav_run
    paths = sorted((root / "JPEGImages_24fps" / "v1").glob("*.jpg"))[4:]
    with VideoPredictor(tiny_model).open(paths) as session:
        session.add_mask(0, 1, labels[4] == 2)
        alone = [r.mask(1).numpy() for r in session.propagate()]
    for t, mask in zip((4, 5), alone):
        pred = read_label_png(root / "pred" / "v1" / "001" / f"{t:05d}.png") > 0
        assert (pred != mask).mean() < 0.01
