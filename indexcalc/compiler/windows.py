"""Shifted reads as strided views: how convolutions compile.

A read with affine subscripts, ``x_{2i+k}`` over ``i < m, k < K``, is a view of
``x`` with one axis per index -- ``V[i, k] = x[2i + k]`` -- obtained without
copying by giving each view axis a stride (``2`` elements for ``i``, ``1`` for
``k``): what ``numpy.lib.stride_tricks.sliding_window_view`` does for the plain
case, generalised to any integer coefficients and several tensor axes.  The view
then enters the product's one contraction like any other operand, so a
convolution is one strided view and one einsum/tensordot -- never a dense
selector or Toeplitz tensor, never a Python loop over positions.

Where a read may leave the array (the full convolution of a backward pass,
``c_{p−k}``), the array is zero-padded first by exactly as much as the reads
need.  Where a coefficient is fractional (``c_{(p−k)/2}``, a strided backward
pass), the axis is first dilated: zeros are inserted between its entries, which
is the "transposed convolution" step.  Negative strides are avoided by starting
at the lowest address and reversing those view axes afterwards.

Generated code calls ``_window(x, subs, extents)`` with each axis's subscript
as integers (coefficients per view axis, offset, denominator); the helper (its
NumPy source is the function below; torch and JAX have their own spellings)
works out padding and strides from the shapes, so exported code with symbolic
sizes works too.  ``_mask`` evaluates a range condition that no read implies
(``[0 ≤ p − 1 < n − 1]``) as a 0/1 array over its own indices only.
"""

from __future__ import annotations

import inspect
from fractions import Fraction

import numpy as np

from indexcalc.ir.affine import affine, in_range, linear, sub_free


# ---------------------------------------------------------------- running it

def _window(x, subs, extents):
    """The view ``V[j] = x[sub_a(j)]`` (zero outside ``x``) of a NumPy array.  ``subs``
    holds, per axis of ``x``, ``(coefficients per view axis, offset, denominator)``;
    ``extents`` the view's lengths.  Read-only: it may share memory with ``x``."""
    x = np.asarray(x)
    dilate = [d for _, _, d in subs]
    if any(d > 1 for d in dilate):
        big = np.zeros(tuple((n - 1) * d + 1 for n, d in zip(x.shape, dilate)), x.dtype)
        big[tuple(slice(None, None, d) for d in dilate)] = x
        x = big
    pads, start = [], []
    for (coefs, off, _), n in zip(subs, x.shape):
        lo = off + sum(min(0, c) * (e - 1) for c, e in zip(coefs, extents))
        hi = off + sum(max(0, c) * (e - 1) for c, e in zip(coefs, extents))
        pads.append((max(0, -lo), max(0, hi - n + 1)))
        start.append(off + pads[-1][0])
    if any(lo or hi for lo, hi in pads):
        x = np.pad(x, pads)
    base = x[tuple(slice(s, None) for s in start)]
    strides = tuple(sum(sub[0][j] * st for sub, st in zip(subs, x.strides))
                    for j in range(len(extents)))
    return np.lib.stride_tricks.as_strided(base, tuple(extents), strides, writeable=False)


def _mask(coefs, offset, den, dim, shape):
    """``[0 ≤ (Σ coefs_j j + offset)/den < dim, den | …]`` as a 0/1 array of ``shape``
    (one axis per index, in the order of ``coefs``).  The sum is built in the narrowest
    integer type that holds it, and ``0 ≤ t < b`` is one unsigned comparison."""
    span = abs(offset) + sum(abs(c) * n for c, n in zip(coefs, shape))
    kind, unsigned = (np.int32, np.uint32) if span < 2**31 else (np.int64, np.uint64)
    total = np.asarray(offset, dtype=kind)
    for j, c in enumerate(coefs):
        ax = [1] * len(shape)
        ax[j] = shape[j]
        total = total + (c * np.arange(shape[j], dtype=kind)).reshape(ax)
    total = np.broadcast_to(total, shape)
    ok = total.view(unsigned) < dim * den
    if den > 1:
        ok &= total % den == 0
    return ok.astype(np.float64)


_BOUNDS = (
    "    pads, start = [], []\n"
    "    for (coefs, off, _), n in zip(subs, x.shape):\n"
    "        lo = off + sum(min(0, c) * (e - 1) for c, e in zip(coefs, extents))\n"
    "        hi = off + sum(max(0, c) * (e - 1) for c, e in zip(coefs, extents))\n"
    "        pads.append((max(0, -lo), max(0, hi - n + 1)))\n"
    "        start.append(off + pads[-1][0])\n")

NUMPY_HELPERS = {"_window": inspect.getsource(_window), "_mask": inspect.getsource(_mask)}

# torch: as_strided takes element strides and a storage offset, and no negative strides:
# an axis read backwards (c_{p−k}) is a flip of the forward view (a copy)
TORCH_HELPERS = {
    "_window": (
        "def _window(x, subs, extents):\n"
        "    if any(d > 1 for _, _, d in subs):\n"
        "        big = x.new_zeros(tuple((n - 1) * d + 1 for n, (_, _, d) in zip(x.shape, subs)))"
        "\n"
        "        big[tuple(slice(None, None, d) for _, _, d in subs)] = x\n"
        "        x = big\n" + _BOUNDS +
        "    if any(lo or hi for lo, hi in pads):\n"
        "        x = torch.nn.functional.pad(x, [p for lh in reversed(pads) for p in lh])\n"
        "    x = x.contiguous()\n"
        "    flip = [j for j in range(len(extents))\n"
        "            if sum(sub[0][j] * st for sub, st in zip(subs, x.stride())) < 0]\n"
        "    for j in flip:\n"
        "        start = [s + sub[0][j] * (extents[j] - 1) for s, sub in zip(start, subs)]\n"
        "    strides = [abs(sum(sub[0][j] * st for sub, st in zip(subs, x.stride())))\n"
        "               for j in range(len(extents))]\n"
        "    offset = sum(s * st for s, st in zip(start, x.stride()))\n"
        "    view = torch.as_strided(x, tuple(extents), strides, offset)\n"
        "    return view.flip(flip) if flip else view\n"),
    "_mask": NUMPY_HELPERS["_mask"].replace("np.asarray(offset, dtype=np.int64)",
                                            "torch.tensor(offset, dtype=torch.int64)")
                                   .replace("np.arange", "torch.arange")
                                   .replace("np.broadcast_to(ok, shape).astype(np.float64)",
                                            "torch.broadcast_to(ok, shape).to(torch.float64)"),
}

# JAX has no strided views: the same window as one gather with integer index arrays
JAX_HELPERS = {
    "_window": (
        "def _window(x, subs, extents):\n"
        "    if any(d > 1 for _, _, d in subs):\n"
        "        big = jnp.zeros(tuple((n - 1) * d + 1 for n, (_, _, d) in zip(x.shape, subs)),"
        " x.dtype)\n"
        "        x = big.at[tuple(slice(None, None, d) for _, _, d in subs)].set(x)\n" + _BOUNDS +
        "    if any(lo or hi for lo, hi in pads):\n"
        "        x = jnp.pad(x, pads)\n"
        "    grids = jnp.indices(tuple(extents), sparse=True)\n"
        "    idx = tuple(s + sum(c * g for c, g in zip(sub[0], grids))\n"
        "                for s, sub in zip(start, subs))\n"
        "    return x[idx]\n"),
    "_mask": NUMPY_HELPERS["_mask"].replace("np.asarray(offset, dtype=np.int64)",
                                            "jnp.asarray(offset)")
                                   .replace("np.", "jnp."),
}


# ---------------------------------------------------------------- code generation

def helpers(backend: str) -> dict[str, str]:
    """The window and mask helper sources for generated code of one backend."""
    return {"torch": TORCH_HELPERS, "jax": JAX_HELPERS}.get(backend, NUMPY_HELPERS)


def emit_window(gen, e, code: str, pos) -> tuple[str, tuple]:
    """The code of the strided view for the shifted read ``e`` of the array ``code``
    (whose axes are ``e``'s subscripts in the order ``pos``), and the view's axes."""
    subs = list(e.indices) if pos is None else [e.indices[p] for p in pos]
    order = list(dict.fromkeys(i for s in subs for i in sorted(sub_free(s), key=_key)))
    spec = []
    for s in subs:
        terms, off = linear(s)
        den = 1
        for c in list(terms.values()) + [Fraction(off)]:
            den = den * Fraction(c).denominator // _gcd(den, Fraction(c).denominator)
        spec.append((tuple(int(terms.get(i, 0) * den) for i in order), int(off * den), den))
    extents = "(" + ", ".join(gen.dim_code(i.dim) for i in order) + ("," if len(order) == 1
                                                                       else "") + ")"
    return f"_window({code}, {tuple(spec)!r}, {extents})", tuple(order)


def emit_mask(gen, cond) -> tuple[str, tuple]:
    """The code of a 0/1 array for the range condition ``cond`` over its indices."""
    order = sorted(cond.free, key=_key)
    terms, offset = linear(cond.sub)
    den = 1
    for c in list(terms.values()) + [Fraction(offset)]:
        den = den * Fraction(c).denominator // _gcd(den, Fraction(c).denominator)
    coefs = tuple(int(terms.get(i, 0) * den) for i in order)
    shape = "(" + ", ".join(gen.dim_code(i.dim) for i in order) + ("," if len(order) == 1
                                                                     else "") + ")"
    return (f"_mask({coefs!r}, {int(offset * den)}, {den}, {gen.dim_code(cond.sub.dim)}, "
            f"{shape})"), tuple(order)


def as_condition(d):
    """``δ_{p,i+1}`` as the condition ``[0 ≤ p − i − 1 < 1]``."""
    ta, oa = linear(d.a)
    tb, ob = linear(d.b)
    terms = dict(ta)
    for i, c in tb.items():
        terms[i] = terms.get(i, 0) - c
    return in_range(affine(terms, oa - ob, 1))


def _key(i):
    return i.key


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a
