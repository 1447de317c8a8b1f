"""Text in and out of the front ends, the same whatever the locale.

Queries and site files are UTF-8. Reading ``sys.stdin`` as text would decode it with the
locale's encoding: under ``LC_ALL=C`` an invalid byte silently became a surrogate (and
was echoed back as if valid), and a Latin-1 locale would turn valid UTF-8 into other
characters. So stdin is read as bytes and each line decoded as strict UTF-8; a line that
is not valid UTF-8 is reported at its position (``<stdin>:LINE:COLUMN``) and skipped,
and the other lines are still processed. Output never fails on a character the terminal's
encoding lacks: it is written as a backslash escape instead.
"""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class BadLine:
    """A line of input that is not valid UTF-8, with where and why."""

    source: str
    line: int
    column: int
    byte: int

    def __str__(self) -> str:
        return (f"{self.source}:{self.line}:{self.column}: not valid UTF-8 (byte "
                f"0x{self.byte:02x}); input must be UTF-8 text")


def decode_lines(stream: BinaryIO, source: str = "<stdin>") -> Iterator[str | BadLine]:
    """Each line of ``stream`` without its line ending, or a ``BadLine``.

    ``column`` counts characters (the valid UTF-8 before the bad byte), 1-based. A UTF-8
    byte order mark at the start is skipped.
    """
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        raw = raw.rstrip(b"\n").rstrip(b"\r")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            column = len(raw[:error.start].decode("utf-8")) + 1
            yield BadLine(source, number, column, raw[error.start])


def check_argument(text: str, source: str) -> BadLine | None:
    """A command-line argument that was not valid UTF-8 (Python hands it over with the
    bad bytes as lone surrogates), or None."""
    raw = os.fsencode(text)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        column = len(raw[:error.start].decode("utf-8")) + 1
        return BadLine(source, 1, column, raw[error.start])
    return None


def stdin_lines() -> Iterator[str | BadLine]:
    """``decode_lines`` of standard input."""
    return decode_lines(sys.stdin.buffer)


def safe_output() -> None:
    """Let stdout and stderr write any character (escaped if the encoding lacks it)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
