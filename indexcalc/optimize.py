"""Program passes that run once, before code generation, whatever the shapes.

The compiler and the exporters see a ``Program`` as the symbolic engine made
it.  Before generating code these pure passes (Program -> Program) make it
cheaper and safer to run:

* ``prune``: keep only the bindings the outputs need (dead-binding elimination);
* ``stable_logs``: ``log(softmax(z))`` -- directly or through a binding whose
  body is a softmax -- becomes ``log_softmax(z)``, so cross-entropy over
  logits of ±1000 is finite and correct;
* ``check_evaluable``: an opaque function cannot be run, and says so.

``prepare`` chains them in one visible place.
"""

from __future__ import annotations

from dataclasses import replace

from .errors import EvaluationError
from .functions import ELEMENTWISE, TENSOR
from .ir import Apply, Expr, Func, Var, instantiate, rebuild, unique_binders, var_names, walk
from .model import Binding, Program


def prepare(program: Program) -> Program:
    """The passes every code generator runs, in order."""
    program = prune(program)
    program = stable_logs(program)
    check_evaluable(program)
    return program


def prune(program: Program) -> Program:
    """Only the bindings the outputs depend on, in their original order."""
    defs = {b.name: b for b in program.bindings}
    for name in program.outputs:
        if name not in defs:
            raise EvaluationError(f"output {name!r} is not a binding of the program")
    needed = set(program.outputs)
    for b in reversed(program.bindings):
        if b.name in needed:
            needed |= var_names(b.expr) & defs.keys()
    kept = tuple(b for b in program.bindings if b.name in needed)
    return replace(program, bindings=kept)


def stable_logs(program: Program) -> Program:
    """``log(softmax(z)_j)`` -> ``log_softmax(z)_j``, also through softmax bindings."""
    softmaxes: dict[str, Binding] = {}
    out = []
    for b in program.bindings:
        expr = _rewrite_logs(b.expr, softmaxes)
        out.append(Binding(b.name, b.indices, expr))
        if isinstance(expr, Apply) and expr.fn == "softmax" and not expr.order:
            softmaxes[b.name] = b
    return replace(program, bindings=tuple(out))


def _rewrite_logs(e: Expr, softmaxes: dict[str, Binding]) -> Expr:
    if isinstance(e, Func) and e.name == "log" and not e.order:
        arg = e.arg
        if isinstance(arg, Var) and arg.name in softmaxes:
            b = softmaxes[arg.name]
            arg = instantiate(unique_binders(b.expr, {i.name for i in arg.indices}),
                              b.indices, arg.indices)
        if isinstance(arg, Apply) and arg.fn == "softmax" and not arg.order:
            return Apply("log_softmax", arg.arg, arg.over, arg.out)
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
