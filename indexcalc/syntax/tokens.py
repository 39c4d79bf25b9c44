"""The token stream between Lark's lexer and parser: which ``||`` opens, and what ``Σ`` is.

Two spellings of the notation cannot be told apart by an LALR(1) grammar alone,
but can be by the token before them or by the rest of the text:

* ``||`` both opens and closes a norm.  A ``||`` closes the innermost open norm
  when the token before it ends an operand (a name, a number, ``)``, a subscript,
  a transpose, a closing ``||``); otherwise it opens one.  So ``λ ||w||^2``,
  ``||u|| ||v||`` and ``||x − ||y|| z||`` read as written; a norm directly inside
  a norm after an operand (``||a ||b|| ||``) is read as two norms: write
  ``||a (||b||)||`` for the nested one.
* ``Σ`` is the sum sign (``Σ_i x_i``), or, when the text declares a tensor named
  ``Σ`` (``Σ : matrix[n, n] symmetric``, the usual name of a covariance), that
  tensor everywhere in the text; sums are then written ``sum_i`` or ``∑_i``.  A
  bare ``Σ`` (no subscript) is always a name (the grammar's ``atom``).

``TokenStream`` is Lark's ``postlex`` hook; whether ``Σ`` is declared is decided
by ``sigma_declared`` on the text before parsing and handed over in a context
variable, so one cached parser serves every text.

``KeywordLexer`` is the lexer.  The words of the notation (``scalar``, ``pad``,
``in``, ``sum`` ...) are names wherever the grammar expects no word, so a tensor
may be called ``pad``: Lark's contextual lexer does that by scanning each parser
state with its own regular expression, built from the terminals that state
accepts, and the ~12 expressions a first text needs took 23 ms to compile,
most of a fresh process's first parse.  The only terminals that need the
context are those words (every other terminal lexes alike everywhere: the
grammar parses with a lexer that ignores context, keywords aside), so
``KeywordLexer`` gives every state all the other terminals and only its own
words: the states share a handful of expressions.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from lark import Token
from lark.lexer import ContextualLexer

SIGMA_IS_NAME: ContextVar[bool] = ContextVar("SIGMA_IS_NAME", default=False)

# tokens after which a `||` closes a norm (they end an operand)
_ENDS_OPERAND = frozenset({"NAME", "NUMBER", "RPAR", "SUBSCRIPT", "BRACKET", "TRANSPOSE",
                           "NORM_CLOSE", "SIGMA", "ONES", "CONDITION"})
_SIGMA_DECLARATION = re.compile(r"(?:^|[;\n])[ \t]*Σ[ \t]*(?::|∈|in\b)")


def sigma_declared(text: str) -> bool:
    """Does the text declare a tensor named Σ (``Σ : ...``, ``Σ ∈ ℝ^{n×n}``)?"""
    return _SIGMA_DECLARATION.search(text) is not None


class TokenStream:
    """Lark's postlex hook (see the module docstring)."""

    always_accept = ("NORM", "SIGMA")

    def process(self, stream):
        open_norms = 0
        previous = None
        sigma_is_name = SIGMA_IS_NAME.get()
        for tok in stream:
            if tok.type == "NORM":
                if open_norms and previous in _ENDS_OPERAND:
                    open_norms -= 1
                    tok = Token.new_borrow_pos("NORM_CLOSE", tok.value, tok)
                else:
                    open_norms += 1
                    tok = Token.new_borrow_pos("NORM_OPEN", tok.value, tok)
            elif tok.type == "SIGMA" and sigma_is_name:
                tok = Token.new_borrow_pos("NAME", tok.value, tok)
            elif tok.type == "_SEP":
                open_norms = 0
            previous = tok.type
            yield tok


class KeywordLexer(ContextualLexer):
    """Lark's contextual lexer, context kept for the notation's words alone (see above);
    plugged in with Lark's ``_plugins`` option."""

    def __init__(self, conf, states, always_accept=()):
        name = conf.terminals_by_name["NAME"].pattern.to_regexp()
        words = {t.name for t in conf.terminals
                 if t.pattern.type == "str" and re.fullmatch(name, t.pattern.value)}
        others = sorted(t.name for t in conf.terminals if t.name not in words)
        states = {state: others + sorted(words.intersection(accepts))
                  for state, accepts in states.items()}
        super().__init__(conf, states, always_accept)
