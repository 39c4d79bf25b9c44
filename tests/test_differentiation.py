"""Differentiation: the traps peers fall into, reverse-mode growth, conventions, API errors.

Every derivative asserted here is also compared with finite differences.
"""

import numpy as np
import pytest

import indexcalc
from indexcalc.errors import DerivativeError, EvaluationError, IndexcalcError
from indexcalc.ir import Delta, size, walk
from indexcalc.testing import check_grad, random_arrays


def test_trace_plus_one_is_identity_not_zero():
    text = "E : matrix[n, n]\nf = tr(E) + 1"
    d = indexcalc.derivative(text, wrt="E")
    assert str(d) == "∂f/∂E_pq = δ_pq"
    got = check_grad(text, "E")
    np.testing.assert_allclose(got, np.eye(got.shape[0]))


def test_half_squared_norm_gives_h():
    text = "h : vector[n]\nf = h_j h_j / 2"
    assert str(indexcalc.derivative(text, wrt="h_i")) == "∂f/∂h_i = h_i"
    check_grad(text, "h")


def test_delta_on_free_indices_is_kept():
    """The Jacobian of an elementwise function is diagonal: the delta means it."""
    text = "r : vector[n]\nh = sigmoid(r)"
    d = indexcalc.derivative(text, wrt="r_b")
    assert str(d) == "∂h_i/∂r_b = δ_bi h_i (1 − h_i)"
    assert any(isinstance(n, Delta) for n in walk(d.expr))
    check_grad(text, "r")


def test_bound_index_in_function_argument_does_not_escape():
    text = "z : vector[n]\nt : vector[n]\nf = exp(z_i) t_i"
    d = indexcalc.derivative(text, wrt="z_k")
    assert str(d) == "∂f/∂z_k = t_k exp(z_k)"
    check_grad(text, "z")


@pytest.mark.parametrize("text,expected", [
    ("z : vector[n]\nf = log(sum_i exp(z_i))", "∂f/∂z_k = exp(z_k) / Σ_i exp(z_i)"),
    ("z : vector[n]\nf = 1 / sum_i z_i^2", "∂f/∂z_k = −2 z_k / (Σ_i z_i^2)^2"),
    ("z : vector[n]\nf = logsumexp(z)", "∂f/∂z_k = softmax(z)_k"),
])
def test_sum_inside_log_or_division(text, expected):
    assert str(indexcalc.derivative(text, wrt="z_k")) == expected
    check_grad(text, "z")


def test_derivative_with_respect_to_an_intermediate():
    text = "x : vector[n]\nA : matrix[n, n]\ny = A x\nf = yᵀ y"
    assert str(indexcalc.derivative(text, wrt="y_k")) == "∂f/∂y_k = 2 y_k"
    check_grad(text, "x")


def test_unrelated_variable_gives_zero_of_the_right_shape():
    text = "x : vector[n]\nc : vector[m]\nf = xᵀ x"
    m = indexcalc.parse("x : vector[n]\nc : vector[m]\nf = xᵀ x\ng = sum(c)")
    d = indexcalc.derivative(m, wrt="c", of="f")
    assert str(d) == "∂f/∂c_p = 0"
    arrays = random_arrays(m, seed=1, sizes={"n": 3, "m": 4})
    assert d.evaluate(**arrays).shape == (4,)
    assert not d.evaluate(**arrays).any()
    del text


def mlp(layers: int) -> str:
    lines = ["x : vector[n]"] + [f"W{k} : matrix[n, n]" for k in range(1, layers + 1)]
    prev = "x"
    for k in range(1, layers + 1):
        lines.append(f"h{k} = tanh(W{k} {prev})")
        prev = f"h{k}"
    lines.append(f"E = sum({prev})")
    return "\n".join(lines)


def test_reverse_mode_grows_linearly_with_depth():
    counts = []
    for layers in range(1, 21):
        d = indexcalc.derivative(mlp(layers), wrt="W1")
        counts.append(sum(size(b.expr) for b in d.program.bindings))
    steps = np.diff(counts)
    # every extra layer adds the same bounded amount: linear, not exponential
    assert steps.max() <= 2 * steps[:5].max()
    assert counts[-1] < 20 * counts[0] * 2
    check_grad(mlp(4), "W1")
    check_grad(mlp(4), "x")


def test_deep_network_keeps_adjoints_named():
    d = indexcalc.derivative(mlp(20), wrt="W1")
    assert d.adjoints, "a 20-layer closed formula would be too large to inline"
    assert str(d).count("\n") == len(d.adjoints)
    arrays = random_arrays(indexcalc.parse(mlp(20)), seed=2)
    np.testing.assert_allclose(d.evaluate(**arrays), d.evaluate_reference(**arrays), rtol=1e-9)


def test_symmetric_matrix_gradient_is_sym_of_g():
    """Convention: for symmetric A the gradient is sym(G) = (G + Gᵀ)/2, which is the
    gradient along symmetric directions (not the Cookbook's G + Gᵀ − G∘I)."""
    text = "a : vector[n]\nb : vector[n]\nA : matrix[n, n] symmetric\nf = aᵀ A b"
    d = indexcalc.derivative(text, wrt="A")
    m = indexcalc.parse(text)
    arrays = random_arrays(m, seed=4)
    a, b, A = arrays["a"], arrays["b"], arrays["A"]
    got = d.evaluate(**arrays)
    np.testing.assert_allclose(got, (np.outer(a, b) + np.outer(b, a)) / 2)
    rng = np.random.default_rng(0)
    D = rng.standard_normal(A.shape)
    D = D + D.T
    eps = 1e-6
    f = lambda M: a @ M @ b   # noqa: E731
    directional = (f(A + eps * D) - f(A - eps * D)) / (2 * eps)
    assert np.isclose(directional, np.sum(got * D))


def test_hessian_is_the_same_pass_twice():
    text = "x : vector[n]\nA : matrix[n, n]\nf = xᵀ A x"
    h = indexcalc.derivative(text, wrt=["x", "x"])
    assert str(h) == "∂²f/∂x_p∂x_q = A_pq + A_qp"
    check_grad(text, ["x", "x"])


def test_jacobian_layout_is_output_then_input():
    text = "x : vector[n]\nA : matrix[m, n]\ny = A x"
    d = indexcalc.derivative(text, wrt="x")
    m = indexcalc.parse(text)
    arrays = random_arrays(m, seed=0, sizes={"m": 2, "n": 5})
    assert d.evaluate(**arrays).shape == (2, 5)
    np.testing.assert_allclose(d.evaluate(**arrays), arrays["A"])


def test_default_of_is_the_last_definition_and_wrt_may_name_indices():
    text = "x : vector[n]\ng = sum(exp(x))\nf = xᵀ x"
    assert indexcalc.derivative(text, wrt="x").of == "f"
    assert str(indexcalc.derivative(text, wrt="x[k]", of="g")) == "∂g/∂x_k = exp(x_k)"


def test_errors_name_the_problem():
    text = "x : vector[n]\nf = xᵀ x"
    with pytest.raises(DerivativeError, match="not a variable"):
        indexcalc.derivative(text, wrt="q")
    with pytest.raises(DerivativeError, match="'g' is not defined"):
        indexcalc.derivative(text, wrt="x", of="g")
    with pytest.raises(DerivativeError, match="has 1 indices, not 2"):
        indexcalc.derivative(text, wrt="x_pq")
    d = indexcalc.derivative(text, wrt="x")
    with pytest.raises(EvaluationError, match="missing array for 'x'"):
        d.evaluate()
    with pytest.raises(EvaluationError, match="'x'"):
        d.evaluate(x=np.ones((2, 2)))
    with pytest.raises(IndexcalcError):
        indexcalc.derivative("x : vector[n]\nf = L(x)", wrt="x").evaluate(x=np.ones(3))


BATCHED_MLP = """
X : matrix[B, D]
W1 : matrix[D, H]
b1 : vector[H]
W2 : matrix[H, C]
b2 : vector[C]
Y : matrix[B, C]
Hd = sigmoid(X W1 + b1)          # b1 broadcasts over the rows, as in NumPy
P = softmax(Hd W2 + b2)          # row-wise
E = -sum_{b,c} Y_bc log(P_bc)
"""


@pytest.mark.parametrize("wrt", ["W1", "b1", "X", "W2", "b2"])
def test_batched_mlp_with_broadcast_biases(wrt):
    check_grad(BATCHED_MLP, wrt)
    check_grad(BATCHED_MLP, wrt, compiled=False)


def test_batched_mlp_one_hot_reads_like_the_textbook():
    text = BATCHED_MLP + "assume sum_c Y_bc = 1\n"
    d = indexcalc.derivative(text, wrt="W2")
    assert str(d) == "∂E/∂W2_pq = Σ_j Hd_jp (P_jq − Y_jq)"
    assert str(d.matrix()).splitlines()[-1] == "dEdW2 = Hdᵀ (P − Y)"
    m = indexcalc.parse(text)
    arrays = random_arrays(m, seed=3)
    arrays["Y"] = np.eye(arrays["Y"].shape[1])[np.arange(arrays["Y"].shape[0]) % 2]
    got = d.evaluate(**arrays)
    np.testing.assert_allclose(got, check_grad(BATCHED_MLP, "W2", arrays=arrays))


def test_index_form_broadcast_and_its_limit():
    text = "X : matrix[B, D]\nW : matrix[D, H]\nb : vector[H]\nz_bj = X_bi W_ij + b_j\n" \
           "f = sum_{b,j} z_bj^2"
    assert str(indexcalc.derivative(text, wrt="b")) == "∂f/∂b_p = 2 Σ_b z_bp"
    check_grad(text, "b")
    with pytest.raises(IndexcalcError, match="j is free on the right but not on the left"):
        indexcalc.parse("a : vector[n]\nb : vector[n]\nc_i = a_i + b_j")


def test_derivative_names_keep_their_parts():
    """A derivative's and an adjoint's name is the string programs and printers use,
    ``∂E/∂W``, and carries ``of`` and ``wrt`` so that no reader parses it back."""
    import pickle

    from indexcalc.calculus.reverse import DerivativeName
    d = indexcalc.derivative(indexcalc.testing.mlp_model(6), "W0")
    assert (d.name, d.name.of, d.name.wrt) == ("∂E/∂W0", "E", ("W0",))
    assert d.adjoints and all(isinstance(b.name, DerivativeName) and b.name.of == "E"
                              and b.name == f"∂E/∂{b.name.wrt[0]}" for b in d.adjoints)
    h = indexcalc.derivative("x : vector[n]\nE = sum(exp(x))", ["x", "x"])
    assert (h.name, h.name.wrt) == ("∂2E/∂x∂x", ("x", "x"))
    again = pickle.loads(pickle.dumps(h.name))
    assert (again, again.of, again.wrt) == (h.name, "E", ("x", "x"))
    assert d.latex_lines()[0].startswith("\\frac{\\partial E}{\\partial h5_{k}} = ")  # parts
    assert d.matrix().text.startswith("δ5 = ")
    check_grad(indexcalc.testing.mlp_model(6), "W0")
    check_grad("x : vector[n]\nE = sum(exp(x))", "x")
