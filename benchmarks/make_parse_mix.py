"""Writes ``benchmarks/queries/parse_mix.cql``: the parser benchmark's query mix.

Run ``python -m benchmarks.make_parse_mix`` to regenerate it; the output is deterministic
(a fixed seed), so the file only changes when this generator does. The queries imitate what
people save in Confluence: space, type and label filters, text search, date ranges with
functions, ancestors, IN lists, ORDER BY; one to twelve clauses; keywords in either case
and with or without spaces around operators, as people type them. Every line must pass the
strict dialect: a saved query that Confluence rejects would not have been saved.
"""

from __future__ import annotations

import random
from pathlib import Path

OUT = Path(__file__).with_name("queries") / "parse_mix.cql"
COUNT = 1_200
SEED = 20_261_128

SPACES = ["DEV", "QA", "OPS", "HR", "MKT", "SALES", "ENG", "DOC", "SUP", "ARCH", "SEC", "PM"]
PERSONAL = ['"~jsmith"', '"~adoe"', '"~5b6d7f20e6dba529eefdbad9"']
LABELS = ["howto", "release-notes", "meeting-notes", "architecture", "runbook", "onboarding",
          "faq", "draft", "decision", "retro", "q3-planning", "needs_review", "kb-article",
          "api", "security", "roadmap", '"team:platform"', "archived"]
TYPES = ["page", "blogpost", "comment", "attachment", "whiteboard", "database", "folder"]
TEXT = ['"quarterly report"', "incident", '"postmortem"', '"deploy*"', '"api gateway"',
        '"budget 2024"', '"\\"release checklist\\""', "kubernetes", '"on-call rota"',
        '"design review"', '"sso AND saml"', '"migration plan"', "oauth", '"cost report"']
TITLES = ['"Meeting notes"', '"Team Home"', '"Release 4.2"', '"Runbook: database failover"',
          '"Onboarding checklist"', '"Architecture decisions"']
TITLE_TEXT = ['"retro*"', "roadmap", '"meeting notes"', '"how to"', '"q3 plan*"']
USERS = ['"5b6d7f20e6dba529eefdbad9"', '"557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"',
         '"61a5e7c0d3b1a20069f1e2c4"', "currentUser()"]
MACROS = ["jira", "toc", "code", "info", "excerpt", "drawio", "status", "expand"]
INCREMENTS = ['"-1d"', '"-7d"', '"-2w"', '"-4w"', '"-1M"', '"-3M"', '"-1y"', '"+1d"']
DATE_FUNCS = ["now", "startOfDay", "startOfWeek", "startOfMonth", "startOfYear", "endOfDay",
              "endOfWeek", "endOfMonth"]


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2016, 2025), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.random()
    if style < 0.5:
        return f"{y}-{m:02d}-{d:02d}"
    if style < 0.75:
        return f"{y}/{m:02d}/{d:02d}"
    return f'"{y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.choice(["00", "30"])}"'


def _in(rng: random.Random, values: list[str], k: tuple[int, int] = (2, 5)) -> str:
    return "(" + ", ".join(rng.sample(values, rng.randint(*k))) + ")"


def _clause(rng: random.Random, negative_ok: bool) -> str:
    """One clause, drawn with weights that roughly follow how often each kind is saved."""
    kind = rng.choices(
        ["space", "type", "label", "text", "date", "ancestor", "user", "title", "macro",
         "fav", "recent", "status", "container"],
        [18, 16, 18, 12, 14, 6, 7, 4, 2, 1, 1, 0.5, 0.5],
    )[0]
    neg = negative_ok and rng.random() < 0.12
    if kind == "space":
        r = rng.random()
        if r < 0.55:
            return f"space {'!=' if neg else '='} {rng.choice(SPACES)}"
        if r < 0.85:
            return f"space {'NOT IN' if neg else 'IN'} {_in(rng, SPACES)}"
        if r < 0.93:
            return f"space = {rng.choice(PERSONAL)}"
        return "space IN favouriteSpaces()" if r < 0.97 else "space = currentSpace()"
    if kind == "type":
        if rng.random() < 0.6:
            return f"type {'!=' if neg else '='} {rng.choice(TYPES[:3])}"
        return f"type {'NOT IN' if neg else 'IN'} {_in(rng, TYPES, (2, 3))}"
    if kind == "label":
        if rng.random() < 0.6:
            return f"label {'!=' if neg else '='} {rng.choice(LABELS)}"
        return f"label {'NOT IN' if neg else 'IN'} {_in(rng, LABELS)}"
    if kind == "text":
        return f"text {'!~' if neg else '~'} {rng.choice(TEXT)}"
    if kind == "date":
        field = rng.choice(["created", "lastmodified", "lastModified"])
        op = rng.choice([">", ">=", "<", "<=", ">=", ">"])
        if rng.random() < 0.55:
            fn = rng.choice(DATE_FUNCS)
            arg = rng.choice(INCREMENTS) if rng.random() < 0.8 else ""
            return f"{field} {op} {fn}({arg})"
        return f"{field} {op} {_date(rng)}"
    if kind == "ancestor":
        field = rng.choice(["ancestor", "ancestor", "parent", "id"])
        if rng.random() < 0.7:
            return f"{field} = {rng.randint(10_000, 99_999_999)}"
        ids = ", ".join(str(rng.randint(10_000, 99_999_999)) for _ in range(rng.randint(2, 6)))
        return f"{field} IN ({ids})"
    if kind == "user":
        field = rng.choice(["creator", "contributor", "mention", "watcher"])
        return f"{field} {'!=' if neg else '='} {rng.choice(USERS)}"
    if kind == "title":
        if rng.random() < 0.4:
            return f"title = {rng.choice(TITLES)}"
        return f"title ~ {rng.choice(TITLE_TEXT)}"
    if kind == "macro":
        return f"macro = {rng.choice(MACROS)}" if rng.random() < 0.7 else \
            f"macro IN {_in(rng, MACROS, (2, 3))}"
    if kind == "fav":
        return "favourite = currentUser()"
    if kind == "recent":
        return f"id IN recentlyViewedContent({rng.choice([10, 20, 50])})"
    if kind == "status":
        return 'pageStatus = "Ready for review"'
    return f"container = {rng.randint(10_000, 99_999)} AND type = attachment"


def _query(rng: random.Random) -> str:
    n = rng.choices(range(1, 13), [10, 22, 22, 16, 10, 7, 5, 3, 2, 1.5, 1, 0.5])[0]
    parts: list[str] = []
    while len(parts) < n:
        first = not parts
        if not first and rng.random() < 0.12 and n - len(parts) >= 2:
            group = [_clause(rng, False) for _ in range(rng.randint(2, 3))]
            parts.append("(" + " OR ".join(group) + ")")
        elif not first and rng.random() < 0.06:
            parts.append("NOT " + _clause(rng, False))
        else:
            parts.append(_clause(rng, not first))
    joiners = [" AND " if rng.random() < 0.93 else " OR " for _ in parts[1:]]
    text = parts[0] + "".join(j + p for j, p in zip(joiners, parts[1:], strict=True))
    if rng.random() < 0.4:
        keys = rng.choice(["lastmodified DESC", "created DESC", "title", "title ASC",
                           "created DESC, title", "space, title", "lastModified desc"])
        text += " ORDER BY " + keys
    style = rng.random()
    if style < 0.25:  # typed in lower case
        for kw in (" AND ", " OR ", " NOT IN ", " IN ", "NOT ", " ORDER BY ", " DESC", " ASC"):
            text = text.replace(kw, kw.lower())
    elif style < 0.35:  # no spaces around '=' and '~'
        text = text.replace(" = ", "=").replace(" ~ ", "~")
    return text


def generate(count: int = COUNT, seed: int = SEED) -> list[str]:
    import cql

    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        text = _query(rng)
        cql.parse(text)  # every saved query is valid in the strict dialect
        out.append(text)
    return out


def main() -> None:
    lines = generate()
    header = (f"# Parser benchmark mix: {len(lines)} realistic saved queries, one per line.\n"
              "# Generated by `python -m benchmarks.make_parse_mix` (deterministic); "
              "do not edit by hand.\n")
    OUT.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} queries to {OUT}")


if __name__ == "__main__":
    main()
