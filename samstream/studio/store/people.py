"""Rows of ``people``: who may use a studio, in which role, and their token, kept only as a salted hash.

The store never sees a token in clear: :mod:`samstream.studio.auth` makes tokens, hashes their secret
part and hands over the public key, the salt and the hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from samstream.errors import InvalidInputError
from samstream.studio.rows import PersonRow, from_row
from samstream.studio.store.db import Database, NotFoundError

__all__ = ["ROLES", "Credential", "PeopleStore", "check_name", "check_role"]

ROLES = ("annotator", "reviewer", "admin")
_NAME = re.compile(r"[\w.-]{1,64}")


def check_role(role: object) -> str:
    """``role`` if it is one of :data:`ROLES`; else :class:`InvalidInputError` naming them."""
    if role not in ROLES:
        raise InvalidInputError(f"role: expected one of {', '.join(ROLES)}, got {role!r:.40}")
    return role  # type: ignore[return-value]


def check_name(name: object) -> str:
    """``name`` if it can name a person: 1 to 64 letters, digits, ``.``, ``_`` or ``-`` (it appears in URLs and the
    command line); else :class:`InvalidInputError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(f"name: expected 1 to 64 letters, digits, '.', '_' or '-', got {name!r:.80}")
    return name


@dataclass(frozen=True)
class Credential:
    """What a token is checked against: its person, the salt and the hash of its secret part."""

    person: PersonRow
    salt: bytes
    token_hash: bytes


class PeopleStore:
    """Rows of ``people``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def any(self) -> bool:
        """Whether the studio has people (else it serves one implicit person, as before people existed)."""
        return self.db.row("SELECT 1 FROM people LIMIT 1") is not None

    def add(self, name: str, role: str, token_key: str, salt: bytes, token_hash: bytes) -> PersonRow:
        """Add a person; returns their row.

        ``name`` and ``role`` are checked (:func:`check_name`, :func:`check_role`); ``token_key`` is the public part
        of their token, ``salt`` and ``token_hash`` the salt and scrypt hash of its secret part (see
        :func:`samstream.studio.auth.add_person`, which makes them). A name already taken is an
        :class:`InvalidInputError`.
        """
        check_name(name)
        check_role(role)
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM people WHERE name=?", (name,)).fetchone():
                raise InvalidInputError(f"name: there is already a person called {name!r}")
            now = self.db.clock()
            db.execute("INSERT INTO people (name, role, token_key, salt, token_hash, created, token_created) "
                       "VALUES (?,?,?,?,?,?,?)", (name, role, token_key, salt, token_hash, now, now))
        return self.get(name)

    def get(self, name: str) -> PersonRow:
        """The person called ``name``; :class:`NotFoundError` when there is none."""
        row = self.db.row("SELECT * FROM people WHERE name=?", (name,))
        if row is None:
            raise NotFoundError(f"name: no person called {name!r}")
        return from_row(PersonRow, row, disabled=bool(row["disabled"]))

    def all(self) -> list[PersonRow]:
        """Every person, disabled ones included, in the order they were added."""
        return [from_row(PersonRow, r, disabled=bool(r["disabled"]))
                for r in self.db.rows("SELECT * FROM people ORDER BY id")]

    def credential(self, token_key: str) -> Credential | None:
        """The credential of a token's public key ``token_key`` (None: no such token, or one that was replaced)."""
        row = self.db.row("SELECT * FROM people WHERE token_key=?", (token_key,))
        if row is None:
            return None
        return Credential(from_row(PersonRow, row, disabled=bool(row["disabled"])), bytes(row["salt"]),
                          bytes(row["token_hash"]))

    def disable(self, name: str) -> PersonRow:
        """Disable the person called ``name`` and return their row: their token is refused from now on; their work
        and history stay. :class:`NotFoundError` when there is no such person."""
        with self.db.transaction() as db:
            if db.execute("UPDATE people SET disabled=1 WHERE name=?", (name,)).rowcount == 0:
                raise NotFoundError(f"name: no person called {name!r}")
        return self.get(name)

    def set_token(self, name: str, token_key: str, salt: bytes, token_hash: bytes) -> PersonRow:
        """A new token for ``name``: ``token_key`` its public part, ``salt`` and ``token_hash`` the salt and hash of
        its secret. The old one stops working at once. Returns the person; :class:`NotFoundError` when there is
        none."""
        with self.db.transaction() as db:
            cur = db.execute("UPDATE people SET token_key=?, salt=?, token_hash=?, token_created=? WHERE name=?",
                             (token_key, salt, token_hash, self.db.clock(), name))
            if cur.rowcount == 0:
                raise NotFoundError(f"name: no person called {name!r}")
        return self.get(name)
