"""The worked derivations of shared/golden/seed-derivations.md, exactly as stated there.

Each is checked two ways: the printed, simplified form, and numerically against
central finite differences on random inputs (compiled and reference evaluation).
"""

import numpy as np
import pytest

import indexcalc
from indexcalc.testing import check_grad as _check_grad
from indexcalc.testing import random_arrays

S1 = """
o_j = exp(z_j) / sum_i exp(z_i)          # Ω = Σ_i exp(z_i)
E   = -sum_j t_j log(o_j)
"""

S2 = """
z_k = sum_i W_ik y_i + b_k               # y is the layer below z
o_j = exp(z_j) / sum_i exp(z_i)
E   = -sum_j t_j log(o_j)
"""

S3 = """
x : vector[Dx]
W1 : matrix[Dx, H]
W2 : matrix[H, C]
r    = x W1 + b1
h    = sigmoid(r)
θ    = h W2 + b2
yhat = softmax(θ)
J    = -sum_i y_i log(yhat_i)
"""

S4 = """
a1 : vector[n]
W1 : matrix[n, m]
z2 = W1ᵀ a1 + b1
a2 = f(z2)
E  = L(a2)
"""

S4_DEEPER = """
z1 : vector[n]
W1 : matrix[n, m]
a1 = f(z1)
z2 = W1ᵀ a1 + b1
a2 = f(z2)
E  = L(a2)
"""

S5 = """
a : vector[3]
S = sum_i exp(a_i)
y_k = exp(a_k) / S
L = -sum_k t_k log(y_k)
"""

ONE_HOT = "\nassume sum_j t_j = 1\n"


def check_grad(model, wrt, **kwargs):
    """Finite differences against both the compiled program and the reference evaluator."""
    reference = _check_grad(model, wrt, compiled=False, **kwargs)
    compiled = _check_grad(model, wrt, **kwargs)
    np.testing.assert_allclose(compiled, reference, rtol=1e-10, atol=1e-12)
    return compiled


def test_s1_logits():
    d = indexcalc.derivative(S1, wrt="z_k")
    assert str(d) == "∂E/∂z_k = o_k τ − t_k   where τ = Σ_j t_j"
    check_grad(S1, "z")


def test_s1_one_hot():
    d = indexcalc.derivative(S1 + ONE_HOT, wrt="z_k")
    assert str(d) == "∂E/∂z_k = o_k − t_k"


def test_s1_one_hot_numerically():
    m = indexcalc.parse(S1 + ONE_HOT)
    arrays = random_arrays(m, seed=3)
    t = np.zeros_like(arrays["t"])
    t[1] = 1.0
    arrays["t"] = t
    got = indexcalc.derivative(m, wrt="z").evaluate(**arrays)
    z = arrays["z"]
    o = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(got, o - t, rtol=1e-10)
    check_grad(m, "z", arrays=arrays)


def test_s2_weights():
    d = indexcalc.derivative(S2, wrt="W_pq")
    assert str(d) == "∂E/∂W_pq = y_p (o_q τ − t_q)   where τ = Σ_j t_j"
    check_grad(S2, "W")
    d1 = indexcalc.derivative(S2 + ONE_HOT, wrt="W_pq")
    assert str(d1) == "∂E/∂W_pq = y_p (o_q − t_q)"


def test_s2_full_chain_collapses():
    """The chain Σ_i ∂E/∂o_i Σ_k ∂o_i/∂z_k ∂z_k/∂W_pq leaves no delta behind."""
    d = indexcalc.derivative(S2, wrt="W")
    assert "δ" not in str(d)
    assert not d.adjoints


def test_s3_input_gradient():
    d = indexcalc.derivative(S3, wrt="x")
    text = str(d)
    assert "δ" not in text
    assert text == ("∂J/∂x_p = Σ_{i,k} W1_pk h_k W2_ki (1 − h_k) (yhat_i υ − y_i)"
                    "   where υ = Σ_j y_j")
    check_grad(S3, "x")
    check_grad(S3, "W1")
    check_grad(S3, "W2")


def test_s3_one_hot_matches_closed_form():
    m = indexcalc.parse(S3 + "assume sum_i y_i = 1\n")
    arrays = random_arrays(m, seed=5)
    y = np.zeros_like(arrays["y"])
    y[0] = 1
    arrays["y"] = y
    x, W1, W2, b1, b2 = (arrays[k] for k in ("x", "W1", "W2", "b1", "b2"))
    h = 1 / (1 + np.exp(-(x @ W1 + b1)))
    th = h @ W2 + b2
    yhat = np.exp(th - th.max()) / np.exp(th - th.max()).sum()
    expected = ((yhat - y) @ W2.T * h * (1 - h)) @ W1.T      # the golden formula
    got = indexcalc.derivative(m, wrt="x").evaluate(**arrays)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_s4_backprop_rules():
    d = indexcalc.derivative(S4, wrt="W1_ij")
    assert str(d) == "∂E/∂W1_ij = a1_i f'(z2_j) L'(a2)_j"
    assert str(indexcalc.derivative(S4, wrt="b1_j")) == "∂E/∂b1_j = f'(z2_j) L'(a2)_j"
    a1 = indexcalc.derivative(S4, wrt="a1_i")
    assert str(a1) == "∂E/∂a1_i = Σ_j W1_ij f'(z2_j) L'(a2)_j"
    deeper = indexcalc.derivative(S4_DEEPER, wrt="z1_i")
    assert str(deeper) == "∂E/∂z1_i = f'(z1_i) Σ_j W1_ij f'(z2_j) L'(a2)_j"


@pytest.mark.parametrize("wrt", ["W1", "a1", "b1"])
def test_s4_numerically_with_concrete_functions(wrt):
    """Replace f by tanh and L by a weighted sum of squares and compare."""
    concrete = S4.replace("f(z2)", "tanh(z2)").replace("E  = L(a2)", "E = sum_j c_j a2_j^2")
    check_grad(concrete, wrt)
    general = indexcalc.derivative(S4, wrt=wrt)
    specific = indexcalc.derivative(concrete, wrt=wrt)
    # tanh'(z2) = 1 − tanh(z2)^2 is written back with the model's own name a2
    assert "f'(z2_" in str(general) and "(1 − a2_" in str(specific)


def test_s5_graph_walk():
    d = indexcalc.derivative(S5 + "assume sum_k t_k = 1\n", wrt="a_k")
    assert str(d) == "∂L/∂a_k = y_k − t_k"
    check_grad(S5, "a")
    general = S5.replace("a : vector[3]", "a : vector[n]")
    assert str(indexcalc.derivative(general + "assume sum_k t_k = 1\n", wrt="a_k")) == \
        "∂L/∂a_k = y_k − t_k"
