"""What a track keeps per frame: :class:`FrameOutput`, and the stores that hold them.

A tracked frame's output is one object's mask logits, object pointer, object score and (once
committed) memory. A track keeps its tracked frames' outputs in an :class:`OutputStore`: in
memory (:class:`MemoryOutputs`) or partly on disk (:mod:`samstream.video.spill`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from torch import Tensor

# where a restored tensor goes: (tensor, field name) -> tensor (masks and memories to the state's
# storage, pointers and scores to the model's device)
Place = Callable[[Tensor, str], Tensor]
_OUTPUT_FIELDS = ("low_res_logits", "obj_ptr", "object_score", "memory")


class FrameRecord:
    """What a tracking method (:mod:`samstream.video.methods`) keeps with one object's output on one
    frame: its state after that frame (a motion filter, a size history, the hypotheses it keeps).

    Keeping it with the frame's output is what makes a method's state exact per frame: the studio
    stores each frame's state, and tracking on from restored states reads the same records. A record
    is immutable; subclasses are frozen dataclasses that name their ``kind`` and write themselves as
    plain data (numbers, strings, lists, dicts and tensors)."""

    kind: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type["FrameRecord"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            FrameRecord._kinds[cls.kind] = cls

    def to_data(self, to_cpu: bool = True) -> dict[str, Any]:
        """Plain data; tensors moved to the CPU unless ``to_cpu`` is False."""
        raise NotImplementedError

    @classmethod
    def from_data(cls, data: dict[str, Any], place: Place) -> "FrameRecord":
        raise NotImplementedError

    def pointer_only(self) -> "FrameRecord":
        """The record of an output past the memory window (only its pointer is kept)."""
        return self

    def nbytes(self) -> int:
        """Bytes of tensors the record holds beyond its output's own."""
        return 0


@dataclass
class FrameOutput:
    """One object's result on one frame, and the memory made from it (batch B = 1 in a track)."""

    low_res_logits: Tensor | None  # (B, 1, S/4, S/4) mask logits (holes filled); None once only the pointer is kept
    obj_ptr: Tensor  # (B, C) object pointer
    object_score: Tensor  # (B, 1) object-presence logit
    memory: Tensor | None = None  # (B, mem_dim, h, w) encoded memory, None until committed
    record: FrameRecord | None = None  # the tracking method's state after this frame (None: SAM 2 keeps none)

    def nbytes(self) -> int:
        tensors = [self.low_res_logits, self.obj_ptr, self.object_score, self.memory]
        extra = 0 if self.record is None else self.record.nbytes()
        return sum(t.numel() * t.element_size() for t in tensors if t is not None) + extra

    def pointer_only(self) -> "FrameOutput":
        """This output past the memory window: only its object pointer is still attended to."""
        record = None if self.record is None else self.record.pointer_only()
        return replace(self, low_res_logits=None, memory=None, record=record)


def output_to_data(out: FrameOutput, to_cpu: bool = True) -> dict[str, Any]:
    """An output as plain data (tensors in their dtypes; on the CPU, or where they are with
    ``to_cpu`` False), its record included."""
    data: dict[str, Any] = {}
    for k in _OUTPUT_FIELDS:
        value = getattr(out, k)
        data[k] = None if value is None else (value.detach().cpu() if to_cpu else value.detach())
    if out.record is not None:
        data["record"] = {"kind": out.record.kind, **out.record.to_data(to_cpu)}
    return data


def output_from_data(data: dict[str, Any], place: Place) -> FrameOutput:
    """The output :func:`output_to_data` wrote (data without a record: one written before records existed)."""
    if not isinstance(data["obj_ptr"], Tensor) or not isinstance(data["object_score"], Tensor):
        raise TypeError("an output's obj_ptr and object_score must be tensors")
    tensors = {k: None if data[k] is None else place(data[k], k) for k in _OUTPUT_FIELDS}
    record = None
    if data.get("record") is not None:
        info = dict(data["record"])
        kind = info.pop("kind")
        if kind not in FrameRecord._kinds:
            raise ValueError(f"unknown tracking-method record {kind!r}")
        record = FrameRecord._kinds[kind].from_data(info, place)
    return FrameOutput(**tensors, record=record)  # type: ignore[arg-type]


class OutputStore(ABC):
    """frame -> output of a tracked (non-conditioning) frame: where a track keeps them."""

    @abstractmethod
    def get(self, frame: int) -> FrameOutput | None: ...

    @abstractmethod
    def put(self, frame: int, out: FrameOutput) -> None: ...

    @abstractmethod
    def drop(self, frame: int) -> None:
        """Forget a frame's output (nothing happens when there is none)."""

    @abstractmethod
    def frames(self) -> list[int]:
        """Frames that have an output, in increasing order."""

    @abstractmethod
    def in_memory(self) -> list[FrameOutput]:
        """Outputs held in memory (not those on disk)."""

    @abstractmethod
    def clear(self) -> None: ...

    def __contains__(self, frame: int) -> bool:
        return self.get(frame) is not None

    def __len__(self) -> int:
        return len(self.frames())


class MemoryOutputs(OutputStore):
    """Tracked outputs kept in a dict."""

    def __init__(self) -> None:
        self._outs: dict[int, FrameOutput] = {}

    def get(self, frame: int) -> FrameOutput | None:
        return self._outs.get(frame)

    def put(self, frame: int, out: FrameOutput) -> None:
        self._outs[frame] = out

    def drop(self, frame: int) -> None:
        self._outs.pop(frame, None)

    def frames(self) -> list[int]:
        return sorted(self._outs)

    def in_memory(self) -> list[FrameOutput]:
        return list(self._outs.values())

    def clear(self) -> None:
        self._outs.clear()

    def __contains__(self, frame: int) -> bool:
        return frame in self._outs

    def __len__(self) -> int:
        return len(self._outs)
