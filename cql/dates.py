"""Date literals, increments and date functions, evaluated against an injected clock.

A literal denotes the whole interval of its precision (a day, or a minute with ``HH:mm``)
in the caller's time zone (docs/semantics.md). Functions denote instants. Nothing here reads
the wall clock: the engine passes ``now`` and the zone in, so tests are deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

_LITERAL = re.compile(
    r"(?P<y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:\s+(?P<H>\d{1,2}):(?P<M>\d{2}))?"
)
#: A strict increment: optional sign, a whole number, one unit.
_STRICT_INCREMENT = re.compile(r"(?P<sign>[+-]?)(?P<n>\d+)(?P<unit>[yMwdhm])")
#: Lenient: several number-unit pairs after one sign (``-4w2d``).
_LENIENT_INCREMENT = re.compile(r"(?P<sign>[+-]?)(?P<body>(?:\d+[yMwdhm])+)")
_PAIR = re.compile(r"(\d+)([yMwdhm])")

DATE_FORMATS = ("yyyy/MM/dd HH:mm", "yyyy-MM-dd HH:mm", "yyyy/MM/dd", "yyyy-MM-dd")

#: The first and last instants Python can hold. Arithmetic that leaves the calendar (a
#: literal's end past 9999-12-31, ``now("+10000y")``) saturates at these instead of raising:
#: no item's date lies outside them (the site loader rejects such dates), so the clamped
#: bound selects exactly what the unclamped one would.
START_OF_TIME = datetime.min.replace(tzinfo=UTC)
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


class DateSyntaxError(ValueError):
    """A literal or increment that is not in an accepted form (message says which)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start, end)`` in absolute time."""

    start: datetime
    end: datetime


def parse_literal(text: str) -> tuple[datetime, timedelta]:
    """The naive local start of a literal and its precision (a day or a minute)."""
    m = _LITERAL.fullmatch(text.strip())
    if not m:
        raise DateSyntaxError(
            f"{text!r} is not a date; use one of: {', '.join(DATE_FORMATS)}"
        )
    try:
        if m["H"] is None:
            return datetime(int(m["y"]), int(m["m"]), int(m["d"])), timedelta(days=1)
        start = datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["H"]), int(m["M"]))
        return start, timedelta(minutes=1)
    except ValueError as err:
        raise DateSyntaxError(f"{text!r} is not a valid calendar date or time ({err})") from None


def literal_interval(text: str, tz: tzinfo) -> Interval:
    """The absolute interval a literal denotes in zone ``tz``."""
    start, width = parse_literal(text)
    # Add the width on the wall clock, then attach the zone: a day stays a calendar day
    # across daylight-saving changes.
    try:
        end = (start + width).replace(tzinfo=tz)
    except OverflowError:  # the last day or minute of 9999: its wall-clock end is past it
        try:  # ... but in UTC it may not be (a zone ahead of UTC)
            end = start.replace(tzinfo=tz).astimezone(UTC) + width
        except OverflowError:
            end = END_OF_TIME
    return Interval(start.replace(tzinfo=tz), end)


@dataclass(frozen=True, slots=True)
class Increment:
    sign: int
    parts: tuple[tuple[int, str], ...]


#: Digits an increment's number may have: any larger amount leaves the calendar anyway
#: (and saturates), while ``int()`` of a 5,000-digit string raises a bare ``ValueError``.
MAX_INCREMENT_DIGITS = 18


def parse_increment(text: str, *, lenient: bool = False) -> Increment:
    """``"-4w"`` -> Increment(-1, ((4, "w"),)); lenient also takes ``"-4w2d"``."""
    longest = max((len(n) for n, _ in _PAIR.findall(text)), default=0)
    if longest > MAX_INCREMENT_DIGITS:
        raise DateSyntaxError(
            f"the number in the increment {text[:30]!r}{'...' if len(text) > 30 else ''} is "
            f"too large (at most {MAX_INCREMENT_DIGITS} digits)")
    strict = _STRICT_INCREMENT.fullmatch(text)
    if strict:
        sign = -1 if strict["sign"] == "-" else 1
        return Increment(sign, ((int(strict["n"]), strict["unit"]),))
    loose = _LENIENT_INCREMENT.fullmatch(text)
    if loose and lenient:
        sign = -1 if loose["sign"] == "-" else 1
        return Increment(sign, tuple((int(n), u) for n, u in _PAIR.findall(loose["body"])))
    hint = " (combined increments need the lenient dialect)" if loose else ""
    raise DateSyntaxError(
        f"{text!r} is not a date increment; write a sign, a number and one unit of "
        f"y, M, w, d, h, m, such as \"-4w\"{hint}"
    )


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    day = min(moment.day, _days_in_month(year, month))
    return moment.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def apply_increment(moment: datetime, inc: Increment) -> datetime:
    """Move a zone-aware wall-clock moment by an increment (calendar-aware for y and M)."""
    for n, unit in inc.parts:
        n *= inc.sign
        if unit == "y":
            moment = _add_months(moment, 12 * n)
        elif unit == "M":
            moment = _add_months(moment, n)
        else:
            moment = moment + {"w": timedelta(weeks=n), "d": timedelta(days=n),
                               "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]
    return moment


def evaluate_function(
    name: str, increment: Increment | None, now: datetime, tz: tzinfo, week_start: int = 0
) -> datetime:
    """The instant a date function denotes. ``week_start``: 0 = Monday ... 6 = Sunday.

    ``startOf*`` and ``endOf*`` are computed on the caller's wall clock; the increment is
    applied first (``startOfMonth("-1M")`` is the start of last month). ``endOf*`` is the
    last instant of the period, so ``created <= endOfDay()`` includes all of today.

    A result outside the calendar (years 1 to 9999) saturates at ``START_OF_TIME`` or
    ``END_OF_TIME``, on the side the increment (or the clock) points to.
    """
    if name != "now" and not name.startswith(("start", "end")):
        raise ValueError(f"not a date function: {name}")
    try:
        return _evaluate(name, increment, now, tz, week_start)
    except (OverflowError, ValueError):
        if increment is not None:
            forward = increment.sign > 0
        else:
            forward = now.year > 5000
        return END_OF_TIME if forward else START_OF_TIME


def _evaluate(
    name: str, increment: Increment | None, now: datetime, tz: tzinfo, week_start: int
) -> datetime:
    local = now.astimezone(tz)
    if increment is not None:
        local = apply_increment(local, increment)
    if name == "now":
        return local
    floor = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start: datetime
    if name.endswith("Day"):
        start = floor
    elif name.endswith("Week"):
        start = floor - timedelta(days=(floor.weekday() - week_start) % 7)
    elif name.endswith("Month"):
        start = floor.replace(day=1)
    elif name.endswith("Year"):
        start = floor.replace(month=1, day=1)
    else:
        raise ValueError(f"not a date function: {name}")
    # Re-attach the zone to the wall-clock values so DST shifts land on local midnight.
    if name.startswith("start"):
        return start.replace(tzinfo=None).replace(tzinfo=tz)
    try:
        nxt = _next_period(name, start)
    except (OverflowError, ValueError):  # the period ends with the calendar
        return END_OF_TIME
    nxt = nxt.replace(tzinfo=None).replace(tzinfo=tz)
    return nxt - timedelta(microseconds=1)


def _next_period(name: str, start: datetime) -> datetime:
    """The start of the period after the one starting at ``start`` (wall clock)."""
    if name.endswith("Day"):
        return start + timedelta(days=1)
    if name.endswith("Week"):
        return start + timedelta(days=7)
    if name.endswith("Month"):
        return _add_months(start, 1)
    return start.replace(year=start.year + 1)
