"""Calls: ``f(x)`` is a table function, a lowered function (``tr``, ``diag``...) or opaque.

Elementwise functions apply componentwise; tensor functions (``softmax``,
``det``, ``inv``...) act on the last axes of a matrix-form argument or, written
``softmax_i(z_i)_j``, on explicit bound and output indices; ``dot``, ``outer``,
``sum``, ``norm``, ``tr`` and ``diag`` become sums and products; any other name
is an opaque function (``f(z)`` elementwise, capitalised ``L(a)`` a scalar of
its whole argument, primes its derivatives), unless it is a typo of a known
one.  The arguments are lowered by the ``lower`` function passed in (from
``expressions``), so this module does not import its caller.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from indexcalc.errors import (
    IndexMismatchError,
    ParseError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.functions import (
    ALIASES,
    ELEMENTWISE,
    LOWERED,
    TENSOR,
    canonical_name,
    known,
    opaque_is_scalar_valued,
)
from indexcalc.ir import Apply, Func, const, delta, mul, power, rename
from indexcalc.syntax import index_form, matrix_form
from indexcalc.syntax.statistics import EXTREMES, STATISTICS, extreme, statistic
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import (
    DELTA_NAMES,
    QUESTION_WORDS,
    Ctx,
    Scope,
    Val,
    ix,
    plural,
)

Lower = Callable[[Scope, object, Ctx], Val]         # expressions.lower_value
FUNCTION_NAMES = sorted(set(ELEMENTWISE) | set(TENSOR) | set(ALIASES) | set(LOWERED)
                        | {"trace"} | set(QUESTION_WORDS))


def call(sc: Scope, node: S.Call, ctx: Ctx, lower: Lower) -> Val:
    raw = node.name
    name = "tr" if raw == "trace" else canonical_name(raw)
    index_form.not_recursive(sc, raw, ctx, node.head)
    index_form.no_shifts(sc, tuple(node.over or ()) + tuple(node.out or ()), node.pos)
    if raw in QUESTION_WORDS:
        raise sc.err(ParseError, f"{raw}(...) is a question; write it as a statement "
                     "on its own line", node.pos)
    if raw in DELTA_NAMES or raw in sc.dim_symbols:
        raise sc.err(ParseError, f"{raw} is not a function", node.head)
    if node.primes and known(name):
        raise sc.err(ParseError, f"{raw}{chr(39) * node.primes}: primes mark "
                     "derivatives of unknown functions (f'(z)) only", node.head)
    if name in STATISTICS:
        return call_out(sc, statistic(sc, name, node, ctx, lower), node, ctx)
    if name in EXTREMES:
        return call_out(sc, extreme(sc, name, node, ctx, lower), node, ctx)
    if name == "norm2" and node.over is None:
        no_over(sc, node)
        v = lower(sc, one_arg(sc, node), ctx)
        v = norm(sc, v, ctx) if v.rank < 2 else spectral_norm(sc, v, ctx, node.args[0].pos)
        return call_out(sc, v, node, ctx)
    if name in TENSOR:
        return tensor_fn(sc, name, node, ctx, lower)
    if name in ELEMENTWISE:
        no_over(sc, node)
        v = lower(sc, one_arg(sc, node), ctx)
        return call_out(sc, Val(Func(name, v.expr), v.axes, v.row), node, ctx)
    if name in LOWERED:
        no_over(sc, node)
        return call_out(sc, lowered_fn(sc, name, node, ctx, lower), node, ctx)
    if raw not in sc.declared_functions:
        unknown_function(sc, raw, node)
    return opaque_fn(sc, raw, node, ctx, lower)


def one_arg(sc: Scope, node: S.Call):
    if len(node.args) != 1:
        raise sc.err(ParseError, f"{node.name} takes one argument, not "
                     f"{len(node.args)}", node.pos)
    return node.args[0]


def no_over(sc: Scope, node: S.Call) -> None:
    if node.over is not None:
        raise sc.err(ParseError, f"{node.name} takes no subscript before its "
                     "parenthesis; only tensor functions do (softmax_i(z_i)_j, "
                     "det_{ij}(A_ij))", node.head)


def call_out(sc: Scope, v: Val, node: S.Call, ctx: Ctx) -> Val:
    return index_form.index_value(sc, v, node.out, ctx, node.pos) if node.out else v


OPAQUE_NAME = re.compile(r"[A-Za-z\u0391-\u03A1\u03A4-\u03A9\u03B1-\u03C9\u03D1\u03D5\u03F5][0-9]*")


def unknown_function(sc: Scope, raw: str, node: S.Call) -> None:
    """An undeclared function name is opaque when it is one letter (Latin or Greek),
    optionally followed by digits (``f``, ``g1``, ``L``, ``φ``), the seeds' convention;
    any longer unknown name is an error with a suggestion."""
    if OPAQUE_NAME.fullmatch(raw):
        return
    close = difflib.get_close_matches(raw, FUNCTION_NAMES, n=1, cutoff=0.6)
    guess = f"did you mean '{close[0]}'? " if close else ""
    raise sc.err(UnknownNameError, f"unknown function '{raw}'; {guess}An unknown function "
                 "is written with one letter (f(z), g1(z), L(a)); to use the name "
                 f"{raw}, declare it: `{raw} : function` (elementwise) or "
                 f"`{raw} : function scalar` (a scalar of its whole argument)", node.head)


TEMPERATURE = ("softmax", "log_softmax")
RECTANGULAR = ("norm2", "norm2grad")               # matrix functions of any shape


def temperature(sc: Scope, name: str, node: S.Call, ctx: Ctx, lower: Lower):
    """``softmax(z, T)`` is softmax(z / T): the argument node divided by the scalar T."""
    if len(node.args) != 2 or name not in TEMPERATURE:
        return node
    t = lower(sc, node.args[1], ctx)
    if not t.scalar:
        raise sc.err(ShapeError, f"the temperature of {name}(z, T) must be a scalar",
                     node.args[1].pos)
    body = S.Chain([("", node.args[0]), ("/", S.Paren(node.args[1], None, node.args[1].pos))],
                   node.args[0].pos)
    return S.Call(node.name, node.primes, node.over, [body], node.out, node.pos, node.head)


def tensor_fn(sc: Scope, name: str, node: S.Call, ctx: Ctx, lower: Lower) -> Val:
    entry = TENSOR[name]
    node = temperature(sc, name, node, ctx, lower)
    arg = one_arg(sc, node)
    if node.over is not None:
        return reduction(sc, name, entry.rank_in, entry.rank_out, node, ctx, lower)
    v = lower(sc, arg, ctx)
    kind = "vector" if entry.rank_in == 1 else "matrix"
    if v.indexed:
        raise sc.err(IndexMismatchError, f"{sc.src(node.pos)}: say which index {name} "
                     f"runs over, like {name}_i(z_i)" + ("_j" * entry.rank_out)[:2]
                     + f", or give it a {kind} in matrix form", node.pos)
    if v.rank < entry.rank_in:
        raise sc.err(ShapeError, f"{name} needs a {kind}, but {sc.src(arg.pos)} has "
                     f"rank {v.rank}", arg.pos)
    over = v.axes[-entry.rank_in:]
    if entry.rank_in == 2 and name not in RECTANGULAR:
        matrix_form.square(sc, v, ctx, arg.pos, name)
    order = reversed(over) if name == "inv" else over         # inv's axes swap
    out = tuple(sc.fresh(ctx, ctx.idx[a.name]) for a in order)[:entry.rank_out]
    result = Val(Apply(name, v.expr, over, out), v.axes[:-entry.rank_in] + out,
                 v.row and entry.rank_out == 1)
    return call_out(sc, result, node, ctx)


def reduction(sc: Scope, name: str, rank_in: int, rank_out: int, node: S.Call, ctx: Ctx,
              lower: Lower, order: int = 0) -> Val:
    """``softmax_i(θ_i)_j``, ``det_{ij}(A_ij)``, ``L'_i(a_i)_j``: index-form tensor
    functions with explicit bound (``over``) and output indices."""
    over_names, out_names = node.over, node.out or ()
    if rank_out == rank_in and out_names in ((), over_names) and rank_in:
        return rebound(sc, name, rank_in, node, ctx, lower, order)
    if len(over_names) != rank_in or len(out_names) != rank_out:
        raise sc.err(IndexMismatchError, f"{sc.src(node.pos)}: {name} runs over "
                     f"{plural(rank_in, 'index')} and gives "
                     f"{plural(rank_out, 'output index')}", node.pos)
    if set(over_names) & set(out_names) or len(set(over_names)) != len(over_names):
        raise sc.err(IndexMismatchError, f"{sc.src(node.pos)}: the indices a function "
                     "runs over must differ from each other and from its output "
                     "indices", node.pos)
    v = lower(sc, node.args[0], ctx.protect(over_names))
    if v.matrix:
        raise sc.err(IndexMismatchError, f"{name}_{''.join(over_names)}(...) needs an "
                     f"index-form argument, like {name}_{over_names[0]}(z_"
                     f"{over_names[0]})", node.args[0].pos)
    over = tuple(sc.index(n, ctx) for n in over_names)
    out = tuple(sc.index(n, ctx) for n in out_names)
    if rank_in == 2 and name in TENSOR and name not in RECTANGULAR:
        sc.unify(ctx.idx[over[0].name], ctx.idx[over[1].name], lambda: (
            f"{name} needs a square matrix"), node.pos)
    group = tuple(reversed(over)) if name == "inv" else over
    for k, o in enumerate(out):
        g = group[k % len(group)]
        sc.unify(ctx.idx[o.name], ctx.idx[g.name], lambda: (
            f"{sc.src(node.pos)}: output index {o.name} and {g.name} must have the "
            "same dimension"), node.pos)
    return Val(Apply(name, v.expr, over, out, order), None)


def rebound(sc: Scope, name: str, rank: int, node: S.Call, ctx: Ctx, lower: Lower,
            order: int) -> Val:
    """``softmax_j(S_ij)_j`` and ``softmax_j(S_ij)``: the output takes the indices the
    function runs over, which are bound inside under fresh names (softmax_k(S_ik)_j)."""
    if len(set(node.over)) != len(node.over):
        raise sc.err(IndexMismatchError, f"{sc.src(node.pos)}: the indices a function runs "
                     "over must differ from each other", node.pos)
    v = lower(sc, node.args[0], ctx.protect(node.over))
    if v.matrix:
        raise sc.err(IndexMismatchError, f"{name}_{''.join(node.over)}(...) needs an "
                     f"index-form argument, like {name}_{node.over[0]}(z_{node.over[0]})",
                     node.args[0].pos)
    out = tuple(sc.index(n, ctx) for n in node.over)
    over = tuple(sc.fresh(ctx, ctx.idx[n]) for n in node.over)
    expr = rename(v.expr, dict(zip(out, over)))
    if rank == 2 and name in TENSOR and name not in RECTANGULAR:
        sc.unify(ctx.idx[over[0].name], ctx.idx[over[1].name], lambda: (
            f"{name} needs a square matrix"), node.pos)
    if name == "inv":
        out = tuple(reversed(out))
    return Val(Apply(name, expr, over, out, order), None)


def lowered_fn(sc: Scope, name: str, node: S.Call, ctx: Ctx, lower: Lower) -> Val:
    if name in ("dot", "outer"):
        if len(node.args) != 2:
            raise sc.err(ParseError, f"{name} takes two arguments", node.pos)
        a, b = (lower(sc, x, ctx) for x in node.args)
        if not a.matrix or not b.matrix:
            raise sc.err(ShapeError, f"{name} takes two vectors (or tensors) in matrix "
                         "form", node.pos)
        if name == "outer":
            return Val(mul(a.expr, b.expr), a.axes + b.axes)
        e = mul(a.expr, matrix_form.align(sc, a, b, ctx, node.args[0].pos, node.args[1].pos, "dot"))
        return Val(sc.sum_over([x.name for x in a.axes], e, ctx), ())
    arg = one_arg(sc, node)
    v = lower(sc, arg, ctx)
    if name == "norm" or (name == "norm2" and v.rank < 2):
        return norm(sc, v, ctx)
    if name == "norm1":
        return norm1(sc, v, ctx)
    if name == "norm2":
        return spectral_norm(sc, v, ctx, arg.pos)
    if name == "sum":
        names = ([a.name for a in v.axes] if v.axes is not None else
                 sorted(i.name for i in v.expr.free if i.name not in ctx.protected))
        e = sc.sum_over(names, v.expr, ctx)
        return Val(e, None if e.free else ())
    if not v.matrix or v.rank > 2 or (name == "tr" and v.rank != 2):
        kind = "matrix" if name == "tr" else "vector or matrix"
        raise sc.err(ShapeError, f"{name} needs a {kind}"
                     f" in matrix form, but {sc.src(arg.pos)} has "
                     f"{'index form' if v.indexed else f'rank {v.rank}'}", arg.pos)
    if name == "diag" and v.rank == 1:
        (a,) = v.axes
        b = sc.fresh(ctx, ctx.idx[a.name])
        return Val(mul(v.expr, delta(a, b)), (a, b))
    matrix_form.square(sc, v, ctx, arg.pos, name)
    a, b = v.axes
    e = rename(v.expr, {b: a})
    if name == "diag":
        return Val(e, (a,))
    return Val(sc.sum_over([a.name], e, ctx), ())      # tr(A / A) = n: the size of a


def opaque_fn(sc: Scope, raw: str, node: S.Call, ctx: Ctx, lower: Lower) -> Val:
    """``f(z)`` acts elementwise; ``L(a)`` (capitalised) is a scalar function of its
    whole argument; primes are derivatives (``f'(z)``, ``L'(a)_j``)."""
    sc.functions.add(raw)
    arg = one_arg(sc, node)
    order = node.primes
    if node.over is not None:
        n = len(node.over)
        return reduction(sc, raw, n, n * order, node, ctx, lower, order)
    v = lower(sc, arg, ctx)
    scalar = sc.declared_functions.get(raw, opaque_is_scalar_valued(raw))
    if not (scalar and v.matrix):
        return call_out(sc, Val(Func(raw, v.expr, order), v.axes, v.row), node, ctx)
    over = v.axes
    if node.out is not None:
        if len(node.out) != order * len(over):
            raise sc.err(IndexMismatchError, f"{sc.src(node.pos)}: the derivative of "
                         f"order {order} of {raw} has {order * len(over)} indices, not "
                         f"{len(node.out)}", node.pos)
        out = []
        for k, n in enumerate(node.out):
            g = over[k % len(over)]
            sc.index(n, ctx)
            sc.unify(ctx.idx[n], ctx.idx[g.name], lambda: (
                f"{sc.src(node.pos)}: index {n} does not match the argument's "
                "dimension"), node.pos)
            out.append(ix(n))
        return Val(Apply(raw, v.expr, over, tuple(out), order), None)
    out = tuple(sc.fresh(ctx, ctx.idx[a.name]) for _ in range(order) for a in over)
    return Val(Apply(raw, v.expr, over, out, order), out)


def _all_axes(v: Val, ctx: Ctx) -> list[str]:
    return ([a.name for a in v.axes] if v.axes is not None
            else sorted(i.name for i in v.expr.free if i.name not in ctx.protected))


def norm(sc: Scope, v: Val, ctx: Ctx) -> Val:
    """||x|| = sqrt(Σ_i x_i²): Euclidean for a vector, Frobenius for a matrix (all entries)."""
    return Val(Func("sqrt", sc.sum_over(_all_axes(v, ctx), power(v.expr, const(2)), ctx)), ())


def norm1(sc: Scope, v: Val, ctx: Ctx) -> Val:
    """||x||_1 = Σ_i |x_i| (entrywise for a matrix); its derivative sign(x_i) holds where
    no entry is 0 (at 0 indexcalc takes the subgradient 0)."""
    return Val(sc.sum_over(_all_axes(v, ctx), Func("abs", v.expr), ctx), ())


def spectral_norm(sc: Scope, v: Val, ctx: Ctx, pos: S.Pos) -> Val:
    """||A||_2 = σ_max(A), a matrix function of the table (``norm2``)."""
    if v.rank != 2:
        raise sc.err(ShapeError, f"the spectral norm ||A||_2 (norm2) takes a vector or a "
                     f"matrix, but {sc.src(pos)} has rank {v.rank}", pos)
    over = v.axes
    return Val(Apply("norm2", v.expr, over, ()), v.axes[:-2])
