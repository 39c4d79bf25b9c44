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
    walk,
)
from indexcalc.memo import memoised


def canonical(e: Expr) -> Expr:
    """``e`` with each bound index renamed by the depth of its binder: the
    indices bound inside ``d`` other bound indices are named ``_d`` (``_d+1``...
    for a binder of several), so that expressions equal up to renaming bound
    indices become equal.  A name does not depend on the order the children are
    visited in, so a product's or a sum's children are simply relabelled and
    sorted.  Only the indices of one sum over several of one dimension can be
    named in more than one way: each of their orders is tried, up to ``TIES``,
    and the smallest result is kept.  Built directly (no smart constructors): the
    structure is only relabelled.  Sums side by side reuse names (``Σ__0 x__0 ·
    Σ__0 y__0``): the result is a key to compare, not an expression to compute with."""
    if not e.binds:
        return e
    return _canonical(e)


TIES = 24                   # orders tried for the indices of one sum
WORK = 40                   # nodes visited per node of the expression, ties included


@memoised(2048)
def _canonical(e: Expr) -> Expr:
    work = [0, WORK * size(e)]          # visits so far, and the most the ties may take
    taken = {i.name for i in e.free}
    names: dict[int, str] = {}

    def fresh(i: Index, depth: int) -> Index:
        if depth not in names:
            name = f"_{depth}"
            while name in taken:        # a free index named _0: both sides have it
                name = "_" + name
            names[depth] = name
        return Index(names[depth], i.dim)

    def sub(i, env):
        if type(i) is Index:
            return env.get(i, i)
        return i.map(lambda j: env.get(j, j))       # an affine subscript

    def bind(indices, env, depth):
        inner = dict(env)
        inner.update((i, fresh(i, depth + k)) for k, i in enumerate(indices))
        return inner, depth + len(indices)

    def orders(indices, body):
        """The orders in which a sum's indices may be named: sorted by what their
        occurrences look like (``_roles``), those that look alike are
        interchangeable, so each of their orders is a candidate."""
        roles = _roles(indices, body, e.free) if len(indices) > 1 else {}
        groups: dict[tuple, list[Index]] = {}
        for i in indices:
            groups.setdefault((dim_key(i.dim), roles.get(i, 0)), []).append(i)
        groups = [groups[k] for k in sorted(groups)]
        count = 1
        for g in groups:
            count *= factorial(len(g))
        if count == 1 or count > TIES or work[0] > work[1]:
            return [tuple(i for g in groups for i in g)]
        return [tuple(i for g in combo for i in g)
                for combo in product(*(permutations(g) for g in groups))]

    def go(node: Expr, env: dict, depth: int) -> Expr:
        work[0] += 1
        if isinstance(node, Var):
            return Var(node.name, tuple(sub(i, env) for i in node.indices))
        if isinstance(node, InRange):
            return InRange(sub(node.sub, env))
        if isinstance(node, Delta):
            return Delta(*sorted((sub(node.a, env), sub(node.b, env)), key=lambda i: i.key))
        if isinstance(node, Sum):
            best = None
            for order in orders(node.indices, node.body):
                inner, below = bind(order, env, depth)
                body = go(node.body, inner, below)
                if best is None or body.key < best[1].key:
                    best = (tuple(inner[i] for i in order), body)
            return Sum(tuple(sorted(best[0], key=lambda i: i.key)), best[1])
        if isinstance(node, Apply):              # the order of `over` means something
            inner, below = bind(node.over, env, depth)
            return Apply(node.fn, go(node.arg, inner, below),
                         tuple(inner[i] for i in node.over),
                         tuple(sub(i, env) for i in node.out), node.order)
        if isinstance(node, (Mul, Add)):
            kids = sorted((go(c, env, depth) for c in node.children), key=lambda t: t.key)
            return type(node)(tuple(kids))
        if isinstance(node, Pow):
            return Pow(go(node.base, env, depth), go(node.exponent, env, depth))
        if isinstance(node, Func):
            return Func(node.name, go(node.arg, env, depth), node.order)
        return node

    return go(e, {}, 0)


ROUNDS = 3                  # rounds of refining the roles of a sum's indices


def _roles(indices, body: Expr, keep: frozenset) -> dict[Index, int]:
    """A rank per index of one sum, from its occurrences alone (no names): which
    tensor, at which position, beside which other indices; refined for ``ROUNDS``
    rounds by the ranks of those neighbours (as colour refinement does for graph
    isomorphism).  Equal ranks are the look-alikes whose orders ``canonical``
    tries; names kept (``keep``, the free ones) are part of what is seen."""
    mine = frozenset(indices)
    leaves = []
    for node in walk(body):
        if isinstance(node, Var):
            leaves.append((("v", node.name), node.indices))
        elif isinstance(node, Delta):
            leaves.append((("d",), (node.a, node.b)))
        elif isinstance(node, InRange):
            leaves.append((("r",), (node.sub,)))
        elif isinstance(node, Apply) and node.out:
            leaves.append((("a", node.fn, node.order), node.out))
    rank = {i: 0 for i in indices}

    def seen(sub) -> tuple:
        if type(sub) is not Index:                            # an affine subscript
            return (2, tuple(sorted((seen(j), c) for j, c in sub.terms)), sub.offset)
        if sub in mine:
            return (0, rank[sub])
        return (1, sub.key if sub in keep else ("", dim_key(sub.dim)))

    for _ in range(ROUNDS):
        looks = {}
        for i in indices:
            around = []
            for label, subs in leaves:
                row = tuple(seen(t) for t in subs)
                around.extend((label, 0 if label == ("d",) else p, row)
                              for p, t in enumerate(subs)
                              if (t == i if type(t) is Index else i in t.free))
            looks[i] = (rank[i], tuple(sorted(around)))
        order = sorted(set(looks.values()))
        new = {i: order.index(looks[i]) for i in indices}
        stable = len(set(new.values())) == len(set(rank.values()))
        rank = new
        if stable:                                  # no new distinctions: done
            break
    return rank


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
