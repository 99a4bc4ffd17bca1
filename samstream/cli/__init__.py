"""``samstream`` command line: parses arguments, calls the library, formats output.

Every command takes ``--help``, ``-q/--quiet``, ``--jsonl``, ``--model`` and ``--device``. Errors are
one line on stderr with exit code 2 (usage errors too); Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import os
import sys

from samstream.cli.common import CliParser, common
from samstream.errors import SamstreamError

__all__ = ["build_parser", "common", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``samstream`` parser with every subcommand."""
    from samstream.cli import auto, demo, models, segment, stream, track
    from samstream.eval import commands as eval_commands
    from samstream.train import commands as train_commands

    parser = CliParser(prog="samstream", description="SAM 2 segmentation and tracking of images and videos")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (segment, auto, track, stream, models, demo, eval_commands, train_commands):
        module.register(sub, common)
    return parser


def _error_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    name = f"samstream {args.command}"
    try:
        return int(args.func(args))
    except SamstreamError as exc:
        print(f"{name}: error: {_error_line(exc)}", file=sys.stderr)
    except FileNotFoundError as exc:
        print(f"{name}: error: no such file {exc.filename!r}", file=sys.stderr)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{name}: error: {exc.strerror or exc}{where}", file=sys.stderr)
    except BrokenPipeError:  # e.g. `samstream models | head -1`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
