"""LaTeX for IR expressions and definitions, for papers, notebooks and Jupyter.

The layout decisions (factor order, signs, parentheses, which factors form a
denominator) are the index-notation printer's: ``LatexPrinter`` reuses its
traversal (``printing.Printer``) and only spells the pieces differently --
``W_{ik}``, ``\\frac{a}{b}``, ``\\sum_{j}``, ``\\left( \\right)``, Greek letters as
commands.  The output sticks to the subset of LaTeX that matplotlib's mathtext
renders (no ``\\begin{...}`` environments), except ``latex_block``, which wraps
lines in an ``aligned`` environment for MathJax and real LaTeX.
"""

from __future__ import annotations

import re
from fractions import Fraction

from indexcalc.calculus.reverse import DerivativeName
from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.ir import Const, Expr, Index
from indexcalc.read.bounds import condition_text, sub_text
from indexcalc.read.text import ASCII_NAMES, Printer
from indexcalc.syntax.subscripts import one_letter_each

# Non-ASCII letters as LaTeX commands (Greek letters are their spelt-out names).
COMMANDS = {c: "\\" + name for c, name in ASCII_NAMES.items() if len(name) > 1}
COMMANDS.update({"∂": r"\partial", "ŷ": r"\hat{y}", "ϕ": r"\phi", "ϵ": r"\epsilon",
                 "_": r"\_"})

LOGDET = TENSOR["logdet"].latex


def _tex_frac(item: str) -> str:
    """``(p-k)/2`` as ``\\frac{p-k}{2}``."""
    m = re.fullmatch(r"\((.*)\)/(\d+)", item)
    return rf"\frac{{{m.group(1)}}}{{{m.group(2)}}}" if m else item


def tex_name(name: str) -> str:
    """``name`` with letters turned into commands; a space ends a command word
    only where a letter follows (``θk`` -> ``\\theta k``, ``θ1`` -> ``\\theta1``)."""
    out = ""
    for c in name:
        if out and out[-1].isalpha() and c.isascii() and c.isalpha() and _ends_in_command(out):
            out += " "
        out += COMMANDS.get(c, c)
    return out


def _ends_in_command(s: str) -> bool:
    return re.search(r"\\[A-Za-z]+$", s) is not None


class LatexPrinter(Printer):
    """The shared traversal with LaTeX spellings."""

    minus = "-"
    space = r"\,"
    number_sep = r" \cdot "

    def ident(self, name: str) -> str:
        return tex_name(name)

    def condition(self, e) -> str:
        text = condition_text(e, "-", r"\le")
        return r"\left[" + text[1:-1].replace("|", r"\mid") + r"\right]"

    def subscript(self, indices, *, var=False, compact=True) -> str:
        if any(type(i) is not Index and len(i.terms) + bool(i.offset) > 1 or
               type(i) is not Index and i.terms[0][1] != 1 for i in indices):  # x_{p-k}
            items = [sub_text(i, "-").replace(" ", "") if type(i) is not Index
                     else tex_name(i.name) for i in indices]
            return "_{" + ",".join(_tex_frac(t) for t in items) + "}"
        names = [i.name if type(i) is Index else i.terms[0][0].name for i in indices]
        if not names:
            return ""
        short = one_letter_each(names)
        sep = "" if short and (compact or len(names) == 1) else ","
        return "_{" + tex_name(sep.join(names)) + "}"

    def paren(self, s: str) -> str:
        return rf"\left({s}\right)"

    def number(self, value) -> str:
        if isinstance(value, Fraction):
            if value.denominator == 1:
                return str(value.numerator)
            return rf"\frac{{{value.numerator}}}{{{value.denominator}}}"
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return text

    def division(self, num, den, coeff) -> str:
        top, bottom, p = self.fraction_parts(num, den, coeff, bar=True)
        if not bottom:
            return self.juxtapose(top)
        if len(top) == 1 and len(num) == 1 and p == 1:
            top = [self.expr(num[0])]                   # \frac{a + b}{c}: the bar groups
        if len(bottom) == 1 and len(den) == 1:
            bottom = [self.expr(den[0])]
        return rf"\frac{{{self.juxtapose(top)}}}{{{self.juxtapose(bottom)}}}"

    def power(self, base: str, exponent: Expr) -> str:
        x = exponent.value if isinstance(exponent, Const) else None
        if isinstance(x, Fraction) and x.denominator != 1:
            return f"{base}^{{{x}}}"                 # x^{1/2}: a \frac is too small up there
        return f"{base}^{{{self.expr(exponent)}}}"

    def sum_sign(self, indices) -> str:
        return r"\sum" + self.subscript(indices, compact=False) + " "

    def delta_name(self) -> str:
        return r"\delta"

    def constant(self, symbol: tuple[str, str, str]) -> str:
        return symbol[2]

    def func_name(self, name: str, order: int) -> str:
        entry = ELEMENTWISE.get(name) or TENSOR.get(name)
        if entry is not None:
            shown = entry.latex
        elif len(name) > 1 and name.isascii():
            shown = rf"\operatorname{{{tex_name(name)}}}"
        else:
            shown = tex_name(name)
        return shown + "'" * order

    def norm(self, name: str) -> str:
        return rf"\lVert {name} \rVert"

    def call(self, name: str, arg: str) -> str:
        if name.startswith(r"\sqrt"):
            return rf"\sqrt{{{arg}}}"
        if name.startswith(LOGDET):                  # log|det A|, not log|det|(A)
            over = name[len(LOGDET):]
            return rf"\log\left|\det{over}\left({arg}\right)\right|"
        return super().call(name, arg)


def latex(expr: Expr) -> str:
    """``expr`` as a LaTeX math-mode string (without the ``$`` delimiters)."""
    return LatexPrinter().print(expr)


def latex_definition(name: str, indices: tuple[Index, ...], expr: Expr) -> str:
    """A definition ``z_{k} = ...``; a derivative name ``∂E/∂W`` becomes
    ``\\frac{\\partial E}{\\partial W_{pq}}``."""
    printer = LatexPrinter(order=indices)
    sub = printer.subscript(tuple(indices), var=True)
    if isinstance(name, DerivativeName) and len(name.wrt) == 1:
        of, wrt = tex_name(name.of), tex_name(name.wrt[0])
        lhs = rf"\frac{{\partial {of}}}{{\partial {wrt}{sub}}}"
    else:
        lhs = tex_name(name) + sub
    return f"{lhs} = {printer.print(expr)}"


def latex_block(lines: list[str]) -> str:
    """Several LaTeX lines (``latex_definition`` output) aligned on their ``=``,
    for MathJax / LaTeX display.  mathtext cannot render environments: render
    the lines one by one there."""
    body = r" \\ ".join(line.replace(" = ", " &= ", 1) for line in lines)
    return r"\begin{aligned} " + body + r" \end{aligned}"
