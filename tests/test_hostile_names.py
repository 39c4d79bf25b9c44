"""Hostile names never reach generated code as written.

Generated Python is exec'd (compile) and pasted by users (export), so a tensor
named ``lambda``, ``print`` or ``__import__``, or a name that is not an
identifier at all (``θ``, the adjoint ``∂E/∂o``, a quote, a newline) must be
spelt safely (``naming.py``: ``v_<safe>``), and the code must still compute the
right numbers.  Two routes in: names the notation accepts (keywords and
builtins are letters, so they parse), and names put into the IR directly,
which the grammar could never produce.  Each generated source is checked with
``ast``: it imports only the array library, calls no builtin that runs code,
and uses no hostile name as an identifier.
"""

from __future__ import annotations

import ast
import keyword

import numpy as np
import pytest

import indexcalc
from indexcalc.compiler.export import parameters, python_source
from indexcalc.compiler.pasting import why_unsafe
from indexcalc.compiler.program import compile_program
from indexcalc.ir import Index, Var, add, mul, summation
from indexcalc.model import Binding, Program
from indexcalc.testing import random_arrays

KEYWORDS = ["lambda", "class", "def", "import", "return", "None", "True", "yield", "del",
            "global", "not", "async", "await", "pass", "raise"]
BUILTINS = ["print", "exec", "eval", "open", "compile", "globals", "input", "np", "torch",
            "jnp", "self", "t1", "d", "v", "x", "derivative"]
DANGEROUS_CALLS = {"exec", "eval", "compile", "open", "__import__", "getattr", "globals",
                   "input", "print", "breakpoint", "setattr", "delattr", "vars"}


def load(source: str):
    """Run exported source; its (last) function, called by the model's names."""
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    name = [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)][-1]
    return namespace[name]


def call(fn, program, arrays):
    return fn(**{ident: arrays[n] for n, ident in parameters(program).items()})


def check_source(source: str, names: list[str]) -> None:
    """Safe names are kept as written (parameters are the model's names); the others
    never appear as identifiers."""
    hostile = [n for n in names if why_unsafe(n)]
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = {a.name for a in node.names}
            assert names <= {"numpy", "torch", "jax", "jax.numpy", "dask.array"}, names
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in DANGEROUS_CALLS, ast.unparse(node)
        if isinstance(node, ast.Name):
            assert node.id not in hostile or node.id in {"np", "torch", "jnp"}, node.id
        if isinstance(node, ast.arg):
            assert node.arg not in hostile and node.arg.isidentifier(), node.arg
            assert not keyword.iskeyword(node.arg) and not why_unsafe(node.arg), node.arg


@pytest.mark.parametrize("name", KEYWORDS + BUILTINS)
def test_keyword_and_builtin_names_from_text(name):
    text = (f"{name} : vector[n]\nW : matrix[n, m]\nh = W' {name}\n"
            f"E = sum(tanh(h)) + {name}_i {name}_i")
    model = indexcalc.parse(text)
    d = indexcalc.derivative(model, name)
    arrays = random_arrays(model, 0)
    x, W = arrays[name], arrays["W"]
    want = W @ (1 - np.tanh(W.T @ x) ** 2) + 2 * x
    assert np.allclose(d.evaluate(**arrays), want)
    assert np.allclose(d.evaluate_reference(**arrays), want)
    for backend in ("numpy", "torch", "jax"):
        source = d.python(backend)
        check_source(source, [name])
    fn = load(d.python())                                           # runs, same numbers
    params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    assert (name in params) == (not why_unsafe(name)), params      # kept when safe
    assert np.allclose(call(fn, d.program, arrays), want), params
    f = indexcalc.compile(text, [f"dE/d{name}"])
    assert np.allclose(f(**arrays)[f"dE/d{name}"], want)


def test_dimension_names_and_generated_names_do_not_collide():
    # dimensions called like the generated temporaries and prefixes
    text = ("t1 : vector[np]\nt2 : vector[np]\nd : matrix[np, lambda]\n"
            "h = d' t1 + d' t2\nE = sum(h ⊙ h)")
    model = indexcalc.parse(text)
    d = indexcalc.derivative(model, "t1")
    arrays = random_arrays(model, 1)
    A, a, b = arrays["d"], arrays["t1"], arrays["t2"]
    want = 2 * A @ (A.T @ (a + b))
    assert np.allclose(d.evaluate(**arrays), want)
    check_source(d.python(), [])


def test_greek_and_ascii_spellings_that_sanitise_alike():
    text = "θ : vector[n]\ntheta : vector[n]\nE = θ_i theta_i + θ_i θ_i"
    model = indexcalc.parse(text)
    d = indexcalc.derivative(model, "θ")
    arrays = random_arrays(model, 2)
    assert np.allclose(d.evaluate(**arrays), arrays["theta"] + 2 * arrays["θ"])
    check_source(d.python(), ["θ"])


HOSTILE_IR = ["__import__", "__builtins__", "os.system", "x; import os", "a\nimport os",
              '"""', "'", "\\", "∂E/∂o", "∂²E/∂x∂x", "θ", "x y", "1x", "", "lambda",
              "__class__", "exec(\"1\")", "#", "v_x", "\u202eevil", "𝑥", "a" * 300]


@pytest.mark.parametrize("name", HOSTILE_IR, ids=range(len(HOSTILE_IR)))
def test_hostile_names_in_the_ir_reach_code_safely(name):
    """A program built in the IR with names the grammar cannot produce."""
    i, j = Index("i", "n"), Index("j", "n")
    other = "y" if name != "y" else "z"
    adjoint = f"∂{name}/∂{other}"
    bindings = (
        Binding(adjoint, (i,), mul(Var(name, (i,)), Var(other, (i,)))),
        Binding("result", (), summation((j,), add(Var(adjoint, (j,)), Var(name, (j,))))),
    )
    program = Program(bindings, ("result",), {name: ("n",), other: ("n",)})
    arrays = {name: np.arange(1.0, 4.0), other: np.array([2.0, -1.0, 0.5])}
    want = float(np.sum(arrays[name] * arrays[other] + arrays[name]))
    for backend in ("numpy", "torch", "jax"):
        check_source(python_source(program, backend=backend), [name, adjoint])
    assert np.isclose(compile_program(program)(**arrays), want)
    fn = load(python_source(program))
    params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    assert len(params) == 2 and all(p.isidentifier() for p in params)
    assert (name in params) == (not why_unsafe(name))
    assert np.isclose(call(fn, program, arrays), want)
