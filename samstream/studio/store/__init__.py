"""The studio's state in SQLite: the one place that reads or writes the database.

The store is the truth; the workers' warm video sessions are caches rebuilt from it without running
the model again (the tracker's state of every frame is kept, see :mod:`.tracks`). A :class:`Store`
is one connection with its parts, one per concern:

- ``store.videos`` (:mod:`.videos`): videos, objects (with per-object versions), reviews;
- ``store.tracks`` (:mod:`.tracks`): masks and tracker state per frame, actions with exact undo and
  redo, propagation runs;
- ``store.proposals`` (:mod:`.proposals`): "segment everything" and automatic-masklet proposals;
- ``store.people`` (:mod:`.people`): people, their roles and tokens (salted hashes only);
- ``store.workflow`` (:mod:`.workflow`): assignments, work-flow steps, queues, a video's history;
- ``store.effort`` (:mod:`.effort`): the facts effort figures are computed from.

Schema changes are new entries of :data:`.schema.MIGRATIONS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from samstream.studio.store.db import ConflictError, Database, NotFoundError
from samstream.studio.store.effort import EffortStore, FramesInForce
from samstream.studio.store.people import ROLES, Credential, PeopleStore, check_name, check_role
from samstream.studio.store.proposals import ProposalStore
from samstream.studio.store.schema import SCHEMA_VERSION
from samstream.studio.store.tracks import FrameChange, StoredFrame, TrackStore
from samstream.studio.store.videos import REVIEW_STATUSES, VideoStore, check_status
from samstream.studio.store.workflow import ASSIGNABLE, STATUSES, STEPS, WorkflowStore

__all__ = ["ASSIGNABLE", "ROLES", "STATUSES", "STEPS", "ConflictError", "Credential", "FrameChange", "FramesInForce",
           "NotFoundError",
           "REVIEW_STATUSES", "SCHEMA_VERSION", "Store", "StoredFrame", "check_name", "check_role", "check_status"]


class Store:
    """The SQLite state of one data dir (``DATA_DIR/studio.sqlite3``); thread-safe."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time, idle_gap: float = 60.0) -> None:
        self.db = Database(path, clock)
        self.idle_gap = idle_gap  # seconds between interactions above which a gap is not annotation time
        self.videos = VideoStore(self.db)
        self.tracks = TrackStore(self.db, idle_gap)
        self.proposals = ProposalStore(self.db, self.videos.get)
        self.people = PeopleStore(self.db)
        self.workflow = WorkflowStore(self.db, self.videos, self.people)
        self.effort = EffortStore(self.db)
        self.tracks.interrupt_running()

    @property
    def path(self) -> Path:
        """The database file (``DATA_DIR/studio.sqlite3``)."""
        return self.db.path

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (:data:`.schema.SCHEMA_VERSION` once migrated)."""
        return self.db.schema_version

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self.db.close()
