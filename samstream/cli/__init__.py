"""``samstream`` command line: parses arguments, calls the library, formats output.

Every command takes ``--help``, ``-q/--quiet`` and ``--jsonl``; commands that run a model also take
``--model``, ``--device`` and ``--threads``. Errors are one line on stderr with exit code 2 (usage
errors too). Ctrl-C stops any command with exit code 130 (:data:`~samstream.cli.common.INTERRUPTED`):
``track``, ``stream``, ``auto-video`` and ``batch`` first keep and report what they finished; a
second Ctrl-C, or one in a command whose output is a single whole file, stops at once.

Importing this package does not import torch: the subcommand modules import the library inside
their ``run`` functions, so that ``--help``, ``models`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys

from samstream import __version__
from samstream.cli import auto, auto_video, batch, demo, evaluate, export, models, segment, stream, studio, track, train
from samstream.cli.common import INTERRUPTED, CliParser, basic, common, set_threads
from samstream.errors import SamstreamError

__all__ = ["build_parser", "common", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``samstream`` parser with every subcommand."""
    parser = CliParser(prog="samstream", description="SAM 2 segmentation and tracking of images and videos")
    parser.add_argument("--version", action="version", version=f"samstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (segment, auto, auto_video, track, stream, demo, studio, evaluate, train, batch, export):
        module.register(sub, common)
    models.register(sub, basic)  # lists and downloads files: no model runs
    return parser


def _error_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def _reader_left() -> int:
    """stdout's reader is gone (``samstream models | head -1``): nothing to report, exit 0.

    stdout is pointed at /dev/null so that Python's final flush does not fail a second time.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    argv = studio.default_action(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    name = f"samstream {args.command}"
    try:
        set_threads(args)
        code = int(args.func(args))
        sys.stdout.flush()  # a reader that left shows here, inside the handlers below
        return code
    except SamstreamError as exc:
        print(f"{name}: error: {_error_line(exc)}", file=sys.stderr)
    except BrokenPipeError:  # before OSError, its base class
        return _reader_left()
    except FileNotFoundError as exc:
        print(f"{name}: error: no such file {exc.filename!r}", file=sys.stderr)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{name}: error: {exc.strerror or exc}{where}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{name}: interrupted by Ctrl-C", file=sys.stderr)
        return INTERRUPTED
    return 2


if __name__ == "__main__":
    sys.exit(main())
