"""The public entry points: parse, derivative, evaluate, compile, latex.

Each accepts model text or an already parsed ``Model``; parsing is cached at
this string boundary, so asking several questions of one text parses it once.
Each also says which model it works on (``MEMORY.work_on``, see ``memo.py``):
the working memory of the passes belongs to that model.  ``forget`` drops the
parsed texts and the working memory.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

from indexcalc import compiler
from indexcalc.calculus.rules import model_rules
from indexcalc.derivative import INLINE_BUDGET, Derivative, differentiate, parse_wrt
from indexcalc.errors import DerivativeError
from indexcalc.ir import Expr
from indexcalc.memo import MEMORY
from indexcalc.model import Binding, Model, Program, Question
from indexcalc.read.latex import latex as _latex
from indexcalc.syntax.parse import parse as _parse

if TYPE_CHECKING:                       # NumPy loads with the compiler, not here
    import numpy as np

_parse_cached = lru_cache(maxsize=64)(_parse)


def forget() -> None:
    """Forget what is remembered between calls: parsed texts and the working memory."""
    _parse_cached.cache_clear()
    MEMORY.forget()


def parse(text: str) -> Model:
    """Parse model text (declarations, definitions, questions) into a Model."""
    MEMORY.work_on(text)
    return _parse_cached(text)


def _model(model: str | Model) -> Model:
    """The model to work on; its text owns the working memory from now."""
    if isinstance(model, Model):
        MEMORY.work_on(model.text)
        return model
    return parse(model)


def _default_of(model: Model, of: str | None) -> str:
    if of is not None:
        return of
    defs = list(model.definitions)
    if not defs:
        raise DerivativeError("the model has no definitions to differentiate")
    return defs[-1]


def derivative(model: str | Model, wrt: str | Iterable[str], of: str | None = None
               ) -> Derivative:
    """``∂of/∂wrt``; ``of`` defaults to the last definition.  ``wrt`` is a name
    (``"W"``, or ``"W_pq"`` to choose the indices) or a list of them for
    higher derivatives (``["x", "x"]`` is the Hessian)."""
    m = _model(model)
    specs = [wrt] if isinstance(wrt, str) else list(wrt)
    if not specs:
        raise DerivativeError("give at least one variable to differentiate with respect to")
    return differentiate(m, _default_of(m, of), [parse_wrt(s) for s in specs])


def evaluate(model: str | Model, of: str | None = None, /, **arrays) -> np.ndarray:
    """The value of one definition (``of``, by default the last) on the given arrays.

    ``of="E"`` names the definition; a tensor may still be called ``model`` or
    ``of`` (``of=`` with an array is that tensor's array)."""
    if isinstance(arrays.get("of"), str):
        of = arrays.pop("of")
    m = _model(model)
    name = _default_of(m, of)
    program = m.program()
    # the model's arrays passed fix the dimensions even where simplification removed
    # their last use (h_i = x_i - x_i is 0, but still has x's length)
    given = tuple(n for n in m.inputs if n in arrays)
    program = replace(program, outputs=(name,), arguments=given)
    return compiler.program.compile_program(program)(**arrays)


def answer(model: Model, question) -> Derivative:
    """The derivative a Question statement asks for."""
    return differentiate(_model(model), question.of, list(question.wrt), question.of_indices)


def _outputs_program(m: Model, outputs: Iterable[str]) -> Program:
    """One program computing several outputs, definitions by name (``"E"``) and
    derivatives as questions (``"dE/dW"``), its outputs named by their bindings.

    The questions are parsed in one go, appended to the model's text, and the
    derivatives share named adjoints (none inlined when several are asked), so
    the δ's of backprop are computed once for all of them."""
    bindings: dict[str, Binding] = {b.name: b for b in m.program().bindings}
    asked = [spec for spec in outputs if isinstance(spec, str) and spec not in m.definitions]
    answers = _questions(m, asked)
    budget = 0 if len(asked) > 1 else INLINE_BUDGET
    rules = model_rules(m) if asked else None
    names, arguments = [], []
    for spec in outputs:
        if spec in m.definitions:
            names.append(spec)
            continue
        if not isinstance(spec, str):
            raise DerivativeError(f"{spec!r} is neither a definition nor a derivative question")
        q = answers[spec]
        if not isinstance(q, Question):
            raise DerivativeError(f"{spec!r} is neither a definition nor a derivative question")
        d = differentiate(m, q.of, list(q.wrt), q.of_indices, budget=budget, rules=rules)
        for b in d.program.bindings:
            bindings.setdefault(b.name, b)
        names.append(d.name)
        arguments += d.program.arguments
    if not names:
        raise DerivativeError("give at least one output: a definition or a derivative")
    return Program(tuple(bindings.values()), tuple(names), dict(m.shapes),
                   tuple(dict.fromkeys(arguments)))


def _questions(m: Model, asked: list[str]) -> dict:
    """Each asked text -> its last statement, parsed with the model (still working on m):
    all in one parse, or one parse each if a text holds more than one statement."""
    if not asked:
        return {}
    every = _parse_cached(m.text + "".join(f"\n{spec}" for spec in asked)).statements
    tail = every[len(every) - len(asked):]
    if len(every) - len(asked) == len(_parse_cached(m.text).statements):
        return dict(zip(asked, tail))
    return {spec: _parse_cached(f"{m.text}\n{spec}").statements[-1] for spec in asked}


def compile(model: str | Model, outputs: Iterable[str], backend: str = "numpy"):
    """One compiled program computing several outputs with shared work:
    definitions by name (``"E"``) and derivatives as questions (``"dE/dW"``).
    Returns a callable ``f(**arrays) -> dict`` (``f.stats(**arrays)`` counts what a
    call costs, ``f.source`` is the generated code)."""
    m = _model(model)
    outputs = list(outputs)
    program = _outputs_program(m, outputs)
    return compiler.program.compile_program(program, backend=backend, keys=outputs)


def export(model: str | Model, outputs: Iterable[str], name: str | None = None,
           backend: str = "numpy", *, differentiable: bool = False, einsum: bool = False,
           demo: bool = False, ascii: bool = False) -> str:
    """Python source of one function computing ``outputs`` (definitions and derivative
    questions, as for ``compile``) with shared work, returned as a tuple in their order:
    ``export(m, ["E", "dE/dW", "dE/db"])`` writes ``E_and_grads(x, W, b)``.  Its
    parameters are the model's names; see ``Derivative.python`` for ``einsum`` and
    ``demo`` and ``ascii``.  ``differentiable=True`` (torch or jax) also writes a
    ``torch.autograd.Function`` or a ``jax.custom_vjp`` function computing the value,
    whose backward is the exported gradients: outputs are then the value and its
    gradients with respect to inputs."""
    m = _model(model)
    program = _outputs_program(m, list(outputs))
    if backend != "numpy":
        compiler.backends.require(backend)
    if differentiable:
        return compiler.frameworks.differentiable_source(program, backend, name, demo=demo,
                                                        ascii=ascii)
    return compiler.export.python_source(program, backend, name, einsum=einsum, demo=demo,
                                            ascii=ascii)


def latex(node: Expr | Derivative) -> str:
    """LaTeX for an IR node or a derivative."""
    if isinstance(node, Derivative):
        return node.latex()
    return _latex(node)
