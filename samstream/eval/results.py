"""Evaluation results: per-object scores, their DAVIS statistics and the JSON summary."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from samstream.errors import InvalidInputError
from samstream.eval.metrics import Statistics, db_statistics

__all__ = ["EvalResult", "ObjectResult", "ObjectScores", "Protocol", "scores_csv"]


@dataclass(frozen=True)
class ObjectScores:
    """Per-frame scores of one object over the frames the protocol scores.

    ``name`` is ``"<sequence>_<object>"``; ``j`` and ``f`` are float64 arrays of equal length.
    """

    name: str
    j: np.ndarray
    f: np.ndarray


@dataclass(frozen=True)
class ObjectResult:
    """DAVIS statistics of one object's J and F."""

    j: Statistics
    f: Statistics
    num_frames: int


@dataclass(frozen=True)
class Protocol:
    """What an evaluation scored: the protocol's name, the ground truth it read and the frames it
    leaves out (said in words, since each protocol has its own rule)."""

    name: str  # e.g. "DAVIS 2017 semi-supervised"
    ground_truth: str  # the folder scored against
    frames_not_scored: str  # e.g. "the first and last frame of every sequence"

    def to_json(self) -> dict[str, str]:
        """``{"name", "ground_truth", "frames_not_scored"}``."""
        return {"name": self.name, "ground_truth": self.ground_truth, "frames_not_scored": self.frames_not_scored}


@dataclass(frozen=True)
class EvalResult:
    """Scores of a whole evaluation: statistics averaged over objects, plus each object's own.

    ``j`` and ``f`` average each object's mean, recall and decay with equal weight per object (as
    DAVIS and SA-V do); ``jf`` is the mean of J-mean and F-mean. All values are fractions in [0, 1].
    """

    j: Statistics
    f: Statistics
    per_object: dict[str, ObjectResult] = field(default_factory=dict)
    protocol: Protocol | None = None

    @property
    def jf(self) -> float:
        """The mean of J-mean and F-mean."""
        return (self.j.mean + self.f.mean) / 2

    @classmethod
    def from_scores(cls, scores: Iterable[ObjectScores], protocol: Protocol | None = None) -> EvalResult:
        """The statistics of every object with a scored frame, averaged over objects (an error when none has)."""
        per_object: dict[str, ObjectResult] = {}
        for s in scores:
            if s.name in per_object:
                raise InvalidInputError(f"object {s.name!r} was scored twice")
            if len(s.j) == 0:
                continue  # no scored frame (e.g. a sequence of two frames): nothing to average
            per_object[s.name] = ObjectResult(db_statistics(s.j), db_statistics(s.f), len(s.j))
        if not per_object:
            raise InvalidInputError("no object has a scored frame: nothing to evaluate")
        j = _average([r.j for r in per_object.values()])
        f = _average([r.f for r in per_object.values()])
        return cls(j, f, per_object, protocol)

    def to_json(self) -> dict:
        """``{"J&F", "J": {mean, recall, decay}, "F": {...}, "per_object": {name: {"J", "F"}}}``, fractions
        in [0, 1], and ``"protocol"`` (:meth:`Protocol.to_json`) when known."""
        out: dict = {
            "J&F": self.jf,
            "J": self.j.to_json(),
            "F": self.f.to_json(),
            "per_object": {
                name: {"J": r.j.mean, "F": r.f.mean} for name, r in sorted(self.per_object.items())
            },
        }
        if self.protocol is not None:
            out["protocol"] = self.protocol.to_json()
        return out


def _average(stats: list[Statistics]) -> Statistics:
    return Statistics(
        mean=float(np.mean([s.mean for s in stats])),
        recall=float(np.mean([s.recall for s in stats])),
        decay=float(np.mean([s.decay for s in stats])),
    )


def scores_csv(result: EvalResult) -> str:
    """CSV of J&F scores: a ``global`` row (averages over objects), then one row per object."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["object", "J&F", "J-mean", "J-recall", "J-decay", "F-mean", "F-recall", "F-decay", "frames"])
    rows = [("global", result.j, result.f, "")]
    rows += [(name, r.j, r.f, r.num_frames) for name, r in sorted(result.per_object.items())]
    for name, j, f, frames in rows:
        writer.writerow([name, (j.mean + f.mean) / 2, j.mean, j.recall, j.decay, f.mean, f.recall, f.decay, frames])
    return buf.getvalue()
