"""One SQLite connection, its lock, explicit transactions and the schema migrations.

The database runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the
death of the process (``kill -9``); every change is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` that commits
before the server replies.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samstream.errors import InvalidInputError, SamstreamError
from samstream.studio.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["ConflictError", "Database", "NotFoundError"]


class NotFoundError(SamstreamError):
    """A video, object, proposal, propagation or export that does not exist."""


class ConflictError(SamstreamError):
    """An edit made against a stale version (of an object), or an undo over someone's later work."""

    def __init__(self, message: str, current: int | None = None, obj_id: int | None = None) -> None:
        super().__init__(message)
        self.current = current
        self.obj_id = obj_id

    def __reduce__(self) -> tuple:  # crosses process boundaries (inference workers) with its fields
        return type(self), (str(self), self.current, self.obj_id)


class Database:
    """The connection of one data dir's ``studio.sqlite3``. Thread-safe (one connection, one lock)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        """Close the connection (waits for a transaction under way on another thread)."""
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise InvalidInputError(f"data dir: {self.path} has schema version {current}, newer than this "
                                    f"samstream's {SCHEMA_VERSION}; upgrade samstream")
        for version in range(current, SCHEMA_VERSION):
            with self.transaction() as db:
                for step in MIGRATIONS[version]:
                    if callable(step):
                        step(db)
                        continue
                    for statement in step.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA user_version={version + 1}")

    @property
    def schema_version(self) -> int:
        """The database's ``PRAGMA user_version``: the last migration applied."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Every row ``sql`` selects with the parameters ``args`` (rows readable by column name or index)."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def row(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        """The first row ``sql`` selects with the parameters ``args`` (None: no row)."""
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def value(self, sql: str, args: tuple = ()) -> Any:
        """The first column of the first row ``sql`` selects with the parameters ``args`` (None: no row)."""
        row = self.row(sql, args)
        return None if row is None else row[0]
