"""The derivation, step by step, as a person would write it.

``explain(d)`` replays the reverse-mode pass and narrates it: which chain-rule
factor comes from which definition, the identity ``∂X_kl/∂X_ij = δ_ki δ_lj``
for each variable met, each delta contraction (which index was renamed to
which), and at the end one line per index saying what it does in the result:
contracted (a matrix product), shared and kept (an elementwise product ⊙,
because the Jacobian of an elementwise function is diagonal), or free (an
outer product).  Where a definition is only used under a logarithm, the
logarithmic derivative is shown as well (S1: ``log o_j = z_j − log Ω``).
"""

from __future__ import annotations

from .diff import diff
from .ir import (Add, Apply, Delta, Expr, Func, Index, Mul, Pow, Sum, Var, add, const, mul,
                 power, walk, summation)
from .model import Binding
from .printing import definition_text, to_text
from .reverse import Step, adjoint_name, reverse
from .simplify import simplify


def explain(d) -> str:
    """The explanation of a Derivative ``d`` (see derivative.py)."""
    from .derivative import model_rules
    model = d.model
    rules = model_rules(model)
    lines = [f"{d.lhs()}: the chain rule over the model's definitions, backwards from "
             f"{d.of} (reverse mode: one adjoint per definition, computed once)."]
    shape = " × ".join(str(i.dim) for i in d.indices) or "a scalar"
    lines.append(f"Layout: indices of {d.of} first, then those of "
                 f"{', '.join(d.wrt)}; as an array, shape {shape}.")
    bindings = tuple(model.program().bindings)
    steps: list[Step] = []
    idx = d.wrt_indices[0]
    reverse(bindings, d.of, d.wrt[0], idx, d.out, rules, steps)
    n = 0
    for step in steps:
        n += 1
        lines.extend(_narrate(n, step, d, rules, bindings))
    if len(d.wrt) > 1:
        lines.append(f"{n + 1}. The same pass applied again to the gradient, with respect to "
                     f"{', '.join(d.wrt[1:])}, gives the higher derivative.")
    lines.append(f"Result: {d}")
    lines.extend(_index_roles(d))
    return "\n".join(lines)


def _narrate(n: int, step: Step, d, rules, bindings) -> list[str]:
    defn = definition_text(step.consumer, step.cidx, step.body)
    var = to_text(Var(step.variable, step.own))
    top = to_text(Var(step.consumer, step.cidx))
    out = [f"{n}. From {defn}:"]
    uses = sorted({to_text(v) for v in walk(step.body)
                   if isinstance(v, Var) and v.name == step.variable})
    for use in uses:
        out.append(f"   ∂{use}/∂{var} = {to_text(_identity(use, step))}"
                   "   (∂X_kl/∂X_ij = δ_ki δ_lj)")
    logline = _log_derivative(step, rules, bindings)
    if logline:
        out.append(logline)
    out.append(f"   ∂{top}/∂{var} = {to_text(step.local)}")
    contractions = _contractions(step.raw)
    for a, b in contractions:
        out.append(f"   the delta δ_{a.name}{b.name} is summed over {a.name}: "
                   f"{a.name} is renamed to {b.name}")
    seed = to_text(step.seed)
    if isinstance(step.seed, Var):
        total = ", ".join(i.name for i in step.cidx) or "nothing"
        out.append(f"   chain: {to_text(Var(adjoint_name(d.of, step.variable), d.out + step.own))}"
                   f" collects Σ over {total} of {seed} · ∂{top}/∂{var}")
    return out


def _identity(use: str, step: Step) -> Expr:
    for v in walk(step.body):
        if isinstance(v, Var) and v.name == step.variable and to_text(v) == use:
            return simplify(diff(v, step.variable, step.own))
    return const(0)


def _contractions(raw: Expr) -> list[tuple[Index, Index]]:
    """Deltas in the unsimplified derivative that a sum will contract."""
    found = []
    for node in walk(raw):
        if isinstance(node, Sum):
            for f in (node.body.factors if isinstance(node.body, Mul) else (node.body,)):
                if isinstance(f, Delta):
                    if f.a in node.indices:
                        found.append((f.a, f.b))
                    elif f.b in node.indices:
                        found.append((f.b, f.a))
    return found


def _log_derivative(step: Step, rules, bindings) -> str | None:
    """If the consumer's definition is only ever used under a logarithm, show its
    logarithmic derivative, taking logs first: log o_j = z_j − log Σ_i exp(z_i)."""
    if not isinstance(step.body, (Mul, Func)) or not _only_under_log(step.consumer, bindings):
        return None
    logged = _log_of(step.body)
    if isinstance(logged, Func) and logged.name == "log":
        return None
    top = to_text(Var(step.consumer, step.cidx))
    dlog = simplify(diff(logged, step.variable, step.own), rules)
    return (f"   {top} is only used under a log, so take logs first: log {top} = "
            f"{to_text(simplify(logged))}, hence ∂ log {top}/∂{to_text(Var(step.variable, step.own))}"
            f" = {to_text(dlog)}")


def _log_of(e: Expr) -> Expr:
    """log e, with products, powers and exponentials taken apart."""
    if isinstance(e, Mul):
        return add(*(_log_of(f) for f in e.factors))
    if isinstance(e, Pow):
        return mul(e.exponent, _log_of(e.base))
    if isinstance(e, Func) and e.name == "exp" and not e.order:
        return e.arg
    return Func("log", e)


def _only_under_log(name: str, bindings) -> bool:
    seen = False
    for b in bindings:
        for node in walk(b.expr):
            if isinstance(node, Func) and node.name == "log" and isinstance(node.arg, Var):
                if node.arg.name == name:
                    seen = True
        uses = sum(1 for v in walk(b.expr) if isinstance(v, Var) and v.name == name)
        logs = sum(1 for f in walk(b.expr) if isinstance(f, Func) and f.name == "log"
                   and isinstance(f.arg, Var) and f.arg.name == name)
        if uses != logs:
            return False
    return seen


def _index_roles(d) -> list[str]:
    """One line per index of the result's products: contracted, kept, or free."""
    expr = d.unnamed_expr
    lines = []
    roles: dict[str, str] = {}
    for node in walk(expr):
        if isinstance(node, Sum):
            for i in node.indices:
                roles.setdefault(i.name, f"{i.name} is contracted (summed): a matrix product")
    for i in d.indices:
        count = _factor_count(expr, i)
        if count >= 2:
            roles[i.name] = (f"{i.name} is shared and kept: an elementwise product ⊙ — the "
                             "Jacobian of an elementwise function is diagonal, and its delta "
                             "turned a matrix product into ⊙")
        elif count == 1:
            roles[i.name] = f"{i.name} is free in one factor: an outer product along it"
        else:
            roles[i.name] = f"{i.name} does not occur: the derivative is constant along it"
    if roles:
        lines.append("Indices:")
        lines.extend(f"  {r}" for r in roles.values())
    return lines


def _factor_count(e: Expr, i: Index) -> int:
    """The largest number of factors of one product term that carry index ``i``."""
    best = 0
    for node in walk(e):
        if isinstance(node, Mul):
            best = max(best, sum(1 for f in node.factors if i in f.free))
        elif i in node.free and not isinstance(node, (Add, Mul)):
            best = max(best, 1)
    return best
