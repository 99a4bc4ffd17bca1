"""DAVIS 2017 unsupervised evaluation: label PNGs of proposals, matched to the ground-truth objects.

Layout as :mod:`samstream.eval.davis`; the ground truth is ``Annotations_unsupervised/<resolution>``
as in the official download and evaluation code (``Annotations/<resolution>`` where a root has no
such folder; the result's protocol names the folder read). A prediction PNG holds proposal ids
``1 .. P`` (0 background).

Protocol (davis2017-evaluation, unsupervised task):

* the proposals of a sequence are ids ``1 .. max id`` over all its predicted frames, at most
  :data:`MAX_PROPOSALS` (20); more is an error. With fewer proposals than objects, empty proposals
  make up the difference;
* every frame is scored, the first and the last included (the semi-supervised protocol drops them),
  and void pixels (255) are left out of both masks, as the official code does for this task;
* J and F of every (proposal, object) pair are averaged over the frames; the proposals are assigned
  one-to-one to the objects so as to maximise the sum over objects of (mean J + mean F) / 2 (the
  Hungarian method, ``scipy.optimize.linear_sum_assignment``); each object then has the per-frame J and F
  of its proposal, and everything else (statistics, the JSON) is as in the semi-supervised evaluation.
  Objects are reported in ground-truth order (``<seq>_<k>`` is object k), whichever proposal won it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from samstream.errors import InvalidInputError
from samstream.eval.davis import VOID, Task, davis_sequences
from samstream.eval.metrics import BOUND_TH, boundary_f, jaccard
from samstream.eval.pool import map_tasks
from samstream.eval.results import EvalResult, ObjectScores, Protocol
from samstream.io.labels import list_pngs, read_label_png

__all__ = ["MAX_PROPOSALS", "assign", "evaluate_davis_unsupervised", "score_unsupervised"]

MAX_PROPOSALS = 20


def evaluate_davis_unsupervised(
    pred_root: str | Path,
    davis_root: str | Path,
    subset: str = "val",
    *,
    resolution: str = "480p",
    sequences: list[str] | None = None,
    workers: int = 1,
    bound_th: float = BOUND_TH,
) -> EvalResult:
    """Score proposals under ``pred_root`` against a DAVIS 2017 root (arguments as ``evaluate_davis``).

    Returns:
        The scores (fractions in [0, 1]) with the protocol: the ground-truth folder read, every frame
        scored.
    """
    _linear_sum_assignment()  # fail before reading anything when scipy is missing
    ann_root, tasks = davis_sequences(pred_root, davis_root, subset, resolution, sequences, "unsupervised")
    fn = partial(_score_task, bound_th=bound_th)
    protocol = Protocol("DAVIS 2017 unsupervised", str(ann_root), "none (every frame is scored)")
    return EvalResult.from_scores((obj for seq in map_tasks(fn, tasks, workers) for obj in seq), protocol)


def score_unsupervised(name: str, gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> list[ObjectScores]:
    """Per-frame J and F of each ground-truth object of one sequence, through its assigned proposal.

    ``gt``: (T, H, W) ids (0 background, 255 void); ``pred``: (T, H, W) proposal ids.
    """
    void = gt == VOID
    gt = np.where(void, 0, gt)
    num_objects = int(gt.max())
    num_props = int(pred.max()) if pred.size else 0
    if num_props > MAX_PROPOSALS:
        raise InvalidInputError(f"sequence {name!r}: proposal id {num_props} exceeds the {MAX_PROPOSALS} "
                                "proposals the unsupervised protocol allows")
    rows = max(num_props, num_objects)  # empty proposals make up for missing ones
    keep = ~void
    j = np.zeros((rows, num_objects, gt.shape[0]))
    f = np.zeros_like(j)
    for k in range(num_objects):
        gt_k = (gt == k + 1) & keep
        for p in range(rows):
            pred_p = (pred == p + 1) & keep
            j[p, k] = jaccard(gt_k, pred_p)
            f[p, k] = boundary_f(gt_k, pred_p, bound_th)
    match = assign((j.mean(2) + f.mean(2)) / 2)
    return [ObjectScores(f"{name}_{k + 1}", j[p, k], f[p, k]) for k, p in enumerate(match)]


def assign(scores: np.ndarray) -> list[int]:
    """For a (P, K) matrix of proposal-object scores with P >= K: the proposal of each object, maximising
    the total score with each proposal used at most once."""
    rows, cols = _linear_sum_assignment()(-scores)
    match = [0] * scores.shape[1]
    for r, c in zip(rows, cols):
        match[int(c)] = int(r)
    return match


def _linear_sum_assignment() -> Any:
    try:
        from scipy.optimize import linear_sum_assignment  # optional: only this protocol needs scipy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidInputError("the unsupervised DAVIS protocol needs scipy: pip install scipy") from exc
    return linear_sum_assignment


def _score_task(task: Task, bound_th: float) -> list[ObjectScores]:
    name, gt_dir, pred_dir = task
    frames = list_pngs(gt_dir)
    if not frames:
        raise InvalidInputError(f"sequence {name!r}: no PNG in {gt_dir}")
    gt = np.stack([read_label_png(Path(gt_dir) / f) for f in frames]).astype(np.int32)
    pred = np.zeros(gt.shape, np.int32)
    for i, frame in enumerate(frames):
        path = Path(pred_dir) / frame
        if path.is_file():  # a missing prediction is an empty map, as in the semi-supervised evaluation
            labels = read_label_png(path)
            if labels.shape != gt.shape[1:]:
                raise InvalidInputError(f"sequence {name!r}: prediction {path} has shape {labels.shape}, "
                                        f"the annotation has {gt.shape[1:]}")
            pred[i] = labels
    return score_unsupervised(name, gt, pred, bound_th)
