"""Notebooks: the LaTeX renders, every object has a rich display, and the
``%%indexcalc`` magic runs a model in IPython and in a real Jupyter kernel.

The cell magic's core (``notebook.run_cell``) is tested without IPython; the
magic itself in an in-process IPython shell when IPython is installed; a whole
notebook executed by nbconvert (a fresh kernel) when the ``notebook`` extra is
installed; and the LaTeX rendered by KaTeX and MathJax 3 when node finds them
(``NODE_PATH`` pointing at a node_modules holding ``katex`` and ``mathjax-full``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import indexcalc
from indexcalc.checking.claims import CheckResult
from indexcalc.display import Explanation
from indexcalc.errors import IndexcalcError
from indexcalc.notebook import MagicError, run_cell
from indexcalc.read.matrix import MatrixForm

ROOT = Path(__file__).resolve().parent.parent
HAVE = {m: importlib.util.find_spec(m) is not None
        for m in ("IPython", "nbformat", "nbconvert", "ipykernel")}

S1 = """z : vector[C]
t : vector[C]
o_j = exp(z_j) / sum_i exp(z_i)
E = -sum_j t_j log(o_j)
"""
S2 = """y : vector[n]
W : matrix[n, C]
b : vector[C]
t : vector[C]
z_k = sum_i W_ik y_i + b_k
o_j = exp(z_j) / sum_i exp(z_i)
E = -sum_j t_j log(o_j)
"""
CELL = """y : vector[n]
W : matrix[n, C]
t : vector[C]
z_k = W_ik y_i
o_j = exp(z_j) / sum_i exp(z_i)
E = -sum_j t_j log(o_j)
dE/dW
check dE/dz_k == t_k (o_k - 1)
E = = 2
:explain
"""


# ---------------------------------------------------------------- LaTeX

# the verdict on S1's t_k (o_k − 1), and how it was decided
WRONG = "✗ does not hold (numerically: the sides differ at 3 of 3 random points)"


def test_multi_line_latex_is_one_aligned_block():
    d = indexcalc.derivative(S2, wrt="W")                # y_p (o_q τ − t_q), τ = Σ_j t_j
    assert d.latex() == (r"\begin{aligned} \frac{\partial E}{\partial W_{pq}} &= "
                         r"y_{p}\,\left(o_{q}\,\tau - t_{q}\right) \\ "
                         r"\tau &= \sum_{j} t_{j} \end{aligned}")
    assert d.latex_lines()[1] == r"\tau = \sum_{j} t_{j}"
    one = indexcalc.derivative("x : vector[n]\nf = x_i x_i", wrt="x")
    assert one.latex() == r"\frac{\partial f}{\partial x_{p}} = 2\,x_{p}"   # no environment
    assert d._repr_latex_() == f"$${d.latex()}$$"


def corpus() -> list[str]:
    """The LaTeX of every golden and example derivative, each with respect to each input."""
    texts = [S1, S2] + [p.read_text(encoding="utf-8")
                        for p in sorted((ROOT / "examples").glob("*.ic"))]
    out = []
    for text in texts:
        for chunk in text.split(":reset"):
            chunk = "\n".join(ln for ln in chunk.splitlines() if not ln.lstrip().startswith(":"))
            try:
                model = indexcalc.parse(chunk)
            except IndexcalcError:
                continue
            if not model.definitions:
                continue
            of = list(model.definitions)[-1]
            for w in model.inputs:
                try:
                    out.append(indexcalc.derivative(model, w, of=of).latex())
                except IndexcalcError:
                    pass
    return out


def test_a_line_break_is_only_ever_inside_an_environment():
    tex = corpus()
    assert len(tex) > 30 and sum(r"\begin{aligned}" in t for t in tex) >= 3
    for t in tex:
        outside = t.removeprefix(r"\begin{aligned}").removesuffix(r"\end{aligned}")
        assert (r"\\" not in t) or (t.startswith(r"\begin{aligned}") and
                                    t.endswith(r"\end{aligned}") and "begin" not in outside), t


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_katex_and_mathjax3_render_every_latex():
    found = subprocess.run(["node", "-e", ("require.resolve('katex'); "
                                           "require.resolve('mathjax-full/js/mathjax.js')")],
                           capture_output=True, env=os.environ)
    if found.returncode != 0:
        pytest.skip("katex and mathjax-full are not on NODE_PATH")
    tex = corpus()
    tex += [indexcalc.check(S1, "dE/dz_k == t_k (o_k - 1)")._repr_markdown_()
            .split("$$")[k] for k in (1, 3, 5)]
    p = subprocess.run(["node", str(ROOT / "tests" / "render_math.js")], input=json.dumps(tex),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip() == f"ok {len(tex)}", p.stdout + p.stderr


# ---------------------------------------------------------------- rich displays


def test_rich_displays_and_readable_reprs():
    model = indexcalc.parse(S2 + "dE/dW")
    assert repr(model) == ("<indexcalc.Model: inputs y[n], W[n, C], b[C], t[C]; "
                           "defines z, o, E; asks dE/dW>")
    assert "<pre" in model._repr_html_() and "z_k = sum_i W_ik y_i + b_k" in model._repr_html_()

    result = indexcalc.check(S1, "dE/dz_k == t_k (o_k - 1)")
    assert repr(result) == "<CheckResult ✗ does not hold: ∂E/∂z_k == t_k (o_k − 1)>"
    md = result._repr_markdown_()
    assert md.startswith(f"**{WRONG}**")
    assert r"$$t_{k}\,\left(o_{k} - 1\right)$$" in md
    assert r"o_{k}\,\left(\tau - t_{k}\right),\quad \tau = \sum_{j} t_{j}" in md
    assert r"counterexample: with C = 2, z = \[0.27" in md
    holds = indexcalc.check(S1 + "assume sum_j t_j = 1", "dE/dz_k == o_k - t_k")
    assert repr(holds).startswith("<CheckResult ✓ holds under an assumption: ")

    d = indexcalc.derivative(S2, wrt="W")
    form = d.matrix()
    assert repr(form) == "<MatrixForm (column vectors): τ = sum(t); dEdW = y (τ o − t)ᵀ>"
    assert "dEdW = y (τ o − t)ᵀ" in form._repr_html_()
    assert "&lt;" not in form._repr_html_() and "<em>" not in form._repr_html_()   # exact
    inexact = indexcalc.derivative("x : vector[n]\ny : vector[n]\nf_i = x_i^3 y_i",
                                   wrt="x").matrix()
    if not inexact.exact:
        assert "<em>in index form where" in inexact._repr_html_()

    explanation = d.explain()
    assert isinstance(explanation, Explanation) and isinstance(explanation, str)
    assert explanation == str(explanation) and explanation.startswith("∂E/∂W_pq: the chain rule")
    assert "<pre" in explanation._repr_html_()


def test_html_displays_escape_what_the_user_wrote():
    model = indexcalc.parse("x : vector[n]\nf = x_i x_i   # a < b & <script>")
    assert "<script>" not in model._repr_html_() and "&lt;script&gt;" in model._repr_html_()


# ---------------------------------------------------------------- the cell magic's core


def test_run_cell_answers_like_the_repl():
    namespace: dict = {}
    ran = run_cell("m", CELL, namespace)
    kinds = [type(o).__name__ for o in ran.outputs]
    assert kinds == ["Derivative", "MatrixForm", "CheckResult", "ParseError", "Explanation"]
    d, form, result, error, explanation = ran.outputs
    assert str(d) == "∂E/∂W_pq = y_p (o_q τ − t_q)   where τ = Σ_j t_j"
    assert str(form).splitlines()[-1] == "dEdW = y (τ o − t)ᵀ"
    assert isinstance(result, CheckResult) and not result.holds
    assert "^" in str(error) and "line 1" in str(error)           # the line in the cell
    assert explanation.startswith("∂E/∂W_pq")
    assert isinstance(namespace["m"], indexcalc.Model)
    assert list(namespace["m"].definitions) == ["z", "o", "E"]
    again = run_cell("m", CELL, namespace)                         # running it again
    assert [str(o) for o in again.outputs] == [str(o) for o in ran.outputs]


def test_run_cell_continues_a_model_and_checks_its_line():
    namespace = {"base": indexcalc.parse(S1)}
    ran = run_cell("--from base --layout row", "dE/dz\nF = 2 E\ndF/dz_k", namespace)
    assert [str(o).splitlines()[0] for o in ran.outputs if not isinstance(o, MatrixForm)] == [
        "∂E/∂z_p = o_p τ − t_p   where τ = Σ_j t_j",
        "∂F/∂z_k = 2 o_k τ − 2 t_k   where τ = Σ_j t_j"]
    assert list(namespace) == ["base"]                              # no NAME: nothing bound
    empty = run_cell("e", "# only a comment\n", namespace)
    assert empty.outputs == [] and namespace.pop("e").statements == ()
    for line, message in [("--from nothing", "no indexcalc model"), ("--layout diagonal", "row"),
                          ("a b", "cannot read 'b'"), ("--from", "needs a value")]:
        with pytest.raises(MagicError, match=message):
            run_cell(line, "x : vector[n]", namespace)


# ---------------------------------------------------------------- IPython and Jupyter


@pytest.mark.skipif(not HAVE["IPython"], reason="IPython is not installed")
def test_load_ext_gives_the_cell_magic_and_rich_outputs():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    assert indexcalc.load_ipython_extension is not None
    shell = InteractiveShell.instance()
    try:
        formatter = shell.display_formatter
        formatter.active_types = list(formatter.formatters)        # as a notebook front end
        shell.run_line_magic("load_ext", "indexcalc")
        with capture_output() as captured:
            shell.run_cell_magic("indexcalc", "m", CELL)
        mimes = [sorted(set(o.data) - {"text/plain"}) for o in captured.outputs]
        assert mimes == [["text/latex", "text/markdown"], ["text/html"], ["text/markdown"],
                         ["text/html"]]
        assert captured.outputs[0].data["text/latex"].startswith(r"$$\begin{aligned}")
        assert "does not hold" in captured.outputs[2].data["text/markdown"]
        plain = captured.outputs[2].data["text/plain"]            # a terminal IPython's view
        assert plain.startswith(f"check ∂E/∂z_k == t_k (o_k − 1)\n{WRONG}\n")
        assert captured.outputs[1].data["text/plain"] == "τ = sum(t)\ndEdW = y (τ o − t)ᵀ"
        assert "error: unexpected '='" in captured.stderr and "^" in captured.stderr
        assert isinstance(shell.user_ns["m"], indexcalc.Model)
    finally:
        InteractiveShell.clear_instance()


NOTEBOOK_CELLS = [
    ("code", f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n%load_ext indexcalc"),
    ("code", "%%indexcalc m\n" + CELL),
    ("code", "%%indexcalc --from m\nassume sum_j t_j = 1\ndE/dz_k"),
    ("code", "import indexcalc\nindexcalc.derivative(m, wrt='W').matrix()"),
]


@pytest.mark.skipif(not (HAVE["nbformat"] and HAVE["nbconvert"] and HAVE["ipykernel"]),
                    reason="the notebook extra (nbformat, nbconvert, ipykernel) is not installed")
def test_a_notebook_executes_with_nbconvert(tmp_path):
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for _, src in NOTEBOOK_CELLS]
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(tmp_path)}})
    magic, follow, python = nb.cells[1].outputs, nb.cells[2].outputs, nb.cells[3].outputs
    data = [o.get("data", {}) for o in magic if o.output_type == "display_data"]
    assert data[0]["text/latex"].startswith(r"$$\begin{aligned} \frac{\partial E}")
    assert "dEdW = y (τ o − t)ᵀ" in data[1]["text/html"]
    assert data[2]["text/markdown"].startswith(f"**{WRONG}**")
    errors = [o.text for o in magic if o.output_type == "stream" and o.name == "stderr"]
    assert errors and "unexpected '='" in errors[0]
    assert follow[0]["data"]["text/latex"] == r"$$\frac{\partial E}{\partial z_{k}} = o_{k} - t_{k}$$"
    assert "dEdz = o − t" in follow[1]["data"]["text/html"] and len(follow) == 2
    assert "text/html" in python[0]["data"]
    assert python[0]["data"]["text/plain"] == "τ = sum(t)\ndEdW = y (τ o − t)ᵀ"   # m: cell 1's
    nbformat.write(nb, tmp_path / "executed.ipynb")                  # it is a valid notebook


def test_importing_indexcalc_imports_no_ipython():
    code = "import sys, indexcalc; indexcalc.load_ipython_extension; print('IPython' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr
