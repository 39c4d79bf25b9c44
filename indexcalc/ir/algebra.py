"""The IR's algebra: fresh names, renaming, canonical keys, substitution and the
smart constructors (``add``, ``mul``, ``power``, ``summation``, ``delta``...).

The constructors flatten, fold constants, drop zeros and order commutative
children, so the canonical form lives here and nowhere else.  Fresh index
names come from one helper, ``fresh_index``; only bound indices are renamed.
"""

from __future__ import annotations

from fractions import Fraction
from operator import attrgetter
from typing import Callable, Iterable

from indexcalc.errors import DivisionByZero
from indexcalc.ir.nodes import (
    MINUS_ONE,
    ONE,
    ZERO,
    Add,
    Apply,
    Const,
    Delta,
    Dim,
    DimSize,
    Expr,
    Func,
    Index,
    Mul,
    Number,
    Pow,
    Sum,
    Var,
    binders,
    const,
    dim_key,
    index_names,
    is_const,
    var_names,
)
from indexcalc.memo import memoised

# ---------------------------------------------------------------- rebuilding

def rebuild(e: Expr, children: tuple[Expr, ...]) -> Expr:
    """The node ``e`` with new children, through the smart constructors
    (``e`` itself when the children are the same objects)."""
    old = e.children
    if len(old) == len(children) and all(a is b for a, b in zip(old, children)):
        return e
    if isinstance(e, Add):
        return add(*children)
    if isinstance(e, Mul):
        return mul(*children)
    if isinstance(e, Pow):
        return power(children[0], children[1])
    if isinstance(e, Sum):
        return summation(e.indices, children[0])
    if isinstance(e, Func):
        return Func(e.name, children[0], e.order)
    if isinstance(e, Apply):
        return Apply(e.fn, children[0], e.over, e.out, e.order)
    return e



# ---------------------------------------------------------------- fresh names

INDEX_POOL = "ijklmnpqrsabcdefghotuvwxyz"


def fresh_name(avoid: Iterable[str], prefer: str | None = None) -> str:
    """The first index name not in ``avoid``: ``prefer`` if free, else from the pool."""
    avoid = set(avoid)
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


# ---------------------------------------------------------------- renaming

def rename(e: Expr, mapping: dict[Index, Index]) -> Expr:
    """Rename free indices of ``e`` by ``mapping``.

    Bound indices that would capture a new name are renamed first, so the
    result always means what ``e`` meant with its free indices renamed.
    """
    mapping = {k: v for k, v in mapping.items() if k != v and k in e.free}
    if not mapping:
        return e
    targets = {v.name for v in mapping.values()}
    if len(targets) == len(mapping) and not targets & {i.name for i in e.free - mapping.keys()}:
        return _rename_apart(e, mapping, targets)
    return _rename_careful(e, mapping)


def _rename_careful(e: Expr, mapping: dict[Index, Index]) -> Expr:
    """``rename`` through the smart constructors (indices may merge)."""
    if isinstance(e, Var):
        return Var(e.name, tuple(mapping.get(i, i) for i in e.indices))
    if isinstance(e, Delta):
        return delta(mapping.get(e.a, e.a), mapping.get(e.b, e.b))
    bound = binders(e)
    if bound:
        targets = {v.name for v in mapping.values()}
        clash = [i for i in bound if i.name in targets]
        if clash:
            avoid = targets | index_names(e) | {k.name for k in mapping}
            fix = {}
            for i in clash:
                new = fresh_index(avoid, i.dim)
                avoid.add(new.name)
                fix[i] = new
            e = rename_bound(e, fix)
            bound = binders(e)
        inner = {k: v for k, v in mapping.items() if k not in bound}
        if isinstance(e, Sum):
            return summation(e.indices, rename(e.body, inner))
        out = tuple(mapping.get(i, i) for i in e.out)
        return Apply(e.fn, rename(e.arg, inner), e.over, out, e.order)
    return rebuild(e, tuple(rename(c, mapping) for c in e.children))


_KEY = attrgetter("key")


def _rename_apart(e: Expr, mapping: dict[Index, Index], targets: set[str]) -> Expr:
    """``rename`` when no two indices become one (the new names are distinct and
    not otherwise free in ``e``): nothing can fold, so the nodes are rebuilt
    directly and only re-sorted; a binder that would capture a new name goes
    the careful way."""
    if not e.free & mapping.keys():
        return e
    if isinstance(e, Var):
        return Var(e.name, tuple(mapping.get(i, i) for i in e.indices))
    if isinstance(e, Delta):
        return Delta(*sorted((mapping.get(e.a, e.a), mapping.get(e.b, e.b)), key=_KEY))
    if isinstance(e, (Sum, Apply)):
        bound = binders(e)
        if any(i.name in targets for i in bound):
            return _rename_careful(e, mapping)            # capture: rename the binder first
        inner = {k: v for k, v in mapping.items() if k not in bound}
        if isinstance(e, Sum):
            return Sum(e.indices, _rename_apart(e.body, inner, targets))
        return Apply(e.fn, _rename_apart(e.arg, inner, targets), e.over,
                     tuple(mapping.get(i, i) for i in e.out), e.order)
    kids = tuple(_rename_apart(c, mapping, targets) for c in e.children)
    if isinstance(e, Func):
        return Func(e.name, kids[0], e.order)
    if isinstance(e, Pow):
        return Pow(*kids)
    return type(e)(tuple(sorted(kids, key=_KEY)))


def rename_bound(e: Expr, fix: dict[Index, Index]) -> Expr:
    """Rename the indices bound at the top of ``e`` (a Sum or an Apply)."""
    if isinstance(e, Sum):
        return Sum(tuple(fix.get(i, i) for i in e.indices), rename(e.body, fix))
    assert isinstance(e, Apply)
    return Apply(e.fn, rename(e.arg, fix), tuple(fix.get(i, i) for i in e.over),
                 e.out, e.order)


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


def canonical(e: Expr) -> Expr:
    """``e`` with bound indices renamed ``_0, _1, ...`` in order of first
    appearance, children visited in an order that ignores bound names, so that
    expressions equal up to renaming bound indices become equal.  Built
    directly (no smart constructors): the structure is only relabelled."""
    if not e.binds:
        return e
    return _canonical(e)


@memoised(2048)
def _canonical(e: Expr) -> Expr:
    counter = [0]
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

    def go(node: Expr, bound: frozenset) -> Expr:
        if isinstance(node, Var):
            return Var(node.name, tuple(name(i, bound) for i in node.indices))
        if isinstance(node, Delta):
            a, b = sorted((node.a, node.b), key=lambda i: _erased(i, bound))
            a, b = name(a, bound), name(b, bound)
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
            kids = sorted((go(c, bound) for c in order), key=lambda t: t.key)
            return type(node)(tuple(kids))
        if isinstance(node, Pow):
            return Pow(go(node.base, bound), go(node.exponent, bound))
        if isinstance(node, Func):
            return Func(node.name, go(node.arg, bound), node.order)
        return node

    return go(e, frozenset())


def _erased(i: Index, bound: frozenset) -> tuple:
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
    inner = bound | frozenset(binders(e))
    kids = tuple(sorted(_erased_key(c, inner) for c in e.children))
    if isinstance(e, Func):
        return (4, e.name, e.order, kids)
    if isinstance(e, Apply):
        return (5, e.fn, e.order, len(e.over), tuple(_erased(i, bound) for i in e.out), kids)
    if isinstance(e, Sum):
        return (9, len(e.indices), kids)
    return (e.key[0], kids) if e.children else e.key


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


# ---------------------------------------------------------------- smart constructors

def coeff_rest(term: Expr) -> tuple[Number, Expr]:
    if isinstance(term, Const):
        return term.value, ONE
    if isinstance(term, Mul) and isinstance(term.factors[0], Const):
        rest = term.factors[1:]
        return term.factors[0].value, rest[0] if len(rest) == 1 else Mul(rest)
    return Fraction(1), term


def add(*terms: Expr) -> Expr:
    """Flattened, constant-folded sum with exactly equal terms collected."""
    collected: dict[Expr, Number] = {}
    for t in terms:
        parts = t.terms if isinstance(t, Add) else (t,)
        for p in parts:
            c, rest = coeff_rest(p)
            if c == 0:
                continue
            if isinstance(rest, Add):                   # c (a + b) inside a sum: c a + c b
                for q in rest.terms:
                    d, r = coeff_rest(q)
                    collected[r] = collected.get(r, 0) + c * d
                continue
            collected[rest] = collected.get(rest, 0) + c
    out = []
    for rest, c in collected.items():
        if c == 0:
            continue
        out.append(mul(const(c), rest) if rest != ONE else const(c))
    if not out:
        return ZERO
    if len(out) == 1:
        return out[0]
    out.sort(key=lambda t: t.key)
    return Add(tuple(out))


def base_exp(f: Expr) -> tuple[Expr, Expr]:
    if isinstance(f, Pow):
        return f.base, f.exponent
    return f, ONE


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


def mul(*factors: Expr) -> Expr:
    """Flattened, constant-folded product; equal bases have their powers combined."""
    coeff: Number = 1
    powers: dict[Expr, list] = {}   # key (bound indices canonical) -> [base, exponent, factor]
    parts = [p for f in factors for p in (f.factors if type(f) is Mul else (f,))]
    twins = possible_twins([p.base if type(p) is Pow else p for p in parts])
    for p in parts:
        if type(p) is Const:
            coeff = coeff * p.value
            continue
        base, exp = (p.base, p.exponent) if type(p) is Pow else (p, ONE)
        key = canonical(base) if base.binds and base in twins else base
        if key in powers:
            entry = powers[key]
            entry[1], entry[2] = add(entry[1], exp), None     # combined: rebuild below
        else:
            powers[key] = [base, exp, p]
    if coeff == 0:
        return ZERO
    out = []
    for base, exp, alone in powers.values():
        if alone is not None:                 # a factor met once is already normal
            out.append(alone)
            continue
        f = power(base, exp)
        if type(f) is Const:
            coeff = coeff * f.value
        elif type(f) is Mul:                  # power() may split a product
            for g in f.factors:
                if type(g) is Const:
                    coeff = coeff * g.value
                else:
                    out.append(g)
        else:
            out.append(f)
    if coeff == 0:
        return ZERO
    out.sort(key=lambda t: t.key)
    if coeff != 1 or not out:
        out.insert(0, const(coeff))
    if len(out) == 1:
        return out[0]
    return Mul(tuple(out))


def is_int(e: Expr) -> bool:
    return isinstance(e, Const) and isinstance(e.value, Fraction) and e.value.denominator == 1


def power(base: Expr, exponent: Expr) -> Expr:
    if is_const(exponent, 0):
        return ONE
    if is_const(exponent, 1):
        return base
    if is_const(base, 1):
        return ONE
    if isinstance(base, Delta) and is_int(exponent) and exponent.value > 0:
        return base                                     # δ^n = δ
    if isinstance(base, Const) and is_int(exponent):
        if base.value == 0 and exponent.value < 0:
            raise DivisionByZero("division by zero: a denominator simplifies to 0")
        return const(base.value ** int(exponent.value))
    if isinstance(base, Pow) and is_int(exponent) and isinstance(base.exponent, Const):
        return power(base.base, const(base.exponent.value * exponent.value))
    if isinstance(base, Mul) and is_int(exponent):
        return mul(*(power(f, exponent) for f in base.factors))
    return Pow(base, exponent)


def neg(e: Expr) -> Expr:
    return mul(MINUS_ONE, e)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


def div(a: Expr, b: Expr) -> Expr:
    return mul(a, power(b, MINUS_ONE))


def delta(a: Index, b: Index) -> Expr:
    assert a.dim == b.dim, f"delta between dimensions {a.dim} and {b.dim}"
    if a == b:
        return ONE
    return Delta(*sorted((a, b), key=lambda i: i.key))


def dim_size(dim: Dim) -> Expr:
    return const(dim) if isinstance(dim, int) else DimSize(dim)


def summation(indices: Iterable[Index], body: Expr) -> Expr:
    """``Σ_indices body``: drops indices the body does not use (multiplying by
    their dimension) and merges nested sums."""
    indices = tuple(dict.fromkeys(indices))
    if is_const(body, 0):
        return ZERO
    unused = [i for i in indices if i not in body.free]
    used = tuple(i for i in indices if i in body.free)
    scale = [dim_size(i.dim) for i in unused]
    if isinstance(body, Sum) and used:
        clash = {i.name for i in used} & {i.name for i in body.indices}
        if clash:
            avoid = index_names(body) | {i.name for i in used}
            fix = {}
            for i in body.indices:
                if i.name in clash:
                    fix[i] = fresh_index(avoid, i.dim)
                    avoid.add(fix[i].name)
            body = rename_bound(body, fix)
        used, body = used + body.indices, body.body
    if not used:
        return mul(*scale, body)
    used = tuple(sorted(used, key=lambda i: i.key))
    return mul(*scale, Sum(used, body))


def func(name: str, arg: Expr, order: int = 0) -> Expr:
    return Func(name, arg, order)


def map_indices(e: Expr, fn: Callable[[Index], Index]) -> Expr:
    """Apply ``fn`` to every index in ``e``, free and bound (used to settle dimensions)."""
    if isinstance(e, Var):
        return Var(e.name, tuple(fn(i) for i in e.indices))
    if isinstance(e, Delta):
        return delta(fn(e.a), fn(e.b))
    if isinstance(e, Sum):
        return summation(tuple(fn(i) for i in e.indices), map_indices(e.body, fn))
    if isinstance(e, Apply):
        return Apply(e.fn, map_indices(e.arg, fn), tuple(fn(i) for i in e.over),
                     tuple(fn(i) for i in e.out), e.order)
    if not e.children:
        return e
    return rebuild(e, tuple(map_indices(c, fn) for c in e.children))

__all__ = ["INDEX_POOL", "add", "base_exp", "canonical", "coeff_rest", "delta", "dim_size", "div", "erased_key", "fresh_index", "fresh_name", "func", "instantiate", "is_int", "map_indices", "mul", "neg", "possible_twins", "power", "rebuild", "rename", "rename_bound", "sub", "substitute", "summation", "unique_binders"]
