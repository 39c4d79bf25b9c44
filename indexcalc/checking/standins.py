"""Concrete stand-ins for opaque functions, so that claims about them can be evaluated.

A claim about backprop through an unknown activation (``f``) or loss (``L``) is a
claim for every such function; the numbers test it for one that is as generic as
we can make it: ``f⁽ᵏ⁾(u) = sin⁽ᵏ⁾(u + c_f)`` and ``L(A) = Σ sin(A + c_L)``, with a
shift ``c`` that depends on the name (so ``f`` and ``g`` differ).  The
derivatives of the stand-ins are the derivatives of the stand-in, so ``f'`` and
``L'`` stay consistent with ``f`` and ``L``.  ``describe`` says which stand-ins a
counterexample used, so that it can be reproduced by hand.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.ir import (
    Apply,
    Expr,
    Func,
    add,
    const,
    delta,
    mul,
    rebuild,
    rename,
    summation,
    walk,
)
from indexcalc.model import Binding, Program


def concrete(program: Program) -> Program:
    """``program`` with every opaque function replaced by its stand-in."""
    bindings = tuple(Binding(b.name, b.indices, concrete_expr(b.expr)) for b in program.bindings)
    return replace(program, bindings=bindings)


def shift(name: str) -> Fraction:
    return Fraction(sum(map(ord, name)) % 7 + 1, 10)


def opaque_names(program: Program) -> list[tuple[str, bool]]:
    """The opaque functions a program uses: (name, whether it takes a whole tensor)."""
    seen: dict[str, bool] = {}
    for b in program.bindings:
        for node in walk(b.expr):
            if isinstance(node, Func) and node.name not in ELEMENTWISE:
                seen.setdefault(node.name, False)
            elif isinstance(node, Apply) and node.fn not in TENSOR:
                seen.setdefault(node.fn, True)
    return sorted(seen.items())


def describe(program: Program) -> str:
    """``f(u) = sin(u + 0.3), L(a) = Σ sin(a + 0.2)``: the stand-ins used, or ''."""
    parts = []
    for name, whole in opaque_names(program):
        c = float(shift(name))
        parts.append(f"{name}(a) = Σ sin(a + {c:g})" if whole else f"{name}(u) = sin(u + {c:g})")
    return ", ".join(parts)


def _sin_derivative(x: Expr, order: int) -> Expr:
    # sin, cos, −sin, −cos, ...
    base = Func("sin" if order % 2 == 0 else "cos", x)
    return mul(const(-1), base) if order % 4 >= 2 else base


def concrete_expr(e: Expr) -> Expr:
    if e.children:
        e = rebuild(e, tuple(concrete_expr(c) for c in e.children))
    if isinstance(e, Func) and e.name not in ELEMENTWISE:
        return _sin_derivative(add(e.arg, const(shift(e.name))), e.order)
    if isinstance(e, Apply) and e.fn not in TENSOR:
        k = len(e.over)
        groups = [e.out[m * k:(m + 1) * k] for m in range(e.order)]
        if e.order == 0:
            return summation(e.over, _sin_derivative(add(e.arg, const(shift(e.fn))), 0))
        # all derivative index groups sit on one component: deltas tie them together
        first = groups[0]
        ties = [delta(a, b) for g in groups[1:] for a, b in zip(first, g)]
        value = rename(add(e.arg, const(shift(e.fn))), dict(zip(e.over, first)))
        return mul(_sin_derivative(value, e.order), *ties)
    return e
