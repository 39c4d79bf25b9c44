"""Lowering expressions: one rule per surface node, index form and matrix form.

Split from lower.py (which handles statements, questions and settling
dimensions) so each stays readable.  A lowered expression is a ``Val``: an
IR expression plus, for matrix form, the fresh indices standing for its axes.
The rules here are the meaning of the notation:

* index form: a product sums every index that occurs exactly twice and is
  not protected (left-hand side, explicit ``sum_j``, bound by a function);
* matrix form: juxtaposition, ``*`` and ``@`` are the matrix product (a vector
  is 1-D, ``u vᵀ`` is the outer product), ``⊙ .* ./ + -`` are elementwise,
  a scalar scales anything, tensor functions act on the last axes;
* a call ``f(x)`` is a table function, a lowered function (``tr``, ``diag``...)
  or an opaque function; ``W(x)`` with ``W`` a tensor is a product.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from dataclasses import dataclass

from indexcalc.errors import (
    IndexMismatchError,
    LimitError,
    ParseError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.functions import (
    ALIASES,
    ELEMENTWISE,
    LOWERED,
    TENSOR,
    canonical_name,
    known,
    opaque_is_scalar_valued,
)
from indexcalc.ir import (
    MINUS_ONE,
    Apply,
    Const,
    DimSize,
    Expr,
    Func,
    Index,
    Var,
    add,
    const,
    delta,
    fresh_name,
    mul,
    neg,
    power,
    rename,
    summation,
)
from indexcalc.syntax import tree as S

PENDING = "?"                       # the dimension every index carries until settled
QUESTION_WORDS = ("grad", "jacobian", "hessian")
DELTA_NAMES = ("δ", "delta")
MAX_POWER_BITS = 4096              # constant powers are folded exactly up to this size
FUNCTION_NAMES = sorted(set(ELEMENTWISE) | set(TENSOR) | set(ALIASES) | set(LOWERED)
                        | {"trace"} | set(QUESTION_WORDS))


class DimTable:
    """Union-find over dimension variables.  A variable may be pinned to a
    declared symbol or an integer; two different pins never unify."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.pin: dict[str, object] = {}
        self.count = 0

    def new(self) -> str:
        self.count += 1
        v = f"?{self.count}"
        self.parent[v] = v
        return v

    def fixed(self, value) -> str:
        v = f"={value!r}"
        if v not in self.parent:
            self.parent[v] = v
            self.pin[v] = value
        return v

    def find(self, v: str) -> str:
        root = v
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[v] != root:
            self.parent[v], v = root, self.parent[v]
        return root

    def unify(self, a: str, b: str) -> bool:
        """Make ``a`` and ``b`` the same dimension; False if they are pinned apart."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        pa, pb = self.pin.get(ra), self.pin.get(rb)
        if pa is not None and pb is not None:
            return False
        if pa is None:
            ra, rb = rb, ra
        self.parent[rb] = ra                  # keep the pinned root
        return True

    def value(self, v: str):
        return self.pin.get(self.find(v))

    def show(self, v: str) -> str:
        value = self.value(v)
        return "?" if value is None else str(value)


@dataclass
class Tensor:
    name: str
    dims: tuple[str, ...]            # dimension variables
    declared: bool = False
    defined: bool = False
    symmetric: bool = False
    pos: S.Pos | None = None


@dataclass
class Ctx:
    """Per-statement state: dimension variable of each index name, names in use,
    and the indices the Einstein convention must not sum (left-hand side,
    explicit sums, indices bound by a tensor function)."""
    idx: dict[str, str]
    used: set[str]
    lhs: frozenset[str] = frozenset()
    protected: frozenset[str] = frozenset()
    defining: str | None = None

    def protect(self, names) -> "Ctx":
        return Ctx(self.idx, self.used, self.lhs, self.protected | frozenset(names),
                   self.defining)


@dataclass
class Val:
    """A lowered expression.  ``axes`` is None for index form (the value is one
    component; its free indices are ``expr.free``) and a tuple for matrix form
    (``()`` is a scalar).  ``row`` marks a transposed vector."""
    expr: Expr
    axes: tuple[Index, ...] | None
    row: bool = False

    @property
    def rank(self) -> int:
        return len(self.axes) if self.axes is not None else 0

    @property
    def scalar(self) -> bool:
        return (self.axes == ()) or (self.axes is None and not self.expr.free)

    @property
    def matrix(self) -> bool:
        return self.axes is not None and len(self.axes) > 0

    @property
    def indexed(self) -> bool:
        return self.axes is None and bool(self.expr.free)


@dataclass
class Pending:
    """A matrix-form name whose rank is not known yet (``b1`` in ``x W1 + b1``)."""
    name: str
    pos: S.Pos


def ix(name: str) -> Index:
    return Index(name, PENDING)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


class ExprLowering:
    """The expression rules of ``lower.Lowerer`` (which provides ``text``, ``dims``,
    ``tensors``, ``dim_symbols``, ``functions``, ``err``, ``src`` and ``show_vars``)."""

    # -------------------------------------------------------- indices and dimensions

    def index(self, name: str, ctx: Ctx) -> Index:
        if name not in ctx.idx:
            ctx.idx[name] = self.dims.new()
        ctx.used.add(name)
        return ix(name)

    def fresh(self, ctx: Ctx, var: str) -> Index:
        name = fresh_name(ctx.used)
        ctx.used.add(name)
        ctx.idx[name] = var
        return ix(name)

    def unify(self, a: str, b: str, message, pos: S.Pos) -> None:
        if not self.dims.unify(a, b):
            raise self.err(ShapeError, message(), pos)

    def shape_of(self, v: Val, ctx: Ctx) -> str:
        return self.show_vars(tuple(ctx.idx[a.name] for a in v.axes or ()))

    def sum_over(self, names, body: Expr, ctx: Ctx) -> Expr:
        """Σ over the named indices; an index the body does not use multiplies by its size."""
        used = [ix(n) for n in names if ix(n) in body.free]
        sizes = [DimSize(ctx.idx[n]) for n in names if ix(n) not in body.free]
        return mul(*sizes, summation(used, body) if used else body)

    # -------------------------------------------------------- dispatch

    def ex(self, node, ctx: Ctx):
        return getattr(self, "ex_" + type(node).__name__)(node, ctx)

    def lower_value(self, node, ctx: Ctx) -> Val:
        v = self.ex(node, ctx)
        if isinstance(v, Pending):
            raise self.rank_error(v)
        return v

    def rank_error(self, p: Pending):
        return self.err(ShapeError, f"cannot infer the rank of {p.name}; declare it, e.g. "
                        f"`{p.name} : vector[n]` or `{p.name} : matrix[n, m]`, or write it "
                        f"with indices", p.pos)

    def ex_Num(self, node: S.Num, ctx: Ctx) -> Val:
        return Val(const(node.value), ())

    def ex_Partial(self, node: S.Partial, ctx: Ctx):
        raise self.err(ParseError, "∂ only appears in questions, like ∂E/∂z_k", node.pos)

    def ex_Neg(self, node: S.Neg, ctx: Ctx) -> Val:
        v = self.lower_value(node.body, ctx)
        return Val(neg(v.expr), v.axes, v.row)

    def ex_Chain(self, node: S.Chain, ctx: Ctx) -> Val:
        return self.product(node.factors, ctx, node.pos)

    # -------------------------------------------------------- names

    def ex_Name(self, node: S.Name, ctx: Ctx):
        if node.indices is not None:
            return self.product([("", node)], ctx, node.pos)
        return self.bare_name(node, ctx)

    def not_recursive(self, name: str, ctx: Ctx, pos: S.Pos) -> None:
        if name == ctx.defining:
            raise self.err(ParseError, f"{name} is used in its own definition", pos)

    def bare_name(self, node: S.Name, ctx: Ctx):
        name = node.name
        self.not_recursive(name, ctx, node.pos)
        t = self.tensors.get(name)
        if t is not None:
            axes = tuple(self.fresh(ctx, v) for v in t.dims)
            return Val(Var(name, axes), axes)
        if name in self.dim_symbols:
            return Val(DimSize(name), ())
        if name in DELTA_NAMES:
            raise self.err(IndexMismatchError, f"{name} needs two indices, like δ_jk", node.pos)
        if known(name) or name in QUESTION_WORDS:
            raise self.err(ParseError, f"{name} is a function; call it, like {name}(x)",
                           node.pos)
        return Pending(name, node.pos)

    def indexed_name(self, node: S.Name, ctx: Ctx) -> Val:
        name = node.name
        self.not_recursive(name, ctx, node.pos)
        if name in DELTA_NAMES and name not in self.tensors:
            return self.kronecker(node, ctx)
        if name not in self.tensors:
            if name in self.dim_symbols:
                raise self.err(IndexMismatchError, f"{name} is a dimension; it takes no "
                               "indices", node.pos)
            if known(name) or name in QUESTION_WORDS:
                raise self.err(ParseError, f"{name} is a function, not a tensor; call it, "
                               f"like {name}(x_i)", node.pos)
            self.tensors[name] = Tensor(name, tuple(self.dims.new() for _ in node.indices),
                                        pos=node.pos)
        t = self.tensors[name]
        if len(node.indices) != len(t.dims):
            raise self.err(IndexMismatchError, f"{name} has rank {len(t.dims)} (shape "
                           f"{self.show_vars(t.dims)}) but {self.src(node.pos)} gives it "
                           f"{_plural(len(node.indices), 'index')}", node.pos)
        for p, (i, v) in enumerate(zip(node.indices, t.dims)):
            self.index(i, ctx)
            self.unify(ctx.idx[i], v, lambda: (
                f"dimension mismatch at {self.src(node.pos)}: index {i} ranges over "
                f"{self.dims.show(ctx.idx[i])} elsewhere in this statement, but axis {p + 1} "
                f"of {name} has dimension {self.dims.show(v)}"), node.pos)
        return Val(Var(name, tuple(ix(i) for i in node.indices)), None)

    def kronecker(self, node: S.Name, ctx: Ctx) -> Val:
        if len(node.indices) != 2:
            raise self.err(IndexMismatchError, f"the Kronecker delta takes two indices, like "
                           f"δ_jk, not {self.src(node.pos)}", node.pos)
        a, b = (self.index(i, ctx) for i in node.indices)
        self.unify(ctx.idx[a.name], ctx.idx[b.name], lambda: (
            f"{self.src(node.pos)} relates indices of different dimensions "
            f"({self.dims.show(ctx.idx[a.name])} and {self.dims.show(ctx.idx[b.name])})"),
            node.pos)
        return Val(delta(a, b), None)

    def instantiate(self, p: Pending, like: Val, ctx: Ctx) -> Val:
        """A Pending name takes the shape of ``like`` (an operand of + - ⊙)."""
        dims = tuple(ctx.idx[a.name] for a in like.axes or ())
        self.tensors[p.name] = Tensor(p.name, dims, pos=p.pos)
        axes = tuple(self.fresh(ctx, v) for v in dims)
        return Val(Var(p.name, axes), axes if like.axes is not None else ())

    # -------------------------------------------------------- indexing, transposes, powers

    def ex_Paren(self, node: S.Paren, ctx: Ctx):
        v = self.ex(node.body, ctx)
        if node.indices is None:
            return v
        if isinstance(v, Pending):
            raise self.rank_error(v)
        return self.index_value(v, node.indices, ctx, node.pos)

    def index_value(self, v: Val, names, ctx: Ctx, pos: S.Pos) -> Val:
        """``(expr)_ij``: a matrix-form value read at the given indices."""
        if v.axes is None:
            raise self.err(IndexMismatchError, f"{self.src(pos)}: only a matrix-form "
                           "expression can be indexed; this one is already in index form", pos)
        if len(names) != v.rank:
            raise self.err(IndexMismatchError, f"{self.src(pos)} gives "
                           f"{_plural(len(names), 'index')} to an expression of rank {v.rank} "
                           f"(shape {self.shape_of(v, ctx)})", pos)
        mapping = {}
        for n, a in zip(names, v.axes):
            self.index(n, ctx)
            self.unify(ctx.idx[n], ctx.idx[a.name], lambda: (
                f"dimension mismatch at {self.src(pos)}: index {n} ranges over "
                f"{self.dims.show(ctx.idx[n])} elsewhere but this axis has dimension "
                f"{self.dims.show(ctx.idx[a.name])}"), pos)
            mapping[a] = ix(n)
        return Val(rename(v.expr, mapping), None)

    def ex_Transpose(self, node: S.Transpose, ctx: Ctx) -> Val:
        v = self.lower_value(node.body, ctx)
        if v.indexed:
            raise self.err(IndexMismatchError, "ᵀ transposes matrix-form operands; in index "
                           "form swap the indices instead (W_ji)", node.pos)
        if v.rank == 1:
            return Val(v.expr, v.axes, not v.row)
        return Val(v.expr, tuple(reversed(v.axes)) if v.axes else v.axes)

    def ex_Power(self, node: S.Power, ctx: Ctx) -> Val:
        base = self.lower_value(node.base, ctx)
        exp = self.lower_value(node.exponent, ctx)
        if exp.indexed and base.axes is None:               # x_i^y_i: componentwise
            return Val(power(base.expr, exp.expr), None)
        if not exp.scalar:
            raise self.err(ShapeError, "an exponent must be a scalar (or, in index form, "
                           "carry the base's indices: x_i^y_i)", node.exponent.pos)
        if base.matrix and base.rank == 2:
            return self.matrix_power(base, exp.expr, ctx, node.pos)
        if isinstance(base.expr, Const) and isinstance(exp.expr, Const):
            self.check_number_power(base.expr.value, exp.expr.value, node.pos)
        return Val(power(base.expr, exp.expr), base.axes, base.row)

    def check_number_power(self, base, exp, pos: S.Pos) -> None:
        """Refuse constant powers whose exact value would be astronomically large."""
        size = abs(float(exp)) * max(math.log2(abs(float(base))), 1.0) if base else 0.0
        if size > MAX_POWER_BITS:
            raise self.err(LimitError, f"{self.src(pos)}: the number is too large to compute "
                           "exactly", pos)

    def matrix_power(self, base: Val, exp: Expr, ctx: Ctx, pos: S.Pos) -> Val:
        value = getattr(exp, "value", None)
        if value is None or getattr(value, "denominator", 0) != 1:
            raise self.err(ShapeError, f"{self.src(pos)}: a matrix power needs an integer "
                           "exponent (A^2, A^-1); for elementwise powers use index form", pos)
        k = int(value)
        self.square(base, ctx, pos, "a matrix power")
        if k == 0:
            a, b = base.axes
            i, j = self.fresh(ctx, ctx.idx[a.name]), self.fresh(ctx, ctx.idx[a.name])
            return Val(delta(i, j), (i, j))
        m = self.inverse(base, ctx) if k < 0 else base
        out = m
        for _ in range(abs(k) - 1):
            out = self.matmul(out, self.copy(m, ctx), ctx, pos, pos, pos)
        return out

    def copy(self, v: Val, ctx: Ctx) -> Val:
        """The same value with fresh axes (so it can be multiplied by itself)."""
        new = tuple(self.fresh(ctx, ctx.idx[a.name]) for a in v.axes)
        return Val(rename(v.expr, dict(zip(v.axes, new))), new, v.row)

    def square(self, v: Val, ctx: Ctx, pos: S.Pos, what: str) -> None:
        a, b = v.axes[-2:]
        self.unify(ctx.idx[a.name], ctx.idx[b.name], lambda: (
            f"{what} needs a square matrix, but {self.src(pos)} has shape "
            f"{self.shape_of(v, ctx)}"), pos)

    def inverse(self, v: Val, ctx: Ctx) -> Val:
        a, b = v.axes[-2:]
        out = (self.fresh(ctx, ctx.idx[b.name]), self.fresh(ctx, ctx.idx[a.name]))
        return Val(Apply("inv", v.expr, (a, b), out), v.axes[:-2] + out)

    # -------------------------------------------------------- sums

    def ex_Terms(self, node: S.Terms, ctx: Ctx) -> Val:
        vals = [(sign, t, self.ex(t, ctx)) for sign, t in node.terms]
        known_vals = [v for _, _, v in vals if not isinstance(v, Pending)]
        if not known_vals:
            raise self.rank_error(vals[0][2])
        mats = [(t, v) for _, t, v in vals if isinstance(v, Val) and v.matrix]
        idxs = [(t, v) for _, t, v in vals if isinstance(v, Val) and v.indexed]
        if mats and idxs:
            raise self.mixing(idxs[0][0], mats[0][0], "sum")
        like = mats[0][1] if mats else Val(const(0), ())
        vals = [(s, t, self.instantiate(v, like, ctx) if isinstance(v, Pending) else v)
                for s, t, v in vals]
        if mats:
            acc, first = vals[0][2], vals[0][1]
            for sign, t, v in vals[1:]:
                acc = self.elementwise(acc, v, "+" if sign > 0 else "-", ctx,
                                       S.Pos(first.pos.line, first.pos.column, first.pos.start,
                                             t.pos.start), t.pos)
            return acc
        return self.index_sum(vals, node)

    def index_sum(self, vals, node: S.Terms) -> Val:
        """Terms must have the same free indices, or some a subset of the others'
        (``X_bi W_ij + b_j``: b broadcasts over b); ``a_i + b_j`` is an error."""
        ref = None
        for _, t, v in vals:
            if v.scalar:
                continue
            if ref is None:
                ref = (t, v)
            elif not (v.expr.free <= ref[1].expr.free or ref[1].expr.free <= v.expr.free):
                raise self.err(IndexMismatchError, "the terms of a sum must have the same free "
                               f"indices: {self.src(ref[0].pos)} has {_show_free(ref[1])} but "
                               f"{self.src(t.pos)} has {_show_free(v)}", t.pos)
            elif len(v.expr.free) > len(ref[1].expr.free):
                ref = (t, v)
        expr = add(*(v.expr if s > 0 else neg(v.expr) for s, _, v in vals))
        return Val(expr, None if ref is not None else ())

    def mixing(self, index_node, matrix_node, what: str):
        return self.err(IndexMismatchError, f"cannot mix index form ({self.src(index_node.pos)}) "
                        f"and matrix form ({self.src(matrix_node.pos)}) in one {what}; index "
                        "the matrix-form operand (like W_ij or (W x)_i) or drop the indices",
                        matrix_node.pos)

    def elementwise(self, a: Val, b: Val, op: str, ctx: Ctx, a_pos: S.Pos, b_pos: S.Pos) -> Val:
        """``a op b`` componentwise, a scalar operand broadcasting."""
        if b.scalar and not a.matrix or a.scalar and not b.matrix:
            return Val(_combine(a.expr, b.expr, op), ())
        if a.scalar:
            return Val(_combine(a.expr, b.expr, op), b.axes, b.row)
        if a.rank == 1 and b.rank == 2:                  # a vector broadcasts along the rows
            a = Val(self.align(b, a, ctx, b_pos, a_pos, op), b.axes[-1:], False)
            return Val(_combine(a.expr, b.expr, op), b.axes, b.row)
        if not b.scalar:
            b = Val(self.align(a, b, ctx, a_pos, b_pos, op), a.axes, a.row)
        return Val(_combine(a.expr, b.expr, op), a.axes, a.row)

    def align(self, a: Val, b: Val, ctx: Ctx, a_pos: S.Pos, b_pos: S.Pos, op: str) -> Expr:
        """``b``'s expression renamed onto ``a``'s axes (shapes must agree)."""
        def message():
            return (f"shape mismatch in {op}: {self.src(a_pos)} has shape "
                    f"{self.shape_of(a, ctx)} but {self.src(b_pos)} has shape "
                    f"{self.shape_of(b, ctx)}")
        axes = a.axes
        if a.rank == 2 and b.rank == 1:                  # NumPy: along the last axis
            axes = a.axes[-1:]
        elif a.rank != b.rank:
            raise self.err(ShapeError, message(), b_pos)
        for x, y in zip(axes, b.axes):
            self.unify(ctx.idx[x.name], ctx.idx[y.name], message, b_pos)
        return rename(b.expr, dict(zip(b.axes, axes)))

    def ex_SumOver(self, node: S.SumOver, ctx: Ctx) -> Val:
        for n in node.indices:
            if n in ctx.lhs:
                raise self.err(IndexMismatchError, f"{n} is summed here but is also a free "
                               "index of the left-hand side; use another index name", node.pos)
            self.index(n, ctx)
        v = self.lower_value(node.body, ctx.protect(node.indices))
        if v.matrix:
            raise self.err(ShapeError, f"sum_{''.join(node.indices)} sums an index-form "
                           "expression; for the sum of all entries of a matrix-form "
                           "expression write sum(x)", node.pos)
        return Val(self.sum_over(node.indices, v.expr, ctx), None)

    def ex_Norm(self, node: S.Norm, ctx: Ctx) -> Val:
        return self.norm(self.lower_value(node.body, ctx), ctx)

    def norm(self, v: Val, ctx: Ctx) -> Val:
        names = ([a.name for a in v.axes] if v.axes is not None
                 else sorted(i.name for i in v.expr.free))
        return Val(Func("sqrt", self.sum_over(names, power(v.expr, const(2)), ctx)), ())

    # -------------------------------------------------------- products

    def product(self, factors, ctx: Ctx, pos: S.Pos) -> Val:
        factors = self.regroup(factors)
        lowered = []
        for op, f in factors:
            if isinstance(f, S.Name) and f.indices is not None:
                lowered.append((op, f, self.indexed_name(f, ctx)))
            else:
                lowered.append((op, f, self.ex(f, ctx)))
        idx = [f for _, f, v in lowered if isinstance(v, Val) and v.indexed]
        mat = [f for _, f, v in lowered if isinstance(v, Val) and v.matrix]
        if idx and mat:
            raise self.mixing(idx[0], mat[0], "product")
        pend = [v for _, _, v in lowered if isinstance(v, Pending)]
        if pend and not idx:
            raise self.rank_error(pend[0])
        scalar = Val(const(0), ())
        lowered = [(op, f, self.instantiate(v, scalar, ctx) if isinstance(v, Pending) else v)
                   for op, f, v in lowered]
        if mat:
            return self.matrix_product(lowered, ctx, pos)
        return self.einstein(lowered, ctx, pos)

    def regroup(self, factors):
        """Decide name-then-parenthesis: ``W(x)`` with W a tensor is a product (the
        call is split in two factors); ``exp (x)`` with a space is still a call."""
        out = []
        for op, f in factors:
            if isinstance(f, S.Call) and f.name in self.tensors:
                if len(f.args) != 1:
                    raise self.err(ParseError, f"{f.name} is a tensor, not a function; it "
                                   "cannot take several arguments", f.pos)
                head = S.Name(f.name, f.over, f.head)
                for _ in range(f.primes):
                    head = S.Transpose(head, f.head)
                out += [(op, head), ("", S.Paren(f.args[0], f.out, f.pos))]
            elif (out and op == "" and isinstance(f, S.Paren) and isinstance(out[-1][1], S.Name)
                  and out[-1][1].indices is None and self.callable_name(out[-1][1].name)):
                prev_op, name = out.pop()
                pos = S.Pos(name.pos.line, name.pos.column, name.pos.start, f.pos.end)
                out.append((prev_op, S.Call(name.name, 0, None, [f.body], f.indices, pos,
                                            name.pos)))
            else:
                out.append((op, f))
        return out

    def callable_name(self, name: str) -> bool:
        return (name not in self.tensors and name not in self.dim_symbols
                and name not in DELTA_NAMES)

    def einstein(self, lowered, ctx: Ctx, pos: S.Pos) -> Val:
        counts: Counter = Counter()
        parts = []
        for op, f, v in lowered:
            if op == "@":
                raise self.err(ParseError, "@ is the matrix product of matrix-form operands; "
                               "in index form juxtapose the factors (A_ij x_j)", f.pos)
            if isinstance(f, S.Name) and f.indices is not None:
                counts.update(f.indices)
            else:
                counts.update(i.name for i in v.expr.free)
            parts.append(power(v.expr, MINUS_ONE) if op in ("/", "./") else v.expr)
        for name, c in counts.items():
            if c >= 3 and name not in ctx.protected:
                raise self.err(IndexMismatchError, f"index {name} appears {c} times in "
                               f"{self.src(pos)}; in a product an index may appear at most "
                               "twice (twice means summed) unless it is on the left-hand side "
                               f"or summed explicitly (sum_{name})", pos)
        summed = [n for n, c in counts.items() if c == 2 and n not in ctx.protected]
        expr = self.sum_over(summed, mul(*parts), ctx)
        return Val(expr, None if expr.free else ())

    def matrix_product(self, lowered, ctx: Ctx, pos: S.Pos) -> Val:
        _, first, acc = lowered[0]
        for op, f, v in lowered[1:]:
            left = S.Pos(pos.line, pos.column, pos.start, f.pos.start)
            if op in ("", "*", "@"):
                acc = self.matmul(acc, v, ctx, left, f.pos, pos)
            elif op == "/" and v.scalar:
                acc = Val(mul(acc.expr, power(v.expr, MINUS_ONE)), acc.axes, acc.row)
            else:
                acc = self.elementwise(acc, v, "./" if op == "/" else op, ctx, left, f.pos)
        return acc

    def matmul(self, a: Val, b: Val, ctx: Ctx, a_pos, b_pos, pos) -> Val:
        """The matrix product of matrix-form values (vectors are 1-D, as in NumPy)."""
        if a.scalar or b.scalar:
            m = b if a.scalar else a
            return Val(mul(a.expr, b.expr), m.axes if m.axes is not None else (), m.row)
        if a.rank > 2 or b.rank > 2:
            raise self.err(ShapeError, f"{self.src(pos)}: the matrix product is defined for "
                           "vectors and matrices; for tensors of rank 3 or more use index "
                           "form", pos)
        if a.rank == b.rank == 1 and not a.row and b.row:          # u vᵀ: outer product
            return Val(mul(a.expr, b.expr), a.axes + b.axes)
        la, fb = a.axes[-1], b.axes[0]
        self.unify(ctx.idx[la.name], ctx.idx[fb.name], lambda: (
            f"dimension mismatch in the product {self.src(pos)}: {self.src(a_pos)} has shape "
            f"{self.shape_of(a, ctx)} and {self.src(b_pos)} has shape {self.shape_of(b, ctx)}; "
            f"the product needs {self.dims.show(ctx.idx[la.name])} = "
            f"{self.dims.show(ctx.idx[fb.name])}"), pos)
        expr = summation((la,), mul(a.expr, rename(b.expr, {fb: la})))
        row = a.row if (a.rank == 1 and b.rank == 2) else False
        return Val(expr, a.axes[:-1] + b.axes[1:], row)

    # -------------------------------------------------------- calls

    def ex_Call(self, node: S.Call, ctx: Ctx) -> Val:
        if node.name in self.tensors:
            return self.product([("", node)], ctx, node.pos)
        return self.call(node, ctx)

    def call(self, node: S.Call, ctx: Ctx) -> Val:
        raw = node.name
        name = "tr" if raw == "trace" else canonical_name(raw)
        self.not_recursive(raw, ctx, node.head)
        if raw in QUESTION_WORDS:
            raise self.err(ParseError, f"{raw}(...) is a question; write it as a statement "
                           "on its own line", node.pos)
        if raw in DELTA_NAMES or raw in self.dim_symbols:
            raise self.err(ParseError, f"{raw} is not a function", node.head)
        if node.primes and known(name):
            raise self.err(ParseError, f"{raw}{chr(39) * node.primes}: primes mark "
                           "derivatives of unknown functions (f'(z)) only", node.head)
        if name in TENSOR:
            return self.tensor_fn(name, node, ctx)
        if name in ELEMENTWISE:
            self.no_over(node)
            v = self.lower_value(self.one_arg(node), ctx)
            return self.call_out(Val(Func(name, v.expr), v.axes, v.row), node, ctx)
        if name in LOWERED:
            self.no_over(node)
            return self.call_out(self.lowered_fn(name, node, ctx), node, ctx)
        self.suggest(raw, node)
        return self.opaque_fn(raw, node, ctx)

    def one_arg(self, node: S.Call):
        if len(node.args) != 1:
            raise self.err(ParseError, f"{node.name} takes one argument, not "
                           f"{len(node.args)}", node.pos)
        return node.args[0]

    def no_over(self, node: S.Call) -> None:
        if node.over is not None:
            raise self.err(ParseError, f"{node.name} takes no subscript before its "
                           "parenthesis; only tensor functions do (softmax_i(z_i)_j, "
                           "det_{ij}(A_ij))", node.head)

    def call_out(self, v: Val, node: S.Call, ctx: Ctx) -> Val:
        return self.index_value(v, node.out, ctx, node.pos) if node.out else v

    def suggest(self, raw: str, node: S.Call) -> None:
        """A lowercase multi-letter name close to a known function is a typo, not an
        opaque function."""
        if len(raw) < 3 or not raw.islower():
            return
        close = difflib.get_close_matches(raw, FUNCTION_NAMES, n=1, cutoff=0.75)
        if close:
            raise self.err(UnknownNameError, f"unknown function '{raw}'; did you mean "
                           f"'{close[0]}'? (unknown single-letter or capitalised names, like "
                           "f or L, are opaque functions)", node.head)

    def tensor_fn(self, name: str, node: S.Call, ctx: Ctx) -> Val:
        entry = TENSOR[name]
        arg = self.one_arg(node)
        if node.over is not None:
            return self.reduction(name, entry.rank_in, entry.rank_out, node, ctx)
        v = self.lower_value(arg, ctx)
        kind = "vector" if entry.rank_in == 1 else "matrix"
        if v.indexed:
            raise self.err(IndexMismatchError, f"{self.src(node.pos)}: say which index {name} "
                           f"runs over, like {name}_i(z_i)" + ("_j" * entry.rank_out)[:2]
                           + f", or give it a {kind} in matrix form", node.pos)
        if v.rank < entry.rank_in:
            raise self.err(ShapeError, f"{name} needs a {kind}, but {self.src(arg.pos)} has "
                           f"rank {v.rank}", arg.pos)
        over = v.axes[-entry.rank_in:]
        if entry.rank_in == 2:
            self.square(v, ctx, arg.pos, name)
        out = tuple(self.fresh(ctx, ctx.idx[a.name]) for a in reversed(over))[:entry.rank_out]
        result = Val(Apply(name, v.expr, over, out), v.axes[:-entry.rank_in] + out,
                     v.row and entry.rank_out == 1)
        return self.call_out(result, node, ctx)

    def reduction(self, name: str, rank_in: int, rank_out: int, node: S.Call, ctx: Ctx,
                  order: int = 0) -> Val:
        """``softmax_i(θ_i)_j``, ``det_{ij}(A_ij)``, ``L'_i(a_i)_j``: index-form tensor
        functions with explicit bound (``over``) and output indices."""
        over_names, out_names = node.over, node.out or ()
        if len(over_names) != rank_in or len(out_names) != rank_out:
            raise self.err(IndexMismatchError, f"{self.src(node.pos)}: {name} runs over "
                           f"{_plural(rank_in, 'index')} and gives "
                           f"{_plural(rank_out, 'output index')}", node.pos)
        if set(over_names) & set(out_names) or len(set(over_names)) != len(over_names):
            raise self.err(IndexMismatchError, f"{self.src(node.pos)}: the indices a function "
                           "runs over must differ from each other and from its output "
                           "indices", node.pos)
        v = self.lower_value(node.args[0], ctx.protect(over_names))
        if v.matrix:
            raise self.err(IndexMismatchError, f"{name}_{''.join(over_names)}(...) needs an "
                           f"index-form argument, like {name}_{over_names[0]}(z_"
                           f"{over_names[0]})", node.args[0].pos)
        over = tuple(self.index(n, ctx) for n in over_names)
        out = tuple(self.index(n, ctx) for n in out_names)
        if rank_in == 2 and name in TENSOR:
            self.unify(ctx.idx[over[0].name], ctx.idx[over[1].name], lambda: (
                f"{name} needs a square matrix"), node.pos)
        group = tuple(reversed(over)) if name == "inv" else over
        for k, o in enumerate(out):
            g = group[k % len(group)]
            self.unify(ctx.idx[o.name], ctx.idx[g.name], lambda: (
                f"{self.src(node.pos)}: output index {o.name} and {g.name} must have the "
                "same dimension"), node.pos)
        return Val(Apply(name, v.expr, over, out, order), None)

    def lowered_fn(self, name: str, node: S.Call, ctx: Ctx) -> Val:
        if name in ("dot", "outer"):
            if len(node.args) != 2:
                raise self.err(ParseError, f"{name} takes two arguments", node.pos)
            a, b = (self.lower_value(x, ctx) for x in node.args)
            if not a.matrix or not b.matrix:
                raise self.err(ShapeError, f"{name} takes two vectors (or tensors) in matrix "
                               "form", node.pos)
            if name == "outer":
                return Val(mul(a.expr, b.expr), a.axes + b.axes)
            e = mul(a.expr, self.align(a, b, ctx, node.args[0].pos, node.args[1].pos, "dot"))
            return Val(self.sum_over([x.name for x in a.axes], e, ctx), ())
        arg = self.one_arg(node)
        v = self.lower_value(arg, ctx)
        if name == "norm":
            return self.norm(v, ctx)
        if name == "sum":
            names = ([a.name for a in v.axes] if v.axes is not None else
                     sorted(i.name for i in v.expr.free if i.name not in ctx.protected))
            e = self.sum_over(names, v.expr, ctx)
            return Val(e, None if e.free else ())
        if not v.matrix or v.rank > 2 or (name == "tr" and v.rank != 2):
            kind = "matrix" if name == "tr" else "vector or matrix"
            raise self.err(ShapeError, f"{name} needs a {kind}"
                           f" in matrix form, but {self.src(arg.pos)} has "
                           f"{'index form' if v.indexed else f'rank {v.rank}'}", arg.pos)
        if name == "diag" and v.rank == 1:
            (a,) = v.axes
            b = self.fresh(ctx, ctx.idx[a.name])
            return Val(mul(v.expr, delta(a, b)), (a, b))
        self.square(v, ctx, arg.pos, name)
        a, b = v.axes
        e = rename(v.expr, {b: a})
        if name == "diag":
            return Val(e, (a,))
        return Val(summation((a,), e), ())

    def opaque_fn(self, raw: str, node: S.Call, ctx: Ctx) -> Val:
        """``f(z)`` acts elementwise; ``L(a)`` (capitalised) is a scalar function of its
        whole argument; primes are derivatives (``f'(z)``, ``L'(a)_j``)."""
        self.functions.add(raw)
        arg = self.one_arg(node)
        order = node.primes
        if node.over is not None:
            n = len(node.over)
            return self.reduction(raw, n, n * order, node, ctx, order)
        v = self.lower_value(arg, ctx)
        if not (opaque_is_scalar_valued(raw) and v.matrix):
            return self.call_out(Val(Func(raw, v.expr, order), v.axes, v.row), node, ctx)
        over = v.axes
        if node.out is not None:
            if len(node.out) != order * len(over):
                raise self.err(IndexMismatchError, f"{self.src(node.pos)}: the derivative of "
                               f"order {order} of {raw} has {order * len(over)} indices, not "
                               f"{len(node.out)}", node.pos)
            out = []
            for k, n in enumerate(node.out):
                g = over[k % len(over)]
                self.index(n, ctx)
                self.unify(ctx.idx[n], ctx.idx[g.name], lambda: (
                    f"{self.src(node.pos)}: index {n} does not match the argument's "
                    "dimension"), node.pos)
                out.append(ix(n))
            return Val(Apply(raw, v.expr, over, tuple(out), order), None)
        out = tuple(self.fresh(ctx, ctx.idx[a.name]) for _ in range(order) for a in over)
        return Val(Apply(raw, v.expr, over, out, order), out)


def _combine(a: Expr, b: Expr, op: str) -> Expr:
    if op == "+":
        return add(a, b)
    if op == "-":
        return add(a, neg(b))
    if op == ".*":
        return mul(a, b)
    if op == "./":
        return mul(a, power(b, MINUS_ONE))
    raise AssertionError(op)


def _show_free(v: Val) -> str:
    names = sorted(i.name for i in v.expr.free)
    return "free indices {" + ", ".join(names) + "}" if names else "no free indices"
