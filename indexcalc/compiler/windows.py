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

``plan`` does the integer arithmetic once, at generation time; ``window`` (and
its torch and JAX spellings in ``HELPERS``) runs it.  ``mask`` evaluates a range
condition that no read implies (``[0 ≤ p − 1 < n − 1]``) as a 0/1 array over its
own indices only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Window:
    """The view ``V[j1..jr] = x[sub_a(j)]`` of one read, in integers.

    ``dilate[a]``: entries of axis ``a`` are spread ``dilate[a]`` apart (zeros between);
    ``pads[a]``: zeros before and after axis ``a`` (after dilating);
    ``start[a]``: the position on axis ``a`` where the view begins;
    ``steps[j][a]``: how far view axis ``j`` moves along axis ``a`` per step (≥ 0 overall);
    ``shape[j]``: the view's length along ``j``; ``flip``: view axes to reverse after."""
    dilate: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    start: tuple[int, ...]
    steps: tuple[tuple[int, ...], ...]
    shape: tuple[int, ...]
    flip: tuple[int, ...]

    @property
    def plain(self) -> bool:
        return all(d == 1 for d in self.dilate) and not any(lo or hi for lo, hi in self.pads)


def plan(subs: list[tuple[dict, Fraction]], sizes: list[int], order: list, extent: dict
         ) -> Window:
    """The window of a read whose axis ``a`` (of ``sizes[a]`` entries) is read at the
    linear form ``subs[a] = ({index: c}, offset)``; ``order`` lists the view's
    indices and ``extent[index]`` their ranges."""
    dilate = []
    for terms, off in subs:
        den = 1
        for c in list(terms.values()) + [Fraction(off)]:
            den = den * Fraction(c).denominator // _gcd(den, Fraction(c).denominator)
        dilate.append(den)
    # coordinates on the dilated axes: position = den * sub
    coef = [{i: int(c * d) for i, c in t.items()} for (t, _), d in zip(subs, dilate)]
    offs = [int(Fraction(o) * d) for (_, o), d in zip(subs, dilate)]
    pads, lows = [], []
    for a, (cs, off) in enumerate(zip(coef, offs)):
        lo = off + sum(min(0, c) * (extent[i] - 1) for i, c in cs.items())
        hi = off + sum(max(0, c) * (extent[i] - 1) for i, c in cs.items())
        length = (sizes[a] - 1) * dilate[a] + 1
        pads.append((max(0, -lo), max(0, hi - (length - 1))))
        lows.append(off + pads[a][0])
    # view axis j: steps along each tensor axis; a view axis whose combined stride would
    # be negative starts from its far end and is reversed afterwards
    steps, flip, start = [], [], list(lows)
    for j, i in enumerate(order):
        step = [cs.get(i, 0) for cs in coef]
        if _address(step, sizes, dilate, pads) < 0:
            flip.append(j)
            for a, c in enumerate(step):
                start[a] += c * (extent[i] - 1)
            step = [-c for c in step]
        steps.append(tuple(step))
    return Window(tuple(dilate), tuple(pads), tuple(start), tuple(steps),
                  tuple(extent[i] for i in order), tuple(flip))


def _address(step, sizes, dilate, pads) -> int:
    """The element offset of one step in a C-ordered padded array (sign decides a flip)."""
    total, stride = 0, 1
    for a in reversed(range(len(step))):
        total += step[a] * stride
        stride *= (sizes[a] - 1) * dilate[a] + 1 + pads[a][0] + pads[a][1]
    return total


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


# ---------------------------------------------------------------- running it (NumPy)

def window(x, dilate, pads, start, steps, shape, flip):
    """The strided view a ``Window`` describes, of the NumPy array ``x`` (read-only)."""
    x = np.asarray(x)
    if any(d > 1 for d in dilate):
        big = np.zeros(tuple((n - 1) * d + 1 for n, d in zip(x.shape, dilate)), x.dtype)
        big[tuple(slice(None, None, d) for d in dilate)] = x
        x = big
    if any(lo or hi for lo, hi in pads):
        x = np.pad(x, pads)
    base = x[tuple(slice(s, None) for s in start)]
    strides = tuple(sum(c * st for c, st in zip(step, x.strides)) for step in steps)
    view = np.lib.stride_tricks.as_strided(base, shape, strides, writeable=False)
    if flip:
        view = view[tuple(slice(None, None, -1) if j in flip else slice(None)
                          for j in range(len(shape)))]
    return view


def mask(coefs, offset, den, dim, shape):
    """``[0 ≤ (Σ coefs_j j + offset)/den < dim, den | …]`` as a 0/1 array of ``shape``
    (one axis per index, in the order of ``coefs``)."""
    total = np.asarray(offset, dtype=np.int64)
    for j, c in enumerate(coefs):
        ax = [1] * len(shape)
        ax[j] = shape[j]
        total = total + c * np.arange(shape[j]).reshape(ax)
    ok = (total >= 0) & (total < dim * den) & (total % den == 0)
    return np.broadcast_to(ok, shape).astype(np.float64)


NUMPY_HELPERS = {
    "_window": (
        "def _window(x, dilate, pads, start, steps, shape, flip):\n"
        "    if any(d > 1 for d in dilate):\n"
        "        big = np.zeros(tuple((n - 1) * d + 1 for n, d in zip(x.shape, dilate)), x.dtype)\n"
        "        big[tuple(slice(None, None, d) for d in dilate)] = x\n"
        "        x = big\n"
        "    if any(lo or hi for lo, hi in pads):\n"
        "        x = np.pad(x, pads)\n"
        "    base = x[tuple(slice(s, None) for s in start)]\n"
        "    strides = tuple(sum(c * st for c, st in zip(step, x.strides)) for step in steps)\n"
        "    view = np.lib.stride_tricks.as_strided(base, shape, strides, writeable=False)\n"
        "    if flip:\n"
        "        view = view[tuple(slice(None, None, -1) if j in flip else slice(None)\n"
        "                          for j in range(len(shape)))]\n"
        "    return view\n"),
    "_mask": (
        "def _mask(coefs, offset, den, dim, shape):\n"
        "    total = np.asarray(offset, dtype=np.int64)\n"
        "    for j, c in enumerate(coefs):\n"
        "        ax = [1] * len(shape)\n"
        "        ax[j] = shape[j]\n"
        "        total = total + c * np.arange(shape[j]).reshape(ax)\n"
        "    ok = (total >= 0) & (total < dim * den) & (total % den == 0)\n"
        "    return np.broadcast_to(ok, shape).astype(np.float64)\n"),
}

# torch: as_strided takes element strides and no negative ones (flips copy)
TORCH_HELPERS = {
    "_window": (
        "def _window(x, dilate, pads, start, steps, shape, flip):\n"
        "    if any(d > 1 for d in dilate):\n"
        "        big = x.new_zeros(tuple((n - 1) * d + 1 for n, d in zip(x.shape, dilate)))\n"
        "        big[tuple(slice(None, None, d) for d in dilate)] = x\n"
        "        x = big\n"
        "    if any(lo or hi for lo, hi in pads):\n"
        "        flat = [p for lo_hi in reversed(pads) for p in lo_hi]\n"
        "        x = torch.nn.functional.pad(x, flat)\n"
        "    x = x.contiguous()\n"
        "    offset = sum(s * st for s, st in zip(start, x.stride()))\n"
        "    strides = tuple(sum(c * st for c, st in zip(step, x.stride())) for step in steps)\n"
        "    view = torch.as_strided(x, shape, strides, offset)\n"
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
        "def _window(x, dilate, pads, start, steps, shape, flip):\n"
        "    if any(d > 1 for d in dilate):\n"
        "        big = jnp.zeros(tuple((n - 1) * d + 1 for n, d in zip(x.shape, dilate)), x.dtype)\n"
        "        x = big.at[tuple(slice(None, None, d) for d in dilate)].set(x)\n"
        "    if any(lo or hi for lo, hi in pads):\n"
        "        x = jnp.pad(x, pads)\n"
        "    grids = _np.indices(shape, sparse=True)\n"
        "    idx = []\n"
        "    for a in range(x.ndim):\n"
        "        pos = start[a] + sum(step[a] * g for step, g in zip(steps, grids))\n"
        "        idx.append(pos)\n"
        "    view = x[tuple(idx)]\n"
        "    return jnp.flip(view, flip) if flip else view\n"),
    "_mask": NUMPY_HELPERS["_mask"].replace("np.", "jnp."),
}
