"""Checking matrix and Kronecker forms numerically (helpers for the tests).

A matrix form is checked twice: its text is parsed back with the grammar (the
ones vector ``𝟙`` and the identity ``I`` as the notation writes them, sized from
their context) and evaluated by the reference evaluator, and its matrix expression (``mexpr``
nodes, Kronecker products included) is evaluated directly with NumPy.  Both
are compared with the index form.  Opaque functions (f, L) are replaced on
both sides by the same concrete functions, so the checks stay exact.
"""

from __future__ import annotations

import re
from functools import reduce

import numpy as np

import indexcalc
from indexcalc.compiler.reference import evaluate_program
from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.ir import Apply, Func, mul, rebuild
from indexcalc.model import Binding, Program
from indexcalc.read import mexpr as M
from indexcalc.read.matrix import matrix_form
from indexcalc.testing import random_arrays

CONCRETE = {0: "tanh", 1: "sigmoid", 2: "exp", 3: "sin"}      # stand-ins for f, f', f''...
CONCRETE_APPLY = {0: "logsumexp", 1: "softmax"}                # ... and for L, L'


def concrete_apply(e):
    """L(a) -> logsumexp(a), L'(a)_p -> softmax(a)_p, L''(a)_pq -> softmax(a)_p softmax(a)_q."""
    arg = concrete(e.arg)
    if e.order < 2:
        return Apply(CONCRETE_APPLY[e.order], arg, e.over, e.out)
    return mul(*(Apply("softmax", arg, e.over, (o,)) for o in e.out))


def concrete(e):
    """``e`` with opaque functions replaced by known ones (the same on both sides)."""
    if isinstance(e, Func) and e.name not in ELEMENTWISE:
        return Func(CONCRETE[e.order], concrete(e.arg))
    if isinstance(e, Apply) and e.fn not in TENSOR:
        return concrete_apply(e)
    if not e.children:
        return e
    return rebuild(e, tuple(concrete(c) for c in e.children))


def run(program: Program, arrays: dict) -> dict:
    bindings = tuple(Binding(b.name, b.indices, concrete(b.expr)) for b in program.bindings)
    arguments = tuple(program.arguments) + tuple(n for n in program.shapes if n in arrays)
    return evaluate_program(Program(bindings, program.outputs, program.shapes, arguments),
                            arrays)


def sizes_for(model) -> dict:
    return {d: 3 + k for k, d in enumerate(sorted(str(d) for d in model.dims))}


def arrays_for(model, seed=0, sizes=None):
    return random_arrays(model, seed=seed, sizes=sizes or sizes_for(model))


def declaration(form_text: str, shape) -> str:
    """The result's shape declared, when the form uses 𝟙 or I or is a number: ``x 𝟙ᵀ``,
    ``I`` alone or ``Pm_ij = 0`` says nothing about the size of the 𝟙, the I or the
    indices, which the notation then takes from the declaration (without one it would
    be a fresh dimension)."""
    defs = [ln for ln in form_text.splitlines() if "=" in ln and not ln.lstrip().startswith("#")]
    if not defs:
        return ""
    lhs, rhs = defs[-1].split("=", 1)
    constant = re.fullmatch(r"[\d\s./()−-]+", rhs.strip())       # Pm_ij = 0 says no sizes
    if not shape or not (re.search(r"𝟙|\bI\b", form_text) or constant):
        return ""
    name = re.match(r"[^\s_\[]+", lhs.strip()).group(0)
    kind = {1: "vector", 2: "matrix"}.get(len(shape), "tensor")
    return f"{name} : {kind}[{', '.join(str(d) for d in shape)}]\n"


def declared(model) -> str:
    """Declarations of the model's inputs with the shapes it inferred (for a model written
    without any: a form's ``𝟙`` sized by a declaration must meet the same dimension names,
    not fresh ones the rank inference would give the inputs after it)."""
    kinds = {0: "scalar", 1: "vector", 2: "matrix"}
    lines = []
    for name in model.inputs:
        shape = model.shapes[name]
        kind = kinds.get(len(shape), "tensor")
        lines.append(f"{name} : {kind}" + (f"[{', '.join(map(str, shape))}]" if shape else ""))
    return "\n".join(lines) + "\n"


def parsed_value(model_text: str, form_text: str, arrays: dict, sizes: dict,
                 shape=()) -> np.ndarray:
    """Parse the model with the form's lines appended (after the result's shape, if
    ``shape`` gives it and the form needs it); the value of the last definition."""
    m = indexcalc.parse(model_text + "\n" + declaration(form_text, shape) + form_text)
    name = list(m.definitions)[-1]
    program = m.program()
    return run(Program(program.bindings, (name,), program.shapes), arrays)[name]


def check_derivative(model_text: str, wrt, layout="column", seeds=(0, 1)):
    """The derivative's matrix form, after checking its text (𝟙 and I included),
    parsed back, against the index form."""
    d = indexcalc.derivative(model_text, wrt=wrt)
    model = indexcalc.parse(model_text)
    sizes = sizes_for(model)
    form = matrix_form(d, layout=layout)
    for seed in seeds:
        arrays = arrays_for(model, seed, sizes)
        want = run(d.program, arrays)[d.name]
        if form.result == "0":                    # dfdA_pq = 0 names no dimension to parse
            assert not np.any(want)
            continue
        got = parsed_value(model_text, form.text, arrays, sizes, d.shape)
        assert got.shape == want.shape, (form.text, got.shape, want.shape)
        assert np.allclose(got, want), form.text
    return form


# ---------------------------------------------------------------- direct evaluation

def value(m: M.MExpr, env: dict, sizes: dict):
    """The NumPy value of a matrix expression; names from ``env`` (or dimension sizes)."""
    v = lambda x: value(x, env, sizes)                                        # noqa: E731
    if isinstance(m, M.MName):
        return env[m.name] if m.name in env else sizes[m.name]
    if isinstance(m, M.MNum):
        return float(m.value)
    if isinstance(m, M.MOnes):
        return np.ones(_size(m.dim, sizes))
    if isinstance(m, M.MIdentity):
        return np.eye(_size(m.dim, sizes))
    if isinstance(m, M.MT):
        return v(m.arg).T
    if isinstance(m, M.MProd):
        return reduce(np.matmul, [v(f) for f in m.factors])
    if isinstance(m, M.MOuter):
        return np.outer(v(m.u), v(m.v))
    if isinstance(m, M.MHad):
        return reduce(np.multiply, [v(f) for f in m.factors])
    if isinstance(m, M.MScale):
        c = float(m.coeff) * np.prod([v(s) for s in m.scalars])
        return c * (v(m.arg) if m.arg is not None else 1.0)
    if isinstance(m, M.MAdd):
        return reduce(np.add, [v(t) for t in m.terms])
    if isinstance(m, M.MPow):
        return np.power(v(m.base), v(m.exponent))
    if isinstance(m, M.MKron):
        a, b = (_as_matrix(v(x), k) for x, k in zip((m.a, m.b), m.kinds))
        return np.kron(a, b)
    if isinstance(m, M.MCall):
        return _call(m, v(m.arg))
    raise TypeError(type(m).__name__)


def _size(dim, sizes):
    return dim if isinstance(dim, int) else sizes[str(dim)]


def _as_matrix(x, kind):
    return x.reshape(1, -1) if kind == "row" else x.reshape(-1, 1) if kind == "col" else x


def _call(m: M.MCall, x):
    if m.fn == "diag":
        return np.diag(x)
    if m.fn == "tr":
        return np.trace(x)
    if m.fn == "sum":
        return np.sum(x)
    if m.fn in ELEMENTWISE:
        return ELEMENTWISE[m.fn].impl(x)
    if m.fn in TENSOR:
        return TENSOR[m.fn].impl(x)
    if m.rank == x.ndim:                                   # an opaque elementwise f
        return ELEMENTWISE[CONCRETE[m.order]].impl(x)
    return TENSOR[CONCRETE_APPLY[m.order]].impl(x)


def vec_matrix(array: np.ndarray, rows: int) -> np.ndarray:
    """An array with axes (o1, o2, w1, w2) as ∂vec(Y)/∂vec(X): both sides column-major."""
    r = int(np.prod(array.shape[:rows]))
    return array.reshape((r, -1), order="F")


def sizes_from(model, arrays: dict) -> dict:
    """The dimension sizes that ``arrays`` bind for ``model``."""
    sizes = {}
    for name, shape in model.shapes.items():
        if name in arrays:
            for d, n in zip(shape, np.shape(arrays[name])):
                sizes[str(d)] = n
    return sizes
