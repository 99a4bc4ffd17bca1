"""Fixtures of the ONNX tests: one export of a random-weight tiny layout at 128 input per session.

Exporting is the slow part (about a minute per graph on a loaded 2-core machine), so every default
test shares the one export; the released input size and other layouts are ``slow`` tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the ONNX host needs onnxruntime (samstream[onnx])")
pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")

from samstream.checkpoints import build_model  # noqa: E402
from samstream.registry import get_variant  # noqa: E402

SIZE = 128


def present_model(name: str = "sam2.1-tiny", size: int = SIZE, seed: int = 0) -> torch.nn.Module:
    """A random-weight model whose object-score head leans to "present" (random weights give scores
    near 0, and an absent object's mask is a constant: nothing to compare)."""
    model = build_model(get_variant(name).config.with_image_size(size), seed=seed)
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias += 2.0
    return model


@pytest.fixture(scope="session")
def onnx_model() -> torch.nn.Module:
    return present_model()


@pytest.fixture(scope="session")
def onnx_export(onnx_model, tmp_path_factory):
    """(folder, manifest) of the tiny layout's four graphs."""
    from samstream.onnx.export import export_onnx
    from samstream.onnx.manifest import read_manifest

    reuse = os.environ.get("SAMSTREAM_TEST_ONNX_DIR")  # development: keep one export between runs
    if reuse and (Path(reuse) / "manifest.json").is_file():
        return Path(reuse), read_manifest(reuse)
    folder = Path(reuse) if reuse else tmp_path_factory.mktemp("tiny-onnx")
    return folder, export_onnx(onnx_model, folder, overwrite=bool(reuse))


@pytest.fixture
def single_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def moving_discs(frames: int = 30, h: int = 96, w: int = 120, seed: int = 0) -> list[np.ndarray]:
    """Two discs crossing a noisy background: a red one moving right, a green one moving left and down."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    clip = []
    for t in range(frames):
        frame = (40 + rng.integers(0, 20, (h, w, 3))).astype(np.uint8)
        for cx, cy, r, colour in ((20 + t, 30, 12, (220, 60, 60)), (90 - t, 60 + t // 3, 10, (60, 200, 90))):
            frame[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = colour
        clip.append(frame)
    return clip


def rel_diff(ref, ours) -> float:
    """max |Δ| / max(1, max |ref|)."""
    ref = np.asarray(ref, dtype=np.float64)
    ours = np.asarray(ours, dtype=np.float64)
    assert ref.shape == ours.shape, (ref.shape, ours.shape)
    return float(np.abs(ref - ours).max() / max(1.0, np.abs(ref).max())) if ref.size else 0.0


def agree(ref, ours) -> None:
    """Identical binary masks but where the reference logit is within 1e-3 of the threshold."""
    ref, ours = np.asarray(ref), np.asarray(ours)
    differ = (ref > 0) != (ours > 0)
    assert not (differ & (np.abs(ref) > 1e-3)).any()


def same_result(a, b) -> float:
    """A StreamTracker and an OnnxTracker result agree (binary masks, object-score signs); returns the
    relative logit difference."""
    assert a.obj_ids == b.obj_ids and a.frame_idx == b.frame_idx
    logits = a.logits.numpy()
    agree(logits, b.logits)
    assert np.array_equal(np.sign(a.object_scores.numpy()), np.sign(b.object_scores))
    return rel_diff(logits, b.logits)
