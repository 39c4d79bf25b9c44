"""Exported einsum steps and Python source run and agree; names come out safe;
optional backends (torch, jax, dask) where installed."""

import ast
import builtins
import keyword

import numpy as np
import pytest

from indexcalc.compiler.export import einsum_steps, parameters, python_source
from indexcalc.compiler.program import compile_program
from indexcalc.compiler.reference import evaluate_program
from indexcalc.ir import (
    Apply,
    Index,
    Var,
    add,
    const,
    delta,
    func,
    mul,
    neg,
    sub,
    summation,
)
from indexcalc.model import Binding, Program
from indexcalc.naming import safe

i, j, k = (Index(c, "n") for c in "ijk")
b_, c_, d_ = Index("b", "B"), Index("c", "C"), Index("d", "C")
rng = np.random.default_rng(2)


def classifier() -> tuple[Program, dict]:
    """Softmax regression with hostile names: keywords, builtins, dunders, Unicode."""
    prog = Program((
        Binding("θ", (b_, c_), summation([i], mul(Var("class", (b_, i)), Var("lambda", (i, c_))))),
        Binding("s", (b_, d_), Apply("softmax", Var("θ", (b_, c_)), (c_,), (d_,))),
        Binding("E", (), neg(summation([b_, d_], mul(Var("__import__", (b_, d_)),
                                                     func("log", Var("s", (b_, d_))))))),
        Binding("∂E/∂o", (b_, d_), sub(Var("s", (b_, d_)), Var("__import__", (b_, d_)))),
        Binding("print", (i, d_), summation([b_], mul(Var("class", (b_, i)),
                                                      Var("∂E/∂o", (b_, d_))))),
    ), ("E", "print"), {"class": ("B", "n"), "lambda": ("n", "C"), "__import__": ("B", "C")})
    t = np.eye(3)[rng.integers(0, 3, size=6)]
    arrays = {"class": rng.normal(size=(6, 4)), "lambda": 300 * rng.normal(size=(4, 3)),
              "__import__": t}
    return prog, arrays


def run_source(src: str, prog: Program, arrays: dict):
    """Run exported source: its function, called with the model's names as keywords."""
    namespace: dict = {}
    exec(compile(src, "<exported>", "exec"), namespace)
    name = [n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)][-1]
    return namespace[name](**{ident: arrays[n] for n, ident in parameters(prog).items()})


def test_python_source_runs_and_matches():
    prog, arrays = classifier()
    src = python_source(prog)
    E, printed = run_source(src, prog, arrays)              # several outputs: a tuple
    ref = evaluate_program(prog, arrays)
    assert np.isfinite(E) and np.isclose(E, ref["E"])
    assert np.allclose(printed, ref["print"])
    assert src.startswith("import numpy as np") and "def _log_softmax" in src


def test_names_are_safe_identifiers():
    prog, _ = classifier()
    src = python_source(prog)
    tree = ast.parse(src)
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "E_and_print"][0]
    args = [a.arg for a in fn.args.args]
    assert args == ["v_class", "v_lambda", "v___import__"]
    idents = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    for ident in idents | set(args):
        assert ident.isidentifier() and not keyword.iskeyword(ident)
        assert ident in {"np", "_log_softmax", "_logsumexp", "_softmax", "_sizes"} or not (
            hasattr(builtins, ident) or ident.startswith("_"))
    assert "θ = " in src and "dE_do = " in src           # valid identifiers are kept
    doc = ast.get_docstring(fn)
    assert "v_class : array of shape (B, n)\n    the model's 'class', renamed: a Python " \
           "keyword" in doc
    assert "'__import__', renamed: a Python builtin" in doc


@pytest.mark.parametrize("name", ["lambda", "class", "print", "__import__", "∂E/∂o", "θ",
                                  'a"""b', "x\\y", "a b;c"])
def test_safe_names(name):
    ident = "v_" + safe(name)
    assert ident.isidentifier() and ident.isascii() and not keyword.iskeyword(ident)


def test_hostile_names_compile_and_run():
    x = Index("i", "n")
    prog = Program((Binding('a"""b', (x,), func("exp", Var("x\\y", (x,)))),
                    Binding("import os", (), summation([x], Var('a"""b', (x,))))),
                   ("import os",))
    v = rng.normal(size=4)
    assert np.isclose(compile_program(prog)(**{"x\\y": v}), np.exp(v).sum())
    assert np.isclose(run_source(python_source(prog), prog, {"x\\y": v}), np.exp(v).sum())


def test_function_name_must_be_safe():
    from indexcalc.errors import EvaluationError
    prog, arrays = classifier()
    for bad in ["__import__", "print", "lambda", "a b", "v_class"]:
        with pytest.raises(EvaluationError, match="cannot call the exported function"):
            python_source(prog, name=bad)
    assert "def loss(" in python_source(prog, name="loss")


def test_einsum_steps_valid_and_reproduce_a_contraction_program():
    A, x = rng.normal(size=(5, 5)), rng.normal(size=5)
    prog = Program((Binding("y", (i,), summation([j], mul(Var("A", (i, j)), Var("x", (j,))))),
                    Binding("f", (), summation([i, k], mul(Var("y", (i,)), Var("A", (i, k)),
                                                           Var("y", (k,)))))), ("f",))
    steps = einsum_steps(prog)
    env = {"A": A, "x": x}
    for step in steps:
        assert "->" in step.spec and step.kind == "einsum"
        env[step.name] = np.einsum(step.spec, *(env[o] for o in step.operands))
    assert np.isclose(env["f"], (A @ x) @ A @ (A @ x))
    assert steps[0][:3] == ("y", "ab,b->a", ["A", "x"])


def test_einsum_steps_of_mixed_program_are_printable():
    prog, _ = classifier()
    steps = einsum_steps(prog)
    assert any("_log_softmax(" in s.spec and s.kind == "function" for s in steps)
    for name, spec, operands, *_ in steps:
        if "->" in spec:
            shapes = [np.zeros([2] * len(part)) for part in spec.split("->")[0].split(",")]
            np.einsum(spec, *shapes)            # valid einsum input
    print(steps)


def test_exported_source_has_no_identity():
    prog = Program((Binding("H", (i, j), add(mul(const(2), delta(i, j)),
                                             mul(Var("x", (i,)), Var("x", (j,))))),), ("H",))
    src = python_source(prog)
    assert "eye" not in src and "identity" not in src and "zeros" in src
    x = rng.normal(size=4)
    assert np.allclose(run_source(src, prog, {"x": x}), 2 * np.eye(4) + np.outer(x, x))


# ---------------------------------------------------------------- optional backends

def _check_backend(backend: str, convert, back):
    prog, arrays = classifier()
    ref = evaluate_program(prog, arrays)
    f = compile_program(prog, backend=backend)
    out = f(**{n: convert(a) for n, a in arrays.items()})
    assert np.isclose(back(out["E"]), ref["E"]) and np.allclose(back(out["print"]), ref["print"])
    src = python_source(prog, backend=backend)
    out = run_source(src, prog, {n: convert(a) for n, a in arrays.items()})
    assert np.isclose(back(out[0]), ref["E"])
    H = Program((Binding("H", (i, j, k), add(mul(Var("x", (i,)), delta(j, k)),
                                             mul(Var("x", (i,)), Var("x", (j,)),
                                                 Var("x", (k,))))),), ("H",))
    x = rng.normal(size=3)
    want = np.einsum("i,jk->ijk", x, np.eye(3)) + np.einsum("i,j,k->ijk", x, x, x)
    assert np.allclose(back(compile_program(H, backend=backend)(x=convert(x))), want)
    return out


def test_torch_backend():
    torch = pytest.importorskip("torch")
    _check_backend("torch", torch.from_numpy, lambda t: t.detach().numpy())


def test_jax_backend():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    _check_backend("jax", jnp.asarray, np.asarray)


def test_dask_backend_is_lazy():
    da = pytest.importorskip("dask.array")
    out = _check_backend("dask", lambda a: da.from_array(a, chunks=2), lambda a: a.compute())
    prog, arrays = classifier()
    res = compile_program(prog, backend="dask")(
        **{n: da.from_array(a, chunks=2) for n, a in arrays.items()})
    assert isinstance(res["print"], da.Array)
    assert out is not None


def test_unknown_backend_is_an_error():
    from indexcalc.errors import EvaluationError
    prog, _ = classifier()
    with pytest.raises(EvaluationError, match="backend"):
        compile_program(prog, backend="no_such_library_xyz")
