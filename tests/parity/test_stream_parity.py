"""The streaming tracker against the reference's offline predictor (forward tracking from frame 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from samstream import StreamTracker

from .conftest import masks_agree, rel_diff
from .test_video_parity import _center_object_scores, _pair, float32_reference_memory  # noqa: F401
from .video_scenarios import make_video

pytestmark = pytest.mark.parity

FRAMES = 18  # more than max_obj_ptrs_in_encoder (16), as in any stream


def test_stream_matches_reference(tmp_path, float32_reference_memory, one_thread) -> None:  # noqa: F811
    video = make_video(tmp_path / "frames", frames=FRAMES)
    ref, ours = _pair("configs/sam2.1/sam2.1_hiera_t.yaml", 256, tmp_path)
    _center_object_scores(ref, ours, str(video))
    with torch.inference_mode():
        state = ref.init_state(str(video))
        first = ref.add_new_points_or_box(state, 0, 1, points=np.array([[30.0, 40.0]], np.float32),
                                          labels=np.array([1], np.int32))
        first = ref.add_new_points_or_box(state, 0, 2, box=np.array([85.0, 14.0, 115.0, 36.0]))
        expected = [first[2][:, 0]] + [m[:, 0] for _, _, m in ref.propagate_in_video(state)][1:]

        tracker = StreamTracker(ours.model, fill_hole_area=0, memory_dtype=torch.float32)
        got = []
        for t in range(FRAMES):
            rgb = np.asarray(Image.open(video / f"{t}.jpg").convert("RGB"))
            result = tracker.step(rgb)
            if t == 0:
                tracker.add_points(1, [[30.0, 40.0]], [1])
                result = tracker.add_box(2, [85.0, 14.0, 115.0, 36.0])
            got.append(result.logits)
    assert len(got) == len(expected) == FRAMES
    worst = 0.0
    for t, (r, o) in enumerate(zip(expected, got)):
        worst = max(worst, rel_diff(r, o))
        assert rel_diff(r, o) <= 1e-5, t
        assert masks_agree(r, o), t
    peaks = torch.stack([m.amax() for m in got[1:]])
    assert (peaks > -1024).any()  # tracked masks were decoded on some frames
    print(f"stream vs reference: {FRAMES} frames x 2 objects, worst relative difference {worst:.2e}")
