"""A large site's build loads its content in several processes (``index.site.partitioned``):
it must load, reject and index exactly what ``load_site`` and the in-process build do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.engine import Engine
from index.security.callers import AnonymousCaller
from index.site.loader import load_site
from index.site.partitioned import load_split, spilled_items

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "site"
BAD = Path(__file__).resolve().parent / "sites" / "bad"


def _mixed_site(root: Path) -> Path:
    """The fixture site with the bad site's content lines in its middle, and lines whose
    fate depends on a line in another part: a duplicate of an early id, children of an
    early rejected page and of an early accepted one, and a cycle across the halves."""
    shutil.copytree(FIXTURES, root)
    good = (FIXTURES / "content.jsonl").read_bytes().splitlines(keepends=True)
    bad = (BAD / "content.jsonl").read_bytes().splitlines(keepends=True)
    first = json.loads(good[0])
    late = [
        dict(first, title="a duplicate of the first line"),
        dict(first, id="990001", parent_id="110", title="below a rejected page"),
        dict(first, id="990002", parent_id=first["id"], title="below the first line"),
        dict(first, id="990003", parent_id="990004", title="cycle"),
        dict(first, id="990004", parent_id="990003", title="cycle"),
    ]
    early_cycle_member = dict(first, id="990005", parent_id="990006", title="early")
    lines = [*good[:300], json.dumps(early_cycle_member).encode() + b"\n", *bad, *good[300:],
             *(json.dumps(item).encode() + b"\n" for item in late),
             json.dumps(dict(first, id="990006", parent_id="990005")).encode()]  # no "\n"
    (root / "content.jsonl").write_bytes(b"".join(lines))
    return root


def _same_load(site_dir: Path, spill: Path, parts: int) -> None:
    expected = load_site(site_dir)
    spill.mkdir()
    split = load_split(site_dir, spill, parts)
    assert [str(r) for r in split.site.rejects] == [str(r) for r in expected.rejects]
    assert split.site.spaces == expected.spaces
    assert split.site.users == expected.users
    assert split.site.groups == expected.groups
    assert split.site.extras == expected.extras
    assert split.site.rejected_accounts == expected.rejected_accounts
    items = [item for path in split.spills for item in spilled_items(path, split.ancestors)]
    assert items == list(expected.content.values())
    assert split.items == len(expected.content)


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_split_load_equals_load_site(tmp_path: Path, parts: int) -> None:
    site = _mixed_site(tmp_path / "site")
    _same_load(site, tmp_path / "spill", parts)
    _same_load(BAD, tmp_path / "spill-bad", parts)


_LINE = st.one_of(
    st.builds(lambda i, p, s: {"id": str(i), "type": "page", "title": f"t{i}", "space": s,
                               "creator": "u", "created": "2024-01-01T00:00:00Z",
                               **({"parent_id": str(p)} if p else {})},
              st.integers(1, 12), st.integers(0, 12), st.sampled_from(["S", "S", "s", "X"])),
    st.builds(lambda i, c: {"id": str(i), "type": "comment", "title": "c", "space": "S",
                            "creator": "u", "created": "2024-01-01T00:00:00Z",
                            "container_id": str(c)},
              st.integers(1, 12), st.integers(1, 12)),
    st.builds(lambda i: {"id": str(i), "type": "page", "space": "S"}, st.integers(1, 12)),
    st.sampled_from(["{not json", "[1]", "", "   ", '{"id": "1", "id": "2"}']),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=30), parts=st.integers(1, 5),
       bom=st.booleans(), last_newline=st.booleans())
def test_split_load_property(tmp_path: Path, lines: list[object], parts: int, bom: bool,
                             last_newline: bool) -> None:
    """Any content file, cut into any number of parts, loads as load_site loads it:
    rejects (with their lines), accepted items and their ancestors."""
    root = Path(tmp_path) / f"site-{abs(hash((str(lines), parts, bom, last_newline)))}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    (root / "spaces.jsonl").write_text('{"key": "S", "name": "S", "type": "global"}\n')
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    data = ("\ufeff" if bom else "") + text + ("\n" if last_newline and lines else "")
    (root / "content.jsonl").write_bytes(data.encode("utf-8"))
    _same_load(root, root / "spill", parts)


def _stored(engine: Engine) -> list[dict[str, object]]:
    snap = engine.store.snapshot()
    return [snap.stored(d) for d in range(snap.reader.doc_count_all())]


QUERIES = ["type = page", "text ~ release", "label = onboarding ORDER BY title",
           "ancestor = 65536 OR macro = jira", 'text ~ "\\"release notes\\""', "type = space",
           "created > 2024-01-01 ORDER BY created DESC", "text ~ deploy ORDER BY lastmodified",
           "parent = 65536", "title ~ cycle OR title ~ duplicate", "space = ENG AND type = comment"]


def test_split_build_equals_in_process_build(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The same site built in one process (load_site) and in two (load_split, spill files,
    several segments a worker): same report, same stored documents in the same order, same
    answers."""
    site = _mixed_site(tmp_path / "site")
    monkeypatch.setattr("index.engine.PARALLEL_BUILD_MIN_BYTES", 1 << 40)
    single = Engine.build(site, tmp_path / "single")
    monkeypatch.setattr("index.engine.PARALLEL_BUILD_MIN_BYTES", 1)
    monkeypatch.setattr("index.core.bulkwrite.SEGMENT_DOCS", 150)
    split = Engine.build(site, tmp_path / "split")
    assert len(split.store.snapshot().reader.leaf_readers()) > 2
    assert not any((tmp_path / "split").glob("spill*"))
    assert single.last_build is not None and split.last_build is not None
    assert split.last_build.rejects == single.last_build.rejects
    assert split.last_build.rejected == single.last_build.rejected > 30
    assert split.last_build.items == single.last_build.items
    assert _stored(split) == _stored(single)
    for query in QUERIES:
        for caller in (None, AnonymousCaller()):
            expected = single.search(query, caller=caller, limit=200)
            got = split.search(query, caller=caller, limit=200)
            assert [(r.id, r.excerpt) for r in got.results] == [
                (r.id, r.excerpt) for r in expected.results], query
            assert got.totalSize == expected.totalSize, query
