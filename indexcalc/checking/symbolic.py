"""The symbolic side of a verdict: are two sides equal once written in the same names?

The derivative is written in the names its simplification kept (``6 x_i``,
``a1_i f'(z2_j) L'(a2)_j``); a claim in whatever names its author used (``2 f
x_i / s``, ``δ2``, ``O``).  Comparing them as written would call every claim
that uses another name wrong, so the names are unfolded first:

1. the difference as written, expanded (most claims end here);
2. the claim in the derivative's names: the names only the derivative uses
   folded into the claim (``σ(r)`` becomes ``h``), those only the claim uses
   inlined;
3. each side with the names that only it uses inlined, latest definition first,
   until both sides use the same names (``f`` becomes ``3 s``, then ``3 Σ x²``);
4. everything inlined.

Expansion is bounded (``BUDGET`` nodes per side, or ``GROWTH`` times the larger
side as written, and ``MAX_TERMS`` terms); past the bound the symbolic side has
no opinion and the numbers decide alone.  Each
attempt returns the difference it reached, so that a failed check shows the
difference in the fewest names (``comparable``).
"""

from __future__ import annotations

from dataclasses import dataclass

from indexcalc.calculus.rewrite import definition_rule, rewrite
from indexcalc.calculus.simplify import expand, simplify
from indexcalc.errors import IndexcalcError
from indexcalc.ir import ZERO, Expr, Index, size, sub, substitute, var_names

BUDGET = 600                # nodes per side beyond which nothing more is inlined
GROWTH = 2                  # ... or this many times the larger side as written, if more


@dataclass
class Names:
    """What each name a side may use stands for: ``name -> (indices, body)``, in
    definition order (a body uses only names before it)."""
    bodies: dict[str, tuple[tuple[Index, ...], Expr]]

    def inline(self, e: Expr, names: set[str]) -> Expr:
        for name in reversed(list(self.bodies)):
            if name in names and name in var_names(e):
                indices, body = self.bodies[name]
                e = substitute(e, name, indices, body)
        return e


@dataclass
class Comparison:
    equal: bool | None              # None: too large to tell
    left: Expr                      # the sides in the names they were compared in
    right: Expr
    difference: Expr | None


def compare(left: Expr, right: Expr, names: Names, rules=()) -> Comparison:
    """Canonical forms of the sides as written, then unfolded apart, then inlined.
    A difference is shown in the sides' common names (the unfolded-apart attempt)."""
    tried: list[Comparison] = []
    for l2, r2 in _attempts(left, right, names, _budget(left, right)):
        try:
            difference = simplify(sub(l2, r2), rules)
            if expand(difference) == ZERO:
                return Comparison(True, l2, r2, ZERO)
        except (IndexcalcError, RecursionError):       # too deep to expand: no opinion
            break
        tried.append(Comparison(False, l2, r2, difference))
    if not tried:
        return Comparison(None, left, right, None)
    same = [t for t in tried if _named(t.left, names) == _named(t.right, names)]
    return same[0] if same else tried[0]


def comparable(left: Expr, right: Expr, names: Names) -> list[tuple[Expr, Expr]]:
    """The sides written in the same names, in the ways the budget allows: the right
    side folded into the left side's names, both unfolded apart, both inlined.  The
    budget bounds what inlining adds: the sides as written are always comparable
    (``compare`` has expanded them already; a claim's length has its own limit), so
    that a claim typed out term by term, larger than the budget, is still read term
    by term."""
    out, budget = [], _budget(left, right)
    for n, (l2, r2) in enumerate(_attempts(left, right, names, budget)):
        if n and (size(l2) > budget or size(r2) > budget):
            break
        if _named(l2, names) == _named(r2, names) and (l2, r2) not in out:
            out.append((l2, r2))
    return out


def _budget(left: Expr, right: Expr) -> int:
    """Nodes a side may grow to by inlining: a long claim typed in full may be
    compared with the derivative inlined to the same length."""
    return max(BUDGET, GROWTH * max(size(left), size(right)))


def _attempts(left: Expr, right: Expr, names: Names, budget: int):
    yield left, right
    folded = _folded(left, right, names, budget)
    if folded is not None:
        yield left, folded
    l2, r2 = left, right
    for _ in range(len(names.bodies) + 1):
        only = _named(l2, names) ^ _named(r2, names)
        if not only:
            break
        latest = max(only, key=list(names.bodies).index)
        l2 = names.inline(l2, {latest}) if latest in var_names(l2) else l2
        r2 = names.inline(r2, {latest}) if latest in var_names(r2) else r2
        if size(l2) > budget or size(r2) > budget:
            return
    if (l2, r2) != (left, right):
        yield l2, r2
    every = set(names.bodies)
    l3, r3 = l2, r2
    for _ in range(len(names.bodies) + 1):
        if not (_named(l3, names) | _named(r3, names)):
            break
        l3, r3 = names.inline(l3, every), names.inline(r3, every)
        if size(l3) > budget or size(r3) > budget:
            return
    if (l3, r3) != (l2, r2):
        yield l3, r3


def _folded(left: Expr, right: Expr, names: Names, budget: int) -> Expr | None:
    """The right side in the left side's names: the names only the left uses folded
    into it, the names only it uses inlined.  None if that does not reach them."""
    r2 = right
    for name in _named(left, names) - _named(right, names):
        indices, body = names.bodies[name]
        rule = definition_rule(name, indices, simplify(body))
        if rule is not None:
            r2 = rewrite(r2, [rule])
    r2 = names.inline(r2, _named(r2, names) - _named(left, names))
    if r2 == right or _named(r2, names) != _named(left, names) or size(r2) > budget:
        return None
    return r2


def _named(e: Expr, names: Names) -> set[str]:
    return set(var_names(e)) & set(names.bodies)
