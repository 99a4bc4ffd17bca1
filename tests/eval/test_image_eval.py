"""Click simulation (checked against scipy's distance transform) and the image prompt benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from samstream.data.image_datasets import SA1BDataset
from samstream.errors import InvalidInputError
from samstream.eval.clicks import edt_padded_numpy, first_click, next_click, squared_distance_transform
from samstream.eval.image_eval import click_ious, evaluate_images, mask_box, mask_iou
from samstream.image.predictor import ImagePrediction, ImagePredictor
from tests.data.synth import write_sa1b

ndimage = pytest.importorskip("scipy.ndimage")


def edt(region: np.ndarray) -> np.ndarray:
    """Distance to the nearest pixel outside ``region``, the image border counting as outside."""
    return ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def blobs(seed: int, hw: tuple[int, int] = (40, 56)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: hw[0], : hw[1]]
    mask = np.zeros(hw, bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx, r = rng.integers(0, hw[0]), rng.integers(0, hw[1]), rng.integers(3, 15)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return mask


@pytest.mark.parametrize("seed", range(12))
def test_distance_transform_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = blobs(seed) if seed % 2 else rng.random((rng.integers(1, 30), rng.integers(1, 30))) < 0.7
    assert np.allclose(np.sqrt(squared_distance_transform(mask)), edt(mask))
    padded = np.pad(mask, 1)
    assert np.allclose(np.sqrt(edt_padded_numpy(padded)), ndimage.distance_transform_edt(padded))


@pytest.mark.parametrize("seed", range(6))
def test_first_click_at_the_deepest_point(seed: int) -> None:
    gt = blobs(seed)
    click = first_click(gt)
    d = edt(gt)
    assert click.positive and gt[click.y, click.x]
    assert d[click.y, click.x] == pytest.approx(d.max()) == pytest.approx(click.depth)
    assert (click.y, click.x) == np.unravel_index(np.argmax(d), d.shape)  # first maximum, row-major


def test_image_border_counts_as_boundary() -> None:
    gt = np.zeros((20, 40), bool)
    gt[:, :10] = True  # touches the top, bottom and left borders
    click = first_click(gt)
    assert click.depth == pytest.approx(edt(gt).max()) and click.depth <= 10


@pytest.mark.parametrize("seed", range(6))
def test_next_click_in_the_deeper_error_region(seed: int) -> None:
    gt, pred = blobs(seed), blobs(seed + 100)
    click = next_click(gt, pred)
    fn, fp = edt(gt & ~pred), edt(pred & ~gt)
    region, d = (gt & ~pred, fn) if fn.max() >= fp.max() else (pred & ~gt, fp)
    assert click.positive == (fn.max() >= fp.max())
    assert region[click.y, click.x] and d[click.y, click.x] == pytest.approx(d.max())


def test_next_click_signs_and_exact_masks() -> None:
    gt = np.zeros((30, 30), bool)
    gt[5:25, 5:25] = True
    missing = gt.copy()
    missing[5:25, 15:25] = False  # a large false-negative band
    click = next_click(gt, missing)
    assert click.positive and gt[click.y, click.x] and not missing[click.y, click.x]
    extra = gt.copy()
    extra[:, 25:] = True  # only false positives
    click = next_click(gt, extra)
    assert not click.positive and extra[click.y, click.x] and not gt[click.y, click.x]
    assert next_click(gt, gt) is None
    with pytest.raises(InvalidInputError, match="empty"):
        first_click(np.zeros((4, 4), bool))


def test_mask_box_and_iou() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert mask_box(mask) == [3, 2, 8, 4]
    assert mask_iou(mask, mask) == 1.0 and mask_iou(mask, ~mask) == 0.0


@dataclass
class ScriptedPredictor:
    """Stands in for ImagePredictor: returns given masks and records every call."""

    outputs: list[tuple[np.ndarray, np.ndarray]]  # (masks (K, H, W), scores (K,)) per call
    calls: list[dict] = field(default_factory=list)

    def predict(self, points=None, labels=None, box=None, mask=None, multimask=True) -> ImagePrediction:
        masks, scores = self.outputs[len(self.calls)]
        self.calls.append({"points": [list(p) for p in points], "labels": list(labels),
                           "mask": None if mask is None else mask.copy(), "multimask": multimask})
        logits = np.stack([np.full((8, 8), 10.0 * len(self.calls) + k) for k in range(len(masks))])
        return ImagePrediction(masks, scores, logits)


def test_click_protocol() -> None:
    gt = np.zeros((30, 30), bool)
    gt[5:25, 5:25] = True
    wrong, half, exact = np.zeros_like(gt), gt.copy(), gt.copy()
    half[:, 15:] = False
    outputs = [(np.stack([wrong, half, gt]), np.array([0.1, 0.9, 0.5])),  # best score: `half`
               (exact[None], np.array([1.0]))]
    pred = ScriptedPredictor(outputs)
    ious = click_ious(pred, gt, num_clicks=4)  # type: ignore[arg-type]
    assert ious == [mask_iou(half, gt), 1.0, 1.0, 1.0]  # exact after click 2: no more clicks
    first, second = pred.calls
    c1, c2 = first_click(gt), next_click(gt, half)
    assert first == {"points": [[c1.x, c1.y]], "labels": [1], "mask": None, "multimask": True}
    assert second["points"] == [[c1.x, c1.y], [c2.x, c2.y]] and second["labels"] == [1, 1]
    assert not second["multimask"] and np.all(second["mask"] == 11.0)  # logits of the chosen mask
    assert second["mask"].shape == (1, 8, 8)


def test_evaluate_images_with_model(tiny_model, tmp_path: Path) -> None:
    write_sa1b(tmp_path, num_images=2)
    result = evaluate_images(ImagePredictor(tiny_model), SA1BDataset(tmp_path), max_images=1, num_clicks=3,
                             progress=False)
    assert result.num_images == 1 and result.num_instances == 2
    assert len(result.click_miou) == 3 and all(0 <= v <= 1 for v in [*result.click_miou, result.box_miou])
    summary = result.to_json()
    assert set(summary["mIoU"]) == {"1-click", "3-click", "box"}
    assert summary["mIoU"]["3-click"] == result.click_miou[-1]
