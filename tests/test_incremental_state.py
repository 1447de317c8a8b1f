"""Incremental equals rebuilt: a Hypothesis state machine over ``Engine.upsert``/``delete``.

The machine keeps a plain model of the site (content lines by id) next to an engine that
is only ever changed incrementally. Rules add pages, comments and attachments, edit
items, move pages across spaces and within them, comment on whatever is there (moved
pages included) and delete items. The model applies Confluence's rules by itself: a
moved page takes its subtree, comments and attachments to the new space; a deleted item
takes its comments and attachments along and its tree children move up. ``check`` (and
every teardown) writes the model out as a site, builds it fresh and asks both engines the
same random queries as three callers (the operator, a user, an app blocked from space
``B``): ids, order and totals must be equal.

Bounded by the ``ci`` profile (a few seconds); ``HYPOTHESIS_PROFILE=long`` runs far more
and longer programs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
from sitegen import BLOCKED_APP, USER, item, write_site

from index.engine import Engine

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
SPACES = ("A", "B", "C")
WORDS = ("alpha", "beta", "gamma", "delta")
TREE = ("page",)
CALLERS = (None, USER, BLOCKED_APP)
QUERIES = (
    "type = page", "type = comment", "type = attachment", "space = {space}",
    "space = {space} ORDER BY title", "ancestor = {id}", "parent = {id}",
    "container = {id}", "text ~ {word}", "title ~ {word}", 'parent.title ~ "{word}"',
    "ancestor = {id} OR container = {id}", "text ~ {word} AND NOT space = {space}",
    "id = {id}", "label = {word} ORDER BY created DESC, title",
    "type = comment AND ancestor = {id}",
    "type in (page, comment, attachment) ORDER BY lastmodified",
)


def test_an_index_built_without_content_orders_upserted_items(tmp_path: Path) -> None:
    """Found by the machine below: the first segment held only space entities, which have
    no dates, and Whoosh's column reader then dropped that segment's rows, so every
    default-ordered search failed with IndexError."""
    engine = Engine.build(write_site(tmp_path / "site", []), tmp_path / "index")
    assert engine.upsert([item("2", day=2), item("3", day=3)]) == []
    assert [r.id for r in engine.search("type = page").results] == ["3", "2"]
    assert [r.id for r in engine.search("type = page ORDER BY title DESC").results] == [
        "3", "2"]


class IncrementalEqualsRebuilt(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="cql-state-"))
        self.items: dict[str, dict[str, Any]] = {}
        self.next_id = 1
        self.day = 1
        self.builds = 0
        self.engine = Engine.build(write_site(self.tmp / "site", []), self.tmp / "index")

    # --- the model ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def _stamp(self) -> int:
        self.day = self.day % 28 + 1
        return self.day

    def pages(self, space: str | None = None) -> list[str]:
        return sorted((i for i, it in self.items.items() if it["type"] in TREE
                       and (space is None or it["space"] == space)), key=int)

    def below(self, root: str) -> set[str]:
        """Everything under ``root``: tree descendants and contained items, transitively."""
        out: set[str] = set()
        frontier = {root}
        while frontier:
            frontier = {i for i, it in self.items.items()
                        if (it.get("parent_id") in frontier or it.get("container_id") in frontier)
                        and i not in out}
            out |= frontier
        return out

    def _upsert(self, line: dict[str, Any]) -> None:
        assert self.engine.upsert([line]) == []
        self.items[line["id"]] = line

    # --- rules -------------------------------------------------------------------------------

    @rule(space=st.sampled_from(SPACES), data=st.data(), words=st.lists(
        st.sampled_from(WORDS), min_size=1, max_size=3))
    def add_page(self, space: str, data: st.DataObject, words: list[str]) -> None:
        parents = self.pages(space)
        parent = data.draw(st.none() | st.sampled_from(parents)) if parents else None
        line = item(self._new_id(), space=space, parent=parent, title=" ".join(words),
                    body=" ".join(reversed(words)), day=self._stamp(), labels=words[:1])
        self._upsert(line)

    @precondition(lambda self: self.items)
    @rule(data=st.data(), kind=st.sampled_from(("comment", "attachment")),
          word=st.sampled_from(WORDS))
    def add_contained(self, data: st.DataObject, kind: str, word: str) -> None:
        allowed = [i for i, it in sorted(self.items.items(), key=lambda kv: int(kv[0]))
                   if it["type"] != "comment"
                   and not (kind == "attachment" and it["type"] == "attachment")]
        if not allowed:
            return
        container = data.draw(st.sampled_from(allowed))
        space = self.items[container]["space"]
        self._upsert(item(self._new_id(), kind, space=space, container=container,
                          title=f"{word} {kind}", body=f"{word} words", day=self._stamp()))

    @precondition(lambda self: self.items)
    @rule(data=st.data(), word=st.sampled_from(WORDS))
    def edit(self, data: st.DataObject, word: str) -> None:
        target = data.draw(st.sampled_from(sorted(self.items, key=int)))
        line = {**self.items[target], "title": f"{word} edited",
                "lastmodified": f"2024-03-{self._stamp():02d}T10:00:00Z"}
        self._upsert(line)

    @precondition(lambda self: self.pages())
    @rule(data=st.data(), space=st.sampled_from(SPACES))
    def move(self, data: st.DataObject, space: str) -> None:
        """Move a page to a new parent (or the top) in any space, its subtree along."""
        page = data.draw(st.sampled_from(self.pages()))
        subtree = self.below(page)
        parents = [p for p in self.pages(space) if p != page and p not in subtree]
        parent = data.draw(st.none() | st.sampled_from(parents)) if parents else None
        line = {**self.items[page], "space": space, "parent_id": parent}
        if parent is None:
            line.pop("parent_id")
        self._upsert(line)
        for moved in subtree:
            self.items[moved] = {**self.items[moved], "space": space}

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.items, key=int)),
                                 min_size=1, max_size=2, unique=True))
        assert self.engine.delete(ids) == len(ids)
        doomed = set(ids)
        while True:
            more = {i for i, it in self.items.items() if it.get("container_id") in doomed}
            if more <= doomed:
                break
            doomed |= more
        for item_id, line in list(self.items.items()):
            if item_id in doomed:
                continue
            parent = line.get("parent_id")
            while parent in doomed:
                parent = self.items[parent].get("parent_id")
            if parent != line.get("parent_id"):
                line = {k: v for k, v in line.items() if k != "parent_id"}
                if parent is not None:
                    line["parent_id"] = parent
                self.items[item_id] = line
        for item_id in doomed:
            del self.items[item_id]

    @precondition(lambda self: any(it["type"] != "page" for it in self.items.values()))
    @rule(data=st.data())
    def stale_space_is_rejected(self, data: st.DataObject) -> None:
        """A contained item sent with another space than its container's is a reject and
        changes nothing."""
        target = data.draw(st.sampled_from(sorted(
            (i for i, it in self.items.items() if it["type"] != "page"), key=int)))
        wrong = next(s for s in SPACES if s != self.items[target]["space"])
        rejects = self.engine.upsert([{**self.items[target], "space": wrong,
                                       "title": "never stored"}])
        assert len(rejects) == 1

    @rule(data=st.data())
    def check(self, data: st.DataObject) -> None:
        self.compare(data)

    # --- the comparison ----------------------------------------------------------------------

    def compare(self, data: st.DataObject | None) -> None:
        self.builds += 1
        site = write_site(self.tmp / f"site-{self.builds}", self.items.values())
        fresh = Engine.build(site, self.tmp / f"fresh-{self.builds}")
        assert fresh.last_build is not None and fresh.last_build.rejects == []
        ids = sorted(self.items, key=int) or ["1"]
        if data is None:
            queries = [q.format(space=s, id=i, word=w) for q in QUERIES[:6]
                       for s, i, w in [(SPACES[1], ids[0], WORDS[0])]]
        else:
            queries = [data.draw(st.sampled_from(QUERIES)).format(
                space=data.draw(st.sampled_from(SPACES)), id=data.draw(st.sampled_from(ids)),
                word=data.draw(st.sampled_from(WORDS))) for _ in range(4)]
        for query in queries:
            for caller in CALLERS:
                want = fresh.search(query, caller=caller, limit=1000, excerpt="none")
                got = self.engine.search(query, caller=caller, limit=1000, excerpt="none")
                assert [r.id for r in got.results] == [r.id for r in want.results], (
                    query, caller)
                assert got.totalSize == want.totalSize, (query, caller)
                assert [(r.space, r.url, r.parentId, r.containerId) for r in got.results] == [
                    (r.space, r.url, r.parentId, r.containerId) for r in want.results]
        fresh.store.close()
        shutil.rmtree(self.tmp / f"fresh-{self.builds}", ignore_errors=True)

    def teardown(self) -> None:
        try:
            self.compare(None)
        finally:
            self.engine.store.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


IncrementalEqualsRebuilt.TestCase.settings = settings(
    max_examples=300 if LONG else 20,
    stateful_step_count=50 if LONG else 15,
    deadline=None,
)
test_incremental_equals_rebuilt = IncrementalEqualsRebuilt.TestCase
