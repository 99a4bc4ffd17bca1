"""What a track keeps per frame: :class:`FrameOutput`, and the stores that hold them.

A tracked frame's output is one object's mask logits, object pointer, object score and (once
committed) memory. A track keeps its tracked frames' outputs in an :class:`OutputStore`: in
memory (:class:`MemoryOutputs`) or partly on disk (:mod:`samstream.video.spill`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

from torch import Tensor


@dataclass
class FrameOutput:
    """One object's result on one frame, and the memory made from it (batch B = 1 in a track)."""

    low_res_logits: Tensor | None  # (B, 1, S/4, S/4) mask logits (holes filled); None once only the pointer is kept
    obj_ptr: Tensor  # (B, C) object pointer
    object_score: Tensor  # (B, 1) object-presence logit
    memory: Tensor | None = None  # (B, mem_dim, h, w) encoded memory, None until committed

    def nbytes(self) -> int:
        tensors = [self.low_res_logits, self.obj_ptr, self.object_score, self.memory]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def pointer_only(self) -> "FrameOutput":
        """This output past the memory window: only its object pointer is still attended to."""
        return replace(self, low_res_logits=None, memory=None)


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
