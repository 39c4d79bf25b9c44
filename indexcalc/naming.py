"""Safe Python identifiers for the names in a model.

Generated code never contains user text as code: every tensor and dimension
name becomes ``v_<safe>`` / ``d_<safe>``, where ``<safe>`` keeps ASCII letters,
digits and underscores, spells Greek letters and ``∂`` out (``θ`` -> ``theta``)
and writes any other character as ``xHHHH``.  The prefix means a keyword
(``lambda``), a builtin (``print``) or a dunder (``__import__``) never appears
as written, and distinct names that sanitise alike get a numeric suffix.
"""

from __future__ import annotations

import keyword
import unicodedata

_SPELLED = {"∂": "d", "∇": "nabla", "′": "p", "'": "p", "/": "_", "·": "_", "ᵀ": "T"}


def _char(ch: str) -> str:
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    if ch in _SPELLED:
        return _SPELLED[ch]
    name = unicodedata.name(ch, "")
    if name.startswith(("GREEK SMALL LETTER ", "GREEK CAPITAL LETTER ")):
        word = name.split("LETTER ", 1)[1].lower().replace(" ", "_")
        return word if "SMALL" in name else word.capitalize()
    return f"x{ord(ch):04x}"


def safe(name: str) -> str:
    """The identifier part for ``name`` (no prefix): only [A-Za-z0-9_]."""
    out = "".join(_char(c) for c in str(name))
    return out or "x"


def assign_names(names, prefix: str, taken: set[str]) -> dict[str, str]:
    """``prefix + safe(name)`` for each name, distinct from each other and ``taken``."""
    out: dict[str, str] = {}
    for name in names:
        base = prefix + safe(name)
        ident, k = base, 1
        while ident in taken or keyword.iskeyword(ident):
            k += 1
            ident = f"{base}_{k}"
        taken.add(ident)
        out[name] = ident
    return out
