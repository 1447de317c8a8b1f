"""``Ordering.top`` (``index.core.columns``) is the first hits of a plain sort by rank,
whichever way it takes: sorting a few hits, walking the order, or taking its blocks (hit
sets clustered deep in the order, as a date range is under "newest first")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.core import docsets
from index.core.columns import ORDER_BLOCKS, Ordering


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
