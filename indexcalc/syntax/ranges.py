"""Index ranges of shifted reads: declared, or inferred as the valid range; then checked.

Every index has a range.  An index that only meets ordinary reads gets it by
unification (``dimensions.DimTable``); an index in an affine subscript gets it
here, once the whole text is read:

- declared (``y : vector[m]`` on the left of ``y_i = …``), or unified with a
  plain use that fixes it;
- otherwise the *valid* range: the largest ``0 ≤ i < size`` for which every read
  stays in bounds.  ``x_{i+k}`` (x of n entries, k < K) gives ``n − K + 1``;
  ``x_{2i+k}`` gives ``⌊(n − K)/2⌋ + 1``; several reads give the smallest, and
  sizes that cannot be compared (``n − 1`` and ``m``) are an inconsistent range.

Then every read is checked.  A read may leave its tensor's range only where the
user asked for zero padding: ``pad`` in the tensor's declaration, an output
declared the same size as the axis it reads (a "same" convolution), or a range
condition in the statement that covers it (``[0 ≤ p − k < m]``).  Otherwise an
out-of-range read is an error naming the index, the read and the ranges.  A
read that can be neither proved in range nor out of range (symbolic sizes
declared independently) is accepted as declared.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.errors import ShapeError
from indexcalc.ir import Index
from indexcalc.ir.affine import (
    DimExpr,
    affine,
    decide,
    dim_expr,
    implied_by,
    lower_ok,
    show_condition,
    upper_fails,
)
from indexcalc.syntax.scope import Scope
from indexcalc.syntax.affine_reads import Guard, Read


def constrained_roots(sc: Scope) -> set[str]:
    """The dimension roots that ranges.resolve decides (not yet pinned by a declaration)."""
    roots = set()
    for _, ctx in sc.done:
        for r in getattr(ctx, "reads", ()) or ():
            if isinstance(r, (Read, Guard)):
                for n in r.terms:
                    root = sc.dims.find(ctx.idx[n])
                    if sc.dims.pin.get(root) is None:
                        roots.add(root)
    return roots


def resolve(sc: Scope, settle_var) -> None:
    """Give every constrained index root its range, then check every read."""
    todo = constrained_roots(sc)
    reads = [(r, ctx) for _, ctx in sc.done for r in (getattr(ctx, "reads", ()) or ())
             if isinstance(r, Read)]
    guards = [(g, ctx) for _, ctx in sc.done for g in (getattr(ctx, "reads", ()) or ())
              if isinstance(g, Guard)]
    live = [(r, ctx) for r, ctx in reads if not r.padded and not _guard_for(r, ctx, guards)]
    covered = [(r, ctx) for r, ctx in reads if not r.padded and _guard_for(r, ctx, guards)]
    bounds = [(g.as_read(), ctx) for g, ctx in guards           # [0 ≤ k < 2]: k < 2
              if len(g.terms) == 1 and list(g.terms.values()) == [1] and not g.offset]
    while todo:
        progress = _pin_round(sc, todo, live + bounds, settle_var, plain_only=False) or \
            _pin_round(sc, todo, live + bounds, settle_var, plain_only=True)
        if not progress:
            root = sorted(todo)[0]
            r, ctx = next((r, c) for r, c in reads
                          if any(sc.dims.find(c.idx[n]) == root for n in r.terms))
            name = next(n for n in r.terms if sc.dims.find(ctx.idx[n]) == root)
            raise sc.err(ShapeError, f"cannot infer the range of {name} in {r.source}: "
                         "declare the sizes of the tensors it reads, or of the result", r.pos)
    record_equations(sc, live, settle_var)
    for r, ctx in live + covered:
        known = [_settled(g.terms, g.offset, g.var, ctx, settle_var) for g, c in guards
                 if c is ctx]
        sub = _settled(r.terms, r.offset, r.var, ctx, settle_var)
        if implied_by(sub, known):
            continue
        g = _guard_for(r, ctx, guards)
        if g is not None:
            raise sc.err(ShapeError, f"the range condition {g.source} does not match "
                         f"{r.source}: axis {r.axis + 1} of {r.tensor} has "
                         f"{settle_var(r.var)} entries", g.pos or r.pos)
        check_read(sc, r, ctx, settle_var)


def _pin_round(sc: Scope, todo: set, live, settle_var, plain_only: bool) -> bool:
    """Pin the roots whose reads are all decidable now (their other indices have
    ranges), from all those reads: the smallest range that keeps each in bounds
    (``x_{i+k}`` with k < K: i < n − K + 1).  When none is (``w_k`` and ``x_{i+k}``
    wait for each other), pin the one root whose decidable reads give the simplest
    range -- the kernel's ``k < K`` -- and go back to the first rule."""
    candidates = []
    for root in sorted(todo):
        mine = [(r, ctx) for r, ctx in live
                if any(sc.dims.find(ctx.idx[n]) == root for n in r.terms)]
        usable = [(r, ctx) for r, ctx in mine if sc.dims.find(r.var) not in todo and all(
            sc.dims.find(ctx.idx[n]) == root or sc.dims.find(ctx.idx[n]) not in todo
            for n in r.terms)]
        # a plain read of a tensor read nowhere else at this index (w_k) gives the range
        # (then x_{i+k} is checked against it; a same-size output may pad)
        own = [(r, ctx) for r, ctx in usable if len(r.terms) == 1 and not r.offset
               and list(r.terms.values()) == [1]
               and all(o.tensor != r.tensor for o, _ in mine if o is not r)]
        if own:
            usable = own
        elif not usable or (not plain_only and len(usable) < len(mine)):
            continue
        size = None
        for r, ctx in usable:
            size = _smaller(sc, size, _bound(sc, r, ctx, root, settle_var), r)
        if not plain_only:
            sc.dims.pin[root] = size
            todo.discard(root)
            return True
        candidates.append((_complexity(size), root, size))
    if not candidates:
        return False
    _, root, size = min(candidates, key=lambda c: c[:2])
    sc.dims.pin[root] = size
    todo.discard(root)
    return True


def record_equations(sc: Scope, live, settle_var) -> None:
    """A declared output's own size is the valid range its reads imply: ``y : vector[m]``
    with ``y_i = Σ_k w_k x_{i+k}`` records ``m = n − K + 1`` (the size named ``m``,
    valued ``n − K + 1``), so bounds are proved with it and printed as ``m``.  Not
    where the output asks for padding (it is the size of an axis it reads, or the
    tensor read is declared with ``pad``), nor where the size is a number (checked
    against the reads as it is)."""
    for _, ctx in sc.done:
        out = sc.tensors.get(ctx.defining) if getattr(ctx, "defining", None) else None
        if out is None or not out.declared:
            continue
        for name in ctx.lhs:
            root = sc.dims.find(ctx.idx[name])
            sym = sc.dims.pin.get(root)
            mine = [(r, c) for r, c in live if c is ctx and name in r.terms]
            if not isinstance(sym, str) or not mine:
                continue
            if any(settle_var(r.var) == sym for r, _ in mine):
                continue                        # a same-size output: zero padding asked for
            try:
                size = None
                for r, c in mine:
                    size = _smaller(sc, size, _bound(sc, r, c, root, settle_var), r)
            except ShapeError:
                continue                        # no one valid range: checked read by read
            if isinstance(size, int):
                size = DimExpr((), size - 1, 1)
            if size == sym or not isinstance(size, DimExpr) or sym in size.symbols:
                continue
            named = DimExpr(size.terms, size.offset, size.div, sym)
            for other, value in list(sc.dims.pin.items()):     # ranges copied from it too
                if value == sym:                               # (a claim's Σ_i c_i x_{i+p})
                    sc.dims.pin[other] = named


def _complexity(size) -> tuple:
    if isinstance(size, int):
        return (0, size)
    if isinstance(size, DimExpr):
        return (2, len(size.terms))
    return (1, 0)


def _linear(dim) -> tuple[dict, int] | None:
    """``dim`` as ``({symbol: c}, offset)`` exactly, or None (a floor)."""
    if isinstance(dim, int):
        return {}, dim
    if isinstance(dim, DimExpr):
        return (dict(dim.terms), dim.offset + 1) if dim.div == 1 else None
    return {dim: 1}, 0


def _bound(sc: Scope, r: Read, ctx, root: str, settle_var):
    """The valid range of the index with dimension root ``root`` from one read."""
    name = next(n for n in r.terms if sc.dims.find(ctx.idx[n]) == root)
    c = r.terms[name]
    if c == 0:                                      # F[o,c,u,0v]: v is read nowhere
        raise sc.err(ShapeError, f"{r.source}: the coefficient of {name} is 0, so the read "
                     f"does not depend on {name}; leave {name} out of the subscript", r.pos)
    if len(r.terms) == 1 and c == 1 and not r.offset:
        return settle_var(r.var)                    # a plain read: the axis's own range
    axis = _linear(settle_var(r.var))
    if axis is None:
        raise sc.err(ShapeError, f"{r.source}: the size of {r.tensor} is itself a strided "
                     "range; declare it", r.pos)
    # Σ over the other indices at their extreme values (dims − 1)
    hi_terms, hi_off = {}, Fraction(0)
    lo_terms, lo_off = {}, Fraction(0)
    for n, cn in r.terms.items():
        if n == name:
            continue
        lin = _linear(settle_var(ctx.idx[n]))
        if lin is None:
            raise sc.err(ShapeError, f"{r.source}: the range of {n} is itself a strided "
                         "range; declare the result's size", r.pos)
        target = (hi_terms, "hi") if cn > 0 else (lo_terms, "lo")
        for d, k in lin[0].items():
            target[0][d] = target[0].get(d, 0) + cn * k
        if cn > 0:
            hi_off += cn * (lin[1] - 1)
        else:
            lo_off += cn * (lin[1] - 1)
    if c > 0:
        # c·(size − 1) + o + hi ≤ axis − 1   ->   size = ⌊(axis − 1 − o − hi)/c⌋ + 1
        terms = dict(axis[0])
        for d, k in hi_terms.items():
            terms[d] = terms.get(d, 0) - k
        num_off = axis[1] - 1 - r.offset - hi_off
        _needs(sc, r, lo_terms, lo_off + r.offset, "starts before")
    else:
        # o + lo + c·(size − 1) ≥ 0   ->   size = ⌊(o + lo)/|c|⌋ + 1
        terms = dict(lo_terms)
        num_off = r.offset + lo_off
        c = -c
    if any(Fraction(k).denominator != 1 for k in terms.values()) or \
            Fraction(num_off).denominator != 1 or c.denominator != 1:
        raise sc.err(ShapeError, f"{r.source}: fractional steps in a subscript", r.pos)
    size = dim_expr({d: int(k) for d, k in terms.items()}, int(num_off), int(c))
    if isinstance(size, int) and size < 1:
        raise sc.err(ShapeError, f"{r.source} is out of range for every value of {name}: "
                     f"{r.tensor} is too short for the other indices' ranges", r.pos)
    return size


def _needs(sc: Scope, r: Read, terms: dict, off, what: str) -> None:
    if not (all(c >= 0 for c in terms.values()) and sum(terms.values()) + off >= 0):
        raise sc.err(ShapeError, f"{r.source} {what} the first entry of {r.tensor} "
                     f"(index {_first_negative(r)}); read out of range only where "
                     f"{r.tensor} is declared with `pad`", r.pos)


def _first_negative(r: Read) -> str:
    return ", ".join(r.terms)


def _smaller(sc: Scope, a, b, r: Read):
    if a is None or a == b:
        return b
    la, lb = _linear(a), _linear(b)
    if la is not None and lb is not None and la[0] == lb[0]:
        return a if la[1] <= lb[1] else b
    raise sc.err(ShapeError, f"inconsistent ranges: an index of {r.source} must stay "
                 f"below {a} for one read and below {b} for another, and these sizes cannot "
                 "be compared; declare the result's size", r.pos)


def _settled(terms: dict, offset, var, ctx, settle_var):
    return affine({Index(n, settle_var(ctx.idx[n])): c for n, c in terms.items()}, offset,
                  settle_var(var))


def _guard_for(r: Read, ctx, guards) -> Guard | None:
    """The range condition of the statement written for this read's subscript, if any."""
    for g, gctx in guards:
        if gctx is ctx and g.terms == r.terms and g.offset == r.offset:
            return g
    return None


def check_read(sc: Scope, r: Read, ctx, settle_var) -> None:
    """An error where a read leaves its tensor (unless a same-size output asks for padding)."""
    ixs = {n: Index(n, settle_var(ctx.idx[n])) for n in r.terms}
    axis = settle_var(r.var)
    sub = affine({ixs[n]: c for n, c in r.terms.items()}, r.offset, axis)
    if decide(sub) is True:
        return
    out = sc.tensors.get(ctx.defining) if ctx.defining else None
    if out is not None and out.declared and any(
            n in ctx.lhs and i.dim == axis for n, i in ixs.items()):
        return                                  # a same-size output: zero padding asked for
    if lower_ok(sub) and not upper_fails(sub):
        return                  # sizes declared apart (y : vector[m]) cannot be compared

    ranges = ", ".join(f"{n} < {i.dim}" for n, i in ixs.items())
    cond = show_condition(sub) if not isinstance(sub, Index) else ""
    raise sc.err(ShapeError, f"{r.source} can read outside {r.tensor} (axis {r.axis + 1} has "
                 f"{axis} entries) for {ranges}; a read is zero outside only where asked: "
                 f"state the range {cond} in the product, declare {r.tensor} with `pad`, or "
                 f"leave the result undeclared for the valid range", r.pos)

