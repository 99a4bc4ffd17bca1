"""Exports of other layouts and the released input size (slow: minutes per export on a 2-core CPU)."""

from __future__ import annotations

import pytest

from samstream.onnx import OnnxGraphs, OnnxTracker
from samstream.registry import VARIANTS
from samstream.video.stream import StreamTracker
from tests.onnx.conftest import moving_discs, present_model, same_result

OTHER_VARIANTS = [name for name in VARIANTS if name not in ("sam2.1-tiny", "samstream-nano")]  # those: elsewhere


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_VARIANTS)
def test_other_layouts_export(name, tmp_path) -> None:
    """Every other official layout (SAM 2 and SAM 2.1 memory settings alike) at 128, random weights:
    the tracker on its export against StreamTracker over four frames (a click on frame 0)."""
    from samstream.onnx.export import export_onnx

    model = present_model(name, 128)
    manifest = export_onnx(model, tmp_path)
    assert manifest.variant == name and manifest.image_size == 128
    ref, ours = StreamTracker(model), OnnxTracker(OnnxGraphs(tmp_path, threads=2))
    for t, frame in enumerate(moving_discs(4)):
        a, b = ref.step(frame), ours.step(frame)
        if t == 0:
            a, b = ref.add_points(1, [[20, 30]], [1]), ours.add_points(1, [[20, 30]], [1])
        assert same_result(a, b) <= 1e-3, (name, t)


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
            same_result(a, b)
