"""Matrix expressions and their text: the target language of the matrix-form printer.

``matrix.py`` decides *whether* an index-form result is a matrix formula and
builds it from the small nodes below; this module decides how such a formula
is *spelt*.  The nodes say what a formula means, independently of the vector
convention: a vector is a 1-D array, ``MProd`` is a matrix product whose first
and last factors may be vectors (``u A v`` is the number uᵀAv), ``MOuter`` is
the outer product.  Only the printer knows about layouts: with column vectors
``A x``, ``uᵀ A v`` and ``u vᵀ``; with row vectors the same nodes print
``x Aᵀ``, ``u A v`` and ``outer(u, v)``.  The grammar's vectors are 1-D, with
``u vᵀ`` the one spelling of an outer product, so a row-layout form never
transposes a vector (``uᵀ v`` would read as a dot product).  Printed text is
valid indexcalc input (Unicode spellings ``ᵀ ⊙ − σ``).

Products, ``⊙`` and juxtaposition share one left-associative precedence level
in the grammar, so the printer parenthesises every product that is not the
leftmost operand of a product of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Union

from indexcalc.functions import ELEMENTWISE, TENSOR

Number = Union[Fraction, float]


class MExpr:
    """Base of matrix-expression nodes; ``rank`` is 0 (scalar), 1 (vector) or 2."""
    __slots__ = ()
    rank: int


@dataclass(frozen=True)
class MName(MExpr):
    """A named tensor of the model (or a named intermediate)."""
    name: str
    rank: int


@dataclass(frozen=True)
class MNum(MExpr):
    value: Number
    rank: int = 0


@dataclass(frozen=True)
class MT(MExpr):
    """Transpose of a matrix."""
    arg: MExpr
    rank: int = 2


@dataclass(frozen=True)
class MProd(MExpr):
    """Matrix product ``F1 F2 … Fk``; the first and the last factor may be vectors
    (a leading vector is read as a row, a trailing one as a column)."""
    factors: tuple[MExpr, ...]

    @property
    def rank(self) -> int:
        return 2 - (self.factors[0].rank == 1) - (self.factors[-1].rank == 1)


@dataclass(frozen=True)
class MOuter(MExpr):
    """``u vᵀ``: the matrix with entries u_p v_q."""
    u: MExpr
    v: MExpr
    rank: int = 2


@dataclass(frozen=True)
class MHad(MExpr):
    """Elementwise product ``a ⊙ b ⊙ …`` of operands of one shape."""
    factors: tuple[MExpr, ...]

    @property
    def rank(self) -> int:
        return self.factors[0].rank


@dataclass(frozen=True)
class MScale(MExpr):
    """``c s1 s2 … X``: a coefficient and scalar factors times one array (or a scalar)."""
    coeff: Number
    scalars: tuple[MExpr, ...]
    arg: MExpr | None = None

    @property
    def rank(self) -> int:
        return self.arg.rank if self.arg is not None else 0


@dataclass(frozen=True)
class MAdd(MExpr):
    """A sum; scalar terms broadcast over vector and matrix terms."""
    terms: tuple[MExpr, ...]

    @property
    def rank(self) -> int:
        return max(t.rank for t in self.terms)


@dataclass(frozen=True)
class MPow(MExpr):
    """``x^c``, elementwise for a vector (never used for a matrix)."""
    base: MExpr
    exponent: MExpr

    @property
    def rank(self) -> int:
        return self.base.rank


@dataclass(frozen=True)
class MCall(MExpr):
    """``f(x)``: an elementwise function, a tensor function (softmax, inv, det),
    ``diag``, ``tr`` or ``sum``; ``order`` primes for derivatives of opaque functions."""
    fn: str
    arg: MExpr
    rank: int
    order: int = 0


def diag(v: MExpr) -> MExpr:
    return MCall("diag", v, 2)


def trace(m: MExpr) -> MExpr:
    return MCall("tr", m, 0)


def total(v: MExpr) -> MExpr:
    return MCall("sum", v, 0)


# ---------------------------------------------------------------- smart constructors

def prod(*factors: MExpr) -> MExpr:
    """A matrix product; scalars and scalings are pulled out, nested products
    flattened (a vector-valued chain first in a product is turned round into its
    row form ``x Mᵀ``, last into its column form ``M x``)."""
    coeff, scalars, arrays = Fraction(1), [], []
    for f in factors:
        if isinstance(f, MScale) and f.arg is not None:
            coeff, scalars, f = coeff * f.coeff, scalars + list(f.scalars), f.arg
        (arrays if f.rank else scalars).append(f)
    flat: list[MExpr] = []
    for k, f in enumerate(arrays):
        if not isinstance(f, MProd):
            flat.append(f)
            continue
        fs = f.factors
        if f.rank == 1 and len(arrays) > 1 and (fs[-1].rank == 1) != (k == len(arrays) - 1):
            fs = tuple(transpose(g) if g.rank == 2 else g for g in reversed(fs))
        flat.extend(fs)
    body = None if not flat else flat[0] if len(flat) == 1 else MProd(tuple(flat))
    return scale(coeff, scalars, body)


def hadamard(*factors: MExpr) -> MExpr:
    flat: list[MExpr] = []
    coeff, scalars = Fraction(1), []
    for f in factors:
        if isinstance(f, MScale) and f.arg is not None and f.arg.rank > 0:
            coeff, scalars, f = coeff * f.coeff, scalars + list(f.scalars), f.arg
        flat.extend(f.factors if isinstance(f, MHad) else (f,))
    body = flat[0] if len(flat) == 1 else MHad(tuple(flat))
    return scale(coeff, scalars, body)


def scale(coeff: Number, scalars, arg: MExpr | None) -> MExpr:
    scalars = tuple(scalars)
    if isinstance(arg, MScale):
        coeff, scalars, arg = coeff * arg.coeff, scalars + arg.scalars, arg.arg
    if arg is not None and arg.rank == 0:
        scalars, arg = scalars + (arg,), None
    if coeff == 1 and not scalars and arg is not None:
        return arg
    if coeff == 1 and len(scalars) == 1 and arg is None:
        return scalars[0]
    if not scalars and arg is None:
        return MNum(coeff)
    return MScale(coeff, scalars, arg)


def transpose(m: MExpr) -> MExpr:
    return m.arg if isinstance(m, MT) else MT(m)


# ---------------------------------------------------------------- printing

def _denominator(f: MExpr) -> bool:
    return isinstance(f, MPow) and isinstance(f.exponent, MNum) and f.exponent.value < 0


def _reciprocal(f: MPow) -> MExpr:
    power = -f.exponent.value
    return f.base if power == 1 else MPow(f.base, MNum(power))


ADD, PROD, POW, ATOM = 0, 1, 2, 3
COL, ROW = "col", "row"


def number_text(value: Number) -> str:
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else str(value)
    mantissa, e, exponent = repr(value).partition("e")          # 1e-5, not 1e-05
    return f"{mantissa}e{int(exponent)}" if e else mantissa


def func_text(fn: str, order: int) -> str:
    entry = ELEMENTWISE.get(fn) or TENSOR.get(fn)
    return (entry.unicode if entry else fn) + "'" * order


class MatrixPrinter:
    """Spells matrix expressions for one vector convention (``layout``)."""

    def __init__(self, layout: str = "column"):
        if layout not in ("column", "row"):
            raise ValueError(f"layout must be 'column' or 'row', not {layout!r}")
        self.natural = COL if layout == "column" else ROW

    def text(self, e: MExpr) -> str:
        return self.show(e, self.natural if e.rank == 1 else None)[0]

    # A vector is shown as a column or a row (``way``); a matrix as itself or
    # transposed (``way`` is True for transposed); a scalar ignores ``way``.
    def show(self, e: MExpr, way=None) -> tuple[str, int]:
        if e.rank == 2 and way is None:
            way = False
        if e.rank == 1 and (way is None or self.natural == ROW):
            way = self.natural          # row vectors: 1-D, never transposed (see show_MOuter)
        if e.rank == 1 and way != self.natural and isinstance(e, (MAdd, MHad, MPow)):
            return self.tee(*self.show(e, self.natural))
        method = getattr(self, "show_" + type(e).__name__)
        return method(e, way)

    def at(self, e: MExpr, way, level: int) -> str:
        s, p = self.show(e, way)
        return f"({s})" if p < level else s

    def flip(self, e: MExpr, way):
        """The orientation asking for ``e`` the other way round."""
        if e.rank == 1:
            return ROW if way == COL else COL
        return not way if e.rank == 2 else way

    def tee(self, s: str, p: int) -> tuple[str, int]:
        return (s if p >= ATOM else f"({s})") + "ᵀ", ATOM

    # ---------------------------------------------------------------- leaves

    def show_MName(self, e: MName, way):
        if (e.rank == 1 and way != self.natural) or (e.rank == 2 and way):
            return e.name + "ᵀ", ATOM
        return e.name, ATOM

    def show_MNum(self, e: MNum, way):
        if e.value < 0:
            return "−" + number_text(-e.value), ADD
        text = number_text(e.value)
        return text, PROD if "/" in text else ATOM         # x^(1/2), not x^1/2

    def show_MT(self, e: MT, way):
        return self.show(e.arg, not way)

    def show_MCall(self, e: MCall, way):
        if e.fn == "diag":                       # symmetric
            return f"diag({self.show(e.arg, self.natural)[0]})", ATOM
        arg_way = self.natural if e.arg.rank == 1 else None
        s = f"{func_text(e.fn, e.order)}({self.show(e.arg, arg_way)[0]})"
        if (e.rank == 1 and way != self.natural) or (e.rank == 2 and way):
            return self.tee(s, ATOM)
        return s, ATOM

    def show_MPow(self, e: MPow, way):
        return f"{self.at(e.base, way, ATOM)}^{self.at(e.exponent, None, ATOM)}", POW

    # ---------------------------------------------------------------- products

    def show_MProd(self, e: MProd, way):
        fs = list(e.factors)
        first, last = fs[0].rank == 1, fs[-1].rank == 1
        if first and last:                               # u … v: a number
            parts = [(fs[0], ROW)] + [(f, False) for f in fs[1:-1]] + [(fs[-1], COL)]
        elif (last and way == COL) or (first and way == ROW) or (e.rank == 2 and not way):
            parts = [(f, self.end(f, k == 0)) for k, f in enumerate(fs)]
        else:                                            # the reversed, transposed chain
            parts = [(f, self.end(f, k > 0, flip=True)) for k, f in enumerate(reversed(fs))]
        return self.chain(parts)

    @staticmethod
    def end(f: MExpr, leading: bool, flip: bool = False):
        """How a factor of a chain is shown: a leading vector as a row, a trailing
        one as a column, matrices as they are (or all of it the other way round)."""
        if f.rank == 1:
            return (COL if flip else ROW) if leading else (ROW if flip else COL)
        return flip if f.rank == 2 else None

    def chain(self, parts: list[tuple[MExpr, object]]) -> tuple[str, int]:
        out = []
        for k, (f, way) in enumerate(parts):
            leading_prod = k == 0 and isinstance(f, MProd)
            out.append(self.at(f, way, PROD if leading_prod else POW))
        return " ".join(out), PROD

    def show_MOuter(self, e: MOuter, way):
        u, v = (e.v, e.u) if way else (e.u, e.v)
        if self.natural == ROW:         # `uᵀ v` would read as a dot product of 1-D vectors
            return f"outer({self.show(u)[0]}, {self.show(v)[0]})", ATOM
        return f"{self.side(u, COL)} {self.side(v, ROW)}", PROD

    def side(self, v: MExpr, way) -> str:
        """A factor of an outer product; a compound one the other way round than
        the layout's vectors is written as a transpose: ``y (τ o − t)ᵀ``."""
        if way == self.natural or isinstance(v, MName):
            return self.at(v, way, POW)
        return self.tee(*self.show(v, self.natural))[0]

    def show_MHad(self, e: MHad, way):
        num = [f for f in e.factors if not _denominator(f)]
        out = []
        for k, f in enumerate(num):
            lead = k == 0 and isinstance(f, (MProd, MHad))
            out.append(self.at(f, way, PROD if lead else POW))
        return self.over(" ⊙ ".join(out) or "1", e.factors, way), PROD

    def over(self, top: str, factors, way) -> str:
        """``top / d1 / d2 …`` for the factors of ``factors`` with negative powers."""
        dens = [_reciprocal(f) for f in factors if _denominator(f)]
        return top + "".join(" / " + self.at(d, way if d.rank else None, POW) for d in dens)

    def show_MScale(self, e: MScale, way):
        neg = e.coeff < 0
        c = -e.coeff if neg else e.coeff
        factors = e.scalars + ((e.arg,) if e.arg is not None else ())
        num = [f for f in e.scalars if not _denominator(f)]
        arg = e.arg if e.arg is not None and not _denominator(e.arg) else None
        parts = [] if c == 1 and (num or arg is not None) else [number_text(c)]
        parts += [self.at(f, None, POW) for f in num]
        if arg is not None:
            loose = isinstance(arg, (MProd, MOuter)) or not parts
            parts.append(self.at(arg, way, PROD if loose else POW))
        s = self.over(" ".join(parts), factors, way)
        return ("−" + s, ADD) if neg else (s, PROD)

    def show_MAdd(self, e: MAdd, way):
        out = []
        for k, t in enumerate(e.terms):
            s, p = self.show(t, way if t.rank else None)
            if s.startswith("−") and p == ADD:
                out.append(("− " if k else "−") + s[1:])
            else:
                out.append(("+ " if k else "") + s)
        return " ".join(out), ADD
