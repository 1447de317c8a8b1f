"""The import graph obeys docs/architecture.md, read with ``ast`` (no import is executed).

The table in the doc is the rule: which package may import which. Every import counts,
including those inside functions and under ``TYPE_CHECKING``: a lazy import is still a
dependency, and a type-only one still couples the layers.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
TOP_PACKAGES = ("cql", "index", "benchmarks", "fixtures")
#: A path into the developers' reference folder, or a citation of one of its files by name
#: (the project cites Confluence's documentation by topic of docs/sources.md instead).
OUTSIDE = re.compile(r"\.\./" + "shared|shared/" + r"(cql-reference|policy-model|whoosh-notes)"
                     r"|\b(cql-reference|policy-model|whoosh-notes|storage-format"
                     r"|confluence-v2-operations)\.(md|tsv)\b")
FRONT_ENDS = {"index.cli", "index.repl", "index.serve", "index.importer"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out: dict[str, Path] = {}
    for top in TOP_PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = module_files()


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement of one module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else base), node.lineno


def graph() -> dict[str, set[str]]:
    return {name: {target for target, _ in imports_of(name, path)
                   if target.split(".")[0] in TOP_PACKAGES and target != name}
            for name, path in MODULES.items()}


def group(module: str) -> str:
    """The package of the architecture table that a module belongs to."""
    parts = module.split(".")
    if parts[0] == "index" and len(parts) > 1:
        return "index." + parts[1]
    return parts[0]


def doc_table() -> dict[str, set[str] | str]:
    """package -> the packages it may import (a set), or a rule in words for front ends."""
    rules: dict[str, set[str] | str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        package, allowed = cells[0].strip("`"), cells[2]
        if allowed == "(nothing)":
            rules[package] = set()
        elif allowed.startswith("any package"):
            rules[package] = allowed
        else:
            rules[package] = {a.strip() for a in allowed.split(",")}
    return rules


def allowed(rule: set[str] | str, target: str) -> bool:
    if isinstance(rule, set):
        return target in rule
    if rule == "any package":
        return True
    match = re.fullmatch(r"any package but (.+)", rule)
    assert match, f"unreadable rule {rule!r} in {DOC}"
    excluded = {e.strip() for e in match.group(1).split(",")}
    if "front ends" in excluded:
        excluded |= FRONT_ENDS
    return target not in excluded


def test_the_table_names_every_package_and_only_real_ones() -> None:
    table = set(doc_table())
    in_tree = {group(m) for m in MODULES}
    assert table - in_tree == set(), "named in docs/architecture.md but not in the tree"
    assert in_tree - table == set(), "packages missing from docs/architecture.md"


def test_every_import_is_allowed_by_the_table() -> None:
    rules = doc_table()
    bad = []
    for name, path in MODULES.items():
        for target, line in imports_of(name, path):
            if target.split(".")[0] not in TOP_PACKAGES:
                continue
            source, dest = group(name), group(target)
            if source != dest and not allowed(rules[source], dest):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {source} imports {target}")
    assert bad == []


def test_no_engine_or_security_module_imports_a_front_end() -> None:
    below = {"index", "index.engine", "index.core", "index.security", "index.site",
             "index.errors", "index.reference", "cql"}
    offenders = [(name, target) for name, targets in graph().items() if group(name) in below
                 for target in targets if group(target) in FRONT_ENDS]
    assert offenders == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among modules, or None (iterative depth-first search)."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child) and child in edges:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(edges[child]))))
    return None


def test_there_is_no_import_cycle() -> None:
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("rule,target,expected", [
    ({"cql"}, "cql", True), ({"cql"}, "index.core", False),
    ("any package", "benchmarks", True),
    ("any package but benchmarks", "benchmarks", False),
    ("any package but front ends", "index.serve", False),
    ("any package but front ends", "index.engine", True),
])
def test_rules_read_as_written(rule: set[str] | str, target: str, expected: bool) -> None:
    assert allowed(rule, target) is expected


def test_the_public_api_is_the_package() -> None:
    code = ("import index; from index import Engine, SearchContext, UserCaller, AppCaller, "
            "AnonymousCaller, EngineError; import index.engine as e; "
            "assert Engine is e.Engine; print(sorted(index.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert "Engine" in out.stdout


def test_the_parser_front_end_starts_without_whoosh_or_pydantic() -> None:
    code = ("import sys; from index.cli.main import main; "
            "code = main(['parse', 'type = page']); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('whoosh', 'pydantic', 'index.engine')); print(code, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def test_docs_stand_alone() -> None:
    """Nothing in the repository points at the developers' reference folder outside it."""
    hits = []
    for path in ROOT.rglob("*"):
        if not path.is_file() or ".git" in path.parts or path.suffix not in (
                ".py", ".md", ".toml", ".json", ".jsonl", ".cfg", ".txt", ".lark"):
            continue
        if any(part.startswith(".") or part.endswith(".egg-info") for part in
               path.relative_to(ROOT).parts[:-1]):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8",
                                                     errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}")
    assert hits == []
