"""A fresh process starts quickly: the parser comes from Lark's cache, extras stay unloaded.

Start-up time itself is measured by the benchmark (``benchmarks/fresh.py``),
never asserted here; these tests check the mechanisms it rests on, each in a
child process so that this process's imports and caches cannot hide them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import indexcalc

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("jax", "torch", "sympy", "scipy", "dask", "IPython", "matplotlib")


def run(code: str, **env) -> dict:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=full, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_loads_no_optional_library():
    got = run("import sys, json, indexcalc\n"
              f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert got == []


# what a bare import may load, and what printing a first derivative must not
FRONT_DOOR = {"indexcalc", "indexcalc.errors", "indexcalc.version"}
NOT_FOR_A_PRINTED_DERIVATIVE = ("numpy", "opt_einsum", "prompt_toolkit", "indexcalc.checking",
                                "indexcalc.testing", "indexcalc.ui", "indexcalc.notebook",
                                "indexcalc.compiler.", "indexcalc.read.matrix",
                                "indexcalc.read.mexpr",
                                "indexcalc.read.explain", "html") + (
    ("platformdirs",) if sys.platform.startswith("linux") else ())    # XDG's cache path
LOADED = ("print(json.dumps(sorted(m for m in sys.modules if m.startswith('indexcalc') or "
          "m.split('.')[0] in ('lark', 'numpy', 'opt_einsum', 'prompt_toolkit', "
          "'platformdirs', 'html'))))")


def test_import_loads_only_the_front_door():
    got = set(run("import sys, json, indexcalc\n" + LOADED))
    assert got == FRONT_DOOR, sorted(got - FRONT_DOOR)


def test_a_printed_derivative_loads_no_numpy_compiler_checking_or_matrix_form():
    got = run("import sys, json, indexcalc\n"
              "d = indexcalc.derivative('z : vector[n]\\nt : vector[n]\\n"
              "o_j = exp(z_j) / sum_i exp(z_i)\\nE = -sum_j t_j log(o_j)', wrt='z')\n"
              "assert str(d) == '∂E/∂z_p = o_p τ − t_p   where τ = Σ_j t_j', str(d)\n" + LOADED)
    assert {"indexcalc.syntax.parse", "indexcalc.calculus.reverse", "lark"} <= set(got)
    assert [m for m in got if m.startswith(NOT_FOR_A_PRINTED_DERIVATIVE)] == []


def test_what_is_deferred_loads_when_used():
    got = run("import sys, json, indexcalc\n"
              "d = indexcalc.derivative('x : vector[n]\\nE = sum_i x_i x_i', 'x')\n"
              "m = str(d.matrix())\n"
              "v = d.evaluate(x=[1.0, 2.0]).tolist()\n"
              "ok = indexcalc.check('x : vector[n]\\nE = sum_i x_i x_i', 'dE/dx == 2 x').holds\n"
              "print(json.dumps([m, v, ok, sorted(sys.modules)]))")
    matrix, value, holds, loaded = got
    assert matrix == "dEdx = 2 x" and value == [2.0, 4.0] and holds
    assert {"indexcalc.read.matrix", "indexcalc.compiler.program",
            "indexcalc.checking.claims"} <= set(loaded)


def test_every_public_name_is_listed_and_loads_on_first_use():
    got = run("import json, indexcalc, types\n"
              "listed = [n for n in indexcalc.__all__ if n not in dir(indexcalc)]\n"
              "kinds = {n: type(getattr(indexcalc, n)).__name__ for n in indexcalc.__all__}\n"
              "import indexcalc.derivative\n"            # the module of the same name
              "from indexcalc.derivative import Derivative\n"
              "d = indexcalc.derivative('x : vector[n]\\nE = sum_i x_i x_i', 'x')\n"
              "print(json.dumps([listed, kinds, isinstance(d, Derivative), "
              "isinstance(indexcalc.testing, types.ModuleType)]))")
    listed, kinds, is_derivative, testing_is_module = got
    assert listed == [] and is_derivative and testing_is_module
    assert kinds["derivative"] == kinds["compile"] == kinds["check"] == "function"
    assert kinds["Derivative"] == kinds["Model"] == "type"
    assert run("import json, indexcalc\nprint(json.dumps(hasattr(indexcalc, 'nonsense')))") is False


def test_a_derivative_loads_no_optional_library():
    got = run("import sys, json, indexcalc\n"
              "indexcalc.derivative('x : vector[n]\\nE = sum_i exp(x_i)', 'x').evaluate("
              "x=[1.0, 2.0])\n"
              f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert got == []


BUILDS = """
import json, lark
built = []
real = lark.Lark._build_parser
def counting(self):
    built.append(1)
    return real(self)
lark.Lark._build_parser = counting
import indexcalc
d = indexcalc.derivative('x : vector[n]\\nE = sum_i x_i x_i', 'x')
print(json.dumps({"builds": len(built), "text": str(d)}))
"""


def test_the_parser_is_built_once_then_loaded_from_the_cache(tmp_path):
    first = run(BUILDS, INDEXCALC_CACHE_DIR=str(tmp_path))
    assert first["builds"] == 1
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("grammar-")
    second = run(BUILDS, INDEXCALC_CACHE_DIR=str(tmp_path))
    assert second == {**first, "builds": 0}             # loaded, and parses the same


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    run(BUILDS, INDEXCALC_CACHE_DIR=str(tmp_path))
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"not a parser\n")
    again = run(BUILDS, INDEXCALC_CACHE_DIR=str(tmp_path))
    assert again["builds"] == 1 and "2 x_p" in again["text"].replace("·", " ")
    assert cached.read_bytes() != b"not a parser\n"


def test_an_empty_cache_dir_setting_turns_the_cache_off(tmp_path):
    got = run(BUILDS, INDEXCALC_CACHE_DIR="")
    assert got["builds"] == 1
    assert run(BUILDS, INDEXCALC_CACHE_DIR="")["builds"] == 1


def test_an_unwritable_cache_dir_is_not_used(tmp_path):
    from indexcalc.syntax.grammar import cache_path
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder would go")
    old = os.environ.get("INDEXCALC_CACHE_DIR")
    os.environ["INDEXCALC_CACHE_DIR"] = str(blocked / "sub")
    try:
        assert cache_path("grammar text") is None
    finally:
        if old is None:
            del os.environ["INDEXCALC_CACHE_DIR"]
        else:
            os.environ["INDEXCALC_CACHE_DIR"] = old


def test_import_leaves_the_contraction_planner_for_the_first_compile():
    got = run("import sys, json, indexcalc\n"
              "before = 'opt_einsum' in sys.modules\n"
              "d = indexcalc.derivative('A : matrix[n, n]\\nx : vector[n]\\nE = x_i A_ij x_j',"
              " 'x')\n"
              "d.evaluate(x=[1.0, 2.0], A=[[1.0, 2.0], [3.0, 4.0]])\n"
              "print(json.dumps([before, 'opt_einsum' in sys.modules]))")
    assert got == [False, True]


@pytest.mark.parametrize("text", [
    "pad : vector[n]\nE = sum_i pad_i",
    "x : vector[n]\nsymmetric = 2 x\nE = sum(symmetric)",
    "x : vector[n]\nscalar = sum(x)\nvector = 2 x\nin = x + vector",
    "x : vector[n]\ntensor = 2 x\nfunction = sum(tensor)",
])
def test_the_notations_words_are_names_where_no_word_is_expected(text):
    """KeywordLexer keeps the context for the words (``pad``, ``scalar``, ``in`` ...)."""
    m = indexcalc.parse(text)
    assert m.definitions


def test_a_first_parse_compiles_few_lexer_expressions():
    """The lexer's expressions are shared across parser states (KeywordLexer): a
    first text builds a handful, not one per state (counted, never timed)."""
    got = run("import json, indexcalc\n"
              "from lark.lexer import BasicLexer\n"
              "built = []\n"
              "real = BasicLexer._build_scanner\n"
              "BasicLexer._build_scanner = lambda self: built.append(1) or real(self)\n"
              "indexcalc.derivative('z : vector[n]\\nt : vector[n]\\n"
              "o_j = exp(z_j) / sum_i exp(z_i)\\nE = -sum_j t_j log(o_j)', wrt='z')\n"
              "print(json.dumps(len(built)))")
    assert got <= 6
