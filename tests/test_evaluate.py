"""The reference evaluator against NumPy closed forms, and its error messages."""

import numpy as np
import pytest

from indexcalc.compiler.reference import evaluate_expr, evaluate_program
from indexcalc.compiler.shapes import bind_dims
from indexcalc.errors import EvaluationError
from indexcalc.ir import (
    Apply,
    Delta,
    DimSize,
    Index,
    Var,
    add,
    const,
    delta,
    func,
    mul,
    power,
    summation,
)
from indexcalc.model import Binding, Program

i, j, k, l = (Index(c, "n") for c in "ijkl")
p, q = Index("p", "m"), Index("q", "m")
rng = np.random.default_rng(0)
A = rng.normal(size=(4, 4))
B = rng.normal(size=(4, 3))
x = rng.normal(size=4)
y = rng.normal(size=3)
ENV = {"A": A, "B": B, "x": x, "y": y}


def ev(expr, *indices):
    return evaluate_expr(expr, ENV, indices, {"n": 4, "m": 3})


def test_matvec_and_transpose():
    e = summation([j], mul(Var("A", (i, j)), Var("x", (j,))))
    assert np.allclose(ev(e, i), A @ x)
    assert np.allclose(ev(Var("A", (i, j)), j, i), A.T)


def test_trace_diagonal_and_dimsize():
    assert np.allclose(ev(summation([i], Var("A", (i, i)))), np.trace(A))
    assert np.allclose(ev(Var("A", (i, i)), i), np.diag(A))
    assert np.allclose(ev(DimSize("n")), 4)


def test_deltas_and_broadcast():
    h = add(Var("A", (i, j)), Var("A", (j, i)))
    assert np.allclose(ev(h, i, j), A + A.T)
    assert np.allclose(ev(mul(Var("x", (i,)), delta(j, k)), i, j, k),
                       np.einsum("i,jk->ijk", x, np.eye(4)))
    assert np.allclose(ev(add(Var("x", (i,)), const(1)), i), x + 1)
    assert np.allclose(ev(Var("x", (i,)), i, j), np.broadcast_to(x[:, None], (4, 4)))
    assert np.allclose(ev(Delta(i, j), i, j), np.eye(4))


def test_elementwise_and_powers():
    e = mul(func("exp", Var("x", (i,))), power(Var("x", (i,)), const(-1)))
    assert np.allclose(ev(e, i), np.exp(x) / x)
    assert np.allclose(ev(func("sigmoid", Var("x", (i,))), i), 1 / (1 + np.exp(-x)))


def test_apply_softmax_batched_and_matrix_functions():
    s = Apply("softmax", Var("B", (i, p)), (p,), (q,))
    e = np.exp(B - B.max(1, keepdims=True))
    assert np.allclose(ev(s, i, q), e / e.sum(1, keepdims=True))
    s_first = Apply("softmax", Var("B", (i, p)), (i,), (j,))      # over the first axis
    e0 = np.exp(B - B.max(0))
    assert np.allclose(ev(s_first, p, j), (e0 / e0.sum(0)).T)
    assert np.allclose(ev(Apply("inv", Var("A", (i, j)), (i, j), (k, l)), k, l),
                       np.linalg.inv(A))
    assert np.allclose(ev(Apply("logdet", Var("A", (i, j)), (i, j))),
                       np.linalg.slogdet(A)[1])


def test_logsumexp_stable():
    z = np.array([1000.0, -1000.0, 999.0])
    r = evaluate_expr(Apply("logsumexp", Var("z", (Index("a", 3),)), (Index("a", 3),)),
                      {"z": z}, ())
    assert np.isfinite(r) and np.isclose(r, 1000 + np.log1p(np.exp(-1.0)))


def test_program_mlp_like():
    z = Binding("z", (p,), summation([i], mul(Var("B", (i, p)), Var("x", (i,)))))
    h = Binding("h", (p,), func("tanh", Var("z", (p,))))
    E = Binding("E", (), summation([p], mul(Var("h", (p,)), Var("y", (p,)))))
    prog = Program((z, h, E), ("E", "h"), {"B": ("n", "m"), "x": ("n",), "y": ("m",)})
    out = evaluate_program(prog, ENV)
    assert np.allclose(out["h"], np.tanh(x @ B))
    assert np.allclose(out["E"], np.tanh(x @ B) @ y)


def test_opaque_function_is_an_error():
    with pytest.raises(EvaluationError, match="f is an opaque function"):
        ev(func("f", Var("x", (i,))), i)


def test_bind_dims_errors_name_variable_and_shapes():
    shapes = {"A": ("n", "n"), "B": ("n", "m")}
    assert bind_dims(shapes, ENV) == {"n": 4, "m": 3}
    with pytest.raises(EvaluationError, match="missing array for 'B'"):
        bind_dims(shapes, {"A": A})
    with pytest.raises(EvaluationError, match=r"dimension n is 4 from 'A' but 5 from 'B'"):
        bind_dims(shapes, {"A": A, "B": np.zeros((5, 3))})
    with pytest.raises(EvaluationError, match=r"'B' has shape \(4,\), expected \(n, m\) = \(4, m\)"
                       r" \(rank 2, got rank 1\)"):
        bind_dims(shapes, {"A": A, "B": np.zeros(4)})
    with pytest.raises(EvaluationError, match=r"dimension n is 4 from 'A' but 5 from 'x'"):
        bind_dims({"A": ("n", "n"), "x": ("n",)}, {"A": A, "x": np.zeros(5)})
    with pytest.raises(EvaluationError, match=r"expected \(3,\)"):
        bind_dims({"x": (3,)}, {"x": x})


def test_dims_bound_from_env_when_not_given():
    e = summation([j], mul(Var("A", (i, j)), Var("x", (j,))))
    assert np.allclose(evaluate_expr(e, ENV, (i,)), A @ x)
    with pytest.raises(EvaluationError, match="missing array for 'z'"):
        evaluate_expr(Var("z", (i,)), ENV, (i,))
