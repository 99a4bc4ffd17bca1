"""What a tracking method is to the tracker core: a policy the core consults on every step.

The core (:mod:`samstream.video.engine`, :mod:`samstream.video.tracker`) runs one loop for every
method. On a tracked frame it asks the object's method

1. :meth:`TrackingMethod.plan` — which memories each of the object's hypotheses reads (one
   :class:`~samstream.video.memory_bank.MemoryPlan` per hypothesis: SAM 2, SAMURAI and DAM4SAM
   keep one, SAM2Long several);
2. runs memory attention and the decoder for every hypothesis, and gives the method all candidate
   masks (:class:`RowCandidates`);
3. :meth:`TrackingMethod.choose` — which (hypothesis, candidate) pairs become outputs, and whether
   the frame's memory is stored as a conditioning frame (:class:`Choice`);
4. encodes the memories of the chosen pairs and asks :meth:`TrackingMethod.finish` for the one
   output the track keeps on the frame, the method's state (:class:`FrameRecord`) attached to it.

A method's per-object state lives only in those records, one per (object, frame): a method object
holds settings, never per-video data, so objects are independent and a frame's state restored from
a store tracks on exactly as if tracking had never stopped.

:class:`TrackingMethod` itself is SAM 2's behaviour; the other methods override what they change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.config import TRACKING_METHODS, MemoryConfig, TrackingConfig
from samstream.errors import InvalidInputError
from samstream.video.frame_outputs import FrameOutput, FrameRecord
from samstream.video.memory_bank import MemoryPlan, attendable_frames, plan_memory


class TrackView(Protocol):
    """What a method reads of one object's track (it never changes a track)."""

    def conditioning(self) -> Mapping[int, FrameOutput]:
        """frame -> committed conditioning output, in the order they were added."""
        ...

    def tracked_output(self, frame: int) -> FrameOutput | None:
        """The committed output of a tracked (non-conditioning) frame, or None."""
        ...

    def final_output(self, frame: int) -> FrameOutput | None:
        """The committed output on a frame: its conditioning output, else its tracked one."""
        ...

    def is_prompted(self, frame: int) -> bool:
        """Whether the frame holds the user's prompts (a method may add conditioning frames of its own)."""
        ...


@dataclass(frozen=True)
class StepContext:
    """The session's facts a method may need on a step."""

    memory: MemoryConfig  # the model's memory layout
    policy: TrackingConfig  # the session's tracking policy
    num_frames: int | None  # the video's length (None: a stream)
    image_size: int  # the model's input size S
    video_hw: tuple[int, int]  # (height, width) of the video


@dataclass(frozen=True)
class RowCandidates:
    """The decoder's candidates for one object's hypotheses on a frame (R rows, K candidates)."""

    low_res: Tensor  # (R, K, S/4, S/4) logits, -1024 everywhere for an absent object
    ious: Tensor  # (R, K) predicted IoUs
    object_scores: Tensor  # (R, 1) object-presence logits
    multimask: bool  # whether the K candidates are the multi-mask outputs (K > 1)


@dataclass(frozen=True)
class Choice:
    """Which candidates become outputs: ``picks`` (row, candidate) in order; ``index`` None means
    the decoder gave one output (no choice). ``as_cond``: the frame's memory is encoded from the
    binarised mask and the frame becomes a conditioning frame (DAM4SAM's distractor-resolving
    memory). ``info``: what the method needs again in :meth:`TrackingMethod.finish`."""

    picks: tuple[tuple[int, int | None], ...]
    as_cond: bool = False
    info: Any = None


@dataclass(frozen=True)
class Step:
    """The output a track keeps on a tracked frame, and whether it is a conditioning frame."""

    output: FrameOutput
    as_cond: bool = False


def upsample(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (align_corners False, as SAM 2) of (..., h, w) logits to ``size``."""
    shape = logits.shape
    flat = logits.reshape(-1, 1, *shape[-2:]).float()
    return F.interpolate(flat, size=size, mode="bilinear", align_corners=False).reshape(*shape[:-2], *size)


def argmax_iou(ious: Tensor) -> int:
    """The first candidate with the highest predicted IoU (torch's argmax, as SAM 2 chooses)."""
    return int(torch.argmax(ious, dim=-1))


def previous_frame(frame: int, reverse: bool) -> int:
    """The frame tracking reached ``frame`` from."""
    return frame + 1 if reverse else frame - 1


METHOD_NAMES = TRACKING_METHODS


def check_method(method: Any) -> None:
    """Refuse what is neither a method's name nor a settings object (one line, naming the choices)."""
    if isinstance(method, MethodSettings) or (isinstance(method, str) and method in METHOD_NAMES):
        return
    raise InvalidInputError(f"method: expected one of {', '.join(METHOD_NAMES)} or a settings object "
                            f"(SamuraiConfig, Dam4samConfig, Sam2LongConfig), got {method!r}")


@dataclass(frozen=True)
class MethodSettings:
    """Settings shared by every method's settings object (each method's ``...Config`` extends it)."""

    name: str = field(default="sam2", init=False)

    def describe(self) -> dict[str, Any]:
        """The settings as plain data (recorded with session files)."""
        return asdict(self)


class TrackingMethod:
    """SAM 2's own tracking: one hypothesis, the candidate with the highest predicted IoU, the memory
    window of the last ``num_maskmem - 1`` tracked frames (with the policy's stride), no state."""

    name = "sam2"
    presence_threshold = 0.0  # an object whose score is not above this is absent (masks -1024, no-object pointer)
    dynamic_stability: bool | None = None  # single-mask fallback on unstable masks (None: the model's setting)
    revises_past = False  # whether the outputs of tracked frames change once a propagation run has ended
    prompt_box_as_mask = False  # a box alone is first turned into a mask by the decoder, then prompted as a mask

    def __init__(self, settings: MethodSettings | None = None) -> None:
        self.settings = settings if settings is not None else Sam2Config()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"

    # ------------------------------------------------------------------ session
    def options(self) -> dict[str, Any]:
        """Session options the authors' setup fixes (``VideoOptions`` fields); empty: the session's own."""
        return {}

    def tracking(self, policy: TrackingConfig) -> TrackingConfig:
        """The tracking policy the method runs under (the session's, by default)."""
        return policy

    # ------------------------------------------------------------------ tracked frames
    def plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> list[MemoryPlan[FrameOutput]]:
        """One memory plan per hypothesis of the object on ``frame`` (a frame it has no prompt on)."""
        return [plan_memory(track, frame, ctx.memory, ctx.policy, ctx.num_frames, reverse)]

    def choose(self, track: TrackView, frame: int, reverse: bool, cands: RowCandidates,
               ctx: StepContext) -> Choice:
        return Choice(((0, argmax_iou(cands.ious[0]) if cands.multimask else None),))

    def finish(self, track: TrackView, frame: int, reverse: bool, choice: Choice, outputs: list[FrameOutput],
               ctx: StepContext) -> Step:
        """The output kept on the frame, from the outputs of ``choice.picks`` (memories encoded)."""
        return Step(outputs[0], choice.as_cond)

    # ------------------------------------------------------------------ prompted frames
    def prompt_plan(self, track: TrackView, frame: int, reverse: bool, ctx: StepContext) -> MemoryPlan[FrameOutput]:
        """The memory a prompt on an already tracked frame (a correction) is decoded with."""
        return plan_memory(track, frame, ctx.memory, ctx.policy, ctx.num_frames, reverse)

    def choose_prompt(self, track: TrackView, frame: int, reverse: bool, cands: RowCandidates,
                      ctx: StepContext) -> Choice:
        """The candidate a prompt's output takes (SAM 2: the best predicted IoU)."""
        return Choice(((0, argmax_iou(cands.ious[0]) if cands.multimask else None),))

    def prompt_record(self, track: TrackView, frame: int, reverse: bool, output: FrameOutput,
                      choice: Choice | None, ctx: StepContext) -> FrameRecord | None:
        """The method's state on a prompted frame (``choice`` None: a mask prompt, taken as it is)."""
        return None

    # ------------------------------------------------------------------ runs and streams
    def settle(self, track: TrackView, frames: list[int], reverse: bool) -> dict[int, FrameOutput]:
        """After a propagation run over ``frames`` (in order): tracked outputs to replace (SAM2Long
        chooses its final hypothesis only then)."""
        return {}

    def attendable(self, track: TrackView, frame: int, ctx: StepContext) -> tuple[set[int], set[int]]:
        """Tracked frames that tracking ``frame`` or a later frame (forward) can still read: (frames
        whose masks and memories are read, frames whose pointers are read). A stream keeps only these."""
        return attendable_frames(frame, ctx.memory, ctx.policy)


@dataclass(frozen=True)
class Sam2Config(MethodSettings):
    """SAM 2 as released: no settings of its own (the session's options apply)."""

    name: str = field(default="sam2", init=False)
