"""What kind of mistake makes a claim differ from the truth, and the smallest difference.

A failed check is more useful when it says *which* of the usual mistakes was
made.  The kinds (``KINDS``) are the ones hand derivations of gradients go wrong
by; each has a test, tried in this order:

* from the numbers (robust to how either side is written; ``numeric_kinds``):
  ``sign`` (the claim is the negative), ``layout`` (the claim is the truth with
  axes of equal dimension swapped: the transpose), ``factor`` (a constant
  multiple: the 2 of a square);
* ``assumption`` (the claim holds when a named sum is 1 or a square input is
  symmetric: decided by the caller, which can evaluate under the assumption);
* from the expanded sides, term by term, once they are written in the same
  names: the terms of the truth the claim lacks (``term``: a missing term of
  the product rule) or has extra; one term with the wrong sign or coefficient;
  and terms made of the same factors wired differently: a summed index written
  as a free one is a ``sum`` (``Σ_j t_j`` written ``t_k``; found by dropping each
  sum of one side in turn), and the reverse an extra sum, as is a delta summed
  away; one tensor with its indices swapped is ``layout`` (``W1ᵀ δ2`` for
  ``W1 δ2``); any other rewiring is ``product`` (⊙ where a matrix product
  belongs, or the reverse: ``h ⊙ (1 − h)`` multiplied as matrices).

A claim matching none is classified None, with the whole difference.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.calculus.simplify import expand
from indexcalc.checking.numeric_kinds import axis_swaps, transposed
from indexcalc.checking.wiring import factors_of, shape_key, signature, wiring
from indexcalc.errors import IndexcalcError
from indexcalc.functions import TENSOR
from indexcalc.ir import (
    Add,
    Apply,
    Const,
    Expr,
    add,
    canonical,
    coeff_rest,
    const,
    fresh_indices,
    index_names,
    mul,
    rename,
    summation,
)
from indexcalc.read.text import to_text

KINDS = {
    "layout": "transposed, or the wrong layout",
    "product": "⊙ where a matrix product belongs, or the reverse",
    "sum": "a missing or extra sum over an index",
    "term": "a missing term (of the product rule)",
    "sign": "a sign",
    "factor": "a constant factor",
    "assumption": "holds only under an assumption the model does not make",
}
MAX_TERMS = 40              # expanded terms per side beyond which terms are not compared


# ---------------------------------------------------------------- from the terms

def structural_kind(truth: Expr, claim: Expr) -> tuple[str, str] | None:
    """term, sign, factor, sum or product, from the expanded sides' terms; else a
    term from the sides' terms as written (a dropped ``Σ_k h_k`` whose expansion
    has a constant that cancels another: ``n + Σ_k x_k²`` against ``−1``)."""
    return _expanded_kind(truth, claim) or _written_terms(truth, claim)


def terms_left_out(truth: Expr, claim: Expr) -> tuple[str, str] | None:
    """A term, or terms, that one side has and the other leaves out, with the model's
    names as each side writes them (``δ_ip (1 − h − σ(x_i))`` against ``δ_ip − δ_ip
    σ(x_i)`` misses ``−δ_ip h``): what the claim did, though with ``h = 2`` inlined
    the same numbers read as a sign.  Else None."""
    try:
        t_terms, c_terms = _expanded_terms(truth, claim)
    except (IndexcalcError, RecursionError):
        return None
    if len(t_terms) > MAX_TERMS or len(c_terms) > MAX_TERMS:
        return None
    return _left_out(t_terms, c_terms)


def _written_terms(truth: Expr, claim: Expr) -> tuple[str, str] | None:
    t_terms = _terms(truth)
    return _left_out(t_terms, _reconciled(t_terms, _terms(claim)))


def _left_out(t_terms: dict, c_terms: dict) -> tuple[str, str] | None:
    """"term" if one side's terms are the other's with some left out."""
    t, c = _coefficients_of(t_terms), _coefficients_of(c_terms)
    if t != c and c.items() <= t.items():
        return "term", "it misses the term " + _show(
            {t_terms[k][1]: v for k, v in t.items() if k not in c})
    if t != c and t.items() <= c.items():
        return "term", "it has an extra term " + _show(
            {c_terms[k][1]: v for k, v in c.items() if k not in t})
    return None


def _expanded_kind(truth: Expr, claim: Expr) -> tuple[str, str] | None:
    try:
        t_terms, c_terms = _expanded_terms(truth, claim)
    except (IndexcalcError, RecursionError):
        return None
    if len(t_terms) > MAX_TERMS or len(c_terms) > MAX_TERMS:
        return None
    swapped = _swapped_free(truth, c_terms)
    if swapped:
        return transposed(swapped)
    missing = {t_terms[k][1]: t_terms[k][0] for k in t_terms if k not in c_terms}
    extra = {c_terms[k][1]: c_terms[k][0] for k in c_terms if k not in t_terms}
    changed = {t_terms[k][1]: (t_terms[k][0], c_terms[k][0]) for k in t_terms
               if k in c_terms and c_terms[k][0] != t_terms[k][0]}
    if changed and not missing and not extra:
        return _merged_term(changed) or _coefficients(changed)
    if changed:
        return _partly_missing(t_terms, c_terms, extra) or _merged(missing, extra, changed)
    if not missing and not extra:
        return None
    if not extra:
        return _cancelled_sum(missing, "extra sum") or (
            "term", f"it misses the term {_show(missing)}")
    if not missing:
        return _cancelled_sum(extra, "missing sum") or (
            "term", f"it has an extra term {_show(extra)}")
    return _rewired(*_restore_totals(missing, extra))


def _swapped_free(truth: Expr, c_terms: dict) -> str | None:
    """The free indices of equal dimension whose swap makes the truth the claim, term by
    term (the whole result transposed: the numbers may not show it where both sides
    are round-off at every point), or None."""
    free = sorted(truth.free, key=lambda i: i.name)
    for perm, swapped in axis_swaps(free):
        try:
            moved = _terms(expand(rename(truth, {free[k]: free[p] for k, p in enumerate(perm)})))
        except (IndexcalcError, RecursionError):
            return None
        if _coefficients_of(moved) == _coefficients_of(_reconciled(moved, c_terms)):
            return swapped
    return None


def _expanded_terms(truth: Expr, claim: Expr) -> tuple[dict, dict]:
    t_terms = _terms(expand(truth))
    return t_terms, _reconciled(t_terms, _terms(expand(claim)))


ROUNDOFF = Fraction(1, 10 ** 9)     # relative: coefficients this close are the same number


def _reconciled(t_terms: dict, c_terms: dict) -> dict:
    """The claim's terms, each coefficient within round-off of the truth's coefficient of
    the same term taken as the truth's: decimals multiplied out in another order (the
    claim typed from the printed expansion) differ in their last bits."""
    out = {}
    for k, (c, shown) in c_terms.items():
        t = t_terms[k][0] if k in t_terms else None
        close = t is not None and abs(c - t) <= ROUNDOFF * max(abs(c), abs(t))
        out[k] = (t if close else c, shown)
    return out


def _terms(e: Expr) -> dict:
    """``{canonical term: (coefficient, the term as written)}`` of an expanded expression."""
    out: dict = {}
    for t in (e.terms if isinstance(e, Add) else (e,)):
        c, rest = coeff_rest(t)
        key = canonical(rest)
        total, shown = out.get(key, (Fraction(0), rest))
        out[key] = (total + Fraction(c), shown)
    return {k: v for k, v in out.items() if v[0] != 0}


def _coefficients_of(terms: dict) -> dict:
    """``{canonical term: coefficient}``: how two sides' terms compare (the terms as
    written differ in their bound names)."""
    return {k: c for k, (c, _) in terms.items()}


def _show(terms: dict) -> str:
    return to_text(add(*(_term_expr(t, c) for t, c in terms.items())))


def _partly_missing(t_terms: dict, c_terms: dict, extra: dict):
    """Terms missing where inlining merged them with others (2 v_i Σ u v written
    as 1 v_i Σ u v): every coefficient of the claim between 0 and the truth's."""
    keys = set(t_terms) | set(c_terms)
    ratios = [c_terms.get(k, (Fraction(0),))[0] / t_terms[k][0] if k in t_terms else None
              for k in keys]
    if extra or any(r is None or not 0 <= r < 1 for r in ratios):
        return None
    gone = {t_terms[k][1]: t_terms[k][0] - c_terms.get(k, (Fraction(0),))[0]
            for k in keys if c_terms.get(k, (None,))[0] != t_terms[k][0]}
    return "term", f"it misses the term {_show(gone)}"


def _merged(missing: dict, extra: dict, changed: dict) -> tuple[str, str] | None:
    """A rewired term that simplification merged into a term both sides have: ``Σ_a
    h_pa softmax(x)_a`` written ``Σ_{a,i} h_pa softmax(x)_i``, which is ``Σ_a h_pa``,
    so the claim has that term's coefficient changed and the truth's term missing.  The
    change is taken as an extra term of the claim (or a missing one) and the terms'
    wiring compared as when no coefficient changed."""
    for into_extra in (True, False):
        m, e = dict(missing), dict(extra)
        for t, (ct, cc) in changed.items():
            if into_extra:
                e[t] = cc - ct
            else:
                m[t] = ct - cc
        found = _rewired(*_restore_totals(m, e)) if m and e else None
        if found is not None:
            return found
    return None


def _merged_term(changed: dict) -> tuple[str, str] | None:
    """A term left out (or added) whose expansion merged into terms both sides have: the
    claim's coefficients, in unequal ratios to the truth's (else a factor), all between
    0 and the truth's (or all beyond it)."""
    ratios = [c / v for v, c in changed.values()]
    if all(abs(r - ratios[0]) <= ROUNDOFF * abs(ratios[0]) for r in ratios):
        return None
    if all(0 <= r < 1 for r in ratios):
        return "term", "it misses the term " + _show({t: v - c for t, (v, c) in changed.items()})
    if all(r > 1 for r in ratios):
        return "term", "it has an extra term " + _show({t: c - v for t, (v, c) in changed.items()})
    return None


def _coefficients(changed: dict) -> tuple[str, str]:
    """Terms both sides have, with other coefficients: a sign, or a factor."""
    shown = ", ".join(_term(t, c) for t, (_, c) in changed.items())
    truth = ", ".join(_term(t, v) for t, (v, _) in changed.items())
    if all(c == -v for v, c in changed.values()):
        return "sign", f"the term {truth} has the wrong sign (it has {shown})"
    return "factor", f"a constant factor: it has {shown} where the other side has {truth}"


def _cancelled_sum(terms: dict, how: str) -> tuple[str, str] | None:
    """Two terms one side lacks, ``t`` and ``t f_i`` with coefficients c and −c / total,
    where f's entries add up to total (softmax: 1): the other side has ``t f`` summed
    over f's axis (``Σ_j δ_ip softmax(v)_j`` for ``δ_ip softmax(v)_i``), which is total
    ``t`` and cancelled ``t``.  Only when that pair is every term lacking."""
    if len(terms) != 2:
        return None
    (a, ca), (b, cb) = terms.items()
    for (t, ct), (o, co) in (((a, ca), (b, cb)), ((b, cb), (a, ca))):
        lacking = _summed_away(o, t)
        if not lacking:
            continue
        total = Fraction(1)
        for f in lacking:
            total *= Fraction(TENSOR[f.fn].total)
        if ct + co * total == 0:
            return "sum", (f"{_SAYS[how]}: the term {_term(o, co)} summed over the axis of "
                           f"{to_text(lacking[0])} is {_term(t, co * total)}, which cancels "
                           f"{_term(t, ct)}; one side has both terms, the other neither")
    return None


def _restore_totals(missing: dict, extra: dict) -> tuple[dict, dict]:
    """A factor whose entries add up to a known number (softmax: 1) that a term of one
    side has and the matching term of the other lacks was summed over its own axis
    there, and simplification put the number in the sum's place (``Σ_i cos(u_p)
    softmax(h)_i`` is ``cos(u_p)``).  That term is written with the sum again, so
    that its wiring (an extra sum, a split index) shows."""
    sides = [dict(missing), dict(extra)]
    for a, b in ((0, 1), (1, 0)):
        for t in list(sides[a]):
            for o, c2 in list(sides[b].items()):
                lacking = _summed_away(t, o)
                if not lacking:
                    continue
                taken = set(index_names(t)) | set(index_names(o))
                back, total = o, Fraction(1)
                for f in lacking:
                    fresh = fresh_indices(taken, f.out)
                    back = mul(back, summation(fresh, rename(f, dict(zip(f.out, fresh)))))
                    total *= Fraction(TENSOR[f.fn].total)
                del sides[b][o]
                sides[b][back] = c2 / total
                break
    return sides[0], sides[1]


def _summed_away(t: Expr, o: Expr) -> list[Apply]:
    """The factors of ``t`` that ``o`` lacks, if ``o`` has no other difference and
    each of those factors' entries add up to a known number."""
    tf, of = factors_of(t)[0], factors_of(o)[0]
    rest = [shape_key(f) for f in of if not isinstance(f, Const)]
    lacking = []
    for f in tf:
        if shape_key(f) in rest:
            rest.remove(shape_key(f))
        else:
            lacking.append(f)
    if rest or not all(isinstance(f, Apply) and not f.order and f.fn in TENSOR
                       and TENSOR[f.fn].total for f in lacking):
        return []
    return lacking


def _rewired(missing: dict, extra: dict) -> tuple[str, str] | None:
    """The missing and extra terms made of the same factors (by signature, with the
    same total coefficient per signature; or the same but for a Kronecker delta: a
    delta summed away, or one too many)."""
    for deltas in (True, False):
        groups: dict = {}
        for side, terms in ((0, missing), (1, extra)):
            for t, c in terms.items():
                g = groups.setdefault(signature(t, deltas), ([], [], [Fraction(0)] * 2))
                g[side].append((t, c))
                g[2][side] += c
        if all(g[0] and g[1] and g[2][0] == g[2][1] for g in groups.values()):
            break
    else:
        return _sum_across(missing, extra)
    pairs = [(t, o, c) for g in groups.values() for t, c in g[0] for o, _ in g[1]]
    if not deltas:
        t, o, c = pairs[0]
        return "sum", (f"a delta summed away, or one too many: it has {_term(o, c)} where the "
                       f"other side has {_term(t, c)}")
    found = [(wiring(t, o), t, o, c) for t, o, c in pairs]
    for how in ("missing sum", "extra sum", "layout", "product"):
        for wired, t, o, c in found:
            if wired == how:
                return _KIND[how], f"{_SAYS[how]}: it has {_term(o, c)} where the other " \
                                   f"side has {_term(t, c)}"
    return None


def _sum_across(missing: dict, extra: dict):
    """A sum dropped where naming its index as the free one changed the term's form
    (Σ_o v_o cos(v_p u_o + u_p v_o) written v_p cos(2 u_p v_p))."""
    for t, c in missing.items():
        for o, c2 in extra.items():
            if c == c2 and wiring(t, o) in ("missing sum", "extra sum"):
                how = wiring(t, o)
                return "sum", f"{_SAYS[how]}: it has {_term(o, c)} where the other side " \
                              f"has {_term(t, c)}"
    return None


_KIND = {"missing sum": "sum", "extra sum": "sum", "layout": "layout", "product": "product"}
_SAYS = {"missing sum": "a missing sum (a summed index written as a free one)",
         "extra sum": "an extra sum (a free index summed)",
         "layout": "a transposed tensor (the wrong layout)",
         "product": "the same factors multiplied differently (⊙ where a matrix product "
                    "belongs, or the reverse)"}


def _term(t: Expr, c) -> str:
    return to_text(_term_expr(t, c))


def _term_expr(t: Expr, c) -> Expr:
    """``c t``, a coefficient a decimal made (its exact value's denominator a large power
    of two) shown as that decimal, not as 6343421406142959/2251799813685248."""
    if isinstance(c, Fraction) and c.denominator > 2 ** 20:
        c = float(c)
    return mul(const(c), t)
