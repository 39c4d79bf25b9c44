"""Lowering: names, Einstein convention, matrix form -> index form, dimensions.

Matrix-form lowering is checked numerically: the lowered index form is
evaluated by the reference evaluator on random arrays and compared with
NumPy's own expression for the same formula.
"""

from fractions import Fraction

import numpy as np
import pytest

from indexcalc import ir
from indexcalc.compiler.reference import evaluate_expr
from indexcalc.ir import Apply, Const, Delta, DimSize, Func, Index, Sum, Var
from indexcalc.model import Definition
from indexcalc.syntax.parse import parse

RNG = np.random.default_rng(0)
SIZES = {"n": 3, "m": 4, "k": 2, "p": 5}


def definition(text: str, name: str | None = None) -> Definition:
    model = parse(text)
    defs = model.definitions
    return defs[name] if name else list(defs.values())[-1]


def arrays(model, sizes=SIZES):
    """Random arrays for every input of ``model`` (symmetric ones symmetrised)."""
    env = {}
    for name in model.inputs:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in model.shapes[name])
        a = RNG.normal(size=shape)
        if name in model.symmetric:
            a = a + a.T
        env[name] = a
    return env


def value(text: str, sizes=SIZES):
    """(lowered value of the last definition, the input arrays)."""
    model = parse(text)
    d = list(model.definitions.values())[-1]
    env = arrays(model, sizes)
    return evaluate_expr(d.expr, env, d.indices, dict(sizes)), env


# ---------------------------------------------------------------- index form

def test_einstein_sums_a_repeated_index():
    d = definition("z_k = W_ik y_i + b_k")
    i, k = Index("i", "n"), Index("k", "m")
    assert d.indices == (k,)
    assert d.expr == ir.add(Var("b", (k,)),
                            ir.summation([i], ir.mul(Var("W", (i, k)), Var("y", (i,)))))
    assert not d.matrix_form


def test_index_on_the_left_is_elementwise():
    d = definition("c_k = a_k b_k")
    k = d.indices[0]
    assert d.expr == ir.mul(Var("a", (k,)), Var("b", (k,)))


def test_lone_factor_with_repeated_index_is_a_trace():
    d = definition("A : matrix[n, n]\nt = A_ii")
    i = Index("i", "n")
    assert d.expr == Sum((i,), Var("A", (i, i)))


def test_diagonal_when_index_on_the_left():
    d = definition("A : matrix[n, n]\nd_i = A_ii")
    i = Index("i", "n")
    assert d.expr == Var("A", (i, i))


def test_explicit_sum_binds_the_product_that_follows():
    d = definition("E = -sum_j t_j log(o_j) + c")
    j = Index("j", "n")
    inner = ir.summation([j], ir.mul(Var("t", (j,)), Func("log", Var("o", (j,)))))
    assert d.expr == ir.add(ir.neg(inner), Var("c", ()))


def test_sum_after_a_factor():
    d = definition("q_k = o_k sum_j t_j")
    k, j = Index("k", "n"), Index("j", "m")
    assert d.expr == ir.mul(Var("o", (k,)), ir.summation([j], Var("t", (j,))))


def test_explicit_sum_allows_three_occurrences():
    d = definition("s = sum_i a_i b_i c_i")
    assert isinstance(d.expr, Sum)


def test_sum_over_several_indices():
    for text in ("s = sum_{i,j} A_ij", "s = Σ_{ij} A_ij", "s = ∑_{i,j} A[i,j]"):
        d = definition(text)
        assert isinstance(d.expr, Sum) and len(d.expr.indices) == 2


def test_softmax_index_form_definition():
    d = definition("o_j = exp(z_j) / sum_i exp(z_i)")
    j, i = Index("j", "n"), Index("i", "n")
    assert d.expr == ir.div(Func("exp", Var("z", (j,))),
                            ir.summation([i], Func("exp", Var("z", (i,)))))


def test_kronecker_delta():
    d = definition("x : vector[n]\ny_j = x_k δ_jk")
    j, k = Index("j", "n"), Index("k", "n")
    assert d.expr == Sum((k,), ir.mul(Var("x", (k,)), Delta(j, k)))
    d = definition("x : vector[n]\ny_j = x_k delta_jk")
    assert isinstance(d.expr, Sum)


def test_name_followed_by_parenthesis_is_a_product_for_tensors():
    d = definition("A : matrix[n, n]\nx : vector[n]\nb : vector[n]\ny = A (x + b)")
    v, env = value("A : matrix[n, n]\nx : vector[n]\nb : vector[n]\ny = A (x + b)")
    assert np.allclose(v, env["A"] @ (env["x"] + env["b"]))
    v, env = value("A : matrix[n, n]\nx : vector[n]\ny_i = A_ij(x_j)")
    assert np.allclose(v, env["A"] @ env["x"])
    assert isinstance(d.expr, Sum)


def test_undeclared_name_followed_by_parenthesis_is_an_opaque_function():
    model = parse("a_i = f(z_i) + g (z_i)\nb_i = f(z_i)")
    assert model.functions == {"f", "g"}
    d = model.definitions["b"]
    assert d.expr == Func("f", Var("z", d.indices))


def test_dimension_symbol_is_a_size():
    d = definition("x : vector[n]\nm = sum_i x_i / n")
    assert DimSize("n") in list(ir.walk(d.expr))


def test_decimals_stay_decimals_and_fractions_exact():
    d = definition("y_i = 0.5 x_i + 1e-1 + 2/3")
    assert Const(0.5) in list(ir.walk(d.expr))
    assert Const(Fraction(2, 3) + 0.1) in list(ir.walk(d.expr))
    assert Const(Fraction(2, 3)) in list(ir.walk(definition("y_i = 2/3 x_i + 1.0").expr))
    assert str(definition("y_i = 1e-5 x_i").expr) == "1e-5 x_i"


def test_index_form_reduction_syntax():
    d = definition("s_j = softmax_i(θ_i)_j")
    i, j = Index("i", "n"), Index("j", "n")
    assert d.expr == Apply("softmax", Var("θ", (i,)), (i,), (j,))
    d = definition("l = logsumexp_i(z_i)")
    assert isinstance(d.expr, Apply) and d.expr.out == ()
    d = definition("A : matrix[n, n]\nB : matrix[n, n]\nd = det_{ij}(A_ij + B_ij)")
    assert d.expr.fn == "det" and len(d.expr.over) == 2
    d = definition("X : matrix[n, n]\nY_ab = inv_{ij}(X_ij)_{ab}")
    assert d.expr.fn == "inv" and [i.name for i in d.expr.out] == ["a", "b"]


def test_opaque_derivative_syntax():
    model = parse("z2 : vector[n]\na2 : vector[n]\np_j = f'(z2_j)\nq = f''(z2)\n"
                  "r_j = L'(a2)_j\ns = L(a2)")
    d = model.definitions
    j = Index("j", "n")
    assert d["p"].expr == Func("f", Var("z2", (j,)), 1)
    assert d["q"].expr.order == 2
    assert isinstance(d["r"].expr, Apply) and d["r"].expr.order == 1
    assert d["r"].expr.out == (j,)
    assert d["s"].expr.out == () and d["s"].expr.order == 0
    assert model.functions == {"f", "L"}


def test_opaque_convention_capital_is_scalar_valued():
    model = parse("a : vector[n]\nE = L(a)\nb = f(a)\nc_i = L(a_i)")
    d = model.definitions
    assert isinstance(d["E"].expr, Apply) and d["E"].indices == ()
    assert isinstance(d["b"].expr, Func) and len(d["b"].indices) == 1
    assert isinstance(d["c"].expr, Func)


def test_aliases_and_unicode_function_names():
    d = definition("x : vector[n]\nh = σ(x)")
    assert d.expr.name == "sigmoid"
    d = definition("x : vector[n]\nh = ln(x)")
    assert d.expr.name == "log"


# ---------------------------------------------------------------- matrix form, structure

def test_matrix_form_fresh_indices():
    d = definition("x : vector[n]\nW1 : matrix[n, m]\nr = x W1 + b1")
    assert d.matrix_form
    (a,) = d.indices
    assert a.dim == "m"
    (b,) = [i for i in ir.index_names(d.expr) if i != a.name]
    b = Index(b, "n")
    assert d.expr == ir.add(Var("b1", (a,)),
                            ir.summation([b], ir.mul(Var("x", (b,)), Var("W1", (b, a)))))


def test_shapes_dims_and_symmetric():
    model = parse("x : vector[n]\nW1 : matrix[n, m]\nA : matrix[n, n] symmetric\n"
                  "r = x W1 + b1\nh = sigmoid(r)")
    assert model.shapes["b1"] == ("m",)
    assert model.shapes["h"] == ("m",)
    assert model.dims == {"n", "m"}
    assert model.symmetric == {"A"}
    assert model.inputs == ["x", "W1", "A", "b1"]


def test_generated_dimension_symbols_do_not_clash():
    model = parse("N : vector[n]\ny_i = x_i + N_i\nz_k = w_k")
    assert model.shapes["x"] == ("n",)
    assert model.shapes["w"] == ("N1",) or model.shapes["w"][0] not in ("n", "N")


def test_integer_dimensions():
    model = parse("x : vector[3]\nW : matrix[3, 2]\ny = x W")
    assert model.shapes["y"] == (2,)
    d = model.definitions["y"]
    assert d.indices[0].dim == 2


def test_defined_name_used_in_either_form():
    model = parse("x : vector[n]\ny_i = exp(x_i)\nz = y + x\nw_j = y_j z_j")
    assert model.shapes["z"] == ("n",)


def test_scalar_broadcasts():
    v, env = value("h : vector[n]\ng = 1 - h")
    assert np.allclose(v, 1 - env["h"])


# ---------------------------------------------------------------- matrix form, numerically

NUMERIC = [
    ("x : vector[n]\nA : matrix[n, n]\ny = xᵀ A x", lambda e: e["x"] @ e["A"] @ e["x"]),
    ("a1 : vector[n]\nW1 : matrix[n, m]\nz = W1ᵀ a1 + b1",
     lambda e: e["W1"].T @ e["a1"] + e["b1"]),
    ("u : vector[n]\nv : vector[m]\nP = u vᵀ", lambda e: np.outer(e["u"], e["v"])),
    ("u : vector[n]\nv : vector[m]\nP = outer(u, v)", lambda e: np.outer(e["u"], e["v"])),
    ("u : vector[n]\nv : vector[n]\ns = uᵀ v", lambda e: e["u"] @ e["v"]),
    ("u : vector[n]\nv : vector[n]\ns = u v", lambda e: e["u"] @ e["v"]),
    ("u : vector[n]\nv : vector[n]\ns = dot(u, v)", lambda e: e["u"] @ e["v"]),
    ("x : vector[n]\nW : matrix[n, m]\ny = x W", lambda e: e["x"] @ e["W"]),
    ("x : vector[n]\nW : matrix[n, m]\ny = x @ W", lambda e: e["x"] @ e["W"]),
    ("x : vector[n]\nW : matrix[m, n]\ny = W * x", lambda e: e["W"] @ e["x"]),
    ("h : vector[n]\nW2 : matrix[n, m]\nb2 : vector[m]\ny = softmax(h W2 + b2)",
     lambda e: _softmax(e["h"] @ e["W2"] + e["b2"])),
    ("Z : matrix[n, m]\nS = softmax(Z)", lambda e: _softmax(e["Z"])),
    ("Z : matrix[n, m]\nS = log_softmax(Z)", lambda e: np.log(_softmax(e["Z"]))),
    ("Z : matrix[n, m]\nS = logsumexp(Z)", lambda e: np.log(np.exp(e["Z"]).sum(-1))),
    ("A : matrix[n, m]\nX : matrix[m, k]\nB : matrix[k, n]\nt = tr(A X B)",
     lambda e: np.trace(e["A"] @ e["X"] @ e["B"])),
    ("A : matrix[n, n]\nB = inv(A)", lambda e: np.linalg.inv(e["A"])),
    ("A : matrix[n, n]\nB = A^-1", lambda e: np.linalg.inv(e["A"])),
    ("A : matrix[n, n]\nB = A^2", lambda e: e["A"] @ e["A"]),
    ("A : matrix[n, n]\nB = A^3", lambda e: e["A"] @ e["A"] @ e["A"]),
    ("A : matrix[n, n]\nd = det(A)", lambda e: np.linalg.det(e["A"])),
    ("v : vector[n]\nA : matrix[n, m]\nB = diag(v) A", lambda e: np.diag(e["v"]) @ e["A"]),
    ("A : matrix[n, n]\nd = diag(A)", lambda e: np.diag(e["A"])),
    ("A : matrix[n, m]\ns = sum(A)", lambda e: e["A"].sum()),
    ("x : vector[n]\ns = ||x||", lambda e: np.linalg.norm(e["x"])),
    ("A : matrix[n, m]\ns = norm(A)", lambda e: np.linalg.norm(e["A"])),
    ("A : matrix[n, m]\nB : matrix[n, m]\nC = A ⊙ B", lambda e: e["A"] * e["B"]),
    ("A : matrix[n, m]\nB : matrix[n, m]\nC = A .* B - A ./ B",
     lambda e: e["A"] * e["B"] - e["A"] / e["B"]),
    ("A : matrix[n, m]\nC = A' + Aᵀ + A^T + A.T", lambda e: 4 * e["A"].T),
    ("A : matrix[n, m]\nx : vector[m]\ny_i = (A x)_i", lambda e: e["A"] @ e["x"]),
    ("θ : vector[n]\ns_j = softmax(θ)_j", lambda e: _softmax(e["θ"])),
    ("x : vector[n]\nW1 : matrix[n, m]\nb1 : vector[m]\nW2 : matrix[m, k]\nb2 : vector[k]\n"
     "y = softmax(sigmoid(x W1 + b1) W2 + b2)",
     lambda e: _softmax(_sig(e["x"] @ e["W1"] + e["b1"]) @ e["W2"] + e["b2"])),
    ("x : vector[n]\nA : matrix[n, n]\ny = x^T A",
     lambda e: e["x"] @ e["A"]),
    ("A : matrix[n, m]\nB : matrix[m, k]\nC = (A B)ᵀ", lambda e: (e["A"] @ e["B"]).T),
    ("x : vector[n]\ns = x ⋅ x" if False else "x : vector[n]\ns = -x x / 2",
     lambda e: -(e["x"] @ e["x"]) / 2),
    ("X : matrix[n, n]\nY_ab = inv_{ij}(X_ij)_{ab}", lambda e: np.linalg.inv(e["X"])),
    ("A : matrix[n, n]\nB : matrix[n, n]\nd = det_{ij}(A_ij + B_ij)",
     lambda e: np.linalg.det(e["A"] + e["B"])),
]


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sig(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("text,expected", NUMERIC, ids=[t.splitlines()[-1] for t, _ in NUMERIC])
def test_matrix_form_numerically(text, expected):
    got, env = value(text)
    want = expected(env)
    assert np.shape(got) == np.shape(want)
    assert np.allclose(got, want)


def test_transposed_vector_times_matrix_is_transposed():
    # xᵀ A gives a transposed vector, so (xᵀ A) y is an inner product, not outer
    got, env = value("x : vector[n]\nA : matrix[n, n]\ny : vector[n]\ns = xᵀ A y")
    assert np.allclose(got, env["x"] @ env["A"] @ env["y"])
