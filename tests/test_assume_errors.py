"""Every error an ``assume`` statement can raise: the class, the message and the caret.

Assumptions are lowered like definitions (``syntax/statements.assume``), but
their own check (both sides must have the same free indices, or both be matrix
form of one shape) was untested, and once ended in a raw AttributeError
(``assume x_i = y_j``).  Each test also checks that the model without the bad
assumption parses, so the error is the assumption's.
"""

from __future__ import annotations

import pytest

from indexcalc.errors import (
    IndexcalcError,
    IndexMismatchError,
    ParseError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.model import Assume
from indexcalc.syntax.parse import parse

VECTORS = "x : vector[n]\ny : vector[n]\nu : vector[m]\nA : matrix[n, m]\nB : matrix[m, m]\n"


def assume_error(line: str, cls: type[IndexcalcError]) -> IndexcalcError:
    parse(VECTORS + "E = sum_i x_i")                   # the declarations alone are fine
    with pytest.raises(cls) as info:
        parse(VECTORS + line)
    e = info.value
    assert type(e) is cls
    assert e.line == VECTORS.count("\n") + 1
    assert "^" in str(e) and f"line {e.line}, column {e.column}" in str(e)
    return e


def caret_under(e: IndexcalcError) -> str:
    return e.text.splitlines()[e.line - 1][e.column - 1:]


def test_mismatched_free_indices():
    e = assume_error("assume x_i = y_j", IndexMismatchError)
    assert e.problem == ("the two sides of an assumption must have the same free indices: "
                         "free indices {i} and free indices {j}")
    assert e.column == 1 and caret_under(e) == "assume x_i = y_j"


def test_indexed_side_against_a_matrix_form_side():
    e = assume_error("assume A = x_i", IndexMismatchError)
    assert e.problem.startswith("the two sides of an assumption must have the same free "
                                "indices: free indices {")
    assert e.problem.endswith("} and free indices {i}")
    assert e.column == 1


def test_matrix_form_shapes_must_agree():
    e = assume_error("assume A = B", ShapeError)
    assert e.problem == "shape mismatch in =: A has shape (n, m) but B has shape (m, m)"
    assert caret_under(e) == "B"


def test_vectors_of_different_dimensions():
    e = assume_error("assume x = u", ShapeError)
    assert e.problem == "shape mismatch in =: x has shape (n,) but u has shape (m,)"
    assert caret_under(e) == "u"


def test_unknown_name_of_unknown_rank():
    e = assume_error("assume q = x", ShapeError)
    assert e.problem.startswith("cannot infer the rank of q: it could be a scalar, a vector "
                                "or a matrix here, and nothing around it decides; declare it")
    assert caret_under(e) == "q = x"


def test_function_name_used_as_a_value():
    e = assume_error("assume exp = x", ParseError)
    assert e.problem == "exp is a function; call it, like exp(x)"
    assert caret_under(e).startswith("exp")


def test_misspelt_function():
    e = assume_error("assume sigmoud(x) = y", UnknownNameError)
    assert e.problem.startswith("unknown function 'sigmoud'; did you mean 'sigmoid'?")
    assert caret_under(e).startswith("sigmoud")


def test_index_three_times():
    e = assume_error("assume x_i x_i x_i = x_i", IndexMismatchError)
    assert e.problem.startswith("index i appears 3 times in x_i x_i x_i;")
    assert caret_under(e).startswith("x_i x_i x_i")


def test_dimension_with_indices():
    e = assume_error("assume n_i = x_i", IndexMismatchError)
    assert e.problem == "n is a dimension; it takes no indices"
    assert caret_under(e).startswith("n_i")


def test_wrong_rank():
    e = assume_error("assume x_ij = y_i", IndexMismatchError)
    assert e.problem.startswith("x has rank 1 (shape (n,)) but x_ij gives it 2 ")
    assert caret_under(e).startswith("x_ij")


def test_partial_outside_a_question():
    e = assume_error("assume ∂x = y", ParseError)
    assert e.problem == "∂ only appears in questions, like ∂E/∂z_k"
    assert caret_under(e).startswith("∂x")


@pytest.mark.parametrize("line", ["assume x_i = y_i", "assume sum_i x_i = 1", "assume x = y",
                                  "assume x_i x_i = 1", "assume A = 2 A"])
def test_well_formed_assumptions_are_kept(line):
    m = parse(VECTORS + line)
    (a,) = [s for s in m.statements if isinstance(s, Assume)]
    assert a.source == line
