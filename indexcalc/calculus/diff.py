"""Differentiation of one expression: the multi-index chain rule.

``diff(e, X, J)`` is ``∂e/∂X_J``: an expression whose free indices are those of
``e`` followed by ``J``.  Definitions of a model are not looked into here: a
``Var`` naming another definition is a variable like any other, and the
reverse-mode pass (reverse.py) chains the definitions together.

One rule per node type:

    ∂X_kl/∂X_ij      = δ_ki δ_lj
    ∂(a + b)         = ∂a + ∂b
    ∂(a b)           = ∂a b + a ∂b
    ∂(a^c)           = c a^(c-1) ∂a                     (c constant)
    ∂(a^b)           = a^b (∂b log a + b ∂a / a)
    ∂(Σ_i a)         = Σ_i ∂a                           (i never captures J)
    ∂f(a)            = f'(a) ∂a                         (f' from the function table)
    ∂F(A)_o          = Σ_w J_F[o, w] ∂A_w               (F a tensor function)
"""

from __future__ import annotations

from indexcalc.functions import elementwise_derivative, tensor_jacobian
from indexcalc.ir import (
    MINUS_ONE,
    ZERO,
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
    add,
    delta,
    fresh_indices,
    func,
    index_names,
    mul,
    power,
    rename,
    summation,
    unique_binders,
    var_names,
)


def diff(e: Expr, name: str, wrt: tuple[Index, ...]) -> Expr:
    """``∂e/∂name[wrt]``.  The result is unsimplified apart from the smart constructors."""
    if name not in var_names(e):
        return ZERO
    e = unique_binders(e, avoid={i.name for i in wrt})
    return _Differentiator(name, wrt, index_names(e) | {i.name for i in wrt}).go(e)


class _Differentiator:
    def __init__(self, name: str, wrt: tuple[Index, ...], taken: set[str]):
        self.name = name
        self.wrt = wrt
        self.taken = taken            # index names in use, for fresh ones
        self.depends: dict[Expr, bool] = {}

    def uses(self, e: Expr) -> bool:
        if e not in self.depends:
            if isinstance(e, Var):
                self.depends[e] = e.name == self.name
            else:
                self.depends[e] = any(self.uses(c) for c in e.children)
        return self.depends[e]

    def go(self, e: Expr) -> Expr:
        if not self.uses(e):
            return ZERO
        if isinstance(e, Var):
            if len(e.indices) != len(self.wrt):
                raise AssertionError(f"{e.name} used with {len(e.indices)} indices")
            return mul(*(delta(i, j) for i, j in zip(e.indices, self.wrt)))
        if isinstance(e, Add):
            return add(*(self.go(t) for t in e.terms))
        if isinstance(e, Mul):
            terms = []
            for k, f in enumerate(e.factors):
                if self.uses(f):
                    rest = e.factors[:k] + e.factors[k + 1:]
                    terms.append(mul(self.go(f), *rest))
            return add(*terms)
        if isinstance(e, Pow):
            return self.pow(e)
        if isinstance(e, Sum):
            return summation(e.indices, self.go(e.body))
        if isinstance(e, Func):
            return mul(elementwise_derivative(e), self.go(e.arg))
        if isinstance(e, Apply):
            return self.apply(e)
        assert isinstance(e, (Const, DimSize, Delta)), type(e)
        return ZERO

    def pow(self, e: Pow) -> Expr:
        base, exp = e.base, e.exponent
        if not self.uses(exp):
            # ∂(a^c) = c a^(c-1) ∂a
            return mul(exp, power(base, add(exp, MINUS_ONE)), self.go(base))
        # ∂(a^b) = a^b (∂b log a + b ∂a / a)
        return mul(e, add(mul(self.go(exp), func("log", base)),
                          mul(exp, power(base, MINUS_ONE), self.go(base))))

    def apply(self, e: Apply) -> Expr:
        # ∂F(A)_o = Σ_w J_F[o, w] ∂A_w, with w fresh
        w = fresh_indices(self.taken, e.over)
        inner = rename(e.arg, dict(zip(e.over, w)))
        return summation(w, mul(tensor_jacobian(e, w), self.go(inner)))
