"""Kronecker forms of 3- and 4-index results: ``∂vec(A X B)/∂vec(X) = Bᵀ ⊗ A``.

A Jacobian of a matrix with respect to a matrix (or a Hessian with respect to a
matrix) has four indices and no matrix form, but it is often a Kronecker
product once both sides are flattened by ``vec``.  vec stacks the columns
(column-major, the Matrix Cookbook's convention): ``vec(Y)`` lists ``Y_11,
Y_21, …``, so the row index of ``∂vec(Y)/∂vec(X)`` is ``i + n·j`` for ``Y_ij``
and the column index ``p + m·q`` for ``X_pq``.  With rows ``(o1, o2)`` and
columns ``(w1, w2)`` the identity read here is

    (L ⊗ R)[(o2, o1), (w2, w1)] = L_{o2 w2} R_{o1 w1}

so a product term ``F(o1, w1) G(o2, w2)`` is ``G ⊗ F`` (each factor in matrix
form, a vector where one of its indices is missing); a term that ties the two
groups together otherwise (``δ_{o1 w2}``, a commutation) has no Kronecker form.
"""

from __future__ import annotations

from indexcalc.ir import Add, Const, Expr, Index, mul, summation, unique_binders
from indexcalc.calculus.deltas import contract_deltas
from indexcalc.read.convert import flatten, to_matrix
from indexcalc.read.mexpr import MAdd, MExpr, MKron, scale
from indexcalc.read.network import NoMatrixForm

CONVENTION = "vec stacks columns, as in the Matrix Cookbook"


def vec_form(expr: Expr, rows: tuple[Index, ...], cols: tuple[Index, ...]) -> MExpr:
    """``∂vec(Y)/∂vec(X)`` for ``expr`` with Y's indices ``rows`` and X's ``cols``
    (one or two each); raises NoMatrixForm when a term is not a Kronecker product."""
    if not (1 <= len(rows) <= 2 and 1 <= len(cols) <= 2):
        raise NoMatrixForm("a Kronecker form needs one or two indices on each side")
    expr = unique_binders(expr, {i.name for i in rows + cols})
    terms = expr.terms if isinstance(expr, Add) else (expr,)
    out = [_kron_term(t, rows, cols) for t in terms]
    return out[0] if len(out) == 1 else MAdd(tuple(out))


def _kron_term(t: Expr, rows, cols) -> MExpr:
    fast = {rows[0], cols[0]}
    slow = set(rows[1:] + cols[1:])
    bound, factors = contract_deltas(*flatten(t))
    coeff, parts = 1, {"fast": [], "slow": [], "none": []}
    for group, summed in _components(factors, bound):
        free = set().union(*(f.free for f in group)) - set(summed)
        side = "none" if not free else "fast" if free <= fast else \
            "slow" if free <= slow else None
        if side is None:
            raise NoMatrixForm("a term ties an index of one side of the Kronecker product "
                               f"to the other ({', '.join(sorted(map(str, free)))})")
        parts[side].append(summation(summed, mul(*group)))
    for f in list(parts["none"]):
        if isinstance(f, Const):
            coeff *= f.value
            parts["none"].remove(f)
    right = to_matrix(mul(*parts["fast"]), (rows[0], cols[0]))
    slow_axes = tuple(rows[1:] + cols[1:])
    left = to_matrix(mul(*parts["slow"]), slow_axes)
    kind = "mat" if len(slow_axes) == 2 else "col" if rows[1:] else "row"
    scalars = [to_matrix(f, ()) for f in parts["none"]]
    return scale(coeff, scalars, MKron(left, right, (kind, "mat")))


def _components(factors: list[Expr], bound: list[Index]):
    """The factors grouped by the summed indices they share, each with its sums."""
    groups: list[tuple[list[Expr], set[Index]]] = []
    for f in factors:
        mine = f.free & set(bound)
        joined = [g for g in groups if g[1] & mine]
        merged = ([f], set(mine))
        for g in joined:
            merged[0][:0] = g[0]
            merged[1].update(g[1])
            groups.remove(g)
        groups.append(merged)
    return [(fs, [i for i in bound if i in ix]) for fs, ix in groups]
