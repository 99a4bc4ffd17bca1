"""ImagePredictor behaviour: inputs accepted, errors raised, shapes returned."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samstream import ImagePredictor, InvalidInputError, PromptError


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def pred(tiny_model, image) -> ImagePredictor:
    p = ImagePredictor(tiny_model)
    p.set_image(image)
    return p


def test_shapes_single_and_multimask(pred: ImagePredictor) -> None:
    out = pred.predict(points=[[80, 60]], labels=[1])
    assert out.masks.shape == (3, 120, 160) and out.masks.dtype == bool
    assert out.scores.shape == (3,) and out.logits.shape == (3, 64, 64)
    one = pred.predict(points=[[80, 60]], labels=[1], multimask=False)
    assert one.masks.shape == (1, 120, 160)
    logits = pred.predict(points=[[80, 60]], labels=[1], return_logits=True)
    assert logits.masks.dtype == np.float32
    assert np.array_equal(logits.masks > 0, out.masks)
    assert np.all(np.abs(out.logits) <= 32)


def test_batched_prompts_equal_one_by_one(pred: ImagePredictor) -> None:
    boxes = np.array([[10, 10, 90, 70], [50, 30, 150, 110]], dtype=float)
    batch = pred.predict(box=boxes)
    assert batch.masks.shape == (2, 3, 120, 160)
    for i in range(2):
        single = pred.predict(box=boxes[i])
        np.testing.assert_allclose(batch.logits[i], single.logits, atol=1e-4, rtol=0)
        np.testing.assert_allclose(batch.scores[i], single.scores, atol=1e-5)


def test_image_kinds_give_the_same_embedding(tiny_model, image, tmp_path) -> None:
    p = ImagePredictor(tiny_model)
    p.set_image(image)
    ref = p.image_embedding().clone()
    Image.fromarray(image).save(tmp_path / "im.png")
    for variant in (Image.fromarray(image), tmp_path / "im.png", str(tmp_path / "im.png"),
                    np.concatenate([image, np.full((120, 160, 1), 7, np.uint8)], axis=2)):
        p.set_image(variant)
        assert (p.image_embedding() - ref).abs().max() == 0
    gray = image[:, :, 0]
    p.set_image(gray)
    p2 = ImagePredictor(tiny_model)
    p2.set_image(np.repeat(gray[:, :, None], 3, axis=2))
    assert (p.image_embedding() - p2.image_embedding()).abs().max() == 0


def test_several_images(tiny_model, image) -> None:
    p = ImagePredictor(tiny_model)
    other = image[::-1].copy()
    p.set_images([image, other[:100]])
    assert p.num_images == 2 and p.original_size(1) == (100, 160)
    out = p.predict(points=[[20, 20]], labels=[1], image_index=1)
    assert out.masks.shape == (3, 100, 160)
    single = ImagePredictor(tiny_model)
    single.set_image(other[:100])
    np.testing.assert_allclose(single.predict(points=[[20, 20]], labels=[1]).logits, out.logits, atol=1e-4)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((10, 10, 3), 2.0, np.float32), r"float values must lie in \[0, 1\]"),
        (np.zeros((10, 10, 3), np.int32), "dtype int32"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        ("/no/such/file.png", "no such file"),
        (12, "unsupported type int"),
    ],
)
def test_bad_images(tiny_model, bad, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        ImagePredictor(tiny_model).set_image(bad)


def test_unreadable_image_file(tiny_model, tmp_path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        ImagePredictor(tiny_model).set_image(path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(), "empty"),
        (dict(points=[[10, 10]]), "labels: required"),
        (dict(points=[[10, 10]], labels=[1, 1]), "does not match"),
        (dict(points=[[10, 10]], labels=[2]), "not allowed"),
        (dict(points=[[500, 10]], labels=[1]), "outside the 160x120 image"),
        (dict(points=[[10, -1]], labels=[1]), "outside"),
        (dict(points=[[np.nan, 1]], labels=[1]), "NaN"),
        (dict(points=[1, 2, 3], labels=[1]), "shape"),
        (dict(points=np.zeros((0, 2)), labels=[]), "empty"),
        (dict(box=[50, 50, 10, 10]), "x0 <= x1"),
        (dict(box=[0, 0, 10]), "shape"),
        (dict(box=[0, 0, 10, 400]), "outside"),
        (dict(mask=np.zeros((1, 32, 32))), "mask: shape"),
    ],
)
def test_bad_prompts(pred: ImagePredictor, kwargs: dict, match: str) -> None:
    with pytest.raises(PromptError, match=match):
        pred.predict(**kwargs)


def test_guards(tiny_model, pred: ImagePredictor) -> None:
    with pytest.raises(InvalidInputError, match="must be set"):
        ImagePredictor(tiny_model).predict(points=[[1, 1]], labels=[1])
    with pytest.raises(InvalidInputError, match="image_index"):
        pred.predict(points=[[1, 1]], labels=[1], image_index=3)
