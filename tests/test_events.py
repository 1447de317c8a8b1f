"""Policy events: who gets what, grouping, chunking, the cap, streaming, bus and log."""

from __future__ import annotations

import itertools
import json
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from index.errors import EngineError
from index.security.events import (
    CONTAINER_EVENT,
    OBJECTS_EVENT,
    CloudEvent,
    Delivery,
    EventBus,
    EventLog,
    EventSettings,
    PolicyEvents,
    confluence_cap,
    object_sort_key,
)
from index.security.policy import App, Policy, PolicyChange, PolicyStore

CLOUD = "cloud-1"
SPACES = ["DEV", "ENG", "HR"]
APPS = [
    App(app_id="app-a", kind="forge", name="A"),
    App(app_id="app-b", kind="oauth2_3lo", name="B"),
    App(app_id="app-atl", kind="forge", name="Platform", eligible_for_blocking=False),
]
NOW = datetime(2024, 8, 1, 12, 30, tzinfo=UTC)


class ListSource:
    """Objects from a list, served in the stable order (as the engine's index would)."""

    def __init__(self, objects: list[tuple[str, str, str]]) -> None:
        self.objects = sorted(objects, key=lambda item: object_sort_key(*item))
        self.calls: list[list[str]] = []

    def objects_in_spaces(self, space_keys: list[str]) -> Iterator[tuple[str, str, str]]:
        self.calls.append(space_keys)
        wanted = set(space_keys)
        return (item for item in self.objects if item[0] in wanted)


class SyntheticSource:
    """``per_space`` objects in every asked space, generated lazily, never materialised."""

    TYPES = ("blogpost", "database", "page", "whiteboard")

    def __init__(self, per_space: int) -> None:
        self.per_space = per_space

    def objects_in_spaces(self, space_keys: list[str]) -> Iterator[tuple[str, str, str]]:
        per_type = self.per_space // len(self.TYPES)
        for key in space_keys:
            for kind in self.TYPES:
                for number in range(1, per_type + 1):
                    yield key, kind, str(number)


class RawSource:
    """Yields exactly what it was given, in the given order (to break the contract)."""

    def __init__(self, objects: list[tuple[str, str, str]]) -> None:
        self.objects = objects

    def objects_in_spaces(self, space_keys: list[str]) -> Iterator[tuple[str, str, str]]:
        return iter(self.objects)


def pol(
    pid: str = "p1",
    spaces: list[str] | None = None,
    mode: str = "allowlist",
    apps: list[str] | None = None,
    active: bool = True,
) -> Policy:
    coverage: dict[str, Any] = (
        {"level": "WORKSPACE"} if spaces is None else {"level": "CONTAINER", "spaces": spaces}
    )
    return Policy.model_validate(
        {
            "id": pid,
            "name": pid,
            "active": active,
            "coverage": coverage,
            "rules": {"app_access": {"mode": mode, "apps": apps or []}},
        }
    )


def change(before: list[Policy], after: list[Policy], trigger: str = "updated") -> PolicyChange:
    return PolicyChange(policy_id="p1", trigger=trigger, before=before, after=after, version=1)  # type: ignore[arg-type]


def run(
    the_change: PolicyChange,
    source: Any,
    *,
    apps: list[App] = APPS,
    settings: EventSettings | None = None,
    **kwargs: Any,
) -> tuple[list[Delivery], PolicyEvents]:
    ids = itertools.count(1)
    events = PolicyEvents(
        the_change,
        apps=apps,
        space_keys=SPACES,
        objects=source,
        cloud_id=CLOUD,
        settings=settings,
        clock=lambda: NOW,
        new_id=lambda: f"evt-{next(ids)}",
        **kwargs,
    )
    return list(events), events


SMALL = ListSource(
    [
        ("HR", "page", "10"),
        ("HR", "page", "9"),
        ("HR", "blogpost", "5"),
        ("HR", "whiteboard", "7"),
        ("HR", "database", "8"),
        ("HR", "comment", "11"),  # listed nowhere: blocked with its space, never reported
        ("HR", "attachment", "12"),
        ("HR", "embed", "13"),
        ("HR", "folder", "14"),
        ("ENG", "page", "20"),
        ("DEV", "page", "30"),
    ]
)


# --- who gets events ---------------------------------------------------------------------


def test_activation_produces_exact_wire_events() -> None:
    inactive = pol(spaces=["HR"], apps=["app-b"], active=False)
    deliveries, events = run(
        change([inactive], [inactive.model_copy(update={"active": True})]), SMALL
    )
    assert [d.app_id for d in deliveries] == ["app-a", "app-a"]
    assert [d.event.to_wire() for d in deliveries] == [
        {
            "specversion": "1.0",
            "id": "evt-1",
            "source": "atlassian.com/ecosystem",
            "type": CONTAINER_EVENT,
            "time": "2024-08-01T12:30:00.000Z",
            "data": {
                "workspace": {"cloudId": CLOUD},
                "container": {"product": "confluence", "id": "HR"},
            },
        },
        {
            "specversion": "1.0",
            "id": "evt-2",
            "source": "atlassian.com/ecosystem",
            "type": OBJECTS_EVENT,
            "time": "2024-08-01T12:30:00.000Z",
            "data": {
                "workspace": {"cloudId": CLOUD},
                "objects": [
                    {"product": "confluence", "type": "blogpost", "ids": ["5"]},
                    {"product": "confluence", "type": "database", "ids": ["8"]},
                    {"product": "confluence", "type": "page", "ids": ["9", "10"]},
                    {"product": "confluence", "type": "whiteboard", "ids": ["7"]},
                ],
            },
        },
    ]
    [record] = events.records
    assert record.model_dump() == {
        "app_id": "app-a",
        "policy_id": "p1",
        "trigger": "updated",
        "spaces": ["HR"],
        "affected": 5,
        "delivered": 5,
        "omitted": 0,
        "cap": 200_000,
        "chunk_size": 1_000,
        "object_events": 1,
        "container_events": 1,
    }
    assert not record.truncated


def test_wire_format_has_no_bookkeeping() -> None:
    deliveries, _ = run(change([], [pol()]), SMALL)
    bookkeeping = {"affected", "delivered", "omitted", "truncated", "cap", "policy_id", "app_id"}
    for delivery in deliveries:
        wire = delivery.event.to_wire()
        assert set(wire) == {"specversion", "id", "source", "type", "time", "data"}
        assert set(wire["data"]) in ({"workspace", "objects"}, {"workspace", "container"})
        text = delivery.event.to_json()
        assert not any(f'"{word}"' in text for word in bookkeeping)
        assert CloudEvent.from_wire(json.loads(text)) == delivery.event


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([pol(spaces=["HR"])], [pol(spaces=["HR"], active=False)]),  # deactivate
        ([pol(spaces=["HR"])], []),  # delete
        ([pol(spaces=["HR", "ENG"])], [pol(spaces=["HR"])]),  # space leaves coverage
        (
            [pol(spaces=["HR"], mode="blocklist", apps=["app-a"])],
            [pol(spaces=["HR"], mode="blocklist")],
        ),
        ([pol(spaces=["HR"])], [pol(spaces=["HR"], apps=["app-a", "app-b"])]),  # allowlisted
        ([pol(spaces=["HR"])], [pol(spaces=["HR"])]),  # no change at all
        ([], [pol(spaces=["HR"], mode="blocklist")]),  # blocks nobody
    ],
    ids=["deactivate", "delete", "uncover", "unblocklist", "allowlist", "noop", "empty-blocklist"],
)
def test_no_events_when_nobody_loses_access(before: list[Policy], after: list[Policy]) -> None:
    deliveries, events = run(change(before, after), SMALL)
    assert deliveries == [] and events.records == []


def test_only_newly_covered_spaces_are_reported() -> None:
    deliveries, events = run(change([pol(spaces=["HR"])], [pol(spaces=["HR", "ENG"])]), SMALL)
    containers = [d.event.data.container.id for d in deliveries if d.event.type == CONTAINER_EVENT]
    assert containers == ["ENG", "ENG"]  # one per app that lost it (app-a, app-b)
    objects = [d for d in deliveries if d.event.type == OBJECTS_EVENT]
    assert [o.event.data.objects[0].ids for o in objects] == [["20"], ["20"]]
    assert [r.spaces for r in events.records] == [["ENG"], ["ENG"]]


def test_space_already_blocked_by_another_policy_is_not_reported() -> None:
    other = pol("p0", spaces=["HR"], mode="blocklist", apps=["app-a"])
    deliveries, _ = run(change([other], [other, pol(spaces=["HR", "DEV"])]), SMALL)
    by_app = {
        (d.app_id, d.event.type, getattr(d.event.data, "container", None)) for d in deliveries
    }
    assert ("app-a", CONTAINER_EVENT, None) not in by_app
    app_a = [
        d.event.data.container.id
        for d in deliveries
        if d.app_id == "app-a" and d.event.type == CONTAINER_EVENT
    ]
    app_b = [
        d.event.data.container.id
        for d in deliveries
        if d.app_id == "app-b" and d.event.type == CONTAINER_EVENT
    ]
    assert app_a == ["DEV"] and app_b == ["DEV", "HR"]


def test_blocklisting_an_app_reports_only_that_app() -> None:
    before = pol(spaces=["HR"], mode="blocklist", apps=["app-b"])
    after = pol(spaces=["HR"], mode="blocklist", apps=["app-b", "app-a"])
    deliveries, events = run(change([before], [after]), SMALL)
    assert {d.app_id for d in deliveries} == {"app-a"}
    assert [r.app_id for r in events.records] == ["app-a"]


def test_removing_from_allowlist_reports_that_app() -> None:
    before = pol(apps=["app-a", "app-b"])
    deliveries, events = run(change([before], [pol(apps=["app-b"])]), SMALL)
    assert {d.app_id for d in deliveries} == {"app-a"}
    assert events.records[0].spaces == SPACES  # WORKSPACE: every space
    assert events.records[0].affected == 7


def test_ineligible_apps_never_get_events() -> None:
    deliveries, _ = run(change([], [pol()]), SMALL)
    assert "app-atl" not in {d.app_id for d in deliveries}


def test_space_ids_name_the_container() -> None:
    deliveries, _ = run(change([], [pol(spaces=["HR"])]), SMALL, space_ids={"HR": "98304"})
    assert deliveries[0].event.data.container.id == "98304"


def test_source_is_asked_for_lost_spaces_only_sorted() -> None:
    source = ListSource(SMALL.objects)
    run(change([pol(spaces=["HR"])], [pol(spaces=["HR", "ENG", "DEV"])]), source, apps=APPS[:1])
    assert source.calls == [["DEV", "ENG"]]


# --- grouping, chunking, the cap -----------------------------------------------------------


def _ids(deliveries: list[Delivery]) -> list[tuple[str, str]]:
    return [
        (group.type, object_id)
        for d in deliveries
        if d.event.type == OBJECTS_EVENT
        for group in d.event.data.objects
        for object_id in group.ids
    ]


def test_chunking_splits_objects_over_events() -> None:
    source = SyntheticSource(per_space=1_000)  # 250 of each type per space
    settings = EventSettings(chunk_size=300)
    deliveries, events = run(
        change([], [pol(spaces=["HR", "ENG"])]), source, apps=APPS[:1], settings=settings
    )
    objects = [d for d in deliveries if d.event.type == OBJECTS_EVENT]
    sizes = [sum(len(g.ids) for g in d.event.data.objects) for d in objects]
    assert sizes == [300] * 6 + [200]
    # Within one event each type appears once, in type order.
    for d in objects:
        types = [g.type for g in d.event.data.objects]
        assert types == sorted(set(types))
    # Across events: the stable order (space, type, numeric id) with nothing lost.
    expected = [
        (kind, str(n))
        for key in ["ENG", "HR"]
        for kind in SyntheticSource.TYPES
        for n in range(1, 251)
    ]
    # Event k holds exactly objects k*300 .. k*300+299 of the stable order.
    for index, d in enumerate(objects):
        held = {(g.type, i) for g in d.event.data.objects for i in g.ids}
        assert held == set(expected[index * 300 : (index + 1) * 300])
    record = events.records[0]
    assert (record.affected, record.delivered, record.object_events) == (2_000, 2_000, 7)


def test_cap_delivers_the_first_objects_in_stable_order() -> None:
    source = ListSource(
        [
            (key, kind, str(n))
            for key in SPACES
            for kind in ["page", "blogpost"]
            for n in range(1, 31)
        ]
    )
    settings = EventSettings(cap=50, chunk_size=20)
    deliveries, events = run(change([], [pol()]), source, apps=APPS[:1], settings=settings)
    delivered = [
        (g.type, i)
        for d in deliveries
        if d.event.type == OBJECTS_EVENT
        for g in d.event.data.objects
        for i in g.ids
    ]
    # DEV blogposts 1..30, then DEV pages 1..20: the first 50 in (space, type, id) order.
    assert sorted(delivered, key=lambda x: (x[0], int(x[1]))) == [
        ("blogpost", str(n)) for n in range(1, 31)
    ] + [("page", str(n)) for n in range(1, 21)]
    sizes = [
        sum(len(g.ids) for g in d.event.data.objects)
        for d in deliveries
        if d.event.type == OBJECTS_EVENT
    ]
    assert sizes == [20, 20, 10]
    record = events.records[0]
    assert (record.affected, record.delivered, record.omitted, record.cap) == (180, 50, 130, 50)
    assert record.truncated
    # Container events are not objects: every lost space still gets one.
    assert sum(d.event.type == CONTAINER_EVENT for d in deliveries) == 3


def test_cap_applies_per_app() -> None:
    source = SyntheticSource(per_space=40)
    deliveries, events = run(change([], [pol()]), source, settings=EventSettings(cap=25))
    assert [(r.app_id, r.delivered, r.omitted) for r in events.records] == [
        ("app-a", 25, 95),
        ("app-b", 25, 95),
    ]


def test_cap_zero_reports_containers_only() -> None:
    deliveries, events = run(change([], [pol(spaces=["HR"])]), SMALL, settings=EventSettings(cap=0))
    assert {d.event.type for d in deliveries} == {CONTAINER_EVENT}
    assert events.records[0].omitted == 5


def test_ids_order_numerically() -> None:
    source = RawSource([("HR", "page", "9"), ("HR", "page", "10"), ("HR", "page", "100")])
    deliveries, _ = run(change([], [pol(spaces=["HR"])]), source, apps=APPS[:1])
    assert _ids(deliveries) == [("page", "9"), ("page", "10"), ("page", "100")]


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ([("HR", "page", "10"), ("HR", "page", "9")], "out of order or repeated: id 9"),
        ([("HR", "page", "9"), ("HR", "page", "9")], "out of order or repeated"),
        ([("HR", "page", "1"), ("HR", "blogpost", "2")], "out of order: HR/blogpost after HR/page"),
        ([("ENG", "page", "1")], "yielded space 'ENG', which was not asked"),
    ],
)
def test_source_contract_is_enforced(objects: list[tuple[str, str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run(change([], [pol(spaces=["HR"])]), RawSource(objects), apps=APPS[:1])


def test_confluence_cap_history() -> None:
    assert confluence_cap(datetime(2024, 4, 11, tzinfo=UTC)) == 50_000
    assert confluence_cap(datetime(2024, 7, 18, 23, 59, tzinfo=UTC)) == 50_000
    assert confluence_cap(datetime(2024, 7, 19, tzinfo=UTC)) == 200_000


def test_time_and_ids_are_injected_once_per_change() -> None:
    calls = []

    def clock() -> datetime:
        calls.append(1)
        return datetime(2024, 8, 1, 14, 30, tzinfo=UTC) + timedelta(hours=len(calls))

    events = PolicyEvents(
        change([], [pol()]),
        apps=APPS,
        space_keys=SPACES,
        objects=SMALL,
        cloud_id=CLOUD,
        clock=clock,
    )
    deliveries = list(events)
    assert len(calls) == 1
    assert {d.event.time for d in deliveries} == {"2024-08-01T15:30:00.000Z"}
    assert len({d.event.id for d in deliveries}) == len(deliveries)  # random UUIDs by default
    with pytest.raises(RuntimeError, match="only once"):
        iter(events)


def test_naive_clock_is_refused() -> None:
    events = PolicyEvents(
        change([], [pol()]),
        apps=APPS,
        space_keys=SPACES,
        objects=SMALL,
        cloud_id=CLOUD,
        clock=lambda: datetime(2024, 8, 1),
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        list(events)


# --- scale: streaming in flat memory ------------------------------------------------------


def _measure(total: int) -> tuple[int, int, float, Any]:
    """Run one app through ``total`` objects; return (events, peak bytes, seconds, record)."""
    source = SyntheticSource(per_space=total // len(SPACES) + 4)
    tracemalloc.start()
    started = time.perf_counter()
    events = PolicyEvents(
        change([], [pol()]),
        apps=APPS[:1],
        space_keys=SPACES,
        objects=source,
        cloud_id=CLOUD,
        clock=lambda: NOW,
        new_id=lambda: "id",
    )
    count = sum(1 for _ in events)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak, seconds, events.records[0]


def test_quarter_million_and_million_objects_stream_in_flat_memory() -> None:
    small_events, small_peak, _, small = _measure(250_000)
    big_events, big_peak, big_seconds, big = _measure(1_000_000)
    assert small.affected >= 250_000 and big.affected >= 1_000_000
    assert small.delivered == big.delivered == 200_000
    assert big.omitted == big.affected - 200_000
    # 200 objects events of 1,000 ids plus 3 container events, whatever the total.
    assert small_events == big_events == 203
    # Memory: one event's worth of ids, not the objects (1M ids alone are > 50 MB).
    assert big_peak < 2_000_000, big_peak
    assert big_peak < small_peak * 1.5 + 100_000


# --- subscribers -------------------------------------------------------------------------


def _deliveries(n: int = 3) -> list[Delivery]:
    deliveries, _ = run(
        change([], [pol(spaces=["HR"])]), SMALL, settings=EventSettings(chunk_size=2)
    )
    return deliveries[:n]


def test_bus_delivers_to_every_subscriber_and_unsubscribes() -> None:
    bus = EventBus()
    first: list[Delivery] = []
    second: list[Delivery] = []
    bus.subscribe(first.append)
    stop = bus.subscribe(second.append)
    deliveries = _deliveries()
    assert bus.publish_all(deliveries[:2]) == 2
    stop()
    bus.publish(deliveries[2])
    assert first == deliveries and second == deliveries[:2]


def test_a_failing_subscriber_does_not_silence_the_others() -> None:
    bus = EventBus()
    seen: list[Delivery] = []

    def broken(delivery: Delivery) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    with pytest.raises(ExceptionGroup) as caught:
        bus.publish(_deliveries(1)[0])
    assert len(seen) == 1
    assert isinstance(caught.value.exceptions[0], RuntimeError)


def test_event_log_append_read_since(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "index" / "events.jsonl")
    assert log.last_seq == 0 and list(log.since()) == []
    deliveries = _deliveries(5)
    first = log.append(deliveries[0])
    assert first.seq == 1
    assert log.extend(deliveries[1:4]) == 3
    reopened = EventLog(log.path)
    assert reopened.append(deliveries[4]).seq == 5 and reopened.last_seq == 5
    entries = list(reopened.since())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.event for e in entries] == [d.event for d in deliveries]
    assert [e.app_id for e in entries] == [d.app_id for d in deliveries]
    assert [e.seq for e in reopened.since(3)] == [4, 5]
    assert list(reopened.since(5)) == []
    lines = log.path.read_text().splitlines()
    assert len(lines) == 5
    line = json.loads(lines[1])
    assert list(line) == ["seq", "app_id", "event"]
    assert line["event"] == deliveries[1].event.to_wire()  # the wire event, untouched


def test_event_log_as_bus_subscriber(tmp_path: Path) -> None:
    bus, log = EventBus(), EventLog(tmp_path / "events.jsonl")
    bus.subscribe(log.append)
    events = PolicyEvents(
        change([], [pol(spaces=["HR", "ENG"])]),
        apps=APPS,
        space_keys=SPACES,
        objects=SMALL,
        cloud_id=CLOUD,
    )
    published = bus.publish_all(events)
    assert published == len(list(log.since())) == 6  # 2 apps x (2 containers + 1 objects)
    assert [e.seq for e in log.since()] == list(range(1, 7))


def test_event_log_survives_a_torn_last_line(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    deliveries = _deliveries(3)
    log.extend(deliveries[:2])
    with log.path.open("ab") as handle:
        handle.write(b'{"seq":3,"app_id":"app-a","ev')  # crash mid-append
    assert [e.seq for e in log.since()] == [1, 2]
    assert log.last_seq == 2
    assert log.append(deliveries[2]).seq == 3
    assert [e.seq for e in log.since()] == [1, 2, 3]
    assert all(json.loads(line) for line in log.path.read_text().splitlines())


def test_event_log_reports_a_corrupt_line(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.extend(_deliveries(2))
    lines = log.path.read_text().splitlines()
    log.path.write_text(lines[0] + "\n" + "garbage\n" + lines[1] + "\n")
    with pytest.raises(EngineError) as caught:
        list(log.since())
    assert caught.value.code == "bad_event_log" and ":2:" in str(caught.value)


def test_store_changes_feed_events(tmp_path: Path) -> None:
    """End to end without an index: store change -> events -> log."""
    store = PolicyStore.initialize(
        tmp_path / "policies.json", apps=APPS, policies=[pol(spaces=["HR"], active=False)]
    )
    log = EventLog(tmp_path / "events.jsonl")

    def emit(the_change: PolicyChange) -> list[Any]:
        events = PolicyEvents(
            the_change, apps=store.apps, space_keys=SPACES, objects=SMALL, cloud_id=CLOUD
        )
        log.extend(events)
        return events.records

    records = emit(store.activate("p1"))
    assert [(r.app_id, r.trigger, r.affected) for r in records] == [
        ("app-a", "activated", 5),
        ("app-b", "activated", 5),
    ]
    assert emit(store.update("p1", coverage={"level": "CONTAINER", "spaces": ["HR", "DEV"]}))[
        0
    ].spaces == ["DEV"]
    assert emit(store.deactivate("p1")) == []
    assert emit(store.activate("p1"))[0].spaces == ["DEV", "HR"]
    assert log.last_seq == 4 + 4 + 0 + 6


def test_a_million_objects_uncapped_are_all_delivered_in_chunks() -> None:
    """Every one of a million affected objects is delivered, a chunk per event (how long
    it takes is the benchmark harness's business, not a test's)."""
    source = SyntheticSource(per_space=1_000_000 // len(SPACES) + 4)
    settings = EventSettings(cap=10_000_000, chunk_size=1_000)
    events = PolicyEvents(
        change([], [pol()]),
        apps=APPS[:1],
        space_keys=SPACES,
        objects=source,
        cloud_id=CLOUD,
        settings=settings,
        new_id=lambda: "id",
    )
    count = sum(1 for _ in events)
    record = events.records[0]
    assert record.delivered == record.affected >= 1_000_000 and record.omitted == 0
    assert count == 3 + -(-record.delivered // 1_000)
