"""The README's transcripts are real: each is what indexcalc prints for its inputs.

A REPL transcript is a code block after the comment ``<!-- repl transcript -->``:
its lines starting with the prompt ``∂> `` are typed into a REPL session (the
``handle`` the REPL runs), and the block must be exactly those inputs, each
followed by what the REPL printed.  A notebook example is a ``%%indexcalc``
code block followed by ``<!-- notebook output -->`` ... ``<!-- end of notebook
output -->``: the cell is run by the magic's core and its outputs written as
a notebook shows them (a derivative's LaTeX, a check's Markdown, a matrix
form's text), which GitHub renders too.  When the output changes on purpose:

    python tests/test_readme.py --update && git diff README.md
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

from indexcalc.checking.claims import CheckResult
from indexcalc.derivative import Derivative
from indexcalc.errors import IndexcalcError
from indexcalc.notebook import run_cell
from indexcalc.read.matrix import MatrixForm
from indexcalc.ui.commands import Quit
from indexcalc.ui.repl import PROMPT, handle
from indexcalc.ui.session import Session

README = Path(__file__).resolve().parent.parent / "README.md"
TRANSCRIPT = re.compile(r"(<!-- repl transcript -->\n```\n)(.*?)(```)", re.DOTALL)
NOTEBOOK = re.compile(r"(```\n(%%indexcalc[^\n]*)\n(.*?)```\n\n[^\n]*\n\n<!-- notebook output -->\n)"
                      r"(.*?)(<!-- end of notebook output -->)", re.DOTALL)


def transcript(block: str) -> str:
    """The inputs of ``block`` run in a fresh REPL session, with what it printed."""
    session = Session(redefine=True)
    out = []
    for line in block.splitlines():
        if not line.startswith(PROMPT):
            continue
        typed = line[len(PROMPT):]
        printed = io.StringIO()
        out.append(PROMPT + typed)
        try:
            with contextlib.redirect_stdout(printed):
                handle(session, typed)
        except Quit:                                  # exit: the REPL leaves
            break
        finally:
            out += printed.getvalue().rstrip("\n").splitlines()
    return "\n".join(out) + "\n"


def notebook_output(line: str, cell: str) -> str:
    """The outputs of a ``%%indexcalc`` cell, as Markdown showing what a notebook shows."""
    parts = []
    for out in run_cell(line, cell, {}).outputs:
        if isinstance(out, Derivative):
            parts.append(out._repr_latex_())
        elif isinstance(out, MatrixForm):
            parts.append(f"matrix form ({out.layout} vectors):\n```\n{out}\n```")
        elif isinstance(out, CheckResult):
            parts.append(out._repr_markdown_())
        elif isinstance(out, IndexcalcError):
            parts.append(f"```\nerror: {out}\n```")
        else:
            parts.append(f"```\n{out}\n```")
    return "\n\n".join(parts) + "\n"


def regenerate(text: str) -> str:
    text = TRANSCRIPT.sub(lambda m: m[1] + transcript(m[2]) + m[3], text)
    return NOTEBOOK.sub(lambda m: m[1] + notebook_output(m[2].removeprefix("%%indexcalc"), m[3])
                        + m[5], text)


def test_the_readme_has_transcripts_and_a_cell_magic():
    text = README.read_text(encoding="utf-8")
    assert len(TRANSCRIPT.findall(text)) >= 1 and len(NOTEBOOK.findall(text)) >= 1


def test_every_transcript_is_what_indexcalc_prints():
    text = README.read_text(encoding="utf-8")
    for m in TRANSCRIPT.finditer(text):
        assert m[2] == transcript(m[2]), "run: python tests/test_readme.py --update"


def test_the_cell_magic_output_is_what_the_notebook_shows():
    text = README.read_text(encoding="utf-8")
    for m in NOTEBOOK.finditer(text):
        want = notebook_output(m[2].removeprefix("%%indexcalc"), m[3])
        assert m[4] == want, "run: python tests/test_readme.py --update"


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        README.write_text(regenerate(README.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.exit("usage: python tests/test_readme.py --update")
