"""The LaTeX printer: exact strings for the golden-style layouts and every node
kind, and every string this file produces is rendered by matplotlib's mathtext
(so it is LaTeX that actually typesets, not just a string)."""

import io
from fractions import Fraction

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib import mathtext  # noqa: E402

from indexcalc.calculus.reverse import DerivativeName  # noqa: E402
from indexcalc.ir import (  # noqa: E402
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
from indexcalc.read.latex import latex, latex_block, latex_definition, tex_name  # noqa: E402

i, j, k, p, q, a, b = (Index(c, "n") for c in "ijkpqab")


def V(name, *indices):
    return Var(name, tuple(indices))


def rendered(s: str) -> str:
    """``s`` after checking that mathtext typesets it."""
    mathtext.math_to_image("$" + s + "$", io.BytesIO(), format="png")
    return s


def tex(e) -> str:
    return rendered(latex(e))


CASES = [
    # golden-style layouts
    (sub(mul(V("o", k), summation([j], V("t", j))), V("t", k)),
     r"o_{k}\,\sum_{j} t_{j} - t_{k}"),
    (mul(V("y", p), sub(mul(V("o", q), V("τ")), V("t", q))),
     r"y_{p}\,\left(o_{q}\,\tau - t_{q}\right)"),
    (mul(V("δ2", j), V("a1", i)), r"a1_{i}\,\delta2_{j}"),
    (mul(V("h", b), sub(ONE, V("h", b))), r"h_{b}\,\left(1 - h_{b}\right)"),
    (div(func("exp", V("z", j)), summation([i], func("exp", V("z", i)))),
     r"\frac{\exp\left(z_{j}\right)}{\sum_{i} \exp\left(z_{i}\right)}"),
    (neg(summation([j], mul(V("t", j), func("log", V("o", j))))),
     r"-\sum_{j} t_{j}\,\log\left(o_{j}\right)"),
    (add(summation([b], mul(V("W1", b, a), V("x", b))), V("b1", a)),
     r"b1_{a} + \sum_{b} W1_{ba}\,x_{b}"),
    # leaves
    (V("x"), "x"),
    (V("W", i, k), "W_{ik}"),
    (V("W", Index("i1", "n"), k), "W_{i1,k}"),
    (V("W", Index("α", "n"), k), r"W_{\alpha k}"),
    (V("θ1"), r"\theta1"),
    (delta(k, j), r"\delta_{jk}"),
    (DimSize("n"), "n"),
    (mul(const(2), DimSize(3)), r"2 \cdot 3"),
    (const(Fraction(1, 2)), r"\frac{1}{2}"),
    (const(-3), "-3"),
    (const(0.25), "0.25"),
    (const(1e-5), r"1 \times 10^{-5}"),
    # sums and products
    (add(neg(V("x")), neg(V("y"))), "-x - y"),
    (mul(const(Fraction(1, 2)), V("x"), V("y")), r"\frac{x\,y}{2}"),
    (mul(const(Fraction(-3, 2)), V("x")), r"-\frac{3\,x}{2}"),
    (div(V("a"), mul(V("b"), V("c"))), r"\frac{a}{b\,c}"),
    (div(V("a"), add(V("b"), V("c"))), r"\frac{a}{b + c}"),
    (div(add(V("a"), V("b")), V("c")), r"\frac{a + b}{c}"),
    (power(V("x"), const(-2)), r"\frac{1}{x^{2}}"),
    (mul(summation([j], V("x", j)), summation([k], V("y", k))),
     r"\left(\sum_{j} x_{j}\right)\,\sum_{k} y_{k}"),
    (div(summation([j], V("x", j)), V("y")), r"\frac{\sum_{j} x_{j}}{y}"),
    (power(add(V("a"), V("b")), const(2)), r"\left(a + b\right)^{2}"),
    (power(V("x"), const(Fraction(1, 2))), "x^{1/2}"),
    (power(V("x"), DimSize("n")), "x^{n}"),
    (summation([j, k], V("W", j, k)), r"\sum_{j,k} W_{jk}"),
    (summation([j], add(V("a", j), V("b", j))), r"\sum_{j} \left(a_{j} + b_{j}\right)"),
    (summation([j], neg(mul(V("t", j), V("u", j)))), r"\sum_{j} \left(-t_{j}\,u_{j}\right)"),
    # functions
    (func("sigmoid", V("x")), r"\sigma\left(x\right)"),
    (func("sqrt", add(V("x"), ONE)), r"\sqrt{1 + x}"),
    (func("relu", V("x")), r"\operatorname{relu}\left(x\right)"),
    (func("f", V("z2", j), 1), r"f'\left(z2_{j}\right)"),
    (func("f", V("z"), 2), r"f''\left(z\right)"),
    (func("foo", V("z")), r"\operatorname{foo}\left(z\right)"),
    (Apply("softmax", V("θ", j), (j,), (k,)), r"\operatorname{softmax}\left(\theta\right)_{k}"),
    (Apply("softmax", add(V("θ", i), V("b", i)), (i,), (j,)),
     r"\operatorname{softmax}_{i}\left(b_{i} + \theta_{i}\right)_{j}"),
    (Apply("log_softmax", V("z", i), (i,), (j,)), r"\operatorname{log\_softmax}\left(z\right)_{j}"),
    (Apply("logsumexp", V("z", i), (i,)), r"\operatorname{logsumexp}\left(z\right)"),
    (Apply("det", add(V("A", i, j), V("B", i, j)), (i, j)),
     r"\det_{i,j}\left(A_{ij} + B_{ij}\right)"),
    (Apply("logdet", V("A", i, j), (i, j)), r"\log\left|\det\left(A\right)\right|"),
    (Apply("inv", V("X", j, i), (i, j), (a, b)),
     r"\operatorname{inv}_{i,j}\left(X_{ji}\right)_{ab}"),
    (Apply("L", V("a2", j), (j,), (j, k), 2), r"L''\left(a2\right)_{jk}"),
]


@pytest.mark.parametrize("e, expected", CASES, ids=[c[1] for c in CASES])
def test_latex(e, expected):
    assert tex(e) == expected


def test_tex_names():
    assert tex_name("θk") == r"\theta k"
    assert tex_name("∂E/∂o") == r"\partial E/\partial o"
    assert tex_name("log_x") == r"log\_x"
    rendered(tex_name("ŷ"))


def test_definitions():
    z = add(summation([i], mul(V("W", i, k), V("y", i))), V("b", k))
    assert rendered(latex_definition("z", (k,), z)) == r"z_{k} = b_{k} + \sum_{i} W_{ik}\,y_{i}"
    grad = mul(V("y", p), sub(mul(V("o", q), V("τ")), V("t", q)))
    assert rendered(latex_definition(DerivativeName("E", ("W",)), (p, q), grad)) == (
        r"\frac{\partial E}{\partial W_{pq}} = y_{p}\,\left(o_{q}\,\tau - t_{q}\right)")
    assert rendered(latex_definition("θ", (), V("x"))) == r"\theta = x"


def test_block_aligns_lines_that_each_render():
    lines = [rendered(latex_definition("τ", (), summation([j], V("t", j)))),
             rendered(latex_definition("g", (k,), sub(mul(V("o", k), V("τ")), V("t", k))))]
    assert latex_block(lines) == (r"\begin{aligned} \tau &= \sum_{j} t_{j} \\ "
                                  r"g_{k} &= o_{k}\,\tau - t_{k} \end{aligned}")
