"""Convolutions, strides, shifts: index arithmetic from notation to compiled code (issue 14).

Every derivative asserted here is also compared with finite differences, and the
convolution layers with PyTorch and JAX where they are installed.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import indexcalc
from indexcalc.errors import IndexcalcError
from indexcalc.ir import Delta, Index, walk
from indexcalc.testing import check_grad, random_arrays

CONV1D = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x_{i+k}\nL = sum_i c_i y_i"
STRIDED = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x[2i+k]\nL = sum_i c_i y_i"
DILATED = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x[i+2k]\nL = sum_i c_i y_i"
TV = "x : vector[n]\nT = sum_i (x_{i+1} - x_i)^2"
POOL = "x : vector[n]\ny_i = sum_k [0 ≤ k < 2] x[2i+k] / 2\nL = sum_i c_i y_i"
CONV2D = """X : tensor[B, C, H, W]
F : tensor[O, C, U, V]
β : vector[O]
Y[b,o,i,j] = sum_{c,u,v} F[o,c,u,v] X[b,c,i+u,j+v] + β_o
L = sum_{b,o,i,j} G[b,o,i,j] Y[b,o,i,j]"""
NONLINEAR = "x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x_{i+k}\nL = sum_i tanh(y_i)"

SIZES = {"n": 9, "K": 3}


def arrays_for(text, sizes=SIZES, seed=0):
    return random_arrays(indexcalc.parse(text), seed, sizes=sizes)


def no_delta(d, diagonal=False):
    """No delta of shifted indices and no delta a sum could contract; ``diagonal``
    allows δ between two free indices (a second derivative's channel identity)."""
    deltas = [n for n in walk(d.expr) if isinstance(n, Delta)]
    assert all(n.free <= d.expr.free for n in deltas)            # none a sum could contract
    assert diagonal or all(type(n.a) is type(n.b) is Index for n in deltas)
    if not diagonal:
        assert "δ" not in str(d) and not deltas


# ---------------------------------------------------------------- notation and ranges

@pytest.mark.parametrize("text,name,shape", [
    (CONV1D, "y", ("n − K + 1",)),
    (STRIDED, "y", ("⌊(n − K)/2⌋ + 1",)),
    (DILATED, "y", ("n − 2K + 2",)),
    (POOL, "y", ("⌊(n − 2)/2⌋ + 1",)),
    (CONV2D, "Y", ("B", "O", "H − U + 1", "W − V + 1")),
    ("x : vector[10]\nw : vector[3]\ny_i = sum_k w_k x_{i+k}", "y", ("8",)),
    ("x : vector[10]\nw : vector[3]\ny_i = sum_k w_k x[2i+k]", "y", ("4",)),
])
def test_models_parse_with_the_valid_range(text, name, shape):
    m = indexcalc.parse(text)
    assert tuple(str(d) for d in m.shapes[name]) == shape


def test_total_variation_sums_over_n_minus_1():
    m = indexcalc.parse(TV)
    s = m.definitions["T"].expr
    assert str(s) == "Σ_i (x_{i+1} − x_i)^2"
    assert str(s.indices[0].dim) == "n − 1"
    x = np.array([1.0, 3.0, 2.0, 5.0])
    assert indexcalc.evaluate(TV, x=x) == pytest.approx(4 + 1 + 9)


def test_declared_and_same_size_outputs():
    same = "x : vector[n]\nw : vector[K]\ny : vector[n]\ny_i = sum_k w_k x_{i+k-1}"
    m = indexcalc.parse(same)                            # a "same" convolution: zero padding
    assert m.shapes["y"] == ("n",)
    x, w = np.arange(1.0, 6.0), np.array([1.0, 10.0, 100.0])
    got = indexcalc.evaluate(same, x=x, w=w)
    want = [sum(w[k] * (x[i + k - 1] if 0 <= i + k - 1 < 5 else 0) for k in range(3))
            for i in range(5)]
    np.testing.assert_allclose(got, want)
    padded = "x : vector[n] pad\nw : vector[K]\ny : vector[n]\ny_i = sum_k w_k x_{i-k}"
    assert str(indexcalc.parse(padded).definitions["y"].expr) == "Σ_k w_k x_{i−k} [0 ≤ i − k < n]"


@pytest.mark.parametrize("text,message,column", [
    ("x : vector[n]\nw : vector[K]\ny_i = sum_k w_k x_{i-k}", "starts before the first entry", 17),
    ("x : vector[n]\ny_i = x[i k]", "not affine (a product of indices)", 8),
    ("x : vector[n]\ny_i = x_{i^2}", "not affine (a power of an index)", 8),
    ("x : vector[n]\ny_i = x_{i k}", "a product like i k is not", 7),
    ("x : vector[n]\nz : vector[m]\nu : vector[n]\ny_i = x_{i+1} + z_i + u_i",
     "inconsistent ranges", 23),
    ("x : vector[10]\nz : vector[5]\ny_i = x_{i+7} + z_i", "can read outside x", 7),
    ("x : vector[10]\nw : vector[3]\ny : vector[9]\nc : vector[9]\n"
     "y_i = sum_k w_k x_{i+k}\ny2_i = c_i y_i", "can read outside x", 17),
    ("x : vector[n]\ny_{i+1} = x_i", "takes plain indices", 1),
    ("x : vector[n]\nf = δ_{i+1,i+2} x_i", "may shift one of its two indices", 5),
])
def test_located_errors_say_what_is_allowed(text, message, column):
    with pytest.raises(IndexcalcError) as err:
        indexcalc.parse(text)
    assert message in str(err.value)
    assert err.value.column == column
    assert "^" in str(err.value)


def test_range_condition_must_match_the_read():
    # a claim inconsistent in itself is an input error, located, not a failed check
    with pytest.raises(IndexcalcError, match="does not match c_{p-k}"):
        indexcalc.check(CONV1D, "dL/dx_p == sum_k c_{p-k} w_k [0 <= p-k < n]")
    with pytest.raises(IndexcalcError, match="does not match") as err:
        indexcalc.parse(CONV1D + "\ncheck dL/dx_p == sum_k c_{p-k} w_k [0 <= p-k < n]")
    assert err.value.line == 5


# ---------------------------------------------------------------- the textbook forms

def test_conv1d_textbook_forms():
    dx = indexcalc.derivative(CONV1D, "x")
    dw = indexcalc.derivative(CONV1D, "w")
    assert str(dx) == "∂L/∂x_p = Σ_k c_{p−k} w_k [0 ≤ p − k < n − K + 1]"
    assert str(dw) == "∂L/∂w_p = Σ_i c_i x_{i+p}"
    assert dx.latex() == (r"\frac{\partial L}{\partial x_{p}} = \sum_{k} c_{p-k}\,w_{k}\,"
                          r"\left[0 \le p - k < n - K + 1\right]")
    for d, wrt in ((dx, "x"), (dw, "w")):
        no_delta(d)
        check_grad(CONV1D, wrt, arrays=arrays_for(CONV1D))
    a = arrays_for(CONV1D)
    np.testing.assert_allclose(dx.evaluate(**a), np.convolve(a["c"], a["w"], "full"))
    np.testing.assert_allclose(dw.evaluate(**a), np.correlate(a["x"], a["c"], "valid"))


def test_conv1d_with_numbers_states_numeric_bounds():
    text = "x : vector[10]\nw : vector[3]\ny_i = sum_k w_k x_{i+k}\nL = sum_i c_i y_i"
    assert str(indexcalc.derivative(text, "x")) == "∂L/∂x_p = Σ_k c_{p−k} w_k [0 ≤ p − k < 8]"
    check_grad(text, "x")


@pytest.mark.parametrize("claim", [
    "dL/dx_p == sum_k c_{p-k} w_k [0 <= p-k < n-K+1]",
    "dL/dx_p == Σ_k c_{p−k} w_k [0 ≤ p − k < n − K + 1]",
    "dL/dx_p == sum_i c_i w_{p-i} [0 <= p-i < K]",          # the same sum, over i
    "dL/dw_p == sum_i c_i x_{i+p}",
])
def test_check_accepts_the_textbook_claims(claim):
    assert indexcalc.check(CONV1D, claim).holds


def test_check_rejects_the_unflipped_kernel():
    result = indexcalc.check(CONV1D, "dL/dx_p == sum_k c_{p+k} w_k [0 <= p+k < n-K+1]")
    assert not result.holds and "counterexample" in str(result)


def test_conv2d_textbook_forms():
    dX = indexcalc.derivative(CONV2D, "X[b,c,p,q]")
    dF = indexcalc.derivative(CONV2D, "F[o,c,u,v]")
    assert str(dX) == ("∂L/∂X_bcpq = Σ_{o,u,v} G[b,o,p−u,q−v] F_ocuv "
                       "[0 ≤ p − u < H − U + 1] [0 ≤ q − v < W − V + 1]")
    assert str(dF) == "∂L/∂F_ocuv = Σ_{b,i,j} G_boij X[b,c,i+u,j+v]"     # a correlation
    assert dX.latex().startswith(r"\frac{\partial L}{\partial X_{bcpq}} = \sum_{o,u,v} "
                                 r"G_{b,o,p-u,q-v}\,F_{ocuv}")
    sizes = {"B": 2, "C": 2, "O": 3, "H": 5, "W": 4, "U": 2, "V": 3}
    a = arrays_for(CONV2D, sizes)
    for wrt in ("X", "F", "β"):
        check_grad(CONV2D, wrt, arrays=a)
    no_delta(dX)
    no_delta(dF)
    assert indexcalc.check(CONV2D, "dL/dX[b,c,p,q] == sum_{o,u,v} G[b,o,p-u,q-v] F[o,c,u,v] "
                                   "[0 <= p-u < H-U+1] [0 <= q-v < W-V+1]").holds


def test_strided_and_dilated_backward_passes():
    assert str(indexcalc.derivative(STRIDED, "x")) == (
        "∂L/∂x_p = Σ_k c_{(p−k)/2} w_k [2 | p − k, 0 ≤ (p − k)/2 < ⌊(n − K)/2⌋ + 1]")
    assert str(indexcalc.derivative(STRIDED, "w")) == "∂L/∂w_p = Σ_i c_i x_{2i+p}"
    assert str(indexcalc.derivative(DILATED, "x")) == (
        "∂L/∂x_p = Σ_k c_{p−2k} w_k [0 ≤ p − 2k < n − 2K + 2]")
    assert str(indexcalc.derivative(DILATED, "w")) == "∂L/∂w_p = Σ_i c_i x_{i+2p}"
    for text in (STRIDED, DILATED, POOL):
        for wrt in ("x", "w") if "w :" in text else ("x",):
            no_delta(indexcalc.derivative(text, wrt))
            check_grad(text, wrt, arrays=arrays_for(text, {"n": 11, "K": 3}))


def test_total_variation_hessian():
    d = indexcalc.derivative(TV, ["x", "x"])
    assert str(d) == ("∂²T/∂x_p∂x_q = 2 (δ_pq − δ[q,p−1]) [1 ≤ p < n] − 2 (δ[q,p+1] − δ_pq) "
                      "[0 ≤ p < n − 1]")                   # banded: shifted diagonals
    no_delta(d, diagonal=True)
    got = check_grad(TV, ["x", "x"], arrays=arrays_for(TV, {"n": 6}))
    want = 2 * (2 * np.eye(6) - np.eye(6, k=1) - np.eye(6, k=-1))
    want[0, 0] = want[-1, -1] = 2
    np.testing.assert_allclose(got, want)


def test_total_variation_gradient():
    d = indexcalc.derivative(TV, "x")
    assert str(d) == ("∂T/∂x_p = 2 (x_p − x_{p−1}) [1 ≤ p < n] − 2 (x_{p+1} − x_p) "
                      "[0 ≤ p < n − 1]")
    no_delta(d)
    check_grad(TV, "x", arrays=arrays_for(TV, {"n": 7}))


# ---------------------------------------------------------------- second derivatives

@pytest.mark.parametrize("wrt", [["w", "x"], ["x", "x"], ["w", "w"], ["x", "w"]])
def test_second_derivatives_through_a_convolution(wrt):
    d = indexcalc.derivative(NONLINEAR, wrt)
    no_delta(d)
    check_grad(NONLINEAR, wrt, arrays=arrays_for(NONLINEAR, {"n": 8, "K": 3}))


def test_second_derivatives_2d():
    text = CONV2D.replace("L = sum_{b,o,i,j} G[b,o,i,j] Y[b,o,i,j]",
                          "L = sum_{b,o,i,j} tanh(Y[b,o,i,j])")
    sizes = {"B": 1, "C": 2, "O": 2, "H": 4, "W": 4, "U": 2, "V": 2}
    for wrt in (["F", "X"], ["X", "X"]):
        no_delta(indexcalc.derivative(text, wrt), diagonal=True)
        check_grad(text, wrt, arrays=arrays_for(text, sizes))


# ---------------------------------------------------------------- compiled code

def test_compiled_convolution_is_a_strided_view_and_one_contraction():
    f = indexcalc.derivative(CONV2D, "X").compile()
    sizes = {"B": 2, "C": 3, "O": 4, "H": 6, "W": 5, "U": 3, "V": 2}
    a = arrays_for(CONV2D, sizes)
    got = f(**a)
    np.testing.assert_allclose(got, indexcalc.derivative(CONV2D, "X").evaluate_reference(**a))
    body = f.source.split("def derivative", 1)[1]
    assert body.count("_window(") == 1
    assert body.count("np.tensordot(") + body.count("np.einsum(") == 1
    assert " for " not in body and "while" not in body
    assert "np.eye" not in body and "zeros" not in body        # no selector, no Toeplitz


def test_exported_source_runs_with_symbolic_sizes():
    src = indexcalc.derivative(CONV1D, "x").python()
    assert "_window(" in src
    fname, params = re.findall(r"^def (\w+)\(([^)]*)\):", src, re.M)[-1]
    namespace = {}
    exec(compile(src, "<test>", "exec"), namespace)
    for n in (9, 14):
        a = arrays_for(CONV1D, {"n": n, "K": 3})
        args = [a[p.strip()] for p in params.split(",")]
        np.testing.assert_allclose(namespace[fname](*args), np.convolve(a["c"], a["w"], "full"))


def test_derived_size_mismatch_is_an_evaluation_error():
    f = indexcalc.derivative(CONV1D, "x").compile()
    with pytest.raises(IndexcalcError, match="valid range"):
        f(x=np.ones(9), w=np.ones(3), c=np.ones(5))


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_gradients_match_torch(stride):
    torch = _torch()
    s = "" if stride == 1 else str(stride)
    text = CONV2D.replace("X[b,c,i+u,j+v]", f"X[b,c,{s}i+u,{s}j+v]")
    sizes = {"B": 2, "C": 3, "O": 4, "H": 7, "W": 6, "U": 3, "V": 2}
    a = arrays_for(text, sizes)
    f = indexcalc.compile(text, ["dL/dX", "dL/dF", "dL/dβ"])
    got = f(**a)
    X = torch.tensor(a["X"], requires_grad=True)
    F = torch.tensor(a["F"], requires_grad=True)
    b = torch.tensor(a["β"], requires_grad=True)
    Y = torch.nn.functional.conv2d(X, F, b, stride=stride)
    gX, gF, gb = torch.autograd.grad(Y, (X, F, b), torch.tensor(a["G"]))
    for ours, theirs in zip(got.values(), (gX, gF, gb)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("text,kw", [
    (CONV1D, {}),
    (STRIDED, {"stride": 2}),
    (DILATED, {"dilation": 2}),
])
def test_conv1d_gradients_match_torch(text, kw):
    torch = _torch()
    a = arrays_for(text, {"n": 13, "K": 3})
    x = torch.tensor(a["x"], requires_grad=True)
    w = torch.tensor(a["w"], requires_grad=True)
    y = torch.nn.functional.conv1d(x[None, None], w[None, None], **kw)[0, 0]
    gx, gw = torch.autograd.grad(y, (x, w), torch.tensor(a["c"]))
    got = indexcalc.compile(text, ["dL/dx", "dL/dw"])(**a)
    np.testing.assert_allclose(got["dL/dx"], gx.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["dL/dw"], gw.numpy(), rtol=1e-12, atol=1e-12)


def test_average_pooling_matches_torch():
    torch = _torch()
    a = arrays_for(POOL, {"n": 11})
    x = torch.tensor(a["x"], requires_grad=True)
    y = torch.nn.functional.avg_pool1d(x[None, None], 2)[0, 0]
    np.testing.assert_allclose(indexcalc.evaluate(POOL, "y", **a), y.detach().numpy())
    (gx,) = torch.autograd.grad(y, (x,), torch.tensor(a["c"]))
    np.testing.assert_allclose(indexcalc.derivative(POOL, "x").evaluate(**a), gx.numpy())


def test_conv1d_hessian_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = arrays_for(NONLINEAR, {"n": 8, "K": 3})

    def loss(x, w):
        y = jax.lax.conv_general_dilated(x[None, None], w[None, None], (1,), "VALID")
        return jax.numpy.sum(jax.numpy.tanh(y))
    want = jax.jacfwd(jax.grad(loss, argnums=1), argnums=0)(a["x"], a["w"])
    got = indexcalc.derivative(NONLINEAR, ["w", "x"]).evaluate(**a)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_backends_compile_shifted_reads(backend):
    pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    a = arrays_for(STRIDED, {"n": 11, "K": 3})
    d = indexcalc.derivative(STRIDED, "x")
    got = np.asarray(d.compile(backend)(**{k: _as(backend, v) for k, v in a.items()}))
    np.testing.assert_allclose(got, d.evaluate_reference(**a), rtol=1e-10, atol=1e-12)


def _as(backend, v):
    if backend == "torch":
        import torch
        return torch.tensor(v)
    import jax.numpy as jnp
    return jnp.asarray(v)


# ---------------------------------------------------------------- reading it

@pytest.mark.parametrize("text,wrt,name", [
    (CONV1D, "x", "the full convolution of c with the flipped kernel w"),
    (CONV1D, "w", "the valid correlation of x with c"),
    (STRIDED, "x", "the transposed convolution (stride 2) of c with the kernel w"),
    (STRIDED, "w", "the valid correlation of x with c (stride 2)"),
    (DILATED, "x", "the full convolution of c with the flipped kernel w (the kernel dilated by 2)"),
])
def test_matrix_reader_names_the_operation(text, wrt, name):
    form = indexcalc.derivative(text, wrt).matrix()
    assert not form.exact and name in form.reason and "Toeplitz" in form.reason
    assert indexcalc.check(text, f"dL/d{wrt}_p == {form.result}").holds   # it parses back


def test_explanation_says_flipped_kernel():
    lines = indexcalc.derivative(CONV1D, "x").explain().splitlines()
    assert "Reading: ∂L/∂x_p is the full convolution of the output gradient c with the " \
           "flipped kernel w." in lines
    lines = indexcalc.derivative(CONV1D, "w").explain().splitlines()
    assert "Reading: ∂L/∂w_p is the valid correlation of the input x with the output " \
           "gradient c." in lines


@pytest.mark.parametrize("text,wrt", [(CONV1D, "x"), (CONV1D, "w"), (STRIDED, "w"),
                                      (DILATED, "x"), (TV, "x"), (CONV2D, "X")])
def test_printed_derivatives_parse_back(text, wrt):
    d = indexcalc.derivative(text, wrt)
    of = "T" if text is TV else "L"
    lhs, rhs = str(d).split(" = ", 1)
    assert indexcalc.check(text, f"d{of}/d{lhs.split('/∂')[1]} == {rhs}").holds


@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(1, 5)), min_size=1, max_size=3),
       st.integers(-6, 6), st.integers(1, 3), st.integers(1, 6))
@settings(max_examples=200, deadline=None)
def test_range_masks_match_their_definition(axes, offset, den, dim):
    """The compiled range condition ``[0 ≤ (Σ c_j j + o)/den < dim, den | …]`` equals the
    condition evaluated position by position (its integer type and its one unsigned
    comparison are speed-ups only)."""
    from itertools import product
    from indexcalc.compiler.window_helpers import _mask, helpers
    coefs, shape = tuple(c for c, _ in axes), tuple(n for _, n in axes)
    got = _mask(coefs, offset, den, dim, shape)
    want = np.zeros(shape)
    for pos in product(*(range(n) for n in shape)):
        t = sum(c * j for c, j in zip(coefs, pos)) + offset
        want[pos] = float(t % den == 0 and 0 <= t // den < dim)
    assert got.shape == shape and np.array_equal(got, want)


@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(1, 5)), min_size=1, max_size=3),
       st.integers(-6, 6), st.integers(1, 3), st.integers(1, 6))
@settings(max_examples=25, deadline=None)
def test_range_masks_are_the_same_in_torch_and_jax(axes, offset, den, dim):
    """The torch and JAX spellings of ``_mask`` (their own sources) agree with NumPy's."""
    from indexcalc.compiler.window_helpers import _mask, helpers
    coefs, shape = tuple(c for c, _ in axes), tuple(n for _, n in axes)
    want = _mask(coefs, offset, den, dim, shape)
    for lib in ("torch", "jax"):
        try:
            module = __import__(lib)
        except ImportError:
            continue
        if lib == "jax":
            module.config.update("jax_enable_x64", True)
        namespace = {"torch": module} if lib == "torch" else {"jnp": __import__("jax.numpy")
                                                                    .numpy}
        exec(helpers(lib)["_mask"], namespace)
        got = np.asarray(namespace["_mask"](coefs, offset, den, dim, shape))
        assert got.shape == shape and np.array_equal(got, want), lib
