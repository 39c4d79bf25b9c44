"""`pip install .` gives a working package: the wheel carries the grammar.

Builds the wheel, installs it into a fresh virtual environment, and from a
directory outside the repository parses a model, differentiates it and runs
the command-line tool there.  Slow-ish (a fresh environment installs NumPy),
so it runs once, in one test.
"""

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=None):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_works(tmp_path):
    # build from a copy: setuptools keeps old files in an in-tree build/ and would ship them
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", ".*venv*", "__pycache__", ".hypothesis"))
    dist = tmp_path / "dist"
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source))
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("indexcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "indexcalc/grammar/indexcalc.lark" in names

    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    installed = run(str(python), "-m", "pip", "install", "--quiet", str(wheel))
    assert installed.returncode == 0, installed.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = ("import indexcalc\n"
            "d = indexcalc.derivative('o_j = exp(z_j) / sum_i exp(z_i)\\n"
            "E = -sum_j t_j log(o_j)', wrt='z_k')\n"
            "print(indexcalc.__file__)\nprint(d)\n")
    used = run(str(python), "-c", code, cwd=outside)
    assert used.returncode == 0, used.stderr
    location, answer = used.stdout.splitlines()[:2]
    assert str(env) in location                         # the installed copy, not the source
    assert answer == "∂E/∂z_k = o_k τ − t_k   where τ = Σ_j t_j"

    cli = run(str(env / "bin" / "indexcalc"), "-c", "x : vector[n]; f = xᵀ x; df/dx", cwd=outside)
    assert cli.returncode == 0 and "∂f/∂x_p = 2 x_p" in cli.stdout, cli.stderr
