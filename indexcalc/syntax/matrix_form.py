"""Matrix form: what ``x W1 + b1``, ``A^-1``, ``u vᵀ`` and ``a ⊙ b`` mean in index form.

Juxtaposition, ``*`` and ``@`` are the matrix product (a vector is 1-D, as in
NumPy; ``u vᵀ`` is the outer product); ``⊙ .* ./ + -`` are elementwise, a
vector broadcasting along the rows of a matrix; a scalar scales anything.
Each axis of a matrix-form value is a fresh index, so these rules rename and
sum indices and unify their dimensions.  They work on values already lowered.
"""

from __future__ import annotations

from indexcalc.errors import ShapeError
from indexcalc.ir import (
    MINUS_ONE,
    Apply,
    Expr,
    add,
    delta,
    mul,
    neg,
    power,
    rename,
)
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import Ctx, Scope, Val


def matrix_power(sc: Scope, base: Val, exp: Expr, ctx: Ctx, pos: S.Pos) -> Val:
    value = getattr(exp, "value", None)
    if value is None or getattr(value, "denominator", 0) != 1:
        raise sc.err(ShapeError, f"{sc.src(pos)}: a matrix power needs an integer "
                     "exponent (A^2, A^-1); for elementwise powers use index form", pos)
    k = int(value)
    square(sc, base, ctx, pos, "a matrix power")
    if k == 0:
        a, b = base.axes
        i, j = sc.fresh(ctx, ctx.idx[a.name]), sc.fresh(ctx, ctx.idx[a.name])
        return Val(delta(i, j), (i, j))
    m = inverse(sc, base, ctx) if k < 0 else base
    out = m
    for _ in range(abs(k) - 1):
        out = matmul(sc, out, copy(sc, m, ctx), ctx, pos, pos, pos)
    return out


def copy(sc: Scope, v: Val, ctx: Ctx) -> Val:
    """The same value with fresh axes (so it can be multiplied by itself)."""
    new = tuple(sc.fresh(ctx, ctx.idx[a.name]) for a in v.axes)
    return Val(rename(v.expr, dict(zip(v.axes, new))), new, v.row)


def square(sc: Scope, v: Val, ctx: Ctx, pos: S.Pos, what: str) -> None:
    a, b = v.axes[-2:]
    sc.unify(ctx.idx[a.name], ctx.idx[b.name], lambda: (
        f"{what} needs a square matrix, but {sc.src(pos)} has shape "
        f"{sc.shape_of(v, ctx)}"), pos)


def inverse(sc: Scope, v: Val, ctx: Ctx) -> Val:
    a, b = v.axes[-2:]
    out = (sc.fresh(ctx, ctx.idx[b.name]), sc.fresh(ctx, ctx.idx[a.name]))
    return Val(Apply("inv", v.expr, (a, b), out), v.axes[:-2] + out)


def matrix_product(sc: Scope, lowered, ctx: Ctx, pos: S.Pos) -> Val:
    acc = lowered[0][2]
    for op, f, v in lowered[1:]:
        left = S.Pos(pos.line, pos.column, pos.start, f.pos.start)
        if op in ("", "*", "@"):
            acc = matmul(sc, acc, v, ctx, left, f.pos, pos)
        elif op == "/" and v.scalar:
            acc = Val(mul(acc.expr, power(v.expr, MINUS_ONE)), acc.axes, acc.row)
        else:
            acc = elementwise(sc, acc, v, "./" if op == "/" else op, ctx, left, f.pos)
    return acc


def matmul(sc: Scope, a: Val, b: Val, ctx: Ctx, a_pos, b_pos, pos) -> Val:
    """The matrix product of matrix-form values (vectors are 1-D, as in NumPy)."""
    if a.scalar or b.scalar:
        m = b if a.scalar else a
        return Val(mul(a.expr, b.expr), m.axes if m.axes is not None else (), m.row)
    if a.rank > 2 or b.rank > 2:
        raise sc.err(ShapeError, f"{sc.src(pos)}: the matrix product is defined for "
                     "vectors and matrices; for tensors of rank 3 or more use index "
                     "form", pos)
    if a.rank == b.rank == 1 and not a.row and b.row:          # u vᵀ: outer product
        return Val(mul(a.expr, b.expr), a.axes + b.axes)
    la, fb = a.axes[-1], b.axes[0]
    sc.unify(ctx.idx[la.name], ctx.idx[fb.name], lambda: (
        f"dimension mismatch in the product {sc.src(pos)}: {sc.src(a_pos)} has shape "
        f"{sc.shape_of(a, ctx)} and {sc.src(b_pos)} has shape {sc.shape_of(b, ctx)}; "
        f"the product needs {sc.dims.show(ctx.idx[la.name])} = "
        f"{sc.dims.show(ctx.idx[fb.name])}"), pos)
    expr = sc.sum_over([la.name], mul(a.expr, rename(b.expr, {fb: la})), ctx)
    row = a.row if (a.rank == 1 and b.rank == 2) else False
    return Val(expr, a.axes[:-1] + b.axes[1:], row)


def elementwise(sc: Scope, a: Val, b: Val, op: str, ctx: Ctx, a_pos: S.Pos, b_pos: S.Pos) -> Val:
    """``a op b`` componentwise, a scalar operand broadcasting."""
    if b.scalar and not a.matrix or a.scalar and not b.matrix:
        return Val(_combine(a.expr, b.expr, op), ())
    if a.scalar:
        return Val(_combine(a.expr, b.expr, op), b.axes, b.row)
    if a.rank == 1 and b.rank == 2:                  # a vector broadcasts along the rows
        a = Val(align(sc, b, a, ctx, b_pos, a_pos, op), b.axes[-1:], False)
        return Val(_combine(a.expr, b.expr, op), b.axes, b.row)
    if not b.scalar:
        b = Val(align(sc, a, b, ctx, a_pos, b_pos, op), a.axes, a.row)
    return Val(_combine(a.expr, b.expr, op), a.axes, a.row)


def align(sc: Scope, a: Val, b: Val, ctx: Ctx, a_pos: S.Pos, b_pos: S.Pos, op: str) -> Expr:
    """``b``'s expression renamed onto ``a``'s axes (shapes must agree)."""
    def message():
        return (f"shape mismatch in {op}: {sc.src(a_pos)} has shape "
                f"{sc.shape_of(a, ctx)} but {sc.src(b_pos)} has shape "
                f"{sc.shape_of(b, ctx)}")
    axes = a.axes
    if a.rank == 2 and b.rank == 1:                  # NumPy: along the last axis
        axes = a.axes[-1:]
    elif a.rank != b.rank:
        raise sc.err(ShapeError, message(), b_pos)
    for x, y in zip(axes, b.axes):
        sc.unify(ctx.idx[x.name], ctx.idx[y.name], message, b_pos)
    return rename(b.expr, dict(zip(b.axes, axes)))


def _combine(a: Expr, b: Expr, op: str) -> Expr:
    if op == "+":
        return add(a, b)
    if op == "-":
        return add(a, neg(b))
    if op == ".*":
        return mul(a, b)
    if op == "./":
        return mul(a, power(b, MINUS_ONE))
    raise AssertionError(op)
