"""Matrix and Kronecker forms of real layers (issue 15): exact output, checked numerically.

Every form here is parsed back in both layouts (``matrix_check.check_derivative``:
1 and I spelt as declared arrays) and compared with the index form on random
arrays; every derivative is also compared with finite differences
(``indexcalc.testing.check_grad``).  Kronecker forms are evaluated with NumPy
(``np.kron``) against the index form flattened column-major, as the Matrix
Cookbook's vec, and each of their factors is also parsed back as matrix text.
"""

import numpy as np
import pytest
from matrix_check import arrays_for, check_derivative, run, sizes_for, value, vec_matrix

import indexcalc
from indexcalc.read.vec import vec_form
from indexcalc.testing import check_grad

BATCH_TANH = """
A : matrix[n, k]
B : matrix[k, m]
M : matrix[n, m]
H = tanh(A B)
L = sum(M ⊙ H)
"""
BIAS = """
X : matrix[N, D]
W : matrix[D, H]
b : vector[H]
G : matrix[N, H]
Z = X W + b
L = sum(G ⊙ Z)
"""
COOKBOOK_TR = "A : matrix[n, n]\nB : matrix[m, m]\nX : matrix[m, n]\nf = tr(A Xᵀ B X)"
SOFTMAX = "z : vector[n]\np = softmax(z)"
RIDGE = """
X : matrix[N, D]
w : vector[D]
y : vector[N]
λ : scalar
r = X w - y
E = rᵀ r + λ wᵀ w
"""
ROW_SOFTMAX = "Z : matrix[N, C]\nY : matrix[N, C]\nP = softmax(Z)\nL = -sum(Y ⊙ log(P))"
ROW_LSE = "Z : matrix[N, C]\nl = logsumexp(Z)\nL = sum(l)"
MASKED = """
M : matrix[n, m]
Y : matrix[n, m]
U : matrix[n, k]
V : matrix[m, k]
R = M ⊙ (Y - U Vᵀ)
L = sum(R ⊙ R)
"""
AUTOENCODER = "X : matrix[N, D]\nW : matrix[D, D]\nR = X - X W Wᵀ\nL = sum(R ⊙ R)"
ATTENTION = """
Q : matrix[N, d]
K : matrix[M, d]
V : matrix[M, e]
G : matrix[N, e]
S = Q Kᵀ / sqrt(d)
P = softmax(S)
O = P V
L = sum(G ⊙ O)
"""
ATTENTION_LINE = """
Q : matrix[N, d]
K : matrix[M, d]
V : matrix[M, e]
G : matrix[N, e]
L = sum(G ⊙ (softmax(Q Kᵀ / sqrt(d)) V))
"""
UNIT = "x : vector[n]\ny = x / norm(x)"
CE_HESSIAN = "z : vector[n]\ny : vector[n]\np = softmax(z)\nE = -sum(y ⊙ log(p))"
LOGREG = """
X : matrix[N, D]
w : vector[D]
y : vector[N]
m = X w
E = sum_i softplus(m_i) - y_i m_i
"""

FORMS = [
    # model, wrt, column form, row form (None: the same)
    (BATCH_TANH, "A", "(M ⊙ (1 − H ⊙ H)) Bᵀ", None),
    (BATCH_TANH, "B", "Aᵀ (M ⊙ (1 − H ⊙ H))", None),
    (BIAS, "b", "𝟙ᵀ G", None),
    (BIAS, "W", "Xᵀ G", None),
    (COOKBOOK_TR, "X", "B X A + Bᵀ X Aᵀ", None),
    (SOFTMAX, "z", "diag(p) − p pᵀ", "diag(p) − outer(p, p)"),
    (RIDGE, ["w", "w"], "2 (Xᵀ X + λ I)", None),
    (ROW_SOFTMAX, "Z", "diag(Y 𝟙) P − Y", None),
    (ROW_LSE, "Z", "softmax(Z)", None),
    (MASKED, "U", "−2 (M ⊙ R) V", None),
    (MASKED, "V", "−2 (M ⊙ R)ᵀ U", None),
    (AUTOENCODER, "W", "−2 (Xᵀ R + Rᵀ X) W", None),
    (ATTENTION, "V", "Pᵀ G", None),
    (UNIT, "x", "(I − y yᵀ) / norm(x)", "(I − outer(y, y)) / norm(x)"),
    (CE_HESSIAN, ["z", "z"], "υ (diag(p) − p pᵀ)", "υ (diag(p) − outer(p, p))"),
    (LOGREG, ["w", "w"], "Xᵀ diag(σ(m) ⊙ (1 − σ(m))) X", None),
]


@pytest.mark.parametrize("model, wrt, column, row", FORMS)
def test_layer_forms(model, wrt, column, row):
    assert check_derivative(model, wrt).result == column
    assert check_derivative(model, wrt, layout="row").result == (row or column)


@pytest.mark.parametrize("model, wrt", [(m, w) for m, w, _, _ in FORMS])
def test_layer_derivatives_match_finite_differences(model, wrt):
    check_grad(model, wrt)


def test_attention_gradient_with_respect_to_queries():
    form = check_derivative(ATTENTION, "Q")
    assert form.result == "(P ⊙ (G Vᵀ) − diag((G ⊙ O) 𝟙) P) K / sqrt(d)"     # O = P V folded
    check_grad(ATTENTION, "Q")


def test_one_line_attention_names_the_softmax_once():
    for layout in ("column", "row"):
        form = check_derivative(ATTENTION_LINE, "Q", layout=layout)
        assert form.lines == ("S = softmax(Q Kᵀ / sqrt(d))",
                              "dLdQ = (S ⊙ (G Vᵀ) − diag((S ⊙ (G Vᵀ)) 𝟙) S) K / sqrt(d)")
    check_grad(ATTENTION_LINE, "Q")


def test_a_constant_gradient_is_a_matrix_of_ones():
    assert check_derivative("X : matrix[n, m]\nf = sum(X)", "X").result == "𝟙 𝟙ᵀ"
    assert check_derivative("x : vector[n]\nf = sum(x)", "x").result == "𝟙"


# ---------------------------------------------------------------- Kronecker forms

KRON = [
    # model, wrt, the vec line
    ("A : matrix[n, k]\nX : matrix[k, l]\nB : matrix[l, m]\nY = A X B", ["X"],
     "∂vec(Y)/∂vec(X) = Bᵀ ⊗ A"),
    ("T : matrix[n, m]\nU : matrix[n, k]\nV : matrix[m, k]\nR = T - U Vᵀ\nL = sum(R ⊙ R)",
     ["U", "U"], "∂²L/∂vec(U)∂vec(U)ᵀ = 2 (Vᵀ V) ⊗ I"),
    ("A : matrix[n, k]\nx : vector[k]\ny = A x", ["A"], "∂y/∂vec(A) = xᵀ ⊗ I"),
    ("X : matrix[n, k]\nb : vector[n]\nc : vector[k]\nY = X + b cᵀ", ["b"],
     "∂vec(Y)/∂b = c ⊗ I"),
    ("X : matrix[n, k]\nA : matrix[k, k]\nY = X A + X", ["X"], "∂vec(Y)/∂vec(X) = (Aᵀ + I) ⊗ I"),
]


@pytest.mark.parametrize("model, wrt, line", KRON)
def test_kronecker_forms(model, wrt, line):
    d = indexcalc.derivative(model, wrt=wrt)
    for layout in ("column", "row"):
        form = d.matrix(layout)
        assert form.lines[-1] == ("# vec form (vec stacks columns, as in the Matrix Cookbook): "
                                  + line)
        assert not form.exact and form.vec == line.split(" = ", 1)[1]
    if len(wrt) == 1:
        rows, cols = d.out, d.wrt_indices[0]
    else:
        rows, cols = d.wrt_indices
    m = indexcalc.parse(model)
    sizes = sizes_for(m)
    for seed in (0, 1):
        arrays = arrays_for(m, seed, sizes)
        env = run(m.program(), arrays)
        got = value(vec_form(d.unnamed_expr, rows, cols), {**arrays, **env}, sizes)
        want = vec_matrix(run(d.program, arrays)[d.name], len(rows))
        assert got.shape == want.shape and np.allclose(got, want)
    check_grad(model, wrt)


def test_no_kronecker_form_for_a_transpose():
    d = indexcalc.derivative("X : matrix[n, n]\nY = Xᵀ", wrt="X")
    form = d.matrix()
    assert not form.vec
    assert form.lines[-1].startswith("# no matrix form: ")
    assert "no Kronecker form either" in form.reason


# ---------------------------------------------------------------- what the model says

LAYER_NORM = """
x : vector[n]
g : vector[n]
b : vector[n]
c : vector[n]
mu = sum(x) / n
xc = x - mu
v = sum(xc ⊙ xc) / n
xh = xc / sqrt(v + 1e-5)
y = g ⊙ xh + b
L = cᵀ y
"""
GAUSSIAN = """
x : vector[n]
mu : vector[n]
S : matrix[n, n] symmetric
r = x - mu
E = logdet(S) / 2 + rᵀ inv(S) r / 2
"""
S3_LINE = """
x : vector[Dx]
W1 : matrix[Dx, H]
b1 : vector[H]
W2 : matrix[H, C]
b2 : vector[C]
y : vector[C]
h1 = sigmoid(x W1 + b1)
yhat = softmax(h1 W2 + b2)
J = -sum_i y_i log(yhat_i)
assume sum_j y_j = 1
"""
SIMPLIFIED = [
    # model, wrt, index form, column form, row form (None: the same)
    (LAYER_NORM, "x", "∂L/∂x_p = (c_p g_p − xh_p (Σ_i c_i g_i xh_i) / n − (Σ_l c_l g_l) / n) "
     "/ sqrt(v + 1e-5)", "(c ⊙ g − (cᵀ (g ⊙ xh)) xh / n − (cᵀ g) / n) / sqrt(v + 1e-5)",
     "(c ⊙ g − (c (g ⊙ xh)) xh / n − (c g) / n) / sqrt(v + 1e-5)"),
    (GAUSSIAN, "mu", "∂E/∂mu_p = −Σ_j r_j inv(S)_pj", "−inv(S) r", "−r inv(S)"),
    ("C : matrix[n, n] symmetric\nW : matrix[n, k]\nf = tr(Wᵀ C W)", "W",
     "∂f/∂W_pq = 2 Σ_l C_pl W_lq", "2 C W", None),
    ("X : matrix[N, D]\nA = inv(Xᵀ X)\ng = logdet(Xᵀ X)", "X",
     "∂g/∂X_pq = 2 Σ_j X_pj A_qj", "2 X A", None),
    (ENTROPY := "z : vector[n]\np = softmax(z)\nH = -sum(p ⊙ log(p))", "z",
     "∂H/∂z_p = p_p (−H − log(p_p))", "−p ⊙ (H + log(p))", None),
    (S3_LINE, "x", None, "W1 (W2 (yhat − y) ⊙ h1 ⊙ (1 − h1))",
     "((yhat − y) W2ᵀ ⊙ h1 ⊙ (1 − h1)) W1ᵀ"),
]


@pytest.mark.parametrize("model, wrt, index, column, row", SIMPLIFIED)
def test_simplified_by_the_model(model, wrt, index, column, row):
    if index is not None:
        assert str(indexcalc.derivative(model, wrt=wrt)) == index
    assert check_derivative(model, wrt).result == column
    assert check_derivative(model, wrt, layout="row").result == (row or column)
    # finite differences ignore symmetry and assumptions; random X may make Xᵀ X singular
    if not any(word in model for word in ("symmetric", "assume", "inv(")):
        check_grad(model, wrt)


def test_gaussian_covariance_gradient_uses_the_symmetry():
    d = indexcalc.derivative(GAUSSIAN, wrt="S")
    assert str(d) == "∂E/∂S_pq = (inv(S)_pq − (Σ_i r_i inv(S)_qi) Σ_s r_s inv(S)_ps) / 2"
    assert check_derivative(GAUSSIAN, "S").result == "1/2 (inv(S) − (inv(S) r) (inv(S) r)ᵀ)"


def test_sums_fixed_by_the_definitions():
    from indexcalc.calculus.rules import sum_facts
    facts = {(str(r.pattern), str(r.replacement))
             for r in sum_facts(indexcalc.parse(LAYER_NORM), [])}
    assert facts == {("Σ_i xc_i", "0"), ("Σ_i xh_i", "0")}
    facts = {(str(r.pattern), str(r.replacement)) for r in sum_facts(indexcalc.parse(
        "Z : matrix[N, C]\nP = softmax(Z)\nz : vector[n]\np_j = exp(z_j) / sum_i exp(z_i)"),
        [])}
    assert ("Σ_j p_j", "1") in facts and ("Σ_k P_ik", "1") in facts
    assert not any(p.startswith("Σ_i P") for p, _ in facts)       # columns do not sum to 1


@pytest.mark.parametrize("mean, expected", [
    ("mu_j = mean_i X_ij", "dLdX = 2 (X − 𝟙 muᵀ) / b"),
    ("mu_j = sum_i X_ij / b", "dLdX = 2 (X − 𝟙 muᵀ) / b"),
    ("mu_j = (1/b) sum_i X_ij", "dLdX = 2 (X − 𝟙 muᵀ) / b"),
    ("mu_j = 2 sum_i X_ij / (2 b)", "dLdX = 2 (X − 𝟙 muᵀ) / b"),
])
def test_a_mean_folds_its_sum_so_centred_sums_vanish(mean, expected):
    """A definition that is a sum times numbers and sizes folds the sum alone too
    (``Σ_i X_iq -> b mu_q``), so the term ``Σ_i X_iq − b mu_q`` of a variance's
    derivative is 0 and does not print, whatever spelling the mean has."""
    text = f"X : matrix[b, d]\n{mean}\nv_j = sum_i (X_ij - mu_j)^2 / b\nL = sum_j v_j"
    d = indexcalc.derivative(text, "X")
    assert "Σ" not in str(d), str(d)
    assert str(d.matrix()) == expected
    check_grad(text, "X")
    check_derivative(text, "X")
    check_derivative(text, "X", layout="row")
