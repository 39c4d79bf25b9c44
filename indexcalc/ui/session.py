"""A session: the statement-processing core shared by the REPL, pipes, ``run`` and ``-c``.

The front ends differ only in how text arrives (a prompt, a pipe, a file, a
string); what a statement means is decided here, once.  A session keeps the
model typed so far as text (declarations, definitions, assumptions), and for
each new input parses *session text + new input*, so every statement is read
in the context of everything before it.  Questions print their derivative in
index form (and matrix form where there is one), ``check`` prints its verdict,
and ``:commands`` act on the session or on the last derivative asked.

Errors are reported relative to the input the user just typed (or the file
being run), with the caret under the culprit, and leave the session as it was
before the failing statement.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from indexcalc.api import parse
from indexcalc.checking.claims import check, check_statement
from indexcalc.checking.numeric import numeric_derivative, random_arrays
from indexcalc.derivative import differentiate
from indexcalc.errors import IndexcalcError, ShapeError
from indexcalc.model import Assume, Check, Declaration, Definition, Model, Question
from indexcalc.read.operations import convolution_name
from indexcalc.read.text import definition_text, to_text
from indexcalc.syntax.subscripts import SUBSCRIPT

BACKENDS = ("numpy", "torch", "jax")


class CommandError(IndexcalcError):
    """A REPL command used wrongly (unknown command, missing argument, no derivative yet)."""


class Quit(Exception):
    """Raised by ``:quit``: the front end leaves."""


@dataclass
class Line:
    """One logical line of input: its text and the physical line it starts on."""
    text: str
    number: int


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
        """Run logical lines of notation, yielding the answers one by one.

        When parsing fails nothing is added to the session; when a question fails,
        the model statements of ``lines`` are kept."""
        if not any(_code(ln.text) for ln in lines):
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
               if _line_of(s, base + 1) > base]
        self.lines.extend(_model_lines(lines, base, [s for _, s in new]))
        for k, stmt in new:
            try:
                out = self.answer(model, k, stmt)
            except IndexcalcError as e:
                raise relocate(e, lines, base, _line_of(stmt, base + 1)) from None
            if out is not None:
                yield out

    def misshapen_check(self, lines: list[Line]) -> str | None:
        """A lone ``check`` whose claim has the wrong shape is a check that fails."""
        text = " ".join(_code(ln.text) for ln in lines).strip()
        if not text.startswith("check") or ";" in text:
            return None
        result = check(self.text, text)
        if not result.holds:
            self.failed_checks += 1
        return str(result)

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

    def answer(self, model: Model, k: int, stmt) -> str | None:
        """The answer to one statement, read with the statements before it."""
        if not isinstance(stmt, (Question, Check)):
            return None
        before = dataclasses.replace(model, statements=model.statements[:k])
        if isinstance(stmt, Question):
            d = differentiate(before, stmt.of, list(stmt.wrt), stmt.of_indices)
            self.last, self.last_source = d, stmt.source
            return self.show_derivative(d)
        result = check_statement(before, stmt)
        if not result.holds:
            self.failed_checks += 1
        return str(result)

    def show_derivative(self, d) -> str:
        """Index form, then the matrix form when there is one and it says more."""
        text = str(d)
        name = convolution_name(d.expr)                 # Σ_k c_{p−k} w_k: say what it is
        if name:
            return f"{text}\nthat is {name}"
        matrix = matrix_text(d, self.layout)
        if matrix is None:
            return text
        result = matrix.strip().splitlines()[-1]
        if result.split("=", 1)[-1].strip() == text.splitlines()[-1].split("=", 1)[-1].strip():
            return text
        return f"{text}\nmatrix form ({self.layout} vectors):\n" + _indent(matrix.strip())

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
                if line.text.lstrip().startswith(":"):
                    on_answer(self.command(line.text))
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
        name, _, arg = line.strip()[1:].partition(" ")
        arg = arg.strip()
        full = COMMAND_NAMES.get(name)
        if full is None:
            near = [c for c in COMMANDS if c.startswith(name)] if name else []
            hint = f" (did you mean :{near[0]}?)" if len(near) == 1 else ""
            raise CommandError(f"unknown command ':{name}'{hint}; :help lists the commands")
        return getattr(self, "cmd_" + full)(arg)

    def derivative(self):
        if self.last is None:
            raise CommandError("no derivative yet: ask one first, for example dE/dW")
        return self.last

    def cmd_help(self, arg: str) -> str:
        return HELP

    def cmd_show(self, arg: str) -> str:
        return self.text if self.lines else "(the model is empty)"

    def cmd_matrix(self, arg: str) -> str:
        layout = arg or self.layout
        if layout not in ("row", "column"):
            raise CommandError(f"layout '{layout}': write :matrix row or :matrix column")
        return str(_call(self.derivative(), "matrix", layout=layout))

    def cmd_layout(self, arg: str) -> str:
        if arg not in ("row", "column"):
            raise CommandError("write :layout row or :layout column "
                               f"(vectors are {self.layout}s now)")
        self.layout = arg
        return f"vectors are printed as {arg}s"

    def cmd_latex(self, arg: str) -> str:
        return _call(self.derivative(), "latex")

    def cmd_explain(self, arg: str) -> str:
        return str(_call(self.derivative(), "explain"))

    def cmd_einsum(self, arg: str) -> str:
        return einsum_text(self.derivative())

    def cmd_python(self, arg: str) -> str:
        backend = arg or "numpy"
        if backend not in BACKENDS:
            raise CommandError(f"backend '{backend}': choose one of {', '.join(BACKENDS)}")
        return _call(self.derivative(), "python", backend=backend).rstrip()

    def cmd_eval(self, arg: str) -> str:
        return evaluate_text(self.derivative(), arg or None, self.seed)

    def cmd_load(self, arg: str) -> str:
        text = _read(arg)
        answers: list[str] = []
        errors: list[IndexcalcError] = []
        self.run(text, on_answer=answers.append, on_error=errors.append)
        if errors:
            raise CommandError(f"{arg}: {errors[0]}")
        return "\n".join(answers + [f"loaded {arg}"])

    def cmd_save(self, arg: str) -> str:
        if not arg:
            raise CommandError("write :save FILE")
        try:
            with open(arg, "w", encoding="utf-8") as f:
                f.write(self.text + "\n")
        except OSError as e:
            raise CommandError(f"cannot write {arg}: {e.strerror}") from None
        return f"saved {len(self.lines)} lines to {arg}"

    def cmd_reset(self, arg: str) -> str:
        self.reset()
        return "the model is empty"

    def cmd_quit(self, arg: str) -> str:
        raise Quit()


_DEFINES = re.compile(r"^\s*([^\W\d_][^\W_]*)\s*(?:" + SUBSCRIPT + r")?\s*=(?!=)")

COMMANDS = {
    "help": "this help",
    "show": "the model so far",
    "matrix": "matrix form of the last derivative  [row|column]",
    "latex": "LaTeX of the last derivative",
    "explain": "the last derivative, step by step",
    "einsum": "the einsum contractions computing the last derivative",
    "python": "Python source computing the last derivative  [numpy|torch|jax]",
    "eval": "evaluate the last derivative on random data, or on arrays from FILE.npz",
    "layout": "print vectors as rows or columns  row|column",
    "load": "run the statements of FILE",
    "save": "write the model so far to FILE",
    "reset": "forget the model",
    "quit": "leave (or Ctrl-D)",
}
COMMAND_NAMES = {**{c: c for c in COMMANDS}, "q": "quit", "exit": "quit", "h": "help",
                 "?": "help"}

HELP_EXAMPLE = """\
y : vector[n]                  # declare: also  y ∈ ℝ^n,  W in R^(n,C),  A : matrix[n,n] symmetric
W : matrix[n, C]
t : vector[C]
z_k = W_ik y_i                 # define in index form (Einstein summation over i)
o_j = exp(z_j) / sum_i exp(z_i)
h = sigmoid(Wᵀ y)              # define in matrix form
E = -sum_j t_j log(o_j)
dE/dz_k                        # ask a derivative: also dE/dW, grad(E, W), hessian(f, x)
assume sum_j t_j = 1           # a fact simplification may use (one-hot labels)
check dE/dz_k == o_k - t_k     # check your own derivation"""

HELP = """\
Type the model the way you write it on paper, one statement per line (or separated by ;):

""" + "\n".join("  " + line for line in HELP_EXAMPLE.splitlines()) + """

A line ending in \\ or with an open parenthesis continues on the next line.  Typing a
definition again (E = ...) replaces the old one.  The derivative of Y_I with respect to X_J
has indices I then J: as an array its shape is Y.shape + X.shape.

Commands (they act on the last derivative asked):
""" + "\n".join(f"  :{name:<8} {what}" for name, what in COMMANDS.items())


# ---------------------------------------------------------------- reading the derivative


def _call(d, method: str, *args, **kwargs):
    """``d.method(...)``, with a clear message when this version of indexcalc lacks it."""
    try:
        fn = getattr(d, method)
    except AttributeError:
        fn = None
    if fn is None:
        raise CommandError(f"this version of indexcalc cannot do that yet "
                           f"(Derivative.{method} is missing)")
    try:
        return fn(*args, **kwargs)
    except ImportError as e:
        raise CommandError(f"this version of indexcalc cannot do that yet "
                           f"(Derivative.{method}: {e})") from None


def matrix_text(d, layout: str = "column") -> str | None:
    """The matrix form of ``d`` as text, or None when it has none (or matrix.py is absent)."""
    try:
        m = _call(d, "matrix", layout=layout)
    except IndexcalcError:
        return None
    for flag in ("exists", "ok", "available", "has_matrix_form"):
        if getattr(m, flag, True) is False:
            return None
    text = str(m)
    return None if "no matrix form" in text else text


def einsum_text(d) -> str:
    """One line per step: ``name = einsum("spec", operands...)`` for a contraction (a
    valid ``np.einsum`` call), ``name = expression`` (NumPy) for any other step."""
    lines = []
    for step in _call(d, "einsum"):
        out, spec, operands = step[0], step[1], step[2]
        if "->" in spec:
            lines.append(f'{out} = einsum("{spec}", {", ".join(operands)})')
        else:
            lines.append(f"{out} = {spec}")
    return "\n".join(lines)


def evaluate_text(d, path: str | None, seed: int = 0) -> str:
    """The derivative evaluated on random arrays (or on arrays from an .npz file),
    compared with central finite differences."""
    inputs = list(d.program.inputs)
    if path:
        arrays = _load_npz(path, inputs)
        origin = f"arrays from {path}"
    else:
        arrays = random_arrays(d.model, seed=seed, names=inputs)
        origin = f"random arrays (seed {seed})"
    value = np.asarray(d.evaluate(**arrays))
    lines = [f"{d.lhs()} on {origin}:"]
    for name in inputs:
        lines.append(f"  {name}: shape {tuple(np.shape(arrays[name]))}")
    with np.printoptions(precision=4, suppress=True, linewidth=96):
        lines.append(f"{d.lhs()}  (shape {value.shape}) =\n{_indent(str(value))}")
    lines.append(_finite_difference_line(d, arrays, value, numeric_derivative))
    return "\n".join(lines)


def _finite_difference_line(d, arrays, value, numeric_derivative) -> str:
    if d.model.assumptions:
        facts = "; ".join(a.source.removeprefix("assume ").strip() for a in d.model.assumptions)
        return (f"(finite differences skipped: the derivative uses the assumption {facts}, "
                "which random data does not satisfy)")
    if any(w in d.model.symmetric for w in d.wrt):
        return "(finite differences skipped: the variable is declared symmetric)"
    try:
        want = numeric_derivative(d.model, d.of, list(d.wrt), arrays)
    except IndexcalcError as e:
        return f"(finite differences not available: {e.problem})"
    if np.allclose(value, want, rtol=1e-4, atol=1e-6):
        return "finite differences agree (rtol 1e-4, atol 1e-6)"
    err = float(np.max(np.abs(want - value)))
    return f"finite differences DISAGREE (largest difference {err:.1e})"


def _load_npz(path: str, inputs: list[str]) -> dict:
    if not os.path.exists(path):
        raise CommandError(f"no such file: {path}")
    try:
        with np.load(path) as data:
            arrays = {k: np.asarray(data[k], dtype=float) for k in data.files}
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read {path} as an .npz file: {e}") from None
    missing = [n for n in inputs if n not in arrays]
    if missing:
        raise CommandError(f"{path} lacks the arrays {', '.join(missing)} "
                           f"(it has {', '.join(arrays) or 'none'})")
    return {n: arrays[n] for n in inputs}


def _read(path: str) -> str:
    if not path:
        raise CommandError("write :load FILE")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror}") from None


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + ln if ln else ln for ln in text.splitlines())


# ---------------------------------------------------------------- text handling


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


def _code(text: str) -> str:
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


def _line_of(stmt, default: int) -> int:
    span = getattr(stmt, "span", None)
    return span.line if span is not None else default


def _model_lines(lines: list[Line], base: int, new: list) -> list[str]:
    """The new input's lines that belong in the model text (questions and checks dropped)."""
    kept = []
    for k, ln in enumerate(lines, base + 1):
        here = [s for s in new if _line_of(s, -1) == k]
        asks = [s for s in here if isinstance(s, (Question, Check))]
        if not asks:
            kept.append(ln.text)
        elif len(asks) < len(here):
            kept.append("; ".join(statement_text(s) for s in here
                                  if not isinstance(s, (Question, Check))))
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
