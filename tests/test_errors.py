"""Every failure a user can cause is an IndexcalcError naming the problem, with
line, column and a caret under the culprit; never a raw traceback, a hang or
unbounded memory."""

import time

import pytest

from indexcalc.errors import (
    DerivativeError,
    IndexcalcError,
    IndexMismatchError,
    LimitError,
    ParseError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.syntax.parse import MAX_INPUT_CHARS, MAX_NESTING, MAX_TOKENS, parse


def error(text: str, cls=IndexcalcError) -> IndexcalcError:
    with pytest.raises(cls) as info:
        parse(text)
    e = info.value
    assert e.line is not None and e.column is not None
    assert "^" in str(e) and f"line {e.line}, column {e.column}" in str(e)
    return e


def caret_under(e: IndexcalcError) -> str:
    """The source text from the caret's column on."""
    row = e.text.splitlines()[e.line - 1]
    return row[e.column - 1:]


def test_unclosed_parenthesis():
    e = error("y = (a + b", ParseError)
    assert "unclosed '(' opened at line 1, column 5" in e.problem
    assert caret_under(e).startswith("(a + b")


def test_unexpected_closing_parenthesis():
    e = error("x : vector[n]\ny = x + 1)", ParseError)
    assert "unexpected ')'" in e.problem
    assert (e.line, e.column) == (2, 10)


def test_mismatched_brackets():
    e = error("y = (a]", ParseError)
    assert "']' does not match the '(' opened at line 1, column 5" in e.problem


def test_unknown_function_did_you_mean():
    e = error("z : vector[n]\ny = sofmax(z)", UnknownNameError)
    assert "unknown function 'sofmax'" in e.problem
    assert "did you mean 'softmax'?" in e.problem
    assert caret_under(e).startswith("sofmax")


def test_single_letters_are_opaque_not_typos():
    model = parse("z : vector[n]\ny = f(z)\nE = L(y)")
    assert model.functions == {"f", "L"}


def test_free_index_mismatch_in_a_sum():
    e = error("y_i = a_i + b_j", IndexMismatchError)
    assert "j is free on the right but not on the left of y_i = a_i + b_j" in e.problem
    assert "a term may leave out indices of the left, and is constant along them" in e.problem
    assert "sum it (sum_j ...) or add it to the left (y_ij = ...)" in e.problem
    assert caret_under(e).startswith("b_j")


def test_index_three_times():
    e = error("s = a_i b_i c_i", IndexMismatchError)
    assert "index i appears 3 times in a_i b_i c_i" in e.problem
    assert caret_under(e).startswith("a_i b_i c_i")


def test_left_right_free_index_mismatch():
    e = error("y_i = W_ij", IndexMismatchError)
    assert "j is free on the right but not on the left" in e.problem
    e = error("y_i = s", ShapeError)           # no free index at all: s has no known rank
    e = error("x : vector[n]\ny = x_i", IndexMismatchError)
    assert "y has no indices but the right side has free indices i" in e.problem


def test_dimension_conflict():
    e = error("x : vector[n]; A : matrix[m, m]; A x", ShapeError)
    assert "dimension mismatch in the product A x" in e.problem
    assert "A has shape (m, m)" in e.problem and "x has shape (n,)" in e.problem
    assert "m = n" in e.problem
    assert caret_under(e).startswith("A x")


def test_dimension_conflict_in_index_form():
    e = error("x : vector[n]\nA : matrix[m, m]\ny_i = A_ij x_j", ShapeError)
    assert "index j" in e.problem and "x" in e.problem


def test_shape_mismatch_in_a_sum():
    e = error("x : vector[n]\nW : matrix[n, m]\ny = x + W", ShapeError)
    assert "shape mismatch" in e.problem and "(n, m)" in e.problem


def test_rank_cannot_be_inferred():
    e = error("r = q", ShapeError)
    assert "cannot infer the rank of q: it could be a scalar, a vector or a matrix" in e.problem
    assert "declare it (`q : scalar`, `q : vector[n]` or `q : matrix[n, m]`)" in e.problem


def test_derivative_with_respect_to_a_function():
    e = error("x : vector[n]\nE = sum(x)\ndE/dexp", DerivativeError)
    assert "cannot differentiate with respect to exp: it is a function" in e.problem
    assert caret_under(e).startswith("dexp")


def test_derivative_with_respect_to_an_unknown_name():
    e = error("x : vector[n]\nE = sum(x)\ndE/dq", DerivativeError)
    assert "with respect to q" in e.problem and "not a variable" in e.problem


def test_derivative_with_respect_to_a_number():
    e = error("x : vector[n]\nE = sum(x)\nd E / d 2", DerivativeError)
    assert "with respect to 2" in e.problem


def test_derivative_of_an_unknown_name():
    e = error("x : vector[n]\ndQ/dx", UnknownNameError)
    assert "Q is not defined" in e.problem


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", ";;"])
def test_empty_input(text):
    e = error(text, ParseError)
    assert "nothing to parse" in e.problem


def test_ten_thousand_nested_parentheses():
    text = "y = " + "(" * 10_000 + "x" + ")" * 10_000
    start = time.perf_counter()
    e = error(text, LimitError)
    assert time.perf_counter() - start < 2
    assert f"nested more than {MAX_NESTING} deep" in e.problem


def test_deep_operators_without_parentheses():
    # deeper than MAX_DEPTH (400) but within MAX_TOKENS, so the depth is what is refused
    for text in ("y = " + "-" * 1500 + "x", "y = x" + "'" * 1500, "y = " + "2^" * 900 + "2"):
        e = error(text, LimitError)
        assert "nested" in e.problem


def test_nesting_just_under_the_limit_works():
    body = "(x + 1) ⊙ (" * (MAX_NESTING - 1) + "x" + ")" * (MAX_NESTING - 1)
    parse("x : vector[n]\ny = " + body)


def test_one_megabyte_input_is_refused_quickly():
    text = "x = 1\n" * (1_000_000 // 6)
    start = time.perf_counter()
    e = error(text, LimitError)
    assert time.perf_counter() - start < 1
    assert f"{MAX_INPUT_CHARS:,}" in e.problem


def test_large_input_under_the_limit_parses():
    lines = [f"x{k}_i = y_i + {k}" for k in range(MAX_TOKENS // 9)]      # 9 tokens: x0 _ i = y _ i + 0
    model = parse("\n".join(lines))
    assert len(model.statements) == MAX_TOKENS // 9


def test_too_many_tokens_are_refused_where_the_limit_is_crossed():
    lines = [f"x{k}_i = y_i + {k}" for k in range(MAX_TOKENS // 9 + 1)]
    e = error("# a comment is free " * 50 + "\n" + "\n".join(lines), LimitError)
    assert f"more than {MAX_TOKENS:,} names, numbers and symbols" in e.problem
    assert e.line == MAX_TOKENS // 9 + 2          # the last line (after the comment line)


def test_long_sum_does_not_recurse():
    parse("y_i = " + " + ".join(f"a{k}_i" for k in range(MAX_TOKENS // 4 - 2)))


@pytest.mark.parametrize("text", ["y = 1e999999", "y = 1" + "0" * 100, "y = 2^2^2^2^2^2"])
def test_huge_numbers(text):
    start = time.perf_counter()
    error(text, LimitError)
    assert time.perf_counter() - start < 1


def test_bare_expression_is_not_a_statement():
    e = error("x : vector[n]\nx + 1", ParseError)
    assert "not a statement" in e.problem and "declaration" in e.problem


def test_syntax_errors():
    e = error("y = a +", ParseError)
    assert "ends in the middle of an expression" in e.problem
    e = error("y = x_", ParseError)
    assert "a subscript needs index letters" in e.problem
    e = error("y := 3", ParseError)
    assert "after ':' comes a shape" in e.problem
    e = error("y = a $ b", ParseError)
    assert "unexpected character '$'" in e.problem
    e = error("W : matrix[n]", ParseError)
    assert "a matrix has 2 dimensions, not 1" in e.problem
    e = error("y = W_i1", ParseError)
    assert "multi-letter index names write W[i1,k]" in e.problem


@pytest.mark.parametrize("text,cls,fragment", [
    ("z_k = q_k\nz_k = 2", ParseError, "z is defined twice"),
    ("x : vector[n]\nx : vector[n]", ShapeError, "declared twice"),
    ("x : vector[n]\ny = exp", ParseError, "exp is a function"),
    ("y_i = y_i + 1", ParseError, "used in its own definition"),
    ("a b = c", ParseError, "left-hand side of a definition must be a name"),
    ("dE/dz = 3", ParseError, "check dE/dx == ..."),
    ("x : vector[n]\ny = x_i x", IndexMismatchError, "cannot mix index form"),
    ("y_i = x_i\ns = y_i x_i x_i", IndexMismatchError, "appears 3 times"),
    ("A : matrix[n, m]\nt = tr(A)", ShapeError, "square"),
    ("z : vector[n]\ny_j = softmax(z_i)", IndexMismatchError, "say which index softmax runs"),
    ("x : vector[n]\ny = exp'(x)", ParseError, "primes mark derivatives of unknown functions"),
    ("x : vector[n]\nE = sum(x)\ncheck dE/dx_k == x_j", IndexMismatchError,
     "must be among the question's"),
    ("x : vector[n]\ny_i = x_i + grad(x, x)", ParseError, "is a question"),
    ("A : matrix[n, m]\ns = A^0.5", ShapeError, "integer exponent"),
    ("y_i = Wᵀ_i", ParseError, None),
    ("x : vector[n]\ny_i = x_iᵀ", IndexMismatchError, "swap the indices"),
    ("y_k = sum_k x_k", IndexMismatchError, "also a free index of the left-hand side"),
])
def test_other_errors(text, cls, fragment):
    e = error(text, cls)
    if fragment:
        assert fragment in e.problem


def test_never_a_raw_exception():
    samples = ["y = ((", "))", "x : vector[", "∂", "y = ||x", "y = sum_", "check", "assume",
               "x ∈ ℝ^", "y = softmax_i(", "y = f''", "W[", "y = A^T^T'ᵀ", "_", "x : tensor[]",
               "y = 1/0", "y = 0^-1", "x : vector[0]", "Σ_i", "y = sum_i", "y = ‖x‖",
               "y = x ./ 0", "d/d", "grad(E)", "jacobian(1, 2)", "hessian(E, W_ij)"]
    for text in samples:
        try:
            parse(text)
        except IndexcalcError as e:
            assert e.line is not None or "needs a str" in str(e), text

