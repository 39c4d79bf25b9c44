"""A session: the statement-processing core shared by the REPL, pipes, ``run`` and ``-c``.

The front ends differ only in how text arrives (a prompt, a pipe, a file, a
string); what a statement means is decided here, once.  A session keeps the
model typed so far as text (declarations, definitions, assumptions), and for
each new input parses *session text + new input*, so every statement is read
in the context of everything before it.  Questions print their derivative in
index form (and matrix form where there is one), ``check`` prints its verdict,
and ``:commands`` (commands.py; also IPython's ``exit``, ``help``, ``W?``) act on
the session or on the last derivative asked.  ``outcomes`` gives the answers as
objects (a notebook displays them richly), ``statements`` as text (in ASCII
with ``ascii``).

Errors are reported relative to the input the user just typed (or the file
being run), with the caret under the culprit, and leave the session as it was
before the failing statement.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from indexcalc.api import parse
from indexcalc.checking.claims import check, check_statement
from indexcalc.derivative import Derivative, differentiate
from indexcalc.errors import IndexcalcError, ShapeError
from indexcalc.model import Check, Model, Question
from indexcalc.read.operations import convolution_name
from indexcalc.syntax.subscripts import SUBSCRIPT
from indexcalc.ui.commands import Quit, command_line, last_derivative, run_command
from indexcalc.ui.lines import (
    Line,
    code_of,
    line_of,
    logical_lines,
    model_lines,
    relocate,
)
from indexcalc.ui.views import CommandError, ascii_text, indent, matrix_form

__all__ = ["CommandError", "Line", "Quit", "Session"]


@dataclass
class Session:
    """The model so far, the last derivative asked, and the settings of the printers."""
    lines: list[str] = field(default_factory=list)     # model text, one logical line each
    last: object = None                                 # the last Derivative
    last_source: str = ""
    layout: str = "column"
    failed_checks: int = 0
    seed: int = 0
    redefine: bool = False                              # the REPL's E = ... replaces E
    ascii: bool = False                                 # answers in ASCII (--ascii)

    # ------------------------------------------------------------ the model text
    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def model(self) -> Model:
        return parse(self.text)

    def reset(self) -> None:
        self.lines.clear()
        self.last, self.last_source = None, ""
        self.failed_checks = 0

    # ------------------------------------------------------------ statements
    def statements(self, lines: list[Line]) -> Iterator[str]:
        """Run logical lines of notation, yielding the answers one by one, as text.

        When parsing fails nothing is added to the session; when a question fails,
        the model statements of ``lines`` are kept."""
        for outcome in self.outcomes(lines):
            yield self.render(outcome)

    def outcomes(self, lines: list[Line]) -> Iterator[object]:
        """The answers of ``statements`` as objects: a Derivative for a question, a
        CheckResult for a check, text for a note (a notebook displays them richly)."""
        if not any(code_of(ln.text) for ln in lines):
            self.lines.extend(ln.text for ln in lines if ln.text.strip())   # comments
            return
        if self.redefine and len(lines) == 1 and (note := self.redefinition(lines[0].text)):
            yield note
            return
        base = len(self.lines)
        combined = "\n".join(self.lines + [ln.text for ln in lines])
        try:
            model = parse(combined)
        except ShapeError as e:
            verdict = self.misshapen_check(lines)
            if verdict is None:
                raise relocate(e, lines, base) from None
            yield verdict
            return
        except IndexcalcError as e:
            raise relocate(e, lines, base) from None
        new = [(k, s) for k, s in enumerate(model.statements)
               if line_of(s, base + 1) > base]
        self.lines.extend(model_lines(lines, base, [s for _, s in new]))
        for k, stmt in new:
            try:
                out = self.answer(model, k, stmt)
            except IndexcalcError as e:
                raise relocate(e, lines, base, line_of(stmt, base + 1)) from None
            if out is not None:
                yield out

    def misshapen_check(self, lines: list[Line]):
        """A lone ``check`` whose claim has the wrong shape is a check that fails."""
        text = " ".join(code_of(ln.text) for ln in lines).strip()
        if not text.startswith("check") or ";" in text:
            return None
        result = check(self.text, text)
        if not result.holds:
            self.failed_checks += 1
        return result

    def redefinition(self, text: str) -> str | None:
        """In the REPL, typing ``E = ...`` again replaces the line that defined ``E``
        (in place, so what uses ``E`` uses the new definition).  None when ``text``
        is not a lone redefinition or the model would not parse with it."""
        m = _DEFINES.match(text)
        if not m or ";" in text or not self.lines:
            return None
        try:
            old = self.model().definitions.get(m.group(1))
        except IndexcalcError:
            return None
        if old is None or old.span is None or old.span.line > len(self.lines):
            return None
        row = old.span.line - 1
        if self.lines[row].split("#", 1)[0].count(";"):
            return None
        lines = self.lines[:row] + [text] + self.lines[row + 1:]
        try:
            parse("\n".join(lines))
        except IndexcalcError as e:
            raise relocate(e, [Line(text, 1)], row) from None
        replaced, self.lines[:] = self.lines[row], lines
        self.last, self.last_source = None, ""
        return f"{m.group(1)} redefined (it replaces: {replaced.strip()})"

    def answer(self, model: Model, k: int, stmt):
        """The answer to one statement, read with the statements before it."""
        if not isinstance(stmt, (Question, Check)):
            return None
        before = dataclasses.replace(model, statements=model.statements[:k])
        if isinstance(stmt, Question):
            d = differentiate(before, stmt.of, list(stmt.wrt), stmt.of_indices)
            self.last, self.last_source = d, stmt.source
            return d
        result = check_statement(before, stmt)
        if not result.holds:
            self.failed_checks += 1
        return result

    def render(self, outcome) -> str:
        """An answer as the text a terminal prints (in ASCII when asked)."""
        text = self.show_derivative(outcome) if isinstance(outcome, Derivative) else str(outcome)
        return ascii_text(text) if self.ascii else text

    def show_derivative(self, d) -> str:
        """Index form, then the matrix form when there is one and it says more."""
        text = str(d)
        name = convolution_name(d.expr)                 # Σ_k c_{p−k} w_k: say what it is
        if name:
            return f"{text}\nthat is {name}"
        matrix = self.matrix_form(d)
        if matrix is None:
            return text
        return f"{text}\nmatrix form ({self.layout} vectors):\n" + indent(str(matrix).strip())

    def matrix_form(self, d):
        """The matrix form of ``d`` worth showing beside its index form: None when
        there is none, or when it reads the same as the index form's result."""
        form = matrix_form(d, self.layout)
        if form is None:
            return None
        result = str(form).strip().splitlines()[-1]
        if result.split("=", 1)[-1].strip() == str(d).splitlines()[-1].split("=", 1)[-1].strip():
            return None
        return form

    # ------------------------------------------------------------ scripts
    def run(self, text: str, *, on_answer: Callable[[str], None] = print,
            on_error: Callable[[IndexcalcError], None] | None = None,
            keep_going: bool = False) -> int:
        """Run a script (notation lines and ``:commands``) and return its exit status:
        0, 1 when a check failed, 2 after an input error.  Without ``on_error``
        errors are raised; with it they are reported and the script stops (or,
        with ``keep_going``, goes on)."""
        before, status = self.failed_checks, 0
        for line in logical_lines(text):
            try:
                command = command_line(line.text)
                if command is not None:
                    on_answer(self.command(command))
                else:
                    for answer in self.statements([line]):
                        on_answer(answer)
            except IndexcalcError as e:
                if on_error is None:
                    raise
                on_error(e)
                status = 2
                if not keep_going:
                    return 2
        return status or (1 if self.failed_checks > before else 0)

    # ------------------------------------------------------------ commands
    def command(self, line: str) -> str:
        """Run one ``:command``; return what it prints."""
        return self.render(run_command(self, line))

    def derivative(self):
        return last_derivative(self)


_DEFINES = re.compile(r"^\s*([^\W\d_][^\W_]*)\s*(?:" + SUBSCRIPT + r")?\s*=(?!=)")
