"""The subscript syntax in one place: how ``W_ij``, ``W_{ij}``, ``W_{i,j}``, ``W[i,j]`` read.

Reading (the parser, ``derivative.parse_wrt``), recognising (the session, the
REPL's colouring) and writing (the printers) all follow the rule here:

* ``_ik`` and ``_{ik}``: one letter (or digit) per index;
* ``_{i,k}`` and ``[i1,k]``: comma-separated names; ``[ab]`` is one index ``ab``;
* an index name is a letter (Latin or Greek) followed by letters and digits.

A printer writes ``_ik`` when every name is one letter (``_{i,k}`` for the
indices a function runs over, when there are several), and ``[i1,k]`` as soon
as one name is longer.  The grammar's SUBSCRIPT and BRACKET tokens
(``grammar/indexcalc.lark``) are the same rule for Lark.
"""

from __future__ import annotations

import re

_LETTER = r"A-Za-z\u0391-\u03A1\u03A4-\u03A9\u03B1-\u03C9\u03D1\u03D5\u03F5"
NAME = re.compile(rf"[{_LETTER}][{_LETTER}0-9]*")        # an index or dimension name
SUBSCRIPT = r"_\{[^}]*\}|_\w+|\[[^\]]*\]"                   # a subscript, to recognise one


def split_subscript(raw: str) -> list[str]:
    """The index names of a subscript, unchecked: ``_ik``, ``_{ik}``, ``_{i,k}``, ``[i,k]``."""
    if raw.startswith("["):
        items = raw[1:-1].split(",")
    elif raw.startswith("_{"):
        inner = raw[2:-1]
        items = inner.split(",") if "," in inner else list(inner.replace(" ", ""))
    else:
        items = list(raw[1:])
    return [s.strip() for s in items]


def subscript_indices(raw: str, fail) -> tuple[str, ...]:
    """The index names of a subscript, each checked; ``fail(message)`` makes the error."""
    names = tuple(split_subscript(raw))
    if not names or any(not s for s in names):
        raise fail(f"empty index in the subscript {raw!r}")
    for s in names:
        if s.isdigit():
            raise fail(f"indices are names, not numbers: {raw!r}; "
                       f"for multi-letter index names write W[i1,k]")
        if not NAME.fullmatch(s):
            raise fail(f"{s!r} is not an index name (in {raw!r}); "
                       f"for multi-letter index names write W[i1,k]")
    return names


def one_letter_each(names) -> bool:
    """Whether the names can be written juxtaposed (``_ik``) rather than listed."""
    return all(len(n) == 1 for n in names)


def subscript_text(names, compact: bool = True) -> str:
    """``_ik`` (``_{i,k}`` if not ``compact``); any multi-letter name: ``[i1,k]``."""
    names = list(names)
    if not names:
        return ""
    if not one_letter_each(names):
        return "[" + ",".join(names) + "]"
    if compact or len(names) == 1:
        return "_" + "".join(names)
    return "_{" + ",".join(names) + "}"
