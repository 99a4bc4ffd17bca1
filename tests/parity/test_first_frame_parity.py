"""First-frame prompts with several clicks, unstable single masks and object scores near zero.

A report found samstream's masks differing from the reference's (max |Δlogit| 0.32, 4.8 % of pixels)
after two clicks on the first frame of a random-noise clip, with the reference built from the
official config at 512 input after ``torch.manual_seed(5)``. The cause was not in the model: the
official builder appends its post-processing overrides (``fill_hole_area=8``) after the caller's, so
``++model.fill_hole_area=0`` is superseded on both sides — and the reference's PyPI build cannot
fill holes on a CPU (its connected-components kernel needs the CUDA extension, so it warns and skips),
while samstream fills them everywhere. With hole filling off on both sides the outputs agree to
float32 rounding. These tests pin that case and its neighbours, and check that with hole filling on
samstream differs from the unfilled reference exactly at the small holes it fills.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from samstream.compat import build_sam2_video_predictor

from .conftest import masks_agree, rel_diff
from .test_video_parity import _Float32Memory

pytestmark = pytest.mark.parity

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
SIZE = 512
NO_FILL = [
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=0",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The reported set-up: reference from the official config at 512 input after manual_seed(5)."""
    import sam2.sam2_video_predictor as ref_module
    from sam2.build_sam import build_sam2_video_predictor as build_reference

    folder = tmp_path_factory.mktemp("first_frame")
    torch.manual_seed(5)
    ref = build_reference(CONFIG, None, device="cpu", hydra_overrides_extra=[f"++model.image_size={SIZE}"])
    ref.eval()
    path = folder / "model.pt"
    torch.save({"model": ref.state_dict()}, path)
    overrides = [f"++model.image_size={SIZE}"]
    ours = build_sam2_video_predictor(CONFIG, str(path), device="cpu", apply_postprocessing=False,
                                      hydra_overrides_extra=[*NO_FILL, *overrides], memory_dtype=torch.float32)
    filled = build_sam2_video_predictor(CONFIG, str(path), device="cpu", hydra_overrides_extra=overrides,
                                        memory_dtype=torch.float32)
    saved = ref_module.torch
    ref_module.torch = _Float32Memory()  # float32 memories on the reference too
    yield ref, ours, filled, folder
    ref_module.torch = saved


def _noise_video(folder, name: str, h: int, w: int, frames: int = 2) -> str:
    out = folder / name
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for t in range(frames):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(out / f"{t}.jpg")
    return str(out)


def _run(predictor, video: str, points: list, labels: list) -> list[torch.Tensor]:
    """Clicks on frame 0 of object 1, then forward propagation: every returned logit map."""
    state = predictor.init_state(video)
    _, _, logits = predictor.add_new_points_or_box(state, 0, 1, points=np.array(points, np.float32),
                                                   labels=np.array(labels, np.int32))
    outs = [logits.float().clone()]
    outs += [m.float().clone() for _, _, m in predictor.propagate_in_video(state)]
    return outs


def _compare(ref, ours, video: str, points: list, labels: list) -> float:
    with torch.inference_mode():
        ref_outs = _run(ref, video, points, labels)
    our_outs = _run(ours, video, points, labels)
    assert len(ref_outs) == len(our_outs) == 3
    worst = 0.0
    for r, o in zip(ref_outs, our_outs):
        worst = max(worst, rel_diff(r, o))
        assert masks_agree(r, o)
    assert worst <= 1e-5, worst
    return worst


class _SingleMaskStability:
    """Records the stability of the single-mask output of every decoder call (computed here)."""

    def __init__(self, decoder) -> None:
        self.values: list[float] = []
        self._decoder, self._inner = decoder, decoder.predict_all

        def predict_all(*args, **kwargs):
            out = self._inner(*args, **kwargs)
            single = out[0][:, 0].flatten(1).double()  # (B, pixels) logits of the single-mask token
            inter, union = (single > 0.05).sum(1), (single > -0.05).sum(1)
            self.values += [float(i) / float(u) if u > 0 else 1.0 for i, u in zip(inter, union)]
            return out

        decoder.predict_all = predict_all

    def close(self) -> None:
        del self._decoder.predict_all


def test_reported_case_two_clicks_on_a_first_frame(pair) -> None:
    ref, ours, _, folder = pair
    video = _noise_video(folder, "reported", 240, 320)
    probe = _SingleMaskStability(ours.model.sam_mask_decoder)
    try:
        worst = _compare(ref, ours, video, [[40, 60], [200, 100]], [1, 0])
    finally:
        probe.close()
    # the single mask of the click is unstable, so both sides fall back to the best multi-mask output
    assert probe.values[0] < 0.98, probe.values
    print(f"two clicks, 240x320: worst relative difference {worst:.2e}")


def test_several_clicks_and_a_square_video(pair) -> None:
    ref, ours, _, folder = pair
    video = _noise_video(folder, "square", SIZE, SIZE)
    _compare(ref, ours, video, [[40, 60], [200, 100], [300, 420], [480, 30]], [1, 0, 1, 0])
    _compare(ref, ours, video, [[256, 256]], [1])  # one click: multi-mask output


def test_stable_single_mask(pair) -> None:
    """Scaled mask logits make the single mask stable: the other branch of the dynamic choice."""
    ref, ours, _, folder = pair
    video = _noise_video(folder, "reported", 240, 320)
    layers = [m.output_hypernetworks_mlps[0].layers[-1] for m in (ref.sam_mask_decoder, ours.model.sam_mask_decoder)]
    saved = [(l.weight.clone(), l.bias.clone()) for l in layers]
    for layer in layers:
        with torch.no_grad():
            layer.weight.mul_(200.0)
            layer.bias.mul_(200.0)
    probe = _SingleMaskStability(ours.model.sam_mask_decoder)
    try:
        _compare(ref, ours, video, [[40, 60], [200, 100]], [1, 0])
    finally:
        probe.close()
        for layer, (w, b) in zip(layers, saved):
            with torch.no_grad():
                layer.weight.copy_(w)
                layer.bias.copy_(b)
    assert probe.values[0] >= 0.98, probe.values


@pytest.mark.parametrize("offset", [-1e-3, 1e-3])
def test_object_score_near_zero(pair, offset: float) -> None:
    """Object scores shifted to just below / above zero on the first frame, on both models."""
    ref, ours, _, folder = pair
    video = _noise_video(folder, "reported", 240, 320)
    state = ours.init_state(video)
    ours.add_new_points_or_box(state, 0, 1, points=[[40, 60], [200, 100]], labels=[1, 0])
    score = float(state.session.result_on(0).object_scores[0])
    heads = [m.sam_mask_decoder.pred_obj_score_head.layers[-1] for m in (ref, ours.model)]
    for head in heads:
        with torch.no_grad():
            head.bias.sub_(score - offset)
    try:
        with torch.inference_mode():
            ref_outs = _run(ref, video, [[40, 60], [200, 100]], [1, 0])
        our_outs = _run(ours, video, [[40, 60], [200, 100]], [1, 0])
    finally:
        for head in heads:
            with torch.no_grad():
                head.bias.add_(score - offset)
    for r, o in zip(ref_outs, our_outs):
        assert rel_diff(r, o) <= 1e-5
        assert masks_agree(r, o)
    first = our_outs[0]
    if offset < 0:  # judged absent: every pixel carries the no-object score
        assert bool((first == -1024.0).all())
    else:
        assert bool((first > -1024.0).any())


def test_hole_filling_is_the_only_difference(pair) -> None:
    """With the builder's default post-processing (holes up to 8 px filled), samstream's output on a
    128 x 128 video (the low-resolution mask size, so no resize) differs from the unfilled reference
    exactly at the background components of at most 8 pixels, which become 0.1. Compared on the
    prompted frame (the click's output and its propagated copy): later frames attend to a memory made
    from the filled mask, so they differ everywhere."""
    ref, _, filled, folder = pair
    video = _noise_video(folder, "lowres", 128, 128)
    points, labels = [[20, 30], [100, 50]], [1, 0]
    with torch.inference_mode():
        ref_outs = _run(ref, video, points, labels)
    filled_outs = _run(filled, video, points, labels)
    holes_seen = 0
    for r, f in zip(ref_outs[:2], filled_outs[:2]):
        r2, f2 = r[0, 0].double().numpy(), f[0, 0].double().numpy()
        labels_img, count = ndimage.label(r2 <= 0, structure=np.ones((3, 3)))  # 8-connected background
        areas = np.bincount(labels_img.ravel(), minlength=count + 1)
        hole = (labels_img > 0) & (areas[labels_img] <= 8)
        holes_seen += int(hole.sum())
        assert np.allclose(f2[hole], 0.1)
        assert np.abs(f2[~hole] - r2[~hole]).max() <= 1e-5 * max(1.0, np.abs(r2).max())
    assert holes_seen > 0  # the case exercises hole filling
