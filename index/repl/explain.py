"""``:ast`` and ``:explain``: the tree of a query, and why each result is (or is not) there.

``:explain`` follows luqum's naming idea: every clause of the normalized query gets a
number, every clause is evaluated on its own with the very compiler that ran the query,
and each shown result is tested against each clause. The plan printed is the engine's real
plan: set algebra over document sets of one snapshot. Structured clauses are term lookups
(no Whoosh query object exists for them); text clauses run as Whoosh term and phrase
queries, shown in Whoosh's query syntax.
"""

from __future__ import annotations

from typing import Any

from prompt_toolkit.formatted_text import StyleAndTextTuples

from cql.ast import (
    And,
    Clause,
    Date,
    Expr,
    FunctionCall,
    List,
    Not,
    Number,
    Query,
    SortKey,
    String,
    clauses,
)
from cql.printer import to_cql
from index.core import docsets
from index.core.compiler import Compiler
from index.repl.pipeline import Outcome, Settings, effective_policies
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.security.policy import policy_blocks_app

Frags = StyleAndTextTuples


# --- :ast ----------------------------------------------------------------------------------


def ast_fragments(query: Query, text: str) -> Frags:
    """The tree as indented lines, each node with the source text it came from."""
    out: Frags = []

    def line(depth: int, label: str, detail: str = "", span: Any = None) -> None:
        out.append(("", "  " * depth))
        out.append(("class:head", label))
        if detail:
            out.append(("", "  " + detail))
        if span is not None and span.end > span.start:
            source = " ".join(text[span.start:span.end].split())
            out.append(("class:dim", f"   @{span.start}-{span.end} {source!r}"))
        out.append(("", "\n"))

    def walk(node: Expr, depth: int) -> None:
        if isinstance(node, Clause):
            line(depth, "Clause", f"{node.field} {node.op.value} {_value(node.value)}",
                 node.span)
        elif isinstance(node, Not):
            line(depth, "Not", "", node.span)
            walk(node.operand, depth + 1)
        else:
            word = "And" if isinstance(node, And) else "Or"
            line(depth, word, f"({len(node.operands)} operands)", node.span)
            for child in node.operands:
                walk(child, depth + 1)

    line(0, "Query", "", query.span)
    if query.where is None:
        line(1, "(no filter)")
    else:
        walk(query.where, 1)
    for key in query.order_by:
        line(1, "SortKey", _sort(key), key.span)
    return out


def _value(node: object) -> str:
    if isinstance(node, String):
        return f"String({node.value!r})"
    if isinstance(node, Number):
        return f"Number({node.text})"
    if isinstance(node, Date):
        return f"Date({node.text})"
    if isinstance(node, FunctionCall):
        return f"Function {node.name}({', '.join(_value(a) for a in node.args)})"
    if isinstance(node, List):
        return f"List[{', '.join(_value(v) for v in node.items)}]"
    return repr(node)


def _sort(key: SortKey) -> str:
    return f"{key.field} {'DESC' if key.descending else 'ASC'}"


# --- :explain ------------------------------------------------------------------------------


def explain_fragments(engine: Any, outcome: Outcome, settings: Settings) -> Frags:
    """Plan with lookups and counts, the mask in force, and clause by clause per result."""
    compiler = outcome.compiler
    numbered = clauses(outcome.query.where)
    number = {id(c): i for i, c in enumerate(numbered, 1)}
    sets = {id(c): compiler.expr(c, True) for c in numbered}
    out: Frags = [("class:head", "plan\n"),
                  ("class:dim", "  set algebra over the document sets of one index snapshot; "
                   "structured clauses are term lookups\n  (no Whoosh query exists for them), "
                   "text clauses run as the Whoosh queries shown\n")]
    if outcome.query.where is None:
        out.append(("", "  no filter: every visible document\n"))
    else:
        _plan(outcome.query.where, 1, compiler, number, sets, out,
              operator=settings.caller is not None)
    for key in outcome.query.order_by:
        out.append(("", f"  order by {_sort(key)}\n"))
    if not outcome.query.order_by:
        how = "relevance, then last modified" if compiler.score_tokens else "last modified"
        out.append(("", f"  order: {how} (newest first)\n"))
    out.extend(_mask(engine, outcome, settings))
    out.append(("class:head", f"results {_shown(outcome)}"))
    out.append(("class:dim", "  (the clauses each result satisfies and fails)\n"))
    if not outcome.results:
        out.append(("", "  none\n"))
    for result, d in zip(outcome.results, outcome.docnums, strict=True):
        out.append(("", f"  {result.id}  {result.title}\n"))
        yes = [number[id(c)] for c in numbered if sets[id(c)] >> d & 1]
        no = [number[id(c)] for c in numbered if not sets[id(c)] >> d & 1]
        out.append(("", "      "))
        out.append(("class:ok", "satisfies " + (" ".join(f"[{n}]" for n in yes) or "-")))
        out.append(("", "   "))
        out.append(("class:fail", "fails " + (" ".join(f"[{n}]" for n in no) or "-")))
        out.append(("", "\n"))
    return out


def _shown(outcome: Outcome) -> str:
    if not outcome.results:
        return "(0 shown)"
    return f"{outcome.start + 1}-{outcome.start + len(outcome.results)} of {outcome.total}"


def _plan(node: Expr, depth: int, compiler: Compiler, number: dict[int, int],
          sets: dict[int, int], out: Frags, operator: bool = False) -> None:
    """The plan, counting only what the caller may see; a whole-index count, which only the
    operator may know, is labelled "operator view" when searching as someone else."""
    pad = "  " * depth
    universe = compiler.universe
    if isinstance(node, Clause):
        docs = sets[id(node)]
        visible = docsets.count(docs & universe)
        out.append(("", f"{pad}[{number[id(node)]}] "))
        out.append(("class:cql.field", to_cql(node)))
        out.append(("", "   "))
        out.append(("class:count", f"{visible} visible"))
        indexed = docsets.count(docs)
        if not node.op.is_negative and indexed != visible:
            label = "operator view: " if operator else ""
            out.append(("class:dim", f" ({label}{indexed} in the whole index)"))
        out.append(("", "\n"))
        out.append(("class:dim", f"{pad}    {lookup(compiler, node)}\n"))
        return
    docs = compiler.expr(node, True) & universe
    label = "NOT" if isinstance(node, Not) else "AND" if isinstance(node, And) else "OR"
    out.append(("", f"{pad}{label}   "))
    out.append(("class:count", f"{docsets.count(docs)} visible"))
    if isinstance(node, Not):
        out.append(("class:dim", "  (visible documents minus the operand)"))
    out.append(("", "\n"))
    children = (node.operand,) if isinstance(node, Not) else node.operands
    for child in children:
        _plan(child, depth + 1, compiler, number, sets, out, operator)


def lookup(compiler: Compiler, clause: Clause) -> str:
    """How the compiler evaluates one clause: its own words (``Compiler.describe``)."""
    return compiler.describe(clause)


# --- the mask ------------------------------------------------------------------------------


def describe_caller(engine: Any, caller: Any) -> str:
    """Who is searching, in words (account ids with their owners' names)."""
    if caller is None:
        return "local operator (no account, no policy mask)"
    if isinstance(caller, UserCaller):
        return f"user {_who(engine, caller.account_id)}"
    if isinstance(caller, AnonymousCaller):
        return "anonymous"
    assert isinstance(caller, AppCaller)
    acting = (f"acting for {_who(engine, caller.acting_for)}" if caller.acting_for
              else "acting as itself")
    scopes = ", ".join(sorted(caller.scopes)) or "none"
    return f"app {caller.app_id} ({caller.kind}) {acting}; scopes: {scopes}"


def _who(engine: Any, account: str) -> str:
    user = engine.users.get(account)
    return f"{account} ({user.display_name})" if user is not None else f"{account} (unknown)"


def _mask(engine: Any, outcome: Outcome, settings: Settings) -> Frags:
    scope = outcome.scope
    context = settings.context
    compiler = outcome.compiler
    out: Frags = [("class:head", "mask in force")]
    if settings.caller is not None:  # the policies behind a mask are the operator's to know
        out.append(("class:warn", "  operator view: the caller is never told this"))
    out.append(("class:dim", "  (applied outside the query, before it)\n"))
    out.append(("", f"  caller: {describe_caller(engine, settings.caller)}\n"))
    out.append(("", f"  content statuses: {', '.join(context.content_statuses)}\n"))
    if not context.include_archived_spaces:
        archived = sorted(k for k, s in engine.spaces.items() if s.status == "archived")
        out.append(("", f"  archived spaces hidden: {', '.join(archived) or 'none'}\n"))
    hidden = ", ".join(sorted(scope.hidden_spaces)) or "none"
    why = _blocking(engine, settings)
    out.append(("", f"  policy mask, spaces whose content is hidden: {hidden}"))
    if why:
        out.append(("class:dim", f"  (by {why})"))
    if settings.overrides:
        flips = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in settings.overrides.items())
        out.append(("class:warn", f"  [what-if: {flips}]"))
    out.append(("", "\n"))
    types = ", ".join(sorted(scope.hidden_types)) or "none"
    out.append(("", f"  types hidden by token scopes: {types}"
                f"{'' if settings.strict_scopes else ' (strict scopes off)'}\n"))
    total = compiler.snap.size
    visible = docsets.count(compiler.universe)
    if settings.caller is None:
        out.append(("", f"  visible before the query: {visible} of {total} documents\n"))
    else:
        out.append(("", f"  visible before the query: {visible} documents"))
        out.append(("class:dim", f"  (operator view: the index holds {total})\n"))
    return out


def _blocking(engine: Any, settings: Settings) -> str:
    """The policies behind the caller's mask, as ``id name`` pairs."""
    caller = settings.caller
    policies = effective_policies(engine, settings.overrides)
    if isinstance(caller, AppCaller):
        apps = engine.policy_layer().store.apps
        found = [p for p in policies if policy_blocks_app(p, caller.app_id, apps)]
    elif isinstance(caller, AnonymousCaller):
        found = [p for p in policies if p.active and p.rules.anonymous_access]
    else:
        return ""
    return ", ".join(f"{p.id} {p.name!r}" for p in found)


__all__ = ["ast_fragments", "describe_caller", "explain_fragments", "lookup"]
