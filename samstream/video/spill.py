"""Per-frame outputs of one object that live on disk once there are too many to keep in memory.

The offline predictor keeps every tracked frame's output (for random access: re-propagation, a
correction anywhere, results on demand). For a long video that grows without bound, so with
``VideoOptions(max_outputs_in_memory=N)`` each object's tracked outputs go into a
:class:`SpilledOutputs` (an :class:`~samstream.video.frame_outputs.OutputStore`): the ``N`` most recently used stay in memory, older ones are written to a
temporary folder and read back when asked for. Tracking touches only the last few frames, so
propagation reads nothing back; the folder is removed when the session closes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch

from samstream.video.frame_outputs import FrameOutput, OutputStore, output_from_data, output_to_data


class SpillFolder:
    """A temporary folder shared by the spilled stores of one session."""

    def __init__(self, parent: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="samstream-spill-", dir=parent))
        self._next = 0

    def new_prefix(self) -> str:
        self._next += 1
        return f"obj{self._next}"

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class SpilledOutputs(OutputStore):
    """frame -> :class:`FrameOutput`, at most ``capacity`` of them in memory, the rest on disk."""

    def __init__(self, folder: SpillFolder, capacity: int) -> None:
        self.folder = folder
        self.prefix = folder.new_prefix()
        self.capacity = max(1, capacity)
        self._hot: OrderedDict[int, FrameOutput] = OrderedDict()
        self._cold: set[int] = set()
        self.reads = 0  # outputs read back from disk (for tests and diagnostics)

    def _file(self, frame: int) -> Path:
        return self.folder.path / f"{self.prefix}_{frame}.pt"

    def get(self, frame: int) -> FrameOutput | None:
        out = self._hot.get(frame)
        if out is not None:
            self._hot.move_to_end(frame)
            return out
        if frame not in self._cold:
            return None
        data = torch.load(self._file(frame), weights_only=True)
        self.reads += 1
        out = output_from_data(data, lambda tensor, field: tensor)  # back where it was: a spill never moves devices
        self._cold.discard(frame)
        self._file(frame).unlink(missing_ok=True)
        self._put(frame, out)
        return out

    def put(self, frame: int, out: FrameOutput) -> None:
        if frame in self._cold:
            self._cold.discard(frame)
            self._file(frame).unlink(missing_ok=True)
        self._put(frame, out)

    def _put(self, frame: int, out: FrameOutput) -> None:
        self._hot[frame] = out
        self._hot.move_to_end(frame)
        while len(self._hot) > self.capacity:
            old_frame, old = self._hot.popitem(last=False)
            torch.save(output_to_data(old, to_cpu=False), self._file(old_frame))
            self._cold.add(old_frame)

    def drop(self, frame: int) -> None:
        if frame in self._hot:
            del self._hot[frame]
        elif frame in self._cold:
            self._cold.discard(frame)
            self._file(frame).unlink(missing_ok=True)

    def __contains__(self, frame: int) -> bool:
        return frame in self._hot or frame in self._cold

    def frames(self) -> list[int]:
        return sorted([*self._hot, *self._cold])

    def __len__(self) -> int:
        return len(self._hot) + len(self._cold)

    def in_memory(self) -> list[FrameOutput]:
        return list(self._hot.values())

    def clear(self) -> None:
        for frame in list(self._cold):
            self._file(frame).unlink(missing_ok=True)
        self._cold.clear()
        self._hot.clear()
