"""The notation: every statement kind, index form, operator, Unicode and ASCII
spelling, question form, the golden models S1-S5 and DESIGN.md's examples."""

import logging

import pytest
from lark import Lark

from indexcalc import ir
from indexcalc.ir import Apply, Func, Index, Sum, Var
from indexcalc.model import Assume, Declaration, Question, Wrt
from indexcalc.syntax.grammar import SOURCE_TREE, grammar_text
from indexcalc.syntax.parse import parse, parse_source

S1 = """
o_j = exp(z_j) / sum_i exp(z_i)          # Ω = Σ_i exp(z_i)
E   = -sum_j t_j log(o_j)
dE/dz_k
check dE/dz_k == o_k τ - t_k
assume sum_j t_j = 1
check dE/dz_k == t_k (o_k - 1)
"""

S2 = """
z_k = sum_i W_ik y_i + b_k               # y is the layer BELOW z
o_j = exp(z_j) / sum_i exp(z_i)
E   = -sum_j t_j log(o_j)
dE/dW_pq
check dE/dW[p,q] == y_p (o_q - t_q)
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
dJ/dx
check dJ/dx == ((yhat - y) W2ᵀ ⊙ h ⊙ (1 - h)) W1ᵀ
"""

S4 = """
a1 : vector[n]
W1 : matrix[n, m]
z2 = W1ᵀ a1 + b1
a2 = f(z2)
E  = L(a2)
dE/da1
dE/dW1
dE/db1
check dE/dW1 == a1 (f'(z2) ⊙ L'(a2))ᵀ
check dE/dW1_ij == a1_i f'(z2_j) L'(a2)_j
check dE/da1 == W1 (f'(z2) ⊙ L'(a2))
"""

S5 = """
a ∈ ℝ^3
t ∈ ℝ^3
y_k = exp(a_k) / S
S = sum_i exp(a_i)
"""
S5_ORDERED = """
a ∈ ℝ^3
t ∈ ℝ^3
S = sum_i exp(a_i)
y_k = exp(a_k) / S
L = -sum_k t_k log(y_k)
∂L/∂a_k
"""

DESIGN_DECLARATIONS = """
x : vector[n]
W : matrix[n, m]
A : matrix[n, n] symmetric
T : tensor[n, m, k]
s : scalar
"""

DESIGN_INDEX = """
z_k = W_ik y_i + b_k            # Einstein convention: i appears twice -> summed
o_j = exp(z_j) / sum_i exp(z_i) # explicit sums also work: sum_i, sum_{i,j}, Σ_i, ∑_i
E = -sum_j t_j log(o_j)
dE/dz_k                          # also ∂E/∂z_k, d E / d W[p,q], grad(E, W)
∂E/∂z_k
d E / d W[i,k]
grad(E, W)
check dE/dz_k == o_k - t_k       # is my hand derivation right?
assume sum_j t_j = 1             # a fact simplification may use (one-hot labels)
"""

DESIGN_MATRIX = """
x : vector[n]
W1 : matrix[n, H]
W2 : matrix[H, C]
r = x W1 + b1
h = sigmoid(r)
yhat = softmax(h W2 + b2)
J = -sum_i y_i log(yhat_i)      # mixed: an index applied to a matrix-form result
hessian(J, x)
jacobian(h, r)
"""


@pytest.mark.parametrize("text", [S1, S2, S3, S4, S5_ORDERED, DESIGN_DECLARATIONS,
                                  DESIGN_INDEX, DESIGN_MATRIX],
                         ids=["S1", "S2", "S3", "S4", "S5", "decl", "index", "matrix"])
def test_golden_and_design_models_parse(text):
    model = parse(text)
    assert model.statements


def test_s5_needs_definitions_in_order():
    with pytest.raises(Exception) as info:
        parse(S5)
    assert "before it is defined" in str(info.value)


def test_s3_shapes():
    model = parse(S3)
    assert model.shapes["r"] == ("H",)
    assert model.shapes["θ"] == ("C",)
    assert model.shapes["y"] == ("C",)
    assert model.shapes["J"] == ()
    check = model.checks[0]
    assert check.question.wrt[0].indices[0].dim == "Dx"
    assert check.claim.free == frozenset(check.question.wrt[0].indices)


def test_s4_check_takes_indices_from_matrix_claim():
    model = parse(S4)
    c = model.checks[0]
    (w,) = c.question.wrt
    assert w.name == "W1" and [i.dim for i in w.indices] == ["n", "m"]
    assert c.claim.free == frozenset(w.indices)
    assert model.functions == {"f", "L"}
    c = model.checks[1]
    assert [i.name for i in c.question.wrt[0].indices] == ["i", "j"]


# ---------------------------------------------------------------- statements

def test_declarations():
    model = parse(DESIGN_DECLARATIONS)
    decls = model.declarations
    assert decls["x"] == Declaration("x", ("n",), False, decls["x"].span)
    assert decls["W"].shape == ("n", "m")
    assert decls["A"].symmetric
    assert decls["T"].shape == ("n", "m", "k")
    assert decls["s"].shape == ()
    assert model.symmetric == {"A"}
    assert decls["x"].span.line == 2


@pytest.mark.parametrize("text,shape", [
    ("x ∈ ℝ^n", ("n",)), ("W ∈ ℝ^{n×m}", ("n", "m")), ("x in R^n", ("n",)),
    ("W in R^(n,m)", ("n", "m")), ("W in R^{n,m}", ("n", "m")), ("s ∈ ℝ", ()),
    ("x : vector[3]", (3,)), ("T ∈ ℝ^{2×3×4}", (2, 3, 4)), ("W : matrix[n, 4]", ("n", 4)),
])
def test_mathematical_declarations(text, shape):
    (d,) = parse(text).statements
    assert d.shape == shape


def test_symmetric_in_set_notation():
    assert parse("A ∈ ℝ^{n×n} symmetric").symmetric == {"A"}


def test_separators_and_comments():
    model = parse("x : vector[n]; y = 2 x   # twice\n\n# nothing\nz = x ; w = y")
    assert [type(s).__name__ for s in model.statements] == ["Declaration", "Definition",
                                                            "Definition", "Definition"]


def test_newlines_inside_parentheses_continue_the_expression():
    model = parse("x : vector[n]\ny = (x +\n     1)")
    assert model.definitions["y"].matrix_form


def test_definition_source_and_span():
    model = parse("x : vector[n]\n  y_i = 2 x_i  # comment")
    d = model.definitions["y"]
    assert d.source == "y_i = 2 x_i"
    assert (d.span.line, d.span.column) == (2, 3)


# ---------------------------------------------------------------- questions

def _question(text: str) -> Question:
    base = "x : vector[n]\nW : matrix[n, m]\nz_k = W_ik x_i\nE = sum_k z_k z_k\nh = exp(z)\n"
    return parse(base + text).questions[-1]


@pytest.mark.parametrize("text", ["dE/dz_k", "∂E/∂z_k", "d E / d z_k", "dE / d z[k]",
                                  "∂ E / ∂ z_{k}"])
def test_derivative_question_forms(text):
    q = _question(text)
    assert (q.kind, q.of, q.of_indices) == ("derivative", "E", None)
    assert q.wrt == (Wrt("z", (Index("k", "m"),)),)


def test_whole_variable_question():
    q = _question("dE/dW")
    assert q.wrt == (Wrt("W", None),)


def test_question_with_bracket_indices():
    q = _question("d E / d W[p,q]")
    assert q.wrt[0].indices == (Index("p", "n"), Index("q", "m"))


def test_indexed_function_question():
    q = _question("dh_a/dz_b")
    assert q.of_indices == (Index("a", "m"),)
    assert q.wrt[0].indices == (Index("b", "m"),)


def test_grad_jacobian_hessian():
    assert _question("grad(E, W)") == Question("grad", "E", (Wrt("W"),), None,
                                               _question("grad(E, W)").span, "grad(E, W)")
    q = _question("jacobian(h, z)")
    assert (q.kind, q.of, q.wrt) == ("jacobian", "h", (Wrt("z"),))
    q = _question("hessian(E, x)")
    assert q.wrt == (Wrt("x"), Wrt("x"))


def test_check_and_assume():
    model = parse(S1)
    (a,) = model.assumptions
    j = Index("j", "n")
    assert a == Assume(Sum((j,), Var("t", (j,))), ir.ONE, a.span, "assume sum_j t_j = 1")
    c = model.checks[0]
    k = Index("k", "n")
    assert c.question.wrt == (Wrt("z", (k,)),)
    assert c.claim == ir.sub(ir.mul(Var("o", (k,)), Var("τ", ())), Var("t", (k,)))


# ---------------------------------------------------------------- index forms

@pytest.mark.parametrize("text", ["W_ik", "W_{ik}", "W_{i,k}", "W[i,k]", "W[i, k]"])
def test_index_forms(text):
    d = parse(f"W : matrix[n, m]\ny_ik = {text}").definitions["y"]
    assert d.expr == Var("W", (Index("i", "n"), Index("k", "m")))


@pytest.mark.parametrize("text,names", [("W[i1,k]", ("i1", "k")), ("W[ab]", ("ab",)),
                                        ("W_{ab,cd}", ("ab", "cd")), ("W_{i1,k}", ("i1", "k"))])
def test_multi_letter_index_names(text, names):
    (st,) = parse_source(f"y = {text}").statements
    assert st.rhs.indices == names


def test_keywords_are_fine_inside_subscripts():
    model = parse("W : matrix[n, n]\ny_in = W_in")
    assert model.definitions["y"].indices == (Index("i", "n"), Index("n", "n"))


# ---------------------------------------------------------------- operators and spellings

def _expr(text: str, decl: str = "a : vector[n]\nb : vector[n]\nA : matrix[n, n]\n"):
    return list(parse(decl + "y = " + text).definitions.values())[-1]


@pytest.mark.parametrize("ascii_,unicode_", [
    ("a - b", "a − b"), ("A^T", "Aᵀ"), ("A.T", "A'"), ("a .* b", "a ⊙ b"),
    ("sum_i a_i", "Σ_i a_i"), ("sum_i a_i", "∑_i a_i"), ("sigmoid(a)", "σ(a)"),
    ("delta_ij a_i b_j", "δ_ij a_i b_j"), ("norm(a)", "||a||"), ("norm(a)", "‖a‖"),
    ("A @ a", "A a"), ("A * a", "A a"), ("a ./ b", "a ⊙ b^-1"), ("inv(A)", "A^-1"),
    ("trace(A)", "tr(A)"),
])
def test_ascii_and_unicode_spellings_agree(ascii_, unicode_):
    left, right = _expr(ascii_), _expr(unicode_)
    assert ir.canonical(ir.rename(left.expr, dict(zip(left.indices, right.indices)))) == \
        ir.canonical(right.expr)


@pytest.mark.parametrize("text,check", [
    ("-a_i b_i + 1", lambda e: isinstance(e, ir.Add)),
    ("a_i a_i / 2", lambda e: isinstance(e, ir.Mul)),
    ("(a_i + b_i)^2", lambda e: isinstance(e, ir.Pow)),
    ("exp(-a_i^2)", lambda e: isinstance(e, Func)),
    ("2 * a_i * b_i", lambda e: isinstance(e, ir.Mul)),
    ("a_i b_i - a_i b_i", lambda e: e == ir.ZERO),
])
def test_operators_in_index_form(text, check):
    d = parse(f"a : vector[n]\nb : vector[n]\ny_i = {text}").definitions["y"]
    assert check(d.expr)


def test_unary_minus_and_power_precedence():
    d = parse("a : vector[n]\ny_i = -a_i^2 + 3").definitions["y"]
    i = d.indices[0]
    assert d.expr == ir.add(ir.neg(ir.power(Var("a", (i,)), ir.const(2))), ir.const(3))


def test_power_is_right_associative():
    d = parse("y = 2^3^2").definitions["y"]
    assert d.expr == ir.const(2 ** 9)


def test_division_binds_like_a_product():
    d = parse("a : vector[n]\nb : vector[n]\ny_i = a_i / b_i c").definitions["y"]
    i = d.indices[0]
    assert d.expr == ir.mul(Var("a", (i,)), ir.power(Var("b", (i,)), ir.MINUS_ONE), Var("c", ()))


# ---------------------------------------------------------------- printer forms parse back

PRINTED = [
    ("q", "Σ_j t_j log(o_j)"), ("q", "sum_j t_j log(o_j)"), ("q", "Σ_{j,k} A_jk"),
    ("q_jk", "δ_jk"), ("q_k", "W_ik y_i"), ("q_k", "W[i1,k] y[i1]"), ("q_j", "σ(z_j)"),
    ("q_j", "sigmoid(z_j)"), ("q_j", "f'(z_j)"), ("q_j", "f''(z_j)"), ("q_j", "L'(a2)_j"),
    ("q_j", "softmax_i(θ_i)_j"), ("q_j", "log_softmax_i(θ_i)_j"), ("q", "logsumexp_i(z_i)"),
    ("q", "det_{ij}(A_ij + A_ji)"), ("q_ab", "inv_{ij}(A_ij)_{ab}"), ("q_j", "x_j^2"),
    ("q_j", "a_j / (b_j c)"), ("q_j", "−a_j"), ("q_j", "a_j − b_j"), ("q_j", "2 a_j / 3"),
    ("q_j", "exp(z_j)^2"), ("q_j", "(1 − σ(z_j)) σ(z_j)"), ("q_j", "1/2 a_j"),
    ("q", "Σ_k (a_k + b_k) t_k"), ("q", "N"), ("q", "Σ_i Σ_j A_ij x_i x_j"),
    ("q_j", "a_j^(1/2)"), ("q_j", "L''(a2)_{jk} x_k"), ("q[i1]", "y[i1]"),
    ("q", "-(Σ_k a_k)^-1"),
]
PRINT_DECLS = ("t : vector[n]\no : vector[n]\nA : matrix[n, n]\nz : vector[n]\n"
               "a2 : vector[n]\nθ : vector[n]\nx : vector[n]\na : vector[n]\n"
               "b : vector[n]\nc : scalar\nW : matrix[n, m]\ny : vector[n]\nN : scalar\n")


@pytest.mark.parametrize("lhs,text", PRINTED, ids=[t for _, t in PRINTED])
def test_printer_forms_parse(lhs, text):
    model = parse(PRINT_DECLS + f"{lhs} = {text}")
    assert model.definitions["q"].expr is not None


# ---------------------------------------------------------------- the grammar itself

def test_grammar_has_no_conflicts(caplog):
    """LALR conflicts are resolved silently by Lark; debug mode reports them."""
    from lark import logger
    logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="lark"):
            Lark(grammar_text(), parser="lalr", debug=True)
    finally:
        logger.setLevel(logging.WARNING)
    conflicts = [r for r in caplog.records if "conflict" in r.getMessage().lower()]
    assert not conflicts, [r.getMessage() for r in conflicts]


def test_grammar_lives_at_the_top_of_the_tree_and_is_the_one_read():
    from pathlib import Path

    import indexcalc
    assert SOURCE_TREE == Path(indexcalc.__file__).resolve().parent.parent / "grammar" / "indexcalc.lark"
    assert grammar_text() == SOURCE_TREE.read_text(encoding="utf-8")


def test_sum_binds_to_the_end_of_its_product():
    (st,) = parse_source("E = -sum_j t_j log(o_j) + c").statements
    # Terms[ -(Σ_j t_j log o_j), c ]
    assert type(st.rhs).__name__ == "Terms" and len(st.rhs.terms) == 2
    assert type(st.rhs.terms[0][1]).__name__ == "Neg"
    assert type(st.rhs.terms[0][1].body).__name__ == "SumOver"


def test_call_versus_product_is_decided_by_names():
    model = parse("W : matrix[n, n]\nx : vector[n]\nb : vector[n]\ny = W(x + b)\nz = g(x)")
    assert isinstance(model.definitions["y"].expr, Sum)
    assert isinstance(model.definitions["z"].expr, Func)


def test_apply_shapes_for_tensor_functions():
    d = parse("Z : matrix[n, m]\nS = softmax(Z)").definitions["S"]
    assert isinstance(d.expr, Apply)
    assert [i.dim for i in d.indices] == ["n", "m"]
    assert [i.dim for i in d.expr.over] == ["m"]
