"""Parsing of prompt options and prompt files.

Image prompts (``segment``): ``--point X,Y[:LABEL]`` (label 1 = object, 0 = background; default 1)
and ``--box X0,Y0,X1,Y1``.

Video prompts (``track``, ``stream``) name a frame first and may name an object with ``ID@``:
``--point [ID@]F:X,Y[:LABEL]``, ``--box [ID@]F:X0,Y0,X1,Y1``, ``--mask [ID@]F:PNG``. Without
``ID@`` a prompt belongs to the object named by the last ``--obj ID`` before it (default 1).
Object ids follow the library's one rule (:func:`samstream.prompt_rules.check_obj_id`, checked
when the command runs), narrowed by the outputs: ``track`` and ``stream`` always write label PNGs
(``masks/<frame>.png``), which store ids as pixel values (0 = background), so ids lie in 1..255 and
anything else is refused while the arguments are parsed, with that reason.

A prompts file (``--prompts FILE.json``) holds a list, or ``{"prompts": [...]}``, of entries::

    {"frame": 0, "obj_id": 1, "points": [[x, y], ...], "labels": [1, ...]}
    {"frame": 0, "obj_id": 2, "box": [x0, y0, x1, y1]}            # may carry points and labels too
    {"frame": 5, "obj_id": 3, "mask": "masks/obj3.png"}            # relative to the file's folder
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from samstream.errors import InvalidInputError, PromptError
from samstream.prompt_rules import check_obj_id

LABEL_PNG_MAX_ID = 255  # ids are pixel values of the indexed label PNGs the video commands write


@dataclass
class VideoPrompt:
    """The prompts of one object on one frame."""

    frame: int
    obj_id: int
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: Path | None = None

    def merge(self, other: "VideoPrompt", where: str) -> None:
        """Add ``other``'s prompts (same frame and object) to this one."""
        if other.box is not None:
            if self.box is not None:
                raise PromptError(f"{where}: object {self.obj_id} has two boxes on frame {self.frame}")
            self.box = other.box
        if other.mask is not None:
            self.mask = other.mask
        self.points += other.points
        self.labels += other.labels
        if self.mask is not None and (self.points or self.box is not None):
            raise PromptError(
                f"{where}: object {self.obj_id} on frame {self.frame} has a mask and points or a box; "
                "give one kind of prompt per object and frame"
            )


def _numbers(text: str, count: int, what: str, option: str) -> tuple[float, ...]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise PromptError(f"{option}: {text!r} is not {what}")
    return values


def _integer(text: str, what: str, option: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise PromptError(f"{option}: {text!r} is not {what}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise PromptError(f"{option}: {what} {value} is out of range ({bound})")
    return value


def _label_id_error(value: object, option: str) -> PromptError:
    return PromptError(f"{option}: object id {value} is out of range (1..{LABEL_PNG_MAX_ID}): masks/<frame>.png "
                       "stores object ids as pixel values (0 is background)")


def parse_obj_id(text: str, option: str = "--obj") -> int:
    """An object id a label PNG can hold (1..255); see the module docstring."""
    try:
        value = int(text)
    except ValueError:
        raise PromptError(f"{option}: {text!r} is not an object id (an integer)") from None
    if not 1 <= value <= LABEL_PNG_MAX_ID:
        raise _label_id_error(value, option)
    return value


def check_obj_ids(prompts: Sequence["VideoPrompt"]) -> None:
    """Every prompt's object id by :func:`samstream.prompt_rules.check_obj_id` (the one rule)."""

    for p in prompts:
        check_obj_id(p.obj_id, f"object id of the prompt on frame {p.frame}")


def parse_point(text: str, option: str = "--point") -> tuple[float, float, int]:
    """``X,Y[:LABEL]`` -> (x, y, label)."""
    xy, sep, label_text = text.partition(":")
    x, y = _numbers(xy, 2, "X,Y (two numbers)", option)
    label = 1
    if sep:
        if label_text not in ("0", "1"):
            raise PromptError(f"{option}: label {label_text!r} in {text!r} must be 1 (object) or 0 (background)")
        label = int(label_text)
    return x, y, label


def parse_box(text: str, option: str = "--box") -> tuple[float, float, float, float]:
    """``X0,Y0,X1,Y1`` -> (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1."""
    box = _numbers(text, 4, "X0,Y0,X1,Y1 (four numbers)", option)
    if box[2] < box[0] or box[3] < box[1]:
        raise PromptError(f"{option}: {text!r} needs X0 <= X1 and Y0 <= Y1")
    return box  # type: ignore[return-value]


def _split_video_spec(text: str, option: str, default_obj: int) -> tuple[int, int, str]:
    """``[ID@]F:REST`` -> (obj_id, frame, rest)."""
    head, sep, rest = text.partition(":")
    if not sep or not rest:
        raise PromptError(f"{option}: {text!r} must start with a frame index, as in F:...")
    obj_id = default_obj
    if "@" in head:
        id_text, _, head = head.partition("@")
        obj_id = parse_obj_id(id_text, option)
    frame = _integer(head, "a frame index", option)
    return obj_id, frame, rest


def parse_video_prompt(kind: str, text: str, default_obj: int = 1) -> VideoPrompt:
    """One ``--point``, ``--box`` or ``--mask`` option value of a video command."""
    option = f"--{kind}"
    obj_id, frame, rest = _split_video_spec(text, option, default_obj)
    prompt = VideoPrompt(frame=frame, obj_id=obj_id)
    if kind == "point":
        x, y, label = parse_point(rest, option)
        prompt.points, prompt.labels = [(x, y)], [label]
    elif kind == "box":
        prompt.box = parse_box(rest, option)
    elif kind == "mask":
        prompt.mask = Path(rest)
    else:
        raise InvalidInputError(f"prompt kind {kind!r} is not point, box or mask")
    return prompt


class VideoPromptAction(argparse.Action):
    """Collects ``--point/--box/--mask`` in command-line order, honouring the last ``--obj``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if self.dest == "obj":
            try:
                namespace.obj = parse_obj_id(values)
            except PromptError as exc:
                parser.error(str(exc))
            return
        kind = (option_string or "--point").lstrip("-")
        try:
            obj = getattr(namespace, "obj", None)
            prompt = parse_video_prompt(kind, values, 1 if obj is None else obj)
        except PromptError as exc:
            parser.error(str(exc))
        prompts = list(getattr(namespace, "prompts", None) or [])
        prompts.append(prompt)
        namespace.prompts = prompts


def _entry_prompt(entry: Any, index: int, base: Path, where: str) -> VideoPrompt:
    w = f"{where}: entry {index}"
    if not isinstance(entry, dict):
        raise PromptError(f"{w}: expected an object with frame, obj_id and points/box/mask")
    unknown = set(entry) - {"frame", "obj_id", "points", "labels", "box", "mask"}
    if unknown:
        raise PromptError(f"{w}: unknown keys {sorted(unknown)}")
    frame, obj_id = entry.get("frame"), entry.get("obj_id", 1)
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        raise PromptError(f"{w}: frame must be a non-negative integer, got {frame!r}")
    if isinstance(obj_id, bool) or not isinstance(obj_id, int) or not 1 <= obj_id <= LABEL_PNG_MAX_ID:
        raise PromptError(f"{w}: obj_id must be an integer in 1..{LABEL_PNG_MAX_ID} (masks/<frame>.png stores "
                          f"ids as pixel values), got {obj_id!r}")
    prompt = VideoPrompt(frame=frame, obj_id=obj_id)
    if "points" in entry:
        try:
            arr = np.asarray(entry["points"], dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
                raise ValueError("shape")
            lab = [int(v) for v in entry.get("labels", [1] * len(arr))]
        except (TypeError, ValueError):
            raise PromptError(f"{w}: points must be [[x, y], ...] and labels a list of 0/1") from None
        if len(lab) != len(arr) or not set(lab) <= {0, 1} or not np.isfinite(arr).all():
            raise PromptError(f"{w}: {len(arr)} points need as many labels, each 0 or 1")
        prompt.points, prompt.labels = [(float(x), float(y)) for x, y in arr], lab
    if "box" in entry:
        box = entry["box"]
        if not isinstance(box, list) or len(box) != 4:
            raise PromptError(f"{w}: box must be [x0, y0, x1, y1], got {box!r}")
        prompt.box = parse_box(",".join(str(v) for v in box), f"{w}: box")
    if "mask" in entry:
        prompt.mask = base / str(entry["mask"])
    if not prompt.points and prompt.box is None and prompt.mask is None:
        raise PromptError(f"{w}: give points, a box or a mask")
    return prompt


def read_prompts_file(path: str | Path) -> list[VideoPrompt]:
    """The prompts of a JSON prompts file (see the module docstring)."""
    path = Path(path)
    where = f"--prompts {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"--prompts: no such file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--prompts: cannot read {str(path)!r} ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc})") from None
    if isinstance(data, dict):
        data = data.get("prompts")
    if not isinstance(data, list):
        raise PromptError(f"{where}: expected a list of prompts or {{\"prompts\": [...]}}")
    return [_entry_prompt(e, i, path.parent, where) for i, e in enumerate(data)]


def group_prompts(prompts: Sequence[VideoPrompt], where: str = "prompts") -> list[VideoPrompt]:
    """Merge prompts of the same frame and object; sorted by frame, then object."""
    merged: dict[tuple[int, int], VideoPrompt] = {}
    for p in prompts:
        key = (p.frame, p.obj_id)
        if key in merged:
            merged[key].merge(p, where)
        else:
            merged[key] = VideoPrompt(p.frame, p.obj_id, list(p.points), list(p.labels), p.box, p.mask)
            merged[key].merge(VideoPrompt(p.frame, p.obj_id), where)
    return [merged[k] for k in sorted(merged)]


def read_mask_png(path: Path, obj_id: int, hw: tuple[int, int]) -> np.ndarray:
    """A mask prompt from a PNG of the video's size: pixels equal to ``obj_id`` when the PNG holds
    several ids (a label map without ``obj_id`` is refused), else every nonzero pixel (a binary
    mask, whatever its value). A PNG with no nonzero pixel is refused."""
    from PIL import Image, UnidentifiedImageError  # Pillow: imported when a mask is read, not for --help

    try:
        with Image.open(path) as img:
            arr = np.asarray(img if img.mode in ("P", "L", "1", "I", "I;16") else img.convert("L"))
    except FileNotFoundError:
        raise InvalidInputError(f"--mask: no such file {str(path)!r}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"--mask: cannot read {str(path)!r} as an image ({exc})") from None
    if arr.shape[:2] != hw:
        raise PromptError(f"--mask: {str(path)!r} is {arr.shape[1]}x{arr.shape[0]}, the video is {hw[1]}x{hw[0]}")
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    ids = sorted(set(np.unique(arr).tolist()) - {0})
    if not ids:
        raise PromptError(f"--mask: {str(path)!r} has no nonzero pixel; it marks no object")
    if len(ids) == 1:
        return arr != 0
    if obj_id not in ids:
        shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
        raise PromptError(f"--mask: {str(path)!r} is a label map of ids {shown} with no pixel of object {obj_id}; "
                          f"name one of its ids with ID@ (e.g. --mask {ids[0]}@F:{path.name})")
    return arr == obj_id
