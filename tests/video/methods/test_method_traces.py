"""samstream's SAMURAI, DAM4SAM and SAM2Long against the committed traces of the authors' code.

Each test rebuilds the trace's random weights (with the weight changes that make every branch of
the method run), reads the trace's own JPEG files, prompts its box and propagates through
samstream's public API with ``method=...``. Per frame: logits at the trace's sample pixels within
``max|Δ| / max(1, max|logit|) <= 1e-4``, binary masks equal except within that tolerance of 0,
object scores within the same relative tolerance, and every choice equal (candidate, memory frames
with their temporal rows, pointers with their distances, additions to DAM4SAM's DRM, SAM2Long's
final pathway). Each test also counts, on samstream's side, that the branch it is about really ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from samstream.video.methods.dam4sam import Dam4samRecord
from samstream.video.methods.sam2long import Sam2LongRecord
from samstream.video.methods.samurai import SamuraiRecord

from .replay import Replay, fresh_trace, relative_errors, replay

TOL = 1e-4


def _check_outputs(trace: dict, run: Replay, skip_scores: set[int] = frozenset()) -> float:
    rel, bad = relative_errors(trace, run)
    assert max(rel) <= TOL, [f"{f}: {r:.2e}" for f, r in enumerate(rel) if r > TOL]
    assert not any(bad), {f: n for f, n in enumerate(bad) if n}
    for f, (ours, ref) in enumerate(zip(run.scores, trace["obj_score"])):
        if f not in skip_scores:
            assert abs(float(ours) - float(ref)) <= TOL * max(1.0, abs(float(ref))), (f, ours, ref)
    return max(rel)


def _samurai_phase(run: Replay, f: int, threshold: int) -> str:
    before = run.outputs.get(f - 1)
    prior = before.record if before is not None and isinstance(before.record, SamuraiRecord) else None
    if prior is None or prior.mean is None or prior.stable_frames == 0:
        return "init"
    return "warmup" if prior.stable_frames < threshold else "motion"


def test_samurai_equals_the_authors_code(trace: dict | None = None) -> None:
    trace, run = replay("samurai", trace)
    _check_outputs(trace, run)
    frames = trace["meta"]["frames"]
    counts = {"warmup": 0, "motion": 0, "init": 0, "motion_choice_not_argmax": 0, "memory_not_sam2_window": 0,
              "kept_with_score_in_(-1,0]": 0}
    for f in range(1, len(frames)):
        info, ref = run.frames[f], frames[f]
        phase = _samurai_phase(run, f, 15)
        counts[phase] += 1
        assert phase == ref["choice_phase"], (f, phase, ref["choice_phase"])
        (row, index), = info["picks"]
        assert index == ref["choice_index"], (f, index, ref["choice_index"])
        assert info["memory"][0] == ref["choice_memory"], (f, info["memory"][0], ref["choice_memory"])
        assert info["pointers"][0] == ref["choice_pointers"], (f, info["pointers"][0], ref["choice_pointers"])
        ious = info["ious"][0]
        counts["motion_choice_not_argmax"] += int(phase == "motion" and index != int(np.argmax(ious)))
        window = sorted({0} | set(range(max(1, f - 6), f)))
        counts["memory_not_sam2_window"] += int(sorted({m[0] for m in info["memory"][0]}) != window)
        counts["kept_with_score_in_(-1,0]"] += int(-1 < info["scores"][0] <= 0)
    # the motion-weighted choice and the memory selection really ran, and changed something
    assert counts["motion"] >= 10 and counts["warmup"] >= 10 and counts["init"] >= 1, counts
    assert counts["motion_choice_not_argmax"] >= 1 and counts["memory_not_sam2_window"] >= 1, counts
    assert counts["kept_with_score_in_(-1,0]"] >= 1, counts


def test_dam4sam_equals_the_authors_code(trace: dict | None = None) -> None:
    trace, run = replay("dam4sam", trace)
    _check_outputs(trace, run)
    frames = trace["meta"]["frames"]
    added = []
    for f in range(1, len(frames)):
        info, ref = run.frames[f], frames[f]
        (_, index), = info["picks"]
        assert index == ref["choice_index"], (f, index, ref["choice_index"])
        assert info["as_cond"] == ref["choice_added_to_drm"], f
        assert info["memory"][0] == ref["choice_memory"], (f, info["memory"][0], ref["choice_memory"])
        assert info["pointers"][0] == ref["choice_pointers"], (f, info["pointers"][0], ref["choice_pointers"])
        if info["as_cond"]:
            added.append(f)
    # frames entered the distractor-resolving memory: they are conditioning frames with a record saying so
    assert added == [2, 8, 14, 20, 26], added
    for f in added:
        out = run.outputs[f]
        assert isinstance(out.record, Dam4samRecord) and out.record.added
    four_drm = sum(sum(1 for _, row in run.frames[f]["memory"][0] if row == 6) == 4 for f in run.frames)
    empty = sum(isinstance(o.record, Dam4samRecord) and o.record.n_pixels_pos == 0 for o in run.outputs.values())
    assert four_drm >= 10 and empty == 3, (four_drm, empty)


def _frames_only(memory: list) -> list:
    return [[m[0][0] if isinstance(m[0], list) else m[0], m[1]] for m in memory]


def test_sam2long_equals_the_authors_code(trace: dict | None = None) -> None:
    trace, run = replay("sam2long", trace)
    frames = trace["meta"]["frames"]
    absent = {f for f, ref in enumerate(frames) if ref["choice_final"][0] is None}
    _check_outputs(trace, run, skip_scores=absent)  # an absent frame's trace score is only a reference
    branching = pruning = differ = weighted = 0
    for f in range(1, len(frames)):
        info, ref = run.frames[f], frames[f]
        ours = [_frames_only(m) for m in info["memory"]]
        theirs = [[[m[0], row] for m, row in zip(src, rows)] for src, rows in zip(ref["choice_pathway_memory"],
                                                                                    ref["choice_tpos"])]
        assert ours == theirs, (f, ours, theirs)
        pointers = [[[p[0][0] if isinstance(p[0], list) else p[0], p[1]] for p in call] for call in info["pointers"]]
        assert pointers == ref["choice_pointers"], (f, pointers, ref["choice_pointers"])
        record = run.outputs[f].record
        assert isinstance(record, Sam2LongRecord)
        if ref["choice_final"][0] is not None:  # which decoder call (pathway row) and candidate the final mask is
            assert list(info["picks"][record.shown]) == ref["choice_final"], (f, info["picks"], ref["choice_final"])
        parents = [p.parent for p in record.pathways]
        branching += int(len(set(parents)) < len(parents))
        previous = run.outputs[f - 1].record
        if isinstance(previous, Sam2LongRecord) and previous.branched:
            pruning += int(len(set(parents)) < len(previous.pathways))
        differ += int(len({tuple(row) for row in info["ious"]}) > 1)  # the pathways' memories made different candidates
        weighted += int(any(w != (None, None) for w in info["weights"]))
    assert branching >= 5 and pruning >= 5 and differ >= 3 and weighted >= 8, (branching, pruning, differ, weighted)


CHECKS = {"samurai": test_samurai_equals_the_authors_code, "dam4sam": test_dam4sam_equals_the_authors_code,
          "sam2long": test_sam2long_equals_the_authors_code}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(CHECKS))
def test_samstream_equals_a_new_run_of_the_authors_code(method: str) -> None:
    """The same checks against the authors' code run now, from a local checkout (minutes per fork on a CPU)."""
    root = os.environ.get("SAMSTREAM_FORKS")
    if not root:
        pytest.skip("SAMSTREAM_FORKS is not set: no local checkout of the authors' code to run "
                    "(see tests/video/methods/README.md)")
    fork = Path(root) / method
    if not fork.is_dir():
        pytest.skip(f"no checkout of {method} under SAMSTREAM_FORKS ({fork})")
    os.environ.setdefault("FORK_SITE", str(fork.parent / "site"))
    CHECKS[method](fresh_trace(fork, method))
