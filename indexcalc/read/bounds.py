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
from indexcalc.ir.affine import Affine, DimExpr, InRange, decide, show_sub, split_den


def unproven_reads(factors) -> list[InRange]:
    """The range conditions of the shifted reads among ``factors`` that may leave
    their range (each once), in order; conditions already among them are skipped."""
    have = {f.sub for f in factors if isinstance(f, InRange)}
    out: list[InRange] = []
    for f in factors:
        if isinstance(f, Var) and not f.indices_plain:
            for s in f.indices:
                if type(s) is not Index and s not in have and decide(s) is not True:
                    have.add(s)
                    out.append(InRange(s))
    return out


def with_bounds(e: Expr) -> Expr:
    """A read standing alone (not in a product) with its bounds as a product to print."""
    if isinstance(e, Var) and not e.indices_plain:
        extra = unproven_reads([e])
        if extra:
            return Mul((e, *extra))
    return e


def sub_text(s, minus: str = "−") -> str:
    return show_sub(s, minus=minus)


def condition_text(c: InRange, minus: str = "−", le: str = "≤", sep: str = " ") -> str:
    """``[0 ≤ p − k < m]``; one index alone moves the offset: ``[1 ≤ p < n]``."""
    s: Affine = c.sub
    terms, off, den = split_den(s)
    parts = []
    if den > 1:
        num = _linear_text({i.name: x for i, x in terms.items()}, off, minus)
        parts.append(f"{den} | {num}")
    dim = _dim_text(s.dim, minus)
    if den == 1 and len(terms) == 1 and list(terms.values()) == [1] and off \
            and not (isinstance(s.dim, DimExpr) and s.dim.div > 1):
        (i, _), = terms.items()
        lo = -off
        hi = _dim_plus(s.dim, -off, minus)
        parts.append(f"{_num(lo, minus)} {le} {i.name} < {hi}")
    else:
        parts.append(f"0 {le} {show_sub(s, minus=minus, spaced=True)} < {dim}")
    return "[" + ", ".join(parts) + "]"


def _num(x, minus: str) -> str:
    return f"{minus}{-x}" if x < 0 else str(x)


def _linear_text(terms: dict, off, minus: str) -> str:
    fake = Affine(tuple(sorted(((Index(n, 1), c) for n, c in terms.items()),
                               key=lambda t: t[0].key)), off, 1)
    return show_sub(fake, minus=minus, spaced=True)


def _dim_text(dim, minus: str) -> str:
    text = str(dim)
    return text.replace("−", minus)


def _dim_plus(dim, k, minus: str) -> str:
    """``dim + k`` as text (``n − 1``, ``m + 2``, a number folded)."""
    if isinstance(dim, int):
        return str(dim + k)
    if k == 0:
        return _dim_text(dim, minus)
    if isinstance(dim, DimExpr) and dim.div == 1:
        return str(DimExpr(dim.terms, dim.offset + int(k), 1)).replace("−", minus)
    sign = f" {minus} " if k < 0 else " + "
    return f"{_dim_text(dim, minus)}{sign}{abs(k)}"
