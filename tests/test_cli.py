"""The command line as a shell sees it: ``run``, ``-c``, pipes and ``diff``, with exit
statuses (0 success, 1 a check failed, 2 input error, message on stderr).

Exit statuses are tested through a real process (``python -m indexcalc``); the
formats of ``diff`` are tested in-process and then used: the einsum lines are
fed to ``np.einsum``, the Python source is run and compared with indexcalc's
own numbers.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexcalc.api import derivative as ic_derivative
from indexcalc.api import parse as ic_parse
from indexcalc.testing import random_arrays
from indexcalc.ui.cli import main
from indexcalc.ui.views import ascii_text

ROOT = Path(__file__).resolve().parent.parent

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


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "indexcalc", *args], input=stdin,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------- exit statuses


def test_c_prints_every_answer_and_exits_0():
    p = cli("-c", S1 + "dE/dz_k; dE/dt_k")
    assert p.returncode == 0, p.stderr
    assert "∂E/∂z_k = o_k τ − t_k" in p.stdout
    assert "∂E/∂t_k" in p.stdout
    assert p.stderr == ""


def test_failed_check_exits_1():
    p = cli("-c", S1 + "check dE/dz_k == t_k (o_k - 1)")
    assert p.returncode == 1
    assert "does not hold" in p.stdout


def test_passing_check_exits_0():
    p = cli("-c", S1 + "assume sum_j t_j = 1\ncheck dE/dz_k == o_k - t_k")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "holds" in p.stdout


def test_syntax_error_exits_2_with_caret_on_stderr():
    p = cli("-c", "x : vector[n]\ny = x +* 2")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "line 2" in p.stderr
    assert re.search(r"\n\s+y = x \+\* 2\n\s+\^", p.stderr), p.stderr


def test_run_file_reports_file_line_numbers(tmp_path):
    f = tmp_path / "bad.ic"
    f.write_text(S1 + "dE/dz_k\n:einsum\nF = E +\n", encoding="utf-8")
    p = cli("run", str(f))
    assert p.returncode == 2
    assert "∂E/∂z_k" in p.stdout                          # answers before the error print
    assert "o = _softmax(z)" in p.stdout                  # :einsum lists every step
    assert str(f) in p.stderr and "line 7" in p.stderr
    assert "F = E +" in p.stderr


def test_run_missing_file_exits_2(tmp_path):
    p = cli("run", str(tmp_path / "nope.ic"))
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_question_about_unknown_variable_exits_2():
    p = cli("-c", S1 + "dE/dq")
    assert p.returncode == 2
    assert "q" in p.stderr and "line 5" in p.stderr


def test_pipe_reads_statements_without_prompts():
    p = cli(stdin=S1 + "dE/dz_k\n:matrix\n")
    assert p.returncode == 0, p.stderr
    assert "∂E/∂z_k = o_k τ − t_k" in p.stdout
    assert "∂>" not in p.stdout


def test_pipe_goes_on_after_an_error_and_exits_2():
    p = cli(stdin=S1 + "F = E +\ndE/dz_k\n")
    assert p.returncode == 2
    assert "line 5" in p.stderr
    assert "∂E/∂z_k = o_k τ − t_k" in p.stdout


def test_pipe_continuation_lines():
    p = cli(stdin="x : vector[n]\nq = (x_i \\\n  x_i)\ndq/dx_k\n")
    assert p.returncode == 0, p.stderr
    assert "∂q/∂x_k = 2 x_k" in p.stdout


# ---------------------------------------------------------------- diff


def test_diff_index_form(capsys):
    status, out, _ = run_main(capsys, "diff", S2, "--wrt", "W_pq")
    assert status == 0
    assert out.strip() == "∂E/∂W_pq = y_p (o_q τ − t_q)   where τ = Σ_j t_j"


def test_diff_reads_a_file_and_ascii(tmp_path, capsys):
    f = tmp_path / "s2.ic"
    f.write_text(S2, encoding="utf-8")
    status, out, _ = run_main(capsys, "diff", str(f), "--wrt", "W", "--of", "E", "--ascii")
    assert status == 0
    assert out.startswith("dE/dW_pq = y_p (o_q tau - t_q)")


def test_diff_hessian(capsys):
    status, out, _ = run_main(capsys, "diff", "x : vector[n]\nA : matrix[n,n]\nq = x_i A_ij x_j",
                              "--wrt", "x", "--wrt", "x")
    assert status == 0
    assert "A" in out and "∂²q" in out


def test_diff_input_error_exits_2(capsys):
    status, out, err = run_main(capsys, "diff", S2, "--wrt", "V")
    assert status == 2 and out == "" and "V" in err


def test_diff_json(capsys):
    status, out, _ = run_main(capsys, "diff", S2, "--wrt", "W", "--format", "json")
    data = json.loads(out)
    assert data["of"] == "E" and data["wrt"] == ["W"]
    assert data["index"].startswith("∂E/∂W")
    assert data["einsum"] and any("->" in s["spec"] for s in data["einsum"])
    assert data["einsum"][-1]["out"] == "∂E/∂W"           # the steps end at the result
    kinds = {s["kind"] for s in data["einsum"]}
    assert {"einsum", "elementwise", "function", "reduction"} <= kinds, kinds
    for s in data["einsum"]:
        assert (s["kind"] == "einsum") == s["code"].startswith("np.einsum('"), s
        assert s["target"].isidentifier() and all(o in s["code"] or o == s["out"]
                                                  for o in s["operands"] if o.isidentifier())


@pytest.mark.parametrize("fmt", ["matrix", "latex"])
def test_diff_other_formats(capsys, fmt):
    status, out, _ = run_main(capsys, "diff", S2, "--wrt", "W", "--format", fmt)
    assert status == 0 and out.strip()


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("model,wrt", [(S2, "W"),
                                       ("x : vector[n]\nA : matrix[m,n]\nq = sum(exp(A x))", "x")])
def test_diff_einsum_runs_as_pasted(capsys, model, wrt, backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    args = ["--backend", backend] if backend != "numpy" else []
    status, out, _ = run_main(capsys, "diff", model, "--wrt", wrt, "--format", "einsum", *args)
    assert status == 0
    xp = {"numpy": "np", "torch": "torch", "jax": "jnp"}[backend]
    assert f"{xp}.einsum('" in out and "@" not in out and "tensordot" not in out
    namespace: dict = {}
    exec(compile(out, "<pasted>", "exec"), namespace)        # the whole output, as printed
    d = ic_derivative(ic_parse(model), wrt)
    function = namespace["d" + d.of + "_d" + wrt]
    arrays = random_arrays(d.model, seed=3, names=list(d.program.inputs))
    convert = {"numpy": np.asarray, "torch": lambda a: __import__("torch").from_numpy(a),
               "jax": lambda a: __import__("jax.numpy").numpy.asarray(a)}[backend]
    got = function(**{n: convert(a) for n, a in arrays.items()})
    np.testing.assert_allclose(np.asarray(got), d.evaluate(**arrays), rtol=1e-5, atol=1e-6)


def test_diff_python_runs_and_agrees(capsys):
    status, out, _ = run_main(capsys, "diff", S2, "--wrt", "W", "--format", "python")
    assert status == 0
    ast.parse(out)                                 # valid Python
    namespace: dict = {}
    exec(compile(out, "<indexcalc diff>", "exec"), namespace)   # our generated code, not user text
    function = namespace["dE_dW"]
    assert "W : array of shape (n, C)" in function.__doc__
    model = ic_parse(S2)
    d = ic_derivative(model, "W")
    arrays = random_arrays(model, seed=3, sizes={"n": 4, "C": 3})
    want = d.evaluate(**arrays)
    got = function(**{name: arrays[name] for name in d.program.inputs})   # the model's names
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "diff" in out and "-c" in out


# ---------------------------------------------------------------- the session core


def test_help_example_runs_cleanly_and_alternative_declarations_parse():
    from indexcalc.ui.commands import HELP_EXAMPLE
    from indexcalc.ui.session import Session
    answers: list[str] = []
    assert Session().run(HELP_EXAMPLE, on_answer=answers.append) == 0
    assert len(answers) == 2 and "holds when sum_j t_j = 1 (declared" in answers[1]
    alt = "y ∈ ℝ^n\nW in R^(n,C)\nA : matrix[n,n] symmetric\nq = yᵀ A y\ndq/dy"
    assert Session().run(alt, on_answer=answers.append) == 0


def test_eval_on_arrays_from_an_npz_file(tmp_path):
    z, t = np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0, 1.0])
    path = tmp_path / "data.npz"
    np.savez(path, z=z, t=t)
    p = cli(stdin=S1 + f"dE/dz_k\n:eval {path}\n:eval {tmp_path / 'missing.npz'}\n")
    o = np.exp(z) / np.exp(z).sum()
    want = o * t.sum() - t
    assert p.returncode == 2                               # the missing file
    assert "no such file" in p.stderr
    numbers = re.search(r"shape \(3,\)\) =\n\s+\[([^\]]*)\]", p.stdout)
    assert numbers, p.stdout
    np.testing.assert_allclose([float(v) for v in numbers[1].split()], want, atol=1e-4)
    assert "finite differences agree" in p.stdout


def test_load_reports_the_file_and_line_of_an_error(tmp_path):
    bad = tmp_path / "bad.ic"
    bad.write_text("x : vector[n]\ny = x +\n", encoding="utf-8")
    p = cli(stdin=f":load {bad}\n:show\n")
    assert str(bad) in p.stderr and "line 2" in p.stderr
    assert "x : vector[n]" in p.stdout                     # the good line was kept


def test_continuation_joins_lines_but_not_comments():
    from indexcalc.ui.lines import incomplete, logical_lines
    lines = logical_lines("q = (x_i  # first\n  x_i)\nr = 2 \\\n * q\n:show")
    assert [ln.text for ln in lines] == ["q = (x_i     x_i)", "r = 2   * q", ":show"]
    assert [ln.number for ln in lines] == [1, 3, 5]
    assert incomplete("f(x") and incomplete("a + \\") and not incomplete("f(x)")
    assert not incomplete(":load (odd name")


def test_diff_reads_an_example_file_with_commands(capsys):
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "examples" / "mlp_backprop.ic"
    status, out, err = run_main(capsys, "diff", str(path), "--wrt", "W3", "--of", "E")
    assert status == 0, err
    assert out.startswith("∂E/∂W3_pq = a2_p")


# ---------------------------------------------------------------- habits of other tools


def test_version_has_one_source():
    import tomllib

    import indexcalc
    from indexcalc.version import __version__
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"] == \
        "indexcalc.version.__version__"
    assert indexcalc.__version__ == __version__ and re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)
    p = cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"indexcalc {__version__}"


def test_dash_reads_standard_input():
    p = cli("run", "-", stdin=S1 + "dE/dz_k\n")
    assert p.returncode == 0, p.stderr
    assert "∂E/∂z_k = o_k τ − t_k" in p.stdout
    p = cli("run", "-", stdin="x : vector[n]\ny = x +\n")
    assert p.returncode == 2 and "<stdin>" in p.stderr and "line 2" in p.stderr
    p = cli("diff", "-", "--wrt", "z", stdin=S1)
    assert p.returncode == 0 and p.stdout.startswith("∂E/∂z_p = o_p τ − t_p"), p.stderr
    for args in (["-"], ["--ascii", "-"], ["-", "--layout", "row"]):     # bare -: run -
        text = S1 + "dE/dz_k\ncheck dE/dz_k == o_k\n"
        p, q = cli(*args, stdin=text), cli("run", *args, stdin=text)
        assert (p.returncode, p.stdout, p.stderr) == (q.returncode, q.stdout, q.stderr)
        assert p.returncode == 1 and "dE/dz_k" in p.stdout.replace("∂", "d")
    p = cli("-", stdin="x : vector[n]\ny = x +\n")
    assert p.returncode == 2 and "<stdin>" in p.stderr and "line 2" in p.stderr
    p = cli("-c", "-")
    assert p.returncode == 2 and "<-c>" in p.stderr                  # -c - is the text "-"


@pytest.mark.parametrize("fmt", ["index", "matrix", "latex", "einsum", "python", "json"])
def test_ascii_is_ascii_in_every_format_and_its_formulas_parse(fmt):
    model = S2 + "h = sigmoid(Wᵀ y) ⊙ o\nθ = sum_j h_j\n"
    p = cli("diff", model, "--wrt", "W", "--of", "θ", "--format", fmt, "--ascii")
    assert p.returncode == 0, p.stderr
    assert p.stdout.isascii(), [c for c in p.stdout if not c.isascii()]
    if fmt == "json":
        assert json.loads(p.stdout)["index"].startswith("dtheta/dW_pq = ")
    unicode = cli("diff", model, "--wrt", "W", "--of", "θ", "--format", fmt).stdout
    assert unicode != p.stdout or unicode.isascii()
    if fmt == "matrix":                   # the ASCII matrix form is the same formula
        ascii_model, unicode_model = ascii_text(model), model
        for ascii_line, line in zip(p.stdout.splitlines(), unicode.splitlines()):
            ascii_model, unicode_model = ascii_model + ascii_line + "\n", unicode_model + line + "\n"
            a = ic_parse(ascii_model).statements[-1].expr
            u = ic_parse(unicode_model).statements[-1].expr
            assert ascii_text(str(a)) == ascii_text(str(u))


def test_ascii_everywhere_in_run_pipes_and_checks():
    for args in (("-c", S1 + "dE/dz_k; check dE/dz_k == t_k (o_k - 1)", "--ascii"),
                 ("run", "-", "--ascii")):
        p = cli(*args, stdin=S1 + "dE/dz_k\ncheck dE/dz_k == t_k (o_k - 1)\n:explain\n")
        assert p.returncode == 1, p.stderr                     # the check fails
        assert p.stdout.isascii(), [c for c in p.stdout if not c.isascii()]
        assert "dE/dz_k = o_k tau - t_k   where tau = sum_j t_j" in p.stdout
        assert "[x] does not hold" in p.stdout
    for path in sorted((ROOT / "examples").glob("*.ic")):
        p = cli("run", str(path), "--ascii")
        rest = p.stdout.replace("𝟙", "")        # a ones column: no ASCII spelling, 1 is the number
        assert rest.isascii(), (path.name, {c for c in rest if not c.isascii()})


def test_ascii_text_spells_the_notation():
    assert ascii_text("∂²q/∂x_p∂x_q = A_pq + A_qp") == "d^2q/dx_pdx_q = A_pq + A_qp"
    assert ascii_text("dEdW = y (τ o − t)ᵀ") == "dEdW = y (tau o - t)'"
    assert ascii_text("σ'(z) ⊙ σ(z) ⊙ A⁻¹") == "sigmoid'(z) .* sigmoid(z) .* A^-1"
    assert ascii_text("Σ_j δ_jk θ1") == "sum_j delta_jk theta1"
    assert ascii_text("W ∈ ℝ^{n×m}; shape n × C") == "W in R^{n, m}; shape n, C"
    assert ascii_text("dLdb = 𝟙ᵀ G; diag(Y 𝟙) P") == "dLdb = 1' G; diag(Y 𝟙) P"


def test_exit_quit_help_and_question_marks_as_in_ipython():
    p = cli(stdin=S1 + "help\n?\nE?\nz?\n?softmax\nhelp(C)\nexit\ndE/dz_k\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("Type the model the way you write it on paper") == 2
    assert "E = -sum_j t_j log(o_j)\n  defined in the model; a scalar" in p.stdout
    assert "z : vector[C]\n  an input of the model; shape [C]" in p.stdout
    assert "softmax: a function of vectors" in p.stdout
    assert "C: a dimension of the model" in p.stdout
    assert "∂E/∂z_k" not in p.stdout                         # exit left before it
    for leave in ("quit", "exit()", "quit()", ":q"):
        p = cli(stdin=f"x : vector[n]\n{leave}\ny = = 2\n")
        assert p.returncode == 0 and p.stderr == "", (leave, p.stderr)
    p = cli("-c", "x : vector[n]; f = x_i x_i\nquit\ndf/dx")
    assert p.returncode == 0 and "∂f" not in p.stdout, p.stderr
    p = cli(stdin="nosuch?\n")
    assert p.returncode == 2 and "'nosuch' is not a name of the model" in p.stderr


def test_eval_keeps_its_finite_difference_check_beside_an_unrelated_opaque_function():
    p = cli(stdin="x : vector[n]\nf = x_i x_i\ng_i = h(x_i)\ndf/dx\n:eval\n")
    assert p.returncode == 0, p.stderr
    assert "finite differences agree" in p.stdout
    p = cli(stdin="x : vector[n]\ng_i = h(x_i)\nf = g_i g_i\ndf/dx\n:eval\n")
    assert p.returncode == 2 and "h is an opaque function" in p.stderr   # f itself uses h


def test_ascii_errors_keep_the_quoted_input_and_its_caret():
    p = cli("-c", "x : vector[n]\nA : matrix[n, m]\nf = x' A x", "--ascii")
    assert p.returncode == 2
    assert p.stderr.isascii(), p.stderr
    assert "dimension mismatch in the product x' A x" in p.stderr
    caret_line, quoted = p.stderr.splitlines()[-1], p.stderr.splitlines()[-2]
    assert quoted.strip() == "f = x' A x" and caret_line.index("^") == quoted.index("x'")
    p = cli("-c", "x : vector[n]\nf = xᵀ x_i", "--ascii")   # q alone is now inferred
    assert "f = xᵀ x_i" in p.stderr                      # what the user typed, as typed


# ---------------------------------------------------------------- diff --name --demo --differentiable

NET = "x : vector[n]; W : matrix[n, m]; b : vector[m]; h = tanh(Wᵀ x + b); E = hᵀ h"


def _net_arrays():
    return random_arrays(ic_parse(NET), seed=4)


@pytest.mark.parametrize("fmt", ["python", "einsum"])
def test_diff_name_and_demo_run_as_a_script(tmp_path, fmt):
    p = cli("diff", NET, "--wrt", "W", "--format", fmt, "--name", "grad_W", "--demo")
    assert p.returncode == 0, p.stderr
    script = tmp_path / "grad.py"
    script.write_text(p.stdout, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "(4, 3)" in run.stdout or "shape" in run.stdout, run.stdout     # the demo printed
    namespace: dict = {}
    exec(p.stdout, namespace)
    arrays = _net_arrays()
    want = ic_derivative(ic_parse(NET), "W").evaluate(**arrays)
    assert np.allclose(namespace["grad_W"](**arrays), want)
    assert "dE_dW" not in namespace


def test_diff_name_and_demo_need_a_code_format(capsys):
    status, out, err = run_main(capsys, "diff", NET, "--wrt", "W", "--name", "g")
    assert status == 2 and out == "" and "--format python or einsum" in err
    status, out, err = run_main(capsys, "diff", NET, "--wrt", "W", "--differentiable")
    assert status == 2 and "--backend torch|jax" in err
    status, out, err = run_main(capsys, "diff", NET, "--wrt", "W", "--name", "W",
                                "--format", "python")
    assert status == 2 and "parameter" in err


def test_diff_differentiable_torch_passes_gradcheck(capsys):
    torch = pytest.importorskip("torch")
    status, out, _ = run_main(capsys, "diff", NET, "--wrt", "W", "--format", "python",
                              "--backend", "torch", "--differentiable", "--name", "loss")
    assert status == 0
    namespace: dict = {}
    exec(out, namespace)
    arrays = {k: torch.tensor(v, requires_grad=k == "W") for k, v in _net_arrays().items()}
    loss = namespace["loss"]
    value = loss(**arrays)
    value.backward()
    want = ic_derivative(ic_parse(NET), "W").evaluate(**_net_arrays())
    assert np.allclose(arrays["W"].grad.numpy(), want)
    assert torch.autograd.gradcheck(lambda W: loss(arrays["x"], W, arrays["b"]),
                                    (arrays["W"].detach().requires_grad_(),))


def test_diff_differentiable_jax_agrees_with_jax_grad(capsys):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    status, out, _ = run_main(capsys, "diff", NET, "--wrt", "W", "--format", "python",
                              "--backend", "jax", "--differentiable")
    assert status == 0
    namespace: dict = {}
    exec(out, namespace)
    a = {k: jnp.asarray(v) for k, v in _net_arrays().items()}
    got = jax.grad(namespace["E"], argnums=1)(a["x"], a["W"], a["b"])
    want = jax.grad(lambda x, W, b: jnp.sum(jnp.tanh(W.T @ x + b) ** 2), argnums=1)(
        a["x"], a["W"], a["b"])
    assert np.allclose(got, want)
