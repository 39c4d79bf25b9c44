"""Convolutions on the torch and JAX backends use those libraries' own windowing (issue 14).

JAX: a window is strided ``lax.slice``s after one ``lax.pad`` (zero padding and, for a
strided backward pass, dilation) -- the jaxpr has no ``gather``.  torch: a window is
an ``as_strided`` view; an axis read backwards (``c_{p−k}``) is a reversed view with
positive strides, and the small operand (the kernel, or the result) is flipped
instead of the window being copied.  Every derivative is compared with finite
differences (``check_grad``, NumPy backend) and the backends with it, first and
second derivatives, for 1-D, 2-D (batch, channels), strided, dilated and padded
models.
"""

import numpy as np
import pytest

import indexcalc
from indexcalc.testing import check_grad, random_arrays

CONV1D = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x_{i+k}\nL = sum_i c_i y_i"
STRIDED = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x[2i+k]\nL = sum_i c_i y_i"
DILATED = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x[i+2k]\nL = sum_i c_i y_i"
PADDED = ("x : vector[n] pad\nw : vector[K]\ny : vector[n]\ny_i = sum_k w_k x_{i-k}\n"
          "L = sum_i c_i y_i")
NONLINEAR = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x[2i+k]\nL = sum_i tanh(y_i)"
TV = "x : vector[n]\nT = sum_i (x_{i+1} - x_i)^2"
CONV2D = """X : tensor[B, C, H, W]
F : tensor[O, C, U, V]
β : vector[O]
Y[b,o,i,j] = sum_{{c,u,v}} F[o,c,u,v] X[b,c,{s}i+u,{s}j+v] + β_o
L = sum_{{b,o,i,j}} {loss}"""
LAYER = {s: CONV2D.format(s=s, loss="G[b,o,i,j] Y[b,o,i,j]") for s in ("", "2")}
TANH = {s: CONV2D.format(s=s, loss="tanh(Y[b,o,i,j])") for s in ("", "2")}
SIZES_2D = {"B": 2, "C": 3, "O": 4, "H": 7, "W": 6, "U": 3, "V": 2}
TINY_2D = {**SIZES_2D, "B": 1, "C": 2, "O": 2, "H": 5, "W": 4}

# (model, wrt, sizes, linear): a linear model's derivative is one contraction per
# window, where torch must not copy a window read backwards
CASES = [
    (CONV1D, "x", {"n": 11, "K": 3}, True),
    (CONV1D, "w", {"n": 11, "K": 3}, True),
    (STRIDED, "x", {"n": 12, "K": 3}, True),
    (STRIDED, "w", {"n": 12, "K": 3}, True),
    (DILATED, "x", {"n": 11, "K": 3}, True),
    (PADDED, "x", {"n": 9, "K": 3}, True),
    (PADDED, "w", {"n": 9, "K": 3}, True),             # Σ_i c_i x_{i−p}: the result flipped
    (NONLINEAR, ["w", "x"], {"n": 10, "K": 3}, False),  # ∂²L/∂w∂x
    (NONLINEAR, ["x", "x"], {"n": 10, "K": 3}, False),  # the Hessian
    (TV, ["x", "x"], {"n": 7}, True),
    (LAYER[""], "X", SIZES_2D, True),
    (LAYER[""], "F", SIZES_2D, True),
    (LAYER["2"], "X", SIZES_2D, True),
    (LAYER["2"], "F", SIZES_2D, True),
    (TANH[""], "X", SIZES_2D, False),
    (TANH["2"], "F", SIZES_2D, False),
    (TANH[""], ["F", "X"], TINY_2D, False),
    (TANH["2"], ["X", "X"], TINY_2D, False),
]
IDS = [f"{k}-{''.join(w)}" for k, (_, w, _, _) in enumerate(CASES)]


def _case(text, wrt, sizes):
    a = random_arrays(indexcalc.parse(text), 0, sizes=sizes)
    want = check_grad(text, wrt, arrays=a)            # NumPy backend = finite differences
    return indexcalc.derivative(text, wrt), a, want


@pytest.mark.parametrize("text,wrt,sizes,linear", CASES, ids=IDS)
def test_jax_windows_are_slices_not_gathers(text, wrt, sizes, linear):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    d, a, want = _case(text, wrt, sizes)
    f = d.compile("jax")
    args = {k: jax.numpy.asarray(v) for k, v in a.items()}
    np.testing.assert_allclose(np.asarray(f(**args)), want, rtol=1e-10, atol=1e-12)
    plan = list(f.plans.values())[-1]
    jaxpr = str(jax.make_jaxpr(plan.fn)(*(args[n] for n in f.inputs)))
    assert "gather" not in jaxpr
    if linear and "_conv(" in plan.source:              # one convolution per gradient
        assert jaxpr.count("conv_general_dilated[") == plan.source.count("_conv(")
        assert "dot_general" not in jaxpr and "_window(" not in plan.source


@pytest.mark.parametrize("text,wrt,sizes,linear", CASES, ids=IDS)
def test_torch_flips_the_kernel_not_the_window(text, wrt, sizes, linear, monkeypatch):
    torch = pytest.importorskip("torch")
    d, a, want = _case(text, wrt, sizes)
    f = d.compile("torch")
    flipped = []
    for owner, name in ((torch, "flip"), (torch.Tensor, "flip")):
        real = getattr(owner, name)

        def spy(t, *dims, _real=real, **kw):
            flipped.append(t.numel())
            return _real(t, *dims, **kw)
        monkeypatch.setattr(owner, name, spy)
    got = f(**{k: torch.tensor(v) for k, v in a.items()})
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    if linear:                          # only the kernel or the result is ever flipped
        small = max([v.size for k, v in a.items() if k in ("w", "F")] + [want.size])
        assert all(n <= small for n in flipped), (flipped, f.source)


def test_torch_backward_window_is_a_reversed_view():
    torch = pytest.importorskip("torch")
    d = indexcalc.derivative(CONV1D, "x")
    f = d.compile("torch")
    a = random_arrays(indexcalc.parse(CONV1D), 0, sizes={"n": 40, "K": 5})
    f(**{k: torch.tensor(v) for k, v in a.items()})
    assert "torch.flip(v_w" in f.source                  # the kernel is flipped, K numbers
    namespace = {"torch": torch}
    from indexcalc.compiler import window_helpers
    exec(window_helpers.TORCH_HELPERS["_window"], namespace)
    c = torch.tensor(a["c"])
    view = namespace["_window"](c, (((-1, 1), 0, 1),), (5, 40), (0,))
    assert view.stride() == (1, 1)                        # positive strides, no copy:
    assert view.untyped_storage().nbytes() == 8 * (36 + 2 * 4)   # the padded c, not 5×40
    want = np.lib.stride_tricks.sliding_window_view(np.pad(a["c"], 4), 5)
    np.testing.assert_array_equal(view.numpy(), want.T)  # V'[k, p] = c[p − (K−1−k)]


def test_jax_long_window_outside_a_product_is_one_gather():
    """A window read elementwise (inside tanh) is strided slices, one per value of
    its short axes; above ``_JAX_SLICES`` of them it is one gather instead."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import indexcalc.compiler.window_helpers as windows
    text = "x : vector[n]\nw : vector[K]\ny_i = sum_k tanh(w_k x_{i+k})\nL = sum_i c_i y_i"
    for K, gathers in ((5, False), (windows._JAX_SLICES + 2, True)):
        a = random_arrays(indexcalc.parse(text), 0, sizes={"n": 2 * K + 3, "K": K})
        d = indexcalc.derivative(text, "w")
        f = d.compile("jax")
        args = {k: jax.numpy.asarray(v) for k, v in a.items()}
        np.testing.assert_allclose(np.asarray(f(**args)), d.evaluate(**a), rtol=1e-10)
        plan = list(f.plans.values())[-1]
        jaxpr = str(jax.make_jaxpr(plan.fn)(*(args[n] for n in f.inputs)))
        assert ("gather" in jaxpr) == gathers and "_window(" in plan.source


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("stride", ["", "2"])
def test_exported_backend_code_runs_with_symbolic_sizes(backend, stride):
    """Exported code reads its sizes from the inputs: one source, two shapes."""
    lib = pytest.importorskip(backend)
    if backend == "jax":
        lib.config.update("jax_enable_x64", True)
    import re
    d = indexcalc.derivative(LAYER[stride], "X")
    src = d.python(backend)
    assert ("_conv(" in src) == (backend == "jax") and "gather" not in src
    fname, params = re.findall(r"^def (\w+)\(([^)]*)\):", src, re.M)[-1]
    namespace = {}
    exec(compile(src, "<test>", "exec"), namespace)
    for sizes in (SIZES_2D, TINY_2D):
        a = random_arrays(indexcalc.parse(LAYER[stride]), 1, sizes=sizes)
        conv = (lib.numpy.asarray if backend == "jax" else lib.tensor)
        got = namespace[fname](*(conv(a[p.strip()]) for p in params.split(",")))
        np.testing.assert_allclose(np.asarray(got), d.evaluate(**a), rtol=1e-10, atol=1e-12)
