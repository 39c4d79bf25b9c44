"""Lowering shifted reads (``x_{i+k}``, ``x[2i+k]``) and range conditions.

A shifted read does not unify its indices' dimensions with the tensor's axis,
the way ``x_i`` does: ``i`` in ``x_{i+k}`` ranges over fewer values than ``x``
has entries.  Instead each read records a *range constraint* (a ``Read``) in the
statement's ``Ctx``; once the whole text is read, ``ranges.resolve`` gives every
such index its range (declared, or the valid range where every read is in
bounds) and checks every read against it.  A plain read ``x_i`` of an index that
is also shifted in the statement is a constraint too (``i < n``), so that
``Σ_i (x_{i+1} − x_i)²`` sums over ``i < n − 1``.

The IR of a read is a ``Var`` whose subscripts are ``ir.affine.Affine`` forms
over indices carrying the placeholder dimension, on axes carrying dimension
variables; settling (``dimensions.settle_expr``) puts the real ones in.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from indexcalc.errors import IndexMismatchError, ParseError, ShapeError
from indexcalc.ir import ONE, Apply, Delta, Index, Sum, Var, delta, mul, rebuild, walk
from indexcalc.ir.affine import Affine, InRange, affine, dim_expr, in_range
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import Ctx, Scope, Val, ix
from indexcalc.syntax.affine_text import ALLOWED, Shift


@dataclass
class Read:
    """One range constraint: axis ``axis`` (dimension variable ``var``) of
    ``tensor`` is read at ``Σ terms[name]·name + offset``."""
    tensor: str
    axis: int
    var: str
    terms: dict
    offset: Fraction
    padded: bool
    pos: S.Pos
    source: str


@dataclass
class Guard:
    """A range condition written in the statement: ``Σ terms·name + offset < dim``."""
    terms: dict
    offset: Fraction
    var: str
    pos: S.Pos | None = None
    source: str = ""

    def as_read(self) -> Read:
        """A condition on one index alone (``[0 ≤ k < 2]``) bounds it like a read."""
        return Read(self.source, 0, self.var, self.terms, self.offset, False, self.pos,
                    self.source)


def involved(node: S.Name, ctx: Ctx) -> bool:
    """Does this read need the shifted rule (an affine subscript, or a shifted index)?"""
    return any(isinstance(i, Shift) or i in ctx.shifted for i in node.indices)


def read(sc: Scope, node: S.Name, ctx: Ctx, t, created: bool = False) -> Val:
    """``x_{i+k}``: a Var with affine subscripts, and its range constraints.  A plain
    index of a tensor met here for the first time gives the tensor its range
    (``b_i``); of any other tensor it is a constraint like a shifted one."""
    subs = []
    for p, (item, v) in enumerate(zip(node.indices, t.dims)):
        if isinstance(item, Shift):
            terms = dict(item.terms)
            for n in terms:
                sc.index(n, ctx)
        elif created and not (t.declared or t.defined):
            sc.index(item, ctx)
            sc.unify(ctx.idx[item], v, lambda: (
                f"dimension mismatch at {sc.src(node.pos)}: index {item} ranges over "
                f"{sc.dims.show(ctx.idx[item])} elsewhere in this statement, but axis "
                f"{p + 1} of {node.name} has dimension {sc.dims.show(v)}"), node.pos)
            subs.append(ix(item))
            continue
        else:
            sc.index(item, ctx)
            terms = {item: Fraction(1)}
        offset = item.offset if isinstance(item, Shift) else Fraction(0)
        ctx.reads.append(Read(node.name, p, v, terms, offset, getattr(t, "pad", False),
                              node.pos, sc.src(node.pos)))
        subs.append(Affine(tuple((ix(n), c) for n, c in terms.items()), offset, v))
    return Val(Var(node.name, tuple(subs)), None)


def kronecker(sc: Scope, node: S.Name, ctx: Ctx) -> Val:
    """``δ[q,p−1]``: 1 where q = p − 1 (a shifted diagonal, as a Hessian of shifted
    differences prints).  Both sides range over the same dimension."""
    plain = [i for i in node.indices if not isinstance(i, Shift)]
    if len(plain) != 1:
        raise sc.err(IndexMismatchError, f"{sc.src(node.pos)}: a Kronecker delta may shift "
                     "one of its two indices, like δ[q,p−1]", node.pos)
    a = sc.index(plain[0], ctx)
    item = next(i for i in node.indices if isinstance(i, Shift))
    for n in item.names:
        sc.index(n, ctx)
        sc.unify(ctx.idx[n], ctx.idx[a.name], lambda: (
            f"{sc.src(node.pos)} relates indices of different dimensions"), node.pos)
    b = Affine(tuple((ix(n), c) for n, c in item.terms), item.offset, ctx.idx[a.name])
    return Val(Delta(a, b), None)


def no_shift(sc: Scope, node: S.Name, what: str) -> None:
    if any(isinstance(i, Shift) for i in node.indices):
        raise sc.err(IndexMismatchError, f"{what} takes plain indices, not {sc.src(node.pos)}; "
                     f"{ALLOWED} only when reading a tensor", node.pos)


def condition(sc: Scope, node: S.Cond, ctx: Ctx) -> Val:
    """``[0 ≤ p − k < m]``: 1 where it holds.  The middle is affine in indices, the
    ends are whole numbers or dimensions (``m``, ``n − 1``)."""
    factors = []
    for clause in node.cond.clauses:
        if clause.kind == "divides":
            continue            # stated alongside a range of (p − k)/s, which implies it
        if len(clause.parts) != 3:
            raise sc.err(ParseError, f"a range condition has a lower and an upper bound, "
                         f"like [0 ≤ p − k < m], not {node.cond.text}", node.pos)
        lo, mid, hi = clause.parts
        if lo[0] or not mid[0]:
            raise sc.err(ParseError, f"in {node.cond.text}: the lower bound is a number and "
                         "the middle has indices, like [0 ≤ p − k < m]", node.pos)
        lo_v = lo[1] if clause.ops[0] == "≤" else lo[1] + 1
        floor = hi[0] == "floor" if isinstance(hi[0], str) else False
        (hi_terms, hi_off), div, add = (hi[1], hi[2], hi[3]) if floor else (hi, 1, 0)
        strict = clause.ops[1] == "<"
        for n in hi_terms:
            if n not in sc.dim_symbols:
                raise sc.err(ShapeError, f"in {node.cond.text}: {n} is not a declared "
                             "dimension; the upper bound of a range is a size, like m or "
                             "n − 1", node.pos)
        if lo_v.denominator != 1 or hi_off.denominator != 1 or any(
                c.denominator != 1 for c in hi_terms.values()):
            raise sc.err(ParseError, f"the bounds of {node.cond.text} must be whole", node.pos)
        # the size hi − lo (+1 for ≤), as ⌊num/div⌋ + 1
        extra = int(add - lo_v) + (0 if strict else 1)
        if floor:
            size = dim_expr({n: int(c) for n, c in hi_terms.items()},
                            int(hi_off) + (extra - 1) * div, div)
        else:
            size = dim_expr({n: int(c) for n, c in hi_terms.items()}, int(hi_off) + extra - 1)
        var = sc.dims.fixed(size)
        terms = dict(mid[0])
        for n in terms:
            if n in sc.dim_symbols or n in sc.tensors:
                raise sc.err(ShapeError, f"in {node.cond.text}: {n} is not an index",
                             node.pos)
            sc.index(n, ctx)
        offset = mid[1] - lo_v
        ctx.reads.append(Guard(terms, offset, var, node.pos, node.cond.text))
        factors.append(InRange(Affine(tuple((ix(n), c) for n, c in terms.items()),
                                      offset, var)))
    return Val(mul(*factors) if factors else ONE, None)


def settle_subs(e, fix_index, fix_dim):
    """``e`` with the affine parts settled: ``fix_index`` maps an Index to its
    settled one, ``fix_dim`` a dimension variable to its dimension."""
    def sub(s):
        if isinstance(s, Index):
            return fix_index(s)
        return affine({fix_index(i): c for i, c in s.terms}, s.offset, fix_dim(s.dim))

    def go(node):
        if isinstance(node, Var) and not all(type(i) is Index for i in node.indices):
            return Var(node.name, tuple(sub(s) for s in node.indices))
        if isinstance(node, InRange):
            return in_range(sub(node.sub))
        if isinstance(node, Delta) and (type(node.a) is not Index or type(node.b) is not Index):
            return delta(sub(node.a), sub(node.b))
        if isinstance(node, Sum):            # binders settle with the indices they bind
            return Sum(tuple(fix_index(i) for i in node.indices), go(node.body))
        if isinstance(node, Apply):
            return Apply(node.fn, go(node.arg), tuple(fix_index(i) for i in node.over),
                         tuple(fix_index(i) for i in node.out), node.order)
        if not node.children:
            return node
        return rebuild(node, tuple(go(c) for c in node.children))
    return go(e)


def has_affine(e) -> bool:
    return any(isinstance(n, InRange) or (isinstance(n, Var) and not n.indices_plain) or (
        isinstance(n, Delta) and type(n.b) is not Index) for n in walk(e))
