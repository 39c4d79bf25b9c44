"""The helpers generated code calls for shifted reads, one spelling per array library.

``_window(x, subs, extents)`` is the view ``V[j] = x[sub_a(j)]`` of a shifted read
(``windows`` says how code generation uses it); ``_mask`` a range condition as a
0/1 array; ``_conv`` (JAX) a window times one operand as one convolution.  Each
works out padding, dilation and strides from the shapes at run time, so exported
code with symbolic sizes works too.  The sources are pasted into generated code,
which imports only its library (``np``, ``torch``, or ``jax`` and ``jnp``): they
use nothing else.

- NumPy: ``as_strided`` on the padded (and, for a fractional subscript, dilated)
  array; negative strides are fine.
- torch: ``torch.as_strided``, which takes no negative strides: the axes ``rev``
  are returned reversed, which code generation asks for on the axes a read walks
  backwards, flipping the small operand instead (``windows.reversals``).
- JAX has no strided views.  A window times one operand in the shape of a
  convolution is one ``lax.conv_general_dilated`` (``_conv``); any other window is
  a stack of strided ``lax.slice``s, one per value of its short axes, after one
  ``lax.pad`` (zero padding, cropping and dilation at once): no gather, except for a
  window needing more than ``_JAX_SLICES`` slices.
"""

from __future__ import annotations

import inspect
import re

import numpy as np


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

# torch: as_strided takes element strides and a storage offset, and no negative strides.
# ``rev`` lists view axes to return reversed: code generation asks for it on axes read
# backwards (c_{p−k}) and flips the small operand instead (``reversals``); an axis
# still read backwards after that is a flip of the forward view (a copy)
TORCH_HELPERS = {
    "_window": (
        "def _window(x, subs, extents, rev=()):\n"
        "    if any(d > 1 for _, _, d in subs):\n"
        "        big = x.new_zeros(tuple((n - 1) * d + 1 for n, (_, _, d) in zip(x.shape, subs)))"
        "\n"
        "        big[tuple(slice(None, None, d) for _, _, d in subs)] = x\n"
        "        x = big\n" + _BOUNDS +
        "    if any(lo or hi for lo, hi in pads):\n"
        "        x = torch.nn.functional.pad(x, [p for lh in reversed(pads) for p in lh])\n"
        "    x = x.contiguous()\n"
        "    strides = [sum(sub[0][j] * st for sub, st in zip(subs, x.stride()))\n"
        "               for j in range(len(extents))]\n"
        "    offset = sum(s * st for s, st in zip(start, x.stride()))\n"
        "    for j in rev:\n"
        "        offset += strides[j] * (extents[j] - 1)\n"
        "        strides[j] = -strides[j]\n"
        "    flip = [j for j in range(len(extents)) if strides[j] < 0]\n"
        "    for j in flip:\n"
        "        offset += strides[j] * (extents[j] - 1)\n"
        "        strides[j] = -strides[j]\n"
        "    view = torch.as_strided(x, tuple(extents), strides, offset)\n"
        "    return view.flip(flip) if flip else view\n"),
    "_mask": (
        "def _mask(coefs, offset, den, dim, shape):\n"
        "    total = torch.tensor(offset, dtype=torch.int64)\n"
        "    for j, c in enumerate(coefs):\n"
        "        ax = [1] * len(shape)\n"
        "        ax[j] = shape[j]\n"
        "        total = total + (c * torch.arange(shape[j])).reshape(ax)\n"
        "    ok = (total >= 0) & (total < dim * den)\n"
        "    if den > 1:\n"
        "        ok &= total % den == 0\n"
        "    return torch.broadcast_to(ok, shape).to(torch.float64)\n"),
}

# JAX has no strided views; its windowing primitives are padding and strided slices.
# After one ``lax.pad`` (zero padding, cropping and dilation by interior padding), each
# "short" view axis is added by stacking one shifted ``lax.slice`` per value (3 for a
# kernel axis of 3), and each array axis's longest axis is then one strided slice: a
# window costs the sum of the short axes' lengths in slices, never a gather -- except
# past ``_JAX_SLICES`` slices (a long axis read elementwise), where one gather is cheaper
# to compile.
_JAX_SLICES = 1024


def _jax_window(x, subs, extents):
    """``_window`` for JAX arrays (generated code imports ``jax`` and ``jnp``)."""
    n_axes, k = len(subs), len(extents)
    dil = [(n - 1) * d + 1 for n, (_, _, d) in zip(x.shape, subs)]
    pads, start = [], []
    for (coefs, off, _), n in zip(subs, dil):
        lo = off + sum(min(0, c) * (e - 1) for c, e in zip(coefs, extents))
        hi = off + sum(max(0, c) * (e - 1) for c, e in zip(coefs, extents))
        pads.append((max(0, -lo), max(0, hi - n + 1)))
        start.append(off + pads[-1][0])
    if any(lo or hi for lo, hi in pads) or any(d > 1 for _, _, d in subs):
        x = jax.lax.pad(x, jnp.zeros((), x.dtype),
                        [(lo, hi, d - 1) for (lo, hi), (_, _, d) in zip(pads, subs)])
    owner = {}                      # array axis -> its view axis taken as one strided slice
    for a, (coefs, _, _) in enumerate(subs):
        free = [j for j in range(k) if coefs[j] and j not in owner.values()
                and sum(1 for s in subs if s[0][j]) == 1]
        if free:
            owner[a] = max(free, key=lambda j: extents[j])
    loops = [j for j in range(k) if j not in owner.values()]
    if sum(extents[j] for j in loops) > _JAX_SLICES:
        grids = jnp.indices(tuple(extents), sparse=True)
        return x[tuple(s + sum(c * g for c, g in zip(sub[0], grids))
                       for s, sub in zip(start, subs))]
    origin = [0] * n_axes           # x's axis a, index t, is position t + origin[a]
    for j in loops:                 # a new last axis: A'[t, v] = A[t + shift + c v]
        e, shape = extents[j], x.shape
        shift = [max(0, -s[0][j] * (e - 1)) for s in subs] + [0] * (x.ndim - n_axes)
        size = [n - abs(s[0][j]) * (e - 1) for n, s in zip(shape, subs)] + list(shape[n_axes:])
        parts = []
        for v in range(e):
            lo = [sh + (subs[a][0][j] * v if a < n_axes else 0) for a, sh in enumerate(shift)]
            parts.append(jax.lax.slice(x, lo, [q + n for q, n in zip(lo, size)]))
        x = jnp.stack(parts, axis=-1)
        origin = [o + sh for o, sh in zip(origin, shift)]
    lo, hi, step, back = [], [], [], []
    for a in range(n_axes):
        c = subs[a][0][owner[a]] if a in owner else 1
        e = extents[owner[a]] if a in owner else 1
        first = start[a] - origin[a] + min(0, c) * (e - 1)
        lo.append(first)
        hi.append(first + abs(c) * (e - 1) + 1)
        step.append(abs(c))
        if c < 0:
            back.append(a)
    x = jax.lax.slice(x, lo + [0] * len(loops), hi + list(x.shape[n_axes:]),
                      step + [1] * len(loops))
    if back:
        x = jax.lax.rev(x, back)
    kept = [owner[a] for a in range(n_axes) if a in owner]
    x = x.reshape(tuple(extents[j] for j in kept + loops))
    perm = tuple((kept + loops).index(j) for j in range(k))
    return x if perm == tuple(range(k)) else x.transpose(perm)


def _jax_conv(x, k, subs, extents, roles):
    """``Σ window(x) k`` as one ``lax.conv_general_dilated`` (generated JAX code).

    ``roles`` (from ``windows.conv_roles``): the view axes that are the batch (kept,
    not in ``k``) and the input features (summed, in ``k``); ``k``'s axes that are the
    output features, the input features (in the same order) and, per spatial axis
    of ``x``, ``(x axis, output view axis, kernel view axis, its axis of k)``.  The
    result's axes: batch, output features, spatial outputs.  A subscript walking a
    kernel axis backwards (the flipped kernel of a backward pass) reverses ``k``
    along it; an output axis backwards, the result.  Offsets are the convolution's
    (possibly negative) padding, a fractional subscript (a strided backward pass)
    its input dilation, and the arrays keep their layouts (dimension numbers) where
    each role has at most one axis; several are merged by a reshape."""
    n_js, c_js, o_ks, c_ks, spatial = roles
    axis = {j: next(a for a, s in enumerate(subs) if s[0][j]) for j in n_js + c_js}
    pads, strides, dilation, lhs_dilation, back_k, back_out = [], [], [], [], [], []
    for t, (a, i, kj, kp) in enumerate(spatial):
        coefs, off, den = subs[a]
        s, d = coefs[i], coefs[kj]
        if d < 0:
            off, d = off + d * (extents[kj] - 1), -d
            back_k.append(kp)
        if s < 0:
            off, s = off + s * (extents[i] - 1), -s
            back_out.append(t)
        length = s * (extents[i] - 1) + d * (extents[kj] - 1) + 1
        pads.append((-off, length + off - (x.shape[a] - 1) * den - 1))
        strides.append(s)
        dilation.append(d)
        lhs_dilation.append(den)
    if all(den == 1 for den in lhs_dilation) and any(lo or hi for lo, hi in pads):
        # XLA's CPU convolution is about twice as fast on a padded input as with padding
        # of its own; with input dilation (a strided backward pass) the reverse holds
        x_pads = [(0, 0, 0)] * x.ndim
        for (a, _, _, _), (lo, hi) in zip(spatial, pads):
            x_pads[a] = (lo, hi, 0)
        x = jax.lax.pad(x, jnp.zeros((), x.dtype), x_pads)
        pads = [(0, 0)] * len(spatial)
    if back_k:
        k = jax.lax.rev(k, back_k)
    x_sp, k_sp = [a for a, _, _, _ in spatial], [kp for _, _, _, kp in spatial]
    x_roles = [[axis[j] for j in n_js], [axis[j] for j in c_js]]
    k_roles = [list(o_ks), list(c_ks)]
    n_shape = tuple(x.shape[a] for a in x_roles[0])
    o_shape = tuple(k.shape[p] for p in k_roles[0])
    if max(len(r) for r in x_roles + k_roles) > 1:      # merge each role into one axis
        x = x.transpose(x_roles[0] + x_roles[1] + x_sp).reshape(
            (_size(n_shape), -1) + tuple(x.shape[a] for a in x_sp))
        k = k.transpose(k_roles[0] + k_roles[1] + k_sp).reshape(
            (_size(o_shape), -1) + tuple(k.shape[p] for p in k_sp))
        x_roles, k_roles = [[0], [1]], [[0], [1]]
        x_sp = k_sp = list(range(2, 2 + len(spatial)))
    for roles_, arr in ((x_roles, "x"), (k_roles, "k")):
        for r in roles_:                                  # a missing role: a unit axis
            if not r:
                r.append(x.ndim if arr == "x" else k.ndim)
                x, k = (x[..., None], k) if arr == "x" else (x, k[..., None])
    dims = jax.lax.ConvDimensionNumbers(
        (x_roles[0][0], x_roles[1][0], *x_sp), (k_roles[0][0], k_roles[1][0], *k_sp),
        tuple(range(2 + len(spatial))))
    out = jax.lax.conv_general_dilated(x, k, tuple(strides), pads, tuple(lhs_dilation),
                                       tuple(dilation), dims)
    out = out.reshape(n_shape + o_shape + out.shape[2:])
    return jax.lax.rev(out, [len(n_shape) + len(o_shape) + t for t in back_out]) \
        if back_out else out


def _size(shape):
    n = 1
    for e in shape:
        n *= e
    return n


JAX_HELPERS = {
    "_window": inspect.getsource(_jax_window).replace("def _jax_window(", "def _window(", 1)
               .replace("_JAX_SLICES", str(_JAX_SLICES)),
    "_conv": inspect.getsource(_jax_conv).replace("def _jax_conv(", "def _conv(", 1),
    "_size": inspect.getsource(_size),
    "_mask": re.sub(r"\bnp\.", "jnp.", NUMPY_HELPERS["_mask"]),
}


def helpers(backend: str) -> dict[str, str]:
    """The window, mask and convolution helper sources for one backend's code."""
    return {"torch": TORCH_HELPERS, "jax": JAX_HELPERS}.get(backend, NUMPY_HELPERS)
