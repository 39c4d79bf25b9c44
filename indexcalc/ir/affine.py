"""Index arithmetic: affine subscripts, derived dimensions and range conditions.

A convolution reads its input at a *shifted* position: ``y_i = Σ_k w_k x_{i+k}``.
This module gives the IR the three things that takes, as small frozen values
with structural equality, like the nodes:

- ``Affine``: a subscript ``Σ_j c_j i_j + o`` (rational coefficients ``c_j``, an
  integer-or-rational offset ``o``) read on an axis of dimension ``dim``.  A
  ``Var``'s subscripts are ``Index`` objects or ``Affine`` ones; a plain index is
  always an ``Index`` (``affine`` returns it), so ordinary models are unchanged.
  Rational coefficients arise only from differentiation: solving ``p = 2i + k``
  for ``i`` gives ``(p − k)/2``.
- ``DimExpr``: a derived dimension, the *valid* range of an index:
  ``n − K + 1``, or ``⌊(n − K)/2⌋ + 1`` for stride 2 (value ``⌊num/div⌋ + 1``).
- ``InRange``: the range condition ``[0 ≤ a < dim]`` (and ``a`` an integer), an
  IR node worth 1 or 0.

Semantics.  In the IR a read ``x_a`` outside ``0 ≤ a < dim`` (or at a
non-integer ``a``) is zero.  The user's own text may read out of range only
where padding was asked for (lowering checks that); derivatives read out of
range all the time -- the full convolution of a backward pass is exactly the
zero-padded read ``Σ_k c_{p−k} w_k``.  A range condition that a ``Var`` read in
the same product already implies is therefore redundant and is dropped
(``implied``); the printers state it again from the reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Union

from indexcalc.errors import EvaluationError
from indexcalc.ir.nodes import ONE, ZERO, Dim, Expr, Index, _finish, dim_key

Coef = Union[int, Fraction]
Linear = tuple[dict, Fraction]          # ({Index: coefficient}, offset)


# ---------------------------------------------------------------- derived dimensions

@dataclass(frozen=True, slots=True)
class DimExpr:
    """``⌊(Σ c_d d + offset) / div⌋ + 1`` over symbolic dimensions ``d`` (for
    ``div == 1`` simply ``Σ c_d d + offset + 1``).  Built by ``dim_expr``, which
    folds a constant into an ``int`` and ``1·n + 0`` into ``"n"``.  ``name`` is the
    user's own symbol where a declaration named this range (``y : vector[m]`` read
    as ``x_{i+k}``: ``m = n − K + 1``); it prints as that name and proves bounds
    as its value."""
    terms: tuple[tuple[str, int], ...]
    offset: int
    div: int = 1
    name: str | None = None

    def value(self, dims: dict) -> int:
        num = sum(c * dims[d] for d, c in self.terms) + self.offset
        return num // self.div + 1

    def size(self, dims: dict) -> int:
        """``value``, refused when the range is empty (an input shorter than its kernel)."""
        v = self.value(dims)
        if v < 1:
            shown = ", ".join(f"{d} = {dims[d]}" for d in self.symbols)
            raise EvaluationError(f"the range {self} is {v} for {shown}: the arrays are too "
                                  "small for the shifted reads (the valid range is empty)")
        return v

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        return self.value_text()

    def value_text(self) -> str:
        """The range as arithmetic in the other sizes (``n − K + 1``), even where named."""
        num = _show_linear(dict(self.terms), self.offset + (1 if self.div == 1 else 0))
        if self.div == 1:
            return num
        return f"⌊({num})/{self.div}⌋ + 1"

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.terms)


def dim_expr(terms: dict, offset: int, div: int = 1) -> Dim:
    """The dimension ``⌊(Σ c_d d + offset)/div⌋ + 1``, in its simplest spelling."""
    terms = {d: c for d, c in terms.items() if c}
    if not terms:
        return (offset // div) + 1
    if div == 1 and offset == -1 and len(terms) == 1 and next(iter(terms.values())) == 1:
        return next(iter(terms))
    return DimExpr(tuple(sorted(terms.items())), offset, div)


def dim_linear(dim: Dim) -> tuple[dict, Fraction]:
    """An upper bound of ``dim − 1`` as a linear form in the symbols (exact unless
    ``dim`` has a floor)."""
    if isinstance(dim, int):
        return {}, Fraction(dim - 1)
    if isinstance(dim, DimExpr):
        return ({d: Fraction(c, dim.div) for d, c in dim.terms},
                Fraction(dim.offset, dim.div))
    return {dim: Fraction(1)}, Fraction(-1)


def dim_lower(dim: Dim) -> tuple[dict, Fraction]:
    """A lower bound of ``dim − 1`` as a linear form (``⌊a/s⌋ ≥ (a − s + 1)/s``)."""
    terms, off = dim_linear(dim)
    if isinstance(dim, DimExpr) and dim.div > 1:
        off -= Fraction(dim.div - 1, dim.div)
    return terms, off


def dim_value(dim: Dim, dims: dict) -> int:
    if isinstance(dim, int):
        return dim
    if isinstance(dim, DimExpr):
        return dim.size(dims)
    return dims[dim]




# ---------------------------------------------------------------- affine subscripts

@dataclass(frozen=True, slots=True)
class Affine:
    """The subscript ``Σ c_j i_j + offset`` on an axis of dimension ``dim``."""
    terms: tuple[tuple[Index, Fraction], ...]
    offset: Fraction
    dim: Dim
    free: frozenset = field(init=False, repr=False, compare=False)
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "free", frozenset(i for i, _ in self.terms))
        key = ("~", tuple((i.key, c) for i, c in self.terms), self.offset, dim_key(self.dim))
        object.__setattr__(self, "key", key)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Affine) and self.key == other.key

    @property
    def name(self) -> str:
        return show_sub(self)

    def __str__(self) -> str:
        return show_sub(self)

    def map(self, fn) -> "Sub":
        """The subscript with ``fn`` applied to each index (the axis keeps its dimension)."""
        return affine({fn(i): c for i, c in self.terms}, self.offset, self.dim)

    @property
    def integral(self) -> bool:
        return self.offset.denominator == 1 and all(c.denominator == 1 for _, c in self.terms)


Sub = Union[Index, Affine]


def affine(terms: dict, offset: Coef, dim: Dim) -> Sub:
    """The subscript ``Σ terms[i]·i + offset`` on an axis of dimension ``dim``: the
    index itself when it is one index, coefficient 1, offset 0, of that dimension."""
    terms = {i: Fraction(c) for i, c in terms.items() if c}
    offset = Fraction(offset)
    if not offset and len(terms) == 1:
        (i, c), = terms.items()
        if c == 1 and i.dim == dim:
            return i
    return Affine(tuple(sorted(terms.items(), key=lambda t: t[0].key)), offset, dim)


def linear(s: Sub) -> Linear:
    """A subscript as ``({index: coefficient}, offset)``."""
    if isinstance(s, Index):
        return {s: Fraction(1)}, Fraction(0)
    return dict(s.terms), s.offset


def sub_free(s: Sub) -> frozenset:
    return frozenset((s,)) if isinstance(s, Index) else s.free








def substitute_sub(s: Sub, mapping: dict) -> Sub:
    """``s`` with indices replaced: ``mapping`` sends an Index to an Index or to a
    linear form ``({index: c}, offset)``."""
    if not sub_free(s) & mapping.keys():
        return s
    terms, off = linear(s)
    out: dict = {}
    for i, c in terms.items():
        repl = mapping.get(i, i)
        rt, ro = linear(repl) if not isinstance(repl, tuple) else repl
        for j, d in rt.items():
            out[j] = out.get(j, 0) + c * d
        off += c * ro
    return affine(out, off, s.dim)




def solve(a: Sub, b: Sub, i: Index) -> Linear | None:
    """Solve ``a = b`` for the index ``i``: ``({index: c}, offset)``, or None
    where ``i`` does not occur."""
    ta, oa = linear(a)
    tb, ob = linear(b)
    diff = dict(ta)
    for j, c in tb.items():
        diff[j] = diff.get(j, 0) - c
    diff = {j: c for j, c in diff.items() if c}
    c = diff.pop(i, 0)
    if not c:
        return None
    return {j: -d / c for j, d in diff.items()}, -(oa - ob) / c


# ---------------------------------------------------------------- range conditions

@dataclass(frozen=True, slots=True, eq=False)
class InRange(Expr):
    """``[0 ≤ sub < sub.dim]``: 1 where the subscript is an integer in range, else 0."""
    sub: Affine

    def __post_init__(self):
        _finish(self, self.sub.free, (10, self.sub.key))


def in_range(sub: Sub) -> Expr:
    """The range condition of ``sub``, folded to 1 or 0 where it is decided."""
    decided = decide(sub)
    if decided is True:
        return ONE
    if decided is False:
        return ZERO
    return InRange(sub)


def _max_min(s: Sub) -> tuple[tuple[dict, Fraction], tuple[dict, Fraction]] | None:
    """Upper and lower bounds of ``s`` over its indices' ranges, as linear forms in
    the dimension symbols (None where an index's range is not known)."""
    terms, off = linear(s)
    hi: dict = {}
    lo: dict = {}
    hoff = loff = off
    for i, c in terms.items():
        if not _known(i.dim):
            return None
        top, toff = dim_linear(i.dim) if c > 0 else dim_lower(i.dim)
        target, o = (hi, c * toff) if c > 0 else (lo, c * toff)
        for d, k in top.items():
            target[d] = target.get(d, 0) + c * k
        if c > 0:
            hoff += o
        else:
            loff += o
    return (hi, hoff), (lo, loff)


def _known(dim: Dim) -> bool:
    return not (isinstance(dim, str) and dim.startswith(("?", "=")))


def _nonneg(terms: dict, off: Fraction) -> bool:
    """Is ``Σ c_d d + off ≥ 0`` for every assignment of dimensions ≥ 1?"""
    return all(c >= 0 for c in terms.values()) and sum(terms.values()) + off >= 0


def _combine(a: tuple[dict, Fraction], b: tuple[dict, Fraction], sign: int):
    terms = dict(a[0])
    for d, c in b[0].items():
        terms[d] = terms.get(d, 0) + sign * c
    return {d: c for d, c in terms.items() if c}, a[1] + sign * b[1]


def upper_ok(s: Sub) -> bool:
    """Is ``s ≤ dim − 1`` for every value of its indices (as far as can be shown)?"""
    bounds = _max_min(s)
    if bounds is None:
        return False
    return _nonneg(*_combine(dim_lower(s.dim), bounds[0], -1))


def upper_fails(s: Sub) -> bool:
    """Does ``s`` surely pass ``dim − 1`` for some value of its indices (for all sizes)?"""
    bounds = _max_min(s)
    if bounds is None:
        return False
    over = _combine(bounds[0], dim_linear(s.dim), -1)            # max − (dim − 1)
    return _nonneg(over[0], over[1] - 1)


def lower_ok(s: Sub) -> bool:
    """Is ``s ≥ 0`` for every value of its indices?"""
    bounds = _max_min(s)
    return bounds is not None and _nonneg(*bounds[1])


def decide(s: Sub) -> bool | None:
    """True where ``s`` is always an integer in range, False where never, else None."""
    if isinstance(s, Index):
        return True
    if s.integral and lower_ok(s) and upper_ok(s):
        return True
    if not s.terms:
        if s.offset.denominator != 1 or s.offset < 0:
            return False
        if isinstance(s.dim, int):
            return s.offset < s.dim
    return None


def implied_by(s: Sub, guards: Iterable["Affine"]) -> bool:
    """Do range conditions ``guards`` (subscripts known to be in their ranges) keep the
    read at ``s`` in range?  The same subscript on a range no wider, or one index
    bounded by a condition on it alone (``[1 ≤ p < n]`` keeps ``x_{p−1}`` in range)."""
    if isinstance(s, Index):
        return True
    terms, off = linear(s)
    for g in guards:
        gt, go = linear(g)
        if gt == terms and go == off and (g.dim == s.dim or _nonneg(
                *_combine(dim_lower(s.dim), dim_linear(g.dim), -1))):
            return True
        if len(terms) == 1 and len(gt) == 1 and gt.keys() == terms.keys() and \
                list(gt.values()) == [1]:
            c = next(iter(terms.values()))
            lo = ({}, -go)                                  # the index's interval
            hi = _combine(dim_linear(g.dim), ({}, go), -1)
            low, high = (lo, hi) if c > 0 else (hi, lo)
            low = ({d: c * k for d, k in low[0].items()}, c * low[1] + off)
            high = ({d: c * k for d, k in high[0].items()}, c * high[1] + off)
            if _nonneg(*low) and _nonneg(*_combine(dim_lower(s.dim), high, -1)):
                return True
    return False




# ---------------------------------------------------------------- printing

def _frac(c: Fraction) -> str:
    return str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"


def _show_linear(terms: dict, offset, minus: str = "−", spaced: bool = True) -> str:
    """``2i + k − 1`` from ``{i: 2, k: 1}, −1`` (names or Index objects)."""
    parts: list[tuple[bool, str]] = []
    ordered = sorted(terms.items(), key=lambda t: Fraction(t[1]) < 0)   # positive first
    for name, c in ordered:
        c = Fraction(c)
        label = str(name)
        mag = abs(c)
        text = label if mag == 1 else f"{_frac(mag)}{label}" if mag.denominator == 1 \
            else f"{_frac(mag)} {label}"
        parts.append((c < 0, text))
    offset = Fraction(offset)
    if offset or not parts:
        parts.append((offset < 0, _frac(abs(offset))))
    sep_p, sep_m = (" + ", f" {minus} ") if spaced else ("+", minus)
    out = ("-" if minus == "-" else "−") if parts[0][0] else ""
    out += parts[0][1]
    for negative, text in parts[1:]:
        out += (sep_m if negative else sep_p) + text
    return out


def split_den(s: Affine) -> tuple[dict, Fraction, int]:
    """``(p − k)/2`` as ``({p: 1, k: −1}, 0, 2)``: integer numerator over a common
    denominator."""
    den = 1
    for _, c in s.terms:
        den = den * c.denominator // _gcd(den, c.denominator)
    den = den * s.offset.denominator // _gcd(den, s.offset.denominator)
    return {i: c * den for i, c in s.terms}, s.offset * den, den


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def show_sub(s: Sub, minus: str = "−", spaced: bool = False) -> str:
    """A subscript as text: ``i+k``, ``2i+k``, ``p−k``, ``(p−k)/2``."""
    if isinstance(s, Index):
        return s.name
    terms, off, den = split_den(s)
    num = _show_linear({i.name: c for i, c in terms.items()}, off, minus, spaced)
    if den == 1:
        return num
    return f"({num})/{den}"


def show_condition(s: Affine, minus: str = "−", le: str = "≤") -> str:
    """``[0 ≤ p − k < m]``; one index alone moves the offset: ``[1 ≤ p < n]``; a
    fractional subscript states its divisibility: ``[2 | p − k, 0 ≤ (p − k)/2 < m]``."""
    terms, off, den = split_den(s)
    parts = []
    if den > 1:
        num = _linear_text({i.name: x for i, x in terms.items()}, off, minus)
        parts.append(f"{den} | {num}")
    dim = _dim_text(s.dim, minus)
    if den == 1 and len(terms) == 1 and list(terms.values()) == [1] and off \
            and not (isinstance(s.dim, DimExpr) and s.dim.div > 1):
        (i, _), = terms.items()
        lo = -off
        hi = _dim_plus(s.dim, -off, minus)
        parts.append(f"{_num(lo, minus)} {le} {i.name} < {hi}")
    else:
        parts.append(f"0 {le} {show_sub(s, minus=minus, spaced=True)} < {dim}")
    return "[" + ", ".join(parts) + "]"


def _num(x, minus: str) -> str:
    return f"{minus}{-x}" if x < 0 else str(x)


def _linear_text(terms: dict, off, minus: str) -> str:
    fake = Affine(tuple(sorted(((Index(n, 1), c) for n, c in terms.items()),
                               key=lambda t: t[0].key)), off, 1)
    return show_sub(fake, minus=minus, spaced=True)


def _dim_text(dim, minus: str) -> str:
    text = str(dim)
    return text.replace("−", minus)


def _dim_plus(dim, k, minus: str) -> str:
    """``dim + k`` as text (``n − 1``, ``m + 2``, a number folded)."""
    if isinstance(dim, int):
        return str(dim + k)
    if k == 0:
        return _dim_text(dim, minus)
    if isinstance(dim, DimExpr) and dim.div == 1 and dim.name is None:
        return str(DimExpr(dim.terms, dim.offset + int(k), 1)).replace("−", minus)
    sign = f" {minus} " if k < 0 else " + "
    return f"{_dim_text(dim, minus)}{sign}{abs(k)}"




__all__ = ["Affine", "DimExpr", "InRange", "Linear", "Sub", "affine", "decide", "dim_expr",
           "dim_linear", "dim_lower", "dim_value", "implied_by", "in_range", "linear",
           "lower_ok", "show_condition", "show_sub", "solve", "split_den", "sub_free",
           "substitute_sub", "upper_fails", "upper_ok"]
