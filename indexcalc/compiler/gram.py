"""Symmetric products ``Σ_i A_ip A_iq w_i`` with ``w ≥ 0`` as ``Xsᵀ Xs``, ``Xs = A ⊙ √w``.

The Hessians of the losses people fit (logistic regression ``Xᵀ diag(σ(1−σ)) X``,
least squares ``AᵀA``) are such products.  Written as ``Aᵀ (A ⊙ w)`` they cost a
general matrix product; written as ``Xsᵀ Xs`` of one array with itself, BLAS
computes one triangle (NumPy hands a product of an array with its own
transpose to ``syrk``): half the multiply-adds, and the result symmetric to
the last bit.  The square root needs ``w ≥ 0``, which ``values`` proves from
the function table's value intervals (σ ∈ [0, 1], so 1 − σ ≥ 0), interval
arithmetic over products, sums and powers; a weight it cannot prove
non-negative keeps the general product.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc import functions
from indexcalc.compiler.statements import Val
from indexcalc.ir import Add, Apply, Const, Expr, Func, Index, Mul, Pow, Var, mul

INF = float("inf")


def values(e: Expr, defs: dict[str, Expr]) -> tuple[float, float]:
    """An interval holding every value of ``e`` (``defs``: the program's bindings)."""
    if isinstance(e, Const):
        v = float(e.value)
        return v, v
    if isinstance(e, Var):
        body = defs.get(e.name)
        return values(body, defs) if body is not None else (-INF, INF)
    if isinstance(e, Func):
        return functions.values(e.name) if not e.order else (-INF, INF)
    if isinstance(e, Apply):
        return functions.values(e.fn) if not e.order else (-INF, INF)
    if isinstance(e, Mul):
        lo, hi = 1.0, 1.0
        for f in e.factors:
            lo, hi = _times((lo, hi), values(f, defs))
        return lo, hi
    if isinstance(e, Add):
        lo, hi = 0.0, 0.0
        for t in e.terms:
            a, b = values(t, defs)
            lo, hi = lo + a, hi + b
        return lo, hi
    if isinstance(e, Pow) and isinstance(e.exponent, Const):
        x = e.exponent.value
        if isinstance(x, (int, Fraction)) and x == int(x) and int(x) % 2 == 0 and x > 0:
            lo, hi = values(e.base, defs)
            top = max(lo * lo, hi * hi)
            return (0.0 if lo <= 0 <= hi else min(lo * lo, hi * hi)), top
        lo, _ = values(e.base, defs)
        if lo > 0:
            return 0.0, INF
    return -INF, INF


def _times(a, b):
    products = [x * y for x in a for y in b if not ({x, y} & {0.0} and {x, y} & {INF, -INF})]
    return (min(products, default=-INF), max(products, default=INF))


def gram(gen, factors: list[Expr], summed: set[Index], free) -> Val | None:
    """``Xsᵀ Xs`` for ``Σ_i A_ip A_iq (weights over i ≥ 0)``, or None if not that."""
    if len(summed) != 1 or len(free) != 2 or not gen.b.blas:
        return None
    (i,) = summed
    twice = [f for f in factors if isinstance(f, Var) and len(f.indices) == 2 and i in f.indices]
    if len(twice) != 2 or twice[0].name != twice[1].name:
        return None
    a, b = twice
    k = a.indices.index(i)
    p, q = a.indices[1 - k], b.indices[1 - k]
    if b.indices[k] != i or {p, q} != set(free) or p == q:
        return None
    rest = [f for f in factors if f is not a and f is not b]
    coeff = 1.0
    weights = []
    for f in rest:
        if isinstance(f, Const):
            coeff *= float(f.value)
        elif f.free <= {i} and values(f, gen.defs)[0] >= 0:
            weights.append(f)
        else:
            return None
    A = gen.read(a, raw=True)
    rows = gen.align(A, (i, p))
    if weights:
        w = gen.emit(mul(*weights))
        if w.axes:
            root = gen.assign(gen.b.func_code("sqrt").format(w.code), w.axes, reads=[w.code])
            rows = f"{rows} * {root.code}[:, None]"
            xs = gen.assign(rows, (i, p), reads=[A.code, root.code])
        else:
            xs = gen.assign(f"{rows} * {gen.b.func_code('sqrt').format(w.code)}", (i, p),
                            reads=[A.code, w.code])
    else:
        xs = Val(A.code, A.axes) if A.axes == (i, p) else gen.assign(rows, (i, p),
                                                                     reads=[A.code])
    val = gen.assign(f"{xs.code}.T @ {xs.code}", (p, q), reads=[xs.code, xs.code])
    gen.products += 1
    gen.flops += gen.numel((i, p, q))                 # one triangle: half of 2 n² k
    if coeff != 1.0:
        val = gen.assign(f"{coeff!r} * {val.code}", (p, q), inline=True, reads=[val.code])
    return val
