"""The import checkpoint: what is already mirrored, kept in one SQLite file.

Every mapped line is stored with the *change key* of the record it came from (version,
status, parent, container). A run lists the site, fetches only records whose key differs
from the stored one, and removes stored items that the complete listing no longer shows.
So a first import, an incremental re-run and the resumption of a killed run are one
algorithm, and a resumed run converges on exactly what an uninterrupted one stores: each
batch is one SQLite transaction, so a kill loses at most the batch in flight, which the
next run fetches again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from index.importer.mapping import Container

SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (id TEXT PRIMARY KEY, key TEXT NOT NULL, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, change TEXT NOT NULL, space TEXT NOT NULL,
    type TEXT NOT NULL, title TEXT NOT NULL, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (account_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS users (account_id TEXT PRIMARY KEY, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def dumps(line: dict[str, Any]) -> str:
    """One JSON line, the same bytes for the same line on every run."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


class State:
    """The checkpoint of one output (a site directory or an index)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- meta --------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- spaces --------------------------------------------------------------------------

    def put_spaces(self, spaces: Iterable[tuple[str, dict[str, Any]]]) -> None:
        with self._transaction():
            for space_id, line in spaces:
                self.db.execute("INSERT OR REPLACE INTO spaces VALUES (?, ?, ?)",
                                (space_id, line["key"], dumps(line)))

    def space_keys(self) -> dict[str, str]:
        """v2 space id -> key."""
        return dict(self.db.execute("SELECT id, key FROM spaces").fetchall())

    def drop_spaces(self, keep_ids: Iterable[str]) -> list[str]:
        """Forget the spaces not in ``keep_ids`` and their items; the items' ids."""
        keep = set(keep_ids)
        gone = [(i, k) for i, k in self.db.execute("SELECT id, key FROM spaces") if i not in keep]
        ids: list[str] = []
        with self._transaction():
            for space_id, key in gone:
                ids += [r[0] for r in self.db.execute("SELECT id FROM items WHERE space = ?",
                                                      (key,))]
                self.db.execute("DELETE FROM items WHERE space = ?", (key,))
                self.db.execute("DELETE FROM spaces WHERE id = ?", (space_id,))
        return ids

    # --- items ---------------------------------------------------------------------------

    def changes(self) -> dict[str, str]:
        """id -> change key of every stored item."""
        return dict(self.db.execute("SELECT id, change FROM items").fetchall())

    def kinds(self) -> dict[str, str]:
        """id -> raw record kind (``page``, ``footer-comment``, ...)."""
        return dict(self.db.execute("SELECT id, kind FROM items").fetchall())

    def containers(self) -> dict[str, Container]:
        return {i: Container(s, t, title) for i, s, t, title in
                self.db.execute("SELECT id, space, type, title FROM items")}

    def put_items(self, rows: Iterable[tuple[str, str, dict[str, Any]]],
                  people: Iterable[str] = ()) -> None:
        """Store (kind, change key, line) rows and the account ids they name, atomically."""
        with self._transaction():
            for kind, change, line in rows:
                self.db.execute(
                    "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (line["id"], kind, change, line["space"], line["type"], line["title"],
                     dumps(line)))
            self.db.executemany("INSERT OR IGNORE INTO people VALUES (?)",
                                [(p,) for p in people])

    def delete_items(self, ids: Iterable[str]) -> None:
        with self._transaction():
            self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])

    def lines(self) -> Iterator[dict[str, Any]]:
        """Stored content lines in id order (numeric), for a deterministic site file."""
        for (line,) in self.db.execute(
                "SELECT line FROM items ORDER BY length(id), id"):
            yield json.loads(line)

    def item_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM items").fetchone()[0])

    # --- users ---------------------------------------------------------------------------

    def missing_people(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT account_id FROM people WHERE account_id NOT IN (SELECT account_id FROM "
            "users) ORDER BY account_id")]

    def put_users(self, lines: Iterable[dict[str, Any]]) -> None:
        with self._transaction():
            for line in lines:
                self.db.execute("INSERT OR REPLACE INTO users VALUES (?, ?)",
                                (line["account_id"], dumps(line)))

    # --- output --------------------------------------------------------------------------

    def write_site(self, directory: Path) -> int:
        """Write spaces.jsonl, users.jsonl and content.jsonl into ``directory``, fsynced."""
        count = 0
        files = {
            "spaces.jsonl": (r[0] for r in self.db.execute(
                "SELECT line FROM spaces ORDER BY key")),
            "users.jsonl": (r[0] for r in self.db.execute(
                "SELECT line FROM users ORDER BY account_id")),
            "content.jsonl": (r[0] for r in self.db.execute(
                "SELECT line FROM items ORDER BY length(id), id")),
        }
        for name, rows in files.items():
            with (directory / name).open("w", encoding="utf-8", newline="\n") as out:
                for row in rows:
                    out.write(row)
                    out.write("\n")
                    count += name == "content.jsonl"
                out.flush()
                _fsync(out.fileno())
        return count

    def _transaction(self) -> _Tx:
        return _Tx(self.db)


class _Tx:
    """BEGIN ... COMMIT (ROLLBACK on an exception) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def _fsync(fd: int) -> None:
    import os

    os.fsync(fd)
