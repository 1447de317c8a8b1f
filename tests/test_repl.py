"""``cql repl``: driven in a pseudo-terminal (what the screen shows), and through a pipe.

The terminal tests spawn the real command under pexpect and feed its output to a small
terminal emulator (``Screen``, below), so assertions read the screen a person would see,
not the stream of escape codes prompt_toolkit writes to redraw it. Every run works on one
index built from ``fixtures/site`` for this module, with its own history file and cache.
In the fixture site, policy p1 blocks app-syncbot from the content of space HR.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from index.core.context import SearchContext
from index.engine import Engine
from index.repl.complete import Vocabulary, suggestions
from index.repl.highlight import token_classes
from index.repl.pipeline import Settings, run
from index.repl.session import Session
from index.repl.shell import history_path
from index.repl.syntax import needs_more, word_before
from index.security.callers import AnonymousCaller, AppCaller, UserCaller

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
NOW = "2026-11-01T12:00:00+00:00"
DANA = "bbfd51cb6d4e3152f5298a3f"  # granted app-syncbot access to all her sites
ROWS, COLS = 50, 160
#: The prompt, with who is searching when it is not the local operator.
PROMPT = re.compile(r"^cql(?:\[[^\]]*\])?>", re.M)
#: An empty prompt on the last line: whatever ran before it has finished printing.
EMPTY_PROMPT = re.compile(r"^cql(?:\[[^\]]*\])?>\s*\Z", re.M)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("repl") / "index"
    Engine.build(FIXTURE_SITE, path)
    return path


@pytest.fixture(scope="module")
def engine(index_dir: Path) -> Engine:
    return Engine.open(index_dir)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return terminal_env(tmp_path)


def terminal_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a REPL under test: its files in ``tmp_path``, no config, no CPR."""
    return {**os.environ, "CQL_REPL_HISTORY": str(tmp_path / "history"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path),
            "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "PYTHONIOENCODING": "utf-8",
            "CQL_REPL_CONFIG": str(tmp_path / "no-config.toml"), "PAGER": "cat"}


# --- a terminal, as far as prompt_toolkit uses one ------------------------------------------

_CSI = re.compile(r"\x1b\[([?>=]?)([0-9;]*)([@-~])")
_OTHER_ESC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEM]")


class Screen:
    """A character grid that follows cursor moves and erases, keeping lines scrolled off."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.grid = [[" "] * cols for _ in range(rows)]
        self.scrolled: list[str] = []
        self.r = self.c = 0
        self.wrap = True
        self.pending = ""

    def feed(self, data: str) -> None:
        data, self.pending = self.pending + data, ""
        i = 0
        while i < len(data):
            ch = data[i]
            if ch == "\x1b":
                m = _CSI.match(data, i)
                if m is not None:
                    self._csi(m.group(1), m.group(2), m.group(3))
                    i = m.end()
                    continue
                m = _OTHER_ESC.match(data, i)
                if m is None and len(data) - i < 16:  # a sequence cut in two: wait
                    self.pending = data[i:]
                    return
                i = m.end() if m is not None else i + 1
                continue
            if ch == "\r":
                self.c = 0
            elif ch == "\n":
                self._down()
            elif ch == "\b":
                self.c = max(0, self.c - 1)
            elif ch >= " ":
                if self.c >= self.cols:
                    if not self.wrap:
                        self.c = self.cols - 1
                    else:
                        self.c = 0
                        self._down()
                self.grid[self.r][self.c] = ch
                self.c += 1
            i += 1

    def _down(self) -> None:
        self.r += 1
        if self.r == self.rows:
            self.scrolled.append("".join(self.grid.pop(0)).rstrip())
            self.grid.append([" "] * self.cols)
            self.r -= 1

    def _csi(self, private: str, params: str, final: str) -> None:
        nums = [int(p) if p else 0 for p in params.split(";")] if params else []
        n = (nums[0] if nums else 0) or 1
        if private == "?":
            if final in "hl" and 7 in nums:
                self.wrap = final == "h"
        elif final == "A":
            self.r = max(0, self.r - n)
        elif final == "B":
            self.r = min(self.rows - 1, self.r + n)
        elif final == "C":
            self.c = min(self.cols - 1, self.c + n)
        elif final == "D":
            self.c = max(0, self.c - n)
        elif final == "G":
            self.c = min(self.cols, n) - 1
        elif final in "Hf":
            row = (nums[0] if nums else 1) or 1
            col = (nums[1] if len(nums) > 1 else 1) or 1
            self.r, self.c = min(self.rows, row) - 1, min(self.cols, col) - 1
        elif final == "J" and (nums[0] if nums else 0) == 0:
            self.grid[self.r][self.c:] = [" "] * (self.cols - self.c)
            for row in range(self.r + 1, self.rows):
                self.grid[row] = [" "] * self.cols
        elif final == "J" and nums[0] == 2:
            self.grid = [[" "] * self.cols for _ in range(self.rows)]
        elif final == "K" and (nums[0] if nums else 0) == 0:
            self.grid[self.r][self.c:] = [" "] * (self.cols - self.c)

    def text(self) -> str:
        lines = self.scrolled + ["".join(row).rstrip() for row in self.grid]
        return "\n".join(lines).rstrip("\n")


class Repl:
    """``cql repl`` in a pseudo-terminal: type into it, wait for the screen to show things."""

    def __init__(self, index_dir: Path, env: dict[str, str], *args: str) -> None:
        self.child = pexpect.spawn(
            sys.executable, ["-m", "index.cli.main", "repl", "--index", str(index_dir),
                             "--now", NOW, *args],
            cwd=str(ROOT), env=env, encoding="utf-8", dimensions=(ROWS, COLS), timeout=10)
        self.screen = Screen(ROWS, COLS)
        self.mark = 0
        self.wait(r"cql(\[[^\]]*\])?>")

    def wait(self, pattern: str, timeout: float = 30) -> str:
        """The screen text (after the last ``enter``) once ``pattern`` is on it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.screen.feed(self.child.read_nonblocking(65536, timeout=0.05))
            except pexpect.TIMEOUT:
                pass
            shown = self.screen.text()[self.mark:]
            if re.search(pattern, shown, re.M):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never showed; the screen:\n{shown}")

    def prompts(self) -> int:
        return len(PROMPT.findall(self.screen.text()))

    def enter(self, line: str) -> str:
        """Type ``line`` and Enter; once the next empty prompt shows, the screen from the
        line typed on (prompts are counted: the old one is on the screen already)."""
        before = self.prompts()
        self.mark = len(self.screen.text().rsplit("\n", 1)[0])
        self.child.send(line + "\r")
        deadline = time.monotonic() + 30
        while self.prompts() <= before or not EMPTY_PROMPT.search(self.screen.text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no prompt after {line!r}; the screen:\n"
                                     f"{self.screen.text()[self.mark:]}")
            try:
                self.screen.feed(self.child.read_nonblocking(65536, timeout=0.05))
            except pexpect.TIMEOUT:
                pass
        return self.screen.text()[self.mark:]

    def close(self) -> None:
        self.child.sendcontrol("d")
        self.child.expect(pexpect.EOF, timeout=30)
        self.child.close()


@pytest.fixture
def repl(index_dir: Path, env: dict[str, str]) -> Iterator[Repl]:
    session = Repl(index_dir, env)
    yield session
    if session.child.isalive():
        session.close()




# --- in a terminal ----------------------------------------------------------------------------


def test_query_shows_canonical_form_rewrites_results_total_and_timings(
        repl: Repl, engine: Engine) -> None:
    shown = repl.enter("type = smartlink and space = ITKB")
    total = engine.count("type = embed AND space = ITKB")
    assert "cql: type = embed AND space = ITKB" in shown
    assert "rewrites: smartlink_to_embed" in shown
    assert "as written: type = smartlink AND space = ITKB" in shown
    assert re.search(r"^id\s+type\s+space\s+title\s+last modified$", shown, re.M)
    assert re.search(r"^82688\s+embed\s+ITKB\s+Miro: Spring launch board\s+2026-10-26 21:50",
                     shown, re.M)
    assert f"of {total} results" in shown
    assert re.search(r"time: parse [\d.]+ ms, validate [\d.]+ ms, normalize [\d.]+ ms, "
                     r"compile [\d.]+ ms, search [\d.]+ ms", shown)


def test_syntax_error_shows_a_caret_under_the_span_and_the_expected_tokens(repl: Repl) -> None:
    shown = repl.enter("type = page AND label onboarding")
    lines = shown.splitlines()
    query_line = lines.index("  type = page AND label onboarding")
    caret = lines[query_line + 1]
    assert caret.strip() == "^" * len("onboarding")
    assert caret.index("^") == lines[query_line].index("onboarding")
    assert "error [syntax] at line 1, column 23" in shown
    assert re.search(r"expected: an operator .*, IN, NOT", shown)


def test_tab_completes_a_field_name(repl: Repl) -> None:
    repl.child.send("type = page AND lastmod")
    repl.wait("lastmodified")  # offered while typing
    repl.child.send("\t")
    shown = repl.enter(" > 2026-10-01")
    assert "cql: type = page AND lastmodified > 2026-10-01" in shown


def test_tab_lists_fields_sharing_a_prefix(repl: Repl) -> None:
    repl.child.send("label = onboarding AND spa\t")
    shown = repl.wait("space.category")
    assert re.search(r"space\.title\s+the space's name", shown)
    repl.child.sendcontrol("c")


def test_explain_names_clauses_and_says_which_each_result_satisfied(
        repl: Repl, engine: Engine) -> None:
    repl.enter(":limit 50")
    repl.enter("label = onboarding OR text ~ vpn")
    shown = repl.enter(":explain")
    assert "explain: label = onboarding OR text ~ vpn" in shown
    assert re.search(r"^\s+OR\s+\d+ visible", shown, re.M)
    assert re.search(r"\[1\] label = onboarding\s+\d+ visible", shown)
    assert "term lookup: label in {onboarding}" in shown
    assert "whoosh: (title:vpn OR body:vpn OR labels_text:vpn OR file_name:vpn)" in shown
    assert "there is no Whoosh query" in shown or "no Whoosh query exists" in shown
    assert "policy mask, spaces whose content is hidden: none" in shown
    # A page labelled onboarding that never mentions vpn satisfies [1] and fails [2].
    onboarding = {r.id for r in engine.search("label = onboarding", limit=100).results}
    vpn = {r.id for r in engine.search("text ~ vpn", limit=100).results}
    only_label = sorted(onboarding - vpn)[0]
    block = shown[shown.index(f"  {only_label}  "):]
    assert re.match(rf"  {only_label}  .*\n\s+satisfies \[1\]\s+fails \[2\]", block)
    both = onboarding & vpn
    if both:
        pick = sorted(both)[0]
        assert re.search(rf"  {pick}  .*\n\s+satisfies \[1\] \[2\]\s+fails -", shown)


def test_switching_to_a_blocked_app_hides_the_blocked_space(repl: Repl, engine: Engine,
                                                           index_dir: Path) -> None:
    query = "space in (HR, ENG) ORDER BY space DESC"
    hr, eng = engine.count("space = HR"), engine.count("space = ENG")
    repl.enter(":limit 5")
    shown = repl.enter(query)
    assert f"of {hr + eng} results" in shown
    assert re.search(r"^\d+\s+\w+\s+HR\s", shown, re.M)

    shown = repl.enter(":as app app-syncbot")
    assert f"acting for {DANA}" in shown
    assert shown.rstrip().endswith("cql[app-syncbot]>")  # the prompt says who you are
    shown = repl.enter(query)
    # the app sees Dana's view of ENG (a restricted subtree is not hers), nothing of HR
    dana_eng = engine.count("space = ENG", caller=UserCaller(account_id=DANA))
    assert 0 < dana_eng < eng
    assert f"of {dana_eng} results" in shown
    assert not re.search(r"^\d+\s+\w+\s+HR\s", shown, re.M)
    assert re.search(r"^\d+\s+\w+\s+ENG\s", shown, re.M)
    shown = repl.enter(":explain")
    assert "spaces whose content is hidden: HR" in shown
    assert "p1 'HR lockdown'" in shown

    # What if p1 were off? In memory only: the index's policy store stays as it was.
    store = index_dir / "policies.json"
    before = store.read_bytes()
    repl.enter(":policies toggle p1")
    shown = repl.enter(query)
    dana = engine.count("space IN (HR, ENG)", caller=UserCaller(account_id=DANA))
    assert f"of {dana} results" in shown  # all of Dana's view: no policy hides HR now
    assert store.read_bytes() == before


def test_multi_line_input_while_a_parenthesis_is_open_and_history(
        index_dir: Path, env: dict[str, str]) -> None:
    repl = Repl(index_dir, env)
    repl.child.send("type = page AND (label = vpn\r")
    repl.wait(r"^\s*\.\.\.>")  # the continuation prompt: the query goes on
    shown = repl.enter("OR label = onboarding)")
    assert "cql: type = page AND (label = vpn OR label = onboarding)" in shown
    repl.close()
    assert "label = onboarding)" in Path(env["CQL_REPL_HISTORY"]).read_text(encoding="utf-8")

    again = Repl(index_dir, env)
    again.child.send("\x1b[A")  # Up: the last entry comes back, both lines of it
    again.wait(r"OR label = onboarding\)")
    again.child.sendcontrol("c")
    again.close()


# --- through a pipe ---------------------------------------------------------------------------


def piped(index_dir: Path, env: dict[str, str], lines: list[str], *args: str
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "index.cli.main", "repl", "--index", str(index_dir), "--now", NOW,
         *args], input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=ROOT,
        env=env, timeout=60)


def test_piped_input_runs_a_line_at_a_time_in_plain_text(index_dir: Path,
                                                         env: dict[str, str]) -> None:
    proc = piped(index_dir, env, [
        "type = page AND label = onboarding ORDER BY lastmodified DESC",
        "type page",
        ":as user " + DANA,
        "creator = currentUser() AND type = blogpost",
        ":ast",
        ":bogus",
        ":quit",
        "type = page",
    ])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out  # no colour, no cursor movement
    assert "cql: type = page AND label = onboarding ORDER BY lastmodified DESC" in out
    assert "79992  page  HR     Remote work policy" in out
    assert "  type page\n       ^^^^\n" in out
    assert f"searching as user {DANA} (Dana Okafor)" in out
    assert "cql: creator = currentUser() AND type = blogpost" in out
    assert "Clause  creator = Function currentUser()" in out
    assert "unknown command :bogus" in out
    assert out.count("cql: ") == 2  # nothing after :quit ran
    assert not Path(env["CQL_REPL_HISTORY"]).exists()  # scripts leave no history


def test_piped_paging_and_context_commands(index_dir: Path, env: dict[str, str]) -> None:
    proc = piped(index_dir, env, [":limit 2", "type = page ORDER BY id", ":next", ":prev",
                                  ":prev", ":space HR", "space = currentSpace()",
                                  ":tz Nowhere/Else", ":lenient", "ORDER BY id"])
    out = proc.stdout
    assert proc.returncode == 0
    assert re.search(r"^1-2 of \d+ results; :next for more$", out, re.M)
    assert re.search(r"^3-4 of \d+ results", out, re.M)
    assert "already at the first page" in out
    assert "cql: space = currentSpace()" in out and re.search(r"\s+HR\s+", out)
    assert "error: :tz: unknown IANA time zone 'Nowhere/Else'" in out
    assert "cql: ORDER BY id" in out


@pytest.mark.parametrize("args", [
    ("--now", "yesterday"),
    ("--tz", "Nowhere/Else"),
    ("--as-app", "app-unknown", "--scopes", "read:page:confluence"),
    ("--limit", "0"),
])
def test_usage_errors_exit_2(index_dir: Path, env: dict[str, str], args: tuple[str, ...]
                             ) -> None:
    proc = piped(index_dir, env, ["type = page"], *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("cql repl: error:")
    assert "cql:" not in proc.stdout  # no query ran


# --- the parts, in process ----------------------------------------------------------------------

CALLERS = [
    None,
    UserCaller(account_id=DANA),
    AnonymousCaller(),
    AppCaller(app_id="app-syncbot", kind="oauth2_3lo", scopes=frozenset({"search:confluence"}),
              acting_for=DANA),
]


@pytest.mark.parametrize("caller", CALLERS, ids=["local", "user", "anonymous", "app"])
@pytest.mark.parametrize("query", [
    "space in (HR, ENG, ITKB)",
    "text ~ vpn OR label = onboarding",
    "type = page AND NOT space = HR ORDER BY title",
    "creator = bbfd51cb6d4e3152f5298a3f ORDER BY created DESC",
])
def test_the_stages_return_what_engine_search_returns(engine: Engine, caller: object,
                                                      query: str) -> None:
    context = SearchContext(now=NOW)
    settings = Settings(caller=caller, context=context, limit=25)  # type: ignore[arg-type]
    outcome = run(engine, query, settings, start=5)
    page = engine.search(query, caller=caller, context=context, limit=25, start=5,  # type: ignore
                         excerpt="none")
    assert [r.id for r in outcome.results] == [r.id for r in page.results]
    assert outcome.total == page.totalSize
    assert outcome.canonical == page.cqlQuery


def test_policy_toggles_stay_in_memory(engine: Engine, index_dir: Path) -> None:
    before = (index_dir / "policies.json").read_bytes()
    shown: list[str] = []
    session = Session(engine, Settings(context=SearchContext(now=NOW)),
                      lambda frags: shown.append("".join(t for _, t in frags)))
    session.handle(":as app app-syncbot")
    session.handle(":policies toggle p1")
    session.handle(":policies toggle p2")
    assert session.settings.overrides == {"p1": False, "p2": True}
    session.handle("type = page")
    assert "of 0 results" in shown[-2]  # p2 (what-if on) blocks every eligible app
    assert shown[-1].startswith("operator view: what-if policies in force")
    session.handle(":policies reset")
    assert session.settings.overrides == {}
    assert (index_dir / "policies.json").read_bytes() == before
    assert engine.policy_layer().store.get("p1").active


def test_completion_follows_the_grammar_and_the_registries(engine: Engine) -> None:
    vocab = Vocabulary(engine)

    def texts(before: str) -> list[str]:
        return [s.text for s in suggestions(before, vocab)[1]]

    assert texts("lab") == ["label"]
    assert texts("label ") == ["=", "!=", "IN", "NOT IN"]  # no '~' for label
    assert "~" in texts("title ")
    assert texts("space in ") == ["favouriteSpaces()", "recentlyViewedSpaces("]
    assert "currentSpace()" in texts("space = ") and '"~alice"' in texts("space = ")
    assert "currentUser()" not in texts("space = ")
    assert texts("label = onb") == ["onboarding"]
    assert texts("creator = dan") == [DANA]  # found by the owner's name
    assert set(texts("type = page ORDER BY ")) <= {"created", "id", "lastmodified", "space",
                                                   "title", "type"}
    assert texts("type = page ") == ["AND", "OR", "ORDER BY"]
    assert texts("type page ") == []  # an error before the cursor: nothing to offer


def test_highlighting_reads_the_grammar_s_tokens() -> None:
    def classes(text: str) -> list[tuple[str, str]]:
        return [(tok.text, cls) for tok, cls in token_classes(text)]

    assert classes('labl = x AND created > now("-1d") ORDER BY title desc') == [
        ("labl", "cql.unknown"), ("=", "cql.operator"), ("x", "cql.value"),
        ("AND", "cql.keyword"), ("created", "cql.field"), (">", "cql.operator"),
        ("now", "cql.function"), ("(", "cql.punct"), ('"-1d"', "cql.string"),
        (")", "cql.punct"), ("ORDER", "cql.keyword"), ("BY", "cql.keyword"),
        ("title", "cql.field"), ("desc", "cql.keyword")]
    # Where the parser gives up, the token it choked on is marked; an open quote is not.
    assert classes("type page AND x")[1] == ("page", "cql.error")
    assert classes('title ~ "open')[-1] == ('"open', "cql.string")


@pytest.mark.parametrize(("text", "more"), [
    ("type = page", False),
    ("type = page AND (label = a", True),
    ('title ~ "open', True),
    ('title ~ "a (b"', False),
    (":explain (", False),
    ("(a = b))", False),
])
def test_needs_more(text: str, more: bool) -> None:
    assert needs_more(text) is more


def test_word_before() -> None:
    assert word_before("space = H") == "H"
    assert word_before("space !") == "!"
    assert word_before('space = "~al') == '"~al'
    assert word_before("space = HR ") == ""


def test_history_path_honours_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.delenv("CQL_REPL_HISTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "cql-search" / "history"
    monkeypatch.setenv("CQL_REPL_HISTORY", str(tmp_path / "h"))
    assert history_path() == tmp_path / "h"


def test_cli_lists_repl() -> None:
    from index.cli.main import build_parser

    args = build_parser().parse_args(["repl", "--as-user", DANA, "--lenient"])
    assert args.as_user == DANA and args.lenient and callable(args.run)


# --- what pgcli and litecli users expect ------------------------------------------------------


def test_exit_quit_and_help_words_do_what_they_say(index_dir: Path, env: dict[str, str]
                                                   ) -> None:
    for word in ("exit", "quit", "\\q"):
        proc = piped(index_dir, env, [word, "type = page"])
        assert proc.returncode == 0 and "cql:" not in proc.stdout, word
    for word in ("help", "\\?"):
        proc = piped(index_dir, env, [word])
        assert ":limit [N]" in proc.stdout, word


def test_esc_enter_inserts_a_newline_and_multiline_mode(index_dir: Path,
                                                        env: dict[str, str]) -> None:
    session = Repl(index_dir, env)
    try:
        session.child.send("type = page\x1b\r")  # Esc-Enter: a newline, nothing runs
        session.wait(r"\.\.\.>")
        session.enter("AND space = HR")
        assert "cql: type = page AND space = HR" in session.screen.text()
        session.enter(":multiline on")
        session.child.send("type = page\r")  # Enter inserts a newline now
        session.wait(r"\.\.\.>")
        session.child.send("AND space = ITKB\x1b\r")  # Esc-Enter runs it
        session.wait(r"cql: type = page AND space = ITKB")
    finally:
        session.child.terminate(force=True)


def test_output_taller_than_the_screen_goes_through_the_pager(index_dir: Path,
                                                             env: dict[str, str]) -> None:
    session = Repl(index_dir, {**env, "PAGER": "sed s/^/PAGED:/"})
    try:
        assert "PAGED:cql: type = page" in session.enter(":limit 50") + session.enter(
            "type = page")
        assert "PAGED:" not in session.enter(":limit 1")  # short output is printed as is
        session.enter(":pager off")
        assert "PAGED:" not in session.enter(":help")
    finally:
        session.close()


def test_the_config_file_sets_defaults_and_is_checked(index_dir: Path, env: dict[str, str],
                                                      tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('limit = 2\n[caller]\nas_app = "app-syncbot"\n', encoding="utf-8")
    proc = piped(index_dir, {**env, "CQL_REPL_CONFIG": str(config)}, ["space = HR"])
    assert proc.returncode == 0, proc.stderr
    assert "0 of 0 results" in proc.stdout  # the configured app is blocked from HR
    assert "acting for" in proc.stdout  # a 3LO app: the granting user chosen, and said so
    flags_win = piped(index_dir, {**env, "CQL_REPL_CONFIG": str(config)}, ["type = page"],
                      "--as-user", "x")
    assert re.search(r"^1-2 of \d+ results", flags_win.stdout, re.M)
    for text, fragment in (('colour = "never"\n', "unknown key 'colour'"),
                           ('limit = "ten"\n', "limit must be"),
                           ('[caller]\nas_app = ""\n', "must not be empty"),
                           ("pager = \n", "config file")):
        config.write_text(text, encoding="utf-8")
        proc = piped(index_dir, {**env, "CQL_REPL_CONFIG": str(config)}, ["type = page"])
        assert proc.returncode == 2 and proc.stderr.startswith("cql repl: error: config file")
        assert fragment in proc.stderr and "Traceback" not in proc.stderr
