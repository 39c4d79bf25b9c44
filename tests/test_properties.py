"""Random models checked against numbers (Hypothesis; strategies in strategies.py).

A derivative tool is only worth using if its answers are never silently wrong,
so every property here compares indexcalc with something independent of its
symbolic engine, on models it has never seen:

* first derivatives (gradients and Jacobians), from the compiled program and
  from the reference evaluator, against central finite differences of the
  model's value;
* second derivatives (Hessians) against central differences of the symbolic
  gradient (itself checked by the first property), and for symmetry;
* printing: ``parse(print(definition))`` gives the same IR up to renaming
  bound indices, in Unicode and in ASCII, for the model's definitions and for
  derivatives that print as one closed formula;
* the matrix form, when exact, parsed back in the model's context and
  evaluated, equals the index form;
* where JAX or PyTorch is installed: the exported code runs, and JAX's own
  autodiff of the model agrees with indexcalc's derivative.

Tolerance (float64, data in [-1, 1], A and B ≈ 2I + noise, dimensions 2–4):
``|got - want| <= 1e-5 |want| + 1e-6 * scale`` elementwise, where
``scale = max(1, max|want|, max|value|)``.  The oracle is the fourth-order
central difference with ``eps = 1e-4``: truncation ~eps⁴ f⁽⁵⁾/30 ≈ 3e-18 f⁽⁵⁾
and round-off ~1e-16 |f| / eps ≈ 1e-12 |f| stay far below the tolerance even
for steep models (exp of a determinant), so a disagreement is a bug, not
noise; where it is not (sin of a large argument), a second oracle with a
quarter of the step disagrees with the first and the example is rejected
rather than passed; when the two oracles agree, the result must match the
finer one (whose truncation error is 256 times smaller).  Compiled and reference results must agree to 1e-9
relative for first derivatives and within the tolerance for Hessians.

Profiles (tests/conftest.py): ``ci`` by default; ``HYPOTHESIS_PROFILE=long``
for the long run (tools/long_properties.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from matrix_check import declaration, declared
from strategies import models

import indexcalc
from indexcalc.errors import DerivativeError
from indexcalc.compiler.reference import evaluate_program
from indexcalc.ir import Index, Var, canonical, map_indices, rebuild, var_names
from indexcalc.model import Program
from indexcalc.read.matrix import expr_form, matrix_form
from indexcalc.read.text import definition_text
from indexcalc.testing import random_arrays

RTOL, ATOL, EPS = 1e-5, 1e-6, 1e-4


def finite_difference(f, arrays: dict, wrt: str, eps: float = EPS) -> np.ndarray:
    """Fourth-order central differences (error ~eps⁴ f⁽⁵⁾ / 30 + 1e-16 |f| / eps)."""
    x = np.asarray(arrays[wrt], dtype=float)
    base = np.asarray(f(arrays))
    out = np.zeros(base.shape + x.shape)
    for pos in np.ndindex(*x.shape):
        vals = []
        for step in (2, 1, -1, -2):
            moved = x.copy()
            moved[pos] += step * eps
            vals.append(np.asarray(f({**arrays, wrt: moved})))
        out[(Ellipsis,) + pos] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * eps)
    return out


def numeric_derivative(model, of: str, wrt: list[str], arrays: dict,
                       eps: float = EPS) -> np.ndarray:
    """The value's differences for a first derivative; the symbolic (n-1)th
    derivative's (checked by the first-order property) for higher ones."""
    if len(wrt) == 1:
        return finite_difference(lambda a: value_of(model, of, a), arrays, wrt[0], eps)
    lower = indexcalc.derivative(model, wrt[:-1], of=of)
    return finite_difference(lambda a: lower.evaluate_reference(**a), arrays, wrt[-1], eps)


def matches_oracle(got, model, of, wrt, arrays, value, what):
    """``got`` against finite differences.  When they disagree, the differences
    are taken again with a quarter of the step: if the two oracles disagree with
    each other as much, the function is too steep here for finite differences
    (sin(1750), say) and the example is rejected, not passed; otherwise it fails."""
    want = numeric_derivative(model, of, wrt, arrays)
    try:
        close(got, want, value, what)
    except AssertionError:
        finer = numeric_derivative(model, of, wrt, arrays, EPS / 4)
        try:
            close(finer, want, value, "oracle")
        except AssertionError:
            assume(False)
        close(got, finer, value, what)      # the finer oracle is the more accurate one


def scaled(fraction: float):
    """Settings with ``fraction`` of the profile's examples (at least 10)."""
    return settings(max_examples=max(10, int(settings.default.max_examples * fraction)))


def dependencies(model, of: str) -> list[str]:
    """The inputs that ``of`` depends on, through the definitions."""
    defs, seen, stack = model.definitions, set(), [of]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            if n in defs:
                stack.extend(var_names(defs[n].expr))
    return sorted(n for n in seen if n in model.inputs)


def close(got, want, value=None, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert np.all(np.isfinite(want)), f"{what}: the oracle is not finite"
    scale = max(1.0, float(np.max(np.abs(want), initial=0)),
                float(np.max(np.abs(value), initial=0)) if value is not None else 0.0)
    err = np.abs(got - want) - (RTOL * np.abs(want) + ATOL * scale)
    worst = float(np.max(err, initial=-1))
    assert worst <= 0, (f"{what}: off by {float(np.max(np.abs(got - want))):.3g} "
                        f"(scale {scale:.3g})\n got  {got.ravel()[:6]}\n want {want.ravel()[:6]}")


def value_of(model, name, arrays):
    program = model.program()
    inputs = tuple(n for n in model.inputs if n in arrays)     # they fix the dimensions
    return evaluate_program(Program(program.bindings, (name,), program.shapes, inputs),
                            arrays)[name]


def setup(case, data, order=1):
    model = indexcalc.parse(case.text)
    candidates = dependencies(model, case.of)
    assume(candidates)
    wrt = [data.draw(st.sampled_from(candidates), label="wrt") for _ in range(order)]
    seed = data.draw(st.integers(0, 2**16), label="seed")
    arrays = random_arrays(model, seed)
    value = value_of(model, case.of, arrays)
    assume(np.all(np.isfinite(value)) and np.max(np.abs(value), initial=0) < 1e8)
    return model, wrt, arrays, value


# ---------------------------------------------------------------- derivatives


@given(models(), st.data())
def test_first_derivative_matches_finite_differences(case, data):
    model, wrt, arrays, value = setup(case, data)
    d = indexcalc.derivative(model, wrt)
    note(f"derivative: {d}")
    reference = d.evaluate_reference(**arrays)
    matches_oracle(reference, model, case.of, wrt, arrays, value, "reference evaluator")
    kept = {k: np.array(v, copy=True) for k, v in arrays.items()}
    compiled = d.evaluate(**arrays)
    if not np.allclose(compiled, reference, rtol=1e-9,
                       atol=1e-9 * max(1, np.max(np.abs(reference)))):
        # another order of the same operations: on an ill-conditioned example (sin g with
        # g ~ 1e8) the two differ beyond 1e-9, and then the compiled value must pass the
        # finite-difference oracle on its own
        matches_oracle(compiled, model, case.of, wrt, arrays, value, "compiled code")
    # buffers are reused in place (compiler/inplace.py), never the caller's
    assert all(np.array_equal(arrays[k], kept[k]) for k in arrays), "an input was written"
    assert np.array_equal(d.evaluate(**arrays), compiled), "a second call differs"


@scaled(0.25)
@given(models(final_shapes=[()]), st.data())
def test_hessian_matches_finite_differences_of_gradient(case, data):
    model, wrt, arrays, value = setup(case, data, order=2)
    try:
        d = indexcalc.derivative(model, wrt)
    except DerivativeError as e:         # a documented refusal (the spectral norm's Hessian)
        assume("not available" not in str(e))
        raise
    note(f"hessian: {d}")
    reference = d.evaluate_reference(**arrays)
    matches_oracle(reference, model, case.of, wrt, arrays, value, "reference evaluator")
    compiled = d.evaluate(**arrays)
    close(compiled, reference, value, "compiled vs reference")
    if wrt[0] == wrt[1]:                   # ∂²E/∂x∂x is symmetric
        k = np.asarray(arrays[wrt[0]]).ndim
        axes = tuple(range(k, 2 * k)) + tuple(range(k))
        close(np.transpose(compiled, axes), compiled, value, "symmetry")


# ---------------------------------------------------------------- printing


def _rename_vars(e, mapping):
    if isinstance(e, Var) and e.name in mapping:
        return Var(mapping[e.name], e.indices)
    if not e.children:
        return e
    return rebuild(e, tuple(_rename_vars(c, mapping) for c in e.children))


def undimmed(e):
    return canonical(map_indices(e, lambda i: Index(i.name, "?")))


def broadcasts(indices, expr) -> bool:
    """Was: does ``expr`` lack some of ``indices``, or add terms with different free
    indices?  Such expressions (∂g_ij/∂A_pq = −W_ij) now parse back: a term is constant
    along the left-hand indices it leaves out.  So nothing is left out any more."""
    return False


def bound_names(e) -> set[str]:
    """The names of the indices some sum or tensor function in ``e`` binds."""
    from indexcalc.ir.nodes import binders
    out = {i.name for i in binders(e)}
    for c in e.children:
        out |= bound_names(c)
    return out


@scaled(1.0)
@given(models(), st.data())
def test_canonical_keys_do_not_see_the_names_of_bound_indices(case, data):
    # renaming the bound indices (a bijection among them, free names untouched)
    # leaves the canonical form as it was: a key that ties look-alike factors by
    # their order would fail here (Σ_i (2 u_i − Σ_j u_i² u_j²), i and j swapped)
    model = indexcalc.parse(case.text)
    exprs = [d.expr for d in model.definitions.values()]
    candidates = dependencies(model, case.of)
    if candidates:
        wrt = data.draw(st.sampled_from(candidates), label="wrt")
        exprs.append(indexcalc.derivative(model, wrt).expr)
    renamable = [(e, names) for e in exprs
                 if len(names := sorted(bound_names(e) - {i.name for i in e.free})) >= 2]
    assume(renamable)
    for e, names in renamable:
        perm = data.draw(st.permutations(names), label="renaming")
        rename = dict(zip(names, perm))
        renamed = map_indices(e, lambda i: Index(rename.get(i.name, i.name), i.dim))
        assert canonical(renamed) == canonical(e), f"{e}\nrenamed {renamed}"


def round_trip(context: str, name, indices, expr, ascii_: bool):
    printed = definition_text("P", indices, expr, ascii=ascii_)
    mapping = {}
    if ascii_:
        context = context.replace("θ", "theta")
        mapping = {"θ": "theta"}
    parsed = indexcalc.parse(context + "\n" + printed).definitions["P"]
    # dimensions only deltas fix (P_ijpq = δ_ip δ_jq) are inferred afresh: compare without them
    assert undimmed(parsed.expr) == undimmed(_rename_vars(expr, mapping)), \
        f"{name}: printed as\n  {printed}\nparsed back as\n  " \
        f"{definition_text('P', parsed.indices, parsed.expr)}"
    assert tuple(i.name for i in parsed.indices) == tuple(i.name for i in indices)


@scaled(1.0)
@given(models(), st.booleans())
def test_printing_then_parsing_gives_the_same_ir(case, ascii_):
    # a dimension indexcalc names (N) prints as N, which a reader takes for a new name
    assume(not case.undeclared)
    model = indexcalc.parse(case.text)
    for d in model.definitions.values():
        if not broadcasts(d.indices, d.expr):
            round_trip(case.text, d.name, d.indices, d.expr, ascii_)


@scaled(0.5)
@given(models(), st.data(), st.booleans())
def test_printed_derivative_parses_back(case, data, ascii_):
    assume(not case.undeclared)          # as above: N would read back as a name
    model = indexcalc.parse(case.text)
    candidates = dependencies(model, case.of)
    assume(candidates)
    d = indexcalc.derivative(model, data.draw(st.sampled_from(candidates)))
    assume(not d.adjoints and not d.sums)          # one closed formula in model names
    assume(not broadcasts(d.indices, d.expr))
    round_trip(case.text, d.name, d.indices, d.expr, ascii_)


# ---------------------------------------------------------------- matrix form


@scaled(0.5)
@given(models(), st.data())
def test_exact_matrix_form_matches_index_form(case, data):
    model, wrt, arrays, value = setup(case, data)
    d = indexcalc.derivative(model, wrt)
    form = matrix_form(d)
    for layout in ("column", "row"):             # both layouts print without error
        assert d.matrix(layout).lines
    assume(form.exact and form.result != "0")     # dfdA_pq = 0 names no dimension
    note(f"matrix form:\n{form.text}")
    text = declared(indexcalc.parse(case.text)) + case.text if case.undeclared else case.text
    m = indexcalc.parse(text + "\n" + declaration(form.text, d.shape) + form.text)
    name = list(m.definitions)[-1]
    got = value_of(m, name, arrays)
    close(got, d.evaluate_reference(**arrays), value, "matrix form")


@scaled(0.5)
@given(models(), st.data())
def test_definitions_in_matrix_form_match(case, data):
    """Each definition's own matrix form (when exact) evaluates to the definition."""
    model = indexcalc.parse(case.text)
    arrays = random_arrays(model, data.draw(st.integers(0, 2**16)))
    for k, (name, d) in enumerate(model.definitions.items()):
        form = expr_form(d.expr, d.indices, name="Pm", taken=frozenset(model.shapes))
        if not form.exact:
            continue
        want = value_of(model, name, arrays)
        if not (np.all(np.isfinite(want)) and np.max(np.abs(want), initial=0) < 1e8):
            continue                                     # exp(exp(...)) overflowed
        shape = tuple(i.dim for i in d.indices)
        text = declared(model) + case.text if case.undeclared else case.text
        m = indexcalc.parse(text + "\n" + declaration(form.text, shape) + form.text)
        close(value_of(m, "Pm", arrays), want, None, f"{name} as {form.text}")


# ---------------------------------------------------------------- other autodiff


def _run_exported(d, arrays, backend):
    """The derivative exported for ``backend``, run with the model's names as keywords."""
    from indexcalc.compiler.export import parameters
    namespace: dict = {}
    exec(compile(d.python(backend, name="exported"), "<exported>", "exec"), namespace)
    conv = (lambda a: a) if backend == "jax" else (lambda a: __import__("torch").tensor(a))
    return namespace["exported"](**{ident: conv(arrays[n])
                                    for n, ident in parameters(d.program).items()})


@scaled(0.05)
@given(models(), st.data())
def test_jax_autodiff_agrees(case, data):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from indexcalc.compiler.export import python_source
    model, wrt, arrays, value = setup(case, data)
    d = indexcalc.derivative(model, wrt)
    program = model.program()
    forward_program = Program(program.bindings, (case.of,), program.shapes, tuple(model.inputs))
    forward = python_source(forward_program, backend="jax", name="forward")
    namespace: dict = {}
    exec(compile(forward, "<forward>", "exec"), namespace)
    from indexcalc.compiler.export import parameters
    fn = namespace["forward"]
    params = parameters(forward_program)          # the model's names (renamed if unsafe)

    def f(x):
        args = {params[n]: jnp.asarray(arrays[n]) for n in params}
        args[params[wrt[0]]] = x
        return fn(**args)

    want = np.asarray(jax.jacrev(f)(jnp.asarray(arrays[wrt[0]])))
    close(d.evaluate(**arrays), want, value, "jax.jacrev")
    close(np.asarray(_run_exported(d, arrays, "jax")), want, value,
          "exported jax")


@scaled(0.1)
@given(models(), st.data())
def test_torch_export_agrees(case, data):
    torch = pytest.importorskip("torch")
    model, wrt, arrays, value = setup(case, data)
    d = indexcalc.derivative(model, wrt)
    got = _run_exported(d, arrays, "torch")
    close(np.asarray(got.detach().numpy() if hasattr(got, "detach") else got),
          d.evaluate(**arrays), value, "exported torch")
    del torch
