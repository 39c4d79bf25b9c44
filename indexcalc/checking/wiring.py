"""How the factors of a term are wired: the part of ``mistakes`` that compares two terms
made of the same factors.  A term is flattened to its factors under its sums
(``factors_of``), keyed with its index names erased (``shape_key``, ``signature``),
and two such terms are told apart (``wiring``) as a summed index written as a free
one, the reverse, a transposed tensor, or any other rewiring (a product).
"""

from __future__ import annotations

from itertools import permutations

from indexcalc.calculus.simplify import simplify
from indexcalc.errors import IndexcalcError
from indexcalc.ir import (
    Add,
    Apply,
    Const,
    Delta,
    DimSize,
    Expr,
    Func,
    Mul,
    Pow,
    Sum,
    Var,
    canonical,
    fresh_index,
    index_names,
    mul,
    rename,
    rename_bound,
    summation,
)


def factors_of(term: Expr) -> tuple[list[Expr], set]:
    """The factors of a product term under its sums (nested sums and integer powers
    flattened: ``o_k Σ_j t_j`` has the factors o_k, t_j), and the summed indices."""
    bound: set = set()
    out, stack, taken = [], [term], set(index_names(term))
    while stack:
        n = stack.pop()
        if isinstance(n, Sum):
            bound |= set(n.indices)
            stack.append(n.body)
        elif isinstance(n, Mul):
            stack.extend(reversed(n.factors))
        elif (isinstance(n, Pow) and not isinstance(n.base, (Mul, Add))
              and isinstance(n.exponent, Const)
              and n.exponent.value > 0
              and float(n.exponent.value).is_integer() and n.exponent.value <= 8):
            stack.extend(_copies(n.base, int(n.exponent.value), taken))
        else:
            out.append(n)
    return out, bound


def _copies(base: Expr, n: int, taken: set) -> list[Expr]:
    """n copies of ``base``; a sum's copies get their own bound indices
    ((Σ_k u_k)^2 is Σ_k u_k Σ_k' u_k')."""
    out = [base]
    for _ in range(n - 1):
        if isinstance(base, Sum):
            fix = {}
            for i in base.indices:
                fix[i] = fresh_index(taken, i.dim)
                taken.add(fix[i].name)
            out.append(rename_bound(base, fix))
        else:
            out.append(base)
    return out


def shape_key(e: Expr) -> tuple:
    """A key of ``e`` with every index name erased (dimensions kept)."""
    if isinstance(e, Var):
        return ("V", e.name, tuple(str(i.dim) for i in e.indices))
    if isinstance(e, Delta):
        return ("δ", str(e.a.dim))
    if isinstance(e, (Const, DimSize)):
        return ("C", str(e.key))
    if isinstance(e, (Mul, Pow)):                  # x_k x_l and x_k^2: the same factors
        return ("M", tuple(sorted(_powers_apart(e))))
    kids = tuple(sorted(shape_key(c) for c in e.children))
    if isinstance(e, Func):
        return ("F", e.name, e.order, kids)
    if isinstance(e, Apply):
        return ("A", e.fn, e.order, len(e.over), kids)
    if isinstance(e, Sum):
        return kids[0]
    return (type(e).__name__, kids)


def _powers_apart(e: Expr) -> list[tuple]:
    """The shapes of a product's factors, small integer powers written out."""
    out = []
    for f in (e.factors if isinstance(e, Mul) else (e,)):
        if (isinstance(f, Pow) and isinstance(f.exponent, Const) and 0 < f.exponent.value <= 8
                and float(f.exponent.value).is_integer()):     # exact, or a float like 2.0
            out.extend([shape_key(f.base)] * int(f.exponent.value))
        elif isinstance(f, Pow):
            out.append(("P", shape_key(f.base), shape_key(f.exponent)))
        else:
            out.append(shape_key(f))
    return out


def signature(term: Expr, deltas: bool = True) -> tuple:
    factors, _ = factors_of(term)
    return tuple(sorted(shape_key(f) for f in factors if deltas or not isinstance(f, Delta)))


def wiring(truth: Expr, claim: Expr) -> str:
    """``missing sum`` if the claim is the truth with a summed index written as a
    free one (``Σ_j t_j o_k`` as ``t_k o_k``), ``extra sum`` the reverse, ``layout``
    for a transposed tensor, else ``product``."""
    if _drops_a_sum(truth, claim, anew=True):
        return "missing sum"
    if _drops_a_sum(claim, truth):
        return "extra sum"
    if _transposed_factor(truth, claim):
        return "layout"
    return "product"


def _flat_key(term: Expr):
    """The canonical key of ``term`` rebuilt from its factors, as the rewired terms it is
    compared with are (a square of a sum written as two sums: ``(Σ_q W_lq v_q)^2`` is
    ``Σ_{q,r} W_lq v_q W_lr v_r`` on both sides)."""
    factors, bound = factors_of(term)
    try:
        return canonical(simplify(summation(tuple(bound), mul(*factors))))
    except IndexcalcError:
        return canonical(term)


def _transposed_factor(truth: Expr, claim: Expr) -> bool:
    """Is ``claim`` the term ``truth`` with one tensor transposed (W1_ij as W1_ji)?"""
    factors, bound = factors_of(truth)
    want = _flat_key(claim)
    for k, f in enumerate(factors):
        if not isinstance(f, Var) or len(f.indices) < 2:
            continue
        for perm in permutations(f.indices):
            if perm == f.indices or any(a.dim != b.dim for a, b in zip(perm, f.indices)):
                continue
            moved = factors[:k] + [Var(f.name, perm)] + factors[k + 1:]
            try:
                if canonical(simplify(summation(tuple(bound), mul(*moved)))) == want:
                    return True
            except IndexcalcError:
                continue
    return False


def _drops_a_sum(a: Expr, b: Expr, anew: bool = False) -> bool:
    """Is ``b`` the term ``a`` with one of its sums dropped, its index renamed to a
    free index of ``a`` (or, ``anew``, of ``b`` alone: ``a`` is the truth, constant
    along an axis of the derivative, ``Σ_{i,j} W_ij`` written ``Σ_j W_pj``)?  A claim
    summed along every place of an axis (``f'(z1) W1 δ2`` for ``f'(z1) ⊙ (W1 δ2)``) is
    not an extra sum but a product wired as a contraction."""
    factors, bound = factors_of(a)
    want = _flat_key(b)
    for j in bound:
        for k in sorted(a.free | (b.free if anew else set()), key=lambda i: i.name):
            if k.dim != j.dim:
                continue
            moved = summation(tuple(i for i in bound if i != j),
                              mul(*(rename(f, {j: k}) for f in factors)))
            try:
                if canonical(simplify(moved)) == want:
                    return True
            except IndexcalcError:
                continue
    return False
