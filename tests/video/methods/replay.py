"""samstream's run of a method on a committed trace's clip and weights, and what it chose.

``replay(trace)`` rebuilds the trace's random weights (failing when their SHA-256 differs: a torch
whose random init changed must not compare wrongly), reads the trace's own JPEG files, prompts its
box on frame 0 and propagates with the trace's method through samstream's public API. A
:class:`Recorder` wraps the session's method to record, per frame, the memories and pointers it
planned and the candidates it chose, in the trace's terms (``[frame, tpos row]``, ``[frame, t / t_max]``).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from samstream import VideoPredictor
from samstream.config import config_from_dict
from samstream.video.predictor import VideoSession
from samstream.video.options import VideoOptions

from .make_traces import build_weights, load_trace, run_fork, state_sha256, write_jpegs
from .trace_summary import summarize

TRACES = Path(__file__).resolve().parent / "traces"


@dataclass
class Replay:
    logits: np.ndarray  # (T, H, W) video-resolution logits
    scores: np.ndarray  # (T,) object scores
    frames: dict[int, dict[str, Any]] = field(default_factory=dict)  # per frame: what the method planned and chose
    outputs: dict[int, Any] = field(default_factory=dict)  # per frame: the stored output (records included)


class Recorder:
    """Wraps a session's method: every call goes to it, and plans and choices are written down."""

    def __init__(self, method: Any, session: VideoSession) -> None:
        self._method = method
        self._session = session
        self.frames: dict[int, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._method, name)

    def _frame_of(self, out: Any, pointer: bool = False) -> Any:
        """The frame (or [frame, pathway]) an output belongs to; a pointer equal to the learned
        no-object pointer is named "no_obj", as the traces name it (they identify pointers by value)."""
        if pointer and torch.equal(out.obj_ptr, self._session.model.no_obj_ptr.to(out.obj_ptr)):
            return "no_obj"
        for track in self._session.state.tracks():
            for t in track.frames():
                if track.final_output(t) is out:
                    return t
                record = getattr(track.final_output(t), "record", None)
                for k, path in enumerate(getattr(record, "pathways", ()) or ()):
                    if path.output is out:
                        return [t, k]
        return "?"

    def plan(self, track: Any, frame: int, reverse: bool, ctx: Any) -> Any:
        plans = self._method.plan(track, frame, reverse, ctx)
        top = ctx.memory.num_maskmem - 1
        info = self.frames.setdefault(frame, {})
        info["memory"] = [[[self._frame_of(out), top - slot] for slot, out in p.frames] for p in plans]
        info["pointers"] = [[[self._frame_of(out, True), round(d / (p.max_ptrs - 1), 4)] for d, out in p.ptrs]
                            for p in plans]
        info["weights"] = [(p.frame_weights, p.ptr_weights) for p in plans]
        return plans

    def choose(self, track: Any, frame: int, reverse: bool, cands: Any, ctx: Any) -> Any:
        choice = self._method.choose(track, frame, reverse, cands, ctx)
        info = self.frames.setdefault(frame, {})
        info["picks"] = list(choice.picks)
        info["ious"] = cands.ious.tolist()
        info["scores"] = cands.object_scores.flatten().tolist()
        info["as_cond"] = choice.as_cond
        info["choice_info"] = choice.info
        return choice


def trace_model(meta: dict) -> torch.nn.Module:
    cfg = config_from_dict(meta["samstream_config"])
    model = build_weights(cfg, meta["weights_seed"], meta["weight_ops"])
    digest = state_sha256(model.state_dict())
    assert digest == meta["weights_sha256"], (
        f"the trace's weights could not be rebuilt (SHA-256 {digest} != {meta['weights_sha256']}): torch's "
        "random init or samstream's layout changed; remake the traces (tests/video/methods/README.md)")
    return model


class WrapperFrames:
    """Frames as DAM4SAM's wrapper prepares them: the RGB array as a float tensor / 255, resized as a
    tensor (torchvision, antialiased), then normalised (SAM 2's loader resizes the uint8 image with PIL)."""

    def __init__(self, jpegs: list[bytes], size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        import torchvision.transforms.functional as TF

        self._images = [np.array(Image.open(io.BytesIO(b)).convert("RGB")) for b in jpegs]
        self._resize, self._size = TF.resize, size
        self._mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(std, dtype=torch.float32)[:, None, None]
        self.height, self.width = self._images[0].shape[:2]

    def __len__(self) -> int:
        return len(self._images)

    def tensor(self, index: int) -> torch.Tensor:
        img = torch.from_numpy(self._images[index]).permute(2, 0, 1).float() / 255.0
        img = self._resize(img, (self._size, self._size))
        return (img - self._mean) / self._std


def open_session(trace: dict, model: torch.nn.Module, folder: Path, **options: Any) -> VideoSession:
    meta = trace["meta"]
    opts = {"fill_hole_area": 0, "memory_dtype": torch.float32, "method": meta["method"], **options}
    if meta["method"] == "dam4sam":
        cfg = model.cfg
        frames = WrapperFrames(trace["jpegs"], cfg.image_size, cfg.pixel_mean, cfg.pixel_std)
        return VideoSession(model, VideoOptions(**opts), frames)
    return VideoPredictor(model).open(write_jpegs(trace["jpegs"], folder), warm_up=False, **opts)


def fresh_trace(fork: Path, method: str) -> dict:
    """The committed trace of ``method`` with its outputs and choices replaced by a new run of the
    authors' code from the local checkout ``fork`` (same clip, weights and settings)."""
    trace = load_trace(TRACES / f"{method}.npz")
    meta = trace["meta"]
    settings = {k: meta[k] for k in ("method", "samstream_config", "fork_config", "overrides", "weights_seed",
                                     "weight_ops", "params", "weights_sha256")}
    with tempfile.TemporaryDirectory() as tmp:
        result, _ = run_fork(fork, method, settings, trace["jpegs"], meta["box_xyxy"], Path(tmp))
    logits = result["logits"]
    t, h, w = logits.shape
    yx = trace["sample_yx"]
    counters, frames = summarize(method, result["info"])
    return {**trace, "meta": {**meta, "counters": counters, "frames": frames},
            "sample_logits": logits[:, yx[:, 0], yx[:, 1]].astype(np.float32),
            "logit_absmax": np.abs(logits).reshape(t, -1).max(1).astype(np.float32),
            "mask_bits": np.packbits((logits > 0).reshape(t, -1), axis=1), "obj_score": result["scores"].astype(np.float32)}


def replay(method: str, trace: dict | None = None, **options: Any) -> tuple[dict, Replay]:
    """Run samstream's ``method`` on its trace (or on ``trace``); returns (trace, replay)."""
    trace = trace if trace is not None else load_trace(TRACES / f"{method}.npz")
    model = trace_model(trace["meta"])
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        with open_session(trace, model, Path(tmp) / "frames", **options) as session:
            recorder = Recorder(session.tracker.engine.method, session)
            session.tracker.engine.method = recorder  # type: ignore[assignment]
            first = session.add_box(0, 1, trace["meta"]["box_xyxy"])
            results = {0: first}
            for result in session.propagate():
                results[result.frame_idx] = result
            logits = np.stack([results[f].logits[0].numpy() for f in sorted(results)])
            scores = np.array([float(results[f].object_scores[0]) for f in sorted(results)], dtype=np.float32)
            track = session.state.track(1)
            outputs = {t: track.final_output(t) for t in track.frames()}
            return trace, Replay(logits, scores, recorder.frames, outputs)


def relative_errors(trace: dict, run: Replay) -> tuple[list[float], list[int]]:
    """Per frame: max |Δ logit| / max(1, max |logit|) at the trace's sample pixels, and the number of
    mask pixels that differ away from the threshold (where samstream's logit is not within tolerance of 0)."""
    tol = trace["meta"]["logit_tolerance"]
    h, w = (int(v) for v in trace["mask_shape"])
    yx = trace["sample_yx"]
    rel, bad = [], []
    for f in range(run.logits.shape[0]):
        scale = max(1.0, float(trace["logit_absmax"][f]))
        ours = run.logits[f]
        rel.append(float(np.abs(ours[yx[:, 0], yx[:, 1]].astype(np.float64) - trace["sample_logits"][f]).max()) / scale)
        bits = np.unpackbits(trace["mask_bits"][f])[: h * w].reshape(h, w).astype(bool)
        near = np.abs(ours) <= tol * scale
        bad.append(int(((ours > 0) != bits)[~near].sum()))
    return rel, bad

