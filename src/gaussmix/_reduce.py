"""One pairwise tree reduction, shared by the map-reduce paths (Dask statistics and coresets).

A fixed binary tree over the parts in their given order makes a reduction deterministic: the
same parts always meet in the same pairs, whatever the scheduler runs first, so floating-point
sums and randomised merges do not depend on timing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["tree_reduce"]


def tree_reduce(parts: Iterable[T], combine: Callable[[T, T, int, int, int], T]) -> T:
    """Reduce ``parts`` pairwise, level by level, in a fixed binary tree.

    Parameters
    ----------
    parts : iterable
        The values to reduce (at least one), in a fixed order.
    combine : callable
        ``combine(left, right, level, position, count)`` returns the merge of two neighbours:
        ``level`` is the tree level (0 for the leaves' pairs), ``position`` the index of
        ``left`` within its level and ``count`` the number of merges made before this one (a
        stable index, e.g. for per-merge random seeds). An unpaired last part moves up as is.

    Returns
    -------
    object
        The root of the tree.
    """
    level_parts: list[Any] = list(parts)
    if not level_parts:
        raise ValueError("tree_reduce needs at least one part.")
    level = count = 0
    while len(level_parts) > 1:
        nxt = []
        for i in range(0, len(level_parts), 2):
            if i + 1 < len(level_parts):
                nxt.append(combine(level_parts[i], level_parts[i + 1], level, i, count))
                count += 1
            else:
                nxt.append(level_parts[i])
        level_parts = nxt
        level += 1
    return level_parts[0]
