"""The image predictor against the reference's SAM2ImagePredictor, same random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import samstream
from samstream.compat import SAM2ImagePredictor as CompatPredictor

from .conftest import build_reference, masks_agree, rel_diff, save_reference

pytestmark = pytest.mark.parity

SIZE = 512  # most cases run at 512 for speed; one case below runs at the full 1024


def _ref_predictor(model, size: int):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    pred = SAM2ImagePredictor(model)
    s = size // 4
    pred._bb_feat_sizes = [(s, s), (s // 2, s // 2), (s // 4, s // 4)]  # it assumes 1024 input otherwise
    return pred


def _image(seed: int, h: int = 300, w: int = 420) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = [250, 20, 20]
    return img


@pytest.fixture(scope="module", params=["configs/sam2.1/sam2.1_hiera_t.yaml", "configs/sam2/sam2_hiera_t.yaml"])
def pair(request, tmp_path_factory):
    ref = build_reference(request.param, image_size=SIZE, seed=0)
    path = save_reference(ref, tmp_path_factory.mktemp("ckpt") / "model.pt")
    ours = samstream.load_model(path, device="cpu", image_size=SIZE)
    ref_pred, our_pred = _ref_predictor(ref, SIZE), CompatPredictor(ours)
    image = _image(0)
    with torch.inference_mode():
        ref_pred.set_image(image)
    our_pred.set_image(image)
    return ref_pred, our_pred


def _compare(ref_out, our_out, tol: float = 1e-5) -> None:
    (rm, ri, rl), (om, oi, ol) = ref_out, our_out
    assert rm.shape == om.shape and ri.shape == oi.shape and rl.shape == ol.shape
    assert rel_diff(torch.from_numpy(rm), torch.from_numpy(om)) <= tol
    assert rel_diff(torch.from_numpy(ri), torch.from_numpy(oi)) <= tol
    assert rel_diff(torch.from_numpy(rl), torch.from_numpy(ol)) <= tol
    assert masks_agree(torch.from_numpy(rm), torch.from_numpy(om))


CASES = {
    "point": dict(point_coords=np.array([[200.0, 110.0]]), point_labels=np.array([1])),
    "neg_points": dict(point_coords=np.array([[200.0, 110.0], [50.0, 250.0], [400, 20]]), point_labels=np.array([1, 0, 0])),
    "box": dict(box=np.array([120.0, 60.0, 260.0, 170.0])),
    "box_points": dict(box=np.array([120.0, 60.0, 260.0, 170.0]), point_coords=np.array([[30.0, 30.0]]),
                       point_labels=np.array([0])),
    "normalized": dict(point_coords=np.array([[0.4, 0.3]]), point_labels=np.array([1]), normalize_coords=False),
    "batched_boxes": dict(box=np.array([[120.0, 60.0, 260.0, 170.0], [10.0, 10.0, 100.0, 280.0]])),
    "batched_points": dict(point_coords=np.array([[[200.0, 110.0]], [[50.0, 250.0]], [[5.0, 5.0]]]),
                           point_labels=np.array([[1], [1], [1]])),
}


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
def test_predict_matches_reference(pair, case: str, multimask: bool) -> None:
    ref_pred, our_pred = pair
    kwargs = dict(CASES[case], multimask_output=multimask, return_logits=True)
    with torch.inference_mode():
        ref_out = ref_pred.predict(**kwargs)
    our_out = our_pred.predict(**kwargs)
    _compare(ref_out, our_out)
    kwargs["return_logits"] = False  # binary masks as float 0/1, like the reference
    with torch.inference_mode():
        ref_bin = ref_pred.predict(**kwargs)[0]
    our_bin = our_pred.predict(**kwargs)[0]
    assert our_bin.dtype == ref_bin.dtype == np.float32
    logits = torch.from_numpy(ref_out[0])
    undecided = (logits.abs() <= 1e-5 * max(1.0, float(logits.abs().max()))).numpy()
    assert np.array_equal(ref_bin[~undecided], our_bin[~undecided])


def test_mask_input_round_trip_matches(pair) -> None:
    ref_pred, our_pred = pair
    first = dict(point_coords=np.array([[200.0, 110.0]]), point_labels=np.array([1]))
    with torch.inference_mode():
        _, ref_scores, ref_low = ref_pred.predict(**first)
    _, our_scores, our_low = our_pred.predict(**first)
    best = int(np.argmax(ref_scores))
    assert best == int(np.argmax(our_scores))
    second = dict(point_coords=np.array([[200.0, 110.0], [10.0, 10.0]]), point_labels=np.array([1, 0]),
                  multimask_output=False, return_logits=True)
    with torch.inference_mode():
        ref_out = ref_pred.predict(mask_input=ref_low[best : best + 1], **second)
    our_out = our_pred.predict(mask_input=our_low[best : best + 1], **second)
    _compare(ref_out, our_out)


def test_embedding_matches(pair) -> None:
    ref_pred, our_pred = pair
    assert rel_diff(ref_pred.get_image_embedding(), our_pred.get_image_embedding()) <= 1e-5


def test_batched_images_match(pair) -> None:
    ref_pred, our_pred = pair
    images = [_image(1, 200, 260), _image(2, 310, 180)]
    coords = [np.array([[100.0, 50.0]]), np.array([[20.0, 200.0], [150.0, 40.0]])]
    labels = [np.array([1]), np.array([1, 0])]
    boxes = [None, np.array([10.0, 100.0, 170.0, 300.0])]
    try:
        with torch.inference_mode():
            ref_pred.set_image_batch(images)
            ref_out = ref_pred.predict_batch(coords, labels, box_batch=boxes, return_logits=True)
        our_pred.set_image_batch(images)
        our_out = our_pred.predict_batch(coords, labels, box_batch=boxes, return_logits=True)
        for i in range(2):
            _compare(tuple(o[i] for o in ref_out), tuple(o[i] for o in our_out))
    finally:
        image = _image(0)
        with torch.inference_mode():
            ref_pred.set_image(image)
        our_pred.set_image(image)


def test_full_resolution_1024(tmp_path) -> None:
    """One case at the default 1024 input, where the reference predictor needs no adjustment."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    ref = build_reference("configs/sam2.1/sam2.1_hiera_t.yaml", seed=5)
    ours = samstream.load_model(save_reference(ref, tmp_path / "m.pt"), device="cpu")
    image = _image(3, 240, 320)
    ref_pred, our_pred = SAM2ImagePredictor(ref), CompatPredictor(ours)
    kwargs = dict(point_coords=np.array([[150.0, 100.0], [20.0, 30.0]]), point_labels=np.array([1, 0]),
                  box=np.array([100.0, 60.0, 220.0, 160.0]), return_logits=True)
    with torch.inference_mode():
        ref_pred.set_image(image)
        ref_out = ref_pred.predict(**kwargs)
    our_pred.set_image(image)
    _compare(ref_out, our_pred.predict(**kwargs))
