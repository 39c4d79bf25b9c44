"""The REPL driven for real: keystrokes through prompt_toolkit's pipe input, and one
session in a pseudo-terminal.

A user types a model, asks derivatives, uses every command, makes a mistake,
sees the message with its caret, and goes on.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from indexcalc.ui.repl import NotationCompleter, repl, tokens
from indexcalc.ui.session import Session

MODEL = [
    "z : vector[C]",
    "t : vector[C]",
    "o_j = exp(z_j) / sum_i exp(z_i)",
    "E = -sum_j t_j log(o_j)",
]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """History goes to a temporary data directory, never the user's."""
    monkeypatch.setenv("INDEXCALC_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def drive(lines: list[str], capsys, **options) -> tuple[int, str]:
    """Type ``lines`` (each followed by Enter) into the REPL, then Ctrl-D."""
    with create_pipe_input() as inp:
        inp.send_text("".join(line + "\r" for line in lines))
        inp.send_text("\x04")
        with create_app_session(input=inp, output=DummyOutput()):
            status = repl(**options)
    return status, capsys.readouterr().out


def test_model_question_and_answer(capsys):
    status, out = drive(MODEL + ["dE/dz_k"], capsys)
    assert status == 0
    assert "∂E/∂z_k = o_k τ − t_k" in out
    assert "τ = Σ_j t_j" in out


def test_mistake_shows_caret_and_session_goes_on(capsys):
    status, out = drive(MODEL + ["h_k = z_k + + )", "dE/dz_k"], capsys)
    assert "error:" in out
    assert "^" in out and "line 1" in out
    assert "∂E/∂z_k = o_k τ − t_k" in out


def test_unknown_name_error_then_recovery(capsys):
    status, out = drive(MODEL + ["dE/dq_k", "dE/dz_k"], capsys)
    assert "error:" in out and "q" in out
    assert "∂E/∂z_k" in out


def test_every_command(tmp_path, capsys):
    saved = tmp_path / "model.ic"
    lines = MODEL + ["dE/dz_k", ":help", ":show", ":matrix", ":latex", ":explain", ":einsum",
                     ":python", ":python torch", ":eval", f":save {saved}", ":reset", ":show",
                     f":load {saved}", "dE/dz_k", ":nonsense", ":python fortran", ":quit",
                     "this line is never read"]
    status, out = drive(lines, capsys)
    assert ":explain" in out and ":eval" in out                  # help lists the commands
    assert "o_j = exp(z_j) / sum_i exp(z_i)" in out              # :show
    assert r"\frac" in out                                       # :latex
    assert out.count("def dE_dz(z, t):") == 3                   # :einsum, :python (twice)
    assert "def " in out and "import torch" in out               # :python, :python torch
    assert "finite differences agree" in out                     # :eval
    assert saved.read_text().splitlines() == MODEL               # :save
    assert "(the model is empty)" in out                         # :reset then :show
    assert out.count("∂E/∂z_k = o_k τ − t_k") >= 2               # after :load
    assert "unknown command ':nonsense'" in out
    assert "backend 'fortran'" in out
    assert status == 0


def test_redefinition_replaces_in_place(capsys):
    status, out = drive(MODEL + ["E = -sum_j t_j log(o_j) + sum_j z_j z_j", "dE/dz_k",
                                 "E = q", ":show"], capsys)
    assert "E redefined (it replaces: E = -sum_j t_j log(o_j))" in out
    assert "∂E/∂z_k = 2 z_k − t_k + o_k τ" in out
    assert "cannot infer the rank of q" in out and "line 1" in out   # a bad one is refused
    assert out.rstrip().endswith("E = -sum_j t_j log(o_j) + sum_j z_j z_j")


def test_commands_before_a_question_say_so(capsys):
    status, out = drive([":matrix", ":eval"], capsys)
    assert out.count("no derivative yet") == 2


def test_check_statement_and_assume(capsys):
    status, out = drive(MODEL + ["check dE/dz_k == t_k (o_k - 1)", "assume sum_j t_j = 1",
                                 "dE/dz_k", "check dE/dz_k == o_k - t_k"], capsys)
    assert "does not hold" in out
    assert "∂E/∂z_k = o_k − t_k" in out
    assert status == 1                    # a check failed during the session


def test_continuation_lines(capsys):
    status, out = drive(["z : vector[C]", "t : vector[C]", "E = -sum_j t_j log(exp(z_j) / (",
                         "sum_i exp(z_i)))", "q = 2 \\", "  * E", "dq/dz_k"], capsys)
    assert "error" not in out
    assert "∂q/∂z_k" in out


def test_ctrl_c_cancels_the_line(capsys):
    with create_pipe_input() as inp:
        inp.send_text("x : vector[n]\rgarbage garbage\x03dq/dx\x7f\x7f\x7f\x7f\x7f")
        inp.send_text("q = x_i x_i\rdq/dx_k\r\x04")
        with create_app_session(input=inp, output=DummyOutput()):
            repl()
    out = capsys.readouterr().out
    assert "error" not in out
    assert "∂q/∂x_k = 2 x_k" in out


def test_history_is_kept_across_sessions(data_dir, capsys):
    drive(["x : vector[n]"], capsys)
    history = (data_dir / "history").read_text(encoding="utf-8")
    assert "x : vector[n]" in history


def test_completion_of_names_functions_and_commands():
    session = Session()
    session.run("\n".join(MODEL), on_answer=lambda a: None)
    completer = NotationCompleter(session)

    def complete(text):
        doc = Document(text, len(text))
        return {c.text for c in completer.get_completions(doc, None)}
    assert "softmax" in complete("y = soft")
    assert "sigmoid" in complete("sig")
    assert "o" in complete("E + ") or complete("E + ") == set()
    assert "exp" in complete("ex")
    assert {"explain", "einsum", "eval", "exit"} & complete(":e") >= {"explain", "einsum", "eval"}
    assert complete(":python t") == {"torch"}
    assert complete(":einsum j") == {"jax"}
    assert "E" not in complete("E")                 # nothing to add to a complete name
    session.run("Energy = 2 E", on_answer=lambda a: None)
    assert "Energy" in complete("En")


def test_highlighting_classes():
    styled = dict((text, style) for style, text in tokens("o_j = exp(z_j) # c"))
    assert styled["exp"] == "class:function"
    assert styled["_j"] == "class:index"
    assert styled["# c"] == "class:comment"
    assert tokens(":matrix row")[0] == ("class:command", ":matrix")
    assert dict((t, s) for s, t in tokens("check x"))["check"] == "class:keyword"


class Terminal:
    """A child process on a pseudo-terminal (stdlib only): send keys, expect output."""

    def __init__(self, args: list[str], env: dict):
        import pty
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.seen = ""

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode("utf-8"))

    def expect(self, pattern: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not self._read(0.1):
                raise AssertionError(f"never saw {pattern!r}; the terminal shows:\n{self.seen}")
            self._read(min(left, 1.0))
        found = re.search(pattern, self.seen)
        shown, self.seen = self.seen[:found.end()], self.seen[found.end():]
        return shown

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.seen += data.decode("utf-8", "replace")
        return bool(data)

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_in_a_pseudo_terminal(data_dir):
    env = {**os.environ, "INDEXCALC_DATA_DIR": str(data_dir), "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120", "LINES": "40"}
    term = Terminal([sys.executable, "-m", "indexcalc"], env)
    try:
        term.expect("Ctrl-D to leave")
        for line in MODEL:
            term.send(line + "\r")
        term.send("dE/dz_k\r")
        term.expect("o_k τ − t_k")
        term.send("E = = 1\r")
        term.expect(r"\^")
        term.send(":expl\t")                     # tab completes the command
        term.expect(":explain")
        term.send("\r")
        term.expect("δ")
        term.expect("Indices:")
        term.expect("∂>")                         # the prompt is back (raw mode again)
        term.send("E?\r")
        term.expect("defined in the model")
        term.send("exit\r")                      # as in IPython (Ctrl-D: drive() above)
        status = term.close()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert status == 0


# ---------------------------------------------------------------- habits of other REPLs


def test_exit_quit_and_help_as_in_ipython(capsys):
    status, out = drive(MODEL + ["help", "?", "E?", "exit", "dE/dz_k"], capsys)
    assert status == 0
    assert out.count(":explain") == 2                      # the help, twice
    assert "defined in the model; a scalar" in out
    assert "cannot infer the rank" not in out and "∂E/∂z_k" not in out
    for leave in ("quit", "exit()", "quit()"):
        status, out = drive(["x : vector[n]", leave, "q = x_i x_i", "dq/dx"], capsys)
        assert status == 0 and "∂q" not in out and "error" not in out


def test_up_arrow_searches_the_history_by_the_typed_prefix():
    from indexcalc.ui.repl import make_prompt
    with create_pipe_input() as inp:
        prompt = make_prompt(Session(), input=inp, output=DummyOutput())
        for entry in ("x : vector[n]", "q = x_i x_i", "dq/dx_k", "xx : scalar"):
            prompt.history.append_string(entry)
        inp.send_text("x : \x1b[A\r")              # Up with "x : " typed: the older "x" line
        assert prompt.prompt() == "x : vector[n]"
        inp.send_text("q\x1b[A\r")
        assert prompt.prompt() == "q = x_i x_i"
        inp.send_text("\x1b[A\r")                  # nothing typed: the previous entry
        assert prompt.prompt() == "q = x_i x_i"


def test_completion_after_d_slash_d_offers_the_model_variables():
    session = Session()
    session.run("\n".join(MODEL + ["dz_k = 2 z_k"]), on_answer=lambda a: None)
    completer = NotationCompleter(session)

    def complete(text):
        return {c.text for c in completer.get_completions(Document(text, len(text)), None)}
    everything = {"z", "t", "o", "E", "dz"}
    assert complete("dE/d") == everything                      # not det, diag, dot
    assert complete("∂E/∂") == everything
    assert complete("dE/dd") == {"dz"}
    assert complete("check do_j/dz") == set()                  # z is complete already
    assert complete("grad(E, ") == everything
    assert complete("hessian(E, t") == set()
    assert "det" in complete("y = de")                          # elsewhere: functions too
    assert complete("dE/dz_k + ex") >= {"exp"}


def test_ascii_repl(capsys):
    status, out = drive(MODEL + ["dE/dz_k", ":explain", "check dE/dz_k == o_k"], capsys, ascii=True)
    assert out.isascii(), {c for c in out if not c.isascii()}
    assert "dE/dz_k = o_k tau - t_k   where tau = sum_j t_j" in out and status == 1


def _pasted(out: str, marker: str) -> dict:
    """Run the Python module the REPL printed after ``marker`` (as a user pastes it)."""
    code = re.split(r"\nerror: ", out[out.index(marker):])[0]       # up to the next answer
    namespace: dict = {}
    exec(compile(code, "<pasted>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("ascii", [False, True])
def test_einsum_prints_a_program_that_runs_as_pasted(capsys, ascii):
    import numpy as np

    from indexcalc import derivative, parse
    from indexcalc.testing import check_grad, random_arrays

    model = ["θ : matrix[n, C]", "y : vector[n]", "t : vector[C]", "z_k = θ_ik y_i",
             "o_j = exp(z_j) / sum_i exp(z_i)", "E = -sum_j t_j log(o_j)"]
    status, out = drive(model + ["dE/dθ", ":einsum"], capsys, ascii=ascii)
    assert status == 0 and "np.einsum('" in out and "_softmax" in out
    assert out.isascii() or not ascii
    namespace = _pasted(out, "import numpy as np")
    d = derivative(parse("\n".join(model)), "θ")
    arrays = random_arrays(d.model, seed=3)
    fn = namespace["dE_dtheta" if ascii else "dE_dθ"]
    args = {("v_theta" if ascii and k == "θ" else k): v for k, v in arrays.items()}
    got = fn(**{k: args[k] for k in args if k in fn.__code__.co_varnames})
    assert np.allclose(got, d.evaluate(**arrays))
    check_grad("\n".join(model), "θ", arrays=arrays)   # the derivative itself, by differences


def test_einsum_backend_argument(capsys):
    torch = pytest.importorskip("torch")
    model = ["W : matrix[n, C]", "y : vector[n]", "z_k = W_ik y_i", "E = sum_k tanh(z_k)"]
    status, out = drive(model + ["dE/dW", ":einsum torch", ":einsum fortran"], capsys)
    assert status == 0 and "import torch" in out and "torch.einsum('" in out
    assert "np." not in out
    assert "backend 'fortran'" in out
    namespace = _pasted(out, "import torch")
    W = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, dtype=torch.float64)
    got = namespace["dE_dW"](W=W.detach(), y=y)
    torch.tanh(y @ W).sum().backward()
    assert torch.allclose(got, W.grad)
