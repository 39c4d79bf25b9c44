"""Matrix form: expected spellings, and every form parsed back and checked numerically.

Each matrix form produced here is appended to its model text, parsed with the
grammar, and its last definition evaluated on random arrays (distinct sizes
per dimension, so a misplaced transpose cannot hide) against the index form
evaluated by the reference evaluator.  Opaque functions (f, L) are replaced on
both sides by the same concrete functions, so the check stays exact.
"""

import re

import numpy as np
import pytest
from matrix_check import check_derivative, concrete, parsed_value

import indexcalc
from indexcalc.compiler.reference import evaluate_expr
from indexcalc.ir import (
    ONE,
    Apply,
    Index,
    Var,
    add,
    delta,
    func,
    mul,
    neg,
    sub,
    summation,
)
from indexcalc.read.matrix import MatrixForm, NoMatrixForm, expr_form, to_matrix
from indexcalc.testing import random_arrays

# ---------------------------------------------------------------- the numeric oracle
# (tests/matrix_check.py: every form parsed back, 𝟙 and I included)


def rhs(form: MatrixForm) -> str:
    return form.result


# ---------------------------------------------------------------- the seeds

S2 = """
y : vector[n]
W : matrix[n, k]
b : vector[k]
t : vector[k]
z_k = sum_i W_ik y_i + b_k
o_j = exp(z_j) / sum_i exp(z_i)
E = -sum_j t_j log(o_j)
"""

S3 = """
x : vector[Dx]
W1 : matrix[Dx, H]
b1 : vector[H]
W2 : matrix[H, C]
b2 : vector[C]
y : vector[C]
r    = x W1 + b1
h    = sigmoid(r)
θ    = h W2 + b2
yhat = softmax(θ)
J    = -sum_i y_i log(yhat_i)
"""

S4 = """
a1 : vector[n]
W1 : matrix[n, m]
b1 : vector[m]
z2 = W1ᵀ a1 + b1
a2 = f(z2)
E  = L(a2)
"""


def test_s2_outer_product():
    form = check_derivative(S2, "W")
    assert form.exact
    assert form.lines[-1] == "dEdW = y (τ o − t)ᵀ"
    assert form.lines[:-1] == ("τ = sum(t)",)
    assert str(form) == "τ = sum(t)\ndEdW = y (τ o − t)ᵀ"


def test_s1_s2_gradient_wrt_logits():
    assert rhs(check_derivative(S2, "z")) == "τ o − t"


def test_s3_row_layout():
    form = check_derivative(S3, "x", layout="row")
    sym = form.lines[0].split(" = ")[0]            # the named Σ_i y_i
    assert form.lines[0] == f"{sym} = sum(y)"
    assert rhs(form) == f"(({sym} yhat − y) W2ᵀ ⊙ h ⊙ (1 − h)) W1ᵀ"


def test_s3_column_layout():
    form = check_derivative(S3, "x")
    sym = form.lines[0].split(" = ")[0]
    assert rhs(form) == f"W1 (W2 ({sym} yhat − y) ⊙ h ⊙ (1 − h))"


def test_s4_backprop():
    assert rhs(check_derivative(S4, "W1")) == "a1 (f'(z2) ⊙ L'(a2))ᵀ"
    assert rhs(check_derivative(S4, "a1")) == "W1 (f'(z2) ⊙ L'(a2))"
    assert rhs(check_derivative(S4, "b1")) == "f'(z2) ⊙ L'(a2)"


def test_s4_one_layer_further():
    text = "a0 : vector[k]\nW0 : matrix[k, n]\nz1 = W0ᵀ a0\na1 = f(z1)\n" + S4
    form = check_derivative(text, "z1")
    assert rhs(form) in ("f'(z1) ⊙ (W1 (f'(z2) ⊙ L'(a2)))", "f'(z1) ⊙ W1 δ2")


# ---------------------------------------------------------------- derivatives from model text

TR = "A : matrix[k, n]\nX : matrix[n, m]\nB : matrix[m, k]\nf = tr(A X B)"
QUAD = "x : vector[n]\nA : matrix[n, n]\nf = xᵀ A x"
LOGREG = """
X : matrix[N, D]
w : vector[D]
y : vector[N]
m = X w
E = sum_i softplus(m_i) - y_i m_i
"""
MATFN = """
A : matrix[n, n]
x : vector[n]
b : vector[n]
c : scalar
g = log(det(A)) + xᵀ inv(A) b + c sum(softmax(A x))
"""
MLP = """
x : vector[n]
W : matrix[m, n]
v : vector[m]
h = σ(W x)
s = vᵀ h
"""

DERIVATIONS = [
    # model, wrt, column form, row form
    (TR, "X", "Aᵀ Bᵀ", "Aᵀ Bᵀ"),
    (QUAD, "x", "(Aᵀ + A) x", "x (A + Aᵀ)"),
    (QUAD, ["x", "x"], "A + Aᵀ", "A + Aᵀ"),
    (QUAD, "A", "x xᵀ", "outer(x, x)"),
    (LOGREG, "w", "Xᵀ (σ(m) − y)", "(σ(m) − y) X"),
    (LOGREG, ["w", "w"], "Xᵀ diag(σ(m) ⊙ (1 − σ(m))) X",
     "Xᵀ diag(σ(m) ⊙ (1 − σ(m))) X"),
    (MATFN, "b", "inv(A)ᵀ x", "x inv(A)"),
    (MATFN, "c", "1", "1"),                      # Σ_j softmax(A x)_j = 1
    (MLP, "v", "h", "h"),
    (MLP, "W", "(h ⊙ v ⊙ (1 − h)) xᵀ", "outer(h ⊙ v ⊙ (1 − h), x)"),
    (MLP, "x", "Wᵀ (h ⊙ v ⊙ (1 − h))", "(h ⊙ v ⊙ (1 − h)) W"),
]


@pytest.mark.parametrize("model, wrt, column, row", DERIVATIONS)
def test_derivation_forms(model, wrt, column, row):
    assert rhs(check_derivative(model, wrt)) == column
    assert rhs(check_derivative(model, wrt, layout="row")) == row


@pytest.mark.parametrize("wrt", ["A", "x", ["x", "x"], ["x", "b"]])
def test_matrix_functions_check_numerically(wrt):
    for layout in ("column", "row"):
        form = check_derivative(MATFN, wrt, layout=layout)
        assert form.exact, form.reason


def test_rank_three_results_come_back_in_index_form():
    text = "T : tensor[n, m, k]\nx : vector[k]\nW : matrix[n, m]\ng = sum_{i,j,k} T_ijk W_ij x_k"
    for wrt in ("T", "W", "x"):
        form = check_derivative(text, wrt)
        assert not form.exact and form.reason
        assert "_" in form.lines[-2].split(" = ")[0]            # an index-form definition
        assert form.lines[-1].startswith("# no matrix form: ")
    assert "a tensor of rank 3 is not a matrix" in check_derivative(text, "T").reason


# ---------------------------------------------------------------- hand-built index forms

DECLS = """
A : matrix[n, n]
B : matrix[n, n]
C : matrix[n, m]
D : matrix[m, n]
x : vector[n]
y : vector[n]
u : vector[m]
s : scalar
"""
n_, m_ = "n", "m"
i, j, k, l, p, q = (Index(c, n_) for c in "ijklpq")
a, b, r = (Index(c, m_) for c in "abr")
SIZES = {"n": 3, "m": 4}


def V(name, *ix):
    return Var(name, tuple(ix))


def check_expr(expr, axes, layout="column"):
    """The form of ``expr`` with ``axes``, after checking it numerically."""
    form = expr_form(expr, tuple(axes), layout=layout)
    model = indexcalc.parse(DECLS)
    for seed in (0, 1):
        arrays = random_arrays(model, seed=seed, sizes=SIZES)
        want = evaluate_expr(concrete(expr), arrays, tuple(axes), SIZES)
        got = parsed_value(DECLS, form.text, arrays, SIZES, tuple(x.dim for x in axes))
        assert got.shape == want.shape and np.allclose(got, want), form.text
    return form


def both(expr, axes):
    return check_expr(expr, axes).result, check_expr(expr, axes, "row").result


AX = summation([j], mul(V("A", i, j), V("x", j)))            # (A x)_i

FORMS = [
    # expression, axes, column form, row form
    (AX, (i,), "A x", "x Aᵀ"),
    (summation([i], mul(V("A", i, j), V("x", i))), (j,), "Aᵀ x", "x A"),
    (V("A", p, q), (q, p), "Aᵀ", "Aᵀ"),
    (summation([k], mul(V("A", p, k), V("B", k, q))), (p, q), "A B", "A B"),
    (summation([k], mul(V("A", p, k), V("B", k, q))), (q, p), "Bᵀ Aᵀ", "Bᵀ Aᵀ"),
    (summation([k], mul(V("C", k, a), V("A", k, p))), (a, p), "Cᵀ A", "Cᵀ A"),
    (summation([i, j], mul(V("x", i), V("A", i, j), V("y", j))), (), "xᵀ A y", "x A y"),
    (summation([i], mul(V("x", i), V("y", i))), (), "xᵀ y", "x y"),
    (summation([i], V("x", i)), (), "sum(x)", "sum(x)"),
    (summation([i], V("A", i, i)), (), "tr(A)", "tr(A)"),
    (summation([i, j], mul(V("A", i, j), V("B", j, i))), (), "tr(A B)", "tr(A B)"),
    (summation([i, j], mul(V("A", i, j), V("B", i, j))), (), "tr(A Bᵀ)", "tr(A Bᵀ)"),
    (summation([i, a], mul(V("C", i, a), V("D", a, i))), (), "tr(C D)", "tr(C D)"),
    (mul(V("x", p), V("u", a)), (p, a), "x uᵀ", "outer(x, u)"),
    (mul(V("x", p), V("u", a)), (a, p), "u xᵀ", "outer(u, x)"),
    (mul(AX.__class__(AX.indices, AX.body), V("u", a)), (i, a), "(A x) uᵀ",
     "outer(x Aᵀ, u)"),
    (mul(V("u", a), summation([j], mul(V("A", i, j), V("x", j)))), (a, i), "u (A x)ᵀ",
     "outer(u, x Aᵀ)"),
    (mul(delta(p, q), V("x", p)), (p, q), "diag(x)", "diag(x)"),
    (mul(delta(p, q), V("x", p), V("y", q)), (p, q), "diag(x ⊙ y)", "diag(x ⊙ y)"),
    (summation([k], mul(V("A", p, k), V("x", k), V("B", k, q))), (p, q),
     "A diag(x) B", "A diag(x) B"),
    (summation([k], mul(V("A", p, k), V("x", k), V("y", k))), (p,), "A (x ⊙ y)",
     "(x ⊙ y) Aᵀ"),
    (mul(V("y", p), summation([k], mul(V("A", p, k), V("x", k)))), (p,), "y ⊙ (A x)",
     "y ⊙ (x Aᵀ)"),
    (mul(V("x", p), V("A", p, q)), (p, q), "diag(x) A", "diag(x) A"),
    (mul(V("x", q), V("A", p, q)), (p, q), "A diag(x)", "A diag(x)"),
    (mul(V("A", p, q), V("B", q, p)), (p, q), "A ⊙ Bᵀ", "A ⊙ Bᵀ"),
    (add(V("A", p, q), V("A", q, p)), (p, q), "A + Aᵀ", "A + Aᵀ"),
    (sub(ONE, V("x", i)), (i,), "1 − x", "1 − x"),
    (mul(V("s", ), V("x", i)), (i,), "s x", "s x"),
    (neg(mul(V("s", ), V("C", p, a))), (a, p), "−s Cᵀ", "−s Cᵀ"),
    (func("sigmoid", AX), (i,), "σ(A x)", "σ(x Aᵀ)"),
    (func("exp", V("A", p, q)), (q, p), "exp(Aᵀ)", "exp(Aᵀ)"),
]


@pytest.mark.parametrize("expr, axes, column, row", FORMS)
def test_forms(expr, axes, column, row):
    assert both(expr, axes) == (column, row)


def test_matrix_and_vector_functions():
    inv_ab = Apply("inv", V("A", i, j), (i, j), (p, q))
    assert both(inv_ab, (p, q)) == ("inv(A)", "inv(A)")
    assert both(inv_ab, (q, p)) == ("inv(A)ᵀ", "inv(A)ᵀ")
    assert both(Apply("det", V("A", j, i), (i, j)), ()) == ("det(Aᵀ)", "det(Aᵀ)")
    assert both(Apply("logdet", V("B", i, j), (i, j)), ()) == ("logdet(B)", "logdet(B)")
    assert both(Apply("softmax", AX.__class__(AX.indices, AX.body), (i,), (p,)), (p,)) == (
        "softmax(A x)", "softmax(x Aᵀ)")
    hess = Apply("L", V("x", i), (i,), (p, q), order=2)
    assert both(hess, (p, q)) == ("L''(x)", "L''(x)")
    grad = Apply("L", V("x", i), (i,), (p,), order=1)
    assert both(mul(grad, func("f", V("y", p), 1)), (p,)) == ("f'(y) ⊙ L'(x)",) * 2


def test_powers_and_quotients_of_vectors():
    from indexcalc.ir import const, div, power
    assert both(power(V("x", i), const(2)), (i,)) == ("x^2", "x^2")
    assert both(div(V("x", i), V("y", i)), (i,)) == ("x / y", "x / y")
    assert both(div(V("s"), V("y", i)), (i,)) == ("s / y", "s / y")
    assert both(div(V("x", i), V("s")), (i,)) == ("x / s", "x / s")


NOW_READ = [
    # forms that need 1, I or a Hadamard product of matrices inside a product
    (summation([j], V("A", i, j)), (i,), "A 𝟙", "A 𝟙"),                 # row sums
    (summation([i], V("A", i, j)), (j,), "𝟙ᵀ A", "𝟙ᵀ A"),               # column sums
    (summation([j], mul(V("A", p, j), V("B", p, j))), (p,), "(A ⊙ B) 𝟙", "(A ⊙ B) 𝟙"),
    (summation([j], mul(V("A", p, j), V("B", p, j), V("C", j, a))), (p, a), "(A ⊙ B) C",
     "(A ⊙ B) C"),
    (summation([k, a], mul(V("A", p, k), V("B", k, q), V("C", k, a), V("u", a))), (p, q),
     "A diag(C u) B", "A diag(u Cᵀ) B"),
    (V("A", i, i), (i,), "diag(A)", "diag(A)"),
    (mul(V("x", p), V("y", p)), (p, q), "(x ⊙ y) 𝟙ᵀ", "outer(x ⊙ y, 𝟙)"),
    (add(V("x", p), V("y", q)), (p, q), "x 𝟙ᵀ + 𝟙 yᵀ", "outer(x, 𝟙) + outer(𝟙, y)"),
    (delta(p, q), (p, q), "I", "I"),
    (mul(V("s"), delta(p, q)), (p, q), "s I", "s I"),
    (add(V("A", p, q), mul(V("s"), delta(p, q))), (p, q), "A + s I", "A + s I"),
    (mul(V("x", p), sub(delta(p, q), V("x", q))), (p, q), "diag(x) − x xᵀ",
     "diag(x) − outer(x, x)"),
    (summation([k], mul(V("A", p, k), V("A", p, k))), (p,), "(A ⊙ A) 𝟙", "(A ⊙ A) 𝟙"),
    (func("tanh", summation([k], mul(V("A", p, k), V("B", k, q)))), (p, q), "tanh(A B)",
     "tanh(A B)"),
]


@pytest.mark.parametrize("expr, axes, column, row", NOW_READ)
def test_ones_identity_and_hadamard_products(expr, axes, column, row):
    assert both(expr, axes) == (column, row)


K4 = summation([k, l], mul(V("A", p, k), V("B", p, l), V("A", q, k), V("B", q, l),
                           V("A", k, l), V("B", p, q)))
REFUSED = [
    # expression, axes, words in the reason, whether its index form is valid input to check
    (K4, (p, q), "the summed index k joins 3 matrices (A_kl, A_pk, A_qk)", True),
    (summation([k], mul(V("A", p, k), V("B", k, q), V("B", k, i))), (p, q, i), "a tensor of rank 3",
     False),
]


@pytest.mark.parametrize("expr, axes, words, valid", REFUSED)
def test_no_matrix_form_says_why_and_gives_the_index_form(expr, axes, words, valid):
    with pytest.raises(NoMatrixForm, match=re.escape(words)):
        to_matrix(expr, axes)
    form = expr_form(expr, axes)
    assert not form.exact and words in form.reason
    assert form.lines[-1].startswith("# no matrix form: ")
    if valid:                                # the index-form fallback parses and agrees
        check_expr(expr, axes)


def test_a_tensor_of_rank_three_is_named_in_the_reason():
    text = "T : tensor[n, m, k]\nx : vector[k]\ny : vector[n]\ng = sum_{i,j,k} T_ijk y_i x_k"
    form = check_derivative(text, "x")
    assert "T (a tensor of rank 3)" in form.reason
