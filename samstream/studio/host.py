"""What one inference worker runs: the annotator, automatic masklets and "segment everything".

An :class:`InferenceHost` owns a model and the warm sessions of the videos pinned to its worker. It
reads and writes the studio's state only through a store and publishes only through an event sink,
so the same host runs on the web process's worker thread (over the store itself) or in a worker
process or Ray actor (over proxies that forward each call to the web process, which stays the only
writer of SQLite): see :mod:`samstream.studio.workers`. Every public method is one request a pool
may send (by name); arguments and results are plain values and typed edits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samstream.checkpoints import load_model
from samstream.studio.annotate import Annotator
from samstream.studio.auto import AutoMasklets, propose
from samstream.studio.edits import ClearEdit, PromptEdit, PropagateRequest
from samstream.studio.sessions import SessionCache
from samstream.studio.worker import Worker

__all__ = ["HostSpec", "InferenceHost"]


@dataclass(frozen=True)
class HostSpec:
    """How to build a host (sent to worker processes and actors, so plain values only)."""

    data_dir: str
    model: str  # registry name or checkpoint path
    device: str = "cpu"
    image_size: int | None = None
    session_memory: int = 2 << 30  # bytes the warm sessions of this host may hold together
    feature_cache: int = 256 << 20  # bytes of image features each session keeps
    outputs_in_memory: int = 32
    threads: int | None = None  # CPU threads torch may use in a worker process (None: torch's choice)

    def load_model(self, name: str | None = None) -> Any:
        """The model (``name``: another registry name or checkpoint path than the spec's), loaded without
        downloading (a registry name must be cached where the host runs)."""
        return load_model(name or self.model, device=self.device, image_size=self.image_size, allow_download=False)


class InferenceHost:
    """The model work of a studio for the videos pinned to one worker."""

    def __init__(self, spec: HostSpec, store: Any, hub: Any, worker: Worker, model: Any | None = None) -> None:
        self.spec = spec
        self.worker = worker
        self.sessions = SessionCache(store, Path(spec.data_dir), spec.session_memory, {}, spec.outputs_in_memory)
        model = model if model is not None else spec.load_model()
        self.annotator = Annotator(store, hub, worker, self.sessions, model, spec.feature_cache)
        self.annotator.warm_up()
        self.auto = AutoMasklets(self.annotator)
        self.model_name = spec.model

    # ------------------------------------------------------------------ edits and runs
    def prompt(self, video_id: int, edit: PromptEdit, person: str | None, request: str | None) -> dict[str, Any]:
        """Apply the prompt ``edit`` to video ``video_id`` as ``person``; ``request``: the client's request id for
        ``busy`` events. Returns the reply of :meth:`Annotator.prompt`."""
        return self.annotator.prompt(video_id, edit, person, request)

    def clear(self, video_id: int, edit: ClearEdit, person: str | None) -> dict[str, Any]:
        """Remove the prompts of ``edit``'s object on its frame of video ``video_id`` as ``person``; returns the
        reply of :meth:`Annotator.clear`."""
        return self.annotator.clear(video_id, edit, person)

    def history(self, video_id: int, undo: bool, person: str | None) -> dict[str, Any]:
        """Undo (``undo`` True) or redo ``person``'s latest action on video ``video_id``; returns the reply of
        :meth:`Annotator.history`."""
        return self.annotator.history(video_id, undo, person)

    def propagate(self, video_id: int, req: PropagateRequest, person: str | None) -> dict[str, Any]:
        """Start the propagation run ``req`` of video ``video_id`` as ``person``; returns the reply of
        :meth:`Annotator.propagate` (the run goes on in the background)."""
        return self.annotator.propagate(video_id, req, person)

    def resume(self, video_id: int, person: str | None) -> dict[str, Any]:
        """Continue the interrupted propagation of video ``video_id`` as ``person``; returns the reply of
        :meth:`Annotator.resume`."""
        return self.annotator.resume(video_id, person)

    def cancel(self, video_id: int) -> bool:
        """Stop the propagation of video ``video_id``; returns whether one was running here."""
        return self.annotator.cancel(video_id)

    def running(self) -> list[int]:
        """Videos whose propagation runs here now."""
        return sorted(self.annotator.running)

    def forget_object(self, video_id: int, obj_id: int) -> None:
        """Drop the deleted object ``obj_id`` from the warm session of video ``video_id``."""
        self.annotator.forget_object(video_id, obj_id)

    def video_changed(self, video_id: int, reason: str) -> None:
        """The tracking method of video ``video_id`` changed (``reason``, told to the page when a run stops): its
        run stops; its session is rebuilt with the new one."""
        self.annotator.video_changed(video_id, reason)

    def drop(self, video_id: int) -> None:
        """Close the warm session of video ``video_id`` (after an import: its new prompts are applied at the next
        build)."""
        self.annotator.drop(video_id)

    def set_focus(self, video_id: int, frame: int) -> None:
        """Frame ``frame`` of video ``video_id`` is on an annotator's screen: encode frames around it while idle."""
        self.annotator.set_focus(video_id, frame)

    # ------------------------------------------------------------------ proposals
    def propose(self, rgb: np.ndarray, options: dict[str, Any]) -> list[tuple[dict[str, Any], float, list[int]]]:
        """'Segment everything' on one frame ``rgb`` ((H, W, 3) uint8) with generator ``options``: (COCO RLE,
        predicted IoU, XYWH box) per proposal, best first (see :func:`~samstream.studio.auto.propose`)."""
        return propose(self.annotator.model, rgb, options)

    def auto_start(self, video_id: int, options: dict[str, Any]) -> dict[str, Any]:
        """Start automatic masklets over video ``video_id`` with generator ``options``; returns ``run_id``,
        ``total`` and ``options``."""
        return self.auto.start(video_id, options)

    def auto_cancel(self, video_id: int) -> bool:
        """Stop the automatic-masklet run of video ``video_id``; returns whether one was running."""
        return self.auto.cancel(video_id)

    def auto_accept(self, video_id: int, proposal_id: int, name: str | None, category: str,
                    person: str | None) -> dict[str, Any]:
        """Make masklet proposal ``proposal_id`` of video ``video_id`` an object named ``name`` (None:
        ``masklet <id>``) in ``category``, made by ``person``; returns the reply of :meth:`AutoMasklets.accept`."""
        return self.auto.accept(video_id, proposal_id, name, category, person)

    # ------------------------------------------------------------------ the host itself
    def switch_model(self, name: str) -> str:
        """Load ``name`` (a registry name or checkpoint path) and use it from now on; every run of the old model
        stops first (propagations resumable). Returns ``name``."""
        model = self.spec.load_model(name)
        self.auto.cancel_all("model switched")
        self.annotator.set_model(model)
        self.model_name = name
        return name

    def image_size(self) -> int:
        """The model's input size in pixels (the side of its square input)."""
        return int(self.annotator.model.image_size)

    def stats(self) -> dict[str, Any]:
        """Counted model work of this host (``images_encoded``, ``frames_tracked``, ``prompts_decoded``,
        ``memories_encoded``) and its sessions: ``sessions_built``, ``warm_sessions`` (video ids), ``warm_bytes``,
        ``session_budget`` (bytes) and ``running`` (videos whose propagation runs here)."""
        warm = [w for w in (self.sessions.peek(v) for v in self.sessions.video_ids()) if w is not None]
        return {**asdict(self.annotator.counts()), "sessions_built": self.sessions.builds,
                "warm_sessions": [w.video.id for w in warm], "warm_bytes": sum(w.nbytes() for w in warm),
                "session_budget": self.sessions.budget, "running": self.running()}

    def close(self, reason: str = "server stopping") -> None:
        """Stop every run (resumable, for ``reason``) and close every session."""
        self.auto.cancel_all(reason)
        self.annotator.close_all(reason)
