"""The edits a client asks for, as typed values checked in the HTTP handler before anything is queued.

A handler parses the request body into one of these (a bad request is refused there, with the
argument named), and the same value goes through the worker to the store: no string-keyed dict
crosses a module edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from samstream.errors import InvalidInputError, PromptError
from samstream.io.rle import decode_rle

__all__ = ["DIRECTIONS", "ClearEdit", "PromptEdit", "PropagateRequest", "expected_version"]

DIRECTIONS = ("forward", "backward", "both")
UNTIL = ("next_prompt", "end")


def _numbers(value: Any, name: str, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        want = f"a list of {length} numbers" if length else "a list of numbers"
        raise PromptError(f"{name}: expected {want}, got {value!r:.80}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise PromptError(f"{name}: expected finite numbers, got {value!r:.80}")
    return tuple(float(v) for v in value)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name}: expected an integer, got {value!r:.40}")
    return value


def expected_version(body: dict[str, Any]) -> int | None:
    """The object version an edit was made against (``version`` in the body), or None (not checked)."""
    value = body.get("version")
    return None if value is None else _int(value, "version")


@dataclass(frozen=True)
class PromptEdit:
    """Clicks, a box or a mask for one object on one frame (pixels of the video)."""

    obj_id: int
    frame: int
    kind: str  # points, box or mask
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    mask: dict[str, Any] | None = None  # COCO RLE of the video's size
    clear_old: bool = False  # clicks replace the frame's earlier prompts instead of adding to them
    expect: int | None = None  # the object's version the client saw

    @staticmethod
    def parse(body: dict[str, Any], hw: tuple[int, int], num_frames: int) -> "PromptEdit":
        """The prompt a request ``body`` asks for on a video of ``hw`` (height, width) pixels and ``num_frames``
        frames.

        ``body``: ``obj_id`` and ``frame`` (integers), ``version`` (optional, the object's version the client saw)
        and one of: ``mask`` (a COCO RLE of the video's size, alone), ``box`` ([x0, y0, x1, y1] pixels, optionally
        with ``points`` and ``labels``), or ``points`` ([[x, y], ...] pixels inside the frame) with ``labels`` (1
        object, 0 background, one per point) and ``clear_old`` (true: the clicks replace the frame's earlier
        prompts). A bad prompt is a :class:`PromptError`, a bad id or frame an :class:`InvalidInputError`, each
        naming the field.
        """
        obj_id, frame = _int(body.get("obj_id"), "obj_id"), _int(body.get("frame"), "frame")
        if not 0 <= frame < num_frames:
            raise InvalidInputError(f"frame: expected an integer in [0, {num_frames - 1}], got {frame}")
        expect = expected_version(body)
        points, labels, box, mask = (body.get(k) for k in ("points", "labels", "box", "mask"))
        if mask is not None:
            if points is not None or box is not None:
                raise PromptError("mask: give a mask alone, without points or a box")
            if not isinstance(mask, dict) or "size" not in mask or "counts" not in mask:
                raise PromptError("mask: expected a COCO RLE {'size': [H, W], 'counts': ...}")
            if list(mask["size"]) != list(hw):
                raise PromptError(f"mask: size {mask['size']!r} is not the video's [{hw[0]}, {hw[1]}]")
            try:
                decode_rle(mask)
            except Exception as exc:  # pycocotools raises plain errors on bad counts
                raise PromptError(f"mask: the RLE does not decode ({exc})") from exc
            return PromptEdit(obj_id, frame, "mask", mask={"size": list(mask["size"]), "counts": mask["counts"]},
                              expect=expect)
        pts: tuple[tuple[float, float], ...] = ()
        if points is not None or labels is not None:
            if not isinstance(points, list) or not points:
                raise PromptError(f"points: expected a non-empty list of [x, y], got {points!r:.80}")
            pts = tuple(_numbers(p, f"points[{i}]", 2) for i, p in enumerate(points))  # type: ignore[misc]
            if not isinstance(labels, list) or len(labels) != len(points) or any(
                    l not in (0, 1) or isinstance(l, bool) for l in labels):
                raise PromptError(f"labels: expected one label (1 object, 0 background) per point, got {labels!r:.80}")
            h, w = hw
            for x, y in pts:
                if not (0 <= x <= w and 0 <= y <= h):
                    raise PromptError(f"points: ({x:g}, {y:g}) is outside the {w}x{h} frame")
        labs = tuple(int(l) for l in labels or ())
        if box is not None:
            b = _numbers(box, "box", 4)
            if b[0] > b[2] or b[1] > b[3]:
                raise PromptError(f"box: expected [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1, got {list(b)}")
            return PromptEdit(obj_id, frame, "box", pts, labs, b, expect=expect)  # type: ignore[arg-type]
        if not pts:
            raise PromptError("prompt: give points with labels, a box, or a mask")
        clear_old = body.get("clear_old", False)
        if not isinstance(clear_old, bool):
            raise PromptError(f"clear_old: expected true or false, got {clear_old!r:.40}")
        return PromptEdit(obj_id, frame, "points", pts, labs, clear_old=clear_old, expect=expect)

    def step(self) -> dict[str, Any]:
        """This prompt as one step of a frame's prompts (the form records keep and the page draws)."""
        return {"points": [list(p) for p in self.points] or None, "labels": list(self.labels) or None,
                "box": None if self.box is None else list(self.box), "mask": self.mask}

    def replaces(self) -> bool:
        """Whether the frame's earlier prompts go (a box, a mask, or clicks with ``clear_old``)."""
        return self.kind != "points" or self.clear_old

    @property
    def clicks(self) -> int:
        """Clicks this prompt cost: one per point, one for a box; a mask is not a click."""
        return len(self.points) + (1 if self.kind == "box" else 0)


@dataclass(frozen=True)
class ClearEdit:
    """Remove an object's prompts on a frame."""

    obj_id: int
    frame: int
    expect: int | None = None

    @staticmethod
    def parse(body: dict[str, Any], num_frames: int) -> "ClearEdit":
        """The clear a request ``body`` asks for (``obj_id``, ``frame`` in [0, ``num_frames`` - 1], optional
        ``version``); :class:`InvalidInputError` naming a bad field."""
        obj_id, frame = _int(body.get("obj_id"), "obj_id"), _int(body.get("frame"), "frame")
        if not 0 <= frame < num_frames:
            raise InvalidInputError(f"frame: expected an integer in [0, {num_frames - 1}], got {frame}")
        return ClearEdit(obj_id, frame, expected_version(body))


@dataclass(frozen=True)
class PropagateRequest:
    """Which objects to track, from where, which way and how far.

    ``until``: ``"next_prompt"`` (each object up to its next prompted frame: after a correction,
    exactly the frames it can change), ``"end"`` (to the end of the video) or a frame number.
    ``start`` None: the objects' first prompted frame.
    """

    obj_ids: tuple[int, ...] | None  # None: every object with prompts
    start: int | None
    direction: str = "forward"
    until: str | int = "end"
    expect: tuple[tuple[int, int], ...] = ()  # (obj_id, version) the client saw

    @staticmethod
    def parse(body: dict[str, Any], num_frames: int) -> "PropagateRequest":
        """The run a request ``body`` asks for on a video of ``num_frames`` frames.

        ``body`` (every field optional): ``obj_ids`` (a non-empty list; default: every object with prompts),
        ``start`` (a frame; default: the objects' first prompted frame), ``direction`` (forward, backward or both),
        ``until`` (next_prompt, end, or a frame in one direction; ``end`` is an older name for it) and ``versions``
        ({obj_id: version} the client saw). :class:`InvalidInputError` naming a bad field.
        """
        direction = body.get("direction", "forward")
        if direction not in DIRECTIONS:
            raise InvalidInputError(f"direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r:.40}")
        start = body.get("start")
        if start is not None and not 0 <= _int(start, "start") < num_frames:
            raise InvalidInputError(f"start: expected an integer in [0, {num_frames - 1}], got {start}")
        until: Any = body.get("until", "end" if body.get("end") is None else body["end"])
        if isinstance(until, str):
            if until not in UNTIL:
                raise InvalidInputError(f"until: expected next_prompt, end or a frame number, got {until!r:.40}")
        elif not 0 <= _int(until, "until") < num_frames:
            raise InvalidInputError(f"until: expected a frame in [0, {num_frames - 1}], got {until}")
        if direction == "both" and not isinstance(until, str):
            raise InvalidInputError("until: a frame number needs one direction (forward or backward), not both")
        ids = body.get("obj_ids")
        if ids is not None:
            if not isinstance(ids, list) or not ids:
                raise InvalidInputError(f"obj_ids: expected a non-empty list of object ids, got {ids!r:.40}")
            ids = tuple(_int(i, "obj_ids") for i in ids)
        versions = body.get("versions") or {}
        if not isinstance(versions, dict):
            raise InvalidInputError(f"versions: expected {{obj_id: version}}, got {versions!r:.40}")
        expect = tuple((int(k), _int(v, f"versions[{k}]")) for k, v in versions.items() if str(k).isdigit())
        return PropagateRequest(ids, start, direction, until, expect)
