"""The committed reference traces of SAMURAI, DAM4SAM and SAM2Long (see README.md beside this file).

The first test checks the files themselves (small, complete, every branch of each method covered).
The slow one re-runs the authors' code where a local copy is present and compares: set
``SAMSTREAM_FORKS`` to a folder holding ``samurai/``, ``dam4sam/`` and ``sam2long/`` checkouts
(and ``site/`` with DAM4SAM's extra packages), e.g. ``SAMSTREAM_FORKS=/work/forks pytest -m slow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from .make_traces import METHODS, check, load_trace

TRACES = Path(__file__).resolve().parent / "traces"

# counters (see trace_summary.py) that must be positive: each names a branch of the method that ran
BRANCHES = {
    "samurai": ["init", "warmup", "motion", "motion_choice_not_argmax_iou", "memory_not_sam2_window",
                "mask_kept_with_score_in_(-1,0]", "absent_score_le_-1"],
    "dam4sam": ["box_tests", "drm_adds", "frames_with_4_drm_memories", "drm_frames_not_selected",
                "previous_frame_is_drm_used_as_ram", "ram_not_sam2_stride_window", "empty_masks",
                "ram_skips_empty_previous_frame", "pointers_skip_empty_frames"],
    "sam2long": ["frames_with_branching", "frames_with_pruning", "frames_pathway_memories_differ",
                 "frames_memory_not_sam2_window", "frames_object_score_weights", "absent_final_frames"],
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_trace_is_small_and_complete(method: str) -> None:
    path = TRACES / f"{method}.npz"
    assert path.stat().st_size < 1_000_000, path.stat().st_size
    trace = load_trace(path)
    meta = trace["meta"]
    frames = len(trace["jpegs"])
    h, w = (int(v) for v in trace["mask_shape"])
    assert meta["method"] == method and len(meta["frames"]) == frames
    assert trace["sample_logits"].shape == (frames, len(trace["sample_yx"]))
    assert trace["mask_bits"].shape == (frames, (h * w + 7) // 8)
    assert trace["obj_score"].shape == trace["logit_absmax"].shape == (frames,)
    assert np.isfinite(trace["sample_logits"]).all()
    missing = [name for name in BRANCHES[method] if not meta["counters"].get(name)]
    assert not missing, f"{method}: branches not covered by the trace: {missing}"


def _forks() -> Path:
    root = os.environ.get("SAMSTREAM_FORKS")
    if not root:
        pytest.skip("SAMSTREAM_FORKS is not set: no local checkout of the authors' code to re-run")
    return Path(root)


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
def test_fork_reproduces_its_trace(method: str) -> None:
    fork = _forks() / method
    if not fork.is_dir():
        pytest.skip(f"no checkout of {method} under SAMSTREAM_FORKS ({fork})")
    os.environ.setdefault("FORK_SITE", str(fork.parent / "site"))
    assert check(fork, TRACES / f"{method}.npz") == 0
