"""Exports of other layouts and the released input size (slow: minutes per export on a 2-core CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from samstream.onnx import OnnxGraphs, OnnxTracker
from samstream.video.stream import StreamTracker
from tests.onnx.conftest import moving_discs, present_model


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("sam2.1-small", 128), ("sam2-base-plus", 128), ("sam2.1-large", 128)])
def test_other_layouts_export(name, size, tmp_path) -> None:
    from samstream.onnx.export import export_onnx

    manifest = export_onnx(present_model(name, size), tmp_path)
    graphs = OnnxGraphs(tmp_path, threads=2)
    feats = graphs.encode(graphs.frame_input(moving_discs(1)[0]))
    assert feats["image_embed"].shape == (1, 256, size // 16, size // 16) and manifest.image_size == size


@pytest.mark.slow
def test_nano_and_released_size_tracker(tmp_path) -> None:
    """samstream-nano at its 128 input and the tiny layout at the released 1024: the onnxruntime
    tracker against StreamTracker over a short clip (a click on frame 0, a mask prompt on frame 2)."""
    import samstream
    from samstream.onnx.export import export_onnx

    for model in (samstream.load_model("samstream-nano", device="cpu"), present_model("sam2.1-tiny", 1024)):
        folder = tmp_path / str(model.cfg.image_size)
        export_onnx(model, folder)
        ref, ours = StreamTracker(model), OnnxTracker(folder, threads=2)
        for t, frame in enumerate(moving_discs(6)):
            a, b = ref.step(frame), ours.step(frame)
            if t == 0:
                a, b = ref.add_points(1, [[20, 30]], [1]), ours.add_points(1, [[20, 30]], [1])
            if t == 2:
                disc = frame[:, :, 1] > 150  # the green disc
                a, b = ref.add_mask(2, disc), ours.add_mask(2, disc)
            differ = (a.logits.numpy() > 0) != (b.logits > 0)
            assert not (differ & (np.abs(a.logits.numpy()) > 1e-3)).any()
            assert np.array_equal(np.sign(a.object_scores.numpy()), np.sign(b.object_scores))
