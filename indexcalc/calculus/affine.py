"""Contracting deltas of affine indices: how a convolution's backward pass comes out.

Differentiating the shifted read ``x_{i+k}`` by ``x_p`` gives ``δ_{p,i+k}``.
Summed over ``i``, the delta picks the one ``i`` it allows:

    Σ_i f(i) δ_{p,i+k}  =  f(p − k) [0 ≤ p − k < m]         (i ranges over m)

-- solve the delta's equation for a summed index, substitute the solution
everywhere (``ir.algebra.shift_indices``) and keep the range the index had as a
condition.  A coefficient other than ±1 gives a fractional solution,
``i = (p − k)/2`` for ``δ_{p,2i+k}``: the condition then also says that
``p − k`` is even (a read at a non-integer subscript is zero).  So
``∂/∂x_p Σ_{i,k} c_i w_k x_{2i+k} = Σ_k c_{(p−k)/2} w_k`` with ``2 | p − k``, the
transposed convolution.

Which summed index to eliminate: the one with the widest range (the output
position, not the kernel offset), so that what remains is summed over the short
range -- ``Σ_k c_{p−k} w_k``, the full convolution with the flipped kernel,
rather than ``Σ_i c_i w_{p−i}``.  Ranges that cannot be compared (two symbols)
are decided by the order of the names.

A range condition that a read in the same product already implies is dropped
(``drop_implied``): the read is zero out of range anyway.  The printers state it
again from the reads.  Each step removes a delta or a condition, so contraction
terminates.
"""

from __future__ import annotations

from indexcalc.ir import ONE, Const, Delta, Expr, Index, Mul, NotShiftable, Var, fresh_name, \
    mul, shift_indices
from indexcalc.ir.affine import DimExpr, InRange, affine, dim_linear, dim_lower, in_range, solve


def is_affine_delta(f: Expr) -> bool:
    return isinstance(f, Delta) and (type(f.a) is not Index or type(f.b) is not Index)


def contract_affine(factors: list[Expr], bound: list[Index]):
    """Contract one affine delta of ``factors`` over a bound index; None if none can be."""
    for k, f in enumerate(factors):
        if not is_affine_delta(f):
            continue
        choices = [i for i in bound if i in f.free]
        if not choices:
            continue
        rest = factors[:k] + factors[k + 1:]
        for gone in sorted(choices, key=_preference):
            solution = solve(f.a, f.b, gone)
            if solution is None:                    # δ[i,i+1]: i cancels, nothing to solve
                continue
            try:
                new = [shift_indices(g, {gone: solution}) for g in rest]
            except NotShiftable:
                continue
            guard = in_range(affine(solution[0], solution[1], gone.dim))
            new = [g for g in new + [guard] if not (isinstance(g, Const) and g.value == 1)]
            return new, [i for i in bound if i != gone]
    return None


def width(dim) -> tuple:
    """A strict order of ranges, narrowest first: numbers by size, then symbols, then
    derived ranges (``n − K + 1``).  Two symbols cannot be compared; their spelling
    decides (uppercase, the usual kernel sizes K, U, V, first), so the order is total."""
    if isinstance(dim, int):
        return (0, dim, "")
    if isinstance(dim, DimExpr):
        return (2, 0, str(dim))
    return (1, 0 if dim[:1].isupper() else 1, dim)


def narrower(a, b) -> bool:
    """Is range ``a`` narrower than ``b``?  Proved from the sizes where they compare
    (``n − K + 1 < n`` is not: ``n`` is wider), else by ``width``."""
    hi_a, lo_b = dim_linear(a), dim_lower(b)
    diff = _minus(lo_b, hi_a)                       # b − a ≥ this
    if _nonneg(diff[0], diff[1] - 1):
        return True                                 # a < b for all sizes
    lo_a, hi_b = dim_lower(a), dim_linear(b)
    back = _minus(lo_a, hi_b)
    if _nonneg(*back):
        return False                                # a ≥ b for all sizes
    return width(a) < width(b)


def _minus(x, y):
    terms = dict(x[0])
    for d, c in y[0].items():
        terms[d] = terms.get(d, 0) - c
    return {d: c for d, c in terms.items() if c}, x[1] - y[1]


def _nonneg(terms: dict, off) -> bool:
    return all(c >= 0 for c in terms.values()) and sum(terms.values()) + off >= 0


def _preference(i: Index) -> tuple:
    """Eliminate the widest index first, then by name."""
    return tuple(-x if isinstance(x, int) else x for x in width(i.dim)[:2]) + (
        _negated(width(i.dim)[2]), i.name)


def _negated(s: str) -> tuple:
    return tuple(-ord(ch) for ch in s)


def reindex(factors: list[Expr], bound: list[Index], avoid: set[str]):
    """Σ_i c_i w_{p−i} -> Σ_k c_{p−k} w_k: where a factor reads at ``a`` (affine in the
    summed ``i``) on an axis narrower than ``i``'s range, sum over ``k = a`` instead
    (``i`` is then a solution of ``k = a`` and keeps its range as a condition).  So a
    sum runs over the kernel, not over the output positions.  None if nothing to do."""
    for i in bound:
        for f in factors:
            if not isinstance(f, Var):
                continue
            for s in f.indices:
                if type(s) is Index or i not in s.free or not narrower(s.dim, i.dim):
                    continue
                k = Index(_name_for(s.dim, avoid), s.dim)
                solution = solve(k, s, i)
                try:
                    new = [shift_indices(g, {i: solution}) for g in factors]
                except NotShiftable:
                    continue
                guard = in_range(affine(solution[0], solution[1], i.dim))
                new = [g for g in new + [guard] if not (isinstance(g, Const) and g.value == 1)]
                return drop_implied(new), [j for j in bound if j != i] + [k]
    return None


def _name_for(dim, avoid: set[str]) -> str:
    """A fresh name for an index over ``dim``: its lowercase letter (``K`` -> ``k``) if free."""
    prefer = dim.lower() if isinstance(dim, str) and len(dim) == 1 else None
    if prefer is None or prefer in avoid:
        prefer = next((c for c in "kuvlrs" if c not in avoid), None)
    return fresh_name(avoid, prefer=prefer)


def reads_of(factors) -> set:
    """The affine subscripts at which the Var factors read (each reads 0 out of range)."""
    return {s for f in factors if isinstance(f, Var) for s in f.indices if type(s) is not Index}


def drop_implied(factors: list[Expr]) -> list[Expr]:
    """Drop each range condition a read among the factors implies (same subscript,
    same range)."""
    if not any(isinstance(f, InRange) for f in factors):
        return factors
    reads = reads_of(factors)
    return [f for f in factors if not (isinstance(f, InRange) and f.sub in reads)]


def simplify_mul(e: Mul) -> Expr:
    kept = drop_implied(list(e.factors))
    return e if len(kept) == len(e.factors) else mul(*kept) if kept else ONE


__all__ = ["reindex", "width", "contract_affine", "drop_implied", "is_affine_delta", "reads_of", "simplify_mul"]
