"""Exported code as people paste it: run in a fresh namespace, called with the model's
names, checked against indexcalc's own numbers and against finite differences.

Covers ``Derivative.python`` and ``indexcalc.export``: parameters named as in the
model (renamed only when unsafe, the docstring says why), default and chosen
function names, value-and-gradients sharing the forward pass, input shape
checks, the random-input demo, the einsum program (every contraction a literal
einsum, all of it runnable as printed) and its step kinds; torch's
``autograd.Function`` (``gradcheck``) and JAX's ``custom_vjp`` (``jax.grad``)
where installed.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import models

import indexcalc
from indexcalc.compiler.export import einsum_steps, parameters
from indexcalc.errors import EvaluationError
from indexcalc.testing import numeric_derivative, random_arrays

MLP = """x : vector[n]
t : vector[k]
W1 : matrix[m, n]
b1 : vector[m]
W2 : matrix[k, m]
b2 : vector[k]
z1 = W1 x + b1
h = tanh(z1)
z2 = W2 h + b2
o = softmax(z2)
E = -sum(t ⊙ log(o))
"""
KINDS = {"einsum", "elementwise", "reduction", "diagonal", "diagonal write", "zeros",
         "function"}


def load(source: str, name: str | None = None, main: bool = False):
    """Execute exported source as a pasted module; its function ``name`` (default: the last
    defined), and what it printed."""
    namespace: dict = {"__name__": "__main__" if main else "pasted"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<pasted>", "exec"), namespace)
    name = name or [n.name for n in ast.parse(source).body
                    if isinstance(n, ast.FunctionDef)][-1]
    return namespace[name], out.getvalue()


def mlp_arrays(seed: int = 0) -> dict:
    model = indexcalc.parse(MLP)
    arrays = random_arrays(model, seed, sizes={"n": 4, "m": 3, "k": 5})
    arrays["t"] = np.eye(5)[1]
    return arrays


# ---------------------------------------------------------------- names and docstrings

def test_parameters_are_the_models_names_and_the_name_comes_from_the_derivative():
    d = indexcalc.derivative(MLP, "W1")
    fn, _ = load(d.python())
    assert fn.__name__ == "dE_dW1"
    arrays = mlp_arrays()
    got = fn(**arrays)                                    # keywords: the model's names
    assert np.allclose(got, d.evaluate(**arrays))
    assert np.allclose(got, numeric_derivative(d.model, "E", ["W1"], arrays), atol=1e-6)
    assert list(parameters(d.program)) == ["x", "t", "W1", "b1", "W2", "b2"]   # declared order
    doc = fn.__doc__
    assert "W1 : array of shape (m, n)" in doc and "∂E/∂W1 : array of shape (m, n)" in doc
    assert "renamed" not in doc
    fn, _ = load(d.python(name="grad_W1"))
    assert fn.__name__ == "grad_W1"


def test_hessian_name_and_greek_names_kept():
    d = indexcalc.derivative("θ : vector[n]\nA : matrix[n, n]\nq = θ' A θ", ["θ", "θ"])
    fn, _ = load(d.python())
    assert fn.__name__ == "d2q_dθdθ"
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 3))
    assert np.allclose(fn(θ=rng.normal(size=3), A=A), A + A.T)


@pytest.mark.parametrize("name,reason", [("lambda", "a Python keyword"),
                                         ("input", "a Python builtin"),
                                         ("np", "a name the generated code uses"),
                                         ("t1", "a name the generated code uses")])
def test_unsafe_names_are_renamed_and_the_docstring_says_why(name, reason):
    d = indexcalc.derivative(f"{name} : vector[n]\nE = {name}' {name}", name)
    fn, _ = load(d.python())
    ident = parameters(d.program)[name]
    assert ident == "v_" + name
    assert f"{ident} : array of shape (n,)\n    the model's {name!r}, renamed: {reason}" \
        in inspect.getdoc(fn)
    x = np.arange(3.0)
    assert np.allclose(fn(**{ident: x}), 2 * x)


def test_a_chosen_name_that_is_a_parameter_is_an_error():
    d = indexcalc.derivative(MLP, "W1")
    with pytest.raises(EvaluationError, match="it is a parameter"):
        d.python(name="W1")


# ---------------------------------------------------------------- value and gradients

def test_value_and_gradients_share_the_forward_pass():
    src = indexcalc.export(MLP, ["E", "dE/dW1", "dE/dW2", "dE/db1"])
    fn, _ = load(src)
    assert fn.__name__ == "E_and_grads"
    arrays = mlp_arrays(2)
    E, gW1, gW2, gb1 = fn(**arrays)
    model = indexcalc.parse(MLP)
    assert np.isclose(E, indexcalc.evaluate(model, "E", **arrays))
    for got, wrt in [(gW1, "W1"), (gW2, "W2"), (gb1, "b1")]:
        assert np.allclose(got, indexcalc.derivative(model, wrt).evaluate(**arrays))
        assert np.allclose(got, numeric_derivative(model, "E", [wrt], arrays), atol=1e-6)
    body = src[src.index("def E_and_grads"):]
    assert body.count("np.tanh(") == 1                            # the forward pass, once
    assert len(re.findall(r"\b_softmax\(", body)) == 1
    assert "A tuple, in this order:\nE : scalar\n∂E/∂W1 : array of shape (m, n)" \
        in inspect.getdoc(fn)
    assert load(indexcalc.export(MLP, ["E", "dE/dW1"]))[0].__name__ == "E_and_grad"
    assert load(indexcalc.export(MLP, ["E", "dE/dW1"], name="loss"))[0].__name__ == "loss"


# ---------------------------------------------------------------- shape checks

@pytest.mark.parametrize("change,message", [
    ({"W1": np.zeros((3, 5))}, ("W1 must have shape (m, n): axis 1 is dimension n, which is "
                                "4 from x, but has size 5")),
    ({"b1": np.zeros((1, 3))}, "b1 must have shape (m,), 1 axes, but has shape (1, 3)"),
    ({"x": np.zeros(1)}, ("W1 must have shape (m, n): axis 1 is dimension n, which is 1 from "
                          "x, but has size 4")),
])
def test_input_shapes_are_checked_naming_the_tensor_and_dimension(change, message):
    fn, _ = load(indexcalc.derivative(MLP, "W1").python())
    arrays = {**mlp_arrays(), **change}
    with pytest.raises(ValueError) as e:
        fn(**arrays)
    assert str(e.value) == message


def test_fixed_sizes_are_checked():
    fn, _ = load(indexcalc.derivative("x : vector[3]\nE = x' x", "x").python())
    with pytest.raises(ValueError, match=r"x must have shape \(3,\): axis 0 has size 4, not 3"):
        fn(x=np.zeros(4))


def test_torch_does_not_broadcast_a_size_one_input():
    torch = pytest.importorskip("torch")
    fn, _ = load(indexcalc.derivative(MLP, "W1").python("torch"))
    arrays = {n: torch.from_numpy(a) for n, a in mlp_arrays().items()}
    arrays["b1"] = torch.zeros(1, dtype=torch.float64)       # torch would broadcast it
    with pytest.raises(ValueError, match="b1 must have shape"):
        fn(**arrays)


# ---------------------------------------------------------------- the demo

@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_demo_runs_with_inputs_in_the_functions_domains(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    text = "A : matrix[n, n]\nx : vector[n]\nE = sum(log(x)) + logdet(A) + x' inv(A) x"
    src = indexcalc.export(text, ["E", "dE/dA", "dE/dx"], backend=backend, demo=True)
    assert 'if __name__ == "__main__":' in src
    _, printed = load(src, main=True)
    lines = printed.splitlines()
    assert lines[0].startswith("E () ") and "nan" not in printed
    assert lines[1].startswith("∂E/∂A (3, 3)") and any(ln.startswith("∂E/∂x (3,)")
                                                          for ln in lines)
    _, quiet = load(src)                                   # imported: no demo
    assert quiet == ""


# ---------------------------------------------------------------- frameworks

def test_torch_autograd_function_passes_gradcheck():
    torch = pytest.importorskip("torch")
    for outputs in (["E", "dE/dW1", "dE/db2"], ["h", "dh/dW1", "dh/dx"]):
        src = indexcalc.export(MLP, outputs, backend="torch", differentiable=True)
        value, _ = load(src, outputs[0])
        assert "class E_function(torch.autograd.Function)" in src or outputs[0] != "E"
        arrays = mlp_arrays(3)
        wanted = {o.split("/d")[1] for o in outputs[1:]}
        args = {n: torch.tensor(a, requires_grad=n in wanted) for n, a in arrays.items()}
        params = list(inspect.signature(value).parameters)
        def f(*xs, value=value, params=params):
            return value(**dict(zip(params, xs)))
        assert torch.autograd.gradcheck(f, tuple(args[p] for p in params))
        out = value(**{p: args[p] for p in params})
        out.sum().backward()
        d = indexcalc.derivative(MLP, "W1", of=outputs[0])
        want = d.evaluate(**arrays)
        want = want.reshape(-1, *want.shape[-2:]).sum(axis=0)
        assert np.allclose(args["W1"].grad.numpy(), want)


def test_jax_custom_vjp_agrees_with_jax_grad():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    src = indexcalc.export(MLP, ["E", "dE/dW1", "dE/dW2"], backend="jax", differentiable=True)
    assert "@jax.custom_vjp" in src
    ours, _ = load(src, "E")
    plain, _ = load(indexcalc.export(MLP, ["E"], backend="jax"))    # jax differentiates it
    arrays = {n: jnp.asarray(a) for n, a in mlp_arrays(4).items()}

    def grads(f):
        return jax.grad(lambda W1, W2: f(**{**arrays, "W1": W1, "W2": W2}), argnums=(0, 1))(
            arrays["W1"], arrays["W2"])
    for got, want in zip(grads(ours), grads(plain)):
        assert np.allclose(got, want, rtol=1e-10, atol=1e-12)
    assert np.allclose(jax.jit(ours)(**arrays), plain(**arrays))
    jac = jax.jacrev(lambda W1: load(indexcalc.export(MLP, ["h", "dh/dW1"], backend="jax",
                                                      differentiable=True), "h")[0](
        x=arrays["x"], W1=W1, b1=arrays["b1"]))(arrays["W1"])
    assert np.allclose(jac, indexcalc.derivative(MLP, "W1", of="h").evaluate(**mlp_arrays(4)))


def test_a_differentiable_export_takes_the_value_then_its_gradients():
    for outputs in (["E", "dh/dW1"], ["E"], ["E", "dE/dz1"]):
        with pytest.raises(EvaluationError):
            indexcalc.export(MLP, outputs, backend="torch", differentiable=True)
    with pytest.raises(EvaluationError, match="torch or jax"):
        indexcalc.export(MLP, ["E", "dE/dW1"], differentiable=True)


# ---------------------------------------------------------------- the einsum program

def contractions(source: str) -> list[str]:
    """The einsum subscripts of the program; no ``@``, ``tensordot`` or ``vdot`` left."""
    tree = ast.parse(source)
    assert not any(isinstance(n, ast.MatMult) for n in ast.walk(tree))
    specs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in ("tensordot", "vdot", "dot", "matmul")
            if node.func.attr == "einsum":
                spec = node.args[0].value
                assert isinstance(spec, str) and all(isinstance(a, ast.Name)
                                                     for a in node.args[1:]), ast.unparse(node)
                specs.append(spec)
    return specs


def check_specs(specs: list[str]) -> None:
    for spec in specs:
        inputs, output = spec.split("->")
        assert set(spec) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,->")
        assert len(set(output)) == len(output), spec          # NumPy: no repeated outputs
        assert set(output) <= set(inputs), spec


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_einsum_program_runs_as_printed(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    d = indexcalc.derivative(MLP, "W1")
    src = d.python(backend, einsum=True)
    specs = contractions(src)
    check_specs(specs)
    assert len(specs) == 3
    fn, _ = load(src)
    arrays = mlp_arrays(5)
    convert = {"numpy": np.asarray, "torch": lambda a: __import__("torch").from_numpy(a),
               "jax": lambda a: __import__("jax.numpy").numpy.asarray(a, dtype="float32")}
    got = np.asarray(fn(**{n: convert[backend](a) for n, a in arrays.items()}))
    assert np.allclose(got, d.evaluate(**arrays), rtol=1e-4, atol=1e-5)


def test_a_diagonal_is_written_not_disguised_as_an_einsum():
    d = indexcalc.derivative("x : vector[n]\nu : vector[n]\ng_i = u_i x_i", "x")  # δ_ip u_i
    src = d.python(einsum=True)
    assert "np.einsum(" not in src and "arange(" in src
    steps = d.einsum()
    assert "diagonal write" in {s.kind for s in steps}
    u = np.arange(1.0, 4.0)
    fn, _ = load(src)
    assert np.allclose(fn(x=np.ones(3), u=u), np.diag(u))


def test_steps_carry_their_kind_and_operands():
    steps = indexcalc.derivative(MLP, "W1").einsum()
    assert [s.kind for s in steps].count("einsum") == 3
    assert {s.kind for s in steps} == {"einsum", "elementwise", "function", "reduction"}
    for s in steps:
        assert s.kind in KINDS and s.target.isidentifier()
        if s.kind == "einsum":
            assert s.code.startswith(f"np.einsum('{s.spec}', ")
        names = {n.id for n in ast.walk(ast.parse(s.code)) if isinstance(n, ast.Name)}
        assert set(s.operands) <= names | {"∂E/∂W1"}, s


@settings(max_examples=25, deadline=None)
@given(models(), st.data())
def test_einsum_programs_of_random_models_run_and_agree(case, data):
    model = indexcalc.parse(case.text)
    wrt = data.draw(st.sampled_from(sorted(model.inputs)), label="wrt")
    d = indexcalc.derivative(model, wrt, of=case.of)
    arrays = random_arrays(model, data.draw(st.integers(0, 2**16), label="seed"))
    want = d.evaluate(**arrays)
    assume(np.all(np.isfinite(want)) and np.max(np.abs(want), initial=0) < 1e6)
    src = d.python(einsum=True)
    check_specs(contractions(src))
    fn, _ = load(src)
    got = fn(**{ident: arrays[n] for n, ident in parameters(d.program).items()})
    assert np.allclose(got, want, rtol=1e-8, atol=1e-8 * max(1, np.max(np.abs(want))))
    assert all(s.kind in KINDS for s in einsum_steps(d.program))


def test_more_than_52_labels_is_an_error_not_a_broken_einsum():
    from indexcalc.compiler.export import python_source
    from indexcalc.ir import Index, Var, mul, summation
    from indexcalc.model import Binding, Program
    a = tuple(Index(f"a{k}", 2) for k in range(27))
    b = tuple(Index(f"b{k}", 2) for k in range(26)) + (a[0],)       # 53 labels in one pair
    prog = Program((Binding("C", a[1:] + b[:-1], summation([a[0]], mul(Var("P", a),
                                                                        Var("Q", b)))),), ("C",))
    with pytest.raises(EvaluationError, match="52 letters"):
        python_source(prog, einsum=True)
    assert "np.tensordot(P, Q" in python_source(prog)              # the fast export still works


# ---------------------------------------------------------------- the README's transcripts

README_MODEL = "x : vector[n]\nW : matrix[n, m]\nb : vector[m]\nh = tanh(Wᵀ x + b)\nE = sum(h ⊙ h)"


def readme_blocks() -> list[str]:
    """What the README's "Compiling and exporting" shows, generated now: the exported
    value-and-gradients function, a run of it, the torch autograd.Function and a run."""
    src = indexcalc.export(README_MODEL, ["E", "dE/dW", "dE/db"])
    fn, _ = load(src, "E_and_grads")
    x, W, b = np.array([1.0, -2.0]), np.array([[0.1, 0.2, 0.3], [0.0, -0.1, 0.2]]), np.zeros(3)
    E, _, dE_db = fn(x=x, W=W, b=b)
    run = f">>> E\n{np.round(E, 4)}\n>>> dE_db\n{np.round(dE_db, 4)}\n"
    try:
        fn(x=x, W=W.T, b=b)
    except ValueError as e:
        run += f">>> E_and_grads(x=x, W=W.T, b=b)\nValueError: {e}\n"
    blocks = [src[src.index("def E_and_grads"):], run]
    torch = pytest.importorskip("torch")
    src = indexcalc.export(README_MODEL, ["E", "dE/dW", "dE/db"], backend="torch",
                           differentiable=True)
    value, _ = load(src, "E")
    xt, bt = torch.tensor(x), torch.tensor(b, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    value(xt, Wt, bt).backward()
    ok = torch.autograd.gradcheck(value, (xt, Wt, bt))
    blocks += [src[src.index("class E_function"):],
               f">>> E(x, W, b).backward(); b.grad\n{bt.grad.numpy().round(4)}\n"
               f">>> torch.autograd.gradcheck(E, (x, W, b))\n{ok}\n"]
    return blocks


def test_readme_shows_real_exports():
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Compiling and exporting"):]
    section = section[:section.index("\n## ", 5)]
    assert 'text = "' + README_MODEL.replace("\n", "\\n") + '"' in section
    for block in readme_blocks():
        assert block in section, f"README out of date; it should show:\n{block}"


if __name__ == "__main__":
    print("\n----\n".join(readme_blocks()))


@settings(max_examples=15, deadline=None)
@given(models(), st.data())
def test_differentiable_exports_of_random_models_agree(case, data):
    torch = pytest.importorskip("torch")
    model = indexcalc.parse(case.text)
    wrt = data.draw(st.sampled_from(sorted(model.inputs)), label="wrt")
    d = indexcalc.derivative(model, wrt, of=case.of)
    arrays = random_arrays(model, data.draw(st.integers(0, 2**16), label="seed"))
    want = d.evaluate(**arrays)
    assume(np.all(np.isfinite(want)) and np.max(np.abs(want), initial=0) < 1e6)
    assume(wrt in parameters(d.program))
    src = indexcalc.export(model, [case.of, f"d{case.of}/d{wrt}"], backend="torch",
                           differentiable=True, name="value")
    value, _ = load(src, "value")
    params = list(inspect.signature(value).parameters)
    assert set(params) <= set(arrays)                 # the generated models' names are safe
    args = {p: torch.tensor(arrays[p], requires_grad=p == wrt) for p in params}
    value(**args).sum().backward()
    grad = args[wrt].grad.numpy()
    of_rank = len(model.shapes[case.of])
    assert np.allclose(grad, want.sum(axis=tuple(range(of_rank))), rtol=1e-8,
                       atol=1e-8 * max(1, np.max(np.abs(want))))


@pytest.mark.parametrize("einsum", [False, True])
def test_ascii_exports_are_ascii_and_run(einsum):
    text = "θ : vector[n]\nA : matrix[n, n]\nη = tanh(A θ)\nq = sum(η ⊙ η)"
    d = indexcalc.derivative(text, "θ")
    src = d.python(einsum=einsum, ascii=True, demo=True)
    assert src.isascii()
    fn, printed = load(src, main=True)
    assert fn.__name__ == "dq_dtheta" and "v_theta : array of shape (n,)" in fn.__doc__
    assert "the model's 'θ', renamed: not ASCII" in inspect.getdoc(fn)   # read back as θ
    assert printed.startswith("dq/dtheta (3,)")
    rng = np.random.default_rng(0)
    arrays = {"θ": rng.normal(size=3), "A": rng.normal(size=(3, 3))}
    assert np.allclose(fn(v_theta=arrays["θ"], A=arrays["A"]), d.evaluate(**arrays))
    with pytest.raises(ValueError, match="θ must have shape"):
        fn(v_theta=np.zeros((3, 1)), A=arrays["A"])
    assert not d.python().isascii()                 # without ascii, θ stays θ
