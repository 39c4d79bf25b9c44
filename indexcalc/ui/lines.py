"""Input text for a session: logical lines, and errors moved back onto them.

A front end hands a session raw text (a prompt's input, a pipe, a file).
This module joins it into logical lines (a trailing ``\\`` or an open
parenthesis continues a line), says when the REPL must ask for another line,
writes model statements back as notation for the session's model text, and
moves an error found in *session text + input* onto the input's own lines, so
the caret sits under what the user just typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexcalc.errors import IndexcalcError
from indexcalc.model import Assume, Check, Declaration, Definition, Question
from indexcalc.read.text import definition_text, to_text


@dataclass
class Line:
    """One logical line of input: its text and the physical line it starts on."""
    text: str
    number: int


def logical_lines(text: str) -> list[Line]:
    """Physical lines joined where a line ends in ``\\`` or a parenthesis is open."""
    out: list[Line] = []
    pending, start, depth = "", 1, 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        code = raw.split("#", 1)[0]
        depth += _depth_change(code)
        if code.rstrip().endswith("\\"):
            pending += code.rstrip()[:-1] + " "
            continue
        if depth > 0:
            pending += code + " "
            continue
        out.append(Line(pending + raw, start))
        pending, depth = "", 0
    if pending:
        out.append(Line(pending, start))
    return out


def code_of(text: str) -> str:
    """``text`` without its comment, stripped."""
    return text.split("#", 1)[0].strip()


def _depth_change(code: str) -> int:
    return sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")


def incomplete(text: str) -> bool:
    """Does ``text`` need another line (open parenthesis, trailing backslash)?"""
    if text.lstrip().startswith(":"):
        return False
    depth = 0
    for raw in text.splitlines() or [""]:
        code = raw.split("#", 1)[0]
        depth += _depth_change(code)
    last = (text.splitlines() or [""])[-1].split("#", 1)[0]
    return depth > 0 or last.rstrip().endswith("\\")


def line_of(stmt, default: int) -> int:
    span = getattr(stmt, "span", None)
    return span.line if span is not None else default


def model_lines(lines: list[Line], base: int, new: list) -> list[str]:
    """The new input's lines that belong in the model text (questions and checks
    dropped; a named check ``check δ2 = ...`` stays, later checks may use δ2)."""
    kept = []
    for k, ln in enumerate(lines, base + 1):
        here = [s for s in new if line_of(s, -1) == k]
        asks = [s for s in here if isinstance(s, Question)
                or isinstance(s, Check) and not s.name]
        if not asks:
            kept.append(ln.text)
        elif len(asks) < len(here):
            kept.append("; ".join(statement_text(s) for s in here if s not in asks))
    return kept


def statement_text(stmt) -> str:
    """A model statement as notation (its source when the parser kept it)."""
    if getattr(stmt, "source", ""):
        return stmt.source
    if isinstance(stmt, Declaration):
        kinds = {0: "scalar", 1: "vector", 2: "matrix"}
        kind = kinds.get(len(stmt.shape), "tensor")
        dims = "" if not stmt.shape else "[" + ", ".join(str(d) for d in stmt.shape) + "]"
        return f"{stmt.name} : {kind}{dims}" + (" symmetric" if stmt.symmetric else "")
    if isinstance(stmt, Definition):
        return definition_text(stmt.name, stmt.indices, stmt.expr)
    if isinstance(stmt, Assume):
        return f"assume {to_text(stmt.lhs)} = {to_text(stmt.rhs)}"
    raise TypeError(stmt)


def relocate(e: IndexcalcError, lines: list[Line], base: int,
             fallback: int | None = None) -> IndexcalcError:
    """``e`` moved from the combined text (session + input) to the input's own lines.

    An error with a place gets its caret in the input; one without (a question
    that cannot be answered) gets the line of the statement that raised it."""
    line = e.line if e.line is not None else fallback
    if line is None or line <= base or line - base > len(lines):
        return e
    ln = lines[line - base - 1]
    try:
        if e.line is not None:
            return type(e)(e.problem, text="\n" * (ln.number - 1) + ln.text,
                           line=ln.number, column=e.column)
        moved = type(e)(e.problem)
    except TypeError:                       # a subclass with another constructor
        return e
    moved.line = ln.number
    moved.args = (f"{e.problem}\n  at line {ln.number}:\n    {ln.text.strip()}",)
    return moved
