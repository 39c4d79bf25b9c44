"""The distributions: an sdist that holds everything its tests need, a wheel
that carries the grammar, ``py.typed`` and the license, and an SPDX license.

Builds both from a copy of the repository (``python -m build --no-isolation``,
so no network), reads the archives, and runs the examples' test from the
unpacked sdist.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_is_recent() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("build") is None or not _setuptools_is_recent(),
    reason="needs the build package and setuptools >= 77 (the test extra)")


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("dist")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", ".*venv*", "__pycache__", ".hypothesis"))
    out = tmp / "out"
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel",
                            "--no-isolation", "-o", str(out), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "deprecat" not in (built.stdout + built.stderr).lower()    # the license table
    (sdist,) = out.glob("indexcalc-*.tar.gz")
    (wheel,) = out.glob("indexcalc-*.whl")
    return sdist, wheel


def test_the_license_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert (ROOT / "indexcalc" / "py.typed").exists()


def test_the_sdist_holds_what_its_tests_need(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        info = tar.extractfile(next(n for n in tar.getnames() if n.endswith("/PKG-INFO")))
        metadata = info.read().decode("utf-8")
    needed = {p.relative_to(ROOT).as_posix()
              for folder in ("examples", "grammar", "tests")
              for p in (ROOT / folder).rglob("*")
              if p.is_file() and p.suffix != ".pyc" and not any(
                  part == "__pycache__" or part.startswith(".")
                  for part in p.relative_to(ROOT).parts)}
    assert {"examples/s1_softmax_cross_entropy.ic", "examples/s1_softmax_cross_entropy.out",
            "tests/test_examples.py", "grammar/indexcalc.lark"} <= needed
    assert needed <= names, sorted(needed - names)
    assert {"LICENSE", "README.md", "pyproject.toml", "indexcalc/py.typed"} <= names
    assert "License-Expression: MIT" in metadata


def test_the_wheel_carries_the_grammar_types_and_license(dists):
    _, wheel = dists
    names = zipfile.ZipFile(wheel).namelist()
    assert {"indexcalc/grammar/indexcalc.lark", "indexcalc/py.typed"} <= set(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "examples/")) for n in names)


def test_the_examples_test_passes_in_the_unpacked_sdist(dists, tmp_path):
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("indexcalc-*")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_examples.py"], cwd=unpacked, capture_output=True,
                         text=True, timeout=600, env={"PYTHONPATH": str(unpacked),
                                                      "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout
