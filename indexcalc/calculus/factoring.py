"""Factors shared by the terms of a sum, found up to renaming bound indices and with
powers split, for display (``factor`` in simplify.py takes them out).

A person writes ``(δ_ip − u_i u_p) / sqrt(Σ_l v_l²)``, not ``δ_ip / sqrt(Σ_l v_l²) −
u_i u_p / sqrt(Σ_k v_k²)``: the two denominators are one factor spelt with different
bound names.  And ``h³ (1 − t²) a + h (1 − t²) b + c`` is ``h (1 − t²) (h² a + b) + c``:
a factor shared by some of the terms (not a constant or a dimension size, which stay
where they are: ``x − y/n − z/n`` keeps its ``/n`` on each term) is taken out of those.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.ir import (
    Const,
    DimSize,
    Expr,
    Mul,
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


def _numeric(e: Expr):
    return e.value if isinstance(e, Const) else None


def _find(parts, key) -> int | None:
    for k, (b, _) in enumerate(parts):
        if canonical(b) == key:
            return k
    return None


def _meet(x, y):
    """The power of a base both ``b^x`` and ``b^y`` contain, or None."""
    if x == y:
        return x
    a, b = _numeric(x), _numeric(y)
    if a is None or b is None or (a > 0) != (b > 0):
        return None
    return const(min(a, b) if a > 0 else max(a, b))


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
        if low is not None and all(canonical(b) != key for b, _ in
                                   ((base_exp(f)) for f in out)):
            out.append(power(base, low))
    return out


def divide(s: Split, factors: list[Expr]) -> Expr:
    """The term ``s`` with ``factors`` (which it has, see ``shared``) taken out."""
    c, parts = s
    parts = list(parts)
    for f in factors:
        base, exp = base_exp(f)
        k = _find(parts, canonical(base))
        b, e = parts[k]
        left = _numeric(e) - _numeric(exp) if e != exp else 0
        parts[k] = (b, const(left))
    return mul(const(c), *(power(b, e) for b, e in parts if e != const(0)))


def groupable(base: Expr) -> bool:
    """A factor worth taking out of some of the terms: one with arrays in it."""
    return not isinstance(base, (Const, DimSize)) and bool(var_names(base))


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
