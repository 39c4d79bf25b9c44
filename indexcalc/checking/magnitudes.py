"""How large the numbers are that a value is computed from: the round-off a side may carry.

Two formulas for one derivative agree exactly, but in floating point each carries
the round-off of the terms it adds up.  Where a derivative is 0 and one formula
writes it as terms of 1e4 that cancel, that formula gives 1e-12, and a tolerance
that follows the size of the *values* calls the two different.  The tolerance
must follow the size of the *terms*.

``magnitude(e)`` is an expression for a first-order bound on the numbers ``e`` is
built from, with the signs taken away, one rule per node type:

    M(x)        = |x|                                   (an input, a constant)
    M(a + b)    = M(a) + M(b)
    M(a b)      = M(a) M(b)
    M(Σ_i a)    = Σ_i M(a)
    M(a^c)      = |a^c| + |c a^(c−1)| M(a)               (and |a^b log a| M(b) for b not constant)
    M(f(a))     = |f(a)| + |f'(a)| M(a)                  (f' from the function table)
    M(F(A))_o   = |F(A)_o| + Σ_w |J_F[o, w]| M(A)_w

A value computed in float64 is then within a small multiple of 2⁻⁵² · M of the
exact one.  A definition's magnitude is one more binding (``⊢|name|``), so a name
in a formula reads the magnitude of what it names.  The pass runs on a program
whose opaque functions are already stand-ins (``standins.concrete``).
"""

from __future__ import annotations

from indexcalc.errors import DerivativeError
from indexcalc.functions import elementwise_derivative, tensor_jacobian
from indexcalc.ir import (
    MINUS_ONE,
    Add,
    Apply,
    Const,
    Delta,
    DimSize,
    Expr,
    Func,
    Mul,
    Pow,
    Sum,
    Var,
    add,
    const,
    fresh_indices,
    func,
    index_names,
    mul,
    power,
    rename,
    summation,
    unique_binders,
)
from indexcalc.ir.affine import InRange
from indexcalc.model import Binding, Program


def magnitude_name(name: str) -> str:
    return f"⊢|{name}|"            # no user name can contain ⊢


def magnitude_program(program: Program) -> Program:
    """``program`` with one more binding per binding, its magnitude, and the
    magnitudes of its outputs as the outputs."""
    defined = {b.name for b in program.bindings}
    extra = tuple(Binding(magnitude_name(b.name), b.indices, magnitude(b.expr, defined))
                  for b in program.bindings)
    return Program(program.bindings + extra, tuple(map(magnitude_name, program.outputs)),
                   program.shapes, program.arguments)


def magnitude(e: Expr, defined: set[str]) -> Expr:
    """M(e) above; a ``Var`` naming one of ``defined`` reads that definition's magnitude."""
    e = unique_binders(e)
    return _Magnitude(defined, index_names(e)).go(e)


class _Magnitude:
    def __init__(self, defined: set[str], taken: set[str]):
        self.defined = defined
        self.taken = taken            # index names in use, for fresh ones

    def go(self, e: Expr) -> Expr:
        if isinstance(e, Var):
            return Var(magnitude_name(e.name), e.indices) if e.name in self.defined else _abs(e)
        if isinstance(e, Const):
            return const(abs(e.value))
        if isinstance(e, (DimSize, Delta, InRange)):
            return e                   # never negative, and exact
        if isinstance(e, Add):
            return add(*(self.go(t) for t in e.terms))
        if isinstance(e, Mul):
            return mul(*(self.go(f) for f in e.factors))
        if isinstance(e, Sum):
            return summation(e.indices, self.go(e.body))
        if isinstance(e, Pow):
            return self.pow(e)
        if isinstance(e, Func):
            try:
                return add(_abs(e), mul(_abs(elementwise_derivative(e)), self.go(e.arg)))
            except DerivativeError:    # no derivative in the table (a step): |f(a)| alone
                return _abs(e)
        if isinstance(e, Apply):
            return self.apply(e)
        return _abs(e)

    def pow(self, e: Pow) -> Expr:
        base, exp = e.base, e.exponent
        parts = [_abs(e), mul(_abs(mul(exp, power(base, add(exp, MINUS_ONE)))), self.go(base))]
        if not isinstance(exp, Const):
            parts.append(mul(_abs(mul(e, func("log", base))), self.go(exp)))
        return add(*parts)

    def apply(self, e: Apply) -> Expr:
        w = fresh_indices(self.taken, e.over)
        inner = rename(e.arg, dict(zip(e.over, w)))
        try:
            jacobian = tensor_jacobian(e, w)
        except DerivativeError:
            return _abs(e)
        return add(_abs(e), summation(w, mul(_abs(jacobian), self.go(inner))))


def _abs(e: Expr) -> Expr:
    return func("abs", e)
