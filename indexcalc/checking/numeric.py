"""Numbers for checking derivatives: random inputs inside the functions' domains,
central finite differences, and the numeric derivative of a model's definition.

``checking.claims`` decides verdicts with them; ``indexcalc.testing`` offers
them to users' own tests.  Domains (positive where a log, a square root or a
non-integer power needs it; well-conditioned where a determinant or an inverse
needs it) are read from the function table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from indexcalc import functions
from indexcalc.compiler.reference import evaluate_program
from indexcalc.derivative import differentiate, parse_wrt
from indexcalc.errors import LimitError
from indexcalc.ir import Apply, Const, Func, Pow, Var, walk
from indexcalc.ir.affine import DimExpr, dim_value
from indexcalc.limits import MAX_RANDOM_ENTRIES
from indexcalc.model import Model, needed

DEFAULT_SIZE = 3


def random_arrays(model: Model, seed: int = 0, sizes: dict[str, int] | None = None,
                  names: list[str] | None = None, flip: bool = False) -> dict[str, np.ndarray]:
    """Random float64 arrays for the model's inputs, in the functions' domains.  An
    input that must be invertible is drawn near 2 I, or with ``flip`` near
    diag(−2, 2, ..., 2): as invertible, with a determinant of the other sign."""
    rng = np.random.default_rng(seed)
    dims = _dim_sizes(model, rng, sizes or {})
    positive, square = _domains(model)
    arrays = {}
    for name in names or model.inputs:
        shape = tuple(dim_value(d, dims) for d in model.shapes[name])
        if math.prod(shape) > MAX_RANDOM_ENTRIES:          # vector[10^23]: refused, not tried
            raise LimitError(f"a random {name} of shape {shape} would have more than "
                             f"{MAX_RANDOM_ENTRIES:,} entries; declare smaller sizes "
                             f"for random inputs")
        if name in square and len(shape) == 2 and shape[0] == shape[1]:
            n = shape[0]
            diagonal = np.full(n, 2.0)
            diagonal[0] = -2.0 if flip else 2.0
            a = np.diag(diagonal) + 0.4 * rng.standard_normal(shape) / np.sqrt(n)
        elif name in positive:
            a = rng.uniform(0.5, 1.5, shape)
        else:
            a = rng.uniform(-1.0, 1.0, shape)
        if name in model.symmetric:
            a = (a + a.T) / 2
        arrays[name] = a
    return arrays


def _dim_sizes(model: Model, rng, sizes: dict[str, int]) -> dict[str, int]:
    out = dict(sizes)
    for dim in sorted(model.dims):
        if dim not in out:
            out[dim] = int(rng.integers(2, 5))
    for shape in model.shapes.values():
        for d in shape:
            if isinstance(d, str) and d not in out:
                out[d] = int(rng.integers(2, 5))
    derived = [d for shape in model.shapes.values() for d in shape if isinstance(d, DimExpr)]
    for _ in range(64):                  # valid ranges (n − K + 1) at least 2 long
        short = [d for d in derived if d.value(out) < 2]
        if not short:
            break
        for d in short:
            for sym, c in d.terms:
                if c > 0 and sym not in sizes:
                    out[sym] += 1
    return out


def invertible_inputs(model: Model) -> set[str]:
    """The inputs drawn as invertible matrices (near 2 I)."""
    return _domains(model)[1]


def _domains(model: Model) -> tuple[set[str], set[str]]:
    """Inputs that must be positive, and inputs that must be invertible matrices."""
    positive, square = set(), set()
    for d in model.definitions.values():
        for node in walk(d.expr):
            if isinstance(node, Func) and functions.domain(node.name) == "positive":
                positive |= _vars(node.arg)
            elif isinstance(node, Pow) and not (isinstance(node.exponent, Const)
                                                and float(node.exponent.value).is_integer()):
                positive |= _vars(node.base)      # a root; a reciprocal needs no sign
            elif isinstance(node, Apply) and functions.domain(node.fn) == "invertible":
                square |= _vars(node.arg)
    return positive, square


def _vars(e) -> set[str]:
    return {n.name for n in walk(e) if isinstance(n, Var)}


def finite_difference(f: Callable[[dict], np.ndarray], arrays: dict[str, np.ndarray],
                      wrt: str, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f(arrays)`` with respect to ``arrays[wrt]``;
    shape ``f.shape + arrays[wrt].shape``."""
    x = np.asarray(arrays[wrt], dtype=float)
    base = np.asarray(f(arrays))
    out = np.zeros(base.shape + x.shape)
    for pos in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[pos] += eps
        minus[pos] -= eps
        hi = np.asarray(f({**arrays, wrt: plus}))
        lo = np.asarray(f({**arrays, wrt: minus}))
        out[(Ellipsis,) + pos] = (hi - lo) / (2 * eps)
    return out


def numeric_derivative(model: Model, of: str, wrt: list[str], arrays: dict,
                       eps: float = 1e-5) -> np.ndarray:
    """The derivative by finite differences: of the value for a gradient, of the
    (symbolic) gradient for a Hessian, and so on.  Only the definitions ``of`` needs are
    evaluated: another one may use a function indexcalc cannot evaluate."""
    if len(wrt) == 1:
        prog = model.program()
        given = tuple(n for n in model.inputs if n in arrays)    # they fix the dimensions
        prog = replace(prog, bindings=needed(prog.bindings, (of,)), outputs=(of,),
                       arguments=given)
        return finite_difference(lambda a: evaluate_program(prog, a)[of], arrays, wrt[0], eps)
    lower = differentiate(model, of, [parse_wrt(w) for w in wrt[:-1]])
    return finite_difference(lambda a: lower.evaluate_reference(**a), arrays, wrt[-1], eps)
