"""Contraction lowering: one product of tensors -> the fewest, cheapest statements.

A product (a ``Mul``, or a ``Sum`` over one, nested sums lifted) is one
contraction: Kronecker deltas become renamings of indices (never arrays),
scalars are folded and applied to the smallest array, opt_einsum plans the
pairwise order once at generation time, and each pair is written as ``@``,
``tensordot``, ``vdot``, a broadcast ``*`` or, failing those, a two-operand
einsum.  A delta between two free indices writes into a diagonal view of a zero
array (or a mask, where the backend has no writable views).

These functions act on one ``Generator`` (``codegen``), passed explicitly: they
add its statements and read its sizes and the binding being generated.
"""

from __future__ import annotations

from indexcalc.compiler.backends import letters
from indexcalc.compiler.gram import gram
from indexcalc.compiler.shapes import as_float
from indexcalc.compiler.statements import Line, Val, paren
from indexcalc.compiler.windows import as_condition, emit_conv, reversals
from indexcalc.ir import (
    Add,
    Const,
    Delta,
    DimSize,
    Expr,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
    add,
    const,
    mul,
    summation,
)
from indexcalc.memo import memoised


def contraction(gen, factors: list[Expr], summed: set[Index], free) -> Val:
    """One product of tensors: deltas become renamings, the rest one contraction.

    A sum among the factors that would be larger than every array the program
    holds (``gen.bound``) is distributed first: ``Σ X (B A + A B)`` becomes
    ``Σ X B A + Σ X A B``, two chains of matrix products, instead of an
    n×n×m×m array contracted with X."""
    spread = distributed(gen, factors, summed)
    if spread is not None:
        return gen.emit(spread)
    symmetric = gram(gen, factors, summed, free)
    if symmetric is not None:
        return symmetric
    parent: dict[Index, Index] = {}

    def find(i):
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    if gen.b.conv and not any(isinstance(f, Delta) for f in factors):
        val = convolution(gen, factors, free)
        if val is not None:
            return val
    rev = reversals(gen, factors, free) if gen.b.flip else {}
    coeff, scalars, ops, reversed_ops = 1.0, [], [], {}
    for k, f in enumerate(factors):
        if isinstance(f, Const):
            coeff *= as_float(f.value)
        elif isinstance(f, DimSize) and gen.literal_dims:
            coeff *= gen.size(f.dim)
        elif isinstance(f, Delta) and (type(f.a) is not Index or type(f.b) is not Index):
            ops.append(gen.emit(as_condition(f)))          # δ_{p,i+1}: [p = i + 1]
        elif isinstance(f, Delta):
            parent[find(f.a)] = find(f.b)
        else:
            v = gen.read(f, raw=True, rev=rev.get(k, ())) if isinstance(f, Var) else gen.emit(f)
            if k in rev:
                reversed_ops[len(ops)] = rev[k]
            (ops if v.axes else scalars).append(v if v.axes else v.code)
    ops = [Val(v.code, tuple(find(a) for a in v.axes)) for v in ops]
    flipped = {find(i) for back in reversed_ops.values() for i in back}
    ops = [flip(gen, v, flipped - {find(i) for i in reversed_ops.get(k, ())})
           for k, v in enumerate(ops)]
    groups: dict[Index, list[Index]] = {}
    for i in sorted(free, key=lambda i: i.key):
        groups.setdefault(find(i), []).append(i)
    carried = {a for v in ops for a in v.axes}
    for cls in {find(s) for s in summed} - groups.keys() - carried:
        coeff *= gen.size(cls.dim)                       # Σ_i 1 = n
    out = tuple(dict.fromkeys(a for v in ops for a in v.axes if a in groups))
    val = flip(gen, product(gen, ops, out, coeff, scalars), flipped)
    if any(len(g) > 1 for g in groups.values()):
        return embed(gen, val, groups)
    return Val(val.code, tuple(groups[a][0] for a in val.axes))

def convolution(gen, factors: list[Expr], free) -> Val | None:
    """The product as one call of the library's convolution (``windows.emit_conv``):
    a window, one other operand and constant factors, or None."""
    scale, rest = [], []
    for f in factors:
        if isinstance(f, Const) or (isinstance(f, DimSize) and gen.literal_dims):
            scale.append(as_float(f.value) if isinstance(f, Const) else gen.size(f.dim))
        else:
            rest.append(f)
    val = emit_conv(gen, rest, free)
    if val is None:
        return None
    coeff = 1.0
    for c in scale:
        coeff *= c
    return scaled(gen, val, [repr(coeff)]) if coeff != 1.0 else val


def flip(gen, v: Val, axes: set[Index]) -> Val:
    """``v`` reversed along ``axes`` (the indices a window reads reversed, ``reversals``)."""
    dims = tuple(k for k, a in enumerate(v.axes) if a in axes)
    if not dims:
        return v
    return gen.assign(gen.b.flip.format(x=v.code, dims=dims), v.axes, reads=[v.code])


def distributed(gen, factors: list[Expr], summed: set[Index]) -> Expr | None:
    """The product with its first oversized sum factor multiplied out, or None.

    A sum with a delta between two free indices of the product (``δ_qs − P_is`` in
    a softmax Hessian) is multiplied out too: its delta term becomes a write into
    the result's diagonal, its other terms products of their own (which
    ``cse.Shared`` and ``gram`` can then see: ``Σ_i (X_ip P_iq)(X_ir P_is)``)."""
    free = {i for f in factors for i in f.free} - set(summed)
    for k, f in enumerate(factors):
        if isinstance(f, Add) and (gen.numel(f.free) > gen.bound or _free_delta(f, free)):
            rest = factors[:k] + factors[k + 1:]
            return add(*(summation(sorted(summed, key=lambda i: i.key), mul(*rest, t))
                         for t in f.terms))
    return None


def _free_delta(e: Add, free: set[Index]) -> bool:
    return any(isinstance(x, Delta) and x.a in free and x.b in free
               for t in e.terms for x in (t.factors if isinstance(t, Mul) else (t,)))


def product(gen, ops: list[Val], out: tuple[Index, ...], coeff: float,
            scalars: list[str]) -> Val:
    scale = ([repr(coeff)] if coeff != 1.0 else []) + scalars
    if not ops:
        if len(scale) <= 1:
            return Val(scale[0] if scale else "1.0", ())
        return gen.assign(" * ".join(scale), (), inline=True, reads=scale)
    codes = [v.code for v in ops]
    alone = [k for k in range(len(ops)) if codes.count(codes[k]) == 1]
    if scale and alone:                           # scale the smallest array (not one of
        k = min(alone, key=lambda k: gen.numel(ops[k].axes))   # a pair: X_ip P_iq X_ir P_is)
        if gen.numel(ops[k].axes) <= gen.numel(out):
            ops = list(ops)
            ops[k] = scaled(gen, ops[k], scale)
            scale = []
    ops = [reduce(gen, v, _keep(v, ops, out)) for v in ops]
    ops = gen.shared.reuse(ops, out)              # parts other products computed already
    record(gen, ops, out)
    covers = [(v,) for v in ops]
    while len(ops) > 1:
        ops, covers = step(gen, ops, covers, out)
    val = reduce(gen, ops[0], set(out))
    return scaled(gen, val, scale) if scale else val

def scaled(gen, v: Val, scale: list[str]) -> Val:
    if scale == ["-1.0"]:
        return gen.assign(f"-{paren(v.code)}", v.axes, inline=True, reads=[v.code])
    return gen.assign(" * ".join(scale + [paren(v.code)]), v.axes, inline=True,
                       reads=scale + [v.code])

def record(gen, ops: list[Val], out: tuple[Index, ...]) -> None:
    if len(ops) < 2:
        return
    spec = ",".join(letters(v.axes, _labels(ops)) for v in ops) + "->" + letters(
        out, _labels(ops))
    shapes = [tuple(gen.size(a.dim) for a in v.axes) for v in ops]
    info = _plan(spec, tuple(shapes))
    gen.plans.append((spec, info))
    gen.path = list(info.path)

def step(gen, ops: list[Val], covers: list[tuple[Val, ...]], out: tuple[Index, ...]):
    """Contract the next pair of the planned path; remember what it covers, so that a
    later product over the same operands reuses it (``cse.Shared``)."""
    which = gen.path.pop(0) if len(ops) > 2 else (0, 1)
    which = tuple(sorted(which, reverse=True))
    taken = [ops.pop(k) for k in which]
    cover = tuple(v for k in which for v in covers.pop(k))
    rest = {a for v in ops for a in v.axes} | set(out)
    if len(taken) == 1:
        val = reduce(gen, taken[0], rest)
    else:
        b, a = taken
        val = gen.shared.find_pair(a, b, rest)
        if val is None:                           # laid out as the operands it meets next
            hint = tuple(dict.fromkeys([i for v in ops for i in v.axes] + list(out)))
            val = pair(gen, a, b, rest, hint)
    gen.shared.add(cover, rest, val)
    if len(taken) == 2 and cover != (a, b):
        gen.shared.add((a, b), rest, val)
    return ops + [val], covers + [cover]

def pair(gen, a: Val, b: Val, keep: set[Index], hint: tuple[Index, ...] = ()) -> Val:
    shared = [i for i in a.axes if i in b.axes]
    summed = [i for i in shared if i not in keep]
    batch = [i for i in shared if i in keep]
    spec = letters(a.axes, a.axes + b.axes) + "," + letters(b.axes, a.axes + b.axes)
    if not summed:
        target = a.axes + tuple(i for i in b.axes if i not in a.axes)
        if len(b.axes) > len(a.axes):
            target = b.axes + tuple(i for i in a.axes if i not in b.axes)
        if not set(a.axes) & set(b.axes):
            target = preferred(gen, target)
        code = f"{gen.align(a, target)} * {gen.align(b, target)}"
        val = gen.assign(code, target, inline=True, reads=[a.code, b.code])
    elif not batch and gen.b.matmul and len(a.axes) <= 2 and len(b.axes) <= 2 \
            and len(summed) == 1:
        val = matmul(gen, a, b, summed[0], hint)
    elif not batch and gen.b.blas and set(a.axes) == set(b.axes):
        val = gen.assign(f"np.vdot({a.code}, {gen.align(b, a.axes)})", (),
                          reads=[a.code, b.code])
    elif not batch and "{a}" in gen.b.tensordot:
        ia = tuple(a.axes.index(i) for i in summed)
        ib = tuple(b.axes.index(i) for i in summed)
        axes = tuple(i for i in a.axes if i not in summed) + tuple(
            i for i in b.axes if i not in summed)
        val = gen.assign(gen.b.tensordot.format(a=a.code, b=b.code, ia=ia, ib=ib,
                                                  spec=spec + "->" + letters(
                                                      axes, a.axes + b.axes)), axes,
                          reads=[a.code, b.code])
    else:
        axes = tuple(i for i in a.axes + b.axes if i in keep)
        axes = tuple(dict.fromkeys(axes))
        full = spec + "->" + letters(axes, a.axes + b.axes)
        val = gen.assign(gen.b.einsum.format(spec=full, ops=f"{a.code}, {b.code}"), axes,
                          reads=[a.code, b.code])
    gen.steps.append((val.code, spec + "->" + letters(val.axes, a.axes + b.axes),
                       [a.code, b.code]))
    gen.count_pair(a, b, summed)
    return val

def preferred(gen, axes: tuple[Index, ...], hint: tuple[Index, ...] = ()
              ) -> tuple[Index, ...]:
    """``axes`` reordered as the binding being generated lists them, if it does, or
    else as ``hint`` (the operands the value meets next) does."""
    for order in (gen.prefer, hint):
        if set(axes) <= set(order):
            return tuple(i for i in order if i in axes)
    return axes

def matmul(gen, a: Val, b: Val, c: Index, hint: tuple[Index, ...] = ()) -> Val:
    if len(a.axes) == 2 and len(b.axes) == 2:
        axes = tuple(i for i in a.axes + b.axes if i != c)
        if preferred(gen, axes, hint) != axes:
            a, b = b, a                          # (A B)^T = B^T A^T: a contiguous result
    if len(a.axes) + len(b.axes) == 3 and (a.axes[-1] != c or b.axes[0] != c):
        a, b = b, a           # a matrix and a vector: v @ X, not X.T @ v (XLA copies X.T)
    left = a.code if a.axes[-1] == c else f"{a.code}.T"
    right = b.code if b.axes[0] == c else f"{b.code}.T"
    axes = tuple(i for i in a.axes if i != c) + tuple(i for i in b.axes if i != c)
    return gen.assign(f"{left} @ {right}", axes, reads=[a.code, b.code])

def reduce(gen, v: Val, keep: set[Index]) -> Val:
    """Read diagonals (repeated axes) and sum axes not in ``keep``: one operand."""
    uniq = tuple(dict.fromkeys(v.axes))
    if len(uniq) < len(v.axes):
        if len(v.axes) == 2 and uniq[0] not in keep:
            return gen.assign(gen.b.trace.format(x=v.code), (), reads=[v.code])
        code = f"{v.code}.diagonal()" if len(v.axes) == 2 else gen.b.einsum.format(
            spec=letters(v.axes, uniq) + "->" + letters(uniq, uniq), ops=v.code)
        v = gen.assign(code, uniq, reads=[v.code])
    drop = tuple(k for k, a in enumerate(v.axes) if a not in keep)
    if not drop:
        return v
    axes = tuple(a for a in v.axes if a in keep)
    if len(drop) == len(v.axes):
        return gen.assign(f"{v.code}.sum()", (), reads=[v.code])
    arg = drop[0] if len(drop) == 1 else drop
    return gen.assign(gen.b.total.format(x=v.code, axes=arg), axes, reads=[v.code])

def embed(gen, val: Val, groups: dict[Index, list[Index]]) -> Val:
    """Write ``val`` into the diagonal of a zero array: the free deltas of a product."""
    axes = tuple(i for g in groups.values() for i in g)
    reps = tuple(groups)
    t = gen.assign(gen.b.zeros.format(shape=gen.shape(axes)), axes)
    view = gen.b.view(t.code, axes, groups)
    if view is not None:
        gen.lines.append(Line("", f"{view}[...] = {gen.align(val, reps)}", False, False,
                               (t.code, val.code)))
        return t
    # libraries without writable views: a broadcast comparison of aranges as a mask
    first = Val(val.code, tuple(groups[a][0] for a in val.axes))
    terms = [gen.align(first, axes)]
    for g in groups.values():
        for other in g[1:]:
            n = gen.dim_code(g[0].dim)
            eq = f"({gen.b.xp}.arange({n})[:, None] == {gen.b.xp}.arange({n}))"
            terms.append(gen.align(Val(eq, (g[0], other)), axes))
    return gen.assign(f"{t.code} + " + " * ".join(terms), axes, reads=[t.code, first.code])


# ------------------------------------------------------------ pure helpers

def gather(e: Expr) -> tuple[list[Expr], set[Index]]:
    """Factors of a product with nested sums lifted (binders are unique)."""
    if isinstance(e, Sum):
        factors, summed = gather(e.body)
        return factors, summed | set(e.indices)
    if isinstance(e, Mul):
        factors, summed = [], set()
        for f in e.factors:
            fs, ss = gather(f)
            factors += fs
            summed |= ss
        return factors, summed
    if isinstance(e, Pow) and isinstance(e.base, Var) and e.exponent == const(2):
        return [e.base, e.base], set()                 # x_i^2 = x_i x_i: a dot product
    return [e], set()


def _keep(v: Val, ops: list[Val], out) -> set[Index]:
    others = {a for w in ops if w is not v for a in w.axes}
    return others | set(out)


def _labels(ops: list[Val]) -> tuple[Index, ...]:
    return tuple(dict.fromkeys(a for v in ops for a in v.axes))


@memoised(4096)
def _plan(spec: str, shapes: tuple[tuple[int, ...], ...]):
    """opt_einsum's contraction plan for ``spec`` (the derivatives of one model share
    most of their products, so plans are remembered): the cheaper of its "auto" and
    "greedy" up to 6 operands, greedy alone beyond (auto searches branches for 5-8
    operands: a noticeable share of compile time for long products, for plans
    greedy finds as well at these sizes)."""
    import opt_einsum                     # only planning needs it: not imported with indexcalc
    plans = [opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=how)[1]
             for how in (("auto", "greedy") if len(shapes) <= 6 else ("greedy",))]
    # "auto" is not always the cheaper: for a,ab,ab,b->a it scales the rows before
    # the matrix-vector product (2 B D multiplies, greedy's B D + B); take the cheaper
    return min(plans, key=lambda info: info.opt_cost)
