"""Whole-tree index work built on the algebra: substituting a definition for its
name, instantiating parameters, making binders unique, mapping every index.
"""

from __future__ import annotations

from collections.abc import Callable

from indexcalc.ir.algebra import delta, mul, rebuild, rename, rename_bound, summation
from indexcalc.ir.affine import InRange, in_range, linear, sub_free, substitute_sub
from indexcalc.ir.names import fresh_index
from indexcalc.ir.nodes import (
    Apply,
    Delta,
    Expr,
    Index,
    Sum,
    Var,
    binders,
    index_names,
    var_names,
)
from indexcalc.memo import memoised

# ---------------------------------------------------------------- binders

def unique_binders(e: Expr, avoid: set[str] | None = None) -> Expr:
    """Rename every bound index so that all binders are distinct from each other
    and from every free index.  Passes that move factors across sums rely on it."""
    if not e.binds:
        return e
    avoid = set(avoid or ()) | {i.name for i in e.free}
    names = _bound_names(e)
    if len(set(names)) == len(names) and avoid.isdisjoint(names):
        return e                                 # already so (the usual case): e itself
    return _unique(e, avoid)


@memoised(16384)
def _bound_names(e: Expr) -> tuple[str, ...]:
    """The names of every binder in ``e``, repeats kept."""
    own = tuple(i.name for i in binders(e))
    return own + sum((_bound_names(c) for c in e.children if c.binds), ())


def _unique(e: Expr, avoid: set[str]) -> Expr:
    bound = binders(e)
    if bound:
        fix = {}
        for i in bound:
            new = fresh_index(avoid, i.dim, prefer=i.name)
            avoid.add(new.name)
            if new != i:
                fix[i] = new
        if fix:
            e = rename_bound(e, fix)
        inner = _unique(e.children[0], avoid)
        if inner is e.children[0]:
            return e
        if isinstance(e, Sum):
            return Sum(e.indices, inner)
        return Apply(e.fn, inner, e.over, e.out, e.order)
    if not e.binds:
        return e
    return rebuild(e, tuple(_unique(c, avoid) for c in e.children))


# ---------------------------------------------------------------- substitution

def substitute(e: Expr, name: str, indices: tuple[Index, ...], body: Expr) -> Expr:
    """Replace every ``Var(name, J)`` in ``e`` by ``body`` with ``indices`` renamed to J."""
    if name not in var_names(e):
        return e

    def go(node: Expr) -> Expr:
        if isinstance(node, Var) and node.name == name:
            return instantiate(body, indices, node.indices)
        if not node.children:
            return node
        return rebuild(node, tuple(go(c) for c in node.children))

    return go(e)


def instantiate(body: Expr, params: tuple[Index, ...], args: tuple[Index, ...]) -> Expr:
    """``body`` with its parameter indices replaced by ``args``.

    A repeated argument (``X_ii`` of a definition ``X_ab = ...``) renames one
    occurrence to a fresh index tied to the other by a delta.
    """
    if not all(type(a) is Index for a in args):             # a shifted read: y_{p−k}
        body = unique_binders(body, avoid={i.name for a in args for i in sub_free(a)})
        # the read is 0 outside the tensor: its value there is the body's only in range
        guards = [in_range(a) for a in args if type(a) is not Index]
        try:
            shifted = shift_indices(body, {p: linear(a) for p, a in zip(params, args)})
        except NotShiftable:                    # inv(A)_{k−1}: read it through a delta
            return _read_through_delta(body, params, args, guards)
        return mul(shifted, *guards)
    if len(set(args)) == len(args):
        return rename(body, dict(zip(params, args)))
    avoid = index_names(body) | {a.name for a in args}
    seen: set[Index] = set()
    mapping, ties = {}, []
    for p, a in zip(params, args):
        if a in seen:
            tmp = fresh_index(avoid, a.dim)
            avoid.add(tmp.name)
            mapping[p] = tmp
            ties.append((tmp, a))
        else:
            seen.add(a)
            mapping[p] = a
    inner = rename(body, mapping)
    return summation([t for t, _ in ties], mul(inner, *(delta(t, a) for t, a in ties)))


def _read_through_delta(body: Expr, params: tuple[Index, ...], args: tuple, guards) -> Expr:
    """``Σ_q body_q δ(q, a)`` for the shifted arguments ``a``: where the body's index is
    the output of a tensor function (``inv(A)_km``), that index cannot take an affine
    value, so the read is a delta the contraction keeps."""
    avoid = index_names(body) | {i.name for a in args for i in sub_free(a)}
    plain, ties = [], []
    for p, a in zip(params, args):
        if type(a) is Index:
            plain.append(a)
            continue
        q = fresh_index(avoid, p.dim)
        avoid.add(q.name)
        plain.append(q)
        ties.append((q, a))
    inner = instantiate(body, params, tuple(plain))
    return summation([q for q, _ in ties], mul(inner, *(delta(q, a) for q, a in ties), *guards))


def shift_indices(e: Expr, mapping: dict) -> Expr:
    """``e`` with free indices replaced by affine forms: ``mapping`` sends an Index
    to ``({index: c}, offset)`` (``i ↦ p − k``).  Binders must already be apart
    from the indices of the forms (``unique_binders``).  Raises ``NotShiftable``
    where an index to replace is the output index of a tensor function."""
    mapping = {k: v for k, v in mapping.items() if k in e.free}
    if not mapping:
        return e
    if isinstance(e, Var):
        return Var(e.name, tuple(substitute_sub(i, mapping) for i in e.indices))
    if isinstance(e, Delta):
        return delta(substitute_sub(e.a, mapping), substitute_sub(e.b, mapping))
    if isinstance(e, InRange):
        return in_range(substitute_sub(e.sub, mapping))
    if isinstance(e, Apply):
        if mapping.keys() & set(e.out):
            raise NotShiftable(e)
        return Apply(e.fn, shift_indices(e.arg, mapping), e.over, e.out, e.order)
    return rebuild(e, tuple(shift_indices(c, mapping) for c in e.children))


class NotShiftable(Exception):
    """An index that cannot take an affine value where it stands (internal)."""


def map_indices(e: Expr, fn: Callable[[Index], Index]) -> Expr:
    """Apply ``fn`` to every index in ``e``, free and bound (used to settle dimensions)."""
    if isinstance(e, Var):
        return Var(e.name, tuple(fn(i) if type(i) is Index else i.map(fn) for i in e.indices))
    if isinstance(e, Delta):
        return delta(*(fn(i) if type(i) is Index else i.map(fn) for i in (e.a, e.b)))
    if isinstance(e, InRange):
        return in_range(e.sub.map(fn))
    if isinstance(e, Sum):
        return summation(tuple(fn(i) for i in e.indices), map_indices(e.body, fn))
    if isinstance(e, Apply):
        return Apply(e.fn, map_indices(e.arg, fn), tuple(fn(i) for i in e.over),
                     tuple(fn(i) for i in e.out), e.order)
    if not e.children:
        return e
    return rebuild(e, tuple(map_indices(c, fn) for c in e.children))


__all__ = [
    "NotShiftable",
    "instantiate",
    "map_indices",
    "shift_indices",
    "substitute",
    "unique_binders",
]
