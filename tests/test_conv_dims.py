"""Dimension equations of convolutions: a declared output size is the valid range.

``y : vector[m]`` beside ``x : vector[n]``, ``w : vector[K]`` and ``y_i = Σ_k w_k x_{i+k}``
records ``m = n − K + 1``: bounds are proved with it (the weight gradient states no
extra bound) and printed in the user's names (``< m``).  Every form asserted here is
also compared with finite differences.
"""

import numpy as np
import pytest

import indexcalc
from indexcalc.errors import IndexcalcError
from indexcalc.testing import check_grad, random_arrays

BODY = "y_i = sum_k w_k x_{i+k}\nL = sum_i c_i y_i"
DECLARED = "x : vector[n]\nw : vector[K]\ny : vector[m]\n" + BODY
UNDECLARED = "x : vector[n]\nw : vector[K]\n" + BODY


@pytest.mark.parametrize("text, dx", [
    (DECLARED, "∂L/∂x_p = Σ_k c_{p−k} w_k [0 ≤ p − k < m]"),
    (UNDECLARED, "∂L/∂x_p = Σ_k c_{p−k} w_k [0 ≤ p − k < n − K + 1]"),
])
def test_printed_forms_declared_and_not(text, dx):
    assert str(indexcalc.derivative(text, "x")) == dx
    assert str(indexcalc.derivative(text, "w")) == "∂L/∂w_p = Σ_i c_i x_{i+p}"
    arrays = random_arrays(indexcalc.parse(text), 0, sizes={"n": 9, "K": 3})
    assert arrays["c"].shape == (7,)
    for wrt in ("x", "w"):
        check_grad(text, wrt, arrays=arrays)
    a = arrays
    np.testing.assert_allclose(indexcalc.derivative(text, "x").evaluate(**a),
                               np.convolve(a["c"], a["w"], "full"))


def test_the_equation_is_recorded():
    m = indexcalc.parse(DECLARED)
    (size,) = m.shapes["y"]
    assert str(size) == "m" and size.value_text() == "n − K + 1"
    assert size.value({"n": 9, "K": 3}) == 7


def test_check_accepts_both_spellings_of_the_bound():
    for claim in ("dL/dx_p == sum_k c_{p-k} w_k [0 <= p-k < m]",
                  "dL/dw_p == sum_i c_i x_{i+p}"):
        result = indexcalc.check(DECLARED, claim)      # the claim's i ranges over m too
        assert result.holds and "symbolically" in str(result), str(result)


def test_strided_declared_output():
    text = "x : vector[n]\nw : vector[K]\ny : vector[m]\ny_i = sum_k w_k x[2i+k]\n" \
           "L = sum_i c_i y_i"
    assert str(indexcalc.derivative(text, "x")) == \
        "∂L/∂x_p = Σ_k c_{(p−k)/2} w_k [2 | p − k, 0 ≤ (p − k)/2 < m]"
    assert indexcalc.parse(text).shapes["y"][0].value_text() == "⌊(n − K)/2⌋ + 1"
    for wrt in ("x", "w"):
        check_grad(text, wrt, arrays=random_arrays(indexcalc.parse(text), 1,
                                                   sizes={"n": 10, "K": 3}))


def test_inconsistent_declared_number_is_a_located_error():
    text = "x : vector[5]\nw : vector[3]\ny : vector[4]\n" + BODY
    with pytest.raises(IndexcalcError, match="can read outside x") as err:
        indexcalc.parse(text)
    assert err.value.line == 4 and "^" in str(err.value)


def test_same_size_output_pads_and_records_nothing():
    text = "x : vector[n]\nw : vector[K]\ny : vector[n]\ny_i = sum_k w_k x_{i+k-1}\n" \
           "L = sum_i c_i y_i"
    assert indexcalc.parse(text).shapes["y"] == ("n",)
    check_grad(text, "x", arrays=random_arrays(indexcalc.parse(text), 0,
                                               sizes={"n": 6, "K": 3}))


CONV2D = """X : tensor[B, C, H, W]
F : tensor[O, C, U, V]
β : vector[O]
Y[b,o,i,j] = sum_{c,u,v} F[o,c,u,v] X[b,c,i+u,j+v] + β_o
L = sum_{b,o,i,j} G[b,o,i,j] Y[b,o,i,j]"""


def test_summed_indices_keep_the_models_names():
    """Reverse mode renames Y's i, j apart from the question's o, c, u, v; the printed
    sum gives them back (they are free), and the value is unchanged."""
    d = indexcalc.derivative(CONV2D, "F_ocuv")
    assert str(d) == "∂L/∂F_ocuv = Σ_{b,i,j} G_boij X[b,c,i+u,j+v]"
    sizes = {"B": 2, "C": 2, "H": 5, "W": 4, "O": 2, "U": 2, "V": 3}
    check_grad(CONV2D, "F", arrays=random_arrays(indexcalc.parse(CONV2D), 0, sizes=sizes))


def test_a_name_the_question_uses_is_not_taken():
    """Asked about F_bcij, the model's b, i, j are taken: the sum keeps fresh names."""
    text = str(indexcalc.derivative(CONV2D, "F_bcij"))
    summed = text.split("Σ_{")[1].split("}")[0].split(",")
    assert not set(summed) & set("bcij") and len(set(summed)) == 3


def test_a_zero_coefficient_is_a_located_error():
    """Found by the fuzzer: ``0v`` in a subscript divided by zero."""
    text = ("X : tensor[C, H, W]\nF : tensor[O, C, U, V]\n"
            "Y[o,i,j] = sum_{c,u,v} F[o,c,u,0v] X[c,i+u,j+v]\nL = sum_{o,i,j} Y[o,i,j]^2")
    with pytest.raises(IndexcalcError, match="multiplies an index by zero") as err:
        indexcalc.parse(text)
    assert err.value.line == 3
