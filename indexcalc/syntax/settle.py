"""Settling dimensions: once the whole text is read, every index gets its dimension.

While statements are lowered their IR carries the placeholder dimension on
every index, and each statement's ``Ctx`` maps index names to dimension
variables (``dimensions.DimTable``).  ``finish`` names the unresolved
dimensions (``N``, ``N1``...), replaces the placeholders in every lowered
statement, and builds the ``Model``.
"""

from __future__ import annotations

from indexcalc.ir import Delta, Expr, Index, Var, walk
from indexcalc.model import Assume, Check, Definition, Model, Question, Wrt
from indexcalc.syntax.dimensions import fresh_dim_name, settle_expr
from indexcalc.syntax import ranges
from indexcalc.syntax.scope import SPECIAL_NAMES, Ctx, Scope
from indexcalc.syntax.affine_reads import has_affine, settle_subs


def finish(sc: Scope) -> Model:
    taken = (set(sc.tensors) | set(sc.dim_symbols) | sc.functions | sc.index_names
             | set(sc.declared_functions) | set(SPECIAL_NAMES))
    names: dict[str, object] = {}
    ranged = ranges.constrained_roots(sc)          # decided by ranges.resolve, below
    for root in sorted({sc.dims.find(v) for v in sc.dims.parent},
                       key=lambda r: int(r[1:]) if r.startswith("?") else -1):
        if sc.dims.pin.get(root) is None and root not in ranged:
            name = fresh_dim_name(taken)
            taken.add(name)
            names[root] = name
    sc.generated = names
    if ranged or any(getattr(ctx, "reads", None) for _, ctx in sc.done):
        ranges.resolve(sc, lambda v: settle_var(sc, v))
    statements = [settle_statement(sc, st, ctx) for st, ctx in sc.done]
    shapes = {n: tuple(settle_var(sc, v) for v in t.dims) for n, t in sc.tensors.items()
              if not t.step}                  # a named check step is no tensor of the model
    dims = set(sc.dim_symbols)
    for shape in shapes.values():
        dims.update(d for d in shape if isinstance(d, str))
    return Model(tuple(statements), shapes,
                 frozenset(n for n, t in sc.tensors.items() if t.symmetric),
                 frozenset(sc.functions), frozenset(dims), sc.text)


def settle_var(sc: Scope, v: str):
    root = sc.dims.find(v)
    value = sc.dims.pin.get(root)
    return value if value is not None else sc.generated[root]


def settle_statement(sc: Scope, st, ctx: Ctx | None):
    if ctx is None:
        return st
    dim_of = dim_resolver(sc, st, ctx)

    def fix(e: Expr) -> Expr:
        if has_affine(e):
            e = settle_subs(e, lambda i: Index(i.name, dim_of(i.name)),
                            lambda v: settle_var(sc, v))
        return settle_expr(e, dim_of, lambda v: settle_var(sc, v))

    def fix_ix(indices):
        return None if indices is None else tuple(Index(i.name, dim_of(i.name))
                                                  for i in indices)
    if isinstance(st, Definition):
        return Definition(st.name, fix_ix(st.indices), fix(st.expr), st.matrix_form,
                          st.span, st.source)
    if isinstance(st, Assume):
        return Assume(fix(st.lhs), fix(st.rhs), st.span, st.source)
    if isinstance(st, Check):
        return Check(settle_question(sc, st.question, fix_ix), fix(st.claim), st.span,
                     st.source, tuple(fix(e) for e in st.chain), st.name)
    return settle_question(sc, st, fix_ix)


def settle_question(sc: Scope, q: Question, fix_ix) -> Question:
    wrt = tuple(Wrt(w.name, fix_ix(w.indices)) for w in q.wrt)
    return Question(q.kind, q.of, wrt, fix_ix(q.of_indices), q.span, q.source)


def dim_resolver(sc: Scope, st, ctx: Ctx):
    """Index name -> settled dimension, also for names made by IR helpers
    (they are found from the tensors they index)."""
    exprs = {Definition: lambda s: [s.expr], Assume: lambda s: [s.lhs, s.rhs],
             Check: lambda s: [s.claim, *s.chain]}.get(type(st), lambda s: [])(st)
    for e in exprs:
        for node in walk(e):
            if isinstance(node, Var) and node.name in sc.tensors:
                for i, v in zip(node.indices, sc.tensors[node.name].dims):
                    ctx.idx.setdefault(i.name, v)
    for e in exprs:
        for node in walk(e):
            if isinstance(node, Delta):
                a, b = node.a.name, node.b.name
                if a in ctx.idx or b in ctx.idx:
                    v = ctx.idx.get(a) or ctx.idx.get(b)
                    ctx.idx.setdefault(a, v)
                    ctx.idx.setdefault(b, v)

    def dim_of(name: str):
        if name not in ctx.idx:
            ctx.idx[name] = sc.dims.new()
            sc.generated[sc.dims.find(ctx.idx[name])] = fresh_dim_name(
                set(sc.tensors) | set(sc.dim_symbols) | set(sc.generated.values())
                | sc.index_names)
        return settle_var(sc, ctx.idx[name])
    return dim_of
