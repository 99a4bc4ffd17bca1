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
    if role not in ROLES:
        raise InvalidInputError(f"role: expected one of {', '.join(ROLES)}, got {role!r:.40}")
    return role  # type: ignore[return-value]


def check_name(name: object) -> str:
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
        row = self.db.row("SELECT * FROM people WHERE name=?", (name,))
        if row is None:
            raise NotFoundError(f"name: no person called {name!r}")
        return from_row(PersonRow, row, disabled=bool(row["disabled"]))

    def all(self) -> list[PersonRow]:
        return [from_row(PersonRow, r, disabled=bool(r["disabled"]))
                for r in self.db.rows("SELECT * FROM people ORDER BY id")]

    def credential(self, token_key: str) -> Credential | None:
        """The credential of a token's public key (None: no such token, or one that was replaced)."""
        row = self.db.row("SELECT * FROM people WHERE token_key=?", (token_key,))
        if row is None:
            return None
        return Credential(from_row(PersonRow, row, disabled=bool(row["disabled"])), bytes(row["salt"]),
                          bytes(row["token_hash"]))

    def disable(self, name: str) -> PersonRow:
        """A disabled person's token is refused; their work and history stay."""
        with self.db.transaction() as db:
            if db.execute("UPDATE people SET disabled=1 WHERE name=?", (name,)).rowcount == 0:
                raise NotFoundError(f"name: no person called {name!r}")
        return self.get(name)

    def set_token(self, name: str, token_key: str, salt: bytes, token_hash: bytes) -> PersonRow:
        """A new token for ``name``; the old one stops working at once."""
        with self.db.transaction() as db:
            cur = db.execute("UPDATE people SET token_key=?, salt=?, token_hash=?, token_created=? WHERE name=?",
                             (token_key, salt, token_hash, self.db.clock(), name))
            if cur.rowcount == 0:
                raise NotFoundError(f"name: no person called {name!r}")
        return self.get(name)
