"""The class of models that always has a matrix form, generated at random (Hypothesis).

Models here are built only from matrix products, Hadamard products, sums,
transposes, diagonals (``diag(v)``, ``diag(A)``) and elementwise functions of
matrices and vectors, ending in a scalar loss (``sum(G ⊙ Y)``, ``uᵀ Y v``,
``sum(Y)``, ``wᵀ y``), sometimes through named intermediate definitions.  The
derivative of the loss with respect to any variable is a vector or a matrix
and its index form is made of the same operations, so it must have a matrix
form (every line of it), and that form, parsed back in both layouts (``1``
and ``I`` spelt as arrays), must equal the index form.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from matrix_check import arrays_for, parsed_value, run, sizes_for

import indexcalc
from indexcalc.read.matrix import matrix_form

DIMS = ("n", "m", "k")
FUNCS = ("tanh", "sigmoid", "sin")


def matrix_name(r: str, c: str, k: int) -> str:
    return f"{'AB'[k]}{r}{c}"


def vector_name(r: str, k: int) -> str:
    return f"{'uv'[k]}{r}"


@st.composite
def matrix_expr(draw, r: str, c: str, depth: int, used: set) -> str:
    kinds = ["leaf"] if depth == 0 else ["leaf", "prod", "had", "add", "t", "f", "diag", "scale"]
    kind = draw(st.sampled_from(kinds))
    sub = lambda r, c: matrix_expr(r, c, depth - 1, used)                     # noqa: E731
    if kind == "leaf":
        name = matrix_name(r, c, draw(st.integers(0, 1)))
        used.add((name, (r, c)))
        return name
    if kind == "prod":
        j = draw(st.sampled_from(DIMS))
        return f"({draw(sub(r, j))}) ({draw(sub(j, c))})"
    if kind == "had":
        return f"({draw(sub(r, c))}) ⊙ ({draw(sub(r, c))})"
    if kind == "add":
        return f"({draw(sub(r, c))}) {draw(st.sampled_from('+-'))} ({draw(sub(r, c))})"
    if kind == "t":
        return f"({draw(sub(c, r))})ᵀ"
    if kind == "f":
        return f"{draw(st.sampled_from(FUNCS))}({draw(sub(r, c))})"
    if kind == "diag":
        return f"diag({draw(vector_expr(r, depth - 1, used))}) ({draw(sub(r, c))})"
    return f"2 ({draw(sub(r, c))})"


@st.composite
def vector_expr(draw, r: str, depth: int, used: set) -> str:
    kinds = ["leaf"] if depth == 0 else ["leaf", "mv", "had", "add", "f", "diagA"]
    kind = draw(st.sampled_from(kinds))
    sub = lambda: vector_expr(r, depth - 1, used)                              # noqa: E731
    if kind == "leaf":
        name = vector_name(r, draw(st.integers(0, 1)))
        used.add((name, (r,)))
        return name
    if kind == "mv":
        j = draw(st.sampled_from(DIMS))
        return f"({draw(matrix_expr(r, j, depth - 1, used))}) ({draw(vector_expr(j, depth - 1, used))})"
    if kind == "had":
        return f"({draw(sub())}) ⊙ ({draw(sub())})"
    if kind == "add":
        return f"({draw(sub())}) + ({draw(sub())})"
    if kind == "f":
        return f"{draw(st.sampled_from(FUNCS))}({draw(sub())})"
    return f"diag({draw(matrix_expr(r, r, depth - 1, used))})"


@st.composite
def layer_models(draw):
    used: set = set()
    r, c = draw(st.sampled_from(DIMS)), draw(st.sampled_from(DIMS))
    lines = []
    if draw(st.booleans()):
        lines.append(f"H = {draw(matrix_expr(r, c, draw(st.integers(1, 3)), used))}")
        y = "H"
    else:
        y = f"({draw(matrix_expr(r, c, draw(st.integers(1, 4)), used))})"
    loss = draw(st.sampled_from(["weights", "bilinear", "sum", "vector"]))
    if loss == "weights":
        used.add((matrix_name(r, c, 0), (r, c)))
        lines.append(f"L = sum({matrix_name(r, c, 0)} ⊙ {y})")
    elif loss == "bilinear":
        used |= {(vector_name(r, 0), (r,)), (vector_name(c, 1), (c,))}
        lines.append(f"L = {vector_name(r, 0)}ᵀ {y} {vector_name(c, 1)}")
    elif loss == "sum":
        lines.append(f"L = sum({y})")
    else:
        used.add((vector_name(c, 1), (c,)))
        lines.append(f"z = {y} {vector_name(c, 1)}")
        lines.append(f"L = sum(tanh(z))")
    decls = [f"{n} : matrix[{s[0]}, {s[1]}]" if len(s) == 2 else f"{n} : vector[{s[0]}]"
             for n, s in sorted(used)]
    wrt = draw(st.sampled_from(sorted(n for n, _ in used)))
    return "\n".join(decls + lines), wrt


COUNTS = {"models": 0, "exact": 0}


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(layer_models())
def test_matrix_form_exists_and_parses_back_equal(case):
    text, wrt = case
    note(text)
    d = indexcalc.derivative(text, wrt=wrt)
    model = indexcalc.parse(text)
    sizes = sizes_for(model)
    arrays = arrays_for(model, 0, sizes)
    want = run(d.program, arrays)[d.name]
    COUNTS["models"] += 1
    for layout in ("column", "row"):
        form = matrix_form(d, layout=layout)
        note(form.text)
        assert form.exact, form.reason
        if form.result == "0":                    # dfdA_pq = 0 names no dimension to parse
            assert not np.any(want)
            continue
        got = parsed_value(text, form.text, arrays, sizes, d.shape)
        assert got.shape == want.shape
        assert np.allclose(got, want, rtol=1e-9, atol=1e-9), form.text
    COUNTS["exact"] += 1
