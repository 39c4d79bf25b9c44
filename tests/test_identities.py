"""A table of derivative identities (Matrix Cookbook and machine learning).

Every row is checked three ways on random inputs: indexcalc's compiled
derivative and its reference evaluation against the known closed form
(written in NumPy here), and the closed form against central finite
differences.  Shapes follow the layout convention: derivative of Y with
respect to X has shape Y.shape + X.shape.
"""

import numpy as np
import pytest

import indexcalc
from indexcalc.testing import numeric_derivative, random_arrays

V = "x : vector[n]; a : vector[n]; b : vector[n]; A : matrix[n, n]; B : matrix[n, n]\n"
M = "X : matrix[n, n]; A : matrix[n, n]; B : matrix[n, n]; a : vector[n]; b : vector[n]\n"
LOGREG = "X : matrix[N, d]; w : vector[d]; y : vector[N]\nm = X w\n"
FACT = ("T : matrix[m, n]; M : matrix[m, n]; U : matrix[m, k]; W : matrix[n, k]\n")

inv, det, I = np.linalg.inv, np.linalg.det, np.eye


def sig(v):
    return 1 / (1 + np.exp(-v))


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def outer(u, v):
    return np.multiply.outer(u, v)


ROWS = [
    # ---- linear forms
    ("a'x", V + "f = aᵀ x", ["x"], lambda x, a, **_: a),
    ("x'a", V + "f = xᵀ a", ["x"], lambda x, a, **_: a),
    ("dot", V + "f = dot(a, x)", ["x"], lambda a, **_: a),
    ("index form a_i x_i", V + "f = a_i x_i", ["x"], lambda a, **_: a),
    ("Ax jacobian", V + "g = A x", ["x"], lambda A, **_: A),
    ("x'A jacobian", V + "g = xᵀ A", ["x"], lambda A, **_: A.T),
    ("sum", V + "f = sum(x)", ["x"], lambda x, **_: np.ones_like(x)),
    ("a'Xb", M + "f = aᵀ X b", ["X"], lambda a, b, **_: outer(a, b)),
    ("a'X'b", M + "f = aᵀ Xᵀ b", ["X"], lambda a, b, **_: outer(b, a)),
    ("sum(A⊙X)", M + "f = sum(A ⊙ X)", ["X"], lambda A, **_: A),
    ("outer jacobian", V + "g = outer(x, a)", ["x"],
     lambda a, x, **_: np.einsum("ip,j->ijp", I(len(x)), a)),
    # ---- traces
    ("tr X", M + "f = tr(X)", ["X"], lambda X, **_: I(len(X))),
    ("tr AX", M + "f = tr(A X)", ["X"], lambda A, **_: A.T),
    ("tr XA", M + "f = tr(X A)", ["X"], lambda A, **_: A.T),
    ("tr AXB", M + "f = tr(A X B)", ["X"], lambda A, B, **_: A.T @ B.T),
    ("tr AX'B", M + "f = tr(A Xᵀ B)", ["X"], lambda A, B, **_: B @ A),
    ("tr X'A", M + "f = tr(Xᵀ A)", ["X"], lambda A, **_: A),
    ("tr X'X", M + "f = tr(Xᵀ X)", ["X"], lambda X, **_: 2 * X),
    ("tr XAX'", M + "f = tr(X A Xᵀ)", ["X"], lambda X, A, **_: X @ (A + A.T)),
    ("tr X'AX", M + "f = tr(Xᵀ A X)", ["X"], lambda X, A, **_: (A + A.T) @ X),
    ("tr XX", M + "f = tr(X X)", ["X"], lambda X, **_: 2 * X.T),
    ("tr XBX", M + "f = tr(X B X)", ["X"], lambda X, B, **_: X.T @ B.T + B.T @ X.T),
    ("tr(E)+1", M + "f = tr(X) + 1", ["X"], lambda X, **_: I(len(X))),
    ("tr diag(a)X", M + "f = tr(diag(a) X)", ["a"], lambda X, **_: np.diag(X).copy()),
    ("aXXb", M + "f = aᵀ X X b", ["X"], lambda X, a, b, **_: outer(a, X @ b) + outer(X.T @ a, b)),
    ("hess tr X'X", M + "f = tr(Xᵀ X)", ["X", "X"],
     lambda X, **_: 2 * np.einsum("ik,jl->ijkl", I(len(X)), I(len(X)))),
    ("hess tr AXBX", M + "f = tr(A X B X)", ["X", "X"],
     lambda A, B, **_: np.einsum("jk,li->ijkl", B, A) + np.einsum("jk,li->ijkl", A, B)),
    # ---- quadratic forms
    ("x'x", V + "f = xᵀ x", ["x"], lambda x, **_: 2 * x),
    ("x'Ax", V + "f = xᵀ A x", ["x"], lambda x, A, **_: (A + A.T) @ x),
    ("hess x'Ax", V + "f = xᵀ A x", ["x", "x"], lambda A, **_: A + A.T),
    ("x'Sx sym", "x : vector[n]; S : matrix[n, n] symmetric\nf = xᵀ S x", ["x"],
     lambda x, S, **_: 2 * S @ x),
    ("least squares", V + "r = A x - b\nf = rᵀ r", ["x"], lambda x, A, b, **_: 2 * A.T @ (A @ x - b)),
    ("hess least squares", V + "r = A x - b\nf = rᵀ r", ["x", "x"], lambda A, **_: 2 * A.T @ A),
    ("index h_j h_j/2", V + "f = x_j x_j / 2", ["x"], lambda x, **_: x),
    ("x'diag(a)x", V + "f = xᵀ diag(a) x", ["x"], lambda x, a, **_: 2 * a * x),
    ("a'x x'b", V + "f = (aᵀ x) (xᵀ b)", ["x"], lambda x, a, b, **_: a * (x @ b) + b * (a @ x)),
    # ---- norms
    ("||x||^2", V + "f = ||x||^2", ["x"], lambda x, **_: 2 * x),
    ("||x||", V + "f = norm(x)", ["x"], lambda x, **_: x / np.linalg.norm(x)),
    ("||Ax||", V + "f = ||A x||", ["x"], lambda x, A, **_: A.T @ A @ x / np.linalg.norm(A @ x)),
    ("||X||_F", M + "f = norm(X)", ["X"], lambda X, **_: X / np.linalg.norm(X)),
    ("hess ||x||^2", V + "f = ||x||^2", ["x", "x"], lambda x, **_: 2 * I(len(x))),
    # ---- determinants
    ("det X", M + "f = det(X)", ["X"], lambda X, **_: det(X) * inv(X).T),
    ("logdet X", M + "f = logdet(X)", ["X"], lambda X, **_: inv(X).T),
    ("log det X", M + "f = log(det(X))", ["X"], lambda X, **_: inv(X).T),
    ("det AXB", M + "f = det(A X B)", ["X"],
     lambda X, A, B, **_: det(A @ X @ B) * inv(X).T),
    ("logdet X'X", M + "f = logdet(Xᵀ X)", ["X"], lambda X, **_: 2 * inv(X).T),
    ("hess logdet", M + "f = logdet(X)", ["X", "X"],
     lambda X, **_: -np.einsum("jk,li->ijkl", inv(X), inv(X))),
    # ---- inverses
    ("a'X^-1 b", M + "f = aᵀ inv(X) b", ["X"],
     lambda X, a, b, **_: -inv(X).T @ outer(a, b) @ inv(X).T),
    ("a'X^-1 b caret", M + "f = aᵀ X^-1 b", ["X"],
     lambda X, a, b, **_: -inv(X).T @ outer(a, b) @ inv(X).T),
    ("tr X^-1", M + "f = tr(inv(X))", ["X"], lambda X, **_: -(inv(X) @ inv(X)).T),
    ("tr A X^-1", M + "f = tr(A inv(X))", ["X"], lambda X, A, **_: -(inv(X) @ A @ inv(X)).T),
    ("inv jacobian", M + "G = inv(X)", ["X"],
     lambda X, **_: -np.einsum("ai,jb->abij", inv(X), inv(X))),
    # ---- softmax and log-sum-exp
    ("lse", V + "f = logsumexp(x)", ["x"], lambda x, **_: softmax(x)),
    ("softmax jacobian", V + "s = softmax(x)", ["x"],
     lambda x, **_: np.diag(softmax(x)) - outer(softmax(x), softmax(x))),
    ("a'softmax", V + "f = aᵀ softmax(x)", ["x"],
     lambda x, a, **_: softmax(x) * (a - a @ softmax(x))),
    ("cross-entropy", V + "f = -sum_i a_i log(softmax(x)_i)", ["x"],
     lambda x, a, **_: softmax(x) * a.sum() - a),
    ("log_softmax jacobian", V + "s = log_softmax(x)", ["x"],
     lambda x, **_: I(len(x)) - softmax(x)[None, :]),
    ("lse(Ax)", V + "f = logsumexp(A x)", ["x"], lambda x, A, **_: A.T @ softmax(A @ x)),
    ("softmax index form", V + "o_j = exp(x_j) / sum_i exp(x_i)\nf = -sum_j a_j log(o_j)", ["x"],
     lambda x, a, **_: softmax(x) * a.sum() - a),
    ("hess lse", V + "f = logsumexp(x)", ["x", "x"],
     lambda x, **_: np.diag(softmax(x)) - outer(softmax(x), softmax(x))),
    # ---- elementwise functions
    ("sigmoid", V + "f = sum(sigmoid(x))", ["x"], lambda x, **_: sig(x) * (1 - sig(x))),
    ("sigmoid jacobian", V + "h = σ(x)", ["x"], lambda x, **_: np.diag(sig(x) * (1 - sig(x)))),
    ("tanh", V + "f = sum(tanh(x))", ["x"], lambda x, **_: 1 - np.tanh(x) ** 2),
    ("exp", V + "f = sum(exp(x))", ["x"], lambda x, **_: np.exp(x)),
    ("log", V + "f = sum(log(x))", ["x"], lambda x, **_: 1 / x),
    ("sqrt", V + "f = sum(sqrt(x))", ["x"], lambda x, **_: 0.5 / np.sqrt(x)),
    ("sin cos", V + "f = sum_i sin(x_i) cos(x_i)", ["x"],
     lambda x, **_: np.cos(x) ** 2 - np.sin(x) ** 2),
    ("softplus", V + "f = sum(softplus(x))", ["x"], lambda x, **_: sig(x)),
    ("abs", V + "f = sum_i abs(x_i)", ["x"], lambda x, **_: np.sign(x)),
    ("relu", V + "f = sum_i relu(x_i) a_i", ["x"], lambda x, a, **_: (x > 0) * a),
    ("cube", V + "f = sum_i x_i^3", ["x"], lambda x, **_: 3 * x ** 2),
    ("quotient", V + "f = sum_i x_i / (1 + x_i^2)", ["x"],
     lambda x, **_: (1 - x ** 2) / (1 + x ** 2) ** 2),
    ("x^x", "x : vector[n]\nf = sum_i x_i^x_i", ["x"], lambda x, **_: x ** x * (np.log(x) + 1)),
    ("exp(Ax)", V + "f = sum(exp(A x))", ["x"], lambda x, A, **_: A.T @ np.exp(A @ x)),
    ("exp(z_i) t_i", V + "f = sum_i exp(x_i) a_i", ["x"], lambda x, a, **_: np.exp(x) * a),
    ("hess sigmoid", V + "f = sum(sigmoid(x))", ["x", "x"],
     lambda x, **_: np.diag(sig(x) * (1 - sig(x)) * (1 - 2 * sig(x)))),
    # ---- logistic regression
    ("logreg grad", LOGREG + "E = sum_i softplus(m_i) - y_i m_i", ["w"],
     lambda X, w, y, **_: X.T @ (sig(X @ w) - y)),
    ("logreg grad log1p", LOGREG + "E = sum_i log(1 + exp(m_i)) - y_i m_i", ["w"],
     lambda X, w, y, **_: X.T @ (sig(X @ w) - y)),
    ("logreg hessian", LOGREG + "E = sum_i softplus(m_i) - y_i m_i", ["w", "w"],
     lambda X, w, **_: X.T @ (sig(X @ w) * (1 - sig(X @ w)))[:, None] * X
     if False else X.T @ ((sig(X @ w) * (1 - sig(X @ w)))[:, None] * X)),
    # ---- factorisation
    ("masked factorisation U", FACT + "E = sum_{i,j} M_ij (T_ij - sum_r U_ir W_jr)^2", ["U"],
     lambda T, M, U, W, **_: -2 * (M * (T - U @ W.T)) @ W),
    ("masked factorisation W", FACT + "E = sum_{i,j} M_ij (T_ij - sum_r U_ir W_jr)^2", ["W"],
     lambda T, M, U, W, **_: -2 * (M * (T - U @ W.T)).T @ U),
    ("frobenius hessian", FACT + "R = T - U Wᵀ\nE = sum_{i,j} R_ij^2", ["U", "U"],
     lambda U, W, **_: 2 * np.einsum("ik,rs->irks", I(len(U)), W.T @ W)),
    ("x'Ay wrt A", "x : vector[n]; y : vector[m]; A : matrix[n, m]\nf = xᵀ A y", ["A"],
     lambda x, y, **_: outer(x, y)),
]


@pytest.mark.parametrize("name,text,wrt,closed", ROWS, ids=[r[0] for r in ROWS])
def test_identity(name, text, wrt, closed):
    model = indexcalc.parse(text)
    d = indexcalc.derivative(model, wrt=wrt)
    arrays = random_arrays(model, seed=7)
    want = closed(**arrays)
    got = d.evaluate(**arrays)
    assert got.shape == want.shape, str(d)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, err_msg=str(d))
    np.testing.assert_allclose(d.evaluate_reference(**arrays), want, rtol=1e-7, atol=1e-9)
    numeric = numeric_derivative(model, d.of, list(d.wrt), arrays)
    np.testing.assert_allclose(numeric, want, rtol=1e-5, atol=1e-6, err_msg="finite differences")


def test_table_is_large_enough():
    assert len(ROWS) >= 60
