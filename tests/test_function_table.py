"""The function table is the one place a function's facts live: these tests check
that every entry's facts agree with each other (helpers, spellings, domains, identities)
and that the modules reading them see them."""

from fractions import Fraction

import numpy as np
import pytest

import indexcalc
from indexcalc import functions
from indexcalc.calculus.simplify import simplify
from indexcalc.checking.numeric import random_arrays
from indexcalc.compiler import backends
from indexcalc.compiler.prepare import stable_logs
from indexcalc.ir import Apply, Func, Index, Var, const
from indexcalc.testing import numeric_derivative
from indexcalc.model import Binding, Program

ENTRIES = list(functions.ELEMENTWISE.values()) + list(functions.TENSOR.values())
BUILTIN = ["numpy", "torch", "jax", "dask", "cupy"]
x = np.random.default_rng(1).uniform(-2.0, 2.0, size=(3, 4))


@pytest.mark.parametrize("backend", BUILTIN)
def test_every_helper_an_entry_calls_is_defined_for_every_backend(backend):
    b = backends.get_backend(backend)
    for e in ENTRIES:
        code = b.func_code(e.name).format("x") if e.name in functions.ELEMENTWISE \
            else b.tensor_code(e.name) + "(x)"
        called = backends.HELPER_CALL.findall(code)
        assert called == ([e.helper] if e.helper else []), e.name
        if e.helper:
            assert b.helpers[e.helper].startswith(f"def {e.helper}(x):")


def _run(backend: str, helper: str, arg):
    b = backends.get_backend(backend)
    namespace: dict = {}
    exec("\n".join(b.imports) + "\n" + "\n".join(b.helpers.values()), namespace)
    return namespace[helper](arg)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_helper_sources_compute_the_entry_implementation(backend):
    if backend != "numpy":
        lib = pytest.importorskip(backend)
    for e in ENTRIES:
        if not e.helper:
            continue
        arg = x[:3, :3] + 3 * np.eye(3) if getattr(e, "rank_in", 0) == 2 else x
        if backend == "torch":
            got = _run(backend, e.helper, lib.tensor(arg)).numpy()
        elif backend == "jax":
            lib.config.update("jax_enable_x64", True)
            got = np.asarray(_run(backend, e.helper, lib.numpy.asarray(arg)))
        else:
            got = _run(backend, e.helper, arg.copy())
        assert np.allclose(got, e.impl(arg)), (backend, e.name)


def test_fused_identities_hold_numerically():
    assert functions.FUSED == {("log", "softmax"): "log_softmax"}
    for (outer, inner), name in functions.FUSED.items():
        lhs = functions.ELEMENTWISE[outer].impl(functions.TENSOR[inner].impl(x))
        assert np.allclose(lhs, functions.TENSOR[name].impl(x))


def test_simplify_and_prepare_read_the_identity_from_the_table():
    i, j = Index("i", "n"), Index("j", "n")
    z = Var("z", (i,))
    log_s = Func("log", Apply("softmax", z, (i,), (j,)))
    assert simplify(log_s) == Apply("log_softmax", z, (i,), (j,))
    prog = Program((Binding("s", (j,), Apply("softmax", z, (i,), (j,))),
                    Binding("o", (j,), Func("log", Var("s", (j,))))), ("o",))
    rewritten = stable_logs(prog).bindings[1].expr
    assert isinstance(rewritten, Apply) and rewritten.fn == "log_softmax"


@pytest.mark.parametrize("fn", [e.name for e in functions.ELEMENTWISE.values()
                                if e.domain == "positive"])
def test_positive_domains_give_positive_random_inputs(fn):
    d = indexcalc.derivative(f"x : vector[n]\nf = sum_i {fn}(x_i)", wrt="x")
    for seed in range(5):
        assert (random_arrays(d.model, seed=seed)["x"] > 0).all()
    # and the derivative is right there (finite differences in the domain)
    indexcalc.testing.check_grad(f"x : vector[n]\nf = sum_i {fn}(x_i)", wrt="x")


@pytest.mark.parametrize("fn", [e.name for e in functions.TENSOR.values()
                                if e.domain == "invertible"])
def test_invertible_domains_give_well_conditioned_random_inputs(fn):
    expr = "sum(inv(X))" if fn == "inv" else f"{fn}(X)"
    d = indexcalc.derivative(f"X : matrix[n, n]\nf = {expr}", wrt="X")
    for seed in range(5):
        assert np.linalg.cond(random_arrays(d.model, seed=seed)["X"]) < 10


def test_entries_have_printed_names():
    for e in ENTRIES:
        assert e.unicode and e.latex.startswith("\\"), e.name


CONSTANTS = [-2, Fraction(-1, 2), 0, 0.0, Fraction(1, 3), 1, 2, 0.3]


@pytest.mark.parametrize("fn", sorted(functions.ELEMENTWISE))
def test_exact_values_at_constants_are_the_implementations_values(fn):
    """An entry's ``exact`` values (the ones simplification folds: relu(0) → 0, σ(0) → 1/2)
    are what its implementation computes there, at every constant it claims one for;
    step(0) and sign(0) are 0 as np.heaviside(0, 0) and np.sign(0) are."""
    entry = functions.ELEMENTWISE[fn]
    for c in CONSTANTS:
        value = entry.exact(c)
        if value is not None:
            assert float(value) == pytest.approx(float(entry.impl(np.array(float(c)))),
                                                 abs=1e-15), (fn, c)
            assert simplify(Func(fn, const(c))) == const(value)
        elif fn not in ("const_pi", "const_e"):
            assert simplify(Func(fn, const(c))) == Func(fn, const(c))


def test_a_function_of_a_constant_in_a_derivative_is_folded():
    """``relu(x − x)`` is ``relu(0)``, which is 0, not a term left in the answer; the
    derivative is also the finite differences'."""
    model = "x : vector[n]\nE = sum(relu(x - x + 2) x) + sum(sigmoid(x - x) x^2)"
    d = indexcalc.derivative(model, wrt="x_p")
    assert str(d) == "∂E/∂x_p = 2 + x_p"
    m = indexcalc.parse(model)
    arrays = random_arrays(m, seed=3)
    assert np.allclose(d.evaluate(**arrays), numeric_derivative(m, "E", ["x"], arrays),
                       atol=1e-7)
