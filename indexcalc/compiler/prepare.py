"""Program passes that run once, before code generation, whatever the shapes.

The compiler and the exporters see a ``Program`` as the symbolic engine made
it.  Before generating code these pure passes (Program -> Program) make it
cheaper and safer to run:

* ``prune``: keep only the bindings the outputs need (dead-binding elimination);
* ``stable_softmax``: the written-out forms ``exp(z_j) / Σ_i exp(z_i)`` and
  ``log Σ_i exp(z_i)`` become ``softmax`` and ``logsumexp``, which are computed
  with the maximum subtracted (finite for logits of ±1000);
* ``stable_logs``: ``log(softmax(z))`` -- directly or through a binding whose
  body is a softmax -- becomes ``log_softmax(z)``, so cross-entropy over
  logits of ±1000 is finite and correct;
* ``check_evaluable``: an opaque function cannot be run, and says so.

``prepare`` chains them in one visible place.
"""

from __future__ import annotations

from dataclasses import replace

from indexcalc.errors import EvaluationError
from indexcalc.functions import ELEMENTWISE, TENSOR, fused
from indexcalc.ir import (
    MINUS_ONE,
    Apply,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
    instantiate,
    mul,
    rebuild,
    rename,
    unique_binders,
    walk,
)
from indexcalc.model import Binding, Program, needed


def prepare(program: Program) -> Program:
    """The passes every code generator runs, in order."""
    program = prune(program)
    program = stable_softmax(program)
    program = stable_logs(program)
    check_evaluable(program)
    return program


def prune(program: Program) -> Program:
    """Only the bindings the outputs depend on, in their original order."""
    defs = {b.name: b for b in program.bindings}
    for name in program.outputs:
        if name not in defs:
            raise EvaluationError(f"output {name!r} is not a binding of the program")
    return replace(program, bindings=needed(program.bindings, program.outputs))


def stable_softmax(program: Program) -> Program:
    """Written-out softmax and log-sum-exp become the stable tensor functions."""
    bindings = tuple(Binding(b.name, b.indices, _softmaxes(b.expr)) for b in program.bindings)
    return replace(program, bindings=bindings)


def _softmaxes(e: Expr) -> Expr:
    if e.children:
        e = rebuild(e, tuple(_softmaxes(c) for c in e.children))
    if isinstance(e, Func) and e.name == "log" and not e.order:
        lse = _sum_of_exp(e.arg)
        if lse:                                            # log Σ_i exp(b_i) = lse_i(b_i)
            return Apply("logsumexp", lse[1], lse[0], ())
    if isinstance(e, Mul):
        factors = list(e.factors)
        for k, f in enumerate(factors):
            denominator = _sum_of_exp(f.base) if isinstance(f, Pow) and f.exponent == MINUS_ONE \
                else None
            if not denominator:
                continue
            (i,), body = denominator
            for m, g in enumerate(factors):
                j = _softmax_index(g, i, body)
                if j is not None:                          # exp(b_j) / Σ_i exp(b_i)
                    rest = [h for n, h in enumerate(factors) if n not in (k, m)]
                    return mul(Apply("softmax", body, (i,), (j,)), *rest)
    return e


def _sum_of_exp(e: Expr):
    """(bound indices, b) when ``e`` is Σ_i exp(b_i) over one index."""
    if (isinstance(e, Sum) and len(e.indices) == 1 and isinstance(e.body, Func)
            and e.body.name == "exp" and not e.body.order):
        return e.indices, e.body.arg
    return None


def _softmax_index(g: Expr, i: Index, body: Expr) -> Index | None:
    """The index j with ``g == exp(body[i -> j])``, if there is one."""
    if not (isinstance(g, Func) and g.name == "exp" and not g.order):
        return None
    for j in g.arg.free - body.free:
        if j.dim == i.dim and rename(body, {i: j}) == g.arg:
            return j
    return None


def stable_logs(program: Program) -> Program:
    """``log(softmax(z)_j)`` -> ``log_softmax(z)_j``, also through softmax bindings."""
    softmaxes: dict[str, Binding] = {}
    out = []
    for b in program.bindings:
        expr = _rewrite_logs(b.expr, softmaxes)
        out.append(Binding(b.name, b.indices, expr))
        if isinstance(expr, Apply) and fused("log", expr.fn) and not expr.order:
            softmaxes[b.name] = b
    return replace(program, bindings=tuple(out))


def _rewrite_logs(e: Expr, softmaxes: dict[str, Binding]) -> Expr:
    if isinstance(e, Func) and e.name == "log" and not e.order:
        arg = e.arg
        if isinstance(arg, Var) and arg.name in softmaxes:
            b = softmaxes[arg.name]
            arg = instantiate(unique_binders(b.expr, {i.name for i in arg.indices}),
                              b.indices, arg.indices)
        if isinstance(arg, Apply) and fused(e.name, arg.fn) and not arg.order:
            return Apply(fused(e.name, arg.fn), arg.arg, arg.over, arg.out)
    if not e.children:
        return e
    children = tuple(_rewrite_logs(c, softmaxes) for c in e.children)
    if children == e.children:
        return e
    return rebuild(e, children)


def check_evaluable(program: Program) -> None:
    """Raise for the first opaque function: there is nothing to run for it."""
    for b in program.bindings:
        for node in walk(b.expr):
            if isinstance(node, Func) and (node.name not in ELEMENTWISE or node.order):
                raise _opaque(node.name + "'" * node.order)
            if isinstance(node, Apply) and (node.fn not in TENSOR or node.order):
                raise _opaque(node.fn + "'" * node.order)


def _opaque(name: str) -> EvaluationError:
    return EvaluationError(f"{name} is an opaque function; indexcalc cannot evaluate it")
