"""The tracker core's small rules: memory planning without torch, results, counts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from samstream import VideoPredictor
from samstream.checkpoints import build_model
from samstream.errors import InvalidInputError, UnknownObjectError
from samstream.presets import micro_config
from samstream.video.tracker import FrameResult

ROOT = Path(__file__).parents[2]


def test_memory_planning_runs_without_torch() -> None:
    """plan_memory is plain Python (the ONNX host plans memories in an install without torch)."""
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = sys.modules["numpy"] = None  # any import of torch or numpy now fails
        from samstream.config import MemoryConfig, TrackingConfig
        from samstream.video.memory_bank import plan_memory

        class Track:
            def conditioning(self):
                return {0: "c0"}
            def tracked_output(self, frame):
                return {3: "t3", 4: "t4"}.get(frame)

        plan = plan_memory(Track(), 5, MemoryConfig(), TrackingConfig(), None, reverse=False)
        print(plan.frames, plan.ptrs, plan.max_ptrs)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    # slots: conditioning frame 0; frame 4 (one back) at the last slot, frame 3 before it
    assert out.split() == ["[(0,", "'c0'),", "(5,", "'t3'),", "(6,", "'t4')]", "[(5,", "'c0'),", "(1,", "'t4'),",
                           "(2,", "'t3')]", "16"]


def test_frame_result_mask_of_an_unknown_object() -> None:
    r = FrameResult(3, [1, 5], torch.tensor([[[1.0]], [[-1.0]]]), torch.zeros(2))
    assert r.mask(5).tolist() == [[False]] and r.mask(1).tolist() == [[True]]
    with pytest.raises(UnknownObjectError, match="no object 99 on frame 3"):
        r.mask(99)


def test_options_that_fix_storage_cannot_change_in_a_session() -> None:
    model = build_model(micro_config(64), device="cpu", seed=0)
    with VideoPredictor(model).open(np.zeros((2, 32, 32, 3), np.uint8)) as session:
        session.update_options(fill_hole_area=0, non_overlap_masks=True)
        assert session.options.fill_hole_area == 0 and session.tracker.engine.opts.non_overlap_masks
        with pytest.raises(InvalidInputError, match="memory_dtype cannot change"):
            session.update_options(memory_dtype=torch.float32)
