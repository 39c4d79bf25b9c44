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
is the "transposed convolution" step.

Generated code calls ``_window(x, subs, extents)`` with each axis's subscript
as integers (coefficients per view axis, offset, denominator); the helpers
(``window_helpers``, one spelling per library) work out padding and strides
from the shapes, so exported code with symbolic sizes works too.  ``_mask``
evaluates a range condition that no read implies (``[0 ≤ p − 1 < n − 1]``) as
a 0/1 array over its own indices only.

The libraries differ where their own primitives do better.  NumPy views take
negative strides.  torch's do not: where a read walks an axis backwards
(``c_{p−k}``), the view is reversed along it and the smaller operands of the
product (the kernel ``w_k``, or the result) are flipped instead of the window
being copied (``reversals``).  JAX has no views at all but a convolution
primitive: a window times one other operand in the shape of a convolution
(batch, feature, output-feature and spatial indices, ``conv_roles``) is one
``lax.conv_general_dilated`` (``emit_conv``); other windows are strided slices.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.ir import Var
from indexcalc.ir.affine import affine, in_range, linear, sub_free


def _view_axes(e, pos) -> tuple[list, list]:
    """The subscripts of the shifted read ``e`` in the array's axis order, and the
    indices of its view's axes."""
    subs = list(e.indices) if pos is None else [e.indices[p] for p in pos]
    order = list(dict.fromkeys(i for s in subs for i in sorted(sub_free(s), key=_key)))
    return subs, order


def emit_window(gen, e, code: str, pos, rev=()) -> tuple[str, tuple]:
    """The code of the strided view for the shifted read ``e`` of the array ``code``
    (whose axes are ``e``'s subscripts in the order ``pos``), and the view's axes.
    The view's axes over the indices ``rev`` are reversed (torch: ``reversals``)."""
    subs, order = _view_axes(e, pos)
    spec, extents = _spec(subs, order), _extents(gen, order)
    back = tuple(order.index(i) for i in rev)
    tail = f", {back!r}" if back else ""
    return f"_window({code}, {tuple(spec)!r}, {extents}{tail})", tuple(order)


def _spec(subs, order) -> tuple:
    """Per array axis: (whole coefficients per view axis, offset, denominator)."""
    spec = []
    for s in subs:
        terms, off = linear(s)
        den = 1
        for c in list(terms.values()) + [Fraction(off)]:
            den = den * Fraction(c).denominator // _gcd(den, Fraction(c).denominator)
        spec.append((tuple(int(terms.get(i, 0) * den) for i in order), int(off * den), den))
    return tuple(spec)


def _extents(gen, order) -> str:
    return "(" + ", ".join(gen.dim_code(i.dim) for i in order) + ("," if len(order) == 1
                                                                   else "") + ")"


def conv_roles(spec, order, k_axes, keep) -> tuple | None:
    """The roles of a product ``Σ window · k`` as a convolution, or None if it is none.

    Each axis of the windowed array is plain (one view index, coefficient 1) or
    spatial (an output index the other operand lacks, kept, and a kernel index it
    has, summed); a plain index is the batch (kept, not in ``k``) or an input feature
    (summed, in ``k``); an index of ``k`` alone is an output feature (kept).  An index
    in both and kept (a grouped convolution), or read on two axes, is no convolution
    here.  Returns (batch view axes, feature view axes, ``k``'s output-feature axes,
    ``k``'s feature axes, spatial (array axis, output view axis, kernel view axis, its
    axis of ``k``) per spatial axis)."""
    if len(set(k_axes)) < len(k_axes):
        return None
    n_js, c_js, spatial, seen = [], [], [], []
    for a, (coefs, off, den) in enumerate(spec):
        nz = [j for j, c in enumerate(coefs) if c]
        seen += nz
        if len(nz) == 1 and coefs[nz[0]] == 1 and off == 0 and den == 1:
            j = nz[0]
            if order[j] in k_axes and order[j] not in keep:
                c_js.append(j)
            elif order[j] not in k_axes and order[j] in keep:
                n_js.append(j)
            else:
                return None
        elif len(nz) == 2:
            ins = [j for j in nz if order[j] in k_axes]
            if len(ins) != 1 or order[ins[0]] in keep:
                return None
            i = nz[1 - nz.index(ins[0])]
            if order[i] not in keep:
                return None
            spatial.append((a, i, ins[0], k_axes.index(order[ins[0]])))
        else:
            return None
    if len(set(seen)) < len(seen) or not spatial:
        return None
    view = set(order)
    o_ks = [p for p, i in enumerate(k_axes) if i not in view]
    if any(k_axes[p] not in keep for p in o_ks):
        return None
    c_ks = [k_axes.index(order[j]) for j in c_js]
    return tuple(n_js), tuple(c_js), tuple(o_ks), tuple(c_ks), tuple(spatial)


def emit_conv(gen, factors, keep):
    """``Σ window · other`` as one ``_conv`` call (a library with a convolution
    primitive: JAX), or None when the product is not two such factors or no
    convolution (``conv_roles``).  Returns the ``Val`` (batch, output features,
    spatial outputs)."""
    windows = [f for f in factors if _is_window(f)]
    others = [f for f in factors if not _is_window(f)]
    if len(factors) != 2 or len(windows) != 1 or not others[0].free:
        return None
    f, = windows
    other = gen.read(others[0], raw=True) if isinstance(others[0], Var) else gen.emit(others[0])
    code, pos = gen.env[f.name]
    subs, order = _view_axes(f, pos)
    spec = _spec(subs, order)
    roles = conv_roles(spec, order, tuple(other.axes), set(keep))
    if roles is None:
        return None
    n_js, _, o_ks, _, spatial = roles
    axes = tuple(order[j] for j in n_js) + tuple(other.axes[p] for p in o_ks) + tuple(
        order[i] for _, i, _, _ in spatial)
    call = (f"_conv({code}, {other.code}, {spec!r}, {_extents(gen, order)}, {roles!r})")
    return gen.assign(call, axes, reads=[code, other.code])


def backwards(e, pos) -> tuple:
    """The indices the shifted read ``e`` walks backwards in memory (``k`` in
    ``c_{p−k}``): a negative coefficient in some subscript and none positive."""
    subs, order = _view_axes(e, pos)
    out = []
    for i in order:
        cs = [linear(s)[0].get(i, 0) for s in subs]
        if all(c <= 0 for c in cs) and any(c < 0 for c in cs):
            out.append(i)
    return tuple(out)


def reversals(gen, factors, free) -> dict[int, tuple]:
    """For a library without negative strides (torch): the factors (by position) whose
    window is better read with its backward axes reversed, and those axes.

    ``Σ_k c_{p−k} w_k`` equals ``Σ_k c'_{p,k} w_{K−1−k}`` where ``c'`` is the window
    reversed along ``k``, a view with positive strides: flipping ``w`` (``K``
    numbers) replaces copying the window (``K n``).  Chosen where the operands that
    carry the reversed indices (and the result, if one of them is free) are smaller
    than the window; ``contraction`` then flips those."""
    out = {}
    for k, f in enumerate(factors):
        if not _is_window(f):
            continue
        pos = gen.env[f.name][1]
        back = backwards(f, pos)
        if not back:
            continue
        _, order = _view_axes(f, pos)
        cost = sum(gen.numel(g.free) for j, g in enumerate(factors)
                   if j != k and set(back) & g.free)
        cost += gen.numel(free) if set(back) & set(free) else 0
        if cost < gen.numel(order):
            out[k] = back
    return out


def _is_window(f) -> bool:
    return isinstance(f, Var) and not f.indices_plain


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
