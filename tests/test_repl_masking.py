"""The REPL run as an app shows what that app would see (issue 10): completion offers only
values from the caller's visible documents, and a what-if toggle changes the offer too."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.engine import Engine
from index.repl.pipeline import Settings
from index.repl.session import Session
from index.repl.shell import vocabulary_for
from index.security.callers import AppCaller, UserCaller

ROOT = Path(__file__).resolve().parents[1]
SYNCBOT_FOR = "bbfd51cb6d4e3152f5298a3f"  # an account that granted app-syncbot (fixture)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("mask") / "index"
    return Engine.build(ROOT / "fixtures" / "site", path)


def offered(session: Session, field: str) -> set[str]:
    from cql.fields import lookup

    spec = lookup(field)
    assert spec is not None
    return {s.text for s in vocabulary_for(session).values_for(spec)}


def hr_only_labels(engine: Engine) -> set[str]:
    everywhere = {w for w in engine.store.snapshot().lexicon("label")}
    outside = set()
    for word in everywhere:
        if engine.count(f'label = "{word}" AND space != HR') > 0:
            outside.add(word)
    return everywhere - outside


def test_completion_offers_only_what_the_app_may_see(engine: Engine) -> None:
    blocked = AppCaller(app_id="app-syncbot", kind="oauth2_3lo",
                        scopes=frozenset({"search:confluence"}), acting_for=SYNCBOT_FOR)
    operator = Session(engine, Settings(), lambda frags: None)
    app = Session(engine, Settings(caller=blocked), lambda frags: None)
    assert "HR" in offered(operator, "space") and "HR" not in offered(app, "space")
    secret = hr_only_labels(engine)
    assert secret, "the fixture should hold a label used only in HR"
    assert secret <= offered(operator, "label")
    assert not secret & offered(app, "label")
    # The labels the app does see are still offered.
    assert offered(app, "label") and offered(app, "label") <= offered(operator, "label")
    # A what-if toggle (p1 off) lifts the policy mask for the session, and the offer follows
    # it: the HR labels the app's user may view come back (view permissions still apply).
    app.settings.overrides["p1"] = False
    as_user = UserCaller(account_id=SYNCBOT_FOR)
    viewable = {w for w in secret
                if engine.count(f'label = "{w}" AND space = HR', caller=as_user) > 0}
    assert "HR" in offered(app, "space") and viewable and viewable <= offered(app, "label")


def test_explain_labels_what_only_the_operator_may_know(engine: Engine) -> None:
    shown: list[str] = []
    blocked = AppCaller(app_id="app-syncbot", kind="oauth2_3lo",
                        scopes=frozenset({"search:confluence"}), acting_for=SYNCBOT_FOR)
    app = Session(engine, Settings(caller=blocked),
                  lambda frags: shown.append("".join(t for _, t in frags)))
    app.handle(":explain type = page AND space = HR")
    text = "".join(shown)
    whole = [line for line in text.splitlines() if "in the whole index" in line]
    assert whole and all("(operator view: " in line for line in whole)
    assert "mask in force  operator view: the caller is never told this" in text
    assert "(operator view: the index holds" in text
    # Counts called "visible" count only what the app may see: HR is masked.
    assert "[2] space = HR   0 visible" in text
    shown.clear()
    operator = Session(engine, Settings(), lambda frags: shown.append(
        "".join(t for _, t in frags)))
    operator.handle(":explain type = page AND space = HR")
    assert "operator view" not in "".join(shown)
