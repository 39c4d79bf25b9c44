"""The one exception hierarchy users see.

Every failure a user can cause is an ``IndexcalcError``.  Errors about text
carry the source, line and column, and their message shows the line with a
caret under the place, so the REPL, the command line and the API all report
problems the same way.
"""

from __future__ import annotations


class IndexcalcError(Exception):
    """Base of every error indexcalc raises for bad input."""

    def __init__(self, message: str, *, text: str | None = None,
                 line: int | None = None, column: int | None = None):
        self.problem = message
        self.text = text
        self.line = line
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        if self.text is None or self.line is None or self.column is None:
            return self.problem
        lines = self.text.splitlines() or [""]
        row = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        shown, col = _clip(row, self.column)
        caret = " " * (col - 1) + "^"
        return (f"{self.problem}\n  at line {self.line}, column {self.column}:\n"
                f"    {shown}\n    {caret}")

    def at(self, text: str, line: int, column: int) -> "IndexcalcError":
        """The same error, located in ``text`` (if it had no place yet)."""
        if self.line is None:
            self.text, self.line, self.column = text, line, column
            self.args = (self._format(),)
        return self


def _clip(row: str, column: int, width: int = 100) -> tuple[str, int]:
    """A window of at most ``width`` characters of ``row`` around ``column``."""
    if len(row) <= width:
        return row, column
    start = max(0, min(column - width // 2, len(row) - width))
    return "…" + row[start:start + width] + "…", column - start + 1


class ParseError(IndexcalcError):
    """The text is not in the notation (syntax)."""


class UnknownNameError(IndexcalcError):
    """An unknown name: a function that does not exist, an undefined variable."""


class IndexMismatchError(IndexcalcError):
    """Free indices that do not match, or an index used three times."""


class ShapeError(IndexcalcError):
    """Dimensions or ranks that do not agree."""


class DerivativeError(IndexcalcError):
    """A derivative that cannot be taken (with respect to a non-variable...)."""


class DivisionByZero(IndexcalcError):
    """A denominator that simplifies to the number 0."""


class EvaluationError(IndexcalcError):
    """Missing or mis-shaped arrays, functions that cannot be evaluated."""


class LimitError(IndexcalcError):
    """An input or a result beyond indexcalc's size limits."""
