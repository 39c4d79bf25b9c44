"""The IR's algebra: the smart constructors (``add``, ``mul``, ``power``,
``summation``, ``delta``...), ``rebuild`` through them, and renaming indices.

The constructors flatten, fold constants, drop zeros and order commutative
children, so the canonical form lives here and nowhere else.  Renaming lives
beside them because the two are one recursion: renaming rebuilds through the
constructors (a delta may become 1, a sum may merge), and ``summation`` renames
a nested sum's binders apart before merging it.  Only bound indices are renamed.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from operator import attrgetter

from indexcalc.errors import DivisionByZero
from indexcalc.ir.affine import InRange, in_range, linear, sub_free
from indexcalc.ir.keys import canonical, possible_twins
from indexcalc.ir.names import fresh_index
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
    index_names,
    is_const,
)

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
        return Var(e.name, tuple(_renamed(i, mapping) for i in e.indices))
    if isinstance(e, Delta):
        return delta(_renamed(e.a, mapping), _renamed(e.b, mapping))
    if isinstance(e, InRange):
        return in_range(_renamed(e.sub, mapping))
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
        return Var(e.name, tuple(_renamed(i, mapping) for i in e.indices))
    if isinstance(e, Delta):
        if type(e.a) is not Index or type(e.b) is not Index:
            return delta(_renamed(e.a, mapping), _renamed(e.b, mapping))
        return Delta(*sorted((mapping.get(e.a, e.a), mapping.get(e.b, e.b)), key=_KEY))
    if isinstance(e, InRange):
        return in_range(_renamed(e.sub, mapping))
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


def _renamed(s, mapping: dict):
    """A subscript renamed: an Index, or an affine subscript's indices."""
    return mapping.get(s, s) if type(s) is Index else s.map(lambda i: mapping.get(i, i))


def rename_bound(e: Expr, fix: dict[Index, Index]) -> Expr:
    """Rename the indices bound at the top of ``e`` (a Sum or an Apply)."""
    if isinstance(e, Sum):
        return Sum(tuple(fix.get(i, i) for i in e.indices), rename(e.body, fix))
    assert isinstance(e, Apply)
    return Apply(e.fn, rename(e.arg, fix), tuple(fix.get(i, i) for i in e.over),
                 e.out, e.order)


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
    """``δ_ab``; either side may be an affine subscript (``δ_{p,i+k}``), then kept with
    the plain index first (two affine sides are sorted like indices)."""
    assert a.dim == b.dim, f"delta between dimensions {a.dim} and {b.dim}"
    if a == b:
        return ONE
    if type(a) is not Index or type(b) is not Index:
        if not (sub_free(a) | sub_free(b)):                   # two numbers: δ_{2,3}
            return ONE if linear(a) == linear(b) else ZERO
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


__all__ = [
    "add",
    "base_exp",
    "coeff_rest",
    "delta",
    "dim_size",
    "div",
    "func",
    "is_int",
    "mul",
    "neg",
    "power",
    "rebuild",
    "rename",
    "rename_bound",
    "sub",
    "summation",
]
