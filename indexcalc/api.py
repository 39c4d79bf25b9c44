"""The public entry points: parse, derivative, evaluate, compile, latex.

Each accepts model text or an already parsed ``Model``; parsing is cached at
this string boundary, so asking several questions of one text parses it once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import numpy as np

from .derivative import Derivative, differentiate, parse_wrt
from .errors import DerivativeError
from .ir import Expr
from .model import Model, Program


@lru_cache(maxsize=64)
def _parse_cached(text: str) -> Model:
    from .parse import parse as _parse
    return _parse(text)


def parse(text: str) -> Model:
    """Parse model text (declarations, definitions, questions) into a Model."""
    return _parse_cached(text)


def _model(model: str | Model) -> Model:
    return model if isinstance(model, Model) else parse(model)


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


def evaluate(model: str | Model, of: str | None = None, **arrays) -> np.ndarray:
    """The value of one definition of the model on the given arrays."""
    from .compile import compile_program
    m = _model(model)
    name = _default_of(m, of)
    program = m.program()
    program = Program(program.bindings, (name,), program.shapes)
    return compile_program(program)(**arrays)


def latex(node: Expr | Derivative) -> str:
    """LaTeX for an IR node or a derivative."""
    if isinstance(node, Derivative):
        return node.latex()
    from .latex import latex as _latex
    return _latex(node)
