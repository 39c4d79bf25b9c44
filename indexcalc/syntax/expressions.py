"""Lowering expressions: the rule for each surface node, and products and sums.

``lower_value(sc, node, ctx)`` turns a surface node into a ``scope.Val``: an
IR expression plus, for matrix form, the fresh indices standing for its axes.
This module is the recursion over the tree (``RULES`` maps each node class to
its rule); what the two notations mean is in ``index_form`` and
``matrix_form``, calls are in ``calls``.  It also decides name-then-parenthesis:
``W(x)`` with ``W`` a tensor is a product, ``f(x)`` a call.
"""

from __future__ import annotations

import math

from indexcalc.errors import IndexMismatchError, LimitError, ParseError, ShapeError
from indexcalc.ir import Const, const, neg, power
from indexcalc.limits import MAX_POWER_BITS
from indexcalc.syntax import affine_reads, calls, index_form, matrix_form
from indexcalc.syntax import tree as S
from indexcalc.functions import known
from indexcalc.syntax.calls import OPAQUE_NAME
from indexcalc.syntax.scope import DELTA_NAMES, QUESTION_WORDS, Ctx, Pending, Scope, Val
from indexcalc.syntax.statistics import STATISTICS


def ex(sc: Scope, node, ctx: Ctx):
    return RULES[type(node)](sc, node, ctx)


def lower_value(sc: Scope, node, ctx: Ctx) -> Val:
    v = ex(sc, node, ctx)
    if isinstance(v, Pending):
        raise sc.rank_error(v)
    return v


def ex_Num(sc: Scope, node: S.Num, ctx: Ctx) -> Val:
    return Val(const(node.value), ())


def ex_Partial(sc: Scope, node: S.Partial, ctx: Ctx):
    raise sc.err(ParseError, "∂ only appears in questions, like ∂E/∂z_k", node.pos)


def ex_Neg(sc: Scope, node: S.Neg, ctx: Ctx) -> Val:
    v = lower_value(sc, node.body, ctx)
    return Val(neg(v.expr), v.axes, v.row)


def ex_Chain(sc: Scope, node: S.Chain, ctx: Ctx) -> Val:
    return product(sc, node.factors, ctx, node.pos)


def ex_Name(sc: Scope, node: S.Name, ctx: Ctx):
    if node.indices is not None:
        return product(sc, [("", node)], ctx, node.pos)
    return index_form.bare_name(sc, node, ctx)


def ex_Paren(sc: Scope, node: S.Paren, ctx: Ctx):
    v = ex(sc, node.body, ctx)
    if node.indices is None:
        return v
    if isinstance(v, Pending):
        raise sc.rank_error(v)
    return index_form.index_value(sc, v, node.indices, ctx, node.pos)


def ex_Transpose(sc: Scope, node: S.Transpose, ctx: Ctx) -> Val:
    if isinstance(node.body, S.Num) and node.body.value == 1:     # 1ᵀ: the ones vector
        return index_form.ones(sc, ctx, row=True)
    v = lower_value(sc, node.body, ctx)
    if v.indexed:
        raise sc.err(IndexMismatchError, "ᵀ transposes matrix-form operands; in index "
                     "form swap the indices instead (W_ji)", node.pos)
    if v.rank == 1:
        return Val(v.expr, v.axes, not v.row)
    return Val(v.expr, tuple(reversed(v.axes)) if v.axes else v.axes)


def ex_Power(sc: Scope, node: S.Power, ctx: Ctx) -> Val:
    base = lower_value(sc, node.base, ctx)
    exp = lower_value(sc, node.exponent, ctx)
    if exp.indexed and base.axes is None:               # x_i^y_i: componentwise
        return Val(power(base.expr, exp.expr), None)
    if not exp.scalar:
        raise sc.err(ShapeError, "an exponent must be a scalar (or, in index form, "
                     "carry the base's indices: x_i^y_i)", node.exponent.pos)
    if base.matrix and base.rank == 2:
        return matrix_form.matrix_power(sc, base, exp.expr, ctx, node.pos)
    if isinstance(base.expr, Const) and isinstance(exp.expr, Const):
        check_number_power(sc, base.expr.value, exp.expr.value, node.pos)
    return Val(power(base.expr, exp.expr), base.axes, base.row)


def check_number_power(sc: Scope, base, exp, pos: S.Pos) -> None:
    """Refuse constant powers whose exact value would be astronomically large."""
    size = abs(float(exp)) * max(math.log2(abs(float(base))), 1.0) if base else 0.0
    if size > MAX_POWER_BITS:
        raise sc.err(LimitError, f"{sc.src(pos)}: the number is too large to compute "
                     "exactly", pos)


def ex_Terms(sc: Scope, node: S.Terms, ctx: Ctx) -> Val:
    vals = [(sign, t, ex(sc, t, ctx)) for sign, t in node.terms]
    known_vals = [v for _, _, v in vals if not isinstance(v, Pending)]
    if not known_vals:
        raise sc.rank_error(vals[0][2])
    mats = [(t, v) for _, t, v in vals if isinstance(v, Val) and v.matrix]
    idxs = [(t, v) for _, t, v in vals if isinstance(v, Val) and v.indexed]
    if mats and idxs:
        raise sc.mixing(idxs[0][0], mats[0][0], "sum")
    like = mats[0][1] if mats else Val(const(0), ())
    vals = [(s, t, index_form.instantiate(sc, v, like, ctx) if isinstance(v, Pending) else v)
            for s, t, v in vals]
    if mats:
        acc, first = vals[0][2], vals[0][1]
        for sign, t, v in vals[1:]:
            acc = matrix_form.elementwise(sc, acc, v, "+" if sign > 0 else "-", ctx,
                                          S.Pos(first.pos.line, first.pos.column, first.pos.start,
                                                t.pos.start), t.pos)
        return acc
    return index_form.index_sum(sc, vals, node, ctx)


def ex_SumOver(sc: Scope, node: S.SumOver, ctx: Ctx) -> Val:
    index_form.no_shifts(sc, node.indices, node.pos)       # sum_{i+k}: a sum binds names
    for n in node.indices:
        if n in ctx.lhs:
            raise sc.err(IndexMismatchError, f"{n} is summed here but is also a free "
                         "index of the left-hand side; use another index name", node.pos)
        sc.index(n, ctx)
    v = lower_value(sc, node.body, ctx.protect(node.indices))
    if v.matrix:
        raise sc.err(ShapeError, f"sum_{''.join(node.indices)} sums an index-form "
                     "expression; for the sum of all entries of a matrix-form "
                     "expression write sum(x)", node.pos)
    return Val(sc.sum_over(node.indices, v.expr, ctx), None)


def ex_Norm(sc: Scope, node: S.Norm, ctx: Ctx) -> Val:
    v = lower_value(sc, node.body, ctx)
    if node.kind == "1":
        return calls.norm1(sc, v, ctx)
    if node.kind == "2" and v.rank == 2:
        return calls.spectral_norm(sc, v, ctx, node.body.pos)
    if node.kind == "F" and v.rank < 2:
        raise sc.err(ShapeError, f"||...||_F is the Frobenius norm of a matrix, but "
                     f"{sc.src(node.body.pos)} has {describe_rank(v)}; for a vector write "
                     "||x||", node.pos)
    return calls.norm(sc, v, ctx)


def describe_rank(v: Val) -> str:
    return "index form" if v.indexed else f"rank {v.rank}"


def ex_Call(sc: Scope, node: S.Call, ctx: Ctx) -> Val:
    if node.name in sc.tensors:
        return product(sc, [("", node)], ctx, node.pos)
    return calls.call(sc, node, ctx, lower_value)


def product(sc: Scope, factors, ctx: Ctx, pos: S.Pos) -> Val:
    factors = regroup(sc, factors)
    lowered = []
    for op, f in factors:
        if isinstance(f, S.Name) and f.indices is not None:
            lowered.append((op, f, index_form.indexed_name(sc, f, ctx)))
        else:
            lowered.append((op, f, ex(sc, f, ctx)))
    idx = [f for _, f, v in lowered if isinstance(v, Val) and v.indexed]
    mat = [f for _, f, v in lowered if isinstance(v, Val) and v.matrix]
    if idx and mat:
        raise sc.mixing(idx[0], mat[0], "product")
    pend = [v for _, _, v in lowered if isinstance(v, Pending)]
    if pend and not idx:
        raise sc.rank_error(pend[0])
    scalar = Val(const(0), ())
    lowered = [(op, f, index_form.instantiate(sc, v, scalar, ctx) if isinstance(v, Pending) else v)
               for op, f, v in lowered]
    if mat:
        _no_trailing_one(sc, lowered)
        return matrix_form.matrix_product(sc, lowered, ctx, pos)
    return index_form.einstein(sc, lowered, ctx, pos)


def _no_trailing_one(sc: Scope, lowered) -> None:
    """``W 1`` in matrix notation: the number 1 (so ``W 1`` is W) or the ones vector (the
    row sums)?  People mean both, so it is refused with the two spellings."""
    for (_, left, lv), (op, f, _) in zip(lowered, lowered[1:]):
        if op in ("", "*") and isinstance(f, S.Num) and f.value == 1 and lv.matrix:
            raise sc.err(ParseError, "here 1 after a matrix or vector is ambiguous: for "
                         "the vector of ones write 𝟙 (W 𝟙 sums the rows of W, 1ᵀ W its "
                         "columns); for the number, leave it out", f.pos)


def regroup(sc: Scope, factors):
    """Decide name-then-parenthesis: ``W(x)`` with W a tensor is a product (the
    call is split in two factors); ``exp (x)`` with a space is still a call."""
    out = []
    for k, (op, f) in enumerate(factors):
        if (isinstance(f, S.Name) and f.indices is not None and f.name in STATISTICS
                and f.name not in sc.tensors):          # mean_j X_bj: over the rest
            rest = factors[k + 1:]
            if not rest or rest[0][0] != "":
                raise sc.err(ParseError, f"{f.name}_{''.join(f.indices)} averages the "
                             f"product that follows it, like {f.name}_j X_bj", f.pos)
            body = rest[0][1] if len(rest) == 1 else S.Chain(
                [("", rest[0][1])] + list(rest[1:]), rest[0][1].pos)
            pos = S.Pos(f.pos.line, f.pos.column, f.pos.start, rest[-1][1].pos.end)
            out.append((op, S.Call(f.name, 0, f.indices, [body], None, pos, f.pos)))
            break
        if isinstance(f, S.Call) and f.name in sc.tensors:
            if len(f.args) != 1:
                raise sc.err(ParseError, f"{f.name} is a tensor, not a function; it "
                             "cannot take several arguments", f.pos)
            head = S.Name(f.name, f.over, f.head)
            for _ in range(f.primes):
                head = S.Transpose(head, f.head)
            out += [(op, head), ("", S.Paren(f.args[0], f.out, f.pos))]
        elif (out and op == "" and isinstance(f, S.Paren) and isinstance(out[-1][1], S.Name)
              and out[-1][1].indices is None and callable_name(sc, out[-1][1].name)):
            prev_op, name = out.pop()
            pos = S.Pos(name.pos.line, name.pos.column, name.pos.start, f.pos.end)
            out.append((prev_op, S.Call(name.name, 0, None, [f.body], f.indices, pos,
                                        name.pos)))
        else:
            out.append((op, f))
    return out


def callable_name(sc: Scope, name: str) -> bool:
    """Is ``name (...)`` a call?  For a function name (known, declared or one letter);
    any other name is a tensor times a parenthesis (``Uc (r ⊙ h)``)."""
    return (name not in sc.tensors and name not in sc.dim_symbols
            and name not in sc.tensor_names and name not in sc.operand_names
            and name not in DELTA_NAMES and name not in sc.hints
            and (known(name) or name in sc.declared_functions or name in QUESTION_WORDS
                 or OPAQUE_NAME.fullmatch(name) is not None))


def ex_Cond(sc: Scope, node: S.Cond, ctx: Ctx) -> Val:
    return affine_reads.condition(sc, node, ctx)


RULES = {S.Cond: ex_Cond, S.Num: ex_Num, S.Partial: ex_Partial, S.Neg: ex_Neg, S.Chain: ex_Chain,
         S.Name: ex_Name, S.Paren: ex_Paren, S.Transpose: ex_Transpose, S.Power: ex_Power,
         S.Terms: ex_Terms, S.SumOver: ex_SumOver, S.Norm: ex_Norm, S.Call: ex_Call}
