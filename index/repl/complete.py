"""Tab completion: what the grammar allows next, narrowed by the registries and the index.

The grammar says which kind of token may come next (Lark's ``accepts()`` on the text
before the word being typed); the field registry says which operators and functions the
field just typed allows; the index says which values exist (space keys, type values,
labels, macros, account ids). Nothing here lists fields or operators of its own, so a
field added to ``cql/fields.py`` completes without a change here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from cql import fields, functions
from cql.ast import Op
from cql.fields import FieldSpec, Kind
from cql.words import is_bare_safe, quote
from index.repl.syntax import Tok, scan, word_before

#: Operators in the order they are offered (the enum's order: =, !=, >, ... IN, NOT IN).
_OPS = tuple(Op)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One candidate: the text to insert and a short note shown beside it."""

    text: str
    meta: str = ""
    #: Other words that find it: an account id is found by its owner's names as well.
    also: tuple[str, ...] = ()


class Vocabulary:
    """Values worth offering, drawn from what the *current caller* may see.

    Run as an app or as a user, the REPL must not teach anyone a space key, a label or a
    macro that only exists in content the caller may not view (a space it has no view
    permission for, a restricted page, someone else's draft, a space a policy blocks):
    ``scope`` gives the caller's masks (the session's, what-if toggles included) and each
    list is filtered by them, so a hidden space or label completes exactly like one that
    does not exist. Users are the site's directory, not content: offered whole to those
    who may search users, and not at all to guests and anonymous callers, who may not."""

    def __init__(self, engine: Any, scope: Callable[[], Any] | None = None,
                 context: Callable[[], Any] | None = None) -> None:
        self.engine = engine
        self.scope = scope
        self.context = context

    def _mask(self) -> Any:
        """The caller's scope when it hides anything, else None (the operator's view)."""
        if self.scope is None:
            return None
        scope = self.scope()
        if scope is None or not (scope.hidden_spaces or scope.hidden_types
                                 or scope.permissions is not None):
            return None
        return scope

    def _visible_docs(self, scope: Any) -> Any:
        from index.core.compiler import Catalog, Compiler
        from index.core.context import SearchContext

        context = self.context() if self.context is not None else SearchContext()
        snap = self.engine.store.snapshot()
        compiler = Compiler(snap, Catalog(self.engine.spaces, self.engine.users), scope,
                            context)
        return compiler.visible(True)  # cached on the snapshot per mask

    def _visible_spaces(self) -> list[tuple[str, Any]]:
        scope = self._mask()
        if scope is None:
            return sorted(self.engine.spaces.items())
        hidden = set(scope.hidden_spaces)
        viewer = scope.permissions
        return [(k, s) for k, s in sorted(self.engine.spaces.items())
                if k not in hidden and (viewer is None or viewer.may_view_space(s))]

    @property
    def spaces(self) -> list[Suggestion]:
        return [Suggestion(k, s.name) for k, s in self._visible_spaces()]

    @property
    def users(self) -> list[Suggestion]:
        scope = self._mask()
        if scope is not None and scope.permissions is not None \
                and not scope.permissions.may_search_users():
            return []
        return self._directory

    @cached_property
    def _directory(self) -> list[Suggestion]:
        return [Suggestion(a, u.display_name, tuple(u.display_name.lower().split()))
                for a, u in sorted(
            self.engine.users.items(), key=lambda kv: kv[1].display_name.lower())]

    @property
    def categories(self) -> list[Suggestion]:
        found = {c for _, s in self._visible_spaces() for c in s.categories}
        return [Suggestion(c, "space category") for c in sorted(found)]

    def lexicon(self, index_field: str, meta: str) -> list[Suggestion]:
        snap = self.engine.store.snapshot()
        words = snap.lexicon(index_field)
        scope = self._mask()
        if scope is not None:
            visible = self._visible_docs(scope)
            words = [w for w in words if snap.term(index_field, w) & visible]
        return [Suggestion(w, meta) for w in words]

    def values_for(self, spec: FieldSpec) -> list[Suggestion]:
        """The literal values worth offering for a field (never content ids: too many)."""
        if spec.kind is Kind.SPACE:
            return self.spaces
        if spec.kind is Kind.USER:
            return self.users
        if spec.kind is Kind.TYPE:
            return [Suggestion(t, "content type") for t in sorted(fields.TYPE_VALUES)]
        if spec.kind is Kind.SPACE_TYPE:
            return [Suggestion(t, "space type") for t in sorted(fields.SPACE_TYPES)]
        if spec.name == "label":
            return self.lexicon("label", "label")
        if spec.name == "macro":
            return self.lexicon("macro", "macro")
        if spec.name == "space.category":
            return self.categories
        return []


def suggestions(before: str, vocab: Vocabulary | None) -> tuple[str, list[Suggestion]]:
    """The word being completed at the end of ``before`` and what may replace it."""
    word = word_before(before)
    head = before[: len(before) - len(word)]
    state = scan(head)
    if state.accepts is None:
        return word, []
    accepts = state.accepts
    toks = state.tokens
    out: list[Suggestion] = []
    if "CMP" in accepts and toks and toks[-1].type == "FIELD":
        out.extend(_operators(toks[-1].text))
    elif "FIELD" in accepts:
        sorting = _in_order_by(toks)
        out.extend(_fields(sortable_only=sorting))
        if not sorting:
            out.append(Suggestion("NOT", "keyword"))
    if accepts & {"WORD", "STRING"}:
        out.extend(_values(toks, vocab))
    for term, text in (("AND", "AND"), ("OR", "OR"), ("ORDER", "ORDER BY"),
                       ("ASC", "ASC"), ("DESC", "DESC")):
        if term in accepts:  # never right after a clause's field: operators come there
            out.append(Suggestion(text, "keyword"))
    return word, _matching(word, out)


def _matching(word: str, found: Iterable[Suggestion]) -> list[Suggestion]:
    """Candidates that start with the word typed (case-insensitively, quotes ignored)."""
    typed = word.lstrip("\"'").lower()
    out: list[Suggestion] = []
    seen: set[str] = set()
    for s in found:
        bare = s.text.lstrip("\"'").lower()
        found_by = bare.startswith(typed) or any(w.startswith(typed) for w in s.also)
        if found_by and s.text not in seen and s.text != word:
            seen.add(s.text)
            out.append(s)
    return out


def _fields(sortable_only: bool) -> Iterator[Suggestion]:
    for spec in fields.FIELDS:
        if spec.user_search_only or (sortable_only and not spec.sortable):
            continue
        note = f"alias of {spec.alias_of}" if spec.alias_of else (spec.doc or spec.kind.value)
        yield Suggestion(spec.name, note)


def _operators(field_name: str) -> Iterator[Suggestion]:
    spec = fields.lookup(field_name)
    if spec is None:
        return
    for op in _OPS:
        if op in spec.ops:
            yield Suggestion(op.value, f"allowed for {spec.name}")


def _in_order_by(toks: tuple[Tok, ...]) -> bool:
    return any(t.type == "ORDER" for t in toks)


def _clause_before(toks: tuple[Tok, ...]) -> tuple[FieldSpec | None, Op | None, bool]:
    """The field and operator of the clause whose value is being typed, and whether the
    value is a function's argument (then only the function knows what fits)."""
    depth = 0
    in_args = False
    for i in range(len(toks) - 1, -1, -1):
        tok = toks[i]
        if tok.type == "RPAR":
            depth += 1
        elif tok.type == "LPAR":
            if depth:
                depth -= 1
            elif i > 0 and toks[i - 1].type == "WORD":
                in_args = True
        elif tok.type == "FIELD" and not depth:
            op = _op_after(toks[i + 1: i + 3])
            return fields.lookup(tok.text), op, in_args
    return None, None, in_args


def _op_after(toks: tuple[Tok, ...]) -> Op | None:
    if not toks:
        return None
    if toks[0].type == "CMP":
        return Op(toks[0].text)
    if toks[0].type == "IN":
        return Op.IN
    if toks[0].type == "NOT":
        return Op.NOT_IN
    return None


def _values(toks: tuple[Tok, ...], vocab: Vocabulary | None) -> Iterator[Suggestion]:
    spec, op, in_args = _clause_before(toks)
    if spec is None or op is None or in_args:
        return
    spec = fields.target(spec)
    inside_list = op.is_list and toks[-1].type in ("LPAR", "COMMA")
    # An item of an IN list is compared like the value of '='.
    compared = Op.EQ if inside_list else op
    for name in sorted(spec.functions):
        fn = functions.lookup(name)
        if fn is not None and compared in fn.ops:
            yield Suggestion(f"{fn.name}(" + (")" if not fn.required else ""), fn.doc)
    if op.is_list and not inside_list:
        return  # IN takes a parenthesised list or a function, not a bare value
    if vocab is not None:
        for s in vocab.values_for(spec):
            text = s.text if is_bare_safe(s.text) else quote(s.text)
            yield Suggestion(text, s.meta, s.also)


class CqlCompleter(Completer):
    """prompt_toolkit's side of ``suggestions``; commands (``:...``) complete their names."""

    def __init__(self, vocab: Vocabulary | None, commands: Iterable[str] = ()) -> None:
        self.vocab = vocab
        self.commands = sorted(commands)

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        if before.lstrip().startswith(":"):
            if " " not in before.strip():
                typed = before.strip()
                for name in self.commands:
                    if name.startswith(typed) and name != typed:
                        yield Completion(name, -len(typed))
            return
        word, found = suggestions(before, self.vocab)
        for s in found:
            yield Completion(s.text, -len(word), display_meta=s.meta)
