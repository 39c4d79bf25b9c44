"""The interactive prompt: prompt_toolkit around a ``Session``.

Everything a statement or a command means lives in session.py; this module
only adds what a terminal needs: history kept across sessions (in the user's
data directory), continuation lines while a parenthesis is open or a line ends
in ``\\``, tab completion of the model's names, the functions and the
commands (only the model's variables after ``dE/d``), up-arrow searching the
history by the typed prefix, highlighting of the notation, Ctrl-C to drop a
line and Ctrl-D (or ``exit``) to leave.
"""

from __future__ import annotations

import os
import re

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from indexcalc.errors import IndexcalcError
from indexcalc.functions import ALIASES, ELEMENTWISE, LOWERED, TENSOR
from indexcalc.syntax.subscripts import SUBSCRIPT
from indexcalc.ui.commands import BACKENDS, COMMANDS, Quit, command_line
from indexcalc.ui.lines import incomplete, logical_lines
from indexcalc.ui.session import Session
from indexcalc.ui.views import ascii_message, ascii_text

BANNER = ("indexcalc: type a model, then ask dE/dW.  :help for the notation and the commands, "
          "Ctrl-D to leave.")
PROMPT, CONTINUATION = "∂> ", "…  "
KEYWORDS = ("check", "assume", "sum", "scalar", "vector", "matrix", "tensor", "symmetric",
            "grad", "hessian", "jacobian")
FUNCTIONS = tuple(sorted(set(ELEMENTWISE) | set(TENSOR) | set(ALIASES) | set(LOWERED)))

STYLE = Style.from_dict({
    "command": "bold ansicyan",
    "keyword": "bold ansimagenta",
    "function": "ansiblue",
    "index": "ansigreen",
    "number": "ansiyellow",
    "operator": "ansired",
    "comment": "italic ansibrightblack",
    "error": "ansired",
    "prompt": "bold",
})

_TOKENS = re.compile(r"""
    (?P<comment>\#.*)
  | (?P<command>^\s*:\w*)
  | (?P<index>""" + SUBSCRIPT + r""")
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<word>[^\W\d_][^\W_]*'*)
  | (?P<operator>==|[-+*/^@⊙=;:'ᵀ∂Σ∑−∈]|\.\*|\|\|)
  | (?P<other>.)
""", re.VERBOSE)


class NotationLexer(Lexer):
    """Colours commands, keywords, known functions, subscripts, numbers and comments."""

    def lex_document(self, document: Document):
        lines = document.lines

        def get_line(n: int):
            return FormattedText(tokens(lines[n])) if n < len(lines) else []
        return get_line


def tokens(line: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKENS.finditer(line):
        kind, text = m.lastgroup, m.group()
        if kind == "word":
            kind = ("keyword" if text in KEYWORDS
                    else "function" if text.rstrip("'") in FUNCTIONS else "")
        elif kind == "other":
            kind = ""
        out.append((f"class:{kind}" if kind else "", text))
    return out


class NotationCompleter(Completer):
    """Commands after ``:``, file names after ``:load``/``:save``/``:eval``, backends after
    ``:python`` and ``:einsum``, otherwise the model's names, the functions and the keywords."""

    def __init__(self, session: Session):
        self.session = session
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        text = document.text_before_cursor
        stripped = text.lstrip()
        if stripped.startswith(":"):
            yield from self._command(stripped, document, complete_event)
            return
        after_d = _WRT.search(text)
        if after_d:
            prefix, names = after_d.group("prefix") or "", self.variables()
        else:
            word = re.search(r"[^\W\d_][\w]*$", text)
            if not word:
                return
            prefix, names = word.group(), self.names()
        for name in names:
            if name.startswith(prefix) and name != prefix:
                yield Completion(name, start_position=-len(prefix))

    def _command(self, stripped: str, document: Document, event):
        head, space, arg = stripped[1:].partition(" ")
        if not space:
            for c in COMMANDS:
                if c.startswith(head):
                    yield Completion(c, start_position=-len(head), display_meta=COMMANDS[c])
        elif head in ("python", "einsum"):
            for b in BACKENDS:
                if b.startswith(arg):
                    yield Completion(b, start_position=-len(arg))
        elif head in ("matrix", "layout"):
            for b in ("row", "column"):
                if b.startswith(arg):
                    yield Completion(b, start_position=-len(arg))
        elif head in ("load", "save", "eval"):
            yield from self.paths.get_completions(Document(arg, len(arg)), event)

    def names(self) -> list[str]:
        return sorted(set(model_names(self.session)) | set(FUNCTIONS) | set(KEYWORDS))

    def variables(self) -> list[str]:
        """What a derivative may be taken with respect to: the model's tensors."""
        return sorted(model_variables(self.session))


# the variable of a question being typed: dE/dW, ∂E/∂z, dh_a/dr, grad(E, W, hessian(f, x
_WRT = re.compile(r"""(?:(?<!\w)[d∂]\S*?/\s*[d∂]\s*
                    |(?<!\w)(?:grad|hessian|jacobian)\(\s*[^\W\d_]\w*\s*,\s*)
                    (?P<prefix>[^\W\d_]\w*)?$""", re.VERBOSE)


def model_names(session: Session) -> list[str]:
    """The tensors and dimensions of the session's model (none if it does not parse)."""
    model = _model(session)
    return [] if model is None else list(model.shapes) + sorted(model.dims)


def model_variables(session: Session) -> list[str]:
    """The tensors of the session's model, inputs and definitions."""
    model = _model(session)
    return [] if model is None else list(model.shapes)


def _model(session: Session):
    if not session.lines:
        return None
    try:
        return session.model()
    except IndexcalcError:
        return None


def history_file() -> str | None:
    """``<user data dir>/history``; None when the directory cannot be made."""
    from platformdirs import user_data_dir
    folder = os.environ.get("INDEXCALC_DATA_DIR") or user_data_dir("indexcalc")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return os.path.join(folder, "history")


def make_prompt(session: Session, **kwargs) -> PromptSession:
    """The prompt_toolkit session (``kwargs`` lets tests pass ``input``/``output``)."""
    path = history_file()
    history = FileHistory(path) if path else InMemoryHistory()
    continuation = ascii_text(CONTINUATION) if session.ascii else CONTINUATION
    return PromptSession(
        history=history,
        lexer=NotationLexer(),
        completer=NotationCompleter(session),
        complete_while_typing=False,
        enable_history_search=True,           # up-arrow: the entries that start as typed
        style=STYLE,
        multiline=Condition(lambda: _needs_more()),
        prompt_continuation=lambda width, n, soft: continuation.rjust(width),
        **kwargs)


def _needs_more() -> bool:
    from prompt_toolkit.application import get_app
    return incomplete(get_app().current_buffer.text)


def repl(layout: str = "column", ascii: bool = False, **kwargs) -> int:
    """Read-eval-print until Ctrl-D, :quit or exit.  Returns 0 (1 if a check failed)."""
    session = Session(layout=layout, redefine=True, ascii=ascii)
    prompt = make_prompt(session, **kwargs)
    print(ascii_text(BANNER) if ascii else BANNER)
    shown = ascii_text(PROMPT) if ascii else PROMPT
    while True:
        try:
            text = prompt.prompt([("class:prompt", shown)])
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            handle(session, text)
        except Quit:
            break
    return 1 if session.failed_checks else 0


def handle(session: Session, text: str) -> None:
    """Run one input of the REPL and print the answers, or the error with its caret."""
    if not text.strip():
        return
    try:
        command = command_line(text)
        if command is not None:
            print(session.command(command))
        else:
            for answer in session.statements(logical_lines(text)):
                print(answer)
    except IndexcalcError as e:
        print(f"error: {ascii_message(str(e)) if session.ascii else e}")
    except KeyboardInterrupt:
        print("interrupted")

