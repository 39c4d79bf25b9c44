"""Fresh index names, from one pool: the only place a new index is named.
"""

from __future__ import annotations

from collections.abc import Iterable

from indexcalc.ir.nodes import Dim, Index

INDEX_POOL = "ijklmnpqrsabcdefghotuvwxyz"


def fresh_name(avoid: Iterable[str], prefer: str | None = None) -> str:
    """The first index name not in ``avoid``: ``prefer`` if free, else from the pool."""
    if not isinstance(avoid, (set, frozenset, dict)):
        avoid = set(avoid)                # a set is only read: no copy per fresh name
    if prefer and prefer not in avoid:
        return prefer
    for letter in INDEX_POOL:
        if letter not in avoid:
            return letter
    n = 1
    while True:
        for letter in INDEX_POOL:
            if f"{letter}{n}" not in avoid:
                return f"{letter}{n}"
        n += 1


def fresh_index(avoid: Iterable[str], dim: Dim, prefer: str | None = None) -> Index:
    return Index(fresh_name(avoid, prefer), dim)


def fresh_indices(taken: set[str], like: Iterable[Index]) -> tuple[Index, ...]:
    """One fresh index per index of ``like``, over the same dimension; their names are
    added to ``taken``."""
    out = []
    for i in like:
        out.append(fresh_index(taken, i.dim))
        taken.add(out[-1].name)
    return tuple(out)


__all__ = [
    "INDEX_POOL",
    "fresh_index",
    "fresh_indices",
    "fresh_name",
]


def call_letter(letters: str, taken: set, own: set, dims: dict, dim: Dim) -> str | None:
    """A letter for a call's binder: one not yet taken in the statement; past the last,
    one printed for the same dimension that the call does not read (a call's binders
    are its own: ``Σ_a y_a softmax_a(y_a)`` reads back)."""
    return next((c for c in letters if c not in taken), None) or next(
        (c for c in letters if c not in own and dims.get(c) == dim), None)
