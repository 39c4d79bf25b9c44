"""The one subscript rule (``syntax/subscripts.py``): what the printer writes, the parser reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexcalc import limits
from indexcalc.errors import ParseError
from indexcalc.syntax.subscripts import NAME, split_subscript, subscript_indices, subscript_text

names = st.from_regex(NAME, fullmatch=True).filter(lambda s: len(s) <= 4)


def fail(message):
    return ParseError(message)


@given(st.lists(names, min_size=1, max_size=4, unique=True), st.booleans())
def test_printed_subscripts_read_back(ix, compact):
    assert subscript_indices(subscript_text(ix, compact), fail) == tuple(ix)


@pytest.mark.parametrize("raw, names", [
    ("_ik", ["i", "k"]), ("_{ik}", ["i", "k"]), ("_{i,k}", ["i", "k"]), ("_{i k}", ["i", "k"]),
    ("[i1, k]", ["i1", "k"]), ("[ab]", ["ab"]),
])
def test_the_spellings(raw, names):
    assert split_subscript(raw) == names


@pytest.mark.parametrize("raw, problem", [
    ("_{}", "empty index"), ("[i,]", "empty index"), ("_12", "not numbers"),
    ("[i-j]", "is not an index name"),
])
def test_bad_subscripts(raw, problem):
    with pytest.raises(ParseError, match=problem):
        subscript_indices(raw, fail)


def test_every_limit_is_used():
    """limits.py holds only live limits: each one is imported by a module that uses it."""
    package = Path(limits.__file__).parent
    imported = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "indexcalc.limits":
                imported.update(a.name for a in node.names)
    assert imported == {n for n in vars(limits) if n.isupper()}
