"""SAM2Long (Ding et al., 2024, arXiv 2410.16268): a constrained tree of memory pathways.

Written from the paper and from observing the authors' program run (its code is under a
non-commercial licence and was not read). Per object, ``num_pathway`` pathways each keep their own
memory and a cumulative score (the sum of the log predicted IoUs of the masks they took). On every
frame each pathway proposes the decoder's three candidates; the pathways of the next frame are the
best-scoring candidates. When every pathway is unsure whether the object is there (every object
score within ``uncertainty`` of 0), the new pathways are taken one per candidate mask instead, so
that different masks survive the uncertain stretch. A pathway's memory keeps the frames whose mask
looked reliable (predicted IoU above ``iou_thre`` and a positive object score), and the frame
before, each with the temporal encoding of its rank; pointers come from frames where the object was
present, each with the temporal encoding of its rank too. Memory attention weighs each memory's keys by the rank of its object score, linearly from
``weight_low`` to ``weight_high`` (conditioning frames count as score 10).

Observed, not in the paper, and followed: the frame after a prompt is tracked once, as SAM 2 does
(the pathways then start as copies of it, and its pointer is not read by them); the authors' runs
use no post-processing (no single-mask fallback, memories of prompted masks not binarised, no hole
filling).

Unconfirmed by observation (the reference trace cannot tell them apart), and chosen here: on an
uncertain frame, the candidate of each index goes to the pathway that scores best with it; the
pointer filter tests the object score only; scores are summed in float64.

Final choice: after the last frame of a propagation the pathway with the best score is followed back
and every frame shows its mask (the authors' choice; :class:`~samstream.video.predictor.VideoSession`
yields a run's results once it has ended). A stream cannot wait for the end: it shows the best
pathway so far on each frame, which may differ from what the finished video would show.

What the authors' program leaves open, and what samstream does: a prompt on a frame (a correction)
restarts the tree there, from the corrected mask, decoded with the memory of the pathway shown on
the frame before; reverse tracking mirrors every rule; each object has its own tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from samstream.video.frame_outputs import FrameOutput, FrameRecord, Place, output_from_data, output_to_data
from samstream.video.memory_bank import MemoryPlan, closest_cond_frames, plan_memory, pointer_normaliser
from samstream.video.methods.base import (Choice, MethodSettings, RowCandidates, Step, StepContext, TrackingMethod,
                                          TrackView, argmax_iou, previous_frame)

COND_SCORE = 10.0  # the object score a conditioning frame counts as when memories are weighed

Entry = tuple[int, int]  # (frame, pathway index on that frame)


@dataclass(frozen=True)
class Sam2LongConfig(MethodSettings):
    """SAM2Long's settings; the defaults are those of the authors' published runs (README:
    ``--num_pathway 3 --iou_thre 0.1 --uncertainty 2``), the same for every model size."""

    name: str = field(default="sam2long", init=False)
    num_pathway: int = 3  # pathways kept per object (the cost grows about with it)
    iou_thre: float = 0.1  # memory keeps frames whose mask has a predicted IoU above this ...
    uncertainty: float = 2.0  # every |object score| below this: an uncertain frame
    weight_low: float = 0.95  # key weights of the least and ...
    weight_high: float = 1.05  # ... the most present memory
    apply_postprocessing: bool = False  # the authors' runs: off


@dataclass(frozen=True)
class Pathway:
    """One pathway's entry on one frame."""

    output: FrameOutput  # its mask, pointer, object score and memory on this frame
    iou: float  # the predicted IoU of its candidate
    score: float  # the cumulative score: the sum of log predicted IoUs along the pathway
    parent: int  # the pathway of the frame before it extends (-1: the tree's root)
    lineage: tuple[Entry, ...]  # earlier entries it may still read, nearest first


@dataclass(frozen=True)
class Sam2LongRecord(FrameRecord):
    """SAM2Long's state of one object after one frame: every pathway's entry."""

    kind = "sam2long"
    pathways: tuple[Pathway, ...]
    shown: int  # the pathway whose mask the frame's output shows
    branched: bool  # False on the frame after a prompt (one pathway, tracked as SAM 2)

    def to_data(self, to_cpu: bool = True) -> dict[str, Any]:
        return {"shown": self.shown, "branched": self.branched,
                "pathways": [{"output": output_to_data(p.output, to_cpu), "iou": p.iou, "score": p.score,
                              "parent": p.parent, "lineage": [list(e) for e in p.lineage]} for p in self.pathways]}

    @classmethod
    def from_data(cls, data: dict[str, Any], place: Place) -> "Sam2LongRecord":
        paths = tuple(Pathway(output_from_data(p["output"], place), float(p["iou"]), float(p["score"]),
                              int(p["parent"]), tuple((int(t), int(k)) for t, k in p["lineage"]))
                      for p in data["pathways"])
        return cls(paths, int(data["shown"]), bool(data["branched"]))

    def pointer_only(self) -> "Sam2LongRecord":
        return replace(self, pathways=tuple(replace(p, output=p.output.pointer_only()) for p in self.pathways))

    def nbytes(self) -> int:
        return sum(p.output.nbytes() for i, p in enumerate(self.pathways) if i != self.shown)


def rank_weights(scores: list[float], low: float, high: float) -> list[float]:
    """Weights from ``low`` to ``high`` (float32, evenly spaced) given by the rank of each score."""
    values = torch.linspace(low, high, len(scores))
    order = torch.argsort(torch.tensor(scores, dtype=torch.float32), stable=True)
    weights = torch.empty_like(values)
    weights[order] = values
    return [float(w) for w in weights]


class Sam2LongMethod(TrackingMethod):
    name = "sam2long"
    revises_past = True

    def __init__(self, settings: Sam2LongConfig) -> None:
        super().__init__(settings)
        self.cfg = settings
        if not settings.apply_postprocessing:
            self.dynamic_stability = False

    def options(self) -> dict[str, Any]:
        if self.cfg.apply_postprocessing:
            return {}
        return {"fill_hole_area": 0, "binarize_mask_from_pts": False}

    # ------------------------------------------------------------------ reading the tree
    @staticmethod
    def _record(out: FrameOutput | None) -> Sam2LongRecord | None:
        return out.record if out is not None and isinstance(out.record, Sam2LongRecord) else None

    def _pathway(self, track: TrackView, entry: Entry) -> tuple[Pathway, bool] | None:
        """An entry's pathway, and whether its frame had branched."""
        record = self._record(track.final_output(entry[0]))
        if record is None or entry[1] >= len(record.pathways):
            return None
        return record.pathways[entry[1]], record.branched

    def _reliable(self, path: Pathway) -> bool:
        return path.iou > self.cfg.iou_thre and float(path.output.object_score) > 0

    def _row_plan(self, track: TrackView, frame: int, reverse: bool, prev: int, index: int,
                  ctx: StepContext) -> MemoryPlan[FrameOutput]:
        """The memory of pathway ``index`` of frame ``prev`` read on ``frame``."""
        record = self._record(track.final_output(prev))
        assert record is not None
        entries = [(prev, index), *record.pathways[index].lineage]
        paths = {e: self._pathway(track, e) for e in entries}
        chosen, _ = closest_cond_frames(frame, track.conditioning(), ctx.policy.max_cond_frames_in_attn)
        # memory: the reliable entries and the frame before, nearest first, as many as there are slots
        slots = ctx.memory.num_maskmem - 1
        reliable = [e for e in entries if paths[e] is not None and self._reliable(paths[e][0])]  # type: ignore[index]
        if not reliable or reliable[0] != entries[0]:
            reliable.insert(0, entries[0])
        memory = [e for e in reliable[:slots] if paths[e] is not None][::-1]  # oldest first
        frames = [(0, out) for out in chosen.values()]
        frames += [(slots - (len(memory) - 1 - i), paths[e][0].output) for i, e in enumerate(memory)]  # type: ignore[index]
        frame_scores = [COND_SCORE] * len(chosen) + [float(paths[e][0].output.object_score) for e in memory]  # type: ignore[index]
        # pointers: prompted frames, then branched entries where the object was present (the frame before always)
        max_ptrs = pointer_normaliser(ctx.memory, ctx.num_frames)
        ptr_cond = {t: out for t, out in chosen.items() if (t >= frame if reverse else t <= frame)}
        ptrs = [(abs(frame - t), out) for t, out in ptr_cond.items()]
        ptr_scores = [COND_SCORE] * len(ptrs)
        rank = 0
        for e in entries:
            found = paths[e]
            if found is None or not found[1] or rank + 1 >= max_ptrs:
                continue
            path = found[0]
            if e == entries[0] or float(path.output.object_score) > 0:
                rank += 1  # observed: a pointer's temporal position is its rank, not its distance
                ptrs.append((rank, path.output))
                ptr_scores.append(float(path.output.object_score))
        low, high = self.cfg.weight_low, self.cfg.weight_high
        return MemoryPlan(frames, ptrs, max_ptrs, rank_weights(frame_scores, low, high),
                          rank_weights(ptr_scores, low, high) if ptr_scores else None)

    def _rows(self, track: TrackView, frame: int, reverse: bool) -> tuple[int, Sam2LongRecord | None]:
        prev = previous_frame(frame, reverse)
        return prev, self._record(track.final_output(prev))

    def plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> list[MemoryPlan[FrameOutput]]:
        prev, record = self._rows(track, frame, reverse)
        if record is None:  # the frame after a prompt: tracked once, as SAM 2
            return [plan_memory(track, frame, ctx.memory, ctx.policy, ctx.num_frames, reverse)]
        n = len(record.pathways)
        return [self._row_plan(track, frame, reverse, prev, r % n, ctx) for r in range(self.cfg.num_pathway)]

    def prompt_plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> MemoryPlan[FrameOutput]:
        prev, record = self._rows(track, frame, reverse)
        if record is None:
            return plan_memory(track, frame, ctx.memory, ctx.policy, ctx.num_frames, reverse)
        return self._row_plan(track, frame, reverse, prev, record.shown, ctx)

    # ------------------------------------------------------------------ choosing pathways
    def choose(self, track: TrackView, frame: int, reverse: bool, cands: RowCandidates, ctx: StepContext) -> Choice:
        _, record = self._rows(track, frame, reverse)
        ious = cands.ious.tolist()  # (R, K)
        if record is None:
            best = argmax_iou(cands.ious[0]) if cands.multimask else 0
            iou = ious[0][best]
            return Choice(((0, best if cands.multimask else None),), info=[(-1, iou, _log(iou))])
        n = len(record.pathways)
        totals = [[record.pathways[r % n].score + _log(v) for v in row] for r, row in enumerate(ious)]
        options = [(r, k) for r in range(len(ious)) for k in range(len(ious[r]))]
        options.sort(key=lambda rk: -totals[rk[0]][rk[1]])  # stable: the first pathway and candidate win ties
        uncertain = max(abs(float(s)) for s in cands.object_scores.flatten()) < self.cfg.uncertainty
        if uncertain:  # one new pathway per candidate mask, each from the pathway that scores best with it
            firsts: dict[int, tuple[int, int]] = {}
            for r, k in options:
                firsts.setdefault(k, (r, k))
            distinct = list(firsts.values())  # in order of score
            picks = distinct + [o for o in options if o not in distinct]
        else:
            picks = options
        picks = picks[: self.cfg.num_pathway]
        info = [(r % n, ious[r][k], totals[r][k]) for r, k in picks]
        return Choice(tuple((r, k if cands.multimask else None) for r, k in picks), info=info)

    def finish(self, track: TrackView, frame: int, reverse: bool, choice: Choice, outputs: list[FrameOutput],
               ctx: StepContext) -> Step:
        prev, record = self._rows(track, frame, reverse)
        paths = []
        for (parent, iou, score), out in zip(choice.info, outputs):
            lineage: tuple[Entry, ...] = ()
            if record is not None:
                lineage = self._trim(track, frame, ((prev, parent), *record.pathways[parent].lineage), ctx)
            paths.append(Pathway(out, float(iou), float(score), parent, lineage))
        shown = max(range(len(paths)), key=lambda i: (paths[i].score, -i))  # the best so far (the first of equals)
        new = Sam2LongRecord(tuple(paths), shown, record is not None)
        return Step(replace(paths[shown].output, record=new))

    def _trim(self, track: TrackView, frame: int, entries: tuple[Entry, ...], ctx: StepContext) -> tuple[Entry, ...]:
        """The entries a pathway may still read from the next frame on: those within pointer reach,
        and the newest reliable ones (as many as memory slots)."""
        reach = ctx.memory.max_obj_ptrs_in_encoder - 1
        slots = ctx.memory.num_maskmem - 1
        kept, reliable, pointed = [], 0, 0
        for e in entries:
            found = self._pathway(track, e)
            if found is None:
                continue
            path, branched = found
            good = self._reliable(path) and reliable < slots
            points = branched and float(path.output.object_score) > 0 and pointed < reach
            reliable += int(self._reliable(path))
            pointed += int(branched and float(path.output.object_score) > 0)
            if e == entries[0] or good or points:
                kept.append(e)
        return tuple(kept)

    def prompt_record(self, track: TrackView, frame: int, reverse: bool, output: FrameOutput,
                      choice: Choice | None, ctx: StepContext) -> FrameRecord | None:
        return None  # a prompted frame has no pathways: the tree (re)starts after it

    # ------------------------------------------------------------------ the final choice and streams
    def settle(self, track: TrackView, frames: list[int], reverse: bool) -> dict[int, FrameOutput]:
        """Every frame of the tree that ends on the run's last frame shows the pathway that scores best there."""
        if not frames:
            return {}
        frame = frames[-1]
        record = self._record(track.final_output(frame))
        if record is None:
            return {}
        index = max(range(len(record.pathways)), key=lambda i: (record.pathways[i].score, -i))
        changed: dict[int, FrameOutput] = {}
        while record is not None:
            if index != record.shown:
                path = record.pathways[index]
                changed[frame] = replace(path.output, record=replace(record, shown=index))
            parent = record.pathways[index].parent
            if parent < 0:
                break
            frame = previous_frame(frame, reverse)
            record, index = self._record(track.tracked_output(frame)), parent
        return changed

    def attendable(self, track: TrackView, frame: int, ctx: StepContext) -> tuple[set[int], set[int]]:
        prev, record = self._rows(track, frame, False)
        keep = {prev}
        if record is not None:
            for path in record.pathways:
                keep.update(t for t, _ in path.lineage)
        return keep, set()


def _log(iou: float) -> float:
    return math.log(iou) if iou > 0 else -math.inf
