"""Elementwise chains run in dead buffers (``compiler/inplace.py``), counted, not timed.

Backprop through ``tanh(x W + b)`` is a chain of elementwise passes; each used
to allocate a new array per operator.  With float64 inputs the compiled code
now writes each into a temporary read for the last time there.  These tests
count what that saves (the plan's ``in_place``, NumPy's allocation peak in one
call under ``tracemalloc``), check the values against finite differences and
the reference evaluator, and check that nothing the caller holds (inputs,
outputs) is ever written.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np

import indexcalc
from indexcalc.testing import check_grad

LAYER = ("x : matrix[B, D]\nW : matrix[D, H]\nb : vector[H]\nV : matrix[H, C]\n"
         "r = x W + b\nh = tanh(r)\ns = h V\nE = sum_ij s_ij s_ij")
B, D, H, C = 256, 32, 128, 10


def layer_arrays(dtype=np.float64) -> dict:
    rng = np.random.default_rng(17)
    return {"x": rng.standard_normal((B, D)).astype(dtype),
            "W": (rng.standard_normal((D, H)) / 8).astype(dtype),
            "b": rng.standard_normal(H).astype(dtype),
            "V": rng.standard_normal((H, C)).astype(dtype)}


def peak_bytes(f, arrays) -> int:
    f(**arrays)                                   # planned and warm
    tracemalloc.start()
    f(**arrays)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_the_tanh_layers_backprop_allocates_no_elementwise_temporary():
    arrays = layer_arrays()
    f = indexcalc.compile(LAYER, outputs=["dE/dW", "dE/db"])
    got = f(**arrays)
    # x W + b, tanh, 2 s, and dE/dh ⊙ (1 − h ⊙ h) (three operators): all in dead buffers
    assert f.stats(**arrays)["in_place"] == 6
    # live at once: x W (becoming r, h, then dE/dr), dE/dh, s (becoming dE/ds), outputs
    needed = 2 * B * H + B * C + D * H + H
    assert peak_bytes(f, arrays) <= 8 * needed + 4096
    for name, key in (("W", "dE/dW"), ("b", "dE/db")):
        want = indexcalc.derivative(LAYER, name).evaluate_reference(**arrays)
        assert np.allclose(got[key], want, rtol=1e-12, atol=1e-12)
    check_grad(LAYER, "W")                        # compiled, at small random sizes
    check_grad(LAYER, "b")


def test_inputs_and_outputs_are_never_written():
    arrays = layer_arrays()
    kept = {k: v.copy() for k, v in arrays.items()}
    f = indexcalc.compile(LAYER, outputs=["h", "r", "dE/dW", "dE/db"])
    first = f(**arrays)
    second = f(**arrays)
    for k in arrays:
        assert np.array_equal(arrays[k], kept[k]), k
    r = arrays["x"] @ arrays["W"] + arrays["b"]
    assert np.array_equal(first["r"], r) and np.array_equal(first["h"], np.tanh(r))
    for k in first:
        assert np.array_equal(first[k], second[k]), k
    assert first["h"] is not second["h"]          # each call returns arrays of its own


def test_other_dtypes_run_as_written():
    """float32 stays float32 (no float64 buffer is written with a float32 result, or the
    reverse), integers are promoted as NumPy promotes them; a plan per dtype."""
    f = indexcalc.compile(LAYER, outputs=["dE/dW"])
    want = f(**layer_arrays())["dE/dW"]
    single = f(**layer_arrays(np.float32))["dE/dW"]
    assert single.dtype == np.float32 and f.stats(**layer_arrays(np.float32))["in_place"] == 0
    assert np.allclose(single, want, rtol=1e-3, atol=1e-3)
    ints = {k: np.round(v * 3).astype(np.int64) for k, v in layer_arrays().items()}
    as_float = {k: v.astype(np.float64) for k, v in ints.items()}
    assert np.array_equal(f(**ints)["dE/dW"], f(**as_float)["dE/dW"])
    assert f.stats(**layer_arrays())["in_place"] > 0


def test_a_sigmoid_mlp_writes_through_the_tables_helpers():
    """``_sigmoid(x W + b)``: the sum inside the helper's call and the backward chain
    reuse dead buffers; each gradient equals the reference evaluator's."""
    from indexcalc.testing import mlp_model, random_arrays
    text = mlp_model(3)
    outs = [f"dE/dW{j}" for j in range(3)] + [f"dE/db{j}" for j in range(3)]
    f = indexcalc.compile(text, outputs=outs)
    arrays = random_arrays(indexcalc.parse(text), 0, sizes={"n": 16})
    got = f(**arrays)
    assert re.search(r"_sigmoid\(\(?np\.add\(", f.source), f.source
    assert f.stats()["in_place"] >= 2 * 3                    # at least two per layer
    for spec in outs:
        wrt = spec.split("/d")[1]
        want = indexcalc.derivative(text, wrt).evaluate_reference(**arrays)
        assert np.allclose(got[spec], want, rtol=1e-12, atol=1e-12), spec
