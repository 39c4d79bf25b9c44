"""The lowering state of one text, and the error helpers every lowering module uses.

Lowering is a set of modules of functions, each taking the ``Scope`` of the
text being lowered as its first argument (``sc``): ``statements`` (declarations,
definitions, checks, assumptions), ``questions``, ``expressions`` (the rule for
each surface node), ``index_form`` and ``matrix_form`` (what the two notations
mean), ``calls`` (functions), ``settle`` (dimensions, once the text is read).
The scope is everything they share: the text (for carets), the dimension
table, the tensors, dimension symbols and opaque functions seen so far, and the
statements lowered so far.  Per-statement state (index names and their
dimension variables, protected indices) is a ``Ctx``; a lowered expression is a
``Val``.  Nothing else is shared, so what a function reads is in its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexcalc.errors import IndexcalcError, IndexMismatchError, ShapeError
from indexcalc.functions import known
from indexcalc.ir import DimSize, Expr, Index, fresh_name, mul, summation
from indexcalc.model import Span
from indexcalc.syntax import tree as S
from indexcalc.syntax.dimensions import DimTable
from indexcalc.syntax.affine_text import Shift, cond_names, index_names

PENDING = "?"                       # the dimension every index carries until settled
QUESTION_WORDS = ("grad", "jacobian", "hessian")
DELTA_NAMES = ("δ", "delta")
IDENTITY, ONES = "I", "𝟙"           # the identity and the ones vector, sized by their context
SPECIAL_NAMES = ("pi", "π", "e", IDENTITY, ONES)


@dataclass
class Tensor:
    name: str
    dims: tuple[str, ...]            # dimension variables
    declared: bool = False
    defined: bool = False
    symmetric: bool = False
    pos: S.Pos | None = None
    pad: bool = False                # reads outside its range are zero (declared `pad`)
    step: bool = False               # names a checked step (check δ2 = ...): claims only


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
    shifted: frozenset[str] = frozenset()    # index names in affine subscripts (affine_reads.py)
    reads: list = field(default_factory=list)     # their range constraints (affine_reads.Read)

    def protect(self, names) -> "Ctx":
        return Ctx(self.idx, self.used, self.lhs, self.protected | frozenset(names),
                   self.defining, self.shifted, self.reads)


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


class Scope:
    """The state of lowering one text: read and extended by every lowering module."""

    def __init__(self, text: str):
        self.text = text                                 # for error carets and sources
        self.dims = DimTable()                           # dimension variables
        self.tensors: dict[str, Tensor] = {}             # every tensor seen so far
        self.dim_symbols: dict[str, S.Pos] = {}          # declared dimension names
        self.functions: set[str] = set()                 # opaque functions used
        self.declared_functions: dict[str, bool] = {}    # `phi : function [scalar]`
        self.tensor_names: dict[str, int | None] = {}    # used as tensors in the text (rank)
        self.hints: dict[str, int] = {}                  # ranks inferred from use (infer.py)
        self.operand_names: set[str] = set()            # names used bare somewhere in the text
        self.defined_later: dict[str, S.Pos] = {}        # every definition's name, and where
        self.index_names: set[str] = set()               # every index name the text writes
        self.done: list[tuple[object, Ctx | None]] = []  # lowered statements, in order
        self.generated: dict[str, str] = {}              # root -> N, N1... (settle.py)

    def err(self, cls, message: str, pos: S.Pos) -> IndexcalcError:
        return cls(message, text=self.text, line=pos.line, column=pos.column)

    def src(self, pos: S.Pos) -> str:
        s = " ".join(self.text[pos.start:pos.end].split())
        return s if len(s) <= 60 else s[:57] + "..."

    def show_vars(self, dims) -> str:
        shown = [self.dims.show(v) for v in dims]
        return "(" + ", ".join(shown) + ("," if len(shown) == 1 else "") + ")"

    def show_dims(self, dims) -> str:
        return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"

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

    def rank_error(self, p: Pending):
        return self.err(ShapeError, f"cannot infer the rank of {p.name}: it could be a "
                        "scalar, a vector or a matrix here, and nothing around it decides; "
                        f"declare it (`{p.name} : scalar`, `{p.name} : vector[n]` or "
                        f"`{p.name} : matrix[n, m]`) or write it with indices", p.pos)

    def unknown(self, name: str) -> bool:
        """Is ``name`` a tensor whose rank nothing in the text states yet (infer.py)?"""
        return (name not in self.tensor_names and name not in self.tensors
                and name not in self.dim_symbols and name not in self.declared_functions
                and name not in SPECIAL_NAMES and not known(name)
                and name not in DELTA_NAMES and name not in QUESTION_WORDS)

    def mixing(self, index_node, matrix_node, what: str):
        return self.err(IndexMismatchError, f"cannot mix index form ({self.src(index_node.pos)}) "
                        f"and matrix form ({self.src(matrix_node.pos)}) in one {what}; index "
                        "the matrix-form operand (like W_ij or (W x)_i) or drop the indices",
                        matrix_node.pos)

    def span(self, pos: S.Pos) -> Span:
        return Span(pos.line, pos.column)

    def statement_source(self, pos: S.Pos) -> str:
        return self.text[pos.start:pos.end].strip()

    def new_ctx(self, *nodes) -> Ctx:
        used, shifted = set(), set()
        for node in nodes:
            used |= index_names_in(node)
            shifted |= shifted_names_in(node)
        return Ctx({}, used, shifted=frozenset(shifted))


def ix(name: str) -> Index:
    return Index(name, PENDING)


_PLURALS = {"index": "indices", "output index": "output indices"}


def plural(n: int, word: str) -> str:
    return f"{n} {word if n == 1 else _PLURALS.get(word, word + 's')}"


def show_free(v: Val) -> str:
    names = sorted(i.name for i in v.expr.free)
    return "free indices {" + ", ".join(names) + "}" if names else "no free indices"


def index_names_in(node) -> set[str]:
    """Every index name written in a surface tree (so fresh names avoid them)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        for attr in ("indices", "over", "out"):
            v = getattr(n, attr, None)
            if isinstance(v, tuple):
                names.update(index_names(v))
        if isinstance(n, S.Cond):
            names.update(cond_names(n.cond))
        stack.extend(S.children(n))
    return names


def shifted_names_in(node) -> set[str]:
    """The index names written inside an affine subscript or a range condition."""
    names: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Name) and n.indices:
            for it in n.indices:
                if isinstance(it, Shift):
                    names.update(it.names)
        if isinstance(n, S.Cond):
            names.update(cond_names(n.cond))
        stack.extend(S.children(n))
    return names
