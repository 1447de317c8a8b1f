"""``Ordering.top`` (``index.core.columns``) is the first hits of a plain sort by rank,
whichever way it takes: sorting a few hits, walking the order, or taking its blocks (hit
sets clustered deep in the order, as a date range is under "newest first")."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from index.core import docsets
from index.core.columns import ORDER_BLOCKS, Ordering, Probes


@st.composite
def orderings_and_hits(draw: st.DrawFn) -> tuple[Ordering, list[int], int]:
    size = draw(st.integers(1, 3 * ORDER_BLOCKS + 50) | st.integers(1, 20 * ORDER_BLOCKS))
    order = draw(st.permutations(range(size)))
    if draw(st.booleans()):  # a run of the order: the hits sit together, maybe deep
        start = draw(st.integers(0, size - 1))
        length = draw(st.integers(1, size - start))
        hits = [d for d in order[start:start + length] if draw(st.integers(0, 3))]
    else:
        hits = draw(st.lists(st.integers(0, size - 1), unique=True))
    stored = draw(st.booleans())  # as read from the derived file, or built
    made = Ordering(order, size) if not stored else Ordering(
        order, size, Ordering(order, size).rank)
    return made, hits, draw(st.integers(0, size + 2))


@settings(max_examples=400, deadline=None)
@given(orderings_and_hits())
def test_top_is_the_first_hits_by_rank(case: tuple[Ordering, list[int], int]) -> None:
    ordering, hits, needed = case
    expected = sorted(hits, key=ordering.rank.__getitem__)[:needed]
    got = ordering.top(docsets.from_ids(hits, len(ordering.rank)), len(hits), needed)
    assert got == expected


def test_a_few_hundred_hits_are_sorted_from_the_first_blocks_only() -> None:
    """Hits spread through the order: their first ones come from the first blocks, which
    are built on demand (the rest never are); hits deep in the order, past the blocks
    tried (those that would hold half as many again as needed if the hits spread evenly),
    fall back to sorting them all: the same first hits either way."""
    import random

    size = 64 * 200  # 300 hits: 3 * 25 * 64 / (2 * 300) = 8 blocks are tried
    order = random.Random(7).sample(range(size), size)
    spread = sorted(random.Random(8).sample(range(size), 300))
    deep = sorted(order[-300:])  # in the last two blocks
    built = {}
    for name, hits in (("spread", spread), ("deep", deep)):
        ordering = Ordering(order, size)
        got = ordering.top(docsets.from_ids(hits, size), len(hits), 25)
        assert got == sorted(hits, key=ordering.rank.__getitem__)[:25]
        built[name] = [b is not None for b in ordering._blocks]
    assert built["spread"][0] and sum(built["spread"]) < 16
    assert all(built["deep"][:8]) and not any(built["deep"][8:])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 700).flatmap(lambda size: st.tuples(
    st.permutations(range(size)), st.sets(st.integers(0, size - 1)),
    st.integers(0, size + 3), st.integers(0, size + 3))))
def test_probes_find_the_positions_whose_documents_are_in_a_set(
        case: tuple[list[int], set[int], int, int]) -> None:
    """Any order, set and range of positions (chunk edges, past the end, empty): the
    positions whose document is in the set, in order, as a plain loop finds them; asked
    twice (the chunks kept)."""
    order, members, start, end = case
    probes = Probes(array("i", order))
    raw = docsets.as_bytes(docsets.from_ids(sorted(members), len(order)), len(order))
    want = [p for p in range(start, min(end, len(order))) if order[p] in members]
    assert list(probes.held(raw, start, end)) == want
    assert list(probes.held(raw, start, end)) == want
