"""Questions and the claims of ``check``: ``dE/dz_k``, ``grad(E, W)``, ``check dE/dW == ...``.

A question has the shape of a derivative (``dE/dz_k``, ``∂E/∂W``, ``d W[p,q]``)
or of a call to ``grad``, ``jacobian`` or ``hessian``; only as a whole
statement is it a question.  A question about whole variables (``dE/dW``)
takes its indices from a matrix-form claim.
"""

from __future__ import annotations

from indexcalc.errors import (
    DerivativeError,
    IndexMismatchError,
    ParseError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.functions import known
from indexcalc.ir import Expr
from indexcalc.model import Question, Wrt
from indexcalc.syntax import expressions
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import QUESTION_WORDS, Ctx, Scope, Val, ix, shifted_names_in


def question(sc: Scope, node, pos: S.Pos):
    """``(Question, ctx)`` if ``node`` has the shape of a question, else None."""
    ctx = sc.new_ctx(node)
    if isinstance(node, S.Call) and node.name in QUESTION_WORDS:
        if len(node.args) != 2 or not all(isinstance(a, S.Name) for a in node.args):
            raise sc.err(ParseError, f"{node.name} takes a function and a variable, "
                         f"like {node.name}(E, W)", node.pos)
        of, wrt = node.args
        wrts = [wrt, wrt] if node.name == "hessian" else [wrt]
        if node.name == "hessian" and wrt.indices is not None:
            raise sc.err(DerivativeError, "hessian takes the whole variable, like "
                         "hessian(f, x)", wrt.pos)
        parts = [(of.name, of.indices, of.pos)] + [(w.name, w.indices, w.pos) for w in wrts]
        return make_question(sc, node.name, parts, pos, ctx), ctx
    if not isinstance(node, S.Chain):
        return None
    ops = [op for op, _ in node.factors[1:]]
    if ops.count("/") != 1 or any(op not in ("", "/") for op in ops):
        return None
    cut = ops.index("/") + 1
    num = diff_operand(sc, [f for _, f in node.factors[:cut]])
    den = diff_operand(sc, [f for _, f in node.factors[cut:]])
    if num is None or den is None:
        return None
    return make_question(sc, "derivative", [num, den], pos, ctx), ctx


def diff_operand(sc: Scope, factors):
    """``dE``, ``d E``, ``∂E``, ``dz_k``, ``d W[p,q]`` -> (name, indices, pos)."""
    if len(factors) == 1 and isinstance(factors[0], S.Partial):
        body = factors[0].body
        if isinstance(body, S.Name):
            return body.name, body.indices, body.pos
        if isinstance(body, S.Num):
            return str(body.value), None, body.pos
        return "(" + sc.src(body.pos) + ")", None, body.pos
    if len(factors) == 1 and isinstance(factors[0], S.Name):
        f = factors[0]
        if f.name.startswith("d") and len(f.name) > 1:
            return f.name[1:], f.indices, f.pos
    if (len(factors) == 2 and isinstance(factors[0], S.Name) and factors[0].name == "d"
            and factors[0].indices is None):
        f = factors[1]
        if isinstance(f, S.Name):
            return f.name, f.indices, f.pos
        if isinstance(f, S.Num):
            return str(f.value), None, f.pos
    return None


def make_question(sc: Scope, kind: str, parts, pos: S.Pos, ctx: Ctx) -> Question:
    (of, of_ix, of_pos), wrts = parts[0], parts[1:]
    if of not in sc.tensors:
        raise sc.err(UnknownNameError, f"{of} is not defined; a question asks for the "
                     "derivative of a defined quantity", of_pos)
    of_indices = question_indices(sc, of, of_ix, of_pos, ctx)
    out = []
    for name, idx, wpos in wrts:
        check_variable(sc, name, wpos)
        out.append(Wrt(name, question_indices(sc, name, idx, wpos, ctx)))
    named = [i.name for i in (of_indices or ())]
    named += [i.name for w in out for i in (w.indices or ())]
    repeated = sorted({n for n in named if named.count(n) > 1})
    if repeated:
        raise sc.err(IndexMismatchError, f"index {repeated[0]} is used twice in the "
                     "question; give the function and the variable different indices",
                     pos)
    return Question(kind, of, tuple(out), of_indices, sc.span(pos),
                    sc.statement_source(pos))


def check_variable(sc: Scope, name: str, pos: S.Pos) -> None:
    if name in sc.tensors:
        return
    if name[:1].isdigit() or name.startswith("("):
        why = "it is not a variable"
    elif known(name) or name in sc.functions or name in QUESTION_WORDS:
        why = "it is a function, not a variable"
    elif name in sc.dim_symbols:
        why = "it is a dimension, not a variable"
    else:
        why = "it is not a variable of the model (declare it or use it in a definition)"
    raise sc.err(DerivativeError, f"cannot differentiate with respect to {name}: {why}",
                 pos)


def question_indices(sc: Scope, name: str, names, pos: S.Pos, ctx: Ctx):
    if names is None:
        return None
    t = sc.tensors[name]
    if len(names) != len(t.dims):
        raise sc.err(IndexMismatchError, f"{name} has rank {len(t.dims)} but is written "
                     f"with {len(names)} ind{'ex' if len(names) == 1 else 'ices'}", pos)
    if len(set(names)) != len(names):
        raise sc.err(IndexMismatchError, "the indices of a variable in a question must "
                     "differ", pos)
    for n, v in zip(names, t.dims):
        sc.index(n, ctx)
        sc.dims.unify(ctx.idx[n], v)
    return tuple(ix(n) for n in names)


def check_claim(sc: Scope, q: Question, ctx: Ctx, node) -> tuple[Question, Expr]:
    """Lower the claim of ``check``; its free indices are the question's.  A question
    about whole variables (dE/dW) takes its indices from a matrix-form claim."""
    slots = []                       # (position, tensor dims) of unnamed indices
    if q.of_indices is None and sc.tensors[q.of].dims:
        slots.append((-1, sc.tensors[q.of].dims))
    for k, w in enumerate(q.wrt):
        if w.indices is None and sc.tensors[w.name].dims:
            slots.append((k, sc.tensors[w.name].dims))
    named = [i for i in (q.of_indices or ())] + [i for w in q.wrt for i in (w.indices or ())]
    ctx.lhs = frozenset(i.name for i in named)
    ctx.shifted = ctx.shifted | frozenset(shifted_names_in(node))    # c_{p−k} in the claim
    v = expressions.lower_value(sc, node, ctx.protect(ctx.lhs))
    if not slots:
        if v.matrix:
            raise sc.err(IndexMismatchError, "the question names its indices, so the "
                         "claim must be in index form too (or ask about the whole "
                         "variable, like dE/dW)", node.pos)
        free = {i.name for i in v.expr.free}
        if not free <= set(ctx.lhs):
            raise sc.err(IndexMismatchError, "the claim's free indices "
                         f"{{{', '.join(sorted(free))}}} must be among the question's "
                         f"{{{', '.join(i.name for i in named)}}} (the claim is constant "
                         "along those it leaves out)", node.pos)
        return q, v.expr
    return fill_question(sc, q, v, slots, ctx, node)


def fill_question(sc: Scope, q: Question, v: Val, slots, ctx: Ctx, node):
    if v.indexed:
        raise sc.err(IndexMismatchError, "this question has no indices, so the claim "
                     "must be in matrix form; to write it in index form, name the "
                     "indices in the question (like dE/dW_pq)", node.pos)
    dims = [d for _, ds in slots for d in ds]
    if v.scalar:
        axes = tuple(sc.fresh(ctx, d) for d in dims)
    elif v.rank != len(dims):
        raise sc.err(ShapeError, f"the claim has rank {v.rank} but the derivative has "
                     f"rank {len(dims)} (the function's axes, then the variable's)",
                     node.pos)
    else:
        axes = v.axes
        for a, d in zip(axes, dims):
            sc.unify(ctx.idx[a.name], d, lambda: (
                "the claim's shape does not match the derivative's"), node.pos)
    given, k = {}, 0
    for pos_, ds in slots:
        given[pos_], k = axes[k:k + len(ds)], k + len(ds)
    wrt = tuple(Wrt(w.name, given.get(j, w.indices)) for j, w in enumerate(q.wrt))
    q = Question(q.kind, q.of, wrt, given.get(-1, q.of_indices), q.span, q.source)
    return q, v.expr
