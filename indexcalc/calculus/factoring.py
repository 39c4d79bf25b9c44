"""Factors shared by the terms of a sum, found up to renaming bound indices and with
powers split, for display (``factor`` in simplify.py takes them out).

A person writes ``(δ_ip − u_i u_p) / sqrt(Σ_l v_l²)``, not ``δ_ip / sqrt(Σ_l v_l²) −
u_i u_p / sqrt(Σ_k v_k²)``: the two denominators are one factor spelt with different
bound names.  And ``a h³ (1 − t²) + b h (1 − t²) + c`` is ``(1 − t²) (a h³ + b h) + c``:
a compound factor shared by some of the terms is taken out of those (a constant, a
dimension size or a single array stays on each term: ``x − y/n − z/n`` keeps its
``/n``).
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.ir import (
    Const,
    DimSize,
    Expr,
    Mul,
    Var,
    base_exp,
    canonical,
    coeff_rest,
    const,
    mul,
    power,
    var_names,
)

Split = tuple[Fraction, list[tuple[Expr, Expr]]]          # coefficient, (base, exponent)


def split(term: Expr) -> Split:
    c, rest = coeff_rest(term)
    factors = rest.factors if isinstance(rest, Mul) else (rest,)
    return c, [base_exp(f) for f in factors if f != const(1)]


def _find(parts, key) -> int | None:
    for k, (b, _) in enumerate(parts):
        if canonical(b) == key:
            return k
    return None


def _meet(x, y):
    """The power of a base both ``b^x`` and ``b^y`` contain, or None: powers are not
    split (``u_i (2 δ_ip s + u_i h_p)`` reads worse than ``2 u_i δ_ip s + u_i² h_p``)."""
    return x if x == y else None


def shared(splits: list[Split], keep=lambda base: True) -> list[Expr]:
    """The factors (``base^exponent``) every term has, bases compared up to bound names."""
    out = []
    for base, exp in splits[0][1]:
        if not keep(base):
            continue
        key, low = canonical(base), exp
        for _, parts in splits[1:]:
            k = _find(parts, key)
            low = None if k is None else _meet(low, parts[k][1])
            if low is None:
                break
        if low is not None and all(canonical(base_exp(f)[0]) != key for f in out):
            out.append(power(base, low))
    return out


def divide(s: Split, factors: list[Expr]) -> Expr:
    """The term ``s`` with ``factors`` (which it has, see ``shared``: the same powers)
    taken out."""
    c, parts = s
    parts = list(parts)
    for f in factors:
        del parts[_find(parts, canonical(base_exp(f)[0]))]
    return mul(const(c), *(power(b, e) for b, e in parts))


def groupable(base: Expr) -> bool:
    """A factor worth taking out of some of the terms: a compound one with arrays in it
    (``1 − tanh(s)²``, ``Σ_k u_k v_k``); not a constant, a dimension size or a single
    array, which read as well left on each term."""
    return not isinstance(base, (Const, DimSize, Var)) and bool(var_names(base))


def best_group(splits: list[Split]) -> tuple[list[int], list[Expr]] | None:
    """The terms (at least two, not all) sharing the most factors with arrays in them,
    and those factors; None when no two terms share one."""
    best = None
    for a in range(len(splits)):
        for b in range(a + 1, len(splits)):
            common = shared([splits[a], splits[b]], groupable)
            if not common:
                continue
            members = [k for k, s in enumerate(splits)
                       if len(shared([s, splits[a]], groupable)) >= len(common)
                       and shared([splits[a], splits[b], s], groupable)]
            common = shared([splits[k] for k in members], groupable)
            if common and len(members) < len(splits) and (
                    best is None or (len(members), len(common)) > (len(best[0]), len(best[1]))):
                best = (members, common)
    return best
