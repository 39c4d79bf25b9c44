"""The compiler against the reference evaluator and NumPy closed forms.

Programs are built by hand from IR constructors: products, traces, deltas
(Hessian-like outputs), softmax cross-entropy at logits of ±1000, sharing,
dead bindings, the per-shape cache, and no identity matrix ever allocated.
"""

import numpy as np
import opt_einsum
import pytest

from indexcalc.compiler.program import compile_program
from indexcalc.compiler.reference import evaluate_program
from indexcalc.errors import EvaluationError
from indexcalc.ir import (
    Apply,
    DimSize,
    Index,
    Var,
    add,
    const,
    delta,
    func,
    mul,
    neg,
    power,
    sub,
    summation,
)
from indexcalc.model import Binding, Program

i, j, k, l = (Index(c, "n") for c in "ijkl")
p, q = Index("p", "m"), Index("q", "m")
b_, c_, d_ = Index("b", "B"), Index("c", "C"), Index("d", "C")
rng = np.random.default_rng(1)
A = rng.normal(size=(5, 5))
B = rng.normal(size=(5, 3))
x = rng.normal(size=5)
y = rng.normal(size=3)
ARR = {"A": A, "B": B, "x": x, "y": y}


def prog(*bindings, outputs=None):
    return Program(tuple(bindings), tuple(outputs or [bindings[-1].name]))


def both(program, arrays=ARR):
    """Compiled and reference values, as dicts (and checks they agree)."""
    out = compile_program(program)(**arrays)
    if len(program.outputs) == 1:
        out = {program.outputs[0]: out}
    ref = evaluate_program(program, arrays)
    for n in program.outputs:
        assert np.shape(out[n]) == np.shape(ref[n]), n
        assert np.allclose(out[n], ref[n]), n
    return out


def Ax(a=i, s=j):
    return summation([s], mul(Var("A", (a, s)), Var("x", (s,))))


CASES = [
    ("matvec", Binding("z", (i,), Ax()), lambda: A @ x),
    ("vecmat", Binding("z", (j,), summation([i], mul(Var("A", (i, j)), Var("x", (i,))))),
     lambda: x @ A),
    ("quadratic form", Binding("f", (), summation([i, j], mul(Var("x", (i,)), Var("A", (i, j)),
                                                              Var("x", (j,))))),
     lambda: x @ A @ x),
    ("trace", Binding("t", (), summation([i], Var("A", (i, i)))), lambda: np.trace(A)),
    ("trace of cube", Binding("t", (), summation([i, j, k], mul(
        Var("A", (i, j)), Var("A", (j, k)), Var("A", (k, i))))), lambda: np.trace(A @ A @ A)),
    ("diagonal", Binding("d", (i,), Var("A", (i, i))), lambda: np.diag(A)),
    ("A + A^T", Binding("H", (i, j), add(Var("A", (i, j)), Var("A", (j, i)))),
     lambda: A + A.T),
    ("x x^T + 2 I", Binding("H", (i, j), add(mul(Var("x", (i,)), Var("x", (j,))),
                                            mul(const(2), delta(i, j)))),
     lambda: np.outer(x, x) + 2 * np.eye(5)),
    ("x_i δ_jk", Binding("T", (i, j, k), mul(Var("x", (i,)), delta(j, k))),
     lambda: np.einsum("i,jk->ijk", x, np.eye(5))),
    ("x_i δ_ij δ_kl", Binding("T", (i, j, k, l), mul(Var("x", (i,)), delta(i, j), delta(k, l))),
     lambda: np.einsum("i,ij,kl->ijkl", x, np.eye(5), np.eye(5))),
    ("Σ_j A_ij δ_jk", Binding("C", (i, k), summation([j], mul(Var("A", (i, j)), delta(j, k)))),
     lambda: A),
    ("Σ_jk δ_jk = n", Binding("n", (i,), add(summation([j, k], delta(j, k)), Var("x", (i,)))),
     lambda: 5.0 + x),
    ("A_ij δ_ij = tr", Binding("t", (), summation([i, j], mul(Var("A", (i, j)), delta(i, j)))),
     lambda: np.trace(A)),
    ("dimsize", Binding("m", (i,), mul(DimSize("n"), Var("x", (i,)))), lambda: 5 * x),
    ("broadcast", Binding("z", (i, p), add(Var("x", (i,)), Var("y", (p,)))),
     lambda: x[:, None] + y),
    ("outer", Binding("o", (i, p), mul(Var("x", (i,)), Var("y", (p,)))), lambda: np.outer(x, y)),
    ("outer transposed", Binding("o", (p, i), mul(Var("x", (i,)), Var("y", (p,)))),
     lambda: np.outer(y, x)),
    ("gram", Binding("G", (p, q), summation([i], mul(Var("B", (i, p)), Var("B", (i, q))))),
     lambda: B.T @ B),
    ("rowwise dot", Binding("r", (i,), summation([p], mul(Var("B", (i, p)), Var("B", (i, p))))),
     lambda: (B * B).sum(1)),
    ("x^T x", Binding("s", (), summation([i], power(Var("x", (i,)), const(2)))),
     lambda: x @ x),
    ("elementwise chain", Binding("g", (i,), mul(func("sigmoid", Var("x", (i,))),
                                                 sub(const(1), func("sigmoid", Var("x", (i,)))))),
     lambda: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    ("division", Binding("r", (i,), mul(Var("x", (i,)), power(summation([j], func(
        "exp", Var("x", (j,)))), const(-1)))), lambda: x / np.exp(x).sum()),
    ("inverse", Binding("V", (k, l), Apply("inv", Var("A", (i, j)), (i, j), (k, l))),
     lambda: np.linalg.inv(A)),
    ("det times inverse", Binding("G", (i, j), mul(Apply("det", Var("A", (k, l)), (k, l)),
                                                   Apply("inv", Var("A", (k, l)), (k, l),
                                                         (j, i)))),
     lambda: np.linalg.det(A) * np.linalg.inv(A).T),
    ("logsumexp", Binding("L", (), Apply("logsumexp", Var("x", (i,)), (i,))),
     lambda: np.log(np.exp(x).sum())),
    ("sqrt power", Binding("r", (i,), power(func("abs", Var("x", (i,))), const(0.5))),
     lambda: np.sqrt(np.abs(x))),
]


@pytest.mark.parametrize("name,binding,closed", CASES, ids=[c[0] for c in CASES])
def test_compiled_matches_reference_and_closed_form(name, binding, closed):
    out = both(prog(binding))
    assert np.allclose(out[binding.name], closed())


def test_mlp_gradient_program_shares_work_and_drops_dead_bindings():
    z = Binding("z", (p,), summation([i], mul(Var("B", (i, p)), Var("x", (i,)))))
    h = Binding("h", (p,), func("tanh", Var("z", (p,))))
    g = Binding("∂E/∂z", (p,), mul(sub(const(1), power(Var("h", (p,)), const(2))),
                                   Var("y", (p,))))
    dB = Binding("∂E/∂B", (i, p), mul(Var("x", (i,)), Var("∂E/∂z", (p,))))
    dx = Binding("∂E/∂x", (i,), summation([q], mul(Var("B", (i, q)), Var("∂E/∂z", (q,)))))
    dead = Binding("dead", (i,), func("exp", Var("x", (i,))))
    program = Program((z, h, g, dB, dead, dx), ("∂E/∂B", "∂E/∂x"))
    out = both(program)
    gz = (1 - np.tanh(x @ B) ** 2) * y
    assert np.allclose(out["∂E/∂B"], np.outer(x, gz)) and np.allclose(out["∂E/∂x"], B @ gz)
    f = compile_program(program)
    f(**ARR)
    assert "exp" not in f.source and f.source.count("tanh") == 1


def test_common_subexpressions_computed_once():
    Ax_i, Ax_k = Ax(i, j), Ax(k, l)           # equal up to renaming
    b1 = Binding("u", (i,), func("exp", Ax_i))
    b2 = Binding("v", (k,), mul(Ax_k, Ax_k))
    f = compile_program(prog(b1, b2, outputs=["u", "v"]))
    out = f(**ARR)
    assert np.allclose(out["u"], np.exp(A @ x)) and np.allclose(out["v"], (A @ x) ** 2)
    assert f.source.count("@") == 1


def test_softmax_cross_entropy_stable_at_large_logits():
    """E = -Σ t log softmax(z): log of a softmax binding becomes log_softmax."""
    s = Binding("s", (b_, d_), Apply("softmax", Var("z", (b_, c_)), (c_,), (d_,)))
    E = Binding("E", (), neg(summation([b_, d_], mul(Var("t", (b_, d_)),
                                                     func("log", Var("s", (b_, d_)))))))
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    t = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = compile_program(prog(s, E))(z=z, t=t)
    assert np.isfinite(out) and np.isclose(out, 2000.0 + 1.0 + np.log1p(np.exp(-1.0)))
    grad = Binding("g", (b_, d_), sub(Var("s", (b_, d_)), Var("t", (b_, d_))))
    g = compile_program(prog(s, grad))(z=z, t=t)
    assert np.all(np.isfinite(g)) and np.allclose(g.sum(1), 0.0)


def test_logsumexp_and_softmax_over_first_axis():
    L = Binding("L", (c_,), Apply("logsumexp", Var("z", (b_, c_)), (b_,)))
    z = np.array([[1000.0, -1000.0], [999.0, -999.0]])
    out = compile_program(prog(L))(z=z)
    assert np.allclose(out, [1000 + np.log1p(np.exp(-1.0)), -999 + np.log1p(np.exp(-1.0))])


def test_compilation_cached_per_shape_signature(monkeypatch):
    f = compile_program(prog(Binding("f", (), summation([i, j, k], mul(
        Var("A", (i, j)), Var("A", (j, k)), Var("x", (k,)), Var("x", (i,)))))))
    calls = []
    real = opt_einsum.contract_path
    monkeypatch.setattr(opt_einsum, "contract_path", lambda *a, **kw: calls.append(1) or
                        real(*a, **kw))
    f(A=A, x=x)
    planned = len(calls)
    assert planned >= 1
    for _ in range(3):
        assert np.isclose(f(A=A, x=x), x @ A @ A @ x)
    assert len(calls) == planned
    A2, x2 = rng.normal(size=(7, 7)), rng.normal(size=7)
    assert np.isclose(f(A=A2, x=x2), x2 @ A2 @ A2 @ x2)
    assert len(calls) > planned and len(f.plans) == 2


def test_no_identity_allocated_for_deltas(monkeypatch):
    """Hessian of xᵀx (2δ_ij), of xᵀAx, and Σ_j A_ij δ_jk never call np.eye & co."""
    def forbidden(*a, **kw):
        raise AssertionError("identity materialised")
    for fn in ("eye", "identity", "diag", "diagflat"):
        monkeypatch.setattr(np, fn, forbidden)
    H = Binding("H", (i, j), add(mul(const(2), delta(i, j)), mul(Var("x", (i,)), Var("x", (j,)))))
    f = compile_program(prog(H))
    out = f(x=x)
    assert np.allclose(out, 2 * np.equal.outer(range(5), range(5)) + np.outer(x, x))
    for word in ("eye", "identity", "diag(", "diagflat"):
        assert word not in f.source
    T = compile_program(prog(Binding("T", (i, j, k), mul(Var("x", (i,)), delta(j, k)))))
    assert T(x=x)[2, 3, 3] == x[2] and T(x=x)[2, 3, 4] == 0
    C = compile_program(prog(Binding("C", (i, k), summation([j], mul(Var("A", (i, j)),
                                                                     delta(j, k))))))
    assert C(A=A) is A or np.array_equal(C(A=A), A)


def test_logistic_regression_hessian_has_no_dense_diagonal():
    s_ = Index("s", "S")
    z = Binding("z", (s_,), summation([i], mul(Var("X", (s_, i)), Var("w", (i,)))))
    sg = func("sigmoid", Var("z", (s_,)))
    H = Binding("H", (i, j), summation([s_], mul(Var("X", (s_, i)), sg, sub(const(1), sg),
                                                 Var("X", (s_, j)))))
    X, w = rng.normal(size=(20, 4)), rng.normal(size=4)
    f = compile_program(prog(z, H))
    out = f(X=X, w=w)
    sig = 1 / (1 + np.exp(-X @ w))
    assert np.allclose(out, X.T @ (X * (sig * (1 - sig))[:, None]))
    assert "eye" not in f.source and "zeros" not in f.source


def test_several_outputs_dict_and_scalar_output_type():
    f = compile_program(prog(Binding("z", (i,), Ax()), Binding("t", (), summation(
        [i], Var("A", (i, i)))), outputs=["z", "t"]))
    out = f(**ARR)
    assert set(out) == {"z", "t"} and np.isclose(out["t"], np.trace(A))


def test_errors_missing_array_bad_shape_opaque():
    f = compile_program(prog(Binding("z", (i,), Ax())))
    with pytest.raises(EvaluationError, match="missing array for 'x'"):
        f(A=A)
    with pytest.raises(EvaluationError, match="dimension n"):
        f(A=A, x=np.zeros(4))
    with pytest.raises(EvaluationError, match="f is an opaque function"):
        compile_program(prog(Binding("z", (i,), func("f", Var("x", (i,))))))


def test_explain_plan_reports_path_info():
    f = compile_program(prog(Binding("f", (), summation([i, j, k], mul(
        Var("A", (i, j)), Var("A", (j, k)), Var("x", (k,)), Var("x", (i,)))))))
    plans = f.explain_plan(A=A, x=x)
    assert plans and plans[0][1].opt_cost > 0 and "Complete contraction" in str(plans[0][1])
    assert f.explain_plan() == plans                     # without arrays: the last plan


def test_explain_plan_reports_the_flops_of_the_cheapest_order():
    """z_il = A_ij B_jk C_kl for A 2x30, B 30x40, C 40x5: (A B) C costs 2·(2·30·40) +
    2·(2·40·5) = 5600 FLOPs with a 2x40 intermediate; A (B C) would cost 12600."""
    a, b_, c_ = (Index(n, d) for n, d in [("a", "I"), ("b", "J"), ("c", "K")])
    e = Index("e", "L")
    f = compile_program(prog(Binding("z", (a, e), summation([b_, c_], mul(
        Var("A", (a, b_)), Var("B", (b_, c_)), Var("C", (c_, e)))))))
    arrays = {"A": rng.normal(size=(2, 30)), "B": rng.normal(size=(30, 40)),
              "C": rng.normal(size=(40, 5))}
    (spec, info), = f.explain_plan(**arrays)
    assert spec == "ab,bc,cd->ad"
    assert info.opt_cost == 5600 and info.largest_intermediate == 80
    assert list(info.path) == [(0, 1), (0, 1)]
    assert np.allclose(f(**arrays), arrays["A"] @ arrays["B"] @ arrays["C"])


def test_lists_accepted_and_int_arrays():
    f = compile_program(prog(Binding("z", (i,), Ax())))
    assert np.allclose(f(A=A.tolist(), x=list(x)), A @ x)
    assert np.allclose(f(A=np.arange(4).reshape(2, 2), x=np.array([1, 2])), [2, 8])


def test_written_out_softmax_and_logsumexp_are_computed_stably():
    """S1 as users write it (exp(z_j) / Σ_i exp(z_i)) survives logits of ±1000."""
    import indexcalc
    model = ("o_j = exp(z_j) / sum_i exp(z_i)\nE = -sum_j t_j log(o_j)\n"
             "F = log(sum_i exp(z_i))")
    z, t = np.array([1000.0, -1000.0, 0.0]), np.array([0.0, 1.0, 0.0])
    grad = indexcalc.derivative(model, wrt="z", of="E")
    np.testing.assert_allclose(grad.evaluate(z=z, t=t), [1.0, -1.0, 0.0])
    assert indexcalc.evaluate(model, of="E", z=z, t=t) == pytest.approx(2000.0)
    assert indexcalc.evaluate(model, of="F", z=z, t=t) == pytest.approx(1000.0)
    assert "np.exp(v_z)" not in grad.python()            # no overflowing exponentials
