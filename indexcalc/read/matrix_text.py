"""The text of matrix expressions: how a matrix-form result is spelt.

``mexpr.py`` holds the nodes; this module prints them for one vector
convention.  With column vectors ``A x``, ``uᵀ A v`` and ``u vᵀ``; with row
vectors the same nodes print ``x Aᵀ``, ``u A v`` and ``outer(u, v)``.  The
grammar's vectors are 1-D, with ``u vᵀ`` the one spelling of an outer product,
so a row-layout form never transposes a vector (``uᵀ v`` would read as a dot
product) -- except the ones vector, written ``𝟙ᵀ X`` for column sums as every
textbook does.  Printed text is valid indexcalc input (Unicode spellings
``ᵀ ⊙ − σ``); the ones vector ``𝟙`` (never ``1``, which the grammar reads as the
number) and the identity ``I`` take their size from the context.
A Kronecker product ``A ⊗ B`` is printed for vec forms only.

Products, ``⊙`` and juxtaposition share one left-associative precedence level
in the grammar, so the printer parenthesises every product that is not the
leftmost operand of a product of the same kind.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.read.mexpr import (
    MT,
    MAdd,
    MCall,
    MExpr,
    MHad,
    MIdentity,
    MKron,
    MName,
    MNum,
    MOnes,
    MOuter,
    MPow,
    MProd,
    MScale,
    Number,
    is_symmetric,
)
from indexcalc.read.spelling import norm_of
from indexcalc.syntax.scope import IDENTITY, ONES

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
        return str(value)
    mantissa, e, exponent = repr(value).partition("e")          # 1e-5, not 1e-05
    return f"{mantissa}e{int(exponent)}" if e else mantissa


def func_text(fn: str, order: int) -> str:
    entry = ELEMENTWISE.get(fn) or TENSOR.get(fn)
    return (entry.unicode if entry else fn) + "'" * order


class MatrixPrinter:
    """Spells matrix expressions for one vector convention (``layout``)."""

    def __init__(self, layout: str = "column", symmetric: frozenset = frozenset()):
        if layout not in ("column", "row"):
            raise ValueError(f"layout must be 'column' or 'row', not {layout!r}")
        self.natural = COL if layout == "column" else ROW
        self.loose = True        # a vector's orientation is free (not inside u vᵀ)
        self.symmetric = symmetric                          # names: Sᵀ is written S

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
            return self.tee(*self.fixed(e, self.natural))
        method = getattr(self, "show_" + type(e).__name__)
        return method(e, way)

    def fixed(self, e: MExpr, way, loose: bool = False) -> tuple[str, int]:
        """``e`` shown with its vectors in the orientation asked for: the grammar reads
        ``𝟙ᵀ X`` as a row, which a transpose or a product around it would see
        (``(𝟙ᵀ X − s)ᵀ (s − 𝟙ᵀ X)`` is an outer product).  With ``loose``, free
        again: a function's argument, whose orientation nothing sees."""
        loose, self.loose = self.loose, loose
        try:
            return self.show(e, way)
        finally:
            self.loose = loose

    def at(self, e: MExpr, way, level: int, fixed: bool = False) -> str:
        """``e`` parenthesised below ``level``; with ``fixed``, its vectors in the
        orientation asked for (see ``fixed``)."""
        s, p = self.fixed(e, way) if fixed else self.show(e, way)
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
        if (e.rank == 1 and way != self.natural) or (e.rank == 2 and way and not self.sym(e)):
            return e.name + "ᵀ", ATOM
        return e.name, ATOM

    def show_MOnes(self, e: MOnes, way):
        return ONES, ATOM

    def show_MIdentity(self, e: MIdentity, way):
        return IDENTITY, ATOM

    def show_MKron(self, e: MKron, way):
        parts = []
        for f, kind in zip((e.a, e.b), e.kinds):
            if kind == "mat":
                parts.append(self.at(f, False, POW))
            else:                        # vectors as columns, ᵀ for a row, in both layouts
                s, p = MatrixPrinter("column").show(f, COL)
                s = s if p >= POW else f"({s})"
                parts.append(s + "ᵀ" if kind == "row" else s)
        return " ⊗ ".join(parts), PROD

    def show_MNum(self, e: MNum, way):
        if e.value < 0:
            return "−" + number_text(-e.value), ADD
        text = number_text(e.value)
        return text, PROD if "/" in text or "e-" in text else ATOM   # x^(1/2), not x^1/2

    def show_MT(self, e: MT, way):
        return self.show(e.arg, not way)

    def sym(self, e: MExpr) -> bool:
        return bool(self.symmetric) and is_symmetric(e, self.symmetric)

    def show_MCall(self, e: MCall, way):
        if e.fn == "diag":                       # symmetric
            arg_way = self.natural if e.arg.rank == 1 else None
            return f"diag({self.fixed(e.arg, arg_way, loose=True)[0]})", ATOM
        if norm_of(e) is not None:              # sqrt(sum(x^2)) as the user wrote it
            return f"norm({self.fixed(norm_of(e), None, loose=True)[0]})", ATOM
        arg_way = self.natural if e.arg.rank == 1 else None
        # a vector's function is a vector the way its argument is (softmax(𝟙ᵀ X) is a
        # row): its argument keeps the orientation the ᵀ below assumes
        s = f"{func_text(e.fn, e.order)}({self.fixed(e.arg, arg_way, loose=e.rank != 1)[0]})"
        if (e.rank == 1 and way != self.natural) or (e.rank == 2 and way and not self.sym(e)):
            return self.tee(s, ATOM)
        return s, ATOM

    def show_MPow(self, e: MPow, way):
        if _denominator(e):                             # x^-3 -> 1 / x^3
            return self.over("1", (e,), way), PROD
        return f"{self.at(e.base, way, ATOM)}^{self.at(e.exponent, None, ATOM)}", POW

    # ---------------------------------------------------------------- products

    def show_MProd(self, e: MProd, way):
        fs = list(e.factors)
        first, last = fs[0].rank == 1, fs[-1].rank == 1
        if first and last:                               # u … v: a number
            parts = [(fs[0], ROW)] + [(f, False) for f in fs[1:-1]] + [(fs[-1], COL)]
        elif (last and way == COL) or (first and way == ROW) or (e.rank == 2 and not way) \
                or (self.loose and isinstance(fs[0], MOnes)) \
                or (self.loose and isinstance(fs[-1], MOnes)):            # 𝟙ᵀ X, X 𝟙
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
            out.append(self.at(f, way, PROD if leading_prod else POW, fixed=True))
            if k == 0 and isinstance(f, MOnes):
                out[0] += "ᵀ"                            # 1ᵀ X: the column sums of X
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
            return self.at(v, way, POW, fixed=True)
        return self.tee(*self.fixed(v, self.natural))[0]

    def show_MHad(self, e: MHad, way):
        if e.rank == 2 and way is True:                # (M ⊙ R)ᵀ, not Mᵀ ⊙ Rᵀ
            return self.tee(*self.show(e, False))
        num = [f for f in e.factors if not _denominator(f)]
        out = []
        for k, f in enumerate(num):
            lead = k == 0 and isinstance(f, (MProd, MHad))
            out.append(self.at(f, way, PROD if lead else POW))
        return self.over(" ⊙ ".join(out) or "1", e.factors, way), PROD

    def over(self, top: str, factors, way) -> str:
        """``top / d1 / d2 …`` for the factors of ``factors`` with negative powers."""
        dens = [_reciprocal(f) for f in factors if _denominator(f)]
        if len(dens) > 1 and all(d.rank == 0 for d in dens):        # x / (n s), not x / n / s
            return top + " / (" + " ".join(self.at(d, None, POW) for d in dens) + ")"
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
            loose = isinstance(arg, (MProd, MOuter, MKron)) or not parts
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
