"""Random convolutions (strategies.shifted_models): every derivative, first and
second, matches finite differences, the compiled code matches the reference
evaluator, no delta of shifted indices survives, and the printed result parses
back to a claim that ``check`` accepts."""

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st
from strategies import shifted_models

import indexcalc
from indexcalc.ir import Delta, Index, walk
from indexcalc.testing import check_grad, random_arrays


@settings(max_examples=25, deadline=None)
@given(shifted_models(), st.data())
def test_shifted_derivatives_match_finite_differences(case, data):
    note(case.text)
    model = indexcalc.parse(case.text)
    arrays = random_arrays(model, data.draw(st.integers(0, 5)), sizes=case.sizes)
    wrt = data.draw(st.sampled_from(case.wrt))
    d = indexcalc.derivative(model, wrt)
    note(str(d))
    assert not any(isinstance(n, Delta) and not (type(n.a) is type(n.b) is Index)
                   for n in walk(d.expr))
    check_grad(model, wrt, arrays=arrays, compiled=False)
    np.testing.assert_allclose(d.evaluate(**arrays), d.evaluate_reference(**arrays),
                               rtol=1e-9, atol=1e-9)
    lhs, rhs = str(d).split(" = ", 1)
    assert indexcalc.check(model, f"dL/d{lhs.split('/∂')[1]} == {rhs}").holds


@settings(max_examples=10, deadline=None)
@given(shifted_models(), st.data())
def test_shifted_second_derivatives_match_finite_differences(case, data):
    note(case.text)
    model = indexcalc.parse(case.text)
    arrays = random_arrays(model, 0, sizes=case.sizes)
    wrt = [data.draw(st.sampled_from(case.wrt)) for _ in range(2)]
    note(str(indexcalc.derivative(model, wrt)))
    check_grad(model, wrt, arrays=arrays)
