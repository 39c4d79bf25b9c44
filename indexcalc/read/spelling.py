"""The user's spellings read back: ``norm(x)`` lowers to ``sqrt(Σ_k x_k²)`` (all of
x's indices summed), and a result is printed with ``norm(x)`` where that appears, in
index form (``‖x‖`` in LaTeX) and in matrix form, so ``(I − y yᵀ) / norm(x)`` reads
as the model was written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from indexcalc import read
from indexcalc.ir import Const, Func, Pow, Sum, Var

if TYPE_CHECKING:     # the index-form printer reads normed(); mexpr loads with matrix forms
    from indexcalc.read.mexpr import MCall, MExpr


def normed(e: Func) -> str | None:
    """The name ``v`` when ``e`` is ``sqrt(Σ_K v_K^2)`` summed over all of v's indices
    (the Euclidean or Frobenius norm, which the notation writes ``norm(v)``), else None."""
    if e.name != "sqrt" or e.order or not isinstance(e.arg, Sum):
        return None
    body = e.arg.body
    if not (isinstance(body, Pow) and isinstance(body.exponent, Const)
            and body.exponent.value == 2 and isinstance(body.base, Var)):
        return None
    v = body.base
    if not 1 <= len(v.indices) <= 2 or set(v.indices) != set(e.arg.indices) \
            or len(set(v.indices)) != len(v.indices):
        return None
    return v.name


def norm_of(e: MCall) -> MExpr | None:
    """``x`` for ``sqrt(sum(x^2))`` (or ``sqrt(sum(x ⊙ x))``), the Euclidean or Frobenius
    norm, which is how the notation's ``norm(x)`` reads; else None."""
    m = read.mexpr
    if e.fn != "sqrt" or e.order or not isinstance(e.arg, m.MCall) or e.arg.fn != "sum":
        return None
    a = e.arg.arg
    if isinstance(a, m.MProd):                  # sum(𝟙ᵀ (X ⊙ X)): the entries of a matrix
        rest = [f for f in a.factors if not isinstance(f.arg if isinstance(f, m.MT) else f,
                                                           m.MOnes)]
        a = rest[0] if len(rest) == 1 else a
    if isinstance(a, m.MPow) and a.exponent == m.MNum(2) and a.base.rank in (1, 2):
        return a.base
    if isinstance(a, m.MHad) and len(a.factors) == 2 and a.factors[0] == a.factors[1]:
        return a.factors[0]
    return None
