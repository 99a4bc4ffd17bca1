"""Exceptions raised by samstream.

Every error a user can cause derives from :class:`SamstreamError`; messages name the
argument, the value received and what was expected.
"""

from __future__ import annotations


class SamstreamError(Exception):
    """Base class of every error samstream raises on bad input or bad files."""


class InvalidInputError(SamstreamError, ValueError):
    """An argument has the wrong type, shape, dtype or value."""


class PromptError(InvalidInputError):
    """A prompt (points, labels, box, mask) is malformed or out of range."""


class CheckpointError(SamstreamError):
    """A checkpoint is missing, unreadable, truncated or does not match a known variant."""


class VideoReadError(SamstreamError):
    """A video or frame source cannot be opened or a frame cannot be decoded."""


class UnknownObjectError(SamstreamError, KeyError):
    """An object id that the session does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it plain
        return str(self.args[0]) if self.args else ""
