"""Shared pieces of the command line: options, the parser, model loading, progress and output.

This module must stay light: ``samstream --help`` and argument errors answer before torch is
imported, so the library (which imports torch) is imported only inside the functions that run a
command.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from samstream.config import TRACKING_METHODS
from samstream.errors import CheckpointError, InvalidInputError

DEFAULT_MODEL = "sam2.1-tiny"
DEVICES = ("auto", "cpu", "cuda", "mps")
# The one rule of Ctrl-C (README, "From the terminal"): a command stops, keeps what it finished where
# its outputs are per frame or per item, says what it kept, and exits with the shell's code for an
# interrupted command, 128 + SIGINT; a second Ctrl-C during the wrap-up stops at once, same code.
INTERRUPTED = 130


class CliParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def basic(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options every command shares: -q/--quiet and --jsonl."""
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--jsonl", action="store_true",
                        help="print JSON lines (one per item and a final summary) instead of text and progress bars")
    return parser


def common(parser: argparse.ArgumentParser, default_model: str = DEFAULT_MODEL) -> argparse.ArgumentParser:
    """The options of a command that runs a model: :func:`basic`'s, --model, --device and --threads."""
    basic(parser)
    parser.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                        help=f"registry name (see `samstream models`) or checkpoint path (default: {default_model})")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="where to run the model (default: auto)")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="CPU threads torch may use (default: torch's choice, usually the core count)")
    return parser


def add_method(parser: argparse.ArgumentParser) -> None:
    """``--method``: the tracking method, with its authors' settings for the model's size."""
    parser.add_argument("--method", default="sam2", choices=TRACKING_METHODS,
                        help="tracking method: sam2 (SAM 2 as released, the default), samurai (motion-aware), "
                             "dam4sam (distractor-aware memory), sam2long (a tree of memory pathways; "
                             "costs about 3x)")


def add_out(parser: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    parser.add_argument("--out", required=required, default=default, metavar="DIR", help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs in --out")


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; expected an integer >= 0")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 is not allowed; expected an integer >= 1")
    return value


def unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is outside [0, 1]")
    return value


def load_model(args: argparse.Namespace) -> tuple[Any, str]:
    """The model named by ``--model`` (never downloads) and a short description of it."""
    # the library imports torch: imported here, when a command runs, so that --help stays fast
    import samstream  # the public load_model (tests may wrap it)

    name = args.model or DEFAULT_MODEL
    check_model_available(name)
    model = samstream.load_model(name, device=args.device, allow_download=False)
    return model, name


def nothing_found_note(counts: Any, pred_iou_thresh: float, stability_thresh: float) -> str | None:
    """Why a run of the mask generator kept nothing, when its score thresholds stopped every
    candidate (``counts``: :class:`~samstream.amg.counts.CandidateCounts`); None otherwise."""
    if not counts.all_below_thresholds:
        return None
    if counts.above_iou == 0:
        lower = math.floor(counts.best_iou * 10) / 10
        return (f"every one of the {counts.decoded} candidate masks fell below the thresholds: the best predicted "
                f"IoU was {counts.best_iou:.2f}, under --pred-iou-thresh {pred_iou_thresh:g}; lower it "
                f"(e.g. --pred-iou-thresh {lower:.1f}) to keep some")
    lower = math.floor((counts.best_stability or 0.0) * 10) / 10
    return (f"every one of the {counts.decoded} candidate masks fell below the thresholds: {counts.above_iou} passed "
            f"--pred-iou-thresh {pred_iou_thresh:g}, but the best stability among them was "
            f"{counts.best_stability:.2f}, under --stability-thresh {stability_thresh:g}; lower it "
            f"(e.g. --stability-thresh {lower:.1f}) to keep some")


def check_model_available(name: str, option: str = "--model") -> None:
    """Refuse a registry name whose file is neither bundled nor downloaded, saying how to get it
    (paths are checked when they are read)."""
    from samstream.registry import cached_path, get_variant

    path = Path(name).expanduser()
    if not (path.suffix == ".pt" or path.exists() or "/" in name):
        variant = get_variant(name)
        if not variant.bundled and not cached_path(variant).exists():
            raise CheckpointError(f"{option}: {variant.name} is not downloaded; run `samstream download "
                                  f"{variant.name}` (or put {variant.url} at {cached_path(variant)})")


def require_file(path: str | Path, option: str, what: str = "file") -> Path:
    """``path`` if it is a file; a folder or a missing path is a clear one-line error."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{option}: {str(path)!r} is a folder; expected {what}")
    if not path.is_file():
        raise InvalidInputError(f"{option}: no such file {str(path)!r}")
    return path


def set_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (commands without it, or without a value, leave torch's default)."""
    threads = getattr(args, "threads", None)
    if threads:
        import torch  # only when asked: most commands import torch later, when they run

        torch.set_num_threads(threads)


class Reporter:
    """Progress bars and summaries as text, JSON lines (``--jsonl``) or nothing (``-q``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.command = args.command
        self.quiet = bool(getattr(args, "quiet", False))
        self.jsonl = bool(getattr(args, "jsonl", False))

    def progress(self, items: Iterable[Any], total: int | None, unit: str) -> Iterator[Any]:
        """``items`` with a progress bar on stderr (text mode only)."""
        if self.quiet or self.jsonl:
            yield from items
            return
        from tqdm.auto import tqdm  # imports asyncio (~0.1 s): only when a bar is shown, not for --help
        with tqdm(items, total=total, unit=f" {unit}", desc=self.command, file=sys.stderr, leave=False) as bar:
            yield from bar

    def event(self, record: dict[str, Any]) -> None:
        """One JSON line per item (``--jsonl`` only)."""
        if self.jsonl and not self.quiet:
            print(json.dumps(record), flush=True)

    def note(self, text: str) -> None:
        """A remark for people (stderr, text mode only)."""
        if not self.quiet and not self.jsonl:
            print(f"{self.command}: {text}", file=sys.stderr)

    def summary(self, text: str, record: dict[str, Any]) -> None:
        """The closing line: ``text`` in text mode, ``record`` with ``"event": "summary"`` in JSON mode."""
        if self.quiet:
            return
        if self.jsonl:
            print(json.dumps({"event": "summary", "command": self.command, **record}), flush=True)
        else:
            print(f"{self.command}: {text}", flush=True)


class StopFlag:
    """Set by the first Ctrl-C; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.stopped = False

    def __bool__(self) -> bool:
        return self.stopped


@contextmanager
def stop_on_interrupt() -> Iterator[StopFlag]:
    """Within the block, Ctrl-C (SIGINT) sets the yielded flag instead of raising."""
    flag = StopFlag()

    def handler(signum: int, frame: Any) -> None:
        if flag.stopped:
            raise KeyboardInterrupt
        flag.stopped = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
