"""Notebooks: ``%load_ext indexcalc`` and the ``%%indexcalc`` cell magic.

A cell under ``%%indexcalc`` is read the way the REPL reads what is typed
(one ``Session``: statements, ``check``, ``:commands``, redefinitions, errors
that leave the rest running), and each answer is displayed richly: a
derivative typeset (its LaTeX, an ``aligned`` block when it has named sums),
with its matrix form beside it when that says more; a check's verdict with
the formulas typeset; an explanation or a matrix form as text.  An error
prints its message and caret on standard error, and the cell goes on.

    %%indexcalc [NAME] [--from MODEL] [--layout row|column]

Each run of a cell starts from an empty model, or from ``--from MODEL`` (a
model made by an earlier cell, or by ``indexcalc.parse``), so running a cell
again gives the same answers.  With ``NAME`` the model the cell ends with is
kept in the notebook as ``NAME`` (an ``indexcalc.Model``: ``indexcalc.derivative(NAME,
wrt="W")`` works in the next Python cell, and a later cell can start
``%%indexcalc --from NAME``).

IPython is imported only by ``load_ipython_extension`` and ``display_all``:
``run_cell`` is the part that does the work, and runs without it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from indexcalc.derivative import Derivative
from indexcalc.errors import IndexcalcError
from indexcalc.model import Model
from indexcalc.ui.commands import Quit, command_line, run_command
from indexcalc.ui.lines import logical_lines
from indexcalc.ui.session import Session

USAGE = "usage: %%indexcalc [NAME] [--from MODEL] [--layout row|column]"


class MagicError(IndexcalcError):
    """The ``%%indexcalc`` line is wrong (an unknown option, a missing value)."""


@dataclass
class Cell:
    """What a cell's magic line asks for."""
    name: str | None = None
    start: str | None = None            # the name of the model to continue (--from)
    layout: str = "column"


@dataclass
class Ran:
    """A cell's answers in order (objects to display, errors), and its final model."""
    outputs: list = field(default_factory=list)
    model: Model | None = None


def parse_line(line: str) -> Cell:
    """The options on the ``%%indexcalc`` line."""
    cell, words = Cell(), line.split()
    while words:
        word = words.pop(0)
        if word in ("--from", "--layout"):
            if not words:
                raise MagicError(f"{word} needs a value; {USAGE}")
            value = words.pop(0)
            if word == "--from":
                cell.start = value
            elif value in ("row", "column"):
                cell.layout = value
            else:
                raise MagicError(f"--layout {value}: write row or column; {USAGE}")
        elif word.startswith("-") or cell.name is not None or not word.isidentifier():
            raise MagicError(f"cannot read {word!r}; {USAGE}")
        else:
            cell.name = word
    return cell


def run_cell(line: str, cell: str, namespace: dict) -> Ran:
    """Run a ``%%indexcalc`` cell: its answers (and errors) in order.  With a NAME,
    ``namespace[NAME]`` becomes the model the cell ends with."""
    options = parse_line(line)
    session = Session(layout=options.layout, redefine=True)
    if options.start is not None:
        start = namespace.get(options.start)
        if not isinstance(start, Model):
            raise MagicError(f"--from {options.start}: no indexcalc model of that name "
                             "(make one with %%indexcalc NAME, or indexcalc.parse)")
        session.lines.extend(start.text.splitlines())
    ran = Ran()
    for piece in logical_lines(cell):
        try:
            command = command_line(piece.text)
            if command is not None:
                ran.outputs.append(run_command(session, command))
            else:
                for outcome in session.outcomes([piece]):
                    ran.outputs.extend(_shown(session, outcome))
        except Quit:
            break
        except IndexcalcError as e:
            ran.outputs.append(e)
    ran.model = _model(session)
    if options.name is not None:
        namespace[options.name] = ran.model
    return ran


def _model(session: Session) -> Model:
    """The session's model; an empty one when the cell had no statements to keep."""
    try:
        return session.model()
    except IndexcalcError:                 # nothing to parse (the session keeps only lines
        return Model(())                   # that parse with what came before)


def _shown(session: Session, outcome) -> list:
    """A derivative is followed by its matrix form when that says more."""
    if not isinstance(outcome, Derivative):
        return [outcome]
    matrix = session.matrix_form(outcome)
    return [outcome] if matrix is None else [outcome, matrix]


def display_all(outputs: list) -> None:
    """Show each answer the richest way the front end can; errors on standard error."""
    from IPython.display import display
    for out in outputs:
        if isinstance(out, IndexcalcError):
            print(f"error: {out}", file=sys.stderr)
        elif type(out) is str:                     # plain text: :latex, :python, notes
            print(out)
        else:
            display(out)


def indexcalc_magic(line: str, cell: str, namespace: dict | None = None) -> None:
    """The ``%%indexcalc`` cell magic."""
    if namespace is None:
        from IPython import get_ipython
        namespace = get_ipython().user_ns
    try:
        ran = run_cell(line, cell, namespace)
    except IndexcalcError as e:
        print(f"error: {e}", file=sys.stderr)
        return
    display_all(ran.outputs)


def load_ipython_extension(ipython) -> None:
    """``%load_ext indexcalc``: registers the ``%%indexcalc`` cell magic."""
    ipython.register_magic_function(
        lambda line, cell: indexcalc_magic(line, cell, ipython.user_ns),
        magic_kind="cell", magic_name="indexcalc")
