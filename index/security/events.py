"""Data security policy events: what an app is told when a policy change blocks it.

Confluence notifies an app when a policy change makes it lose access (sources.md, policies 2):
one ``..._in_container.v2`` event per space it lost, and ``..._objects.v2`` events listing
the pages, blog posts, whiteboards and databases it can no longer see, grouped by type and
split over several events when the list is long. At most ``cap`` objects are reported per
app and change, the first ones in a stable order; the rest are dropped silently. Nothing is
sent when access comes back, or when an app is installed or uninstalled.

Two layers, kept apart on purpose:

- the **wire** event (``CloudEvent``) carries exactly the CloudEvents 1.0 fields of the
  Forge reference: ``specversion``, ``id``, ``source``, ``type``, ``time``, ``data``;
- our **bookkeeping** (``PolicyChangeRecord``: how many objects were affected, delivered and
  omitted) never appears on the wire, as Atlassian's events carry no truncation flag.

Generation streams: objects come from an ``ObjectSource`` one at a time and only one
event's worth of ids is held in memory, so a change blocking a million objects runs in flat
memory. Clock and event ids are injected so tests (and replays) are deterministic.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.errors import EngineError
from index.security.policy import App, ChangeTrigger, PolicyChange, blocked_spaces

try:  # POSIX: serialise appends from several processes; elsewhere appends are unguarded.
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

OBJECTS_EVENT = "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2"
CONTAINER_EVENT = "avi:ecosystem.app_policy:blocked:app_access_to_objects_in_container.v2"

#: The object types the objects event reports (sources.md, policies 2.1). Comments, attachments,
#: embeds and folders are blocked with their space but never listed.
REPORTED_TYPES: frozenset[str] = frozenset({"page", "blogpost", "whiteboard", "database"})

#: Objects reported per app and change since 19 July 2024, and before it.
DEFAULT_CAP = 200_000
LEGACY_CAP = 50_000
_CAP_RAISED = datetime(2024, 7, 19, tzinfo=UTC)


def confluence_cap(at: datetime) -> int:
    """The cap Confluence applied to a change made at ``at`` (aware datetime)."""
    return LEGACY_CAP if at < _CAP_RAISED else DEFAULT_CAP


def id_sort_key(object_id: str) -> tuple[int, int, str]:
    """Content ids order numerically ("9" before "10"); a non-numeric id sorts after all
    numeric ones, by text, so any id still has a place in the order."""
    if object_id.isdigit():
        return (0, int(object_id), "")
    return (1, 0, object_id)


def object_sort_key(space_key: str, object_type: str, object_id: str) -> tuple[Any, ...]:
    """The stable order of reported objects: space key, then type, then id.

    Space keys and types compare as plain strings (so types run blogpost, database, page,
    whiteboard); ids compare by ``id_sort_key``. An ``ObjectSource`` must yield in this order.
    """
    return (space_key, object_type, id_sort_key(object_id))


class ObjectSource(Protocol):
    """Where the blocked objects come from (the engine reads them from its index)."""

    def objects_in_spaces(self, space_keys: list[str]) -> Iterator[tuple[str, str, str]]:
        """``(space_key, type, id)`` of the content in ``space_keys`` (sorted), of every
        status (a draft or archived page is blocked too), in ``object_sort_key`` order.
        Types outside ``REPORTED_TYPES`` may be included; they are skipped."""
        ...


# --- the wire format ---------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


class Workspace(_Wire):
    cloud_id: str = Field(alias="cloudId")


class BlockedObjects(_Wire):
    """Ids of one type of object, in one event."""

    product: str
    type: str
    ids: list[str]


class ObjectsData(_Wire):
    workspace: Workspace
    objects: list[BlockedObjects]


class Container(_Wire):
    product: str
    id: str


class ContainerData(_Wire):
    workspace: Workspace
    container: Container


class CloudEvent(_Wire):
    """One CloudEvents 1.0 event, exactly as an app receives it."""

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: Literal[
        "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2",
        "avi:ecosystem.app_policy:blocked:app_access_to_objects_in_container.v2",
    ]
    time: str
    data: ObjectsData | ContainerData

    def to_wire(self) -> dict[str, Any]:
        """The JSON object an app receives (``cloudId`` spelled as on the wire)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CloudEvent:
        return cls.model_validate(data)


class Delivery(BaseModel):
    """An event addressed to one app. The wire event does not name its recipient (the
    platform routes it to the app's trigger), so the address travels beside it."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    app_id: str
    event: CloudEvent


# --- bookkeeping -------------------------------------------------------------------------


class PolicyChangeRecord(BaseModel):
    """What one change did to one app that lost access. Ours only; never on the wire."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    app_id: str
    policy_id: str
    trigger: ChangeTrigger
    spaces: list[str]
    affected: int
    delivered: int
    omitted: int
    cap: int
    chunk_size: int
    object_events: int
    container_events: int

    @property
    def truncated(self) -> bool:
        return self.omitted > 0


class EventSettings(BaseModel):
    """Knobs of event generation. ``chunk_size`` (objects per event) is undocumented by
    Atlassian; ``cap`` is 200,000 today and was 50,000 before July 2024 (``confluence_cap``)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    cap: int = Field(default=DEFAULT_CAP, ge=0)
    chunk_size: int = Field(default=1_000, ge=1)
    source: str = "atlassian.com/ecosystem"
    product: str = "confluence"


def utc_now() -> datetime:
    return datetime.now(UTC)


def random_event_id() -> str:
    return str(uuid.uuid4())


def rfc3339(moment: datetime) -> str:
    """``2024-07-19T08:30:00.000Z``: UTC, millisecond precision (CloudEvents ``time``)."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- generation --------------------------------------------------------------------------


class PolicyEvents:
    """The events of one ``PolicyChange``, generated lazily; iterate once.

    For every app (in app id order) whose blocked spaces grow, it yields one container
    event per newly blocked space (sorted by key), then the objects events. ``records``
    gains the app's ``PolicyChangeRecord`` once its last event has been yielded, so it is
    complete when iteration ends. Apps whose access only grows get nothing.
    """

    def __init__(
        self,
        change: PolicyChange,
        *,
        apps: Iterable[App],
        space_keys: Iterable[str],
        objects: ObjectSource,
        cloud_id: str,
        space_ids: Mapping[str, str] | None = None,
        settings: EventSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = random_event_id,
    ) -> None:
        self.change = change
        self.apps = sorted(apps, key=lambda app: app.app_id)
        self.space_keys = sorted(set(space_keys))
        self.objects = objects
        self.cloud_id = cloud_id
        self.space_ids = dict(space_ids or {})
        self.settings = settings or EventSettings()
        self.clock = clock
        self.new_id = new_id
        self.records: list[PolicyChangeRecord] = []
        self._started = False

    def __iter__(self) -> Iterator[Delivery]:
        if self._started:
            raise RuntimeError("PolicyEvents can be iterated only once")
        self._started = True
        return self._generate()

    def lost_spaces(self, app: App) -> list[str]:
        """The spaces ``app`` is blocked from after the change but was not before."""
        before = blocked_spaces(app.app_id, self.change.before, self.apps, self.space_keys)
        after = blocked_spaces(app.app_id, self.change.after, self.apps, self.space_keys)
        return sorted(after - before)

    def _generate(self) -> Iterator[Delivery]:
        if not self.change.changed:
            return
        time = rfc3339(self.clock())
        for app in self.apps:
            lost = self.lost_spaces(app)
            if lost:
                yield from self._app_events(app.app_id, lost, time)

    def _event(self, kind: str, data: ObjectsData | ContainerData, time: str) -> CloudEvent:
        return CloudEvent(
            id=self.new_id(), source=self.settings.source, type=kind, time=time, data=data
        )

    def _app_events(self, app_id: str, lost: list[str], time: str) -> Iterator[Delivery]:
        product = self.settings.product
        workspace = Workspace(cloud_id=self.cloud_id)
        for key in lost:
            container = Container(product=product, id=self.space_ids.get(key, key))
            data = ContainerData(workspace=workspace, container=container)
            yield Delivery(app_id=app_id, event=self._event(CONTAINER_EVENT, data, time))

        cap, chunk_size = self.settings.cap, self.settings.chunk_size
        affected = delivered = in_chunk = object_events = 0
        pending: dict[str, list[str]] = {}

        def flush() -> Delivery:
            groups = [
                BlockedObjects(product=product, type=kind, ids=pending[kind])
                for kind in sorted(pending)
            ]
            data = ObjectsData(workspace=workspace, objects=groups)
            return Delivery(app_id=app_id, event=self._event(OBJECTS_EVENT, data, time))

        for _space, kind, object_id in _checked_order(
            self.objects.objects_in_spaces(list(lost)), frozenset(lost)
        ):
            if kind not in REPORTED_TYPES:
                continue
            affected += 1
            if delivered >= cap:
                continue  # past the cap: counted, never reported
            pending.setdefault(kind, []).append(object_id)
            delivered += 1
            in_chunk += 1
            if in_chunk == chunk_size or delivered == cap:
                yield flush()
                object_events += 1
                pending, in_chunk = {}, 0
        if in_chunk:
            yield flush()
            object_events += 1

        self.records.append(
            PolicyChangeRecord(
                app_id=app_id,
                policy_id=self.change.policy_id,
                trigger=self.change.trigger,
                spaces=lost,
                affected=affected,
                delivered=delivered,
                omitted=affected - delivered,
                cap=cap,
                chunk_size=chunk_size,
                object_events=object_events,
                container_events=len(lost),
            )
        )


def _checked_order(
    objects: Iterable[tuple[str, str, str]], spaces: frozenset[str]
) -> Iterator[tuple[str, str, str]]:
    """Pass objects through, failing if the source breaks its contract.

    "The first ``cap`` objects" only means something if the order is the promised one, and
    an object from a space the app did not lose must never be reported; both are checked
    on the fly, at the cost of one integer comparison per object.
    """
    current: tuple[str, str] | None = None
    last_id: tuple[int, int, str] | None = None
    for item in objects:
        space, kind, object_id = item
        if current is None or (space, kind) != current:
            if current is not None and (space, kind) < current:
                raise ValueError(
                    f"object source out of order: {space}/{kind} after {current[0]}/{current[1]}"
                )
            if space not in spaces:
                raise ValueError(f"object source yielded space {space!r}, which was not asked")
            current, last_id = (space, kind), None
        key = (0, int(object_id), "") if object_id.isdigit() else (1, 0, object_id)
        if last_id is not None and key <= last_id:
            raise ValueError(
                f"object source out of order or repeated: id {object_id} in {space}/{kind}"
            )
        last_id = key
        yield item


# --- subscribers -------------------------------------------------------------------------

Subscriber = Callable[[Delivery], object]


class EventBus:
    """In-process subscribers. Each published delivery reaches every subscriber, in
    subscription order; if some fail, the others still run and the failures are raised
    together afterwards (``ExceptionGroup``), so one broken listener cannot silence the
    event log."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; call the returned function to unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, delivery: Delivery) -> None:
        failures: list[Exception] = []
        for callback in list(self._subscribers):
            try:
                callback(delivery)
            except Exception as error:  # collected, re-raised below
                failures.append(error)
        if failures:
            raise ExceptionGroup("policy event subscribers failed", failures)

    def publish_all(self, deliveries: Iterable[Delivery]) -> int:
        """Publish a stream of deliveries (e.g. a ``PolicyEvents``); returns how many."""
        count = 0
        for delivery in deliveries:
            self.publish(delivery)
            count += 1
        return count


class LoggedEvent(BaseModel):
    """A line of the event log: sequence number, recipient app, and the wire event."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    seq: int
    app_id: str
    event: CloudEvent

    def to_json_line(self) -> str:
        line = {"seq": self.seq, "app_id": self.app_id, "event": self.event.to_wire()}
        return json.dumps(line, separators=(",", ":"), ensure_ascii=False)


_SEQ_PREFIX = re.compile(rb'^\{"seq":(\d+),')


class EventLog:
    """An append-only JSON Lines file of delivered events, kept with the index.

    Each line is ``{"seq": N, "app_id": ..., "event": {CloudEvent}}``; ``seq`` grows by one
    per line across the file's whole life, so a reader resumes with ``since(last_seen)``.
    Appends take an exclusive lock and read the last sequence number from the file, so
    several processes can append to one log. A last line cut short by a crash is ignored by
    readers and removed by the next append.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, delivery: Delivery) -> LoggedEvent:
        """Add one event (usable directly as an ``EventBus`` subscriber)."""
        logged: list[LoggedEvent] = []
        self._write([delivery], logged.append)
        return logged[0]

    def extend(self, deliveries: Iterable[Delivery]) -> int:
        """Add a stream of events under one lock and one file handle; returns how many."""
        return self._write(deliveries, None)

    @property
    def last_seq(self) -> int:
        """The sequence number of the last complete line (0 for an empty log)."""
        try:
            with self.path.open("rb") as handle:
                return _last_seq(handle, self.path, repair=False)
        except FileNotFoundError:
            return 0

    def since(self, seq_id: int = 0) -> Iterator[LoggedEvent]:
        """The logged events with a sequence number greater than ``seq_id``, in order."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    return  # a torn last line: the write never completed
                match = _SEQ_PREFIX.match(raw)
                if match is not None and int(match[1]) <= seq_id:
                    continue  # skip without parsing the (possibly long) event
                if not raw.strip():
                    continue
                entry = _parse_line(raw, self.path, number)
                if entry.seq > seq_id:
                    yield entry

    def _open_for_append(self) -> Any:
        """The log opened for reading its tail and appending (a seam for full-disk tests)."""
        return self.path.open("a+b")

    def _write(
        self, deliveries: Iterable[Delivery], sink: Callable[[LoggedEvent], object] | None
    ) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with self._open_for_append() as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                seq = _last_seq(handle, self.path, repair=True)
                handle.seek(0, os.SEEK_END)
                for delivery in deliveries:
                    seq += 1
                    entry = LoggedEvent(seq=seq, app_id=delivery.app_id, event=delivery.event)
                    handle.write(entry.to_json_line().encode("utf-8") + b"\n")
                    count += 1
                    if sink is not None:
                        sink(entry)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return count


def _parse_line(raw: bytes, path: Path, number: int) -> LoggedEvent:
    try:
        return LoggedEvent.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        raise EngineError(
            "bad_event_log", f"{path}:{number}: corrupt event line ({error})"
        ) from None


def _last_seq(handle: Any, path: Path, *, repair: bool) -> int:
    """The last complete line's ``seq``, reading backwards from the end of the file.

    With ``repair``, a torn last line (no newline: an append interrupted by a crash) is
    truncated away so the next line starts cleanly.
    """
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    end = _rfind_newline(handle, size) + 1  # just past the last complete line
    if repair and end != size:
        handle.truncate(end)
    if end == 0:
        return 0
    start = _rfind_newline(handle, end - 1) + 1
    handle.seek(start)
    raw = handle.read(end - start)
    match = _SEQ_PREFIX.match(raw)
    return int(match[1]) if match is not None else _parse_line(raw, path, 0).seq


def _rfind_newline(handle: Any, before: int) -> int:
    """The offset of the last newline at an offset below ``before``, or -1."""
    block = 64 * 1024
    position = before
    while position > 0:
        step = min(block, position)
        position -= step
        handle.seek(position)
        found = handle.read(step).rfind(b"\n")
        if found >= 0:
            return position + found
    return -1
