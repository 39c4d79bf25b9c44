"""The index-notation printer: exact strings for every node kind and layout rule,
and round trips through the parser (``parse(print(e))`` is ``e`` up to renaming
bound indices), in Unicode and in ASCII."""

from fractions import Fraction

import pytest

from indexcalc import ir
from indexcalc.ir import (
    ONE,
    Apply,
    DimSize,
    Index,
    Var,
    add,
    const,
    delta,
    div,
    func,
    mul,
    neg,
    power,
    sub,
    summation,
)
from indexcalc.read.text import definition_text, to_ascii, to_text

i, j, k, p, q, a, b = (Index(c, "n") for c in "ijkpqab")


def V(name, *indices):
    return Var(name, tuple(indices))


def both(e):
    return to_text(e), to_text(e, ascii=True)


# ---------------------------------------------------------------- golden-style layouts

def test_s1_gradient_positive_term_first():
    e = sub(mul(V("o", k), summation([j], V("t", j))), V("t", k))
    assert both(e) == ("o_k Σ_j t_j − t_k", "o_k sum_j t_j - t_k")


def test_s1_with_named_tau():
    assert str(sub(mul(V("o", k), V("τ")), V("t", k))) == "o_k τ − t_k"


def test_s2_factor_then_parenthesised_sum():
    e = mul(V("y", p), sub(mul(V("o", q), V("τ")), V("t", q)))
    assert to_text(e) == "y_p (o_q τ − t_q)"
    assert to_text(e, ascii=True) == "y_p (o_q tau - t_q)"


def test_vars_ordered_by_free_index_position():
    assert str(mul(V("δ2", j), V("a1", i))) == "a1_i δ2_j"
    assert definition_text("g", (j, i), mul(V("δ2", j), V("a1", i))) == "g_ji = δ2_j a1_i"


def test_constant_first_in_a_sum():
    h = V("h", b)
    assert str(mul(h, sub(ONE, h))) == "h_b (1 − h_b)"


def test_definitions():
    o = div(func("exp", V("z", j)), summation([i], func("exp", V("z", i))))
    assert definition_text("o", (j,), o) == "o_j = exp(z_j) / Σ_i exp(z_i)"
    z = add(summation([i], mul(V("W", i, k), V("y", i))), V("b", k))
    assert definition_text("z", (k,), z) == "z_k = b_k + Σ_i W_ik y_i"
    assert definition_text("z", (k,), z, ascii=True) == "z_k = b_k + sum_i W_ik y_i"
    assert definition_text("∂E/∂W", (p, q), V("y", p)) == "∂E/∂W_pq = y_p"


def test_scalar_loss_and_leading_minus():
    e = neg(summation([j], mul(V("t", j), func("log", V("o", j)))))
    assert both(e) == ("−Σ_j t_j log(o_j)", "-sum_j t_j log(o_j)")


# ---------------------------------------------------------------- leaves

def test_var_subscripts():
    assert str(V("x")) == "x"
    assert str(V("W", i, k)) == "W_ik"
    assert str(V("W", Index("i1", "n"), k)) == "W[i1,k]"
    assert str(V("W1", b, a)) == "W1_ba"
    assert to_text(V("W", Index("α", "n"), k)) == "W_αk"
    assert to_text(V("W", Index("α", "n"), k), ascii=True) == "W[alpha,k]"


def test_delta_and_dimsize():
    assert both(delta(k, j)) == ("δ_jk", "delta_jk")
    assert str(DimSize("n")) == "n"
    assert str(DimSize(3)) == "3"
    assert str(mul(const(2), DimSize("n"))) == "2 n"


def test_constants():
    assert str(const(2)) == "2"
    assert str(const(Fraction(1, 2))) == "1/2"
    assert both(const(-3)) == ("−3", "-3")
    assert str(const(0.25)) == "0.25"
    assert str(const(-0.25)) == "−0.25"


def test_greek_names():
    assert to_ascii("θ1") == "theta1"
    assert both(V("θ", j)) == ("θ_j", "theta_j")
    assert both(V("∂E/∂o", j)) == ("∂E/∂o_j", "dE/do_j")


# ---------------------------------------------------------------- sums of terms

def test_all_negative_terms_keep_order():
    assert both(add(neg(V("x")), neg(V("y")))) == ("−x − y", "-x - y")


def test_negative_coefficients():
    assert str(sub(V("a"), mul(const(2), V("x")))) == "a − 2 x"
    assert str(sub(V("a"), mul(const(Fraction(1, 2)), V("x")))) == "a − x / 2"
    assert str(sub(V("a"), const(Fraction(1, 2)))) == "a − 1/2"
    assert str(add(V("x", i), ONE)) == "1 + x_i"


def test_sum_term_and_subtracted_sum():
    assert str(sub(V("a"), summation([j], V("x", j)))) == "a − Σ_j x_j"


# ---------------------------------------------------------------- products

def test_coefficients_and_fractions():
    assert str(mul(const(Fraction(1, 2)), V("x"), V("y"))) == "x y / 2"
    assert str(mul(const(Fraction(3, 2)), V("x"))) == "3 x / 2"
    assert str(mul(const(Fraction(-3, 2)), V("x"))) == "−3 x / 2"
    assert str(mul(const(3), V("x"))) == "3 x"
    assert str(mul(const(0.5), V("x"))) == "0.5 x"


def test_denominators():
    assert str(div(ONE, V("x"))) == "1 / x"
    assert str(div(V("a"), mul(V("b"), V("c")))) == "a / (b c)"
    assert str(div(V("x"), mul(const(2), V("y")))) == "x / (2 y)"
    assert str(power(V("x"), const(-2))) == "1 / x^2"
    assert str(neg(div(V("x"), V("y")))) == "−x / y"
    assert str(div(V("a"), add(V("b"), V("c")))) == "a / (b + c)"


def test_sum_factor_goes_last_or_in_parentheses():
    x, y = summation([j], V("x", j)), summation([k], V("y", k))
    assert str(mul(V("c"), x)) == "c Σ_j x_j"
    assert str(mul(x, y)) == "(Σ_j x_j) Σ_k y_k"
    assert str(div(x, V("y"))) == "(Σ_j x_j) / y"
    assert str(mul(const(Fraction(1, 2)), x)) == "(Σ_j x_j) / 2"
    assert str(div(V("c"), mul(V("d"), x))) == "c / (d Σ_j x_j)"


def test_factor_categories_order():
    e = mul(summation([j], V("t", j)), add(V("a"), V("b")), func("exp", V("z", k)),
            V("o", k), const(2))
    assert str(e) == "2 o_k exp(z_k) (a + b) Σ_j t_j"


def test_powers():
    assert str(power(add(V("a"), V("b")), const(2))) == "(a + b)^2"
    assert str(power(V("x"), const(Fraction(1, 2)))) == "x^(1/2)"
    assert str(power(V("x"), DimSize("n"))) == "x^n"
    assert str(power(V("x", i), const(2))) == "x_i^2"
    assert str(power(func("exp", V("x")), V("y", i))) == "exp(x)^(y_i)"
    assert str(power(const(Fraction(1, 2)), V("x"))) == "(1/2)^x"
    assert str(power(summation([j], V("x", j)), const(2))) == "(Σ_j x_j)^2"


# ---------------------------------------------------------------- explicit sums

def test_sum_forms():
    assert both(summation([j, k], V("W", j, k))) == ("Σ_{j,k} W_jk", "sum_{j,k} W_jk")
    i1 = Index("i1", "n")
    assert str(summation([i1], V("x", i1))) == "Σ[i1] x[i1]"
    assert str(summation([i1, k], V("W", i1, k))) == "Σ[i1,k] W[i1,k]"
    assert str(Apply("softmax", V("z", i1, k), (i1,), (j,))) == "softmax_i(z_ik)_j"
    assert str(summation([j], add(V("a", j), V("b", j)))) == "Σ_j (a_j + b_j)"
    assert str(summation([j], neg(mul(V("t", j), V("u", j))))) == "Σ_j (−t_j u_j)"
    assert str(summation([i], mul(V("W", i, k), V("y", i)))) == "Σ_i W_ik y_i"


def test_clashing_binders_are_renamed():
    e = mul(summation([i], V("x", i)), summation([i], V("y", i)))
    text = str(e)
    assert text.startswith("(Σ_i x_i) Σ_") and "Σ_i y_i" not in text


# ---------------------------------------------------------------- functions

def test_elementwise_functions():
    assert str(func("exp", V("z", j))) == "exp(z_j)"
    assert both(func("sigmoid", V("x"))) == ("σ(x)", "sigmoid(x)")
    assert str(func("f", V("z2", j), 1)) == "f'(z2_j)"
    assert str(func("f", V("z"), 2)) == "f''(z)"
    assert str(func("log", add(V("a"), V("b")))) == "log(a + b)"


def test_tensor_functions_of_a_whole_variable():
    assert both(Apply("softmax", V("θ", j), (j,), (k,))) == ("softmax(θ)_k", "softmax(theta)_k")
    assert str(Apply("logsumexp", V("z", i), (i,))) == "logsumexp(z)"
    assert str(Apply("det", V("A", i, j), (i, j))) == "det(A)"
    assert str(Apply("logdet", V("A", i, j), (i, j))) == "logdet(A)"
    assert str(Apply("inv", V("A", i, j), (i, j), (a, b))) == "inv(A)_ab"


def test_tensor_functions_in_reduction_form():
    arg = add(V("θ", i), V("b", i))
    assert str(Apply("softmax", arg, (i,), (j,))) == "softmax_i(b_i + θ_i)_j"
    assert str(Apply("logsumexp", V("z", i, k), (i,))) == "logsumexp_i(z_ik)"
    assert str(Apply("det", add(V("A", i, j), V("B", i, j)), (i, j))) == "det_{i,j}(A_ij + B_ij)"
    assert str(Apply("inv", V("X", j, i), (i, j), (a, b))) == "inv_{i,j}(X_ji)_ab"


def test_opaque_scalar_function_derivatives():
    assert str(Apply("L", V("a2", j), (j,))) == "L(a2)"
    assert str(Apply("L", V("a2", j), (j,), (k,), 1)) == "L'(a2)_k"
    assert str(Apply("L", V("a2", j), (j,), (j, k), 2)) == "L''(a2)_jk"


# ---------------------------------------------------------------- round trips through the parser
#
# These need indexcalc.parse (written alongside this printer).  They import it
# inside the tests so that, until it lands, they fail loudly one by one
# instead of taking the rest of this file down at collection time.

GOLDEN = {
    "S1": """
        z : vector[n]
        t : vector[n]
        o_j = exp(z_j) / sum_i exp(z_i)
        E = -sum_j t_j log(o_j)
    """,
    "S2": """
        W : matrix[m, n]
        y : vector[m]
        b : vector[n]
        t : vector[n]
        z_k = sum_i W_ik y_i + b_k
        o_j = exp(z_j) / sum_i exp(z_i)
        E = -sum_j t_j log(o_j)
    """,
    "S3": """
        x : vector[Dx]
        W1 : matrix[Dx, H]
        b1 : vector[H]
        W2 : matrix[H, C]
        b2 : vector[C]
        y : vector[C]
        r = x W1 + b1
        h = sigmoid(r)
        θ = h W2 + b2
        yhat = softmax(θ)
        J = -sum_i y_i log(yhat_i)
    """,
    "S4": """
        a1 : vector[n]
        W1 : matrix[n, m]
        b1 : vector[m]
        z2 = W1ᵀ a1 + b1
        a2 = f(z2)
        E = L(a2)
    """,
    "S5": """
        a : vector[3]
        t : vector[3]
        S = Σ_i exp(a_i)
        y_k = exp(a_k) / S
        L = −Σ_k t_k log(y_k)
    """,
    "DESIGN": """
        x : vector[n]
        W : matrix[n, m]
        A : matrix[n, n] symmetric
        T : tensor[n, m, k]
        s : scalar
        y : vector[n]
        b : vector[m]
        t : vector[m]
        z_k = W_ik y_i + b_k
        o_j = exp(z_j) / sum_i exp(z_i)
        E = -sum_j t_j log(o_j)
        q = x A x + s
        u_jk = T_ijk x_i b_j
    """,
    "matrix": """
        X : matrix[N, d]
        w : vector[d]
        y : vector[N]
        A : matrix[d, d]
        s : scalar
        m = y ⊙ (X w)
        l = sum(log(sigmoid(m)))
        g = ||w||
        D = det(A) + logdet(A) + tr(inv(A))
        P = A^-1 + Aᵀ
        v = logsumexp(w) + dot(w, w) / 2 - 3 * sqrt(s^2 + 1)
        u_i = log_softmax(w)_i * 0.5
    """,
}


def declaration_lines(text):
    return [ln.strip() for ln in text.strip().splitlines() if ":" in ln]


def ascii_names(e):
    """``e`` with every tensor name spelt as ASCII printing spells it (θ -> theta)."""
    if isinstance(e, Var):
        return Var(to_ascii(e.name), e.indices)
    if isinstance(e, Apply):
        return Apply(e.fn, ascii_names(e.arg), e.over, e.out, e.order)
    if not e.children:
        return e
    return ir.rebuild(e, tuple(ascii_names(c) for c in e.children))


def same(printed_back, original, ascii):
    original = ascii_names(original) if ascii else original
    return ir.canonical(printed_back) == ir.canonical(original)


def printed_model(text, ascii):
    from indexcalc.syntax.parse import parse
    model = parse(text)
    lines = declaration_lines(text)
    for d in model.definitions.values():
        lines.append(definition_text(d.name, d.indices, d.expr, ascii=ascii))
    return model, "\n".join(lines)


@pytest.mark.parametrize("ascii", [False, True], ids=["unicode", "ascii"])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_models_round_trip(name, ascii):
    from indexcalc.syntax.parse import parse
    model, printed = printed_model(GOLDEN[name], ascii)
    again = parse(printed).definitions
    for d in model.definitions.values():
        back = again[to_ascii(d.name) if ascii else d.name]
        assert back.indices == d.indices, printed
        assert same(back.expr, d.expr, ascii), printed


def declarations_for(e, ascii=False):
    """Declarations that make the hand-built expression ``e`` parse: every index
    ranges over ``n``, every tensor is declared with its rank."""
    kinds = {0: "scalar", 1: "vector[n]", 2: "matrix[n, n]"}
    ranks = {"dimn": 1}                         # so that `n` is known as a dimension
    for node in ir.walk(e):
        if isinstance(node, Var):
            ranks[node.name] = len(node.indices)
    shape = {r: kinds.get(r, "tensor[" + ", ".join(["n"] * r) + "]") for r in ranks.values()}
    spell = to_ascii if ascii else str
    return [f"{spell(name)} : {shape[r]}" for name, r in sorted(ranks.items())]


HAND_BUILT = [
    sub(mul(V("o", k), summation([j], V("t", j))), V("t", k)),
    mul(V("y", p), sub(mul(V("o", q), V("τ")), V("t", q))),
    mul(V("δ2", j), V("a1", i)),
    mul(V("h", b), sub(ONE, V("h", b))),
    mul(V("o", k), delta(j, k), V("t", j)),
    add(neg(V("x")), neg(V("y"))),
    sub(V("a"), mul(const(Fraction(1, 2)), V("x"))),
    mul(const(Fraction(-3, 2)), V("x"), V("y", i)),
    # (a float constant prints as a decimal, which parses back as an exact Fraction)
    div(V("a"), mul(V("b"), V("c"))),
    div(V("x"), mul(const(2), V("y"))),
    power(V("x"), const(-2)),
    div(V("a"), add(V("b"), V("c"))),
    mul(summation([j], V("x", j)), summation([k], V("y", k))),
    div(summation([j], V("x", j)), V("y")),
    mul(const(Fraction(1, 2)), summation([j], V("x", j))),
    div(V("c"), mul(V("d"), summation([j], V("x", j)))),
    mul(summation([j], V("t", j)), add(V("a"), V("b")), func("exp", V("z", k)), V("o", k)),
    power(add(V("a"), V("b")), const(2)),
    power(V("x"), const(Fraction(1, 2))),
    power(V("x"), DimSize("n")),
    mul(DimSize("n"), power(V("x", i), const(3))),
    summation([j, k], V("W", j, k)),
    summation([j], add(V("a", j), V("b", j))),
    summation([j], neg(mul(V("t", j), V("u", j)))),
    summation([Index("i1", "n")], mul(V("x", Index("i1", "n")), V("W", Index("i1", "n"), k))),
    mul(summation([i], V("x", i)), summation([i], V("y", i))),
    func("sigmoid", sub(V("x", i), V("y", i))),
    mul(func("f", V("z2", j), 1), V("g", j)),
    Apply("softmax", V("θ", j), (j,), (k,)),
    Apply("softmax", add(V("θ", i), V("b", i)), (i,), (j,)),
    Apply("logsumexp", V("z", i), (i,)),
    Apply("det", add(V("A", i, j), V("B", i, j)), (i, j)),
    Apply("inv", V("A", i, j), (i, j), (a, b)),
    Apply("inv", V("X", j, i), (i, j), (a, b)),
    Apply("L", V("a2", j), (j,), (k,), 1),
]


@pytest.mark.parametrize("ascii", [False, True], ids=["unicode", "ascii"])
@pytest.mark.parametrize("e", HAND_BUILT, ids=[to_text(e, ascii=True) for e in HAND_BUILT])
def test_hand_built_round_trip(e, ascii):
    from indexcalc.syntax.parse import parse
    free = tuple(sorted(e.free, key=lambda x: x.key))
    line = definition_text("result", free, e, ascii=ascii)
    text = "\n".join(declarations_for(e, ascii) + [line])
    back = parse(text).definitions["result"]
    assert back.indices == free, text
    assert same(back.expr, e, ascii), text


def test_printed_text_is_accepted_by_the_grammar():
    """Syntax only, straight from the .lark file: holds even before name resolution."""
    from lark import Lark

    from indexcalc.syntax.grammar import grammar_text
    parser = Lark(grammar_text(), parser="lalr")
    for e in HAND_BUILT:
        free = tuple(sorted(e.free, key=lambda x: x.key))
        for ascii in (False, True):
            parser.parse(definition_text("result", free, e, ascii=ascii))

