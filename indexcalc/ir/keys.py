"""Keys that compare expressions up to renaming their indices.

``canonical`` relabels bound indices so that expressions equal up to renaming
them become equal; ``erased_key`` sees no index names at all (a quick filter
before an exact comparison); ``possible_twins`` picks the expressions that may
need ``canonical``.  They build nodes directly: the structure is only relabelled.
"""

from __future__ import annotations

from itertools import permutations, product
from math import factorial

from indexcalc.ir.affine import InRange
from indexcalc.ir.nodes import (
    Add,
    Apply,
    Delta,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
    binders,
    dim_key,
    size,
)
from indexcalc.memo import memoised


def canonical(e: Expr) -> Expr:
    """``e`` with bound indices renamed ``_0, _1, ...`` in order of first
    appearance, children visited in an order that ignores bound names, so that
    expressions equal up to renaming bound indices become equal.  Built
    directly (no smart constructors): the structure is only relabelled."""
    if not e.binds:
        return e
    return _canonical(e)


TIES = 24                   # orders of look-alike children tried per product or sum
WORK = 40                   # nodes visited per node of the expression, ties included


@memoised(2048)
def _canonical(e: Expr) -> Expr:
    counter = [0]
    work = [0, WORK * size(e)]          # visits so far, and the most the ties may take
    taken = {i.name for i in e.free}
    env: dict[Index, Index] = {}

    def name(i: Index, bound: frozenset) -> Index:
        if i in env:
            return env[i]
        if i not in bound:
            return i
        while f"_{counter[0]}" in taken:
            counter[0] += 1
        env[i] = Index(f"_{counter[0]}", i.dim)
        counter[0] += 1
        return env[i]

    def scoped(indices, bound, inner):
        saved = {i: env.pop(i) for i in indices if i in env}
        result = inner(bound | frozenset(indices))
        named = tuple(name(i, bound | frozenset(indices)) for i in indices)
        for i in indices:
            env.pop(i, None)
        env.update(saved)
        return named, result

    def best_order(order: list[Expr], bound: frozenset) -> list[Expr]:
        """The children relabelled in the order that names the bound indices best.
        Children that look alike with bound names erased (W_ab W_ad W_ed, or
        det(A) and det(Aᵀ) written det_{i,j}(A_ji), whose own binders are named in
        the order they are visited) are visited in each of their orders, up to ``TIES`` of them, and the smallest
        result is kept: otherwise the order they came in, which depends on the
        names, decides the names, and equal terms could differ.  Ties nest (each
        order of the children tries the orders inside them), so the visits are
        bounded: past ``WORK`` per node the children keep the order they came in,
        and equal terms may then stay apart (a comparison has no opinion), but the
        key is never slow."""
        groups: list[list[Expr]] = []
        for c in order:
            if groups and (c.free & bound or c.binds) and _erased_key(c, bound) == \
                    _erased_key(groups[-1][0], bound):
                groups[-1].append(c)
            else:
                groups.append([c])
        count = 1
        for g in groups:
            count *= factorial(len(g))
        if count == 1 or count > TIES or work[0] > work[1]:
            return [go(c, bound) for c in order]
        start, seen, best = counter[0], dict(env), None
        for combo in product(*(permutations(g) for g in groups)):
            counter[0] = start
            env.clear()
            env.update(seen)
            kids = [go(c, bound) for g in combo for c in g]
            key = tuple(sorted(t.key for t in kids))
            if best is None or key < best[0]:
                best = (key, kids, counter[0], dict(env))
            if work[0] > work[1]:
                break
        counter[0] = best[2]
        env.clear()
        env.update(best[3])
        return best[1]

    def go(node: Expr, bound: frozenset) -> Expr:
        work[0] += 1
        if isinstance(node, Var):
            return Var(node.name, tuple(name(i, bound) if type(i) is Index else
                                        i.map(lambda j: name(j, bound)) for i in node.indices))
        if isinstance(node, InRange):
            return InRange(node.sub.map(lambda j: name(j, bound)))
        if isinstance(node, Delta):
            a, b = sorted((node.a, node.b), key=lambda i: _erased(i, bound))
            a, b = (name(i, bound) if type(i) is Index else i.map(lambda j: name(j, bound))
                    for i in (a, b))
            return Delta(*sorted((a, b), key=lambda i: i.key))
        if isinstance(node, Sum):
            named, body = scoped(node.indices, bound, lambda inner: go(node.body, inner))
            return Sum(tuple(sorted(named, key=lambda i: i.key)), body)
        if isinstance(node, Apply):
            named, arg = scoped(node.over, bound, lambda inner: go(node.arg, inner))
            return Apply(node.fn, arg, named, tuple(name(i, bound) for i in node.out),
                         node.order)
        if isinstance(node, (Mul, Add)):
            order = sorted(node.children, key=lambda c: _erased_key(c, bound))
            kids = sorted(best_order(order, bound), key=lambda t: t.key)
            return type(node)(tuple(kids))
        if isinstance(node, Pow):
            return Pow(go(node.base, bound), go(node.exponent, bound))
        if isinstance(node, Func):
            return Func(node.name, go(node.arg, bound), node.order)
        return node

    return go(e, frozenset())


def _erased(i: Index, bound: frozenset) -> tuple:
    if type(i) is not Index:                                  # an affine subscript
        return ("~", tuple((_erased(j, bound), c) for j, c in i.terms), i.offset,
                dim_key(i.dim))
    return ("", dim_key(i.dim)) if i in bound else i.key


def _erased_key(e: Expr, bound: frozenset) -> tuple:
    """A sort key that does not see the names of bound indices."""
    return _erased_key_of(e, bound & e.free)


def erased_key(e: Expr) -> tuple:
    """A key that sees no index names at all: equal for expressions equal up to
    renaming their indices, free and bound (and for some others: a filter)."""
    return _erased_key_of(e, e.free)


@memoised(16384)
def _erased_key_of(e: Expr, bound: frozenset) -> tuple:
    """``_erased_key`` memoised: it depends only on which free indices of ``e`` are bound."""
    if isinstance(e, Var):
        return (2, e.name, tuple(_erased(i, bound) for i in e.indices))
    if isinstance(e, Delta):
        return (3, tuple(sorted(_erased(i, bound) for i in (e.a, e.b))))
    if isinstance(e, InRange):
        return (10, _erased(e.sub, bound))
    inner = bound | frozenset(binders(e))
    kids = tuple(sorted(_erased_key(c, inner) for c in e.children))
    if isinstance(e, Func):
        return (4, e.name, e.order, kids)
    if isinstance(e, Apply):
        return (5, e.fn, e.order, len(e.over), tuple(_erased(i, bound) for i in e.out), kids)
    if isinstance(e, Sum):
        return (9, len(e.indices), kids)
    return (e.key[0], kids) if e.children else e.key


def possible_twins(exprs: list[Expr]) -> set[Expr]:
    """Expressions that bind indices and may equal another one up to renaming them
    (the same key with bound names erased): only these need ``canonical``."""
    bases = [b for b in exprs if b.binds]
    if len(bases) < 2:
        return set()
    seen: dict[tuple, list[Expr]] = {}
    for b in bases:
        seen.setdefault(_erased_key(b, frozenset()), []).append(b)
    return {b for group in seen.values() if len(group) > 1 for b in group}


__all__ = [
    "canonical",
    "erased_key",
    "possible_twins",
]
