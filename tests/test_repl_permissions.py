"""The REPL's completion as a user shows only what that user may view (issue 13).

A small site with a restricted subtree (its labels, a macro and title words found nowhere
else), a space only one account may view, someone's draft and a guest. Completion is
driven through the REPL's own completer (the session's vocabulary, as the shell wires it)
and through ``cql repl --as-user`` in a pseudo-terminal: for a caller who may not view
them, none of those names is ever offered, while the operator and an account that may
view them are offered them (so the tests are not vacuous).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from test_repl import Repl, terminal_env  # the pseudo-terminal driver of the REPL tests

from index.engine import Engine
from index.repl.complete import CqlCompleter
from index.repl.pipeline import Settings
from index.repl.session import COMMANDS, Session
from index.repl.shell import vocabulary_for
from index.security.callers import AnonymousCaller, UserCaller

ANN, CAT, GUS = "ann", "cat", "gus"
SECRET_WORDS = ("quixotic", "skunkworks", "vault", "dossier", "roadmap-planner",
                "ann-draft")
MACRO = '<ac:structured-macro ac:name="{}"></ac:structured-macro><p>{}</p>'


def _item(id_: int, title: str, space: str, **extra: Any) -> dict[str, Any]:
    out = {"id": str(id_), "type": "page", "title": title, "space": space, "creator": ANN,
           "created": f"2024-03-{id_:02d}T10:00:00+00:00", "body": f"{title} notes"}
    out.update(extra)
    return out


def write_site(path: Path) -> Path:
    files: dict[str, Any] = {
        "spaces.jsonl": [
            {"key": "TEAM", "name": "Team", "type": "global",
             "permissions": {"view": {"groups": ["staff"]}}},
            {"key": "VAULT", "name": "Skunkworks vault", "type": "global",
             "categories": ["skunkworks"], "permissions": {"view": {"users": [ANN]}}},
            {"key": "OPEN", "name": "Open", "type": "global", "categories": ["public"]},
        ],
        "groups.jsonl": [{"name": "staff", "members": [ANN, CAT]}],
        "users.jsonl": [{"account_id": ANN, "display_name": "Ann Archer"},
                        {"account_id": CAT, "display_name": "Cat Carter"},
                        {"account_id": GUS, "display_name": "Gus Guest", "kind": "guest",
                         "guest_space": "OPEN"}],
        "content.jsonl": [
            _item(1, "Team home", "TEAM", labels=["team-home"]),
            _item(2, "Quixotic merger dossier", "TEAM", parent_id="1",
                  labels=["quixotic-merger"],
                  body=MACRO.format("roadmap-planner", "quixotic dossier"),
                  read_restrictions={"users": [ANN]}),
            _item(3, "Quixotic timeline", "TEAM", parent_id="2",
                  labels=["quixotic-timeline"]),
            _item(4, "Open page", "OPEN", labels=["open-label"],
                  body=MACRO.format("info", "open notes")),
            _item(5, "Anns unfinished thought", "OPEN", status="draft",
                  labels=["ann-draft-idea"]),
            _item(6, "Vault inventory", "VAULT", labels=["vault-only"]),
        ],
    }
    path.mkdir(parents=True)
    for name, rows in files.items():
        (path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("repl-perm")
    built = Engine.build(write_site(tmp / "site"), tmp / "index")
    assert built.last_build is not None and built.last_build.rejected == 0
    return tmp / "index"


@pytest.fixture(scope="module")
def engine(index_dir: Path) -> Engine:
    return Engine.open(index_dir)


#: Texts typed before Tab: every place a value of the index (or a word) may be offered.
TYPED = ("label = ", "label = q", 'label = "', "label in (open-label, ", "space = ",
         "space = V", "space in (", "space.category = ", "macro = ", "macro = r",
         "creator = ", "title ~ ", "title ~ qu", "text ~ ", "ancestor = ", "parent = ",
         "type = page AND ", "qu", "v")


def offered(session: Session, typed: str) -> list[tuple[str, str]]:
    """What the REPL's completer offers after ``typed``: (text, note) pairs."""
    completer = CqlCompleter(vocabulary_for(session), [f":{name}" for name in COMMANDS])
    return [(c.text, c.display_meta_text) for c in
            completer.get_completions(Document(typed), CompleteEvent(completion_requested=True))]


def everything(session: Session) -> str:
    return "\n".join(f"{t} {m}" for typed in TYPED for t, m in offered(session, typed)).lower()


def session_as(engine: Engine, caller: Any) -> Session:
    return Session(engine, Settings(caller=caller), lambda frags: None)


@pytest.mark.parametrize("caller", [UserCaller(account_id=CAT), UserCaller(account_id=GUS),
                                    UserCaller(account_id="zed"), AnonymousCaller()],
                         ids=["cat", "guest", "unknown-account", "anonymous"])
def test_completion_never_offers_what_the_caller_may_not_view(engine: Engine,
                                                              caller: Any) -> None:
    shown = everything(session_as(engine, caller))
    assert not [w for w in SECRET_WORDS if w in shown], shown


def test_completion_offers_what_the_caller_may_view(engine: Engine) -> None:
    cat = session_as(engine, UserCaller(account_id=CAT))
    assert {t for t, _ in offered(cat, "label = ")} == {"team-home", "open-label"}
    assert {t for t, _ in offered(cat, "space = ")} >= {"TEAM", "OPEN"}
    assert "info" in {t for t, _ in offered(cat, "macro = ")}
    assert {t for t, _ in offered(cat, "creator = ")} >= {ANN, CAT}  # the directory
    guest = session_as(engine, UserCaller(account_id=GUS))
    assert {t for t, _ in offered(guest, "space = ")} & {"TEAM", "VAULT"} == set()
    assert "OPEN" in {t for t, _ in offered(guest, "space = ")}
    # guests and anonymous callers may not search users: no directory for them
    assert not {ANN, CAT} & {t for t, _ in offered(guest, "creator = ")}
    anonymous = session_as(engine, AnonymousCaller())
    assert not {ANN, CAT} & {t for t, _ in offered(anonymous, "creator = ")}


def test_the_offer_follows_the_session_s_caller(engine: Engine) -> None:
    """The same completer, as the operator, as ann (who may view it all) and back to cat."""
    session = session_as(engine, None)
    for who in ("local", f"user {ANN}"):
        session.handle(f":as {who}")
        shown = everything(session)
        assert all(w in shown for w in ("quixotic-merger", "quixotic-timeline", "vault",
                                        "skunkworks", "roadmap-planner")), (who, shown)
    session.handle(f":as user {CAT}")
    assert not [w for w in SECRET_WORDS if w in everything(session)]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return terminal_env(tmp_path)


@pytest.fixture
def repl_as_cat(index_dir: Path, env: dict[str, str]) -> Iterator[Repl]:
    session = Repl(index_dir, env, "--as-user", CAT)
    yield session
    if session.child.isalive():
        session.close()


def test_tab_in_a_terminal_as_a_user_lists_only_what_it_may_view(repl_as_cat: Repl) -> None:
    repl = repl_as_cat
    repl.child.send("label = \t")
    shown = repl.wait("open-label")
    assert "team-home" in shown
    assert "quixotic" not in shown.lower()
    repl.child.sendcontrol("c")
    repl.wait(r"cql\[Cat Carter\]>\s*$")
    repl.mark = len(repl.screen.text())
    repl.child.send("space = \t")
    shown = repl.wait("OPEN")
    assert "VAULT" not in shown and "Skunkworks" not in shown
    repl.child.sendcontrol("c")
    repl.enter(f":as user {ANN}")
    repl.mark = len(repl.screen.text())
    repl.child.send("label = qu\t")
    repl.wait("quixotic-timeline")  # ann may view the subtree: the same Tab offers it
    repl.child.sendcontrol("c")  # an empty line again, so that Ctrl-D ends the session
    repl.wait(r"cql\[Ann Archer\]>\s*$")
