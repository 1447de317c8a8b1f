"""Where an import goes: a site directory (``--out``) or a live index (``--index``).

``SiteSink`` never touches the target until the end. Work happens in ``SITE.partial/`` (the
checkpoint lives there while a run is under way, so a killed run resumes from it), and the
finished directory replaces ``SITE`` by two renames. The checkpoint then stays with the
site, in ``SITE/.cql-import/``, for the next incremental run. The loader ignores it.

``IndexSink`` upserts in batches while the import runs, so the index is searchable all
along. ``Engine.upsert`` rejects a child whose parent it has not seen yet, so items wait in
``pending`` until what they hang from is in the index (or the run ends). Spaces and users
go into the index's catalog first (``Engine.upsert_catalog``). The checkpoint
records only what the index accepted, so a kill between an upsert and its checkpoint
commit repeats an idempotent upsert, never skips one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from index.importer.http import ImportFailure

STATE_DIR = ".cql-import"
STATE_FILE = "state.db"


class SiteSink:
    """``--out SITE``: the site directory, written atomically at the end."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.partial = self.target.with_name(self.target.name + ".partial")
        self.old = self.target.with_name(self.target.name + ".old")
        if not self.target.exists() and self.old.exists():
            os.replace(self.old, self.target)  # killed between the two renames of a swap
        if self.target.exists() and not (self.target / STATE_DIR / STATE_FILE).is_file() \
                and any(self.target.iterdir()):
            raise ImportFailure(f"--out {self.target}: exists and was not written by cql "
                                "import; choose a new directory")
        resuming = (self.partial / STATE_DIR / STATE_FILE).is_file()
        if not resuming:
            shutil.rmtree(self.partial, ignore_errors=True)
            (self.partial / STATE_DIR).mkdir(parents=True)
            previous = self.target / STATE_DIR / STATE_FILE
            if previous.is_file():
                shutil.copyfile(previous, self.partial / STATE_DIR / STATE_FILE)
        self.resuming = resuming
        self.state_path = self.partial / STATE_DIR / STATE_FILE

    def known_ids(self) -> set[str]:
        return set()

    def put(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return lines

    def flush(self) -> list[dict[str, Any]]:
        return []

    def delete(self, ids: Iterable[str]) -> None:
        pass

    def catalog(self, spaces: Iterable[dict[str, Any]] = (),
                users: Iterable[dict[str, Any]] = ()) -> None:
        pass  # the site files are written from the checkpoint at the end

    def finish(self, state: Any) -> int:
        """Write the site files from the checkpoint and swap the directory into place."""
        for name in ("spaces.jsonl", "users.jsonl", "content.jsonl"):
            (self.partial / name).unlink(missing_ok=True)
        count = state.write_site(self.partial)
        state.close()
        for leftover in (self.partial / STATE_DIR).glob(STATE_FILE + "-*"):
            leftover.unlink()  # WAL files are folded into the database on close
        if self.target.exists():
            os.replace(self.target, self.old)
        os.replace(self.partial, self.target)
        shutil.rmtree(self.old, ignore_errors=True)
        return count


class IndexSink:
    """``--index DIR``: batched upserts and deletes on an existing index."""

    def __init__(self, index_dir: Path, batch: int = 1000) -> None:
        from index.engine import Engine
        from index.errors import EngineError

        try:
            self.engine = Engine.open(index_dir)
        except EngineError as err:
            raise ImportFailure(f"--index: {err.message}") from None
        self.state_path = Path(index_dir) / STATE_DIR / STATE_FILE
        self.resuming = False
        self.batch = batch  # items per upsert: each is one index commit
        self.pending: dict[str, dict[str, Any]] = {}
        self.rejects: list[str] = []
        snap = self.engine.store.snapshot()
        self.present = {i for i in snap.docnum_by_id if not i.startswith("space:")}

    def known_ids(self) -> set[str]:
        return set(self.present)

    def put(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upsert what can be placed now; returns the lines the index accepted."""
        for line in lines:
            self.pending[line["id"]] = line
        if len(self.pending) < self.batch:
            return []
        return self._drain(final=False)

    def flush(self) -> list[dict[str, Any]]:
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[dict[str, Any]]:
        ready: dict[str, dict[str, Any]] = {}
        progress = True
        while progress:
            progress = False
            for item_id, line in list(self.pending.items()):
                link = line.get("parent_id") or line.get("container_id")
                if final or link is None or link in self.present or link in ready:
                    ready[item_id] = self.pending.pop(item_id)
                    progress = True
        if not ready:
            return []
        rejects = self.engine.upsert(list(ready.values()))
        self.rejects.extend(str(r) for r in rejects)
        rejected = {r.message.split(":", 1)[0].removeprefix("id ") for r in rejects}
        accepted = [line for i, line in ready.items() if i not in rejected]
        self.present.update(line["id"] for line in accepted)
        return accepted

    def catalog(self, spaces: Iterable[dict[str, Any]] = (),
                users: Iterable[dict[str, Any]] = ()) -> None:
        """New or changed spaces and users go into the index's catalog before content."""
        from index.errors import EngineError

        try:
            self.engine.upsert_catalog(spaces=spaces, users=users)
        except EngineError as err:
            raise ImportFailure(f"--index: {err.message}") from None

    def delete(self, ids: Iterable[str]) -> None:
        doomed = [i for i in ids if i in self.present]
        if doomed:
            self.engine.delete(doomed)
            self.present.difference_update(doomed)

    def finish(self, state: Any) -> int:
        count = state.item_count()
        state.close()
        return count
