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


@settings(max_examples=15, deadline=None)
@given(shifted_models(), st.data())
def test_shifted_derivatives_agree_on_every_backend(case, data):
    """The JAX backend (convolution primitive or strided slices, never a gather) and the
    torch backend (reversed views, the small operand flipped) compute what NumPy does."""
    import pytest
    jax = pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    jax.config.update("jax_enable_x64", True)
    note(case.text)
    model = indexcalc.parse(case.text)
    arrays = random_arrays(model, data.draw(st.integers(0, 5)), sizes=case.sizes)
    wrt = [data.draw(st.sampled_from(case.wrt)) for _ in range(data.draw(st.integers(1, 2)))]
    d = indexcalc.derivative(model, wrt)
    want = d.evaluate(**arrays)
    fj = d.compile("jax")
    args = {k: jax.numpy.asarray(v) for k, v in arrays.items()}
    np.testing.assert_allclose(np.asarray(fj(**args)), want, rtol=1e-9, atol=1e-9)
    plan = list(fj.plans.values())[-1]
    assert "gather" not in str(jax.make_jaxpr(plan.fn)(*(args[n] for n in fj.inputs)))
    got = d.compile("torch")(**{k: torch.tensor(v) for k, v in arrays.items()})
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
