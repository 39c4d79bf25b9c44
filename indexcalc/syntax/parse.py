"""Text to model: the public ``parse``, the Lark parser, the limits and syntax errors.

This module owns the boundary between a user's text and indexcalc.  It checks
the size limits and the bracket balance first (so that pathological input is
refused quickly, with a message pointing at the culprit, before Lark sees
it), runs the LALR parser built once from ``grammar/indexcalc.lark``, has
``build.py`` turn Lark's tree into the surface nodes of ``tree.py``, and hands
them to ``statements.lower``, which resolves names and builds the index-form
IR.  Every failure leaves here as an ``IndexcalcError`` with line, column and
caret; no Lark or Python exception escapes ``parse``.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache

from lark import Lark, Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from indexcalc.errors import IndexcalcError, LimitError, ParseError
from indexcalc.limits import (
    MAX_DEPTH,
    MAX_INPUT_CHARS,
    MAX_IR_DEPTH,
    MAX_NESTING,
    MAX_TOKENS,
    RECURSION_LIMIT,
)
from indexcalc.model import Model
from indexcalc.syntax import tree as S
from indexcalc.syntax.build import Build
from indexcalc.syntax.grammar import cache_path, grammar_text
from indexcalc.syntax.statements import lower
from indexcalc.syntax.tokens import SIGMA_IS_NAME, KeywordLexer, TokenStream, sigma_declared

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_TOKEN = re.compile(r"#[^\n]*|[^\W_]+|\S")     # a comment, a run of letters and digits, a symbol


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process, loaded from Lark's cache when it can be."""
    text = grammar_text()
    return Lark(text, parser="lalr", postlex=TokenStream(), propagate_positions=True,
                maybe_placeholders=True, cache=cache_path(text) or False,
                _plugins={"ContextualLexer": KeywordLexer})


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
    mark = SIGMA_IS_NAME.set(sigma_declared(text))
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise syntax_error(text, e) from None
    finally:
        SIGMA_IS_NAME.reset(mark)
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
        return [stmt.question, stmt.claim, *stmt.more]
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
    "NORM": "'||'", "NORM_OPEN": "'||'", "NORM_CLOSE": "'||'", "SIGMA": "'Σ'",
    "COMMA": "','", "RBRACE": "'}'", "__ANON_0": "'=='",
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
            return ParseError("the text ends in the middle of an expression"
                              + _sum_hint(text, len(text)), text=text, line=line, column=column)
        if _sum_hint(text, tok.start_pos):
            return ParseError(f"unexpected {str(tok)!r}{_sum_hint(text, tok.start_pos)}",
                              text=text, line=line, column=column)
        shown = "a new line" if tok.type == "_SEP" and tok.value != ";" else repr(str(tok))
        return ParseError(f"unexpected {shown}{_token_hint(tok, e.expected)}",
                          text=text, line=line, column=column)
    return ParseError("this text is not in the notation", text=text, line=line, column=column)


_OPEN_SUM = re.compile(r"(Σ|∑|\bsum)(_\{[^{}]*\}|_\w+|\[[^\]]*\])\s*$")


def _sum_hint(text: str, pos: int) -> str:
    """After ``Σ_i`` with no term: a sum needs one, and a tensor named Σ a declaration."""
    m = _OPEN_SUM.search(text[:pos].split("\n")[-1])
    if m is None:
        return ""
    return (f": {m.group(1)}{m.group(2)} starts a sum and needs a term after it, like "
            f"{m.group(1)}{m.group(2)} x{m.group(2)}" + ("; for a tensor named Σ, declare it "
                                                         "(Σ : matrix[n, n])"
                                                         if m.group(1) == "Σ" else ""))


def _char_hint(text: str, pos: int) -> str:
    ch = text[pos] if pos < len(text) else ""
    if ch == "_":
        return ": a subscript needs index letters after '_' (W_ij, W_{i,j}, W[i,j])"
    if ch == "|":
        return ": write a norm as ||x||"
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
