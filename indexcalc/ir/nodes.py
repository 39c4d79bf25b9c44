"""The index-form intermediate representation: the nodes, and walking them.

Every expression indexcalc handles -- what the user typed, in index or matrix
notation, and every derivative -- is a tree of the small, immutable nodes below.
Each node denotes one scalar component of a tensor: its *free* indices say which
component.  Contraction is always explicit (a ``Sum`` node), however the user
wrote it, and every ``Index`` carries the dimension it ranges over.

Nodes are frozen, slotted dataclasses with structural equality.  Each caches its
free indices, a hash and a sort key when it is built, so equality, hashing and
canonical ordering are cheap.  Build nodes with the smart constructors of
``ir.algebra`` (``add``, ``mul``, ``power``, ``summation``, ``delta``...), not
with the classes: the constructors keep the canonical form.

``Expr.__str__`` prints through ``read.text``, the one import of a higher layer
inside a function in indexcalc: printing needs the function table, which needs
the nodes, so the printer cannot be imported here at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Iterator, Union

from indexcalc.memo import memoised

Dim = Union[str, int]          # a symbolic dimension ("n") or a number (3)
Number = Union[Fraction, float]


def dim_key(dim: Dim) -> tuple:
    """A sort key of a dimension: a number, a symbol, or a derived one (ir.affine.DimExpr)."""
    if isinstance(dim, int):
        return (0, str(dim))
    return (1, dim) if isinstance(dim, str) else (2, str(dim))


@dataclass(frozen=True, slots=True)
class Index:
    """An index name together with the dimension it ranges over."""
    name: str
    dim: Dim

    def __str__(self) -> str:
        return self.name

    @property
    def key(self) -> tuple:
        return (self.name, dim_key(self.dim))


@dataclass(frozen=True, slots=True, eq=False)
class Expr:
    """Base of all IR nodes.  Each node sets, once, in ``__post_init__``: its free
    indices, a structural sort key, the key's hash, and whether it binds indices
    anywhere inside (``binds``)."""
    free: frozenset = field(init=False, repr=False)
    key: tuple = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)
    binds: bool = field(init=False, repr=False)     # a Sum or Apply somewhere inside

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return self is other or (type(self) is type(other) and self._hash == other._hash
                                 and self.key == other.key)

    def __str__(self) -> str:
        from indexcalc.read.text import to_text
        return to_text(self)

    @property
    def children(self) -> tuple["Expr", ...]:
        return ()


def _finish(node: Expr, free: frozenset, key: tuple) -> None:
    object.__setattr__(node, "free", free)
    object.__setattr__(node, "key", key)
    object.__setattr__(node, "_hash", hash(key))
    binds = isinstance(node, (Sum, Apply)) or any(c.binds for c in node.children)
    object.__setattr__(node, "binds", binds)


def _ix(indices: Iterable[Index]) -> tuple:
    return tuple(i.key for i in indices)


@dataclass(frozen=True, slots=True, eq=False)
class Const(Expr):
    """A number: exact (Fraction) where the input was exact, else float."""
    value: Number

    def __post_init__(self):
        try:
            approx = float(self.value)
        except OverflowError:                   # an exact constant beyond float range
            approx = float("inf") if self.value > 0 else float("-inf")
        _finish(self, frozenset(), (0, approx, str(self.value)))


@dataclass(frozen=True, slots=True, eq=False)
class DimSize(Expr):
    """The size of a dimension as a number in an expression (``Σ_i 1 = n``)."""
    dim: Dim

    def __post_init__(self):
        _finish(self, frozenset(), (1, dim_key(self.dim)))


@dataclass(frozen=True, slots=True, eq=False)
class Var(Expr):
    """One component ``X_ij`` of a named tensor (an input or a definition).

    A subscript is an ``Index`` or, for a shifted read (``x_{i+k}``), an
    ``ir.affine.Affine`` (it has ``free`` and ``key``; out of range it reads 0)."""
    name: str
    indices: tuple[Index, ...]

    def __post_init__(self):
        if all(type(i) is Index for i in self.indices):
            _finish(self, frozenset(self.indices), (2, self.name, _ix(self.indices)))
        else:
            free = frozenset().union(*(_sub_free(i) for i in self.indices))
            _finish(self, free, (2, self.name, _ix(self.indices)))


    @property
    def indices_plain(self) -> bool:
        """No shifted subscript (every one an Index)."""
        return all(type(i) is Index for i in self.indices)


def _sub_free(s) -> frozenset:
    return frozenset((s,)) if type(s) is Index else s.free


@dataclass(frozen=True, slots=True, eq=False)
class Delta(Expr):
    """The Kronecker delta ``δ_ab``: 1 where a = b, else 0.  ``b`` may be an affine
    subscript (``δ_{p,i+k}``, from differentiating a shifted read); ``a`` is then an Index."""
    a: Index
    b: Index

    def __post_init__(self):
        _finish(self, _sub_free(self.a) | _sub_free(self.b), (3, self.a.key, self.b.key))


@dataclass(frozen=True, slots=True, eq=False)
class Func(Expr):
    """An elementwise function of a scalar argument: ``exp(z_j)``.

    ``name`` is an entry of the function table or an opaque function (``f``);
    ``order`` counts derivatives of an opaque function (``f'`` has order 1).
    """
    name: str
    arg: Expr
    order: int = 0

    def __post_init__(self):
        _finish(self, self.arg.free, (4, self.name, self.order, self.arg.key))

    @property
    def children(self):
        return (self.arg,)


@dataclass(frozen=True, slots=True, eq=False)
class Apply(Expr):
    """A function of a whole tensor: ``softmax``, ``logsumexp``, ``det``, ``inv``...

    The argument is read as a tensor over the indices ``over`` (bound here, like
    a sum); its other free indices are batch indices and pass through.  The
    result's own indices are ``out``.  For an opaque function (``L(a)``),
    ``order`` counts derivatives and ``out`` holds one group of ``len(over)``
    indices per derivative: ``L'(a)_j`` is ``∂L/∂a_j`` evaluated at ``a``.
    """
    fn: str
    arg: Expr
    over: tuple[Index, ...]
    out: tuple[Index, ...] = ()
    order: int = 0

    def __post_init__(self):
        free = (self.arg.free - frozenset(self.over)) | frozenset(self.out)
        key = (5, self.fn, self.order, _ix(self.over), _ix(self.out), self.arg.key)
        _finish(self, free, key)

    @property
    def children(self):
        return (self.arg,)


@dataclass(frozen=True, slots=True, eq=False)
class Pow(Expr):
    """``base ^ exponent``; division is a product with a negative power."""
    base: Expr
    exponent: Expr

    def __post_init__(self):
        _finish(self, self.base.free | self.exponent.free,
                (6, self.base.key, self.exponent.key))

    @property
    def children(self):
        return (self.base, self.exponent)


@dataclass(frozen=True, slots=True, eq=False)
class Mul(Expr):
    """A product of factors, component by component (no implicit summation)."""
    factors: tuple[Expr, ...]

    def __post_init__(self):
        free = frozenset().union(*(f.free for f in self.factors))
        _finish(self, free, (7, tuple(f.key for f in self.factors)))

    @property
    def children(self):
        return self.factors


@dataclass(frozen=True, slots=True, eq=False)
class Add(Expr):
    """A sum of terms.  A term without free indices broadcasts (``x_i + 1``)."""
    terms: tuple[Expr, ...]

    def __post_init__(self):
        free = frozenset().union(*(t.free for t in self.terms))
        _finish(self, free, (8, tuple(t.key for t in self.terms)))

    @property
    def children(self):
        return self.terms


@dataclass(frozen=True, slots=True, eq=False)
class Sum(Expr):
    """Explicit contraction: ``Σ_{indices} body``; the indices are bound here."""
    indices: tuple[Index, ...]
    body: Expr

    def __post_init__(self):
        _finish(self, self.body.free - frozenset(self.indices),
                (9, _ix(self.indices), self.body.key))

    @property
    def children(self):
        return (self.body,)


ZERO = Const(Fraction(0))
ONE = Const(Fraction(1))
MINUS_ONE = Const(Fraction(-1))


def const(value) -> Const:
    if isinstance(value, Const):
        return value
    hit = _CONSTS.get(value) if not isinstance(value, float) else None
    if hit is not None:
        return hit
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return const(int(value))
        return Const(value)
    made = Const(Fraction(value))
    if len(_CONSTS) < 4096:
        _CONSTS[value] = made
    return made


_CONSTS: dict = {}


def is_const(e: Expr, value=None) -> bool:
    return isinstance(e, Const) and (value is None or e.value == value)


# ---------------------------------------------------------------- traversal

def walk(e: Expr) -> Iterator[Expr]:
    """Every node of ``e``, parents before children."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def size(e: Expr) -> int:
    return sum(1 for _ in walk(e))


def binders(e: Expr) -> tuple[Index, ...]:
    """Indices bound at the top of node ``e`` (by a sum or a tensor function)."""
    if isinstance(e, Sum):
        return e.indices
    if isinstance(e, Apply):
        return e.over
    return ()


def index_names(e: Expr) -> set[str]:
    """Every index name that occurs in ``e``, free or bound (a set of one's own)."""
    return set(_index_names(e))


@memoised(16384)
def _index_names(e: Expr) -> frozenset[str]:
    own = e.indices if isinstance(e, Var) else (e.a, e.b) if isinstance(e, Delta) else (
        e.over + e.out if isinstance(e, Apply) else binders(e))
    if hasattr(e, "sub"):                      # a range condition (ir.affine.InRange)
        own = (e.sub,)
    names = frozenset(j.name for i in own for j in _sub_free(i))
    return names.union(*(_index_names(c) for c in e.children))


@memoised(16384)
def var_names(e: Expr) -> frozenset[str]:
    """The names of the tensors ``e`` reads."""
    if isinstance(e, Var):
        return frozenset((e.name,))
    return frozenset().union(*(var_names(c) for c in e.children))

__all__ = [
    "Add",
    "Apply",
    "Const",
    "Delta",
    "Dim",
    "DimSize",
    "Expr",
    "Func",
    "Index",
    "MINUS_ONE",
    "Mul",
    "Number",
    "ONE",
    "Pow",
    "Sum",
    "Var",
    "ZERO",
    "binders",
    "const",
    "dim_key",
    "index_names",
    "is_const",
    "size",
    "var_names",
    "walk",
]
