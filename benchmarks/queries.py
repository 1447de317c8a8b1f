"""Query mix files: ``benchmarks/queries/*.cql``.

Format (one named query per line, UTF-8):

- ``name<TAB>cql``. Blank lines and lines starting with ``#`` are ignored.
- ``${param}`` in the CQL is replaced by the corpus manifest's ``params`` (``corpus.json``):
  space keys, labels, words and page ids depend on the corpus seed, so the mix names them
  by role (``${space_big}``, ``${word_mid}``, ``${page_root}``...). An unknown parameter is
  an error that names the file and line.
- A name ending in ``@app`` runs as the blocked app caller of the corpus (an app that
  data security policies block from some spaces, acting for ``${app_user}``); every other
  query runs as the user ``${user_top}`` (so ``currentUser()`` and favourites work), except
  names ending in ``@operator``: those run with no caller at all (no mask), the yardstick the
  same query as a user is compared with (``permissions.cql``).
- Names are unique across the whole mix; the part before the first ``.`` is the category.

``parse_mix.cql`` belongs to the parser benchmark and is not part of the search mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

QUERY_DIR = Path(__file__).with_name("queries")
PARSE_MIX = "parse_mix.cql"
APP_SUFFIX = "@app"
OPERATOR_SUFFIX = "@operator"
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MixError(ValueError):
    """A malformed mix file line (the message names file and line)."""


@dataclass(frozen=True)
class MixQuery:
    name: str
    cql: str
    caller: str  # "user", "app" or "operator"
    source: str  # file:line

    @property
    def category(self) -> str:
        return self.name.removesuffix(APP_SUFFIX).split(".", 1)[0]


#: The order categories appear in reports; other mix files follow in name order.
FILE_ORDER = ("exact", "in", "text", "fuzzy", "dates", "order", "tree", "boolean", "count",
              "blocked_app")


def default_files() -> list[Path]:
    """Every mix file shipped with the harness (``parse_mix.cql`` excluded)."""
    files = [p for p in QUERY_DIR.glob("*.cql") if p.name != PARSE_MIX]
    rank = {name: i for i, name in enumerate(FILE_ORDER)}
    return sorted(files, key=lambda p: (rank.get(p.stem, len(rank)), p.name))


def substitute(text: str, params: dict[str, str], where: str = "") -> str:
    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in params:
            known = ", ".join(sorted(params))
            raise MixError(f"{where}: unknown parameter ${{{key}}} (known: {known})")
        return params[key]

    return _PARAM.sub(repl, text)


def read_lines(path: Path) -> list[tuple[int, str, str]]:
    """``(line number, name, template)`` for each query line of a file."""
    out: list[tuple[int, str, str]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, template = line.partition("\t")
        if not sep or not name.strip() or not template.strip():
            raise MixError(f"{path.name}:{number}: expected 'name<TAB>cql', got {line!r}")
        out.append((number, name.strip(), template.strip()))
    return out


def load_mix(files: list[Path] | None, params: dict[str, str],
             only: str | None = None) -> list[MixQuery]:
    """The queries of ``files`` (default: every shipped mix file) with parameters filled."""
    queries: list[MixQuery] = []
    seen: dict[str, str] = {}
    for path in files or default_files():
        for number, name, template in read_lines(path):
            where = f"{path.name}:{number}"
            if name in seen:
                raise MixError(f"{where}: duplicate query name {name!r} (first at {seen[name]})")
            seen[name] = where
            if only and only not in name:
                continue
            caller = ("app" if name.endswith(APP_SUFFIX) else
                      "operator" if name.endswith(OPERATOR_SUFFIX) else "user")
            text = substitute(template, params, where)
            _check(text, where)
            queries.append(MixQuery(name, text, caller, where))
    return queries


def _check(text: str, where: str) -> None:
    """Parse now, so a bad line fails before minutes of building, naming its line."""
    import cql

    try:
        cql.parse(text)
    except cql.CqlError as exc:
        raise MixError(f"{where}: not valid CQL: {exc}") from None


def parse_strings(files: list[Path] | None, params: dict[str, str],
                  only: str | None = None) -> list[str]:
    """CQL strings for the parser benchmark: the search mix, plus ``parse_mix.cql`` when
    present (its lines are ``name<TAB>cql`` or bare CQL; parameters are filled if known).
    ``only`` keeps the queries whose name contains it, as it does for the search mix."""
    out = [q.cql for q in load_mix(files, params, only)]
    extra = QUERY_DIR / PARSE_MIX
    if files is None and extra.is_file():
        for raw in extra.read_text(encoding="utf-8").splitlines():
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            if only and not ("\t" in raw and only in raw.split("\t", 1)[0]):
                continue
            text = raw.split("\t", 1)[1] if "\t" in raw else raw
            out.append(_PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), text.strip()))
    return out
