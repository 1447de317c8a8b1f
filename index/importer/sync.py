"""One import run: list, fetch what changed, map, store, delete what is gone.

The same steps serve a first import, an incremental re-run and the resumption of a killed
run (``state.py`` says why). In order:

1. Spaces (v2 ``/spaces``, narrowed by ``--space``). Spaces no longer there, or no longer
   asked for, are dropped with their content.
2. Per space, the listing of pages, blog posts, whiteboards, databases, embeds and folders.
   A listed item whose change key equals the checkpoint's is done; the others are fetched
   (bounded concurrency), mapped and stored in batches.
3. Attachments, then footer and inline comments, whose containers are known by now.
4. Deletions, only when every listing above read to its end: whatever the checkpoint (or
   the index) holds and the site no longer lists, trashed or purged, disappears.
5. Items whose tree parent or container is missing after all that are reported and dropped
   (the loader would reject them anyway; better to hear it from the import).
6. Display names of every account that appears.

``--since`` narrows step 2 and 3 further: an item last modified before it is not fetched
again if the output already has it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from index.importer.mapping import (
    KEPT_STATUSES,
    Container,
    Skip,
    change_key,
    label,
    map_content,
    map_space,
    map_user,
)
from index.importer.state import State
from index.site.loader import derive

BATCH = 200
USER_BATCH = 100


class Source(Protocol):
    def spaces(self, keys: list[str] | None) -> Iterable[dict[str, Any]]: ...
    def listing(self, space: Mapping[str, Any]) -> Iterable[list[tuple[str, dict[str, Any]]]]: ...
    def detail(self, kind: str, summary: Mapping[str, Any]) -> dict[str, Any] | None: ...
    def contained(self) -> Iterable[list[tuple[str, dict[str, Any]]]]: ...
    def enrich(self, kind: str, record: dict[str, Any]) -> dict[str, Any]: ...
    def first_version(self, kind: str, record: Mapping[str, Any]) -> dict[str, Any] | None: ...
    def users(self, account_ids: list[str]) -> list[dict[str, Any]]: ...


class Sink(Protocol):
    def known_ids(self) -> set[str]: ...
    def put(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def flush(self) -> list[dict[str, Any]]: ...
    def delete(self, ids: Iterable[str]) -> None: ...
    def catalog(self, spaces: Iterable[dict[str, Any]] = ...,
                users: Iterable[dict[str, Any]] = ...) -> None: ...


@dataclass
class Report:
    """What a run did, for the summary line and the tests."""

    fetched: int = 0
    unchanged: int = 0
    stored: int = 0
    deleted: int = 0
    skipped: int = 0  # left out on purpose (trashed, outside the imported spaces)
    problems: list[str] = field(default_factory=list)  # reported bad records
    complete: bool = True


@dataclass(frozen=True, slots=True)
class _Node:
    """What ``derive`` reads of an item, without building (and validating) a whole one."""

    id: str
    type: str
    space: str
    parent_id: str | None
    container_id: str | None
    ancestors: tuple[str, ...] = ()

    def model_copy(self, update: dict[str, Any]) -> _Node:
        return replace(self, **update)


class Progress:
    """A tqdm bar per resource on a terminal; a line per 1,000 items otherwise."""

    def __init__(self, tty: bool | None = None, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.bars: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def step(self, resource: str, n: int = 1) -> None:
        before = self.counts.get(resource, 0)
        self.counts[resource] = before + n
        if self.tty:
            if resource not in self.bars:
                from tqdm import tqdm

                self.bars[resource] = tqdm(desc=resource, unit="item", file=self.stream,
                                           leave=False)
            self.bars[resource].update(n)
        elif (before + n) // 1000 > before // 1000:
            print(f"import: {resource}: {before + n:,} items", file=self.stream, flush=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _modified(raw: Mapping[str, Any]) -> datetime | None:
    version = raw.get("version")
    when = version.get("createdAt") if isinstance(version, Mapping) else None
    try:
        return datetime.fromisoformat(str(when)) if when else None
    except ValueError:
        return None


class Run:
    """One import run over a source, a checkpoint and a sink."""

    def __init__(self, source: Source, state: State, sink: Sink, *,
                 space_keys: list[str] | None = None, since: datetime | None = None,
                 concurrency: int = 8, progress: Progress | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.source = source
        self.state = state
        self.sink = sink
        self.space_filter = space_keys
        self.since = since
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
        self.lister = ThreadPoolExecutor(max_workers=max(1, concurrency // 2))
        self.progress = progress or Progress(tty=False)
        self.warn = warn or (lambda message: print(f"skipped: {message}", file=sys.stderr))
        self.report = Report()
        self.stored = state.changes()
        self.known = set(self.stored) | sink.known_ids()
        self.seen: set[str] = set()
        self._pending: dict[str, tuple[str, str]] = {}  # id -> (kind, key) until stored
        self._waiting: dict[str, dict[str, Any]] = {}  # lines the sink holds back, by id
        # What comments and attachments may hang from: only items seen in this run (an
        # item deleted on the site takes its comments and attachments with it).
        self.containers: dict[str, Container] = {}
        self.stored_containers: dict[str, Container] = {}
        self.in_contained = False

    def run(self) -> Report:
        started = time.perf_counter()
        try:
            spaces = self._spaces()
            # Spaces are listed ahead, a few at a time, while details are fetched: the
            # listings are many small requests, and waiting for each in turn would leave
            # the connection pool idle.
            for raw_space, batches in zip(spaces, self.lister.map(
                    lambda space: list(self.source.listing(space)), spaces), strict=True):
                for batch in batches:
                    self._batch(batch, space_hint=raw_space["key"])
            orphans = getattr(self.source, "orphans", None)
            for kind, raw in orphans() if orphans else ():
                self._problem(f"{label(kind, raw)}: missing spaceId (and no parent that has "
                              "one)")
            self._rehome_waiting()
            self._store(self.sink.flush())
            self.stored_containers = self.state.containers()
            self.containers = {i: c for i, c in self.stored_containers.items()
                               if i in self.seen}
            self.in_contained = True
            for batch in self.source.contained():
                self._batch(batch, space_hint=None)
            self._store(self.sink.flush())
            self._deletions()
            self._dangling()
            self._users()
            self.state.set("last_run", datetime.now().astimezone().isoformat())
        finally:
            self.lister.shutdown(wait=True, cancel_futures=True)
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.progress.close()
        self.seconds = time.perf_counter() - started
        return self.report

    # --- steps ---------------------------------------------------------------------------

    def _spaces(self) -> list[dict[str, Any]]:
        kept: list[tuple[str, dict[str, Any]]] = []
        raws: list[dict[str, Any]] = []
        for raw in self.source.spaces(self.space_filter):
            try:
                space_id, line = map_space(raw)
            except Skip as skip:
                self._problem(skip.message)
                continue
            kept.append((space_id, line))
            raws.append({**raw, "id": space_id, "key": line["key"]})
            self.progress.step("spaces")
        if self.space_filter:
            found = {line["key"].casefold() for _, line in kept}
            for key in self.space_filter:
                if key.casefold() not in found:
                    self._problem(f"space {key}: not found on the site")
        gone = self.state.drop_spaces(space_id for space_id, _ in kept)
        if gone:
            self.sink.delete(gone)
            self.report.deleted += len(gone)
            for item_id in gone:
                self.stored.pop(item_id, None)
                self.known.discard(item_id)
        self.state.put_spaces(kept)
        self.sink.catalog(spaces=[line for _, line in kept])
        self.space_keys = self.state.space_keys()
        return raws

    def _batch(self, batch: list[tuple[str, dict[str, Any]]], space_hint: str | None) -> None:
        """Decide, fetch, map and store one listed batch."""
        todo: list[tuple[str, dict[str, Any]]] = []
        for kind, raw in batch:
            item_id = str(raw.get("id", ""))
            if raw.get("status", "current") not in KEPT_STATUSES:
                continue  # trashed / deleted: not seen, so removed below
            if space_hint is None and not self._container_known(raw):
                self.report.skipped += 1
                continue
            self.seen.add(item_id)
            if space_hint is None and item_id in self.stored_containers:
                self.containers[item_id] = self.stored_containers[item_id]
            if self.stored.get(item_id) == change_key(raw):
                self.report.unchanged += 1
                continue
            modified = _modified(raw)
            # --since stands in for a checkpoint the output lacks (an index built from a
            # site): with a stored change key, that key is the better judge.
            if (self.since and item_id not in self.stored and item_id in self.known
                    and modified is not None and modified < self.since):
                self.report.unchanged += 1
                continue
            todo.append((kind, raw))
        for start in range(0, len(todo), BATCH):
            chunk = todo[start:start + BATCH]
            results = self.pool.map(
                lambda pair: self._fetch_map(pair[0], pair[1], space_hint), chunk)
            rows: list[tuple[str, str, dict[str, Any]]] = []
            people: list[str] = []
            for (kind, raw), outcome in zip(chunk, results, strict=True):
                item_id = str(raw.get("id", ""))
                self.progress.step(kind)
                self.report.fetched += 1
                if isinstance(outcome, Skip):
                    self.seen.discard(item_id)
                    if outcome.report:
                        self._problem(outcome.message)
                    else:
                        self.report.skipped += 1
                    continue
                line, who, key = outcome
                rows.append((kind, key, line))
                people.extend(who)
            self._write(rows, people)

    def _fetch_map(self, kind: str, summary: dict[str, Any], space_hint: str | None
                   ) -> tuple[dict[str, Any], list[str], str] | Skip:
        """In a worker thread: the full record, mapped (or why not)."""
        try:
            record = (self.source.enrich(kind, summary) if space_hint is None
                      else self.source.detail(kind, summary))
            if record is None:
                return Skip(f"{label(kind, summary)}: gone since it was listed", report=False)
            first = None
            version = record.get("version") or {}
            if space_hint is None and isinstance(version, Mapping) and \
                    isinstance(version.get("number"), int) and version["number"] > 1:
                first = self.source.first_version(kind, record)
            line, who = map_content(kind, record, space_keys=self.space_keys,
                                    containers=self.containers,
                                    space_hint=space_hint, first_version=first)
            return line, who, change_key(summary)
        except Skip as skip:
            return skip

    def _write(self, rows: list[tuple[str, str, dict[str, Any]]], people: list[str]) -> None:
        if not rows:
            return
        for kind, key, line in rows:
            self._pending[line["id"]] = (kind, key)
            self._waiting[line["id"]] = line
        self._store(self.sink.put([line for _, _, line in rows]), people)

    def _store(self, accepted: list[dict[str, Any]], people: Iterable[str] = ()) -> None:
        rows = [(*self._pending.pop(line["id"]), line) for line in accepted]
        for line in accepted:
            self._waiting.pop(line["id"], None)
        self.state.put_items(rows, people)
        self.report.stored += len(rows)
        if self.in_contained:
            for _, _, line in rows:
                self.containers[line["id"]] = Container(line["space"], line["type"],
                                                        line["title"])
        for _kind, key, line in rows:
            self.stored[line["id"]] = key

    def _rehome_waiting(self) -> None:
        """Lines an index holds back for a parent that never came (see ``_dangling``)."""
        placed = []
        for line in list(self._waiting.values()):
            parent = line.get("parent_id")
            if parent and parent not in self.seen:
                placed.append(self._rehome(line, *self._pending[line["id"]]))
        if placed:
            self._store(self.sink.put(placed))

    def _rehome(self, line: dict[str, Any], kind: str, key: str) -> dict[str, Any]:
        """An item whose tree parent is not readable: kept at the top of its space, and
        given a changed key so that the next run fetches it again, in case the parent
        has become readable by then."""
        self._problem(f"content {line['id']}: parent {line['parent_id']} is not readable (a "
                      "draft, trashed or restricted); kept at the top of its space")
        self._pending[line["id"]] = (kind, key + "|rehomed")
        return {k: v for k, v in line.items() if k != "parent_id"}

    def _container_known(self, raw: Mapping[str, Any]) -> bool:
        from index.importer.mapping import container_of

        holder = container_of(raw)
        return holder is None or holder in self.containers

    def _deletions(self) -> None:
        gone = sorted((set(self.stored) | self.known) - self.seen)
        if not gone:
            return
        self.sink.delete(gone)
        self.state.delete_items(gone)
        self.report.deleted += len([i for i in gone if i in self.stored or i in self.known])
        for item_id in gone:
            self.stored.pop(item_id, None)

    def _dangling(self) -> None:
        """Settle items whose tree parent or container is not in the mirror.

        A tree parent can be unreadable (a draft, or restricted from the importing
        account): the item is kept at the top of its space and reported. An item whose
        container is missing, or that breaks another tree rule (a cycle, a parent in
        another space), is reported and dropped, as the loader would reject it.
        """
        lines = {line["id"]: line for line in self.state.lines()}
        kinds = self.state.kinds()
        rehomed = [self._rehome(line, kinds[i], self.stored[i]) for i, line in lines.items()
                   if line.get("parent_id") and line["parent_id"] not in lines]
        if rehomed:
            for line in rehomed:
                lines[line["id"]] = line
            self._store(self.sink.put(rehomed) + self.sink.flush())
        skeletons = {i: _Node(i, line["type"], line["space"], line.get("parent_id"),
                              line.get("container_id"))
                     for i, line in lines.items()}
        _, rejects = derive(skeletons, file="import")  # type: ignore[arg-type]
        doomed = []
        for reject in rejects:
            self._problem(reject.message.replace("id ", "content ", 1))
            doomed.append(reject.message.split(":", 1)[0].removeprefix("id "))
        if doomed:
            self.sink.delete(doomed)
            self.state.delete_items(doomed)

    def _users(self) -> None:
        missing = self.state.missing_people()
        for start in range(0, len(missing), USER_BATCH):
            chunk = missing[start:start + USER_BATCH]
            lines = {}
            for raw in self.source.users(chunk):
                try:
                    line = map_user(raw)
                except Skip as skip:
                    self._problem(skip.message)
                    continue
                lines[line["account_id"]] = line
            for account in chunk:  # unknown or deleted accounts still get a line
                lines.setdefault(account, {"account_id": account, "display_name": account,
                                           "favourite_spaces": [], "favourite_content": [],
                                           "recently_viewed_content": [],
                                           "recently_viewed_spaces": []})
            self.state.put_users(lines.values())
            self.sink.catalog(users=list(lines.values()))
            self.progress.step("users", len(chunk))

    def _problem(self, message: str) -> None:
        self.report.problems.append(message)
        self.warn(message)

