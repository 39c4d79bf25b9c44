"""Shapes and sizes for the compile layer: the size of each dimension, read from the
arrays passed; the declared shape of each tensor a program reads; constants as
float64; the error for a singular matrix.

The compiler, the exporters and the reference evaluator all use these, so they
live beneath all three (the compiler does not import the reference evaluator).
A missing array, a shape that does not match its declaration, or two sizes for
one dimension is an ``EvaluationError`` naming the variable and the shapes.
"""

from __future__ import annotations

import numpy as np

from indexcalc.errors import EvaluationError
from indexcalc.ir import Dim, Var, walk
from indexcalc.ir.affine import DimExpr


def _show(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def bind_dims(shapes: dict[str, tuple[Dim, ...]], arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """The size of every symbolic dimension, read from the arrays passed.

    ``shapes`` names the arrays expected (and their declared shapes); each must
    be in ``arrays`` with that rank, its integer dimensions equal and its
    symbolic dimensions consistent across all arrays.
    """
    dims: dict[str, int] = {}
    source: dict[str, str] = {}
    for name, shape in shapes.items():
        if name not in arrays:
            raise EvaluationError(f"missing array for {name!r}: expected shape {_show(shape)}")
        actual = np.shape(arrays[name])
        if len(actual) != len(shape) or any(
                isinstance(d, int) and d != a for d, a in zip(shape, actual)):
            raise EvaluationError(_mismatch(name, shape, actual, dims))
        for d, a in zip(shape, actual):
            if isinstance(d, (int, DimExpr)):        # a derived size is checked below
                continue
            if d in dims and dims[d] != a:
                raise EvaluationError(
                    f"dimension {d} is {dims[d]} from {source[d]!r} but {a} from {name!r}: "
                    f"{name!r} has shape {_show(actual)}, expected {_show(shape)}")
            dims.setdefault(d, int(a))
            source.setdefault(d, name)
    _check_derived(shapes, arrays, dims)
    return dims


def _check_derived(shapes, arrays, dims: dict[str, int]) -> None:
    """An axis whose size is a valid range (``n − K + 1``) must have that size; it
    also gives a size no other array gives (``n`` from ``K`` and ``n − K + 1``)."""
    derived = [(d, a) for name, shape in shapes.items()
               for d, a in zip(shape, np.shape(arrays[name])) if isinstance(d, DimExpr)]
    for _ in range(len(derived)):
        for d, a in derived:
            unknown = [(s, c) for s, c in d.terms if s not in dims]
            if len(unknown) == 1 and d.div == 1 and abs(unknown[0][1]) == 1:
                (sym, c), = unknown
                rest = sum(k * dims[t] for t, k in d.terms if t != sym) + d.offset + 1
                dims[sym] = (a - rest) * c
    for d, _ in derived:                    # a declared name of a valid range (m = n − K + 1)
        if d.name is not None and d.name not in dims and all(s in dims for s in d.symbols):
            dims[d.name] = d.value(dims)
    for name, shape in shapes.items():
        for axis, (d, a) in enumerate(zip(shape, np.shape(arrays[name]))):
            if isinstance(d, DimExpr) and all(s in dims for s in d.symbols) \
                    and d.value(dims) != a:
                raise EvaluationError(
                    f"axis {axis + 1} of {name!r} has {a} entries, but it ranges over {d} = "
                    f"{d.value(dims)} (the valid range of a shifted read): {name!r} has shape "
                    f"{_show(np.shape(arrays[name]))}")


def _mismatch(name: str, shape: tuple, actual: tuple, dims: dict[str, int]) -> str:
    known = tuple(dims.get(d, d) if isinstance(d, str) else d for d in shape)
    numeric = f" = {_show(known)}" if known != shape else ""
    return (f"array {name!r} has shape {_show(actual)}, expected {_show(shape)}{numeric}"
            + (f" (rank {len(shape)}, got rank {len(actual)})" if len(actual) != len(shape)
               else ""))


def size_of(dim: Dim, dims: dict[str, int]) -> int:
    if isinstance(dim, int):
        return dim
    if isinstance(dim, DimExpr):                       # a valid range: n − K + 1
        missing = [d for d in dim.symbols if d not in dims]
        if missing:
            raise EvaluationError(f"the size of dimension {missing[0]} is not known from the "
                                  "arrays passed")
        return dim.size(dims)
    if dim not in dims:
        raise EvaluationError(f"the size of dimension {dim} is not known from the arrays passed")
    return dims[dim]


def var_shapes(exprs) -> dict[str, tuple[Dim, ...]]:
    """Shapes of the tensors read in ``exprs``, from the dimensions of their indices."""
    shapes: dict[str, tuple[Dim, ...]] = {}
    for e in exprs:
        for node in walk(e):
            if isinstance(node, Var):
                shapes.setdefault(node.name, tuple(i.dim for i in node.indices))
    return shapes



def as_float(value) -> float:
    """An exact constant as a float64, or a clear error if it is beyond its range."""
    try:
        return float(value)
    except OverflowError:
        raise EvaluationError(f"the constant {str(value)[:40]}... in the formula is beyond "
                              f"the range of float64 (about 1.8e308)") from None


def singular(fn: str, exc: Exception) -> EvaluationError:
    return EvaluationError(f"{fn} of a singular matrix: the arrays passed make it "
                           f"not invertible ({exc})")


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum_symbol(k: int) -> str:
    """The k-th einsum subscript: a-z, A-Z, then the Unicode letters beyond (the same
    sequence as opt_einsum's, written here so that importing indexcalc does not
    import opt_einsum: only planning a contraction needs it)."""
    if k < len(_LETTERS):
        return _LETTERS[k]
    return chr(k + 2048) if k >= 55296 else chr(k + 140)        # skipping the surrogates
