"""Sparse document sets (``docsets.Ids``) against the integer sets they stand for.

A rare clause is evaluated as sorted ids tested against byte flags, a common one as an
integer; which form a set takes must never change an answer. The set operations are
checked against the integer algebra for random sets, widths and densities (empty and full
sets, the last document), and whole searches are run three ways over the sample site:
integers only (as before sparse sets), the engine's own choice, and ids wherever
possible, for every kind of caller: ids, order, counts, scores, excerpts and the next
page's cursor must be the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.core import docsets
from index.core.context import DEFAULT_NOW, SearchContext
from index.engine import Engine
from index.security.callers import AnonymousCaller, AppCaller, UserCaller

# --- the set operations -------------------------------------------------------------------


@st.composite
def sized_sets(draw: st.DrawFn, count: int = 1) -> tuple[int, list[int]]:
    """An index size and ``count`` sets over it: random, empty, full, or holding the last
    document, at a random density."""
    size = draw(st.one_of(st.integers(1, 70), st.integers(1, 3_000)))
    out = []
    for _ in range(count):
        kind = draw(st.sampled_from(["random", "random", "empty", "full", "last"]))
        if kind == "empty":
            out.append(docsets.EMPTY)
            continue
        if kind == "full":
            out.append(docsets.full(size))
            continue
        density = draw(st.sampled_from([0.001, 0.01, 0.1, 0.5, 0.9]))
        seed = draw(st.integers(0, 2**32 - 1))
        ids = [d for d in range(size) if (d * 2654435761 + seed) % 10_000 < density * 10_000]
        if kind == "last":
            ids.append(size - 1)
        out.append(docsets.from_ids(ids, size))
    return size, out


@given(sized_sets(1))
def test_ids_are_the_members_and_convert_back(case: tuple[int, list[int]]) -> None:
    size, (docs,) = case
    ids = docsets.ids(docs)
    assert list(ids) == docsets.members(docs)
    assert docsets.ids(ids) is ids
    assert docsets.dense(ids, size) == docs
    assert docsets.dense(docs, size) == docs
    assert docsets.size_of(ids) == docsets.size_of(docs) == docs.bit_count()


@given(sized_sets(1))
def test_flags_hold_one_byte_per_document(case: tuple[int, list[int]]) -> None:
    size, (docs,) = case
    flags = docsets.flags(docs, size)
    assert len(flags) >= size
    assert [flags[d] for d in range(size)] == [docs >> d & 1 for d in range(size)]
    assert not any(flags[size:])


@given(sized_sets(2))
def test_select_is_the_and_of_ids_with_a_flagged_set(case: tuple[int, list[int]]) -> None:
    size, (a, b) = case
    assert docsets.select(docsets.ids(a), docsets.flags(b, size)) == docsets.ids(a & b)


@given(sized_sets(3))
def test_union_and_intersection_of_ids_are_the_integer_ones(
        case: tuple[int, list[int]]) -> None:
    _, sets = case
    parts = [docsets.ids(s) for s in sets]
    assert docsets.union_ids(parts) == docsets.ids(sets[0] | sets[1] | sets[2])
    assert docsets.union_ids(parts[:1]) == parts[0]
    assert docsets.union_ids([]) == docsets.ids(docsets.EMPTY)
    assert docsets.intersect_ids(parts) == docsets.ids(sets[0] & sets[1] & sets[2])


@given(st.integers(0, 2_000_000), st.integers(0, 2_000_000))
def test_sparse_enough_follows_the_width_not_only_the_count(count: int, width: int) -> None:
    assert docsets.sparse_enough(count, width) == (count <= docsets.sparse_limit(width))
    assert docsets.sparse_enough(min(count, docsets.FEW_IDS), width)


# --- whole searches, three ways -------------------------------------------------------------

SITE = Path(__file__).resolve().parent.parent / "fixtures" / "site"
CONTEXT = SearchContext(now=DEFAULT_NOW)
#: How each mode answers "up to how many members is a set kept as ids?".
MODES = {"integers": lambda size: -1, "chosen": docsets.sparse_limit,
         "ids": lambda size: 1 << 40}


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SITE / name).read_text(encoding="utf-8").splitlines()
            if line.strip()]


CONTENT = _lines("content.jsonl")
USERS = [u["account_id"] for u in _lines("users.jsonl")]
CALLERS: list[Any] = [
    None, AnonymousCaller(), UserCaller(account_id=USERS[0]), UserCaller(account_id=USERS[3]),
    UserCaller(account_id="guest-5f1c0a7e"),
    AppCaller(app_id="app-syncbot", kind="oauth2_3lo",
              scopes=frozenset({"search:confluence"}), acting_for=USERS[3]),
]


def _values(key: str) -> list[str]:
    found: dict[str, None] = {}
    for item in CONTENT:
        value = item.get(key)
        for v in value if isinstance(value, list) else [value]:
            if v:
                found[str(v)] = None
    return list(found)


LABELS, CREATORS, IDS = _values("labels"), _values("creator"), _values("id")
PARENTS = _values("parent_id")
SPACES = [json.loads(line)["key"] for line in
          (SITE / "spaces.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
DAYS = sorted({i["created"][:10] for i in CONTENT})
WORDS = ["backup", "pricing", "review", "ticket", "plan", "release", "access", "team"]
#: Phrases of two and three words from the titles (``Compiler.phrase_hits`` keeps a few
#: hits as ids).
PHRASES = sorted({" ".join(t[i:i + n]) for t in (i["title"].split() for i in CONTENT)
                  for n in (2, 3) for i in range(len(t) - n + 1)})


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


atoms = st.one_of(
    st.sampled_from(LABELS).map(lambda v: f"label = {_quoted(v)}"),
    st.sampled_from(CREATORS).map(lambda v: f"creator = {_quoted(v)}"),
    st.sampled_from(IDS).map(lambda v: f"id = {v}"),
    st.lists(st.sampled_from(IDS), min_size=2, max_size=6).map(
        lambda vs: f"id IN ({', '.join(vs)})"),
    st.sampled_from(PARENTS).map(lambda v: f"parent = {v}"),
    st.sampled_from(PARENTS).map(lambda v: f"ancestor = {v}"),
    st.sampled_from(SPACES).map(lambda v: f"space = {_quoted(v)}"),
    st.sampled_from(["page", "blogpost", "comment", "attachment", "space"]).map(
        lambda v: f"type = {v}"),
    st.sampled_from(DAYS).map(lambda v: f"created = {v}"),
    st.sampled_from(DAYS).map(lambda v: f"created > {v}"),
    st.sampled_from(WORDS).map(lambda v: f"text ~ {v}"),
    st.sampled_from(WORDS).map(lambda v: f"title ~ {v}"),
    st.sampled_from(PHRASES).map(lambda v: f"text ~ {_quoted(_quoted(v))}"),
    st.sampled_from(PHRASES).map(lambda v: f"title ~ {_quoted(_quoted(v))}"),
    st.sampled_from(WORDS).map(lambda v: f"parent.title ~ {v}"),
    st.sampled_from(["global", "personal", "knowledge_base"]).map(lambda v: f"space.type = {v}"),
)


@st.composite
def queries(draw: st.DrawFn) -> str:
    parts = draw(st.lists(atoms, min_size=1, max_size=3))
    out = parts[0]
    for part in parts[1:]:
        joiner = draw(st.sampled_from([" AND ", " AND ", " OR ", " AND NOT "]))
        out = f"({out}){joiner}{part}"
    order = draw(st.sampled_from(["", "", " ORDER BY title", " ORDER BY created DESC, id"]))
    return out + order


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sparse") / "index"
    Engine.build(SITE, out)
    return out


@pytest.fixture(scope="module")
def engines(index_dir: Path) -> dict[str, Engine]:
    """One engine per mode: each has its own snapshot, so its per-snapshot choices (which
    terms are ids, which unions are kept) are made under its mode only."""
    return {mode: Engine.open(index_dir) for mode in MODES}


def _answers(engine: Engine, text: str) -> Iterator[Any]:
    for caller in CALLERS:
        try:
            page = engine.search(text, caller=caller, context=CONTEXT, limit=7)
        except Exception as error:  # the same refusal every way (e.g. a guest's grant)
            yield type(error).__name__, str(error)
            continue
        yield page.model_dump(exclude={"searchDuration"})
        if page.next is not None:
            more = engine.search(text, caller=caller, context=CONTEXT, limit=7,
                                 cursor=page.next, excerpt="none")
            yield more.model_dump(exclude={"searchDuration"})


def _three_ways(engines: dict[str, Engine], text: str,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    out = {}
    for mode, limit in MODES.items():
        with monkeypatch.context() as patch:
            patch.setattr(docsets, "sparse_limit", limit)
            out[mode] = list(_answers(engines[mode], text))
    return out


@settings(max_examples=60)
@given(text=queries())
def test_searches_answer_alike_with_ids_integers_or_either(
        engines: dict[str, Engine], text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        answers = _three_ways(engines, text, monkeypatch)
    assert answers["chosen"] == answers["integers"], text
    assert answers["ids"] == answers["integers"], text


@pytest.mark.parametrize("text", [
    "type = space AND space.type = global",
    "space.type = personal ORDER BY title",
    "creator.fullname ~ alice",
    "space.title ~ engineering",
    "text ~ backup AND NOT label = draft",
    "created = 2022-01-11 OR id = 65541",
    "favourite = currentUser() OR label = onboarding",
    "parent.title ~ home",
    "parent.title = \"Engineering Home\" AND type = page",
    'text ~ "\\"engineering home\\""',
    'text ~ "\\"engineering home\\" OR backup" AND type = page',
])
def test_known_shapes_answer_alike(engines: dict[str, Engine], text: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    answers = _three_ways(engines, text, monkeypatch)
    assert answers["chosen"] == answers["integers"]
    assert answers["ids"] == answers["integers"]
    assert any(isinstance(a, dict) and a["totalSize"] for a in answers["integers"]), \
        "a shape that matches nothing checks little"


def test_a_rare_phrase_is_kept_as_ids(engines: dict[str, Engine],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A phrase of a few hits reaches the search as ids (so relevance scores them
    outright, with no pass over the index's width), and the answer is the integers'."""
    from array import array

    from index.core.compiler import Compiler

    made: list[Any] = []
    phrase_hits = Compiler.phrase_hits

    def spy(self: Compiler, fields: tuple[str, ...], tokens: list[str]) -> Any:
        made.append(phrase_hits(self, fields, tokens))
        return made[-1]

    monkeypatch.setattr(Compiler, "phrase_hits", spy)
    text = 'text ~ "\\"engineering home\\""'
    answers = _three_ways(engines, text, monkeypatch)
    assert any(isinstance(m, array) and len(m) for m in made)
    assert answers["chosen"] == answers["integers"]
    assert any(isinstance(a, dict) and a["totalSize"] for a in answers["chosen"])
