"""The reference evaluator: what an IR expression or a program means, in NumPy.

This module is the oracle the compiler is tested against, so it is written to
be obviously right rather than fast: every node is evaluated to an array whose
axes are its free indices, every product term is one ``np.einsum``, deltas are
materialised as identity matrices, and nothing is cached or reordered.

Dimensions are bound from the arrays passed (``shapes.bind_dims``); a missing array,
a shape that does not match its declaration, or two sizes for one dimension
is an ``EvaluationError`` naming the variable and the shapes involved.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import numpy as np

from indexcalc.compiler.prepare import stable_logs
from indexcalc.compiler.shapes import (
    as_float,
    bind_dims,
    einsum_symbol,
    singular,
    size_of,
    var_shapes,
)
from indexcalc.errors import EvaluationError
from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.ir import (
    Add,
    Apply,
    Const,
    Delta,
    DimSize,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
)
from indexcalc.ir.affine import InRange, linear
from indexcalc.model import Program

Labelled = tuple[np.ndarray, tuple[Index, ...]]   # an array and the index of each axis


# ---------------------------------------------------------------- expressions

def evaluate_expr(expr: Expr, env: dict[str, np.ndarray], indices: tuple[Index, ...],
                  dims: dict[str, int] | None = None) -> np.ndarray:
    """The value of ``expr`` as an array with one axis per index of ``indices``.

    ``indices`` must cover the free indices of ``expr``; an index that is not
    free in ``expr`` broadcasts (the value does not depend on it).
    """
    missing = expr.free - set(indices)
    if missing:
        names = ", ".join(sorted(i.name for i in missing))
        raise EvaluationError(f"free indices {names} are not among the requested axes")
    if dims is None:
        needed = var_shapes([expr])
        dims = bind_dims(needed, {n: env[n] for n in needed if n in env})
    arr, idx = _eval(expr, env, dims)
    return _align(arr, idx, tuple(indices), dims, full=True)


def _align(arr: np.ndarray, idx: tuple[Index, ...], target: tuple[Index, ...],
           dims: dict[str, int], full: bool = False) -> np.ndarray:
    """``arr`` (axes ``idx``) with axes ordered as ``target``; missing axes have
    size 1, or their full size when ``full``."""
    arr = np.asarray(arr)
    order = [idx.index(t) for t in target if t in idx]
    arr = np.transpose(arr, order) if order != list(range(len(order))) else arr
    shape, k = [], 0
    for t in target:
        if t in idx:
            shape.append(arr.shape[k])
            k += 1
        else:
            shape.append(1)
    arr = arr.reshape(shape)
    if full:
        arr = np.broadcast_to(arr, tuple(size_of(t.dim, dims) for t in target)).copy()
    return arr


def _eval(e: Expr, env: dict, dims: dict) -> Labelled:
    if isinstance(e, Const):
        return np.asarray(as_float(e.value)), ()
    if isinstance(e, DimSize):
        return np.asarray(float(size_of(e.dim, dims))), ()
    if isinstance(e, Var):
        if not e.indices_plain:
            return _shifted_read(e, env, dims)
        return _read(e, env)
    if isinstance(e, Delta):
        if type(e.a) is not Index or type(e.b) is not Index:       # δ_{p,i+k}
            order = _order(e)
            a, _ = _positions(e.a, order, dims)
            b, _ = _positions(e.b, order, dims)
            return np.broadcast_to(a == b, _shape(order, dims)).astype(float), order
        return np.eye(size_of(e.a.dim, dims)), (e.a, e.b)
    if isinstance(e, InRange):
        order = _order(e)
        pos, ok = _positions(e.sub, order, dims)
        ok = ok & (pos >= 0) & (pos < size_of(e.sub.dim, dims))
        return np.broadcast_to(ok, _shape(order, dims)).astype(float), order
    if isinstance(e, Func):
        return _func(e, env, dims)
    if isinstance(e, Apply):
        return _apply(e, env, dims)
    if isinstance(e, Pow):
        return _elementwise(np.power, (e.base, e.exponent), env, dims)
    if isinstance(e, Add):
        return _elementwise(_add, e.terms, env, dims)
    if isinstance(e, Mul):
        return _contract(e.factors, tuple(sorted(e.free, key=lambda i: i.key)), env, dims)
    if isinstance(e, Sum):
        out = tuple(sorted(e.free, key=lambda i: i.key))
        factors = e.body.factors if isinstance(e.body, Mul) else (e.body,)
        return _contract(factors, out, env, dims)
    raise TypeError(f"unknown IR node {type(e).__name__}")


def _add(*arrays):
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


def _read(e: Var, env: dict) -> Labelled:
    if e.name not in env:
        raise EvaluationError(f"missing array for {e.name!r}")
    arr = np.asarray(env[e.name], dtype=float)
    if arr.ndim != len(e.indices):
        raise EvaluationError(f"array {e.name!r} has rank {arr.ndim}, "
                              f"but is used with {len(e.indices)} indices")
    return _diagonal(arr, e.indices)


def _order(e: Expr) -> tuple[Index, ...]:
    return tuple(sorted(e.free, key=lambda i: i.key))


def _shape(order, dims) -> tuple[int, ...]:
    return tuple(size_of(i.dim, dims) for i in order)


def _positions(sub, order: tuple[Index, ...], dims: dict):
    """The value of a subscript at every point of the grid over ``order`` (integer
    array), and where it is a whole number."""
    terms, offset = linear(sub)
    den = 1
    for c in list(terms.values()) + [Fraction(offset)]:
        den = den * Fraction(c).denominator // gcd(den, Fraction(c).denominator)
    grids = np.indices(_shape(order, dims), sparse=True) if order else []
    total = np.asarray(int(offset * den))
    for i, c in terms.items():
        total = total + int(c * den) * grids[order.index(i)]
    return total // den, total % den == 0


def _shifted_read(e: Var, env: dict, dims: dict) -> Labelled:
    """``x_{i+k}``: ``x`` at each shifted position of the grid over the read's indices,
    0 outside ``x`` (and at fractional positions)."""
    arr = _read(Var(e.name, tuple(Index(f"#{a}", 1) for a in range(len(e.indices)))), env)[0]
    order = _order(e)
    ok = np.ones((1,) * len(order), dtype=bool)
    where = []
    for axis, sub in enumerate(e.indices):
        pos, whole = _positions(sub, order, dims)
        ok = ok & whole & (pos >= 0) & (pos < arr.shape[axis])
        where.append(np.clip(pos, 0, arr.shape[axis] - 1))
    shape = _shape(order, dims)
    value = arr[tuple(np.broadcast_to(w, shape) for w in where)]
    return np.where(np.broadcast_to(ok, shape), value, 0.0), order


def _diagonal(arr: np.ndarray, indices: tuple[Index, ...]) -> Labelled:
    """``arr`` with axes ``indices``; a repeated index reads the diagonal (A_ii)."""
    unique = tuple(dict.fromkeys(indices))
    if len(unique) == len(indices):
        return arr, indices
    letters = {i: einsum_symbol(k) for k, i in enumerate(unique)}
    spec = "".join(letters[i] for i in indices) + "->" + "".join(letters[i] for i in unique)
    return np.einsum(spec, arr), unique


def _contract(factors, out: tuple[Index, ...], env: dict, dims: dict) -> Labelled:
    """One einsum over the values of ``factors``, keeping the indices ``out``."""
    values = [_eval(f, env, dims) for f in factors]
    letters: dict[Index, str] = {}
    for _, idx in values:
        for i in idx:
            letters.setdefault(i, einsum_symbol(len(letters)))
    spec = ",".join("".join(letters[i] for i in idx) for _, idx in values)
    spec += "->" + "".join(letters[i] for i in out)
    return np.einsum(spec, *(v for v, _ in values)), out


def _elementwise(fn, children, env: dict, dims: dict) -> Labelled:
    values = [_eval(c, env, dims) for c in children]
    idx = tuple(dict.fromkeys(i for _, ix in values for i in ix))
    return fn(*(_align(v, ix, idx, dims) for v, ix in values)), idx


def _opaque(name: str) -> EvaluationError:
    return EvaluationError(f"{name} is an opaque function; indexcalc cannot evaluate it")


def _func(e: Func, env: dict, dims: dict) -> Labelled:
    entry = ELEMENTWISE.get(e.name)
    if entry is None or e.order:
        raise _opaque(e.name + "'" * e.order)
    arr, idx = _eval(e.arg, env, dims)
    return entry.impl(arr), idx


def _apply(e: Apply, env: dict, dims: dict) -> Labelled:
    """A tensor function on the ``over`` axes (moved last); other axes are a batch."""
    entry = TENSOR.get(e.fn)
    if entry is None or e.order:
        raise _opaque(e.fn + "'" * e.order)
    arr, idx = _eval(e.arg, env, dims)
    batch = tuple(i for i in idx if i not in e.over)
    arr = _align(arr, idx, batch + e.over, dims, full=True)
    try:
        value = np.asarray(entry.impl(arr))
    except np.linalg.LinAlgError as exc:
        raise singular(e.fn, exc) from None
    return _diagonal(value, batch + e.out)        # inv(A)_kk


# ---------------------------------------------------------------- programs

def evaluate_program(program: Program, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate the bindings of ``program`` in order; the values of its outputs.

    ``log`` of a softmax is read as ``log_softmax`` (``prepare.stable_logs``):
    the same value, finite for logits of ±1000."""
    program = stable_logs(program)
    inputs = program.inputs
    declared = var_shapes(b.expr for b in program.bindings)
    shapes = {n: program.shapes.get(n, declared.get(n)) for n in inputs}
    dims = bind_dims(shapes, arrays)
    env = {n: np.asarray(arrays[n], dtype=float) for n in inputs}
    for b in program.bindings:
        env[b.name] = evaluate_expr(b.expr, env, b.indices, dims)
    return {name: env[name] for name in program.outputs}
