"""Reading the answer: checks of hand derivations, explanations, LaTeX of derivatives.

The verdicts asserted here are the ones the golden file asks for; the
explanations are asserted by content (the steps a person writes), and every
LaTeX string is rendered by matplotlib's mathtext.
"""

import io

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib import mathtext  # noqa: E402
from test_golden import S1, S2, S3, S4  # noqa: E402

import indexcalc  # noqa: E402
from indexcalc.read.latex import latex_block  # noqa: E402
from indexcalc.testing import check_grad  # noqa: E402

S4_SQUARE = S4.replace("W1 : matrix[n, m]", "W1 : matrix[n, n]")
ONE_HOT_Y = "assume sum_i y_i = 1\n"


def render(lines: list[str]) -> None:
    for line in lines:
        mathtext.math_to_image(f"${line}$", io.BytesIO(), format="png")


# ---------------------------------------------------------------- checks

def test_s1_multiplying_by_t_is_wrong_and_the_difference_is_shown():
    r = indexcalc.check(S1, "dE/dz_k == t_k (o_k - 1)")
    assert not r.holds
    text = str(r)
    assert "✗ does not hold" in text
    assert "difference (derivative − claim):  o_k (τ − t_k)   where τ = Σ_j t_j" in text
    assert "counterexample: with n = 2, z = [" in text


def test_s1_one_hot_answer_holds_only_when_labels_sum_to_one():
    r = indexcalc.check(S1, "dE/dz_k == o_k - t_k")
    assert not r.holds and r.assumption == "Σ_j t_j = 1" and not r.declared
    assert r.verdict == "holds only if assumed"
    assert "~ holds only if Σ_j t_j = 1, which the model does not assume" in str(r)
    assert "difference (derivative − claim):  o_k (τ − 1)" in str(r)
    declared = indexcalc.check(S1 + "\nassume sum_j t_j = 1", "dE/dz_k == o_k - t_k")
    assert declared.holds and declared.declared
    assert "declared with `assume`" in str(declared)


def test_s1_general_answer_holds_symbolically():
    r = indexcalc.check(S1, "dE/dz_k == o_k sum_j t_j - t_k")
    assert r.holds and r.symbolic and r.assumption is None
    assert str(r).splitlines()[1] == "✓ holds (symbolically and numerically, at 3 random points)"


def test_s2_outer_product_in_matrix_form_holds():
    assert indexcalc.check(S2, "dE/dW == y (o sum(t) - t)ᵀ").holds
    one_hot = indexcalc.check(S2, "dE/dW == y (o - t)ᵀ")
    assert not one_hot.holds and one_hot.assumption in ("Σ_j t_j = 1", "Σ_l t_l = 1")
    assert not indexcalc.check(S2, "dE/dW == (o - t) yᵀ").holds


def test_s4_transposed_weight_gradient_is_wrong():
    wrong = indexcalc.check(S4, "dE/dW1 == (f'(z2) ⊙ L'(a2)) a1ᵀ")
    assert not wrong.holds
    assert "shape (n × m)" in str(wrong) and "layout convention" in str(wrong)
    square = indexcalc.check(S4_SQUARE, "dE/dW1 == (f'(z2) ⊙ L'(a2)) a1ᵀ")
    assert not square.holds and "difference" in str(square)     # the numbers decide
    right = indexcalc.check(S4, "dE/dW1 == a1 (f'(z2) ⊙ L'(a2))ᵀ")
    assert right.holds


def test_s3_sigmoid_jacobian_as_matrix_product_is_wrong():
    text = S3 + ONE_HOT_Y
    good = indexcalc.check(text, "dJ/dx == ((yhat - y) W2ᵀ ⊙ h ⊙ (1 - h)) W1ᵀ")
    assert good.holds and good.declared
    as_product = indexcalc.check(text, "dJ/dx == ((yhat - y) W2ᵀ (h ⊙ (1 - h))) W1ᵀ")
    assert not as_product.holds and "rank 2" in str(as_product)
    outer = indexcalc.check(
        text, "dJ/dx_a == sum_b sum_c sum_d (yhat_c - y_c) W2_dc h_d (1 - h_b) W1_ab")
    assert not outer.holds and "difference" in str(outer)


def test_check_statement_in_a_model():
    m = indexcalc.parse(S1 + "\ncheck dE/dz_k == o_k sum_j t_j - t_k")
    from indexcalc.checking.claims import check_statement
    assert check_statement(m, m.checks[0]).holds


def test_opaque_functions_are_checked_with_concrete_stand_ins():
    """Symbolically different but equal claims are settled by the numbers."""
    r = indexcalc.check(S4, "dE/db1_j == L'(a2)_j f'(z2_j) (sin(z2_j)^2 + cos(z2_j)^2)")
    assert r.holds and not r.symbolic


# ---------------------------------------------------------------- explanations

def test_s1_explanation_follows_the_golden_steps():
    text = indexcalc.derivative(S1, wrt="z_k").explain()
    assert "∂E/∂o_i = −t_i / o_i" in text
    assert "log o_j = z_j − log(Σ_i exp(z_i))" in text
    assert "∂ log o_j/∂z_k = δ_jk − o_k" in text
    assert "∂o_j/∂z_k = o_j δ_jk − o_j o_k" in text
    assert "Result: ∂E/∂z_k = o_k τ − t_k   where τ = Σ_j t_j" in text
    assert "(∂X_kl/∂X_ij = δ_ki δ_lj)" in text


def test_s2_explanation_names_each_delta_contraction():
    text = indexcalc.derivative(S2, wrt="W_pq").explain()
    assert "∂W_ik/∂W_pq = δ_ip δ_kq" in text
    assert "the delta δ_ip is summed over i: i is renamed to p" in text
    assert "p is free, carried by y_p alone: an outer product along it" in text


def test_s3_explanation_says_why_there_is_an_elementwise_product():
    text = indexcalc.derivative(S3 + ONE_HOT_Y, wrt="x").explain()
    assert "h is elementwise in r: its Jacobian is diagonal" in text
    assert "between W1_pk and W2_ki: a matrix product" in text
    assert "h_k (1 − h_k) multiplies along it elementwise (⊙)" in text
    assert "Layout: indices of J first, then those of x" in text


def test_compiled_plan_is_part_of_the_explanation():
    d = indexcalc.derivative("A : matrix[n, n]\nB : matrix[n, n]\nX : matrix[n, n]\n"
                             "f = tr(A X B)", wrt="X")
    plan = d.plan(A=np.eye(3), B=np.eye(3), X=np.eye(3))
    assert plan and "->" in plan[0][0] and plan[0][1].opt_cost > 0
    assert plan == d.compile().explain_plan()


# ---------------------------------------------------------------- LaTeX and Jupyter

@pytest.mark.parametrize("text,wrt", [(S1, "z_k"), (S2, "W"), (S3, "x"), (S4, "W1"),
                                      ("x : vector[n]\nA : matrix[n, n]\nf = xᵀ A x",
                                       ["x", "x"])])
def test_derivative_latex_renders(text, wrt):
    d = indexcalc.derivative(text, wrt=wrt)
    tex = d.latex()
    lines = d.latex_lines()
    assert tex == (lines[0] if len(lines) == 1 else latex_block(lines))
    assert any(line.startswith(r"\frac{\partial") for line in lines)
    render(lines)
    assert d._repr_latex_() == f"$${tex}$$"
    assert d._repr_markdown_().startswith("$$")


@pytest.mark.parametrize("text,wrt,layout,last", [
    (S2, "W", "column", "dEdW = y (τ o − t)ᵀ"),
    (S3 + ONE_HOT_Y, "x", "row", "dJdx = ((yhat − y) W2ᵀ ⊙ h ⊙ (1 − h)) W1ᵀ"),
    (S4, "W1", "column", "dEdW1 = a1 (f'(z2) ⊙ L'(a2))ᵀ"),
])
def test_matrix_forms_parse_back_and_agree_with_the_index_form(text, wrt, layout, last):
    from test_matrix import check_derivative
    form = check_derivative(text, wrt, layout=layout)       # parsed back, compared numerically
    assert form.exact and str(form).splitlines()[-1] == last
    assert str(indexcalc.derivative(text, wrt=wrt).matrix(layout)) == str(form)


# ---------------------------------------------------------------- indexcalc.testing

def test_check_grad_passes_and_fails_loudly():
    check_grad("x : vector[n]\nf = sum(exp(x))", "x")
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        from indexcalc import testing
        arrays = {"x": np.array([0.1, 0.2, 0.3])}
        original = testing.numeric_derivative
        try:
            testing.numeric_derivative = lambda *a, **k: np.zeros(3)
            check_grad("x : vector[n]\nf = sum(exp(x))", "x", arrays=arrays)
        finally:
            testing.numeric_derivative = original
