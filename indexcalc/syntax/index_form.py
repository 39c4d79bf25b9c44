"""Index form: what ``W_ik``, ``δ_jk``, ``(expr)_ij`` and a product of indexed factors mean.

The Einstein convention lives here: a product sums every index that occurs
exactly twice and is not protected (left-hand side, explicit ``sum_j``, bound
by a function); a term of a sum is constant along the indices it leaves out
(``h_ij = a_i + b_j``).  These functions work on values
already lowered (``scope.Val``); the recursion over the tree is in
``expressions``.
"""

from __future__ import annotations

from collections import Counter

from indexcalc.errors import IndexMismatchError, ParseError
from indexcalc.functions import CONSTANTS, ELEMENTWISE, canonical_name, constant, known
from indexcalc.ir import MINUS_ONE, DimSize, Var, add, const, delta, mul, neg, power, rename
from indexcalc.syntax import affine_reads
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import (
    DELTA_NAMES,
    IDENTITY,
    ONES,
    QUESTION_WORDS,
    Ctx,
    Pending,
    Scope,
    Tensor,
    Val,
    index_names_in,
    ix,
    plural,
)
from indexcalc.syntax.affine_text import ALLOWED, Shift, index_names


def not_recursive(sc: Scope, name: str, ctx: Ctx, pos: S.Pos) -> None:
    if name == ctx.defining:
        raise sc.err(ParseError, f"{name} is used in its own definition", pos)


def bare_name(sc: Scope, node: S.Name, ctx: Ctx):
    name = node.name
    not_recursive(sc, name, ctx, node.pos)
    t = sc.tensors.get(name)
    if t is not None:
        axes = tuple(sc.fresh(ctx, v) for v in t.dims)
        return Val(Var(name, axes), axes)
    if name in sc.dim_symbols:
        return Val(DimSize(name), ())
    if name in CONSTANTS and name not in sc.tensor_names:
        return Val(constant(name), ())
    if name == IDENTITY and name not in sc.tensor_names:
        return identity(sc, ctx)
    if name == ONES:
        return ones(sc, ctx)
    rank = sc.hints.get(name, sc.tensor_names.get(name))
    if rank is not None and name not in DELTA_NAMES:   # inferred from use, or written
        sc.tensors[name] = Tensor(name, tuple(sc.dims.new() for _ in range(rank)),
                                  pos=node.pos)        # with indices later in the text
        return bare_name(sc, node, ctx)
    if name in DELTA_NAMES:
        raise sc.err(IndexMismatchError, f"{name} needs two indices, like δ_jk", node.pos)
    if known(name) or name in QUESTION_WORDS or name in sc.declared_functions:
        raise sc.err(ParseError, f"{name} is a function; call it, like {name}(x)",
                     node.pos)
    if name in sc.defined_later and name not in sc.tensors:
        raise sc.err(ParseError, f"{name} is used before it is defined (line "
                     f"{sc.defined_later[name].line}); define it first", node.pos)
    return Pending(name, node.pos)


def identity(sc: Scope, ctx: Ctx) -> Val:
    """``I``: δ_ab on two fresh axes of one dimension, which the context then fixes."""
    var = sc.dims.new()
    a, b = sc.fresh(ctx, var), sc.fresh(ctx, var)
    return Val(delta(a, b), (a, b))


def ones(sc: Scope, ctx: Ctx, row: bool = False) -> Val:
    """``𝟙`` (and ``1ᵀ``): the ones vector, 1 on a fresh axis the context sizes."""
    a = sc.fresh(ctx, sc.dims.new())
    return Val(const(1), (a,), row)


def indexed_name(sc: Scope, node: S.Name, ctx: Ctx) -> Val:
    name = node.name
    not_recursive(sc, name, ctx, node.pos)
    if name in DELTA_NAMES and name not in sc.tensors:
        return kronecker(sc, node, ctx)
    created = name not in sc.tensors
    if created:
        if name in sc.dim_symbols:
            raise sc.err(IndexMismatchError, f"{name} is a dimension; it takes no "
                         "indices", node.pos)
        if known(name) or name in QUESTION_WORDS or name in sc.declared_functions:
            raise sc.err(ParseError, f"{name} is a function, not a tensor; call it, "
                         f"like {name}(x_i)", node.pos)
        sc.tensors[name] = Tensor(name, tuple(sc.dims.new() for _ in node.indices),
                                  pos=node.pos)
    t = sc.tensors[name]
    if len(node.indices) != len(t.dims):
        hint = (f"; {ALLOWED} (a product like i k is not)" if len(t.dims) < len(node.indices)
                else "")
        raise sc.err(IndexMismatchError, f"{name} has rank {len(t.dims)} (shape "
                     f"{sc.show_vars(t.dims)}) but {sc.src(node.pos)} gives it "
                     f"{plural(len(node.indices), 'index')}{hint}" + (
                         "; Σ is a tensor in this text (it is declared), so Σ_i is not a "
                         "sum here: write sum_i or ∑_i" if name == "Σ" else ""), node.pos)
    if affine_reads.involved(node, ctx):
        return affine_reads.read(sc, node, ctx, t, created)
    for p, (i, v) in enumerate(zip(node.indices, t.dims)):
        sc.index(i, ctx)
        sc.unify(ctx.idx[i], v, lambda: (
            f"dimension mismatch at {sc.src(node.pos)}: index {i} ranges over "
            f"{sc.dims.show(ctx.idx[i])} elsewhere in this statement, but axis {p + 1} "
            f"of {name} has dimension {sc.dims.show(v)}"), node.pos)
    return Val(Var(name, tuple(ix(i) for i in node.indices)), None)


def kronecker(sc: Scope, node: S.Name, ctx: Ctx) -> Val:
    if len(node.indices) == 2 and any(isinstance(i, Shift) for i in node.indices):
        return affine_reads.kronecker(sc, node, ctx)           # δ[q,p−1]: a shifted diagonal
    if len(node.indices) != 2:
        raise sc.err(IndexMismatchError, f"the Kronecker delta takes two indices, like "
                     f"δ_jk, not {sc.src(node.pos)}", node.pos)
    a, b = (sc.index(i, ctx) for i in node.indices)
    sc.unify(ctx.idx[a.name], ctx.idx[b.name], lambda: (
        f"{sc.src(node.pos)} relates indices of different dimensions "
        f"({sc.dims.show(ctx.idx[a.name])} and {sc.dims.show(ctx.idx[b.name])})"),
        node.pos)
    return Val(delta(a, b), None)


def instantiate(sc: Scope, p: Pending, like: Val, ctx: Ctx) -> Val:
    """A Pending name takes the shape of ``like`` (an operand of + - ⊙)."""
    dims = tuple(ctx.idx[a.name] for a in like.axes or ())
    sc.tensors[p.name] = Tensor(p.name, dims, pos=p.pos)
    axes = tuple(sc.fresh(ctx, v) for v in dims)
    return Val(Var(p.name, axes), axes if like.axes is not None else ())


def no_shifts(sc: Scope, names, pos: S.Pos) -> None:
    """``(expr)_{i+k}``, ``softmax(z)_{j-1}``: only a named tensor reads at shifted places."""
    shifted_at = [n for n in names if isinstance(n, Shift)]
    if shifted_at:
        raise sc.err(ParseError, f"{sc.src(pos)}: a shifted subscript ({shifted_at[0].text}) "
                     "may follow a tensor's name only; name the expression first "
                     "(h = ...; then h_{i+k})", pos)


def index_value(sc: Scope, v: Val, names, ctx: Ctx, pos: S.Pos) -> Val:
    """``(expr)_ij``: a matrix-form value read at the given indices."""
    no_shifts(sc, names, pos)
    if v.axes is None:
        raise sc.err(IndexMismatchError, f"{sc.src(pos)}: only a matrix-form "
                     "expression can be indexed; this one is already in index form", pos)
    if len(names) != v.rank:
        raise sc.err(IndexMismatchError, f"{sc.src(pos)} gives "
                     f"{plural(len(names), 'index')} to an expression of rank {v.rank} "
                     f"(shape {sc.shape_of(v, ctx)})", pos)
    mapping = {}
    for n, a in zip(names, v.axes):
        sc.index(n, ctx)
        sc.unify(ctx.idx[n], ctx.idx[a.name], lambda: (
            f"dimension mismatch at {sc.src(pos)}: index {n} ranges over "
            f"{sc.dims.show(ctx.idx[n])} elsewhere but this axis has dimension "
            f"{sc.dims.show(ctx.idx[a.name])}"), pos)
        mapping[a] = ix(n)
    return Val(rename(v.expr, mapping), None)


def einstein(sc: Scope, lowered, ctx: Ctx, pos: S.Pos) -> Val:
    counts: Counter = Counter()
    parts = []
    for op, f, v in lowered:
        if op == "@":
            raise sc.err(ParseError, "@ is the matrix product of matrix-form operands; "
                         "in index form juxtapose the factors (A_ij x_j)", f.pos)
        if isinstance(f, S.Name) and f.indices is not None:
            counts.update(index_names(f.indices))
        else:       # what cancelled while lowering (max(y_a, y_a) − y_a) is still written
            counts.update({i.name for i in v.expr.free} | surely_free(f))
        parts.append(power(v.expr, MINUS_ONE) if op in ("/", "./") else v.expr)
    for name, c in counts.items():
        if c >= 3 and name not in ctx.protected:
            raise sc.err(IndexMismatchError, f"index {name} appears {c} times in "
                         f"{sc.src(pos)}; in a product an index may appear at most "
                         "twice (twice means summed) unless it is on the left-hand side "
                         f"or summed explicitly (sum_{name})", pos)
    summed = [n for n, c in counts.items() if c == 2 and n not in ctx.protected]
    expr = sc.sum_over(summed, mul(*parts), ctx)
    return Val(expr, None if expr.free else ())


def surely_free(node) -> set[str]:
    """The index names certainly free in a surface factor: reached only through sums,
    signs, parentheses, powers, elementwise calls and products that use the name in
    one factor alone.  Anything else may bind a name, so it gives none (the lowered
    value's free indices then count alone)."""
    if isinstance(node, S.Name):
        return {i for i in node.indices or () if isinstance(i, str)}
    if isinstance(node, S.Terms):
        return set().union(*(surely_free(t) for _, t in node.terms))
    if isinstance(node, (S.Neg, S.Paren)) and getattr(node, "indices", None) is None:
        return surely_free(node.body)
    if isinstance(node, S.Power):
        return surely_free(node.base) | surely_free(node.exponent)
    if isinstance(node, S.Call) and node.over is None and node.out is None and (
            canonical_name(node.name) in ELEMENTWISE
            or node.name in ("max", "min") and len(node.args) == 2):
        return set().union(*(surely_free(a) for a in node.args))
    if isinstance(node, S.Chain) and all(op in ("", "*", "/") for op, _ in node.factors):
        seen = Counter(n for _, f in node.factors for n in index_names_in(f))
        return {n for _, f in node.factors for n in surely_free(f) if seen[n] == 1}
    return set()


def index_sum(sc: Scope, vals, node: S.Terms, ctx: Ctx) -> Val:
    """Broadcasting: a term is constant along the indices it leaves out (``h_ij = a_i +
    b_j``, ``Σ_k (X_ik − X_jk)²``, ``Z_bj = X_bi W_ij + b_j``); scalars broadcast
    everywhere.  Whether every free index belongs where it is used is the left-hand
    side's rule (``statements.index_definition``)."""
    expr = add(*(v.expr if s > 0 else neg(v.expr) for s, _, v in vals))
    return Val(expr, None if any(not v.scalar for _, _, v in vals) else ())
