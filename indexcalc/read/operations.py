"""Naming what a shifted sum is: correlation, convolution, transposed convolution.

A derivative through a convolution is a sum of two reads, one of them shifted.
The reader names it the way a textbook does:

- ``Σ_i c_i x_{i+p}``: the subscript adds the free and the summed index -- a
  *correlation* (of ``x`` with ``c``), *valid* when every read stays in range;
- ``Σ_k c_{p−k} w_k``: the summed index runs against the free one -- a
  *convolution*, the kernel flipped, *full* when the reads leave the range at the
  borders (zero padding);
- ``Σ_k c_{(p−k)/2} w_k``: a fractional subscript -- a *transposed convolution*
  (``c`` spread 2 apart, then convolved), the backward pass of a strided one;
- a coefficient on the summed index is a *dilation* of the kernel, one on the
  free index a *stride*.

None of these has a matrix product form (it would take a Toeplitz matrix, which
indexcalc never builds); the matrix-form reader says so with the name, and
gives the index form, which parses back.
"""

from __future__ import annotations

from indexcalc.ir import Const, Expr, Index, Mul, Sum, Var
from indexcalc.ir.affine import InRange, decide


def convolution_name(e: Expr) -> str | None:
    """What the one-term shifted sum ``e`` is (``"the full convolution of c with the
    flipped kernel w"``), or None when it is no single such operation."""
    if not isinstance(e, Sum):
        return None
    factors = e.body.factors if isinstance(e.body, Mul) else (e.body,)
    reads = [f for f in factors if isinstance(f, Var)]
    others = [f for f in factors if not isinstance(f, (Var, InRange, Const))]
    shifted = [f for f in reads if not f.indices_plain]
    if others or len(reads) != 2 or len(shifted) != 1:
        return None
    a = shifted[0]
    b = next(f for f in reads if f is not a)
    summed = set(e.indices)
    kinds, extra = set(), []
    for s in a.indices:
        if type(s) is Index:
            continue
        inner = {i: c for i, c in s.terms if i in summed}
        outer = {i: c for i, c in s.terms if i not in summed}
        if not inner or not outer:
            return None
        if any(c.denominator != 1 for c in list(inner.values()) + list(outer.values())):
            den = max(c.denominator for c in list(inner.values()) + list(outer.values()))
            kinds.add(("transposed", den))
            continue
        same = all(c > 0 for c in inner.values()) == all(c > 0 for c in outer.values())
        kinds.add(("correlation",) if same else ("convolution",))
        stride = max(abs(c) for c in (inner if same else outer).values())
        dilation = max(abs(c) for c in (outer if same else inner).values())
        if stride > 1:
            extra.append(f"stride {stride}")
        if dilation > 1:
            extra.append(f"the kernel dilated by {dilation}")
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    border = "full" if any(decide(s) is not True for s in a.indices) else "valid"
    more = f" ({', '.join(dict.fromkeys(extra))})" if extra else ""
    if kind[0] == "correlation":
        return f"the {border} correlation of {a.name} with {b.name}{more}"
    if kind[0] == "convolution":
        return f"the {border} convolution of {a.name} with the flipped kernel {b.name}{more}"
    return (f"the transposed convolution (stride {kind[1]}) of {a.name} with the kernel "
            f"{b.name}: {a.name} spread {kind[1]} apart, then its full convolution with the "
            f"flipped {b.name}")
