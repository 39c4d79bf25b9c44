"""Statistics and elementwise extremes as sums: ``mean``, ``var``, ``std``, ``max``, ``min``.

``mean_j X_bj`` (or ``mean_j(X_bj)``) averages over the indices named, ``mean(X)``
over every entry of a matrix-form argument, like ``sum``.  They become sums of the
index form, so every later stage (derivatives, printing, compiling) already knows
them:

* mean_J x = (1/N) Σ_J x,  N the product of the sizes of J;
* var_J x = mean_J (x − mean_J x)²  (the population variance, NumPy's default ddof=0);
* std_J x = sqrt(var_J x)  (its derivative needs var > 0);
* max(a, b) = a + relu(b − a),  min(a, b) = a − relu(a − b), elementwise, broadcasting
  like + and −.  At a tie (a = b) the derivative goes to the first argument
  (relu'(0) is taken as 0): ∂max/∂a = 1, ∂max/∂b = 0.
"""

from __future__ import annotations

from collections.abc import Callable

from indexcalc.errors import IndexMismatchError, ParseError
from indexcalc.ir import MINUS_ONE, DimSize, Func, add, const, mul, neg, power, rename
from indexcalc.syntax import matrix_form
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import Ctx, Scope, Val, index_names_in

STATISTICS = ("mean", "var", "std")
EXTREMES = ("max", "min")


def statistic(sc: Scope, name: str, node: S.Call, ctx: Ctx, lower: Callable) -> Val:
    if len(node.args) != 1:
        raise sc.err(ParseError, f"{name} takes one argument, not {len(node.args)} (over an "
                     f"index: {name}_j X_bj)", node.pos)
    if node.over is not None:
        names = list(node.over)
        v = lower(sc, node.args[0], ctx.protect(names))
        free = {i.name for i in v.expr.free} if v.axes is None else set()
        # the argument must mention them; where its terms cancel (x_a y_a − y_a x_a) the
        # index is mentioned though no longer free, and the mean is 0
        written = index_names_in(node.args[0])
        missing = [n for n in names if n not in free and n not in written]
        if v.matrix or missing:
            raise sc.err(IndexMismatchError, f"{name}_{''.join(names)} averages an index-form "
                         f"expression over {', '.join(names)}, so its argument must carry "
                         f"{'it' if len(names) == 1 else 'them'} (like {name}_j X_bj); for "
                         f"every entry of a matrix-form argument write {name}(X)", node.pos)
    else:
        v = lower(sc, node.args[0], ctx)
        names = ([a.name for a in v.axes] if v.axes is not None else
                 sorted(i.name for i in v.expr.free if i.name not in ctx.protected))
    expr = _mean(sc, names, v.expr, ctx)
    if name in ("var", "std"):
        fresh = {}
        for n in names:
            fresh[n] = sc.fresh(ctx, ctx.idx[n])
        inner = _mean(sc, [fresh[n].name for n in names],
                      rename(v.expr, {i: fresh[i.name] for i in v.expr.free if i.name in fresh}),
                      ctx)
        expr = _mean(sc, names, power(add(v.expr, neg(inner)), const(2)), ctx)
        if name == "std":
            expr = Func("sqrt", expr)
    return Val(expr, None if expr.free else ())


def _mean(sc: Scope, names, body, ctx: Ctx):
    sizes = [power(DimSize(ctx.idx[n]), MINUS_ONE) for n in names]
    return mul(*sizes, sc.sum_over(names, body, ctx))


def extreme(sc: Scope, name: str, node: S.Call, ctx: Ctx, lower: Callable) -> Val:
    if len(node.args) != 2 or node.over is not None:
        raise sc.err(ParseError, f"{name} takes two arguments, elementwise: {name}(a, b) "
                     f"(for the largest entry of one vector there is no derivative rule; "
                     "logsumexp is its smooth version)", node.pos)
    a, b = (lower(sc, x, ctx) for x in node.args)
    pa, pb = node.args[0].pos, node.args[1].pos
    if name == "max":                      # a + relu(b − a)
        gap = combine(sc, b, a, "-", ctx, pb, pa)
        return combine(sc, a, Val(Func("relu", gap.expr), gap.axes, gap.row), "+", ctx, pa, pb)
    gap = combine(sc, a, b, "-", ctx, pa, pb)  # a − relu(a − b)
    return combine(sc, a, Val(Func("relu", gap.expr), gap.axes, gap.row), "-", ctx, pa, pb)


def combine(sc: Scope, a: Val, b: Val, op: str, ctx: Ctx, pa: S.Pos, pb: S.Pos) -> Val:
    """``a op b`` (+ or −) in whichever notation the operands are in."""
    if a.matrix or b.matrix:
        if a.indexed or b.indexed:
            raise sc.err(IndexMismatchError, "cannot mix index form and matrix form in the "
                         "arguments of one call; index the matrix-form one", pb)
        return matrix_form.elementwise(sc, a, b, op, ctx, pa, pb)
    expr = add(a.expr, b.expr if op == "+" else neg(b.expr))
    return Val(expr, None if expr.free else ())
