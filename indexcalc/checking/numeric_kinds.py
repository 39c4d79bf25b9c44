"""The kinds of mistake the numbers show (``mistakes.KINDS``): a sign, a layout, a factor.

Both sides are evaluated at the same random points (``evaluation.Values``).
The claim is the negative of the truth (``sign``), the truth with axes of
equal dimension swapped (``layout``: the transpose), or a constant multiple of
it (``factor``: the 2 of a square), at every point; robust to how either
side is written, so tried before the terms are compared (``mistakes``).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import permutations

import numpy as np

from indexcalc.checking.evaluation import Values, close


def numeric_kind(values: Values, truth: int, claim: int) -> tuple[str, str] | None:
    """sign, layout or factor, when the numbers say so at every point."""
    pairs = values.pairs(truth, claim)
    if not pairs or not any(np.any(np.abs(x) > 1e-9) for x, _ in pairs):
        return None
    if all(close(-x, y) for x, y in pairs):
        return "sign", "it has the wrong sign: it is the negative of the other side"
    for perm, swapped in axis_swaps(values.indices):
        if all(close(np.transpose(x, perm), y) for x, y in pairs):
            return transposed(swapped)
    ratio = _ratio(pairs)
    if ratio is not None:
        return "factor", f"it is {_show_ratio(ratio)} times the other side (a constant factor)"
    return None


def axis_swaps(idx):
    """Each reordering of the indices ``idx`` that keeps every dimension in place but
    the identity: ``(perm, "p and q")``, the names of the indices it moves."""
    for perm in permutations(range(len(idx))):
        if list(perm) == list(range(len(idx))):
            continue
        if all(idx[p].dim == idx[k].dim for k, p in enumerate(perm)):
            moved = [idx[k].name for k, p in enumerate(perm) if p != k]
            yield perm, " and ".join(moved)


def transposed(swapped: str) -> tuple[str, str]:
    """The layout verdict: the claim is the other side with axes ``swapped``."""
    return "layout", (f"it is the other side transposed (axes {swapped} swapped): the layout "
                      "convention puts the function's axes first, then the variable's, each "
                      "in its own order")


def _ratio(pairs) -> float | None:
    """The constant c with c x = y at every point, if the numbers show one.  The
    entries of one point are no evidence (where a step function leaves one row, both
    sides are x_q times a number), so the ratio must hold at two points at least
    where the derivative is not 0."""
    if sum(bool(np.any(np.abs(x) > 1e-9)) for x, _ in pairs) < 2:
        return None
    x, y = max(pairs, key=lambda p: float(np.max(np.abs(p[0]), initial=0)))
    k = int(np.argmax(np.abs(x)))
    c = float(np.ravel(y)[k] / np.ravel(x)[k])
    if not np.isfinite(c) or abs(c) < 1e-12 or close(c, 1.0) or close(c, -1.0):
        return None
    return c if all(close(c * a, b) for a, b in pairs) else None


def _show_ratio(c: float) -> str:
    f = Fraction(c).limit_denominator(24)
    return str(f) if abs(float(f) - c) < 1e-9 * max(1, abs(c)) else f"{c:.6g}"
