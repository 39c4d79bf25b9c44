"""Delta contraction, the one rule every reader of a sum of products needs.

``Σ_i δ_ij a_i = a_j``: a Kronecker delta with a summed index goes, and that
index is renamed to the delta's other one.  Simplification contracts with it,
the matrix-form printer contracts a product before reading it as matrices,
and the explanation names the deltas a sum will contract; all three ask here.
A delta between two free indices is never contracted: it means a diagonal.
"""

from __future__ import annotations

from indexcalc.ir import Const, Delta, Expr, Index, rename


def contracted(delta: Delta, bound) -> tuple[Index, Index] | None:
    """``(gone, kept)`` when a sum over ``bound`` contracts ``delta``, else None
    (its first index goes when both are summed).  A delta of affine indices
    (``δ_{p,i+k}``) is solved instead, by ``calculus.affine``."""
    if type(delta.a) is not Index or type(delta.b) is not Index:
        return None
    if delta.a in bound:
        return delta.a, delta.b
    if delta.b in bound:
        return delta.b, delta.a
    return None


def contract_deltas(bound: list[Index], factors: list[Expr]
                    ) -> tuple[list[Index], list[Expr]]:
    """``Σ_bound Π factors`` with every delta on a bound index removed by renaming,
    one at a time from the left (a delta renamed onto itself, δ_jj, is the 1 it
    became and is dropped)."""
    changed = True
    while changed:
        changed = False
        for k, f in enumerate(factors):
            pair = contracted(f, bound) if isinstance(f, Delta) else None
            if pair is None:
                continue
            gone, keep = pair
            factors = [rename(g, {gone: keep}) for g in factors[:k] + factors[k + 1:]]
            factors = [g for g in factors if not (isinstance(g, Const) and g.value == 1)]
            bound = [i for i in bound if i != gone]
            changed = True
            break
    return bound, factors
