"""Printing IR as index notation that indexcalc parses back.

Printing is the product: a derivative is only useful if a person can read it
and paste it back.  So the text printed here is valid input (``parse(print(e))``
gives ``e`` again, up to renaming bound indices) and is laid out the way a
person writes it: constants first, then tensors in the order of their indices,
then function calls, parenthesised sums and explicit ``Σ`` sums last; factors
with negative powers go to a denominator; a positive term leads a sum.

The traversal lives in ``Printer`` and decides *what* goes where (order,
signs, parentheses, denominators).  *How* each piece is spelt is a handful of
hooks (``subscript``, ``paren``, ``division``, ``power``, ``sum_sign``...) that
``TextPrinter`` (Unicode or ASCII) and ``latex.LatexPrinter`` fill in, so the
two printers share one traversal.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

from indexcalc import ir
from indexcalc.functions import ELEMENTWISE, TENSOR, constant_symbol
from indexcalc.ir import (
    Add,
    Apply,
    Const,
    Delta,
    DimSize,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
)
from indexcalc.ir.affine import DimExpr, InRange
from indexcalc.ir.names import call_letter
from indexcalc.read.bounds import condition_text, sub_text, unproven_reads, with_bounds
from indexcalc.read.spelling import normed
from indexcalc.syntax.subscripts import NAME, subscript_text

# Precedence levels of printed forms: a context asks for a minimum level and
# parenthesises anything printed below it.
SIGNED, PRODUCT, POWER, ATOM = 0, 1, 2, 3

# ASCII spellings of the non-ASCII letters that may occur in names.
ASCII_NAMES = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu",
    "ν": "nu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon",
    "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta",
    "Θ": "Theta", "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon",
    "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega", "∂": "d", "ŷ": "yhat", "ϕ": "phi", "ϵ": "epsilon",
}


# single letters for the binders of a call head (`softmax_k(`): a multi-letter name there
# has no spelling the grammar reads (`softmax_{l1}(` means indices l and 1)
_CALL_LETTERS = ir.INDEX_POOL + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def to_ascii(name: str) -> str:
    """``name`` with every non-ASCII letter spelt out (``θ1`` -> ``theta1``)."""
    return "".join(ASCII_NAMES.get(c, c) for c in name)


class Printer:
    """The shared traversal.  Subclasses spell the pieces; see the module docstring."""

    minus = "-"
    space = " "              # between juxtaposed factors
    number_sep = " * "       # between two numbers, which juxtaposition would run together

    def __init__(self, order: Iterable[Index] = ()):
        order = tuple(order)
        self.lhs = {i.name for i in order}
        self.names = set(self.lhs)           # every index name in the statement printed
        self.rank: dict[str, int] = {i.name: n for n, i in enumerate(order)}

    # ---------------------------------------------------------------- entry point

    def print(self, e: Expr) -> str:
        e = ir.unique_binders(e, self.lhs)     # no Σ_i in a Σ_i, no i both free and bound
        self.names |= ir.index_names(e)
        self.dims = {i.name: i.dim for n in ir.walk(e) for i in n.free}
        for i in sorted(e.free, key=lambda i: i.key):
            self.rank.setdefault(i.name, len(self.rank))
        for node in ir.walk(e):
            for i in ir.binders(node):
                self.rank.setdefault(i.name, len(self.rank))
        self.known: list = []                # range conditions of the products printing
        return self.expr(with_bounds(e))

    # ---------------------------------------------------------------- hooks

    def ident(self, name: str) -> str:
        raise NotImplementedError

    def subscript(self, indices: tuple[Index, ...], *, var: bool = False,
                  compact: bool = True) -> str:
        raise NotImplementedError

    def paren(self, s: str) -> str:
        return f"({s})"

    def number(self, value) -> str:
        raise NotImplementedError

    def division(self, num: list[Expr], den: list[Expr], coeff) -> str:
        raise NotImplementedError

    def power(self, base: str, exponent: Expr) -> str:
        raise NotImplementedError

    def sum_sign(self, indices: tuple[Index, ...]) -> str:
        raise NotImplementedError

    def delta_name(self) -> str:
        raise NotImplementedError

    def func_name(self, name: str, order: int) -> str:
        raise NotImplementedError

    def call(self, name: str, arg: str) -> str:
        return f"{name}{self.paren(arg)}"

    # ---------------------------------------------------------------- dispatch

    def expr(self, e: Expr) -> str:
        method = getattr(self, "print_" + type(e).__name__)
        return method(e)

    def at(self, e: Expr, level: int) -> str:
        """``e`` printed, in parentheses if its form binds looser than ``level``."""
        s = self.expr(e)
        return self.paren(s) if self.level(e) < level else s

    def level(self, e: Expr) -> int:
        if isinstance(e, Add):
            return SIGNED
        if isinstance(e, Const):
            v = e.value
            if v < 0:
                return SIGNED
            whole = not isinstance(v, Fraction) or v.denominator == 1
            return ATOM if whole else PRODUCT
        if isinstance(e, Mul):
            coeff, _, _ = self.split(e)
            return SIGNED if coeff < 0 else PRODUCT
        if isinstance(e, Sum):
            return PRODUCT
        if isinstance(e, Pow):
            return PRODUCT if self.negative_exponent(e) else POWER
        return ATOM

    # ---------------------------------------------------------------- leaves

    def print_Const(self, e: Const) -> str:
        return self.signed(e.value < 0, self.number(abs(e.value)))

    def print_DimSize(self, e: DimSize) -> str:
        if isinstance(e.dim, DimExpr):          # a derived size: (H − 2U + 1), as conditions
            return "(" + str(e.dim).replace("−", self.minus) + ")"
        return str(e.dim) if isinstance(e.dim, int) else self.ident(e.dim)

    def print_Var(self, e: Var) -> str:
        return self.ident(e.name) + self.subscript(e.indices, var=True)

    def print_Delta(self, e: Delta) -> str:
        return self.delta_name() + self.subscript((e.a, e.b), var=True)

    def print_InRange(self, e) -> str:
        return self.condition(e)

    def condition(self, e) -> str:
        return condition_text(e, self.minus)

    def signed(self, negative: bool, s: str) -> str:
        return self.minus + s if negative else s

    # ---------------------------------------------------------------- functions

    def print_Func(self, e: Func) -> str:
        symbol = constant_symbol(e)                  # π, e: Func("const_pi", 1)
        if symbol is not None:
            return self.constant(symbol)
        name = normed(e)
        if name is not None:                         # sqrt(Σ_k v_k^2), as the user wrote it
            return self.norm(self.ident(name))
        return self.call(self.func_name(e.name, e.order), self.expr(e.arg))

    def norm(self, name: str) -> str:
        return f"norm({name})"

    def constant(self, symbol: tuple[str, str, str]) -> str:
        return symbol[0]

    def print_Apply(self, e: Apply) -> str:
        name = self.func_name(e.fn, e.order)
        out = self.subscript(e.out, compact=True)
        if isinstance(e.arg, Var) and e.arg.indices == e.over:
            return self.call(name, self.ident(e.arg.name)) + out
        if any(len(self.ident(i.name)) > 1 for i in e.over):
            e = self.short_binders(e)            # `softmax[i1](`, `inv[z,i1](` are not call heads
        over = self.subscript(e.over, compact=False)
        return self.call(name + over, self.expr(e.arg)) + out

    def short_binders(self, e: Apply) -> Apply:
        """``e`` with its multi-letter binders renamed to free single letters."""
        # a name is one dimension in a whole statement: avoid every name printed in it
        base = ir.index_names(e) | set(ir.var_names(e))     # not inv_{z,A}(A_zA) either
        taken, own, mapping = base | self.names, base | self.lhs, {}
        for i in e.over:
            if len(self.ident(i.name)) == 1:
                continue
            letter = call_letter(_CALL_LETTERS, taken, own, getattr(self, "dims", {}), i.dim)
            if letter is None:
                return e
            for names in (taken, own, self.names):
                names.add(letter)
            mapping[i] = Index(letter, i.dim)
        return ir.rename_bound(e, mapping)

    # ---------------------------------------------------------------- sums

    def print_Sum(self, e: Sum) -> str:
        body = with_bounds(e.body, self.known)
        if isinstance(body, Add) or self.level(body) < PRODUCT:
            return self.sum_sign(e.indices) + self.paren(self.expr(body))
        return self.sum_sign(e.indices) + self.expr(body)

    def print_Add(self, e: Add) -> str:
        terms = [self.term(t) for t in sorted(e.terms, key=small_constant)]
        lead = next((n for n, (neg, _) in enumerate(terms) if not neg), 0)
        terms.insert(0, terms.pop(lead))
        first_neg, first = terms[0]
        out = [self.signed(first_neg, first)]
        for neg, s in terms[1:]:
            out.append(f" {self.minus} {s}" if neg else f" + {s}")
        return "".join(out)

    def term(self, t: Expr) -> tuple[bool, str]:
        """A term of a sum as (negative?, its text without the sign)."""
        if isinstance(t, Const) and t.value < 0:
            return True, self.number(-t.value)
        if isinstance(t, Mul):
            coeff, num, den = self.split(t)
            if coeff < 0:
                return True, self.product(num, den, -coeff)
        return False, self.expr(with_bounds(t, self.known))

    # ---------------------------------------------------------------- products

    def print_Mul(self, e: Mul) -> str:
        coeff, num, den = self.split(e)
        return self.signed(coeff < 0, self.product(num, den, abs(coeff)))

    def product(self, num, den, coeff) -> str:
        """``division``, with the product's range conditions known inside it."""
        outer = list(self.known)
        self.known += [f.sub for f in num if isinstance(f, InRange)]
        try:
            return self.division(num, den, coeff)
        finally:
            self.known = outer

    def print_Pow(self, e: Pow) -> str:
        if self.negative_exponent(e):
            return self.division([], [ir.power(e.base, ir.neg(e.exponent))], Fraction(1))
        return self.power(self.at(e.base, ATOM), e.exponent)

    @staticmethod
    def negative_exponent(e: Pow) -> bool:
        x = e.exponent
        if isinstance(x, Mul) and isinstance(x.factors[0], Const):
            x = x.factors[0]
        return isinstance(x, Const) and x.value < 0

    def split(self, e: Mul) -> tuple:
        """(coefficient, numerator factors, denominator factors), each list in
        reading order; denominator factors are given with positive powers."""
        coeff, num, den = Fraction(1), [], []
        for f in e.factors:
            if isinstance(f, Const):
                coeff = coeff * f.value
            elif isinstance(f, Pow) and self.negative_exponent(f):
                den.append(ir.power(f.base, ir.neg(f.exponent)))
            else:
                num.append(f)
        num += unproven_reads(num, self.known)     # c_{p−k} states 0 ≤ p − k < m
        return coeff, self.reading_order(num), self.reading_order(den)

    def reading_order(self, factors: list[Expr]) -> list[Expr]:
        return sorted(factors, key=self.factor_key)      # stable: IR order breaks ties

    def factor_key(self, f: Expr) -> tuple:
        base = f.base if isinstance(f, Pow) else f
        if isinstance(base, (Const, DimSize)):
            return (0,)
        if isinstance(base, (Var, Delta)):
            indices = base.indices if isinstance(base, Var) else (base.a, base.b)
            name = base.name if isinstance(base, Var) else "δ"
            last = len(self.rank)                # tensors without indices come after
            first = indices[0] if indices else None
            if first is not None and type(first) is not Index:    # c_{p−k}: by p
                first = max(first.free, key=lambda i: self.rank.get(i.name, last),
                            default=None)
            rank = self.rank.get(first.name, last) if first is not None else last + 1
            return (1, rank, name.lower(), name)
        if isinstance(base, InRange):
            return (5,)
        if isinstance(base, (Func, Apply)):
            return (2,)
        if isinstance(base, Sum) and base is f:
            return (4,)
        return (3,)

    def factors(self, factors: list[Expr], trailing_sum: bool) -> list[str]:
        """Each factor printed for juxtaposition.  A ``Σ`` reaches to the end of its
        product, so only a last one may go without parentheses."""
        out = []
        for n, f in enumerate(factors):
            last = n == len(factors) - 1
            if isinstance(f, Sum):
                s = self.expr(f)
                out.append(s if last and trailing_sum else self.paren(s))
            else:
                out.append(self.at(f, POWER))
        return out

    def juxtapose(self, parts: list[str]) -> str:
        out = parts[0] if parts else ""
        for p in parts[1:]:
            digits = out[-1:].isdigit() and p[:1].isdigit()
            out += self.number_sep if digits else self.space
            out += p
        return out

    def fraction_parts(self, num, den, coeff, bar: bool):
        """Numerator and denominator factors of a product, its coefficient's numerator
        and denominator included; returns (top, bottom, p).  A Σ may end the top
        under a fraction bar, but inline only when nothing follows it
        (`Σ_j x_j / 2` would sum x_j/2)."""
        p, q = (coeff.numerator, coeff.denominator) if isinstance(coeff, Fraction) else (coeff, 1)
        top = self.factors(num, trailing_sum=bar or (not den and q == 1))
        if p != 1 or not top:
            top.insert(0, self.number(Fraction(p) if isinstance(p, int) else p))
        bottom = self.factors(den, trailing_sum=True)
        if q != 1:
            bottom.insert(0, str(q))
        return top, bottom, p


def small_constant(t: Expr) -> bool:
    """A non-integer constant term (an ε): printed last, ``v + 1e-5``; ``1 − h`` keeps its 1."""
    return isinstance(t, Const) and (not isinstance(t.value, Fraction)      # a decimal written
                                     or t.value.denominator != 1)


class TextPrinter(Printer):
    """Index notation as a user types it: Unicode by default, ASCII on request."""

    def __init__(self, ascii: bool = False, order: Iterable[Index] = ()):
        super().__init__(order)
        self.ascii = ascii
        self.minus = "-" if ascii else "−"

    def ident(self, name: str) -> str:
        return to_ascii(name) if self.ascii else name

    def subscript(self, indices, *, var=False, compact=True) -> str:
        """``_ik`` (or ``_{i,k}`` for binders); any multi-letter name: ``[i1,k]``;
        a shifted read ``_{p−k}`` (one axis) or ``[b,o,p−u,q−v]``."""
        if any(type(i) is not Index for i in indices):
            items = [sub_text(i, self.minus) if type(i) is not Index else self.ident(i.name)
                     for i in indices]
            if any(not NAME.fullmatch(t) for t in items):
                return "_{" + items[0] + "}" if len(items) == 1 else "[" + ",".join(items) + "]"
            return subscript_text(items, compact)          # x_i read on a longer axis
        return subscript_text([self.ident(i.name) for i in indices], compact)

    def number(self, value) -> str:
        if isinstance(value, Fraction):
            return str(value)
        return decimal_text(value)

    def constant(self, symbol: tuple[str, str, str]) -> str:
        return symbol[1] if self.ascii else symbol[0]

    def division(self, num, den, coeff) -> str:
        top, bottom, _ = self.fraction_parts(num, den, coeff, bar=False)
        if not bottom:
            return self.juxtapose(top)
        if len(bottom) == 1:                 # already parenthesised where needed
            return f"{self.juxtapose(top)} / {bottom[0]}"
        return f"{self.juxtapose(top)} / {self.paren(self.juxtapose(bottom))}"

    def power(self, base: str, exponent: Expr) -> str:
        simple = (isinstance(exponent, DimSize) or ir.is_int(exponent)
                  or (isinstance(exponent, Var) and not exponent.indices))
        x = self.expr(exponent)
        return f"{base}^{x}" if simple and self.level(exponent) == ATOM else f"{base}^({x})"

    def sum_sign(self, indices) -> str:
        return ("sum" if self.ascii else "Σ") + self.subscript(indices, compact=False) + " "

    def delta_name(self) -> str:
        return "delta" if self.ascii else "δ"

    def func_name(self, name: str, order: int) -> str:
        entry = ELEMENTWISE.get(name) or TENSOR.get(name)
        shown = name if entry is None or self.ascii else entry.unicode
        return self.ident(shown) + "'" * order


def decimal_text(value: float) -> str:
    """A decimal as a person writes it: ``1e-5``, ``0.5``, ``1e20`` (Python: 1e-05, 1e+20)."""
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


def to_text(expr: Expr, ascii: bool = False) -> str:
    """``expr`` in index notation (Unicode, or ASCII with ``ascii=True``)."""
    return TextPrinter(ascii).print(expr)


def definition_text(name: str, indices: tuple[Index, ...], expr: Expr,
                    ascii: bool = False) -> str:
    """A definition line ``z_k = Σ_i W_ik y_i + b_k`` that parses back."""
    printer = TextPrinter(ascii, order=indices)
    lhs = printer.ident(name) + printer.subscript(tuple(indices), var=True)
    return f"{lhs} = {printer.print(expr)}"
