"""Readable answers on held-out problems (issue 15), and the rules written for them.

``heldout_readable.py`` holds problems of the issue's kinds that are none of its
texts, and measures them numerically (a matrix form where a person writes one; no
zero term, constant left in, unmerged pair or written-out model name).  Here the
totals are held, the forms the rules give are asserted as exact output, parsed back
in both layouts and compared with finite differences, and the factoring rule is
proved on random sums (Hypothesis).
"""

from fractions import Fraction

import numpy as np
import pytest
from heldout_readable import PROBLEMS, defects, has_matrix_form
from hypothesis import given, settings
from hypothesis import strategies as st
from matrix_check import check_derivative

import indexcalc
from indexcalc.calculus.factoring import shared, split
from indexcalc.calculus.simplify import factor
from indexcalc.compiler.reference import evaluate_program
from indexcalc.ir import Add, Func, Index, Var, add, const, mul, power, summation, walk
from indexcalc.model import Binding, Program
from indexcalc.testing import check_grad


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_heldout_problem_is_readable(problem):
    d = indexcalc.derivative(problem.model, wrt=problem.wrt)
    if problem.matrix:
        assert has_matrix_form(d), d.matrix().reason
    assert defects(problem, d) == set(), str(d)


def by_name(name):
    return next(p for p in PROBLEMS if p.name == name)


FORMS = [
    # problem, column form, row form (None: the same)
    ("unit vector, other names", "(I − u uᵀ) / norm(v)", "(I − outer(u, u)) / norm(v)"),
    ("RMS norm, other names", "(c ⊙ w − L zn / m) / q", None),
    ("inverse norm", "−f x / r^2", None),
    ("KL of a softmax to a fixed q", "p ⊙ (log(p) − K − log(q))", None),
    ("GELU (tanh form), other names",
     "c ⊙ (1/2 tanh(s) + (1 − tanh(s)^2) ⊙ (0.053516112204258 z^3 + 0.3989422804 z) + 1/2)",
     None),
    ("one-line two-layer softmax, assume", "((1 − tanh(W1 x)^2) ⊙ (W2ᵀ (yh − y))) xᵀ",
     "outer((1 − tanh(x W1ᵀ)^2) ⊙ ((yh − y) W2), x)"),
]
INDEX = [
    ("unit vector, other names", "∂u_i/∂v_p = (δ_ip − u_i u_p) / norm(v)"),
    ("batch norm of a batch matrix, index form",
     "∂L/∂X_pq = (C_pq − Xn_pq (Σ_i C_iq Xn_iq) / b − (Σ_l C_lq) / b) / sqrt(va_q + 1e-5)"),
    ("one-line two-layer softmax, assume",
     "∂E/∂W1_pq = −x_q (1 − tanh(Σ_b W1_pb x_b)^2) Σ_k W2_kp (y_k − yh_k)"),
]


@pytest.mark.parametrize("name, column, row", FORMS)
def test_heldout_forms(name, column, row):
    p = by_name(name)
    assert check_derivative(p.model, p.wrt).result == column
    assert check_derivative(p.model, p.wrt, layout="row").result == (row or column)
    if not p.normalise:                          # finite differences ignore assumptions
        check_grad(p.model, p.wrt)


@pytest.mark.parametrize("name, text", INDEX)
def test_heldout_index_forms(name, text):
    p = by_name(name)
    assert str(indexcalc.derivative(p.model, wrt=p.wrt)) == text
    if not p.normalise:
        check_grad(p.model, p.wrt)


def test_a_norm_prints_as_the_user_wrote_it():
    text = "X : matrix[n, k]\nA : matrix[n, n]\nf = norm(X) + sum(A)"
    d = indexcalc.derivative(text, wrt="X")
    assert str(d) == "∂f/∂X_pq = X_pq / norm(X)"
    assert d.latex() == r"\frac{\partial f}{\partial X_{pq}} = \frac{X_{pq}}{\lVert X \rVert}"
    for layout in ("column", "row"):
        assert check_derivative(text, "X", layout=layout).result == "X / norm(X)"
    check_grad(text, "X")
    # a square root of a sum of squares over only some of the indices is not a norm
    text = "X : matrix[n, k]\nr_i = sqrt(sum_j X_ij^2)\nf = sum(r)"
    assert "norm" not in str(indexcalc.derivative(text, wrt="X"))
    check_grad(text, "X")


def test_the_root_of_a_definition_folds_back_as_its_square():
    # q = sqrt(s) with s long: s is q², and sqrt(q²) is q
    p = by_name("RMS norm, other names")
    assert "sqrt" not in str(indexcalc.derivative(p.model, wrt="z"))
    # s short (a name plus a constant): sqrt(v + ε)² stays v + ε
    text = "x : vector[n]\nv = sum(x ⊙ x)\nr = sqrt(v + 1)\nf = r^2"
    assert str(indexcalc.derivative(text, wrt="x")) == "∂f/∂x_p = 2 x_p"
    check_grad(text, "x")


# ---------------------------------------------------------------- factoring, on random sums

I, J = Index("i", "n"), Index("j", "n")
BOUND = [Index(c, "n") for c in "abk"]


def pool(k):
    """Factors: arrays, functions of them, and one norm spelt with a chosen bound name."""
    b = BOUND[k % 3]
    return [Var("x", (I,)), Var("y", (I,)), Func("tanh", Var("x", (I,))), Var("s", ()),
            power(Func("sqrt", summation((b,), power(Var("y", (b,)), const(2)))), const(-1)),
            Var("A", (I, J)), power(Var("x", (I,)), const(2))][k // 3 % 7]


terms = st.lists(st.tuples(st.sampled_from([1, -1, 2, 0.5, 3]),
                           st.lists(st.integers(0, 20), min_size=1, max_size=3)),
                 min_size=2, max_size=5)


def uses(e):
    return sum(isinstance(n, Var) for n in walk(e))


def value(e, indices, arrays):
    program = Program((Binding("out", indices, e),), ("out",),
                      {"x": ("n",), "y": ("n",), "s": (), "A": ("n", "n")})
    return evaluate_program(program, arrays)["out"]


@settings(max_examples=150, deadline=None)
@given(terms)
def test_factoring_keeps_the_value_and_leaves_no_common_factor(spec):
    e = add(*(mul(const(c), *(pool(k) for k in ks)) for c, ks in spec))
    f = factor(e)
    assert uses(f) <= uses(e)                  # no array written more often
    rng = np.random.default_rng(0)
    arrays = {"x": rng.uniform(-1, 1, 3), "y": rng.uniform(0.5, 1, 3), "s": rng.uniform(),
              "A": rng.uniform(-1, 1, (3, 3))}
    assert f.free == e.free
    indices = tuple(sorted(e.free, key=lambda i: i.name))
    assert np.allclose(value(e, indices, arrays), value(f, indices, arrays))
    for node in walk(f):                       # up to bound names and powers split
        if isinstance(node, Add):
            assert not shared([split(t) for t in node.terms]), node


# ---------------------------------------------------------------- a name found among more terms

def atom(k, bound):
    """Closed sums and a free entry, each sum binding a name chosen by the test."""
    b = Index(bound, "n")
    return [summation((b,), mul(Var("x", (b,)), Func("log", Var("y", (b,))))),
            summation((b,), power(Var("x", (b,)), const(2))),
            summation((b,), Var("y", (b,))), Var("x", (I,)), Func("tanh", Var("y", (I,)))][k]


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(5)), st.integers(2, 3), st.sampled_from([1, -1, 2, Fraction(1, 2)]),
       st.lists(st.sampled_from("abcjk"), min_size=5, max_size=5))
def test_a_defined_sum_is_folded_where_it_is_part_of_a_longer_sum(order, size, scale, names):
    from indexcalc.calculus.rewrite import Rule, rewrite
    body = [k for k in order[:size] if k < 3]
    if len(body) < 2:
        body = [0, 1]
    coeffs = {0: 1, 1: -2, 2: 3}
    pattern = add(*(mul(const(coeffs[k]), atom(k, "i")) for k in body))
    rule = Rule(pattern, Var("K", ()))
    others = [atom(k, names[k]) for k in range(5) if k not in body][:2]
    target = add(*(mul(const(scale * coeffs[k]), atom(k, names[k])) for k in body), *others)
    got = rewrite(target, [rule])
    assert got == add(mul(const(scale), Var("K", ())), *others)
