"""Claims that hold only under an assumption the model does not make.

Two kinds of assumption are recognised, because they are the ones hand
derivations make without saying so:

* a named sum takes a constant value: S1's ``o_k − t_k`` holds when
  ``Σ_j t_j = 1`` (one-hot labels).  Read from the difference: it vanishes when
  the sum's symbol is set to 1;
* a square input is symmetric: ``∂(xᵀ A x)/∂x = 2 A x`` holds when ``A = Aᵀ``.
  Read from the numbers: the sides agree at points where that input is drawn
  symmetric.
"""

from __future__ import annotations

from dataclasses import replace

from indexcalc.calculus.diff import diff as differentiate_expr
from indexcalc.calculus.simplify import expand, name_sums, simplify
from indexcalc.checking.evaluation import SEEDS, evaluate_sides
from indexcalc.derivative import Derivative
from indexcalc.errors import IndexcalcError
from indexcalc.ir import ZERO, Expr, add, const, mul, substitute, var_names
from indexcalc.model import Model
from indexcalc.read.text import to_text


def vanishing_sum(difference: Expr | None, model: Model) -> str | None:
    """``Σ_j t_j = 1`` if the difference vanishes when that sum is 1 (labels or
    probabilities that sum to one; a sum that would have to be 0 is a missing term)."""
    if difference is None:
        return None
    try:
        shown, sums = name_sums(difference, set(model.shapes))
        for symbol, body in sums:
            slope = simplify(differentiate_expr(shown, symbol, ()))
            if slope == ZERO or symbol in var_names(slope):
                continue
            at_zero = simplify(substitute(shown, symbol, (), const(0)))
            for guess in (1,):
                if expand(add(at_zero, mul(const(guess), slope))) == ZERO:
                    return f"{to_text(body)} = {guess}"
    except IndexcalcError:
        return None
    return None


def symmetric_input(d: Derivative, left: Expr | None, right: Expr, steps
                    ) -> tuple[str, int] | None:
    """The square input whose symmetry makes the sides agree, if there is one, and at
    how many points drawn with it symmetric they agree."""
    model = d.model
    for name in model.inputs:
        shape = model.shapes.get(name, ())
        if len(shape) != 2 or shape[0] != shape[1] or name in model.symmetric:
            continue
        sym = replace(model, symmetric=model.symmetric | {name})
        sides = [right] if left is None else [left, right]
        a, b = (0, 1) if left is None else (1, 2)
        try:                    # at the usual points, then scaled down and up (a step)
            points = 0
            first = evaluate_sides(d, sides, steps, draw_from=sym)
            for seeds, scale in ((SEEDS, 1.0),) + first.wider():
                values = first if seeds is SEEDS else evaluate_sides(
                    d, sides, steps, draw_from=sym, seeds=seeds, scale=scale)
                if not values.agree(a, b) and (scale <= 1 or values.agree_where_stable(
                        a, b, evaluate_sides(d, sides, steps, draw_from=sym, seeds=seeds,
                                             scale=scale, jitter=1e-9)) is False):
                    break
                points += values.count(a, b)[0]
            else:
                return name, points
        except IndexcalcError:
            continue
    return None
