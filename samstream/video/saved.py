"""Session files: a tracker's prompts, outputs and memories written to disk and read back.

A long-running front end (the annotation studio) saves a session and restores it after a restart
without running the model again. The file is a ``torch.save`` of plain data (dicts, lists,
numbers, strings and tensors, loadable with ``torch.load(weights_only=True)``):

- ``model``: the model's configuration and a fingerprint of its parameters (names, shapes, dtypes
  and a sample of the values), so that a file made with another variant or other weights is refused;
- ``video``: frame count, size and a small fingerprint of the first preprocessed frame (16 x 16
  average per channel), so that a file made on another video is refused;
- ``options``: the session options that change results;
- ``objects``: per object, its per-frame entries (prompts, conditioning and pending outputs, the
  direction each frame was tracked in) and its tracked outputs, memories included, in the dtype
  they were stored in.

Image features are not saved (they are recomputed when needed).

One object's state on one frame can also be written on its own (:func:`encode_frame_state`), for a
front end that keeps every frame's state itself and rebuilds sessions from it (the studio).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from samstream.config import TrackingConfig, config_to_dict
from samstream.errors import InvalidInputError
from samstream.files import atomic_write
from samstream.model.sam2 import SAM2Model
from samstream.video.methods import method_from_data, method_to_data
from samstream.video.options import VideoOptions
from samstream.video.frame_outputs import FrameOutput, output_from_data, output_to_data
from samstream.video.state import FrameEntry, FrameState, ObjectTrack, PointPrompt
from samstream.video.tracker import Tracker

FORMAT = "samstream-session"
VERSION = 1
# options that change results, saved with the session and used again on restore
_RESULT_OPTIONS = ("fill_hole_area", "non_overlap_masks", "clear_non_cond_mem_around_input",
                   "add_all_frames_to_correct_as_cond", "binarize_mask_from_pts", "batch_objects", "strict_prompts",
                   "max_cond_frames_in_attn", "method")
# options added after files of this version were first written, with the value those files meant
_LATER_OPTIONS = {"max_cond_frames_in_attn": None, "method": "sam2"}
_FRAME_TOLERANCE = 0.02  # max |difference| of first-frame fingerprints (normalised pixels) still "the same video"


# ------------------------------------------------------------------ fingerprints
def model_fingerprint(model: SAM2Model) -> dict[str, Any]:
    """The configuration and a SHA-256 over parameter names, shapes, dtypes and sampled values."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().flatten()
        sample = flat[:: max(1, flat.numel() // 64)].to("cpu", torch.float64)  # device-independent values
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(sample.numpy().tobytes())
    return {"config": config_to_dict(model.cfg), "params": digest.hexdigest()}


def video_fingerprint(tracker: Tracker, first_frame: Tensor) -> dict[str, Any]:
    """Frame count, (height, width) and a (3, 16, 16) average of the first preprocessed frame."""
    small = F.adaptive_avg_pool2d(first_frame.detach().to("cpu", torch.float32)[None], 16)[0]
    h, w = tracker.video_hw
    return {"num_frames": tracker.num_frames, "height": h, "width": w, "first_frame": small}


# ------------------------------------------------------------------ encoding
def _output_data(out: FrameOutput | None) -> dict[str, Any] | None:
    return None if out is None else output_to_data(out)


def _entry_data(frame: int, e: FrameEntry) -> dict[str, Any]:
    return {
        "frame": frame,
        "points": None if e.points is None else {"coords": e.points.coords.cpu(), "labels": e.points.labels.cpu()},
        "mask": None if e.mask is None else e.mask.cpu(),
        "cond": _output_data(e.cond), "pending_cond": _output_data(e.pending_cond),
        "pending_tracked": _output_data(e.pending_tracked),
        "reverse": e.reverse, "cond_seq": e.cond_seq, "pending_seq": e.pending_seq,
    }


def _options_data(options: VideoOptions) -> dict[str, Any]:
    data: dict[str, Any] = {k: getattr(options, k) for k in _RESULT_OPTIONS}
    data["method"] = method_to_data(options.method)
    data["memory_dtype"] = str(options.memory_dtype).removeprefix("torch.")
    data["tracking"] = None if options.tracking is None else asdict(options.tracking)
    return data


def save_session(path: str | Path, tracker: Tracker, first_frame: Tensor, overwrite: bool = False) -> Path:
    """Write ``tracker``'s state to ``path`` (atomically). ``first_frame``: its (3, S, S) frame 0."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InvalidInputError(f"path: {str(path)!r} exists; pass overwrite=True to replace it")
    objects = []
    for track in tracker.state.tracks():
        entries, tracked, next_seq = track.snapshot()
        objects.append({
            "obj_id": track.obj_id, "next_seq": next_seq,
            "entries": [_entry_data(t, e) for t, e in entries.items()],
            "tracked": [{"frame": t, "output": _output_data(out)} for t, out in tracked.items()],
        })
    data = {"format": FORMAT, "version": VERSION, "model": model_fingerprint(tracker.model),
            "video": video_fingerprint(tracker, first_frame), "options": _options_data(tracker.options),
            "objects": objects}
    with atomic_write(path) as tmp:
        torch.save(data, tmp)
    return path


# ------------------------------------------------------------------ decoding
def read_session(path: str | Path) -> dict[str, Any]:
    """The plain data of a session file, checked for its format (not yet for model and video)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"path: no such session file {str(path)!r}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (pickle, zip, EOF, runtime) on damaged files
        raise InvalidInputError(f"path: {str(path)!r} is not a readable samstream session file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"path: {str(path)!r} is not a samstream session file")
    if data.get("version") != VERSION:
        raise InvalidInputError(f"path: {str(path)!r} is a session file of version {data.get('version')!r}; "
                                f"this samstream reads version {VERSION}")
    return data


@contextmanager
def _malformed(path: str | Path) -> Iterator[None]:
    """Turn a missing or mistyped field of a session file into a clear error."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"path: {str(path)!r} is a damaged session file ({type(exc).__name__}: {exc})") from None


def saved_options(data: dict[str, Any], base: VideoOptions, path: str | Path) -> VideoOptions:
    """``base`` with the result-changing options of a session file."""
    with _malformed(path):
        return _saved_options(data["options"], base)


def _saved_options(opts: dict[str, Any], base: VideoOptions) -> VideoOptions:
    dtype = getattr(torch, str(opts["memory_dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise InvalidInputError(f"session file: unknown memory dtype {opts['memory_dtype']!r}")
    tracking = None if opts["tracking"] is None else TrackingConfig(**opts["tracking"])
    saved = {k: opts[k] if k in opts or k not in _LATER_OPTIONS else _LATER_OPTIONS[k] for k in _RESULT_OPTIONS}
    saved["method"] = method_from_data(saved["method"])
    return replace(base, memory_dtype=dtype, tracking=tracking, **saved)


def check_match(data: dict[str, Any], tracker: Tracker, first_frame: Tensor, path: str | Path) -> None:
    """Refuse a session file made with another model or on another video."""
    with _malformed(path):
        _check_match(data, tracker, first_frame, path)


def _check_match(data: dict[str, Any], tracker: Tracker, first_frame: Tensor, path: str | Path) -> None:
    ours = model_fingerprint(tracker.model)
    if data["model"]["config"] != ours["config"]:
        raise InvalidInputError(f"path: {str(path)!r} was saved with another model configuration (variant)")
    if data["model"]["params"] != ours["params"]:
        raise InvalidInputError(f"path: {str(path)!r} was saved with other model weights")
    saved, video = data["video"], video_fingerprint(tracker, first_frame)
    for key in ("num_frames", "height", "width"):
        if saved[key] != video[key]:
            raise InvalidInputError(f"path: {str(path)!r} was saved on another video ({key} {saved[key]!r}, "
                                    f"this video has {video[key]!r})")
    if float((saved["first_frame"] - video["first_frame"]).abs().max()) > _FRAME_TOLERANCE:
        raise InvalidInputError(f"path: {str(path)!r} was saved on another video (its first frame differs)")


def _output(data: dict[str, Any] | None, tracker: Tracker) -> FrameOutput | None:
    if data is None:
        return None
    storage, device = tracker.engine.storage, tracker.model.device

    def place(tensor: Tensor, field: str) -> Tensor:  # masks and memories where the state is kept
        return tensor.to(storage if field in ("low_res_logits", "memory") else device)

    return output_from_data(data, place)


def _entry(data: dict[str, Any], tracker: Tracker) -> FrameEntry:
    pts = data["points"]
    return FrameEntry(
        points=None if pts is None else PointPrompt(pts["coords"], pts["labels"]), mask=data["mask"],
        cond=_output(data["cond"], tracker), pending_cond=_output(data["pending_cond"], tracker),
        pending_tracked=_output(data["pending_tracked"], tracker), reverse=data["reverse"],
        cond_seq=int(data["cond_seq"]), pending_seq=int(data["pending_seq"]),
    )


def load_objects(data: dict[str, Any], tracker: Tracker, path: str | Path) -> None:
    """Put the saved objects into ``tracker`` (which has none yet)."""
    with _malformed(path):
        for obj in data["objects"]:
            entries = {int(e["frame"]): _entry(e, tracker) for e in obj["entries"]}
            tracked = {int(o["frame"]): _output(o["output"], tracker) for o in obj["tracked"]}
            track = ObjectTrack(int(obj["obj_id"]), tracker.state.new_outputs(int(obj["obj_id"])), entries, int(obj["next_seq"]))
            for t, out in sorted(tracked.items()):
                track.record(t, out)  # type: ignore[arg-type]
            tracker.state.add_track(track)



# ------------------------------------------------------------------ one object's state on one frame
@dataclass(frozen=True)
class EncodedFrameState:
    """A :class:`FrameState` as a front end keeps it (the studio's store), in three parts so that a
    session can be rebuilt from the small ones and read the large one only when tracking needs it:
    the direction the frame was tracked in, the entry's prompts and prompted outputs (None when the
    entry holds nothing but that direction), and the tracked output."""

    reverse: bool | None
    entry: bytes | None
    tracked: bytes | None


def _to_bytes(data: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(data, buf)
    return buf.getvalue()


def _from_bytes(data: bytes, what: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on damaged bytes
        raise InvalidInputError(f"frame state: not a readable samstream {what} ({type(exc).__name__}: {exc})") from None


def encode_frame_state(state: FrameState) -> EncodedFrameState:
    """One :class:`FrameState` in parts of plain data (``torch.save``; tensors keep their dtypes)."""
    entry = state.entry
    reverse = None if entry is None else entry.reverse
    only_direction = entry is None or replace(entry, reverse=None).is_empty()
    return EncodedFrameState(
        reverse,
        None if only_direction else _to_bytes(_entry_data(0, entry)),  # type: ignore[arg-type]
        None if state.tracked is None else _to_bytes(_output_data(state.tracked)),
    )


def decode_entry(encoded: EncodedFrameState, tracker: Tracker) -> FrameEntry | None:
    """The entry of an encoded state (prompts, prompted outputs, direction), placed as ``tracker`` keeps state."""
    if encoded.entry is None:
        return None if encoded.reverse is None else FrameEntry(reverse=encoded.reverse)
    try:
        return replace(_entry(_from_bytes(encoded.entry, "frame entry"), tracker), reverse=encoded.reverse)
    except InvalidInputError:
        raise
    except Exception as exc:  # a field missing or of the wrong type
        raise InvalidInputError(f"frame state: a damaged frame entry ({type(exc).__name__}: {exc})") from None


def decode_output(data: bytes, tracker: Tracker) -> FrameOutput:
    """A tracked output of an encoded state, placed as ``tracker`` keeps state."""
    try:
        out = _output(_from_bytes(data, "frame output"), tracker)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"frame state: a damaged frame output ({type(exc).__name__}: {exc})") from None
    if out is None:
        raise InvalidInputError("frame state: an empty frame output")
    return out


def decode_frame_state(encoded: EncodedFrameState, tracker: Tracker) -> FrameState:
    """The :class:`FrameState` :func:`encode_frame_state` wrote."""
    tracked = None if encoded.tracked is None else decode_output(encoded.tracked, tracker)
    return FrameState(decode_entry(encoded, tracker), tracked)
