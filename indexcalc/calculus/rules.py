"""What simplification may use about a model: its assumptions and its definitions,
as rewriting rules (a definition is folded back where its right side appears:
``σ(r)(1 − σ(r))`` becomes ``h (1 − h)``).  The derivative and the explanation
read the same rules from here."""

from __future__ import annotations

from indexcalc.calculus.rewrite import Rule, definition_rule
from indexcalc.calculus.simplify import simplify
from indexcalc.model import Model


def model_rules(model: Model) -> tuple[Rule, ...]:
    """Assumptions, then every definition as a folding rule."""
    rules = [Rule(simplify(a.lhs), simplify(a.rhs)) for a in model.assumptions
             if a.rhs.free <= a.lhs.free]
    for d in model.definitions.values():
        rule = definition_rule(d.name, d.indices, simplify(d.expr))
        if rule is not None:
            rules.append(rule)
    return tuple(rules)
