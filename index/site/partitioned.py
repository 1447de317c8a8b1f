"""Load a large site on several cores, without ever holding all of its content.

``load_site`` parses and validates every content line in one process and keeps every item:
at a million items that is one core busy for minutes and several gigabytes held, then
copied into each indexing worker. Here ``content.jsonl`` is cut into byte ranges on line
boundaries; one forked process per range parses and validates its lines (the costly part)
and spills each item to a file of its own. Back in the parent come only what decisions
about *other* items need: a ``Link`` (id, type, space, parent, container) per valid line
and an ``Invalid`` per invalid one. The parent replays them in file order through the same
``Admission`` and ``settle`` that ``load_site`` uses, so duplicates, unknown spaces and tree
rejects come out exactly as there, and keeps the ancestors of each accepted line. Each
indexing worker then reads its own spill file back (``spilled_items``).
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.site.forking import collect, die_with_parent
from index.site.loader import (
    CONTENT_FILE,
    Admission,
    Invalid,
    Link,
    Reject,
    Site,
    load_catalog,
    load_extras,
    parse_content,
    read_range,
    settle,
    sort_rejects,
    with_ancestors,
)
from index.site.models import ContentItem

__all__ = ["SplitSite", "load_split", "spilled_items", "splittable"]

_COUNT_CHUNK = 1 << 24


@dataclass
class SplitSite:
    """A site whose content waits in spill files, one per part, in file order."""

    site: Site  # spaces, users, groups, extras and every reject; no content
    spills: list[Path]
    ancestors: dict[int, list[str]]  # by line of content.jsonl, for accepted items only

    @property
    def items(self) -> int:
        return len(self.ancestors)


def load_split(site_dir: str | Path, spill_dir: Path, parts: int = 2) -> SplitSite:
    """Load a site as ``load_site`` does (same rejects), its content parsed by ``parts``
    processes into spill files in ``spill_dir`` (which must exist). The site's
    ``content.jsonl`` must be a regular file (see ``splittable``)."""
    root = Path(site_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"site directory not found: {root}")
    rejects: list[Reject] = []
    site, rejected_spaces = load_catalog(root, rejects)
    spills = [spill_dir / f"content-{n}.pickle" for n in range(parts)]
    admission: Admission[Link] = Admission(site.spaces, rejected_spaces, rejects)
    for events, part_rejects in _parse_parts(root / CONTENT_FILE, spills):
        rejects.extend(part_rejects)
        for number, parsed in events:
            admission.take(number, parsed)
    by_id, tree_rejects = settle(admission.items, lines=admission.lines,
                                 rejected=admission.rejected_ids)
    rejects.extend(tree_rejects)
    ancestors = {admission.lines[item_id]: chain for item_id, chain in by_id.items()}
    load_extras(root, site, rejects)
    sort_rejects(rejects)
    site.rejects = rejects
    return SplitSite(site, spills, ancestors)


def spilled_items(spill: Path, ancestors: dict[int, list[str]]) -> Iterator[ContentItem]:
    """The accepted items of one spill file, in file order, with their ancestors."""
    with spill.open("rb") as fh:
        while True:
            try:
                number, item = pickle.load(fh)
            except EOFError:
                return
            derived = ancestors.get(number)
            if derived is None:  # rejected after parsing (duplicate, space, tree)
                continue
            yield with_ancestors(item, derived)


def splittable(site_dir: str | Path, min_bytes: int) -> bool:
    """Whether the site's content file is a regular file worth cutting: at least
    ``min_bytes`` long (a missing or odd file is left to ``load_site`` and its rejects)."""
    content = Path(site_dir) / CONTENT_FILE
    return content.is_file() and content.stat().st_size >= min_bytes


Events = list[tuple[int, Link | Invalid]]


def _ranges(path: Path, parts: int) -> list[tuple[int, int, int]]:
    """``parts`` byte ranges of ``path`` that start on line starts: (start, end, the
    number of the range's first line)."""
    size = path.stat().st_size
    bounds = [0]
    with path.open("rb") as fh:
        for k in range(1, parts):
            at = max(size * k // parts, bounds[-1])
            if at > 0:
                fh.seek(at - 1)
                fh.readline()  # to the start of the next line (stays if at one already)
                at = fh.tell()
            bounds.append(min(at, size))
        bounds.append(size)
        ranges, first_line = [], 1
        for start, end in zip(bounds, bounds[1:], strict=False):
            ranges.append((start, end, first_line))
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(left, _COUNT_CHUNK))
                if not chunk:
                    break
                first_line += chunk.count(b"\n")
                left -= len(chunk)
    return ranges


def _parse_parts(content: Path, spills: list[Path]) -> list[tuple[Events, list[Reject]]]:
    """Each range's events and rejects, parsed in a forked process per range."""
    ctx = multiprocessing.get_context("fork")
    children = []
    for (start, end, first_line), spill in zip(_ranges(content, len(spills)), spills,
                                               strict=True):
        mine, theirs = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_parse_part,
                           args=(content, start, end, first_line, spill, theirs))
        proc.start()
        theirs.close()
        children.append((proc, mine))
    return collect(children, "a loading process", "loading the site")


def _parse_part(content: Path, start: int, end: int, first_line: int, spill: Path,
                conn: Any) -> None:
    """Child process: parse one range, spill its items, send back events and rejects."""
    die_with_parent()
    try:
        rejects: list[Reject] = []
        events: Events = []
        with spill.open("wb") as out:
            for number, obj in read_range(content, start, end, first_line, rejects):
                parsed = parse_content(obj)
                if isinstance(parsed, Invalid):
                    events.append((number, parsed))
                    continue
                events.append((number, Link.of(parsed)))
                pickle.dump((number, parsed), out, protocol=pickle.HIGHEST_PROTOCOL)
        conn.send(("ok", (events, rejects)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
