"""``check`` where terms cancel: round-off is never read as a difference, and a step at a
determinant is crossed.

Found by the long check run: a derivative that is 0 wherever det(A + B) > c, and claims
that write it as terms of 1e4 that cancel to 1e-12, were called wrong, because check's
tolerance followed the size of the values, not of the terms.  A point where the sides
differ by no more than the terms' round-off (``checking/magnitudes.py``) now cannot
tell, and the other points decide.  The same claims were in fact false, at matrices
whose determinant is below c, which no point reached: inputs that must be invertible
were all drawn near 2 I.  Points with determinants of the other sign now reach it.
"""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import models
from test_properties import dependencies, scaled

import indexcalc
from indexcalc.checking.evaluation import FLIPPED, SEEDS, draw_point, joint_program
from indexcalc.checking.magnitudes import magnitude_program
from indexcalc.checking.standins import concrete
from indexcalc.compiler.reference import evaluate_program
from indexcalc.errors import EvaluationError, IndexcalcError
from indexcalc.testing import numeric_derivative

DET_MODEL = """x in R^n
y : vector[n]
θ : vector[m]
u : vector[m]
W ∈ ℝ^{n×m}
A : matrix[n, n]
B : matrix[n, n]
c : scalar
h[i] = (1 + y_i^2) / (1 + x_i^2) / (1 + min(det(A + B), c)^2)
g = θ_a θ_a / (exp(tanh(y_b y_b)) + exp(-tanh(y_b y_b))) - logsumexp(h)
z1[i,j] = y_i u_j - x_i u_j + g W[i,j]"""


@scaled(0.1)
@given(models(), st.data())
def test_magnitudes_bound_the_values_they_are_computed_from(case, data):
    # M(e) ≥ |e| for every node (each rule adds |terms| or |f(a)|), so for every side
    model = indexcalc.parse(case.text)
    candidates = dependencies(model, case.of)
    if not candidates:
        return
    d = indexcalc.derivative(model, data.draw(st.sampled_from(candidates), label="wrt"))
    program = concrete(joint_program(d, [], []))
    sizes = magnitude_program(program)
    point = draw_point(model, list(program.arguments), data.draw(st.sampled_from(SEEDS)))
    try:
        with np.errstate(all="ignore"):
            values = evaluate_program(program, point.arrays)
            bounds = evaluate_program(sizes, point.arrays)
    except IndexcalcError:
        return
    for name, size in zip(program.outputs, sizes.outputs):
        v, m = np.abs(values[name]), np.broadcast_to(bounds[size], np.shape(values[name]))
        ok = ~np.isfinite(v) | ~np.isfinite(m) | (m >= v * (1 - 1e-12))
        assert np.all(ok), (name, v, m)


def expanded(roots: list[int]) -> list[int]:
    """The coefficients of Π (c + t) over ``roots``, constant first."""
    coefficients = [1]
    for c in roots:
        coefficients = [a * c + b for a, b in zip(coefficients + [0], [0] + coefficients)]
    return coefficients


def zero_written_large(roots: list[int]) -> str:
    """Π (c + x_p) − its expansion: 0, written as terms as large as Π |c|."""
    product = " ".join(f"({c} + x_p)" for c in roots)
    terms = " ".join(f"{'-' if a > 0 else '+'} {abs(a)} x_p^{k}"
                     for k, a in enumerate(expanded(roots)) if a)
    return f"{product} {terms}"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-30000, 30000), min_size=2, max_size=3),
       st.sampled_from([0, Fraction(1, 1000), 1]))
def test_terms_that_cancel_are_never_read_as_a_difference(roots, off):
    # dE/dx_p = 1; the claim adds `off` and a zero whose terms reach 1e13: a true claim
    # holds, and a false one is rejected, or, where the terms' round-off exceeds what it
    # is off by, check says it cannot decide; never the wrong verdict
    model = "x : vector[n]\nE = sum_i x_i^3 / 3"
    claim = f"dE/dx_p == x_p^2 + {float(off)} + {zero_written_large(roots)}"
    try:
        r = indexcalc.check(model, claim)
    except EvaluationError as e:
        assert off and "round-off" in e.problem, e
        return
    assert r.holds == (off == 0), str(r)


def test_a_zero_written_as_large_terms_that_cancel_holds():
    model = "x : vector[n]\nE = sum_i x_i^3 / 3"
    roots = [30000, -29999, 17]
    r = indexcalc.check(model, f"dE/dx_p == x_p^2 + {zero_written_large(roots)}")
    assert r.holds, str(r)


def test_the_long_run_claims_are_false_where_the_determinant_is_below_c():
    # the long run's claims: a transposed layout, written out term by term, agrees with
    # the derivative wherever det(A + B) > c (both are 0 there, up to round-off); below c
    # it does not, and check finds it (the old check rejected it for the round-off)
    d = indexcalc.derivative(indexcalc.parse(DET_MODEL), "B")
    truth = ("2 W_ij det(A + B) inv(A + B)_qp (1 − step(det(A + B) − c)) (det(A + B) − "
             "relu(det(A + B) − c)) (Σ_k h_k softmax(h)_k) / (1 + (det(A + B) − "
             "relu(det(A + B) − c))^2)")
    wrong = truth.replace("W_ij", "W_qj").replace("_qp", "_ip")
    assert indexcalc.check(DET_MODEL, f"{d.lhs()} == {truth}").holds
    r = indexcalc.check(DET_MODEL, f"{d.lhs()} == {wrong}")
    assert not r.holds and r.steps[0].counterexample, str(r)
    # the counterexample is at matrices whose determinant is below c
    text = r.steps[0].counterexample
    A = np.array(printed_matrix(text, "A")) + np.array(printed_matrix(text, "B"))
    c = float(text.split("c = ")[1].split(":")[0].split(",")[0])
    assert np.linalg.det(A) < c
    # and there the derivative is not 0: by finite differences, at a point drawn flipped
    point = draw_point(d.model, list(d.program.arguments), FLIPPED[0]).arrays
    assert np.linalg.det(point["A"] + point["B"]) < point["c"]
    numeric = numeric_derivative(d.model, "z1", ["B"], point)
    assert np.allclose(d.evaluate(**point), numeric, rtol=1e-5, atol=1e-10)
    assert np.max(np.abs(numeric)) > 1e-5


def printed_matrix(text: str, name: str) -> list:
    """The matrix ``name = [[...], ...]`` a counterexample prints (read as numbers)."""
    start = text.index(f" {name} = [[") + len(name) + 4
    depth, end = 0, start
    for end, ch in enumerate(text[start:], start):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth == 0:
            break
    rows = text[start + 1:end].split("], [")
    return [[float(v) for v in row.strip("[]").split(", ")] for row in rows]


def test_the_flipped_points_are_drawn_only_where_a_step_meets_an_invertible_input():
    """``wider_points``: scaled points always; the stepped ones where a step (of max, min
    or relu) is in the sides; the flipped ones only where an input is drawn invertible,
    and there each such input has a determinant of the other sign than at 2 I."""
    from indexcalc.checking.evaluation import SCRUTINY, STEPPED, wider_points

    def wide(text):
        m = indexcalc.parse(text)
        return wider_points([b.expr for b in m.program().bindings], m)

    smooth, stepped = "x : vector[n]\nE = sum(tanh(x))", "x : vector[n]\nE = sum(relu(x))"
    inverted = "A : matrix[n, n]\nc : scalar\nE = min(det(A), c)"
    assert wide(smooth) == SCRUTINY
    assert wide(stepped) == SCRUTINY + tuple(p for p in STEPPED if p[0] != FLIPPED)
    assert wide(inverted) == SCRUTINY + STEPPED
    m = indexcalc.parse(inverted)
    for seed in FLIPPED:
        assert np.linalg.det(draw_point(m, ["A", "c"], seed).arrays["A"]) < 0
    assert np.linalg.det(draw_point(m, ["A", "c"], SEEDS[0]).arrays["A"]) > 0
