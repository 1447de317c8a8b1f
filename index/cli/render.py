"""The one table renderer of every front end (``search``, ``policy``, the REPL, ``bench``).

Built on rich, which measures display width (a CJK character or an emoji takes two
columns, a combining accent none), so columns line up whatever the titles hold, and which
fits a table to the terminal by shortening the widest text column with an ellipsis. Off a
terminal (a pipe, a file) nothing is shortened: a script gets every character. Colour only
when the caller decided it is wanted (``--color``, ``NO_COLOR``, a TTY).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from typing import IO

#: Width used off a terminal: wide enough that nothing is cut.
UNLIMITED = 100_000


def table_text(headers: Sequence[str], rows: Sequence[Sequence[str]], *, color: bool = False,
               width: int | None = None, shrink: Sequence[str] = ("title", "name"),
               style: str = "simple") -> str:
    """``rows`` as an aligned table: a header, a rule, one line per row.

    ``width`` fits the table to that many columns (None: never cut); the columns named in
    ``shrink`` give way first, ending in an ellipsis."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    boxes = {"simple": box.SIMPLE_HEAD, "ascii": box.ASCII2, "rounded": box.ROUNDED,
             "minimal": box.MINIMAL}
    table = Table(box=boxes.get(style, box.SIMPLE_HEAD), show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0) if style in ("simple", "minimal") else (0, 1),
                  header_style="bold" if color else "", expand=False,
                  safe_box=style == "ascii")
    for name in headers:
        cut = name.split(" ")[0] in shrink
        table.add_column(name, overflow="ellipsis" if cut else "fold", no_wrap=True,
                         min_width=8 if cut else None)
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or UNLIMITED, color_system=(
        "standard" if color else None), no_color=not color, force_terminal=color,
        highlight=False, emoji=False, markup=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


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
