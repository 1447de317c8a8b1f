"""The site loader: the bundled fixture site, per-line rejects, derived fields, the
generator's determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from index.site.loader import (
    EXTRA_FILES,
    Reject,
    Site,
    derive,
    load_site,
    parse_content_line,
)
from index.site.models import ContentItem, Space

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
GENERATOR = ROOT / "fixtures" / "generate.py"
BAD_SITE = Path(__file__).resolve().parent / "sites" / "bad"

REQUIRED_MACROS = {
    "jira", "toc", "code", "info", "note", "warning", "expand", "status", "children",
    "include", "excerpt", "panel", "drawio",
}  # fmt: skip


@pytest.fixture(scope="module")
def fixture_site() -> Site:
    return load_site(FIXTURE_SITE)


def _line(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "1",
        "type": "page",
        "title": "T",
        "space": "DEV",
        "creator": "u1",
        "created": "2024-01-01T09:00:00+00:00",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


# --- the bundled fixture site ---------------------------------------------------------------


def test_fixture_site_loads_with_zero_rejects():
    # Load time is the benchmark harness's business, not a timed unit test's.
    site = load_site(FIXTURE_SITE)
    assert site.rejects == []


def test_fixture_spaces(fixture_site: Site):
    spaces = fixture_site.spaces
    assert len(spaces) >= 8
    assert {s.type for s in spaces.values()} == {
        "global", "personal", "collaboration", "knowledge_base"
    }  # fmt: skip
    personal = [s for s in spaces.values() if s.type == "personal"]
    assert personal and all(s.key.startswith("~") for s in personal)
    assert "~alice" in spaces
    assert any(s.status == "archived" for s in spaces.values())
    assert "HR" in spaces
    assert sum(1 for s in spaces.values() if s.categories) >= 6
    assert sum(1 for s in spaces.values() if s.description) >= 8


def test_fixture_content_mix(fixture_site: Site):
    content = fixture_site.content
    by_type = Counter(item.type for item in content.values())
    assert sum(by_type.values()) >= 600
    assert set(by_type) == {
        "page", "blogpost", "comment", "attachment", "whiteboard", "database", "embed", "folder"
    }  # fmt: skip
    assert by_type.most_common(1)[0][0] == "page"
    assert all(count >= 25 for count in by_type.values()), by_type
    statuses = Counter(item.status for item in content.values())
    assert statuses["draft"] and statuses["archived"] and statuses["trashed"]
    assert statuses["current"] > 0.8 * len(content)
    # Every space holds content, personal and archived ones included.
    assert {item.space for item in content.values()} == set(fixture_site.spaces)


def test_fixture_tree(fixture_site: Site):
    content = fixture_site.content
    deepest = max(content.values(), key=lambda item: len(item.ancestors))
    assert len(deepest.ancestors) >= 6  # a tree of 7+ levels
    assert deepest.type == "page"
    in_folders = {
        item.type
        for item in content.values()
        if item.parent_id and content[item.parent_id].type == "folder"
    }
    assert {"page", "whiteboard", "database", "embed"} <= in_folders
    for kind in ("comment", "attachment"):
        holders = {content[i.container_id].type for i in content.values() if i.type == kind}
        assert {"page", "blogpost"} <= holders
    for item in content.values():
        parent = content.get(item.parent_id or item.container_id or "")
        if parent is not None:
            assert parent.space == item.space
            assert parent.created <= item.created


def test_fixture_bodies_and_metadata(fixture_site: Site):
    items = list(fixture_site.content.values())
    assert REQUIRED_MACROS <= {macro for item in items for macro in item.macros}
    assert sum(1 for item in items if "<ac:task-list>" in item.body) >= 10
    assert sum(1 for item in items if "<ac:emoticon" in item.body) >= 10
    assert sum(1 for item in items if "<ac:link><ri:page" in item.body) >= 10
    assert sum(1 for item in items if item.body and item.body[0] != "<") >= 10  # plain text
    assert sum(1 for item in items if item.mentions) >= 50
    explicit = [item for item in items if item.type in ("whiteboard", "database")]
    assert any(item.mentions for item in explicit)  # no body: given explicitly
    assert any("-" in label for item in items for label in item.labels)
    assert sum(1 for item in items if item.watchers) >= 300
    assert all(item.creator in item.contributors for item in items)
    assert {"Rough draft", "In progress", "Ready for review"} <= {
        item.page_status for item in items if item.page_status
    }
    word_counts = [
        item.properties["wordcount_addon"]["wordCount"]
        for item in items
        if "wordcount_addon" in item.properties
    ]
    assert len(word_counts) >= 20 and all(isinstance(n, int) for n in word_counts)
    assert all(item.file_name for item in items if item.type == "attachment")
    assert all(item.url for item in items if item.type == "embed")


def test_fixture_dates(fixture_site: Site):
    items = list(fixture_site.content.values())
    limit = datetime(2026, 11, 1, tzinfo=UTC)
    assert all(item.created <= item.lastmodified < limit for item in items)
    assert {item.created.year for item in items} == {2022, 2023, 2024, 2025, 2026}
    offsets = Counter(item.created.utcoffset() for item in items)
    assert len(offsets) >= 4 and offsets[datetime(2024, 1, 1, tzinfo=UTC).utcoffset()] > 0
    archived = {s.key for s in fixture_site.spaces.values() if s.status == "archived"}
    assert all(i.created.year <= 2023 for i in items if i.space in archived)


def test_fixture_users(fixture_site: Site):
    users = fixture_site.users
    assert 10 <= len(users) <= 14
    content, spaces = fixture_site.content, fixture_site.spaces
    for user in users.values():
        assert user.display_name and user.favourite_spaces and user.recently_viewed_content
        assert all(i in content for i in user.favourite_content + user.recently_viewed_content)
        assert all(k in spaces for k in user.favourite_spaces + user.recently_viewed_spaces)
    creators = {item.creator for item in content.values()}
    assert creators <= set(users)
    assert any(":" in account for account in users)  # both account id styles
    assert any(not user.display_name.isascii() for user in users.values())


def test_fixture_policy_files(fixture_site: Site):
    extras = fixture_site.extras
    assert set(extras) == set(EXTRA_FILES)
    apps = extras["apps.json"]
    assert sorted(app["kind"] for app in apps) == ["connect", "forge", "oauth2_3lo"]
    assert [app["eligible_for_blocking"] for app in apps].count(False) == 1
    app_ids = {app["app_id"] for app in apps}
    active = [p for p in extras["policies.json"] if p["active"]]
    inactive = [p for p in extras["policies.json"] if not p["active"]]
    assert len(active) == 1 and len(inactive) == 1
    assert active[0]["coverage"] == {"level": "CONTAINER", "spaces": ["HR"]}
    rule = active[0]["rules"]["app_access"]
    assert rule["mode"] == "blocklist" and len(rule["apps"]) == 1 and rule["apps"][0] in app_ids
    blocked = next(app for app in apps if app["app_id"] == rule["apps"][0])
    assert blocked["eligible_for_blocking"] is True
    assert inactive[0]["coverage"]["level"] == "WORKSPACE"
    site_info = extras["site.json"]
    assert site_info["base_url"] == "https://example.atlassian.net/wiki"
    assert site_info["cloud_id"] and site_info["name"]
    grants = extras["grants.json"]
    assert {g["scope"] for g in grants} == {"account", "site"}
    for grant in grants:
        assert grant["account_id"] in fixture_site.users and grant["app_id"] in app_ids
        if grant["scope"] == "site":
            assert grant["sites"] == [site_info["cloud_id"]]
        else:
            assert "sites" not in grant


# --- the generator ------------------------------------------------------------------------


def _generate(out: Path) -> dict[str, bytes]:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=out.parent,  # the generator must not depend on the working directory
    )
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def test_generator_is_deterministic_and_matches_the_committed_site(tmp_path: Path):
    first = _generate(tmp_path / "one")
    second = _generate(tmp_path / "two")
    assert first == second
    committed = {path.name: path.read_bytes() for path in sorted(FIXTURE_SITE.iterdir())}
    assert first == committed, "fixtures/site is stale: run python fixtures/generate.py"


# --- the broken site ----------------------------------------------------------------------

# (file, line, fragments the message must contain)
BAD_SITE_REJECTS = [
    ("spaces.jsonl", 4, ["duplicate space key 'dev'", "same as 'DEV'", "first on line 1"]),
    ("spaces.jsonl", 5, ["key QA", "type:", "'team'"]),
    ("spaces.jsonl", 6, ["key DOCS", "unknown field 'colour'"]),
    ("spaces.jsonl", 7, ["invalid JSON", "column 14"]),
    ("spaces.jsonl", 8, ["key jo", "personal space keys start with '~'"]),
    ("users.jsonl", 3, ["duplicate account id 'u1'", "first on line 1"]),
    ("users.jsonl", 4, ["account_id u3", "missing field 'display_name'"]),
    ("users.jsonl", 5, ["favourite_content.0", "valid string", "(got 101)"]),
    ("content.jsonl", 7, ["invalid JSON"]),
    ("content.jsonl", 8, ["expected a JSON object, got array"]),
    ("content.jsonl", 9, ["id 104", "missing field 'title'", "unknown field 'titel'"]),
    ("content.jsonl", 10, ["id 105", "type:", "'pgae'"]),
    ("content.jsonl", 11, ["id 106", "created:", "timezone"]),
    ("content.jsonl", 12, ["id 100: duplicate id; first on line 1"]),
    ("content.jsonl", 13, ["id 107: unknown space key 'QA' (it was rejected: spaces.jsonl:5)"]),
    ("content.jsonl", 14, ["id 108: unknown space key 'Dev' (did you mean 'DEV'?)"]),
    ("content.jsonl", 15, ["id 109: unknown space key 'NOPE'"]),
    ("content.jsonl", 16, ["id 110: parent_id 999 does not exist"]),
    ("content.jsonl", 17, ["id 111: parent_id 110 was rejected (content.jsonl:16)"]),
    ("content.jsonl", 18, ["id 112: parent cycle: 112 -> 113 -> 112"]),
    ("content.jsonl", 19, ["id 113: parent cycle: 112 -> 113 -> 112"]),
    ("content.jsonl", 20, ["id 114: parent_id 113 was rejected (content.jsonl:19)"]),
    ("content.jsonl", 21, ["id 115: body: cannot be parsed", "unterminated CDATA section"]),
    ("content.jsonl", 22, ["id 302: container_id is required for a comment"]),
    ("content.jsonl", 23, ["id 303: container_id 998 does not exist"]),
    ("content.jsonl", 24, ["id 304: space 'OPS' differs from its container 101's space 'DEV'"]),
    ("content.jsonl", 25, ["id 201: parent_id is not allowed on a blogpost"]),
    ("content.jsonl", 26, ["id 116: parent_id 200 is a blogpost; tree parents are pages"]),
    ("content.jsonl", 27, ["id 117: space 'OPS' differs from its parent 100's space 'DEV'"]),
    ("content.jsonl", 28, ["id 305: container_id 300 is a comment, which cannot hold an "
                           "attachment"]),
    ("content.jsonl", 29, ["id 118: parent_id 115 was rejected (content.jsonl:21)"]),
    ("content.jsonl", 30, ["duplicate key 'id' in the line"]),
    ("content.jsonl", 31, ["id 0121: id: expected a numeric id"]),
    ("content.jsonl", 32, ["id 122: lastmodified is before created"]),
    ("content.jsonl", 35, ["id 306: file_name is required for an attachment"]),
    ("content.jsonl", 36, ["id 125: body: cannot be parsed", "does not match"]),
    ("content.jsonl", 37, ["id 126: labels:", "'release notes'"]),
    ("content.jsonl", 38, ["id 127: created: expected an ISO-8601", "(got 1706950800)"]),
    ("policies.json", 3, ["invalid JSON", "column 38"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_site() -> Site:
    return load_site(BAD_SITE)


def test_bad_site_rejects_each_broken_line(bad_site: Site):
    got = [(r.file, r.line) for r in bad_site.rejects]
    assert got == [(file, line) for file, line, _ in BAD_SITE_REJECTS]
    for reject, (_, _, fragments) in zip(bad_site.rejects, BAD_SITE_REJECTS, strict=True):
        for fragment in fragments:
            assert fragment in reject.message, str(reject)
        assert "\n" not in reject.message


def test_bad_site_good_lines_still_load(bad_site: Site):
    assert list(bad_site.spaces) == ["DEV", "OPS", "~zoe", "ARCH"]
    assert list(bad_site.users) == ["u1", "u2"]
    assert bad_site.users["u1"].recently_viewed_content == ["101", "100"]
    assert list(bad_site.extras) == ["apps.json"]  # policies.json is the broken one
    content = bad_site.content
    assert list(content) == ["100", "101", "102", "200", "300", "301", "123", "124"]
    assert content["100"].title == "Home"  # the first of the duplicate ids wins
    assert content["102"].ancestors == ["100", "101"]
    assert content["300"].ancestors == ["100", "101"]  # a comment: container last
    assert content["301"].ancestors == ["200"]  # an attachment on a blog post
    assert content["200"].ancestors == []
    assert content["123"].ancestors == ["124"]  # the parent comes later in the file
    assert content["123"].mentions == ["u2"]


def test_reject_str():
    assert str(Reject("content.jsonl", 12, "id 5: oops")) == "content.jsonl:12: id 5: oops"


# --- per-line details ---------------------------------------------------------------------


def _write_site(root: Path, content: list[str] | bytes, spaces: str | None = None) -> Path:
    root.mkdir(exist_ok=True)
    (root / "spaces.jsonl").write_text(
        spaces or '{"key": "DEV", "name": "Dev", "type": "global"}\n', encoding="utf-8"
    )
    data = content if isinstance(content, bytes) else "".join(content).encode("utf-8")
    (root / "content.jsonl").write_bytes(data)
    return root


def test_invalid_utf8_bom_crlf_and_blank_lines(tmp_path: Path):
    good = json.dumps(_line(id="1")).encode()
    other = json.dumps(_line(id="2", title="Ünïcode")).encode()
    data = b"\xef\xbb\xbf" + good + b"\r\n\r\n" + b'{"id": "\xff"}\r\n' + other + b"\n"
    site = load_site(_write_site(tmp_path / "s", data))
    assert [str(r) for r in site.rejects] == [
        "content.jsonl:3: not valid UTF-8 at column 9 (byte 0xff)"]
    assert list(site.content) == ["1", "2"]
    assert site.content["2"].title == "Ünïcode"


def test_missing_files_are_empty_and_a_missing_directory_is_an_error(tmp_path: Path):
    site = load_site(tmp_path)
    assert (site.spaces, site.users, site.content, site.extras, site.rejects) == (
        {}, {}, {}, {}, []
    )  # fmt: skip
    with pytest.raises(FileNotFoundError):
        load_site(tmp_path / "nope")


def test_extras_are_kept_raw(tmp_path: Path):
    root = _write_site(tmp_path / "s", [])
    (root / "site.json").write_text('{"cloud_id": "c", "anything": [1, {"x": null}]}')
    (root / "notes.txt").write_text("ignored")
    site = load_site(root)
    assert site.extras == {"site.json": {"cloud_id": "c", "anything": [1, {"x": None}]}}


def test_derived_fields_of_one_line():
    item = parse_content_line(
        _line(
            contributors=["u2"],
            mentions=["u3", "u4"],
            body='<p>Hi <ac:link><ri:user ri:account-id="u4" /></ac:link>'
            '<ac:link><ri:user ri:account-id="u5" /></ac:link></p>'
            '<ac:structured-macro ac:name="toc" /><ac:structured-macro ac:name="info">'
            "<ac:rich-text-body><p>Read me</p></ac:rich-text-body></ac:structured-macro>",
        )
    )
    assert item.contributors == ["u1", "u2"]  # the creator first when left out
    assert item.mentions == ["u3", "u4", "u5"]  # explicit first, then the body, no repeats
    assert item.macros == ["info", "toc"]
    assert item.text == "Hi Read me"
    assert item.lastmodified == item.created  # defaults to created
    assert item.created.utcoffset() is not None
    assert item.ancestors == []  # only derive() knows other items


def test_creator_already_a_contributor_keeps_the_given_order():
    item = parse_content_line(_line(contributors=["u2", "u1"]))
    assert item.contributors == ["u2", "u1"]


def test_parse_content_line_raises_validation_error_for_a_bad_body():
    with pytest.raises(ValidationError) as caught:
        parse_content_line(_line(body="<p><ac:link>x</p>"))
    (error,) = caught.value.errors()
    assert error["loc"] == ("body",)
    assert error["type"] == "storage_format"
    assert "<ac:link> is never closed" in error["msg"]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"ancestors": ["9"]}, "ancestors"),  # derived fields cannot be given
        ({"text": "x"}, "text"),
        ({"status": "deleted"}, "status"),
        ({"id": 5}, "id"),
        ({"type": "comment"}, "container_id is required"),
        ({"type": "page", "container_id": "2"}, "container_id is only for"),
        ({"type": "attachment", "container_id": "2"}, "file_name is required"),
        ({"type": "page", "file_name": "a.png"}, "file_name is only for attachments"),
        ({"type": "page", "url": "https://x"}, "url is only for embeds"),
        ({"type": "comment", "container_id": "2", "parent_id": "3"}, "(use container_id)"),
        ({"parent_id": "1"}, "cannot be its own parent"),
        ({"title": "  "}, "title must not be blank"),
        ({"labels": [""]}, "labels"),
        ({"page_status": ""}, "must not be blank"),
        ({"created": "2024-13-01T00:00:00+00:00"}, "created"),
    ],
)
def test_line_validation(fields: dict[str, object], fragment: str):
    with pytest.raises(ValidationError) as caught:
        parse_content_line(_line(**fields))
    assert fragment in str(caught.value)


def test_comments_may_have_blank_titles_and_embeds_urls():
    parse_content_line(_line(type="comment", container_id="2", title=""))
    parse_content_line(_line(type="embed", url="https://loom.com/x", parent_id="7"))


def test_content_item_round_trips_through_json():
    item = parse_content_line(_line(labels=["release-notes"], body="<p>x</p>"))
    item = item.model_copy(update={"ancestors": ["7"]})
    assert ContentItem.model_validate(item.model_dump(mode="json")) == item


def test_space_key_rules():
    Space(key="~712020:ab-cd", name="P", type="personal")
    with pytest.raises(ValidationError):
        Space(key="~x", name="P", type="global")
    with pytest.raises(ValidationError):
        Space(key="A B", name="P", type="global")


# --- derive: moves and upserts ------------------------------------------------------------


def test_derive_recomputes_ancestors_when_a_page_moves(fixture_site: Site):
    content = dict(fixture_site.content)
    # Move a page that has a subtree (and comments) below a page in another branch.
    moved = next(
        item
        for item in content.values()
        if item.type == "page"
        and len(item.ancestors) >= 2
        and any(i.parent_id == item.id for i in content.values())
        and any(i.container_id == item.id for i in content.values())
    )
    below = [i for i in content.values() if moved.id in i.ancestors]
    home = content[moved.ancestors[0]]
    target = next(
        i
        for i in content.values()
        if i.type == "page"
        and i.space == moved.space
        and i.ancestors == [home.id]
        and i.id != moved.ancestors[1]
    )
    content[moved.id] = moved.model_copy(update={"parent_id": target.id})

    derived, rejects = derive(content)

    assert rejects == []
    assert derived[moved.id].ancestors == [home.id, target.id]
    for item in below:
        old = item.ancestors
        new = derived[item.id].ancestors
        assert new == [home.id, target.id, *old[old.index(moved.id) :]]
    untouched = [i for i in content.values() if i.id != moved.id and moved.id not in i.ancestors]
    assert all(derived[i.id] is fixture_site.content[i.id] for i in untouched)


def test_derive_rejects_a_move_into_its_own_subtree_without_line_numbers(fixture_site: Site):
    content = dict(fixture_site.content)
    child = next(i for i in content.values() if i.type == "page" and len(i.ancestors) >= 3)
    top = content[child.ancestors[1]]
    content[top.id] = top.model_copy(update={"parent_id": child.id})

    derived, rejects = derive(content, file="upsert")

    cycle_members = {top.id, *child.ancestors[2:], child.id}
    assert cycle_members.isdisjoint(derived)
    assert all(r.file == "upsert" and r.line == 0 for r in rejects)
    messages = {r.message.split(":")[0]: r.message for r in rejects}
    assert "parent cycle" in messages[f"id {top.id}"]
    below = [i for i in fixture_site.content.values() if child.id in i.ancestors]
    assert below and all(f"id {i.id}" in messages for i in below)
    assert len(derived) + len(rejects) == len(content)
