"""Text to model: the public ``parse``, the Lark parser and the surface-tree builder.

This module owns the boundary between a user's text and indexcalc.  It checks
the size limits and the bracket balance first (so that pathological input is
refused quickly, with a message pointing at the culprit, before Lark sees
it), runs the LALR parser built once from ``grammar/indexcalc.lark``, turns
Lark's tree into the surface nodes of ``syntax.py`` without recursion, and
hands them to ``lower.py``, which resolves names and builds the index-form
IR.  Every failure leaves here as an ``IndexcalcError`` with line, column and
caret; no Lark or Python exception escapes ``parse``.
"""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from functools import lru_cache

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from indexcalc.errors import IndexcalcError, LimitError, ParseError
from indexcalc.model import Model
from indexcalc.syntax import tree as S
from indexcalc.syntax.grammar import grammar_text
from indexcalc.syntax.statements import lower

# ---------------------------------------------------------------- limits (all in one place)

MAX_INPUT_CHARS = 64 * 1024       # longer texts are refused before parsing
MAX_TOKENS = 4000                 # names, numbers and symbols (about 400 lines of a model)
MAX_RANK = 16                     # dimensions of a declared tensor (a Hessian doubles it)
MAX_NESTING = 200                 # open brackets at once: ( [ {
MAX_DEPTH = 400                   # nesting of the surface tree (powers, minus signs, sums...)
MAX_IR_DEPTH = 250                # nesting of a definition in index form (later passes recurse)
MAX_NUMBER_DIGITS = 60            # digits in one numeric literal
MAX_EXPONENT = 60                 # |e| in 1.5e-3 style literals
RECURSION_LIMIT = 20_000          # lowering recurses over the (depth-limited) surface tree

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_TOKEN = re.compile(r"#[^\n]*|[^\W_]+|\S")     # a comment, a run of letters and digits, a symbol
_NAME = re.compile(r"[A-Za-z\u0391-\u03A1\u03A4-\u03A9\u03B1-\u03C9\u03D1\u03D5\u03F5]"
                   r"[A-Za-z0-9\u0391-\u03A1\u03A4-\u03A9\u03B1-\u03C9\u03D1\u03D5\u03F5]*")


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once."""
    return Lark(grammar_text(), parser="lalr",
                propagate_positions=True, maybe_placeholders=True)


def parse(text: str) -> Model:
    """Parse and lower a model written in indexcalc's notation (see DESIGN.md)."""
    source = parse_source(text)
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(limit, RECURSION_LIMIT))
        return _check_ir_depth(lower(source))
    except IndexcalcError:
        raise
    except RecursionError:
        raise LimitError("the expression is nested too deeply to process",
                         text=text, line=1, column=1) from None
    except (OverflowError, MemoryError):
        raise LimitError("a number in the text is too large to compute with",
                         text=text, line=1, column=1) from None
    finally:
        sys.setrecursionlimit(limit)


def _check_ir_depth(model: Model) -> Model:
    """Refuse definitions whose index form is nested deeper than MAX_IR_DEPTH: the
    passes after parsing (simplify, differentiate, print, compile) recurse over it
    at the default recursion limit, and lowering can deepen the text's nesting
    (``||x||`` is sqrt(Σ_i x_i^2))."""
    for d in model.definitions.values():
        depth, stack = 0, [(d.expr, 1)]
        while stack:
            node, k = stack.pop()
            depth = max(depth, k)
            stack.extend((c, k + 1) for c in node.children)
        if depth > MAX_IR_DEPTH:
            line, column = (d.span.line, d.span.column) if d.span else (1, 1)
            raise LimitError(f"{d.name} is nested {depth} levels deep in index form; the limit "
                             f"is {MAX_IR_DEPTH} (name intermediate results as definitions)",
                             text=model.text, line=line, column=column)
    return model


def parse_source(text: str) -> S.Source:
    """The surface statements of ``text`` (syntax only; names are not resolved)."""
    if not isinstance(text, str):
        raise ParseError(f"parse() needs a str, not {type(text).__name__}")
    text = prescan(text)
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise syntax_error(text, e) from None
    try:
        statements = Build(text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, IndexcalcError):
            raise e.orig_exc from None
        raise ParseError(f"cannot read this text ({e.orig_exc})") from None
    if not statements:
        raise ParseError("nothing to parse: the text has no statements "
                         "(write declarations, definitions or questions)",
                         text=text, line=1, column=1)
    for stmt in statements:
        for node in _expressions(stmt):
            if S.depth(node) > MAX_DEPTH:
                raise LimitError(f"the expression is nested more than {MAX_DEPTH} levels deep",
                                 text=text, line=node.pos.line, column=node.pos.column)
    return S.Source(statements, text)


def _expressions(stmt) -> list:
    if isinstance(stmt, (S.DefStmt, S.AssumeStmt)):
        return [stmt.lhs, stmt.rhs]
    if isinstance(stmt, S.ExprStmt):
        return [stmt.expr]
    if isinstance(stmt, S.CheckStmt):
        return [stmt.question, stmt.claim]
    return []


# ---------------------------------------------------------------- before Lark

def prescan(text: str) -> str:
    """Refuse oversized input and unbalanced brackets with a pointed message.

    Returns the text with newlines inside brackets turned into spaces, so an
    expression may continue over several lines inside parentheses.
    """
    if len(text) > MAX_INPUT_CHARS:
        raise LimitError(f"the input has {len(text):,} characters; the limit is "
                         f"{MAX_INPUT_CHARS:,}", text=text[:200], line=1, column=1)
    stack: list[tuple[str, int, int]] = []
    out = list(text)
    line, col, comment = 1, 0, False
    for k, ch in enumerate(text):
        col += 1
        if ch == "\n":
            line, col, comment = line + 1, 0, False
            if stack:
                out[k] = " "
            continue
        if comment or ch not in "#()[]{}":
            continue
        if ch == "#":
            comment = True
        elif ch in _OPEN:
            stack.append((ch, line, col))
            if len(stack) > MAX_NESTING:
                raise LimitError(f"brackets are nested more than {MAX_NESTING} deep",
                                 text=text, line=line, column=col)
        elif not stack:
            raise ParseError(f"unexpected '{ch}': no '{_CLOSE[ch]}' is open here",
                             text=text, line=line, column=col)
        else:
            opener, l0, c0 = stack.pop()
            if _OPEN[opener] != ch:
                raise ParseError(f"'{ch}' does not match the '{opener}' opened at line {l0}, "
                                 f"column {c0}", text=text, line=line, column=col)
    if stack:
        opener, l0, c0 = stack[-1]
        raise ParseError(f"unclosed '{opener}' opened at line {l0}, column {c0}: "
                         f"add a '{_OPEN[opener]}'", text=text, line=l0, column=c0)
    _count_tokens(text)
    return "".join(out)


def _count_tokens(text: str) -> None:
    """Refuse more than MAX_TOKENS tokens (comments are free), pointing at the first
    one over: the work after parsing grows with the size of the model, and this
    bound keeps every model within limits to about a second."""
    count = 0
    for m in _TOKEN.finditer(text):
        if m.group().startswith("#"):
            continue
        count += 1
        if count > MAX_TOKENS:
            line = text.count("\n", 0, m.start()) + 1
            column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
            raise LimitError(f"the model has more than {MAX_TOKENS:,} names, numbers and "
                             f"symbols; differentiate a smaller part of it",
                             text=text, line=line, column=column)


# ---------------------------------------------------------------- Lark errors

_DESCRIBE = {
    "NAME": "a name", "NUMBER": "a number", "CALLHEAD": "a function call", "LPAR": "'('",
    "RPAR": "')'", "SUBSCRIPT": "a subscript", "BRACKET": "'[...]'", "MULOP": "an operator",
    "PLUS": "'+'", "MINUS": "'-'", "EQUAL": "'='", "COLON": "':'", "_SEP": "a new line",
    "$END": "the end of the text", "CARET": "'^'", "TRANSPOSE": "a transpose",
    "NORM": "'||'", "COMMA": "','", "RBRACE": "'}'", "__ANON_0": "'=='",
}


def _describe(token_type: str) -> str:
    return _DESCRIBE.get(token_type, token_type.lower())


def syntax_error(text: str, e: UnexpectedInput) -> ParseError:
    line, column = max(e.line, 1), max(e.column, 1)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        return ParseError(f"unexpected character {ch!r}{_char_hint(text, e.pos_in_stream)}",
                          text=text, line=line, column=column)
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
            return ParseError("the text ends in the middle of an expression",
                              text=text, line=line, column=column)
        shown = "a new line" if tok.type == "_SEP" and tok.value != ";" else repr(str(tok))
        return ParseError(f"unexpected {shown}{_token_hint(tok, e.expected)}",
                          text=text, line=line, column=column)
    return ParseError("this text is not in the notation", text=text, line=line, column=column)


def _char_hint(text: str, pos: int) -> str:
    ch = text[pos] if pos < len(text) else ""
    if ch == "_":
        return ": a subscript needs index letters after '_' (W_ij, W_{i,j}, W[i,j])"
    if ch == "|":
        return ": write a norm as ||x||"
    if ch == "=" and text[pos - 1:pos] == "=":
        return ""
    return ""


def _token_hint(tok: Token, expected: set[str]) -> str:
    if "VECTOR" in expected or "SCALAR" in expected:
        return ("; after ':' comes a shape: scalar, vector[n], matrix[n, m] or "
                "tensor[n, m, k]")
    if "RPAR" in expected and len(expected) <= 3:
        return "; expected ')'"
    if tok.type in ("EQUAL", "__ANON_0") and "EQUAL" not in expected:
        return ": '=' starts a definition (name = ...) and '==' belongs in check statements"
    wanted = sorted({_describe(t) for t in expected if not t.startswith("__")})
    if not wanted:
        return ""
    if "a name" in wanted and "a number" in wanted:
        return "; expected an expression here"
    return "; expected " + ", ".join(wanted[:6])


# ---------------------------------------------------------------- Lark tree -> surface tree

def _pos(meta_or_token) -> S.Pos:
    m = meta_or_token
    if isinstance(m, Token):
        return S.Pos(m.line, m.column, m.start_pos, m.end_pos)
    return S.Pos(m.line, m.column, m.start_pos, m.end_pos)


def _span(a: S.Pos, b: S.Pos) -> S.Pos:
    return S.Pos(a.line, a.column, a.start, b.end)


@v_args(meta=True)
class Build(Transformer_NonRecursive):
    """One method per grammar rule; each returns a surface node (syntax.py)."""

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
        return S.CheckStmt(c[0], c[1], _pos(meta))

    def assume(self, meta, c):
        return S.AssumeStmt(c[0], c[1], _pos(meta))

    def declaration(self, meta, c):
        name, shape, sym = c
        return S.DeclStmt(str(name), shape, sym is not None, _pos(meta))

    def declaration_in(self, meta, c):
        return self.declaration(meta, c)

    def scalar_shape(self, meta, c):
        return ()

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
        if _NAME.fullmatch(s):
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
        return S.SumOver(c[0][0], c[1], _pos(meta))

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
        return S.Norm(c[1], _pos(meta))

    def partial(self, meta, c):
        return S.Partial(c[1], _pos(meta))

    def args(self, meta, c):
        return list(c)

    def call(self, meta, c):
        head: Token = c[0]
        raw = str(head)[:-1]
        m = re.match(r"(log_softmax|[^'_]+)('*)(_.*)?$", raw)
        name, primes, over = m.group(1), len(m.group(2)), m.group(3)
        over_ix = self._indices(over, _pos(head)) if over else None
        out = c[2][0] if len(c) > 2 else None
        head_pos = S.Pos(head.line, head.column, head.start_pos, head.start_pos + len(name))
        return S.Call(name, primes, over_ix, c[1], out, _pos(meta), head_pos)

    def subs(self, meta, c):
        tok = c[0]
        return (self._indices(str(tok), _pos(tok)),)

    # -------------------------------------------------------- subscripts

    def _indices(self, raw: str, pos: S.Pos) -> tuple[str, ...]:
        return subscript_indices(raw, lambda msg: self.fail(msg, pos))


def subscript_indices(raw: str, fail) -> tuple[str, ...]:
    """Index names of a subscript: ``_ik`` and ``_{ik}`` (a letter each), ``_{i,k}`` and
    ``[i1,k]`` (comma-separated names); ``[ab]`` is one index named ``ab``."""
    if raw.startswith("["):
        items = raw[1:-1].split(",")
    elif raw.startswith("_{"):
        inner = raw[2:-1]
        items = inner.split(",") if "," in inner else list(inner.replace(" ", ""))
    else:
        items = list(raw[1:])
    names = tuple(s.strip() for s in items)
    if not names or any(not s for s in names):
        raise fail(f"empty index in the subscript {raw!r}")
    for s in names:
        if s.isdigit():
            raise fail(f"indices are names, not numbers: {raw!r}; "
                       f"for multi-letter index names write W[i1,k]")
        if not _NAME.fullmatch(s):
            raise fail(f"{s!r} is not an index name (in {raw!r}); "
                       f"for multi-letter index names write W[i1,k]")
    return names


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
    return Fraction(s)
