"""The ``:commands`` of a session: what each does, and the help text that lists them.

A command acts on the session (``:show``, ``:save``, ``:reset``) or reads the
last derivative asked another way (``:matrix``, ``:latex``, ``:explain``,
``:einsum``, ``:python``, ``:eval``).  ``run_command`` returns what the command
shows: text, or an object whose ``str`` is the text (a matrix form, an
explanation), so a notebook can display it richly and a terminal prints it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from indexcalc.errors import IndexcalcError
from indexcalc.functions import ALIASES, ELEMENTWISE, LOWERED, TENSOR
from indexcalc.ui.lines import statement_text
from indexcalc.ui.views import CommandError, call, evaluate_text

BACKENDS = ("numpy", "torch", "jax")


class Quit(Exception):
    """Raised by ``:quit``: the front end leaves."""


COMMANDS = {
    "help": "this help; :help NAME (or NAME?) says what NAME is",
    "show": "the model so far",
    "matrix": "matrix form of the last derivative  [row|column]",
    "latex": "LaTeX of the last derivative",
    "explain": "the last derivative, step by step",
    "einsum": "the last derivative as Python, every contraction an einsum  [numpy|torch|jax]",
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

FUNCTION_NAMES = {
    **{name: "an elementwise function" for name in ELEMENTWISE},
    **{name: f"a function of {'vectors' if f.rank_in == 1 else 'matrices'}"
       for name, f in TENSOR.items()},
    **{name: "written out in index form when read (a sum, a trace, a product)"
       for name in LOWERED},
}
FUNCTION_NAMES.update({alias: f"another name for {target}" for alias, target in ALIASES.items()})

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
has indices I then J: as an array its shape is Y.shape + X.shape.  As in IPython, exit or
quit leaves, help or ? shows this help, and W? says what W is.

Commands (they act on the last derivative asked):
""" + "\n".join(f"  :{name:<8} {what}" for name, what in COMMANDS.items())


# IPython's habits: exit and quit leave, help and ? help, NAME? says what NAME is
_HABITS = re.compile(r"^\s*(?:(?P<quit>exit|quit)(?:\(\))?|(?P<help>help(?:\(\))?|\?)"
                     r"|\?(?P<ask>[^\W\d]\w*)|(?P<asked>[^\W\d]\w*)\?\??"
                     r"|help\((?P<about>[^\W\d]\w*)\))\s*$")


def command_line(text: str) -> str | None:
    """The ``:command`` that ``text`` is, or None when it is notation: ``:...`` itself,
    or one of IPython's habits (``exit``, ``quit``, ``help``, ``?``, ``W?``, ``?W``)."""
    if text.lstrip().startswith(":"):
        return text
    m = _HABITS.match(text)
    if m is None:
        return None
    if m["quit"]:
        return ":quit"
    name = m["ask"] or m["asked"] or m["about"]
    return f":help {name}" if name else ":help"


def run_command(session, line: str):
    """Run one ``:command`` on ``session``; return what it shows."""
    name, _, arg = line.strip()[1:].partition(" ")
    arg = arg.strip()
    full = COMMAND_NAMES.get(name)
    if full is None:
        near = [c for c in COMMANDS if c.startswith(name)] if name else []
        hint = f" (did you mean :{near[0]}?)" if len(near) == 1 else ""
        raise CommandError(f"unknown command ':{name}'{hint}; :help lists the commands")
    return ACTIONS[full](session, arg)


def last_derivative(session):
    if session.last is None:
        raise CommandError("no derivative yet: ask one first, for example dE/dW")
    return session.last


def _help(session, arg: str) -> str:
    return describe(session, arg) if arg else HELP


def describe(session, name: str) -> str:
    """What ``name`` is: a tensor of the model (its declaration or definition and
    its shape), a dimension, a function or a command."""
    model = _model(session)
    if model is not None and name in model.shapes:
        dims = model.shapes[name]
        shape = "shape [" + ", ".join(str(d) for d in dims) + "]" if dims else "a scalar"
        if name in model.definitions:
            d = model.definitions[name]
            return f"{statement_text(d)}\n  defined in the model; {shape}"
        declared = model.declarations.get(name)
        how = statement_text(declared) if declared else f"{name} (inferred from its use)"
        return f"{how}\n  an input of the model; {shape}"
    if model is not None and name in model.dims:
        return f"{name}: a dimension of the model"
    if name in FUNCTION_NAMES:
        return f"{name}: {FUNCTION_NAMES[name]}"
    if name in COMMAND_NAMES:
        return f":{COMMAND_NAMES[name]}  {COMMANDS[COMMAND_NAMES[name]]}"
    raise CommandError(f"'{name}' is not a name of the model, a function or a command; "
                       ":show lists the model, :help the notation")


def _model(session):
    if not session.lines:
        return None
    try:
        return session.model()
    except IndexcalcError:
        return None


def _show(session, arg: str) -> str:
    return session.text if session.lines else "(the model is empty)"


def _matrix(session, arg: str):
    layout = arg or session.layout
    if layout not in ("row", "column"):
        raise CommandError(f"layout '{layout}': write :matrix row or :matrix column")
    return call(last_derivative(session), "matrix", layout=layout)


def _layout(session, arg: str) -> str:
    if arg not in ("row", "column"):
        raise CommandError("write :layout row or :layout column "
                           f"(vectors are {session.layout}s now)")
    session.layout = arg
    return f"vectors are printed as {arg}s"


def _latex(session, arg: str) -> str:
    return call(last_derivative(session), "latex")


def _explain(session, arg: str):
    return call(last_derivative(session), "explain")


def _einsum(session, arg: str) -> str:
    return _source(session, arg, einsum=True)


def _python(session, arg: str) -> str:
    return _source(session, arg, einsum=False)


def _source(session, arg: str, einsum: bool) -> str:
    """The last derivative as a function to paste (every contraction a literal einsum
    call with ``einsum``), as ``indexcalc diff --format python|einsum`` prints it."""
    backend = arg or "numpy"
    if backend not in BACKENDS:
        raise CommandError(f"backend '{backend}': choose one of {', '.join(BACKENDS)}")
    return call(last_derivative(session), "python", backend=backend, einsum=einsum,
                ascii=session.ascii).rstrip()


def _eval(session, arg: str) -> str:
    return evaluate_text(last_derivative(session), arg or None, session.seed)


def _load(session, arg: str) -> str:
    text = _read(arg)
    answers: list[str] = []
    errors: list[IndexcalcError] = []
    session.run(text, on_answer=answers.append, on_error=errors.append)
    if errors:
        raise CommandError(f"{arg}: {errors[0]}")
    return "\n".join(answers + [f"loaded {arg}"])


def _save(session, arg: str) -> str:
    if not arg:
        raise CommandError("write :save FILE")
    try:
        with open(arg, "w", encoding="utf-8") as f:
            f.write(session.text + "\n")
    except OSError as e:
        raise CommandError(f"cannot write {arg}: {e.strerror}") from None
    return f"saved {len(session.lines)} lines to {arg}"


def _reset(session, arg: str) -> str:
    session.reset()
    return "the model is empty"


def _quit(session, arg: str) -> str:
    raise Quit()


def _read(path: str) -> str:
    if not path:
        raise CommandError("write :load FILE")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror}") from None


ACTIONS: dict[str, Callable] = {
    "help": _help, "show": _show, "matrix": _matrix, "layout": _layout, "latex": _latex,
    "explain": _explain, "einsum": _einsum, "python": _python, "eval": _eval, "load": _load,
    "save": _save, "reset": _reset, "quit": _quit,
}
assert set(ACTIONS) == set(COMMANDS)
