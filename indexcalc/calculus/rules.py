"""What simplification may use about a model: its assumptions, the sums its own
definitions fix, and its definitions, as rewriting rules (a definition is folded
back where its right side appears: ``σ(r)(1 − σ(r))`` becomes ``h (1 − h)``).
The derivative and the explanation read the same rules from here."""

from __future__ import annotations

from indexcalc.calculus.rewrite import Rule, definition_rule, rewrite
from indexcalc.calculus.simplify import simplify
from indexcalc.errors import LimitError
from indexcalc.ir import (
    Const,
    DimSize,
    Func,
    Mul,
    Sum,
    Var,
    base_exp,
    const,
    mul,
    power,
    size,
    substitute,
    unique_binders,
    var_names,
)
from indexcalc.model import Model

SUM_FACT_SIZE = 200        # nodes: a definition's sum larger than this is not tried


def model_rules(model: Model) -> tuple[Rule, ...]:
    """Assumptions, the sums the definitions fix, then every definition as a folding rule."""
    rules = [Rule(simplify(a.lhs), simplify(a.rhs)) for a in model.assumptions
             if a.rhs.free <= a.lhs.free]
    rules += sum_facts(model, rules)
    rules += root_rules(model)
    for d in model.definitions.values():
        body = simplify(d.expr)
        rule = definition_rule(d.name, d.indices, body)
        if rule is not None:
            rules.append(rule)
            rules += scaled_sum_rule(d.name, d.indices, body)
    return tuple(rules)


def scaled_sum_rule(name: str, indices, body) -> list[Rule]:
    """For a definition that is a sum times numbers and sizes (``mu_j = Σ_i X_ij / b``),
    the sum alone folds too: ``Σ_i X_ij -> b mu_j``, so ``Σ_i X_iq − b mu_q`` is 0."""
    if not isinstance(body, Mul):
        return []
    scale = [f for f in body.factors if _is_size(base_exp(f)[0])]
    rest = [f for f in body.factors if not _is_size(base_exp(f)[0])]
    if len(rest) != 1 or not isinstance(rest[0], Sum) or not scale:
        return []
    return [Rule(rest[0], mul(Var(name, indices), power(mul(*scale), const(-1))))]


def _is_size(e) -> bool:
    return isinstance(e, (Const, DimSize))


def root_rules(model: Model) -> list[Rule]:
    """For a definition ``r = sqrt(s)``, the shorter of ``r²`` and ``s``: ``r^2 -> s`` and
    ``r^-2 -> 1/s`` when ``s`` is a name or as short (``sqrt(v + ε)^2`` is ``v + ε``),
    else ``s -> r^2`` (``Σ_j z_j² / m + ε`` is ``q²`` for ``q = sqrt(sum(z ⊙ z)/m + ε)``)."""
    out = []
    for d in model.definitions.values():
        if isinstance(d.expr, Func) and d.expr.name == "sqrt" and not d.expr.order:
            r, s = Var(d.name, d.indices), simplify(d.expr.arg)
            if size(s) <= size(power(r, const(2))) or definition_rule(d.name, d.indices, s) \
                    is None:
                out.append(Rule(power(r, const(2)), s))
                out.append(Rule(power(r, const(-2)), power(s, const(-1))))
            else:                                    # sqrt(r²) = r: r is a root, r ≥ 0
                out.append(Rule(s, power(r, const(2))))
                out.append(Rule(Func("sqrt", power(r, const(2))), r))
    return out


def sum_facts(model: Model, known: list[Rule]) -> list[Rule]:
    """``Σ_j h_j = c`` for each definition whose sum along one of its indices is a
    constant by the model's own definitions (and assumptions), for every value of the
    others:

        xc_j = x_j − mu, mu = Σ_k x_k / n     ->  Σ_j xc_j = 0
        xh_j = xc_j / sqrt(v + ε)             ->  Σ_j xh_j = 0   (from the fact above)
        p_j = softmax(z)_j, P = softmax(Z)    ->  Σ_j p_j = 1, Σ_k P_ik = 1

    The sum is simplified with the definitions of fewer indices it reads written out
    (``mu``, or the column means ``mu_j = Σ_i X_ij / b`` of a batch norm) and the facts
    found so far, in the order of the definitions."""
    facts: list[Rule] = []
    for d in model.definitions.values():
        if not 1 <= len(d.indices) <= 2 or size(d.expr) > SUM_FACT_SIZE:
            continue
        smaller = {e.name: e for e in model.definitions.values()
                   if len(e.indices) < len(d.indices)}
        for i in d.indices:
            value = _closed(Sum((i,), d.expr), smaller, tuple(known) + tuple(facts))
            if value is not None:
                facts.append(Rule(Sum((i,), Var(d.name, d.indices)), value))
    return facts


def _closed(total, smaller: dict, rules: tuple) -> Const | None:
    """The constant ``total`` simplifies to, or None."""
    e = unique_binders(total)
    for _ in range(3):                         # smaller definitions read by smaller ones
        names = var_names(e) & set(smaller)
        if not names:
            break
        for n in names:
            e = unique_binders(substitute(e, n, smaller[n].indices, smaller[n].expr))
    if size(e) > 4 * SUM_FACT_SIZE:
        return None
    try:
        value = simplify(rewrite(simplify(e), list(rules)) if rules else e, rules)
    except LimitError:
        return None
    return value if isinstance(value, Const) else None
