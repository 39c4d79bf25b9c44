"""Lark's parse tree to the surface tree (``tree.py``), without recursion.

One method per grammar rule.  Besides building nodes it reads what the grammar
leaves as text: shapes (``matrix[n, m]``), subscripts (by the rule in
``subscripts.py``), call heads (``softmax_i(``, ``f'(``) and numbers, and
refuses literals and ranks beyond the limits (``limits.py``).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from lark import Token, Transformer_NonRecursive, v_args

from indexcalc.errors import IndexcalcError, LimitError, ParseError
from indexcalc.limits import MAX_EXPONENT, MAX_NUMBER_DIGITS, MAX_RANK
from indexcalc.syntax import tree as S
from indexcalc.syntax.affine_text import read_cond, subscript_items
from indexcalc.syntax.subscripts import NAME, subscript_indices

NORM_KINDS = ("F", "1", "2")


def _pos(m) -> S.Pos:
    """Where a Lark token or rule (its meta) is: both have the same attributes."""
    return S.Pos(m.line, m.column, m.start_pos, m.end_pos)


def _span(a: S.Pos, b: S.Pos) -> S.Pos:
    return S.Pos(a.line, a.column, a.start, b.end)


@v_args(meta=True)
class Build(Transformer_NonRecursive):
    """One method per grammar rule; each returns a surface node (tree.py)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def fail(self, message: str, pos: S.Pos) -> IndexcalcError:
        return ParseError(message, text=self.text, line=pos.line, column=pos.column)

    # -------------------------------------------------------- statements

    def start(self, meta, children):
        return [c for c in children if c is not None]

    def expr_stmt(self, meta, c):
        return S.ExprStmt(c[0], _pos(meta))

    def definition(self, meta, c):
        return S.DefStmt(c[0], c[1], _pos(meta))

    def check(self, meta, c):
        return S.CheckStmt(c[0], c[1], _pos(meta), tuple(c[2:]))

    def named_check(self, meta, c):        # check δ2 = dE/dz2 == ...: δ2 names the result
        return S.CheckStmt(c[1], c[2], _pos(meta), tuple(c[3:]), str(c[0]))

    def assume(self, meta, c):
        return S.AssumeStmt(c[0], c[1], _pos(meta))

    def declaration(self, meta, c):
        name, shape, sym, pad = c
        if isinstance(shape, str):
            if sym is not None or pad is not None:
                raise self.fail("a function cannot be symmetric or padded; only a tensor "
                                "can", _pos(sym if sym is not None else pad))
            return S.FuncDeclStmt(str(name), shape == S.SCALAR_FUNCTION, _pos(meta))
        return S.DeclStmt(str(name), shape, sym is not None, _pos(meta), pad is not None)

    def declaration_in(self, meta, c):
        return self.declaration(meta, c)

    def scalar_shape(self, meta, c):
        return ()

    def function_shape(self, meta, c):
        return S.FUNCTION

    def scalar_function_shape(self, meta, c):
        return S.SCALAR_FUNCTION

    def vector_shape(self, meta, c):
        return self._shape(c[0], 1, "vector")

    def matrix_shape(self, meta, c):
        return self._shape(c[0], 2, "matrix")

    def tensor_shape(self, meta, c):
        return self._shape(c[0], None, "tensor")

    def _shape(self, tok: Token, rank: int | None, kind: str) -> tuple:
        items = [s.strip() for s in str(tok)[1:-1].split(",")]
        dims = tuple(self._dim_text(s, tok) for s in items)
        if rank is not None and len(dims) != rank:
            raise self.fail(f"a {kind} has {rank} dimension{'s' * (rank > 1)}, "
                            f"not {len(dims)}: {kind}{tok}", _pos(tok))
        if len(dims) > MAX_RANK:
            pos = _pos(tok)
            raise LimitError(f"a tensor of rank {len(dims)} is beyond the limit of {MAX_RANK} "
                             f"dimensions", text=self.text, line=pos.line, column=pos.column)
        return dims

    def _dim_text(self, s: str, tok: Token):
        if s.isdigit():
            return _dim_number(s, self, _pos(tok))
        if NAME.fullmatch(s):
            return s
        raise self.fail(f"a dimension is a name or a whole number, not {s!r}", _pos(tok))

    def space_scalar(self, meta, c):
        return ()

    def space_dims(self, meta, c):
        return tuple(c[2:])

    def reals(self, meta, c):
        tok = c[0]
        if tok.type == "NAME" and str(tok) != "R":
            raise self.fail(f"expected ℝ or R after ∈, not {str(tok)!r}", _pos(tok))
        return tok

    def dim(self, meta, c):
        tok = c[0]
        if tok.type == "NUMBER":
            return _dim_number(str(tok), self, _pos(tok))
        return str(tok)

    # -------------------------------------------------------- sums and products

    def add(self, meta, c):
        return self._terms(meta, c[0], +1, c[2])

    def sub(self, meta, c):
        return self._terms(meta, c[0], -1, c[2])

    def _terms(self, meta, left, sign, right):
        if isinstance(left, S.Terms):
            left.terms.append((sign, right))
            left.pos = _span(left.pos, _pos(meta))
            return left
        return S.Terms([(+1, left), (sign, right)], _pos(meta))

    def neg(self, meta, c):
        return S.Neg(c[1], _pos(meta))

    def pos(self, meta, c):
        return c[1]

    def juxt(self, meta, c):
        return self._chain(meta, c[0], "", c[1])

    def binop(self, meta, c):
        op = str(c[1])
        return self._chain(meta, c[0], ".*" if op == "⊙" else op, c[2])

    def _chain(self, meta, left, op, right):
        if isinstance(left, S.Chain):
            left.factors.append((op, right))
            left.pos = _span(left.pos, _pos(meta))
            return left
        return S.Chain([("", left), (op, right)], _pos(meta))

    def sumexpr(self, meta, c):
        subs, body = [x for x in c if not isinstance(x, Token)]
        return S.SumOver(subs[0], body, _pos(meta))

    def power(self, meta, c):
        return S.Power(c[0], c[2], _pos(meta))

    def transpose(self, meta, c):
        return S.Transpose(c[0], _pos(meta))

    # -------------------------------------------------------- atoms

    def name(self, meta, c):
        return S.Name(str(c[0]), None, _pos(meta))

    def indexed(self, meta, c):
        return S.Name(str(c[0]), c[1][0], _pos(meta))

    def number(self, meta, c):
        return S.Num(_number(str(c[0]), self, _pos(meta)), _pos(meta))

    def paren(self, meta, c):
        return S.Paren(c[0], c[1][0] if len(c) > 1 else None, _pos(meta))

    def norm(self, meta, c):
        kind = None
        if len(c) > 3:
            kind = str(c[3]).lstrip("_").strip("{}")
            if kind not in NORM_KINDS:
                raise self.fail(f"||...||_{kind}: the norms are ||x|| (Euclidean, and "
                                "Frobenius for a matrix), ||A||_F (Frobenius), ||x||_1 "
                                "(sum of absolute values) and ||A||_2 (spectral; for a "
                                "vector, Euclidean)", _pos(c[3]))
        return S.Norm(c[1], _pos(meta), kind)

    def partial(self, meta, c):
        return S.Partial(c[1], _pos(meta))

    def args(self, meta, c):
        return list(c)

    def call(self, meta, c):
        head: Token = c[0]
        raw = str(head)[:-1]
        m = re.match(r"(log_softmax|gelu_tanh|[^'_]+)('*)(_.*)?$", raw)
        name, primes, over = m.group(1), len(m.group(2)), m.group(3)
        over_ix = self._indices(over, _pos(head)) if over else None
        out = c[2][0] if len(c) > 2 else None
        head_pos = S.Pos(head.line, head.column, head.start_pos, head.start_pos + len(name))
        return S.Call(name, primes, over_ix, c[1], out, _pos(meta), head_pos)

    def subs(self, meta, c):
        tok = c[0]
        return (subscript_items(str(tok), lambda msg: self.fail(msg, _pos(tok))),)

    def condition(self, meta, c):
        tok = c[0]
        return S.Cond(read_cond(str(tok), lambda msg: self.fail(msg, _pos(tok))), _pos(meta))

    # -------------------------------------------------------- subscripts

    def _indices(self, raw: str, pos: S.Pos) -> tuple[str, ...]:
        return subscript_indices(raw, lambda msg: self.fail(msg, pos))


def _dim_number(s: str, b: Build, pos: S.Pos) -> int:
    if not s.isdigit() or len(s) > MAX_NUMBER_DIGITS:
        raise b.fail(f"a dimension must be a whole number of at most {MAX_NUMBER_DIGITS} "
                     f"digits, not {s[:20]!r}", pos)
    value = int(s)
    if value < 1:
        raise b.fail("a dimension must be at least 1", pos)
    return value


def _number(s: str, b: Build, pos: S.Pos) -> Fraction:
    mantissa, _, exp = s.lower().partition("e")
    if len(mantissa) > MAX_NUMBER_DIGITS:
        raise LimitError(f"the number has more than {MAX_NUMBER_DIGITS} digits",
                         text=b.text, line=pos.line, column=pos.column)
    if exp and (len(exp.lstrip("+-")) > 4 or abs(int(exp)) > MAX_EXPONENT):
        raise LimitError(f"the exponent of {s[:30]} is beyond ±{MAX_EXPONENT}",
                         text=b.text, line=pos.line, column=pos.column)
    value = Fraction(s)
    if value.denominator == 1 or not any(c in s for c in ".eE"):
        return value
    approx = float(value)                   # a decimal the user wrote stays a decimal (1e-5)
    return approx if approx != 0 and math.isfinite(approx) else value
