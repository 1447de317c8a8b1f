"""Policy events through the engine: a policy change, the events it generates, and where
they go (the in-process bus, the event log kept with the index, ``cql policy events``).

``tests/test_events.py`` pins the generator on synthetic object sources; here the objects
come from a real index (the bundled fixture site) through ``engine.policy_layer()``, so
these tests check the wiring: which apps hear about which spaces and objects, that the log
and the bus agree, that the settings on the layer are the ones used, and that what the
events report is exactly what the app's searches stop returning.

Expected objects are computed from the site files, not from the index: every page, blog
post, whiteboard and database in the newly blocked spaces, in (space key, type, id) order.
The engine's object source reports every status (drafts and trashed items too: an app may
hold references to them, and the objects event is the authoritative list, sources.md,
policies 2.1), which is what is pinned here.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from index.cli.main import main as cli_main
from index.core.context import CONTENT_STATUSES, SearchContext
from index.engine import Engine
from index.security.callers import AppCaller, UserCaller
from index.security.events import (
    CONTAINER_EVENT,
    OBJECTS_EVENT,
    REPORTED_TYPES,
    Delivery,
    EventSettings,
    object_sort_key,
)
from index.site.loader import Site, load_site

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
CLOUD_ID = "3f6a9c1e-7b42-4d8e-9a15-c2e0b7d4f861"
ELIGIBLE = ("app-syncbot", "app-wordcount")  # app-roadmaps is not eligible for blocking
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EVERYTHING = SearchContext(content_statuses=tuple(sorted(CONTENT_STATUSES)),
                           include_archived_spaces=True)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(FIXTURE_SITE)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("template") / "index"
    Engine.build(FIXTURE_SITE, index_dir)
    return index_dir


@pytest.fixture
def engine(template: Path, tmp_path: Path) -> Engine:
    """A private copy of the fixture index: every test here changes policies."""
    target = tmp_path / "index"
    shutil.copytree(template, target)
    return Engine.open(target)


def stream(site: Site, spaces: list[str]) -> list[tuple[str, str, str]]:
    """The objects a change blocking ``spaces`` must report, in the documented order."""
    objects = [(i.space, i.type, i.id) for i in site.content.values()
               if i.space in spaces and i.type in REPORTED_TYPES]
    return sorted(objects, key=lambda o: object_sort_key(*o))


def on_the_wire(objects: list[tuple[str, str, str]], chunk_size: int = 1000
                ) -> list[tuple[str, str]]:
    """(type, id) as the objects events must list them: the stream cut into chunks of
    ``chunk_size``, each chunk grouped by type (types in text order), ids in stream order."""
    out: list[tuple[str, str]] = []
    for start in range(0, len(objects), chunk_size):
        chunk = objects[start:start + chunk_size]
        for kind in sorted({k for _, k, _ in chunk}):
            out += [(kind, i) for _, k, i in chunk if k == kind]
    return out


def capture(engine: Engine) -> tuple[list[Delivery], Any]:
    """Subscribe a list to the engine's bus; returns it and the unsubscribe function."""
    got: list[Delivery] = []
    return got, engine.policy_layer().bus.subscribe(got.append)


def by_app(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    out: dict[str, list[Delivery]] = {}
    for d in deliveries:
        out.setdefault(d.app_id, []).append(d)
    return out


def reported(deliveries: list[Delivery]) -> list[tuple[str, str]]:
    """(type, id) of every object the objects events list, event by event."""
    return [(group["type"], object_id)
            for d in deliveries if d.event.type == OBJECTS_EVENT
            for group in d.event.to_wire()["data"]["objects"] for object_id in group["ids"]]


# --- activation --------------------------------------------------------------------------


def test_activating_the_workspace_policy_emits_container_and_object_events(
        engine: Engine, site: Site) -> None:
    got, _ = capture(engine)
    engine.policy_layer().change("activate", "p2")
    apps = by_app(got)
    assert sorted(apps) == sorted(ELIGIBLE)  # nothing for the ineligible app
    all_spaces = sorted(site.spaces)
    lost = {"app-wordcount": all_spaces,
            "app-syncbot": [k for k in all_spaces if k != "HR"]}  # p1 already blocks HR
    for app_id, deliveries in apps.items():
        kinds = [d.event.type for d in deliveries]
        n = len(lost[app_id])
        assert kinds[:n] == [CONTAINER_EVENT] * n
        assert set(kinds[n:]) == {OBJECTS_EVENT}
        containers = [d.event.to_wire()["data"]["container"] for d in deliveries[:n]]
        assert containers == [{"product": "confluence", "id": k} for k in lost[app_id]]
        expected = stream(site, lost[app_id])
        assert reported(deliveries) == on_the_wire(expected)
        assert Counter(kind for kind, _ in reported(deliveries)) == Counter(
            kind for _, kind, _ in expected)
        for d in deliveries:
            wire = d.event.to_wire()
            assert set(wire) == {"specversion", "id", "source", "type", "time", "data"}
            assert wire["specversion"] == "1.0" and wire["source"] == "atlassian.com/ecosystem"
            assert wire["data"]["workspace"] == {"cloudId": CLOUD_ID}
            assert RFC3339_MS.match(wire["time"])
            for group in wire["data"].get("objects", []):
                assert group["type"] in REPORTED_TYPES and group["product"] == "confluence"
    assert len({d.event.id for d in got}) == len(got)
    assert len({d.event.time for d in got}) == 1  # one clock reading per change

    records = {r.app_id: r for r in engine.policy_layer().last_records}
    assert sorted(records) == sorted(ELIGIBLE)
    for app_id, record in records.items():
        affected = len(stream(site, lost[app_id]))
        assert (record.affected, record.delivered, record.omitted) == (affected, affected, 0)
        assert record.policy_id == "p2" and record.trigger == "activated"
        assert record.spaces == lost[app_id] and not record.truncated
        assert record.container_events == len(lost[app_id])
        assert record.object_events == len(apps[app_id]) - len(lost[app_id])


def test_objects_events_are_grouped_by_type_and_only_reportable_types(engine: Engine,
                                                                     site: Site) -> None:
    got, _ = capture(engine)
    engine.policy_layer().change("activate", "p2")
    for d in got:
        if d.event.type != OBJECTS_EVENT:
            continue
        groups = d.event.to_wire()["data"]["objects"]
        kinds = [g["type"] for g in groups]
        assert kinds == sorted(set(kinds))  # one group per type, types in order
        assert all(g["ids"] for g in groups)
    listed = {object_id for _, object_id in reported(got)}
    never = {i.id for i in site.content.values()
             if i.type in ("comment", "attachment", "embed", "folder")}
    assert listed and not listed & never


def test_what_the_events_report_is_what_the_app_can_no_longer_find(engine: Engine,
                                                                   site: Site) -> None:
    got, _ = capture(engine)
    wordcount = AppCaller(app_id="app-wordcount", kind="forge",
                          scopes=frozenset({"search:confluence"}))
    listed = [object_id for _, object_id in reported(by_app(got).get("app-wordcount", []))]
    assert listed == []
    query = "type IN (page, blogpost, whiteboard, database)"
    before = engine.search(query, caller=wordcount, context=EVERYTHING, limit=1000)
    engine.policy_layer().change("activate", "p2")
    listed = [object_id for _, object_id in reported(by_app(got)["app-wordcount"])]
    # Every object of the covered spaces is reported, once: those the app could find, and
    # those its own account's view permissions already hid (restricted, others' drafts).
    assert len(listed) == len(set(listed)) == engine.count(query, context=EVERYTHING)
    assert {r.id for r in before.results} <= set(listed) and before.totalSize > 0
    for start in range(0, len(listed), 200):
        chunk = ", ".join(listed[start:start + 200])
        assert engine.count(f"id IN ({chunk})", caller=wordcount, context=EVERYTHING) == 0
        assert engine.count(f"id IN ({chunk})", context=EVERYTHING) == len(
            listed[start:start + 200])


# --- no events when access comes back -------------------------------------------------------


@pytest.mark.parametrize("action,fields", [
    ("deactivate", {}),
    ("delete", {}),
    ("update", {"coverage": {"level": "CONTAINER", "spaces": []}}),
    ("update", {"rules": {"app_access": {"mode": "blocklist", "apps": []}}}),
    ("update", {"name": "Renamed"}),
    ("activate", {}),  # already active: nothing changes
])
def test_no_events_when_nobody_loses_access(engine: Engine, action: str,
                                            fields: dict[str, Any]) -> None:
    layer = engine.policy_layer()
    got, _ = capture(engine)
    log_before = layer.log.last_seq
    layer.change(action, "p1", **fields)
    assert got == []
    assert layer.last_records == []
    assert layer.log.last_seq == log_before


def test_deactivating_after_activation_sends_nothing_more(engine: Engine) -> None:
    layer = engine.policy_layer()
    layer.change("activate", "p2")
    seq = layer.log.last_seq
    got, _ = capture(engine)
    layer.change("deactivate", "p2")
    layer.change("delete", "p2")
    layer.change("deactivate", "p1")
    assert got == [] and layer.log.last_seq == seq


def test_updates_report_only_what_is_newly_lost(engine: Engine, site: Site) -> None:
    layer = engine.policy_layer()
    got, _ = capture(engine)
    # coverage grows by one space: syncbot hears about ENG only
    layer.change("update", "p1", coverage={"level": "CONTAINER", "spaces": ["HR", "ENG"]})
    assert {d.app_id for d in got} == {"app-syncbot"}
    assert [r.trigger for r in layer.last_records] == ["coverage_changed"]
    assert layer.last_records[0].spaces == ["ENG"]
    assert reported(got) == on_the_wire(stream(site, ["ENG"]))
    got.clear()
    # the rule flips to an allowlist naming syncbot: wordcount loses HR and ENG, syncbot
    # regains them (silently)
    layer.change("update", "p1",
                 rules={"app_access": {"mode": "allowlist", "apps": ["app-syncbot"]}})
    assert {d.app_id for d in got} == {"app-wordcount"}
    assert layer.last_records[0].spaces == ["ENG", "HR"]
    assert layer.last_records[0].trigger == "updated"
    assert reported(got) == on_the_wire(stream(site, ["ENG", "HR"]))


# --- where events go ---------------------------------------------------------------------------


def test_the_event_log_holds_exactly_what_subscribers_got(engine: Engine) -> None:
    layer = engine.policy_layer()
    got, unsubscribe = capture(engine)
    layer.change("update", "p1", coverage={"level": "CONTAINER", "spaces": ["HR", "MKT"]})
    first = len(got)
    layer.change("activate", "p2")
    assert first > 0 and len(got) > first
    log_path = engine.index_dir / "events.jsonl"
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(got) + 1))
    assert [(line["app_id"], line["event"]) for line in lines] == [
        (d.app_id, d.event.to_wire()) for d in got]
    assert [e.event.id for e in layer.log.since(first)] == [d.event.id for d in got[first:]]
    # the log survives reopening the engine
    reopened = Engine.open(engine.index_dir).policy_layer()
    assert [e.event.id for e in reopened.log.since(0)] == [d.event.id for d in got]
    # an unsubscribed callback hears nothing more, the log still records
    unsubscribe()
    layer.change("deactivate", "p2")
    layer.change("update", "p1", coverage={"level": "CONTAINER", "spaces": ["HR", "MKT",
                                                                            "SUP"]})
    assert layer.log.last_seq > len(got)


def test_every_subscriber_gets_every_event(engine: Engine) -> None:
    one, _ = capture(engine)
    two, _ = capture(engine)
    engine.policy_layer().change("activate", "p2")
    assert one == two and one


def test_cli_events_since_filters_the_log(engine: Engine, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    layer = engine.policy_layer()
    layer.change("update", "p1", coverage={"level": "CONTAINER", "spaces": ["HR", "DS"]})
    middle = layer.log.last_seq
    layer.change("activate", "p2")
    total = layer.log.last_seq
    assert 0 < middle < total
    capsys.readouterr()
    assert cli_main(["policy", "events", "--index", str(engine.index_dir)]) == 0
    everything = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in everything] == list(range(1, total + 1))
    assert cli_main(["policy", "events", "--index", str(engine.index_dir),
                     "--since", str(middle)]) == 0
    later = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert later == everything[middle:]
    assert cli_main(["policy", "events", "--index", str(engine.index_dir), "--since",
                     str(middle), "--wire", "--app", "app-wordcount"]) == 0
    out = capsys.readouterr()
    wire = [json.loads(line) for line in out.out.splitlines()]
    assert wire == [e["event"] for e in later if e["app_id"] == "app-wordcount"]
    assert f"last seq: {total}" in out.err


# --- settings: cap and chunk size --------------------------------------------------------------


def test_cap_and_chunk_size_come_from_the_layer_settings(engine: Engine, site: Site) -> None:
    layer = engine.policy_layer()
    layer.settings = EventSettings(cap=50, chunk_size=7)
    got, _ = capture(engine)
    layer.change("activate", "p2")
    for app_id, deliveries in by_app(got).items():
        lost = [k for k in sorted(site.spaces) if app_id == "app-wordcount" or k != "HR"]
        expected = stream(site, lost)
        objects = [d for d in deliveries if d.event.type == OBJECTS_EVENT]
        assert len(objects) == -(-50 // 7)
        assert reported(objects) == on_the_wire(expected[:50], chunk_size=7)
        for n, d in enumerate(objects):
            ids = [(g["type"], i) for g in d.event.to_wire()["data"]["objects"]
                   for i in g["ids"]]
            assert len(ids) == (7 if n < 7 else 1)
        record = next(r for r in layer.last_records if r.app_id == app_id)
        assert (record.affected, record.delivered, record.omitted) == (
            len(expected), 50, len(expected) - 50)
        assert record.truncated and record.cap == 50 and record.chunk_size == 7
        wire = json.dumps([d.event.to_wire() for d in deliveries])
        for word in ("omitted", "truncated", "affected", "policy_id", "cap"):
            assert word not in wire  # bookkeeping never reaches the wire


def test_cap_zero_reports_containers_only(engine: Engine) -> None:
    layer = engine.policy_layer()
    layer.settings = EventSettings(cap=0)
    got, _ = capture(engine)
    layer.change("activate", "p2")
    assert got and {d.event.type for d in got} == {CONTAINER_EVENT}
    assert all(r.delivered == 0 and r.omitted == r.affected > 0 for r in layer.last_records)


def test_a_large_chunk_size_puts_every_object_in_one_event(engine: Engine, site: Site
                                                           ) -> None:
    layer = engine.policy_layer()
    layer.settings = EventSettings(chunk_size=100_000)
    got, _ = capture(engine)
    layer.change("activate", "p2")
    for deliveries in by_app(got).values():
        objects = [d for d in deliveries if d.event.type == OBJECTS_EVENT]
        assert len(objects) == 1
        kinds = [g["type"] for g in objects[0].event.to_wire()["data"]["objects"]]
        assert kinds == sorted(REPORTED_TYPES)


def test_the_user_is_unaffected_and_the_app_is_blocked_after_activation(engine: Engine
                                                                       ) -> None:
    dana = "bbfd51cb6d4e3152f5298a3f"
    syncbot = AppCaller(app_id="app-syncbot", kind="oauth2_3lo",
                        scopes=frozenset({"search:confluence"}), acting_for=dana)
    before = engine.count("type = page", caller=UserCaller(account_id=dana))
    assert engine.count("type = page", caller=syncbot) > 0
    engine.policy_layer().change("activate", "p2")
    assert engine.count("type = page", caller=syncbot) == 0
    assert engine.count("type = page", caller=UserCaller(account_id=dana)) == before
    assert engine.count("type = space", caller=syncbot) == engine.count("type = space")
