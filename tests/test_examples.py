"""Every file in examples/ is run, and its output compared with the checked-in one.

The expected output of ``examples/NAME.ic`` is ``examples/NAME.out``.  When the
engine's output changes on purpose, regenerate them and read the diff:

    python tests/test_examples.py --update && git diff examples/
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

from indexcalc.ui.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.ic"))


def run_example(path: Path) -> tuple[int, str, str]:
    """Run ``indexcalc run examples/NAME.ic`` from the repository root."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["run", str(path.relative_to(ROOT))])
    finally:
        os.chdir(here)
    return status, out.getvalue(), err.getvalue()


def expected_path(path: Path) -> Path:
    return path.with_suffix(".out")


def test_there_are_examples_for_every_golden_derivation():
    names = {p.stem for p in EXAMPLES}
    for prefix in ("s1_", "s2_", "s3_", "s4_", "s5_"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert {"matrix_cookbook", "mlp_backprop", "logistic_regression_hessian"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_output_matches_checked_in(path: Path):
    status, out, err = run_example(path)
    assert err == "", err
    # only the mistakes example has checks that fail (status 1); the rest succeed
    assert status == (1 if path.stem == "common_mistakes" else 0)
    want = expected_path(path)
    assert want.exists(), "no expected output: run python tests/test_examples.py --update"
    assert out == want.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_opens_with_comments_saying_what_it_shows(path: Path):
    head = path.read_text(encoding="utf-8").splitlines()[:3]
    assert all(line.startswith("#") for line in head)


def update() -> None:
    for path in EXAMPLES:
        status, out, err = run_example(path)
        if err:
            print(f"{path.name}: error output\n{err}", file=sys.stderr)
        expected_path(path).write_text(out, encoding="utf-8")
        print(f"{path.name}: exit {status}, {len(out.splitlines())} lines")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_examples.py --update")
    update()
