"""The one table renderer of every front end (``search``, ``policy``, the REPL) and of the
benchmark harness's terminal output, and the small display helpers they share.

It lives outside the front ends so that the harness, which may not import them
(docs/architecture.md), draws its tables with the same code.

Widths are display widths, measured by rich's cell functions (``rich.cells``): a CJK
character or an emoji takes two columns, a combining accent none, a ZWJ sequence one
emoji; ``cql.width`` measures the same for the error caret (a test keeps them equal).
Only ``rich.cells`` is imported: rich's console and table would load some 45 modules, a
tenth of a one-shot ``cql search``'s start-up, for layout this module does in a page.

Given a width (the terminal's), a table is fitted to it: the columns named in ``shrink``
give way first, down to :data:`MIN_SHRUNK` columns, then the widest other columns, each cut
text ending in an ellipsis. Without one (a pipe, a file) nothing is cut: a script gets
every character. Colour only when the caller decided it is wanted (``--color``,
``NO_COLOR``, a TTY).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

#: The narrowest a shrinking column (a title, a name) is cut to before others give way.
MIN_SHRUNK = 8


@dataclass(frozen=True)
class Style:
    """How a table is drawn: the text between columns, the rule under the header (its
    fill and the piece under a separator), and optional outer edges."""

    between: str
    rule: str
    rule_cross: str
    edges: tuple[str, str, str, str] | None = None  # top, header rule, bottom; side


#: ``simple`` (spaces, a line under the header), ``ascii``, ``rounded`` (box, rounded
#: corners) and ``minimal`` (vertical rules only): the REPL's ``table_style`` setting.
STYLES = {
    "simple": Style("  ", "─", "──"),
    "ascii": Style(" | ", "-", "-+-"),
    "minimal": Style(" │ ", "─", "─┼─"),
    "rounded": Style(" │ ", "─", "─┼─", ("╭─┬─╮", "├─┼─┤", "╰─┴─╯", "│")),
}


def cell_width(text: str) -> int:
    """Columns ``text`` takes on a terminal."""
    from rich.cells import cell_len

    return cell_len(text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, ending in an ellipsis when cut."""
    if cell_width(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    from rich.cells import set_cell_size

    return set_cell_size(text, width - 1).rstrip(" ") + "…"


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` columns (on the left when ``right``)."""
    fill = " " * max(0, width - cell_width(text))
    return fill + text if right else text + fill


def column_widths(natural: Sequence[int], headers: Sequence[str], budget: int | None,
                  shrink: Collection[str]) -> list[int]:
    """Each column's width: its widest cell, narrowed until the total fits ``budget``."""
    widths = list(natural)
    if budget is None:
        return widths
    order = [i for i, h in enumerate(headers) if h.split(" ")[0] in shrink]
    passes = [(order, MIN_SHRUNK), ([i for i in range(len(widths)) if i not in order], 3)]
    for columns, floor in passes:
        while (excess := sum(widths) - budget) > 0:
            wide = sorted((i for i in columns if widths[i] > floor), key=lambda i: -widths[i])
            if not wide:
                break
            runner_up = widths[wide[1]] if len(wide) > 1 else floor
            widths[wide[0]] -= min(excess, widths[wide[0]] - max(floor, runner_up)) or 1
    return widths


def table_text(headers: Sequence[str], rows: Sequence[Sequence[str]], *, color: bool = False,
               width: int | None = None, shrink: Collection[str] = ("title", "name"),
               style: str = "simple", right: Collection[str] = ()) -> str:
    """``rows`` as an aligned table: a header, a rule, one line per row.

    ``width`` fits the table to that many columns (None: never cut); the columns named in
    ``shrink`` (by their header's first word) give way first; the columns named in
    ``right`` are right-aligned (numbers)."""
    look = STYLES.get(style, STYLES["simple"])
    count = len(headers)
    natural = [max([cell_width(headers[i]), *(cell_width(str(r[i])) for r in rows)])
               for i in range(count)]
    side = 2 * (len(look.edges[3]) + 1) if look.edges else 0
    budget = None if width is None else width - side - cell_width(look.between) * (count - 1)
    widths = column_widths(natural, headers, budget, shrink)
    aligned = [h in right for h in headers]

    def line(cells: Sequence[str]) -> str:
        text = look.between.join(pad(fit(str(c), w), w, a)
                                 for c, w, a in zip(cells, widths, aligned, strict=True))
        return f"{look.edges[3]} {text} {look.edges[3]}" if look.edges else text.rstrip()

    def rule(piece: str) -> str:
        if look.edges is None:
            return look.rule_cross.join(look.rule * w for w in widths)
        left, fill, cross, right_end = piece[0], piece[1], piece[2], piece[4]
        return left + cross.join(fill * (w + 2) for w in widths) + right_end

    out = [paint(line(headers), "head", color)]
    out.append(rule(look.edges[1]) if look.edges else rule(""))
    out += [line(row) for row in rows]
    if look.edges:
        out = [rule(look.edges[0]), *out, rule(look.edges[2])]
    return "\n".join(out) + "\n"


def terminal_width(out: IO[str]) -> int | None:
    """The terminal's width when ``out`` is one, else None (never cut)."""
    try:
        if not out.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    columns = os.environ.get("COLUMNS")
    if columns and columns.isdigit():
        return int(columns)
    return shutil.get_terminal_size((100, 24)).columns


def local_time(iso: str | None, tz: str) -> str:
    """A result's UTC time (``2026-01-02T03:04:05.000Z``) as ``YYYY-MM-DD HH:MM`` in ``tz``."""
    if not iso:
        return ""
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def paint(text: str, style: str, color: bool) -> str:
    """``text`` in an ANSI style (``error``, ``head``, ``dim``, ``warn``) when colouring."""
    if not color:
        return text
    codes = {"error": "1;31", "head": "1", "dim": "2", "warn": "33", "ok": "32"}
    return f"\x1b[{codes.get(style, '0')}m{text}\x1b[0m"
