"""What a compiled derivative costs, counted from its plan: products, sizes, liveness.

Performance is never timed in a test.  The plan reports how many matrix
products it does, its FLOPs, the largest array it makes and the most elements
alive at once (``Compiled.stats``); these tests hold those numbers to what the
hand-written program needs, and check every result against finite differences
and the closed form, so that a cheaper plan can never be a wrong one.
"""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc
from indexcalc.testing import check_grad

RNG = np.random.default_rng(17)


def compiled_derivative(text, wrt, arrays):
    c = indexcalc.derivative(text, wrt=wrt).compile()
    return c, c(**arrays), c.stats(**arrays)


def forward_bound(text, arrays) -> int:
    """Elements of the largest input or value of the model's own definitions: what
    the function itself holds, so what its gradient may hold."""
    values = [indexcalc.evaluate(text, name, **arrays) for name in indexcalc.parse(text)
              .definitions]
    return max(np.size(a) for a in list(arrays.values()) + values)


# ---------------------------------------------------------------- no blow-ups

TRACE = "A : matrix[n, n]\nX : matrix[n, m]\nB : matrix[m, m]\nF = tr(A X B Xᵀ)"


def test_trace_quadratic_form_never_builds_the_four_index_array():
    n, m = 30, 20
    arrays = {"A": RNG.standard_normal((n, n)), "X": RNG.standard_normal((n, m)),
              "B": RNG.standard_normal((m, m))}
    c, got, stats = compiled_derivative(TRACE, "X", arrays)
    A, X, B = arrays["A"], arrays["X"], arrays["B"]
    np.testing.assert_allclose(got, A.T @ X @ B.T + A @ X @ B, rtol=1e-12)
    assert stats["largest"] <= max(n * n, m * m, n * m)        # not n² m²
    assert stats["products"] == 4                               # Aᵀ X Bᵀ + A X B
    assert stats["peak"] <= 4 * max(n * n, m * m, n * m)
    check_grad(TRACE, "X")


NORM = "X : matrix[n, m]\nW : matrix[m, k]\nR = X - X W Wᵀ\nf = sum_{i,j} R_ij R_ij"
NORM2 = "X : matrix[n, m]\nW : matrix[m, k]\nf = norm(X - X W Wᵀ)^2"


@pytest.mark.parametrize("text", [NORM, NORM2])
def test_projection_residual_gradient_stays_within_the_inputs(text):
    n, m, k = 40, 30, 5
    arrays = {"X": RNG.standard_normal((n, m)), "W": RNG.standard_normal((m, k))}
    c, got, stats = compiled_derivative(text, "W", arrays)
    X, W = arrays["X"], arrays["W"]
    R = X - X @ W @ W.T
    np.testing.assert_allclose(got, -2 * (X.T @ R @ W + R.T @ X @ W), rtol=1e-10)
    assert stats["largest"] <= forward_bound(text, arrays)     # not n × m × m
    check_grad(text, "W")


ATTENTION = ("Q : matrix[n, d]\nK : matrix[n, d]\nV : matrix[n, d]\nG : matrix[n, d]\n"
             "S = Q Kᵀ\nP = softmax(S)\nO = P V\nE = sum_{i,a} G_ia O_ia")


def attention_arrays(n=24, d=6):
    return {k: RNG.standard_normal((n, d)) / d ** 0.25 for k in "QKVG"}


def attention_hand(Q, K, V, G):
    S = Q @ K.T
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dS = G @ V.T
    dS = P * (dS - (dS * P).sum(axis=1, keepdims=True))
    return dS @ K, dS.T @ Q, P.T @ G


def test_attention_gradients_share_their_work_and_stay_within_the_forward():
    arrays = attention_arrays()
    f = indexcalc.compile(ATTENTION, outputs=["dE/dQ", "dE/dK", "dE/dV"])
    got = f(**arrays)
    for name, want in zip(["dE/dQ", "dE/dK", "dE/dV"], attention_hand(**arrays)):
        np.testing.assert_allclose(got[name], want, rtol=1e-10, atol=1e-12)
    stats = f.stats(**arrays)
    assert stats["largest"] <= forward_bound(ATTENTION, arrays)   # n × n, as S and P
    # hand: Q Kᵀ, Pᵀ G, G Vᵀ, dS K, dSᵀ Q, plus at most one for the row sums
    assert stats["products"] <= 6
    for w in "QKV":
        check_grad(ATTENTION, w)


# ---------------------------------------------------------------- shared backprop

def mlp(L: int) -> str:
    decl = ["X : matrix[B, D]", "W1 : matrix[D, H]"]
    decl += [f"W{k} : matrix[H, H]" for k in range(2, L)] + [f"W{L} : matrix[H, C]",
                                                             "Y : matrix[B, C]"]
    body = ["h1 = tanh(X W1)"] + [f"h{k} = tanh(h{k - 1} W{k})" for k in range(2, L)]
    body += [f"T = h{L - 1} W{L}", "Lg = log_softmax(T)", "E = -sum_{b,c} Y_bc Lg_bc"]
    return "\n".join(decl + body)


def mlp_arrays(L, B=7, D=5, H=6, C=4):
    widths = [D] + [H] * (L - 1) + [C]
    out = {"X": RNG.standard_normal((B, D)), "Y": RNG.random((B, C))}
    for k in range(1, L + 1):
        out[f"W{k}"] = RNG.standard_normal((widths[k - 1], widths[k])) / np.sqrt(widths[k - 1])
    return out


@pytest.mark.parametrize("L", [2, 3, 4, 6])
def test_mlp_gradients_do_as_many_products_as_backprop(L):
    text = mlp(L)
    arrays = mlp_arrays(L)
    outs = [f"dE/dW{k}" for k in range(1, L + 1)]
    f = indexcalc.compile(text, outputs=outs)
    got = f(**arrays)
    stats = f.stats(**arrays)
    assert stats["products"] == 3 * L - 1       # L forward, L weight grads, L - 1 adjoints
    assert f.source.count(" @ ") == 3 * L - 1
    for k in (1, L):
        check_grad(text, f"W{k}")
        want = indexcalc.derivative(text, wrt=f"W{k}").evaluate_reference(**arrays)
        np.testing.assert_allclose(got[f"dE/dW{k}"], want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("L", [2, 4])
def test_a_shared_program_uses_what_the_model_assumes(L):
    """With one-hot labels (``assume Σ_c Y_bc = 1``) ∂E/∂T is ``softmax(T) − Y``, also in
    a program shared by several outputs, whose adjoints stay named: the scaled factor
    ``∂E/∂Lg = −Y`` is substituted where that makes the result no bigger, so the row
    sum of Y is not computed."""
    text = mlp(L) + "\nassume sum_c Y_bc = 1"
    arrays = mlp_arrays(L)
    arrays["Y"] = np.eye(4)[RNG.integers(0, 4, size=7)]             # one-hot rows
    f = indexcalc.compile(text, outputs=[f"dE/dW{k}" for k in range(1, L + 1)])
    got = f(**arrays)
    assert ".sum(" not in f.source and "_softmax(" in f.source
    assert f.stats(**arrays)["products"] == 3 * L - 1
    for k in (1, L):
        check_grad(text, f"W{k}", arrays=arrays)
        want = indexcalc.derivative(text, wrt=f"W{k}").evaluate_reference(**arrays)
        np.testing.assert_allclose(got[f"dE/dW{k}"], want, rtol=1e-9, atol=1e-12)


def test_a_deep_program_releases_its_temporaries():
    L = 6
    text, arrays = mlp(L), mlp_arrays(L)
    f = indexcalc.compile(text, outputs=[f"dE/dW{k}" for k in range(1, L + 1)])
    f(**arrays)
    stats = f.stats()
    assert "del " in f.source
    # everything it makes, held to the end, would be far more than what is alive at once
    assert stats["peak"] < stats["largest"] * (3 * L)


def test_integer_powers_are_multiplies():
    text = "x : vector[n]\nE = sum_i x_i^3 + sum_i x_i^(-2)"
    c = indexcalc.derivative(text, wrt="x").compile()
    x = RNG.random(5) + 0.5
    np.testing.assert_allclose(c(x=x), 3 * x ** 2 - 2 * x ** -3.0, rtol=1e-13)
    assert "**" not in c.source
    check_grad(text, "x")


def test_stats_before_any_call_is_an_error():
    c = indexcalc.derivative("x : vector[n]\nE = sum_i x_i x_i", wrt="x").compile()
    with pytest.raises(indexcalc.IndexcalcError, match="nothing compiled yet"):
        c.stats()
    c(x=np.ones(3))
    assert c.stats()["products"] == 0


# ---------------------------------------------------------------- symmetric Hessians

LOGISTIC = ("X : matrix[N, D]\nw : vector[D]\ny : vector[N]\n"
            "m = X w\nE = sum_i (softplus(m_i) - y_i m_i)")


def test_logistic_hessian_is_one_array_times_its_own_transpose():
    N, D = 40, 7
    arrays = {"X": RNG.standard_normal((N, D)), "w": RNG.standard_normal(D),
              "y": RNG.integers(0, 2, N).astype(float)}
    c, got, stats = compiled_derivative(LOGISTIC, ["w", "w"], arrays)
    s = 1 / (1 + np.exp(-arrays["X"] @ arrays["w"]))
    np.testing.assert_allclose(got, arrays["X"].T @ (arrays["X"] * (s * (1 - s))[:, None]),
                               rtol=1e-12)
    assert np.array_equal(got, got.T)                          # symmetric to the last bit
    assert "np.sqrt" in c.source and stats["flops"] <= N * D * D + 10 * N * D
    check_grad(LOGISTIC, ["w", "w"])


def test_a_weight_that_may_be_negative_keeps_the_general_product():
    text = "X : matrix[N, D]\nw : vector[D]\nu : vector[N]\nm = X w\nf = sum_i u_i m_i m_i / 2"
    arrays = {"X": RNG.standard_normal((9, 4)), "w": RNG.standard_normal(4),
              "u": RNG.standard_normal(9)}
    c, got, _ = compiled_derivative(text, ["w", "w"], arrays)
    X, u = arrays["X"], arrays["u"]
    np.testing.assert_allclose(got, X.T @ (X * u[:, None]), rtol=1e-12)
    assert "sqrt" not in c.source                  # √u is not real for u < 0
    check_grad(text, ["w", "w"])


FISHER = ("X : matrix[N, D]\nW : matrix[D, C]\nY : matrix[N, C]\n"
          "T = X W\nLg = log_softmax(T)\nE = -sum_{n,c} Y_nc Lg_nc")


def test_softmax_regression_fisher_uses_the_gram_form():
    N, D, C = 30, 4, 3
    arrays = {"X": RNG.standard_normal((N, D)), "W": RNG.standard_normal((D, C)),
              "Y": np.eye(C)[RNG.integers(0, C, N)]}
    c, got, stats = compiled_derivative(FISHER, ["W", "W"], arrays)
    X = arrays["X"]
    P = np.exp(X @ arrays["W"])
    P /= P.sum(axis=1, keepdims=True)
    M = (X[:, :, None] * P[:, None, :]).reshape(N, D * C)
    want = -(M.T @ M).reshape(D, C, D, C)
    for k in range(C):
        want[:, k, :, k] += (X * P[:, k, None]).T @ X
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    assert stats["largest"] <= max(N * D * C, (D * C) ** 2)   # no N × D × D outer product
    check_grad(FISHER, ["W", "W"])


def test_value_intervals_come_from_the_function_table():
    from indexcalc.compiler.gram import values
    m = indexcalc.parse("x : vector[n]\ns_i = sigmoid(x_i)\nw_i = s_i (1 - s_i) exp(x_i)\n"
                        "t_i = tanh(x_i)\nv_i = t_i - 1\nq_i = x_i^2 + 1")
    defs = {n: d.expr for n, d in m.definitions.items()}
    assert values(defs["w"], defs)[0] >= 0           # σ ∈ [0, 1], so 1 − σ ≥ 0, exp > 0
    assert values(defs["t"], defs) == (-1.0, 1.0)
    assert values(defs["v"], defs)[1] <= 0
    assert values(defs["q"], defs)[0] >= 1
    assert values(m.definitions["s"].expr.arg, defs)[0] == -float("inf")      # x: unknown


def test_jax_backend_is_jit_compiled_and_agrees():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    arrays = attention_arrays(8, 3)
    f = indexcalc.compile(ATTENTION, outputs=["dE/dQ", "dE/dK", "dE/dV"], backend="jax")
    got = f(**arrays)
    assert hasattr(f.jitted, "lower")                      # a jax.jit-wrapped function
    traced = len(f.plans)
    f(**arrays)
    assert len(f.plans) == traced == 1 and f.jitted._cache_size() == 1   # traced once
    other = attention_arrays(5, 3)                         # new shapes: planned, traced again
    np.testing.assert_allclose(np.asarray(f(**other)["dE/dV"]), attention_hand(**other)[2],
                               rtol=1e-10, atol=1e-12)
    assert len(f.plans) == 2 and f.jitted._cache_size() == 2
    bad = dict(other, V=other["V"][:, :2])             # planned while tracing: still our error
    with pytest.raises(indexcalc.IndexcalcError, match="dimension"):
        f(**bad)
    for name, want in zip(["dE/dQ", "dE/dK", "dE/dV"], attention_hand(**arrays)):
        np.testing.assert_allclose(np.asarray(got[name]), want, rtol=1e-10, atol=1e-12)


def test_a_multi_output_compile_parses_the_model_twice_whatever_the_outputs(monkeypatch):
    import indexcalc.syntax.parse as parsing
    from indexcalc.testing import clear_caches
    calls = []
    real = parsing.parse_source
    monkeypatch.setattr(parsing, "parse_source", lambda text: calls.append(text) or real(text))
    L = 5
    text = mlp(L) + "\n# parsed afresh"
    clear_caches()
    f = indexcalc.compile(text, outputs=["E"] + [f"dE/dW{k}" for k in range(1, L + 1)])
    assert len(calls) == 2                # the model, then the model with all its questions
    arrays = mlp_arrays(L)
    got = f(**arrays)
    want = indexcalc.derivative(text, wrt="W3").evaluate_reference(**arrays)
    np.testing.assert_allclose(got["dE/dW3"], want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("text, wrt", [
    ("X : matrix[N, D]\nw : vector[D]\ny : vector[N]\nm = X w\n"
     "E = sum_i (softplus(m_i) - y_i m_i)", "w"),                         # Xᵀ (σ(m) − y)
    ("A : matrix[n, m]\nx : vector[n]\nE = sum_j tanh(sum_i A_ij x_i)", "x"),   # A (1 − h²)
    ("A : matrix[n, m]\nx : vector[m]\nu : vector[n]\nE = sum_i u_i sin(sum_j A_ij x_j)", "x"),
])
def test_a_matrix_times_a_vector_never_transposes_the_matrix(text, wrt):
    """``Xᵀ u`` is written ``u @ X``: in NumPy a slightly faster BLAS call, and under
    jax.jit no copy of the transposed matrix (XLA makes one for ``X.T @ u``)."""
    m = indexcalc.parse(text)
    from indexcalc.testing import random_arrays
    arrays = random_arrays(m, 3, sizes={d: 5 + k for k, d in enumerate(sorted(m.dims))})
    grad = check_grad(m, wrt, arrays=arrays)
    c = indexcalc.derivative(m, wrt).compile()
    np.testing.assert_allclose(c(**arrays), grad, rtol=1e-12, atol=1e-12)
    assert ".T" not in c.source, c.source           # these gradients multiply no two matrices
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    j = indexcalc.derivative(text, wrt).compile(backend="jax")
    np.testing.assert_allclose(np.asarray(j(**arrays)), grad, rtol=1e-10, atol=1e-12)
    args = [arrays[n] for n in j.inputs]
    hlo = j.jitted.lower(*args).compile().as_text()
    assert "copy(" not in hlo and "transpose(" not in hlo


@pytest.mark.parametrize("text", [
    "A : matrix[B, D]\nC : matrix[B, D]\ng : vector[D]\ns : vector[B]\n"
    "y_b = exp(s_b) sum_j A_bj C_bj g_j",
    "A : matrix[B, D]\nC : matrix[B, D]\ng : vector[D]\ns : vector[B]\n"
    "y_b = sum_j A_bj g_j C_bj / (1 + s_b^2)",
])
def test_a_row_factor_is_applied_after_the_product_it_scales(text):
    """Σ_j s_b A_bj C_bj g_j: A ⊙ C (B D multiplies), the matrix-vector product (2 B D),
    then s (B): opt_einsum's "auto" scaled the rows first, another B D multiplies."""
    B, D = 64, 256
    arrays = {"A": RNG.normal(size=(B, D)), "C": RNG.normal(size=(B, D)),
              "g": RNG.normal(size=D), "s": RNG.normal(size=B)}
    f = indexcalc.compile(text, outputs=["y"])
    got = f(**arrays)["y"]
    np.testing.assert_allclose(got, indexcalc.evaluate(text, "y", **arrays), rtol=1e-12)
    assert f.stats(**arrays)["flops"] <= 3 * B * D + 8 * B


@pytest.mark.parametrize("text, wrt", [
    ("A : matrix[n, n]\nX : matrix[n, n]\nB : matrix[n, n]\nF = tr(A X B)", "X"),   # (B A)ᵀ
    ("A : matrix[n, m]\nB : matrix[k, n]\nX : matrix[m, k]\nF = sum(A X B)", "X"),
])
def test_a_result_is_never_a_product_of_two_transposes(text, wrt):
    """Aᵀ Bᵀ as a result is written (B A)ᵀ, as the hand writes it: BLAS multiplies the
    arrays as they lie, and the transpose is a view."""
    import re
    m = indexcalc.parse(text)
    from indexcalc.testing import random_arrays
    arrays = random_arrays(m, 4, sizes={d: 3 + k for k, d in enumerate(sorted(m.dims))})
    grad = check_grad(m, wrt, arrays=arrays)
    c = indexcalc.derivative(m, wrt).compile()
    np.testing.assert_allclose(c(**arrays), grad, rtol=1e-12, atol=1e-12)
    assert not re.search(r"\w\.T @ \w+\.T", c.source), c.source


# ---------------------------------------------------------------- the call itself

def test_a_warm_call_is_one_python_frame_before_the_planned_function():
    """What a call adds to the generated function is counted, not timed: once the
    shapes are planned, ``compiled(**arrays)`` runs one Python function of ours (the
    dispatch generated for the inputs) and then the planned function, for one
    output and for several, and a singular matrix is still a clear error."""
    import sys
    text = "A : matrix[n, n]\nx : vector[n]\nw : vector[n]\nE = xᵀ A x + sum(w ⊙ x)"
    arrays = {"A": RNG.standard_normal((4, 4)), "x": RNG.standard_normal(4),
              "w": RNG.standard_normal(4)}
    for c in (indexcalc.derivative(text, wrt="x").compile(),
              indexcalc.compile(text, outputs=["dE/dx", "dE/dw"])):
        c(**arrays)                                       # plans these shapes
        frames = []

        def profile(frame, event, arg):
            if event == "call":
                frames.append(frame.f_code.co_name)
        sys.setprofile(profile)
        try:
            got = c(**arrays)
        finally:
            sys.setprofile(None)
        assert frames == ["__call__", c.plans[next(iter(c.plans))].fn.__name__], frames
        want = (arrays["A"] + arrays["A"].T) @ arrays["x"] + arrays["w"]
        first = got if isinstance(got, np.ndarray) else next(iter(got.values()))
        assert np.allclose(first, want)
    check_grad(text, "x", arrays=arrays)
    inv = indexcalc.derivative("A : matrix[n, n]\nE = logdet(inv(A))", wrt="A").compile()
    with pytest.raises(indexcalc.IndexcalcError, match="singular"):
        inv(A=np.zeros((2, 2)))
