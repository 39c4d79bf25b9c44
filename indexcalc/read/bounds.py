"""Printing shifted subscripts and the bounds they imply.

A derivative through a convolution reads its operands at shifted positions,
``c_{p−k}``, and such a read is zero outside the operand's range.  A careful
person writing it by hand states where that happens: ``Σ_k c_{p−k} w_k`` with
``0 ≤ p − k < m``.  The printers do the same: every read whose subscript can
leave its range gets its range condition printed beside it, as an Iverson
bracket that parses back (``[0 ≤ p − k < m]``); a fractional subscript
(``c_{(p−k)/2}``, a strided backward pass) also states the divisibility it
needs (``[2 | p − k, 0 ≤ (p − k)/2 < m]``).  A range condition in the IR
prints the same way.
"""

from __future__ import annotations

from indexcalc.ir import Expr, Index, Mul, Var
from indexcalc.ir.affine import InRange, decide, implied_by, show_condition, show_sub


def unproven_reads(factors, known=()) -> list[InRange]:
    """The range conditions of the shifted reads among ``factors`` that may leave
    their range (each once), in order; conditions already among them, or implied by
    the conditions ``known`` of the products around them, are skipped."""
    have = {f.sub for f in factors if isinstance(f, InRange)}
    known = tuple(known) + tuple(have)
    out: list[InRange] = []
    for f in factors:
        if isinstance(f, Var) and not f.indices_plain:
            for s in f.indices:
                if type(s) is not Index and s not in have and decide(s) is not True \
                        and not implied_by(s, known):
                    have.add(s)
                    out.append(InRange(s))
    return out


def with_bounds(e: Expr, known=()) -> Expr:
    """A read standing alone (not in a product) with its bounds as a product to print."""
    if isinstance(e, Var) and not e.indices_plain:
        extra = unproven_reads([e], known)
        if extra:
            return Mul((e, *extra))
    return e


def sub_text(s, minus: str = "−") -> str:
    return show_sub(s, minus=minus)


def condition_text(c: InRange, minus: str = "−", le: str = "≤") -> str:
    """``[0 ≤ p − k < m]``; one index alone moves the offset: ``[1 ≤ p < n]``."""
    return show_condition(c.sub, minus, le)
