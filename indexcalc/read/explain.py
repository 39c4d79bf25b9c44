"""The derivation, step by step, as a person would write it.

``explain(d)`` replays the reverse-mode pass and narrates it: which chain-rule
factor comes from which definition, with the shape of each factor in the user's
dimension names (``∂J/∂h : (H,)``, ``∂h/∂r : (H, H), diagonal``, so that a
layout or transpose confusion shows where it starts), the identity ``∂X_kl/∂X_ij = δ_ki δ_lj``
for each variable met, each delta contraction (which index was renamed to
which), and at the end one line per index saying what it does in the result:
contracted (a matrix product), shared and kept (an elementwise product ⊙,
because the Jacobian of an elementwise function is diagonal), or free (an
outer product).  Where a definition is only used under a logarithm, the
logarithmic derivative is shown as well (S1: ``log o_j = z_j − log Ω``).
"""

from __future__ import annotations

from indexcalc.calculus.deltas import contracted
from indexcalc.calculus.diff import diff
from indexcalc.calculus.reverse import Step, adjoint_name, reverse
from indexcalc.calculus.rules import model_rules
from indexcalc.calculus.simplify import simplify
from indexcalc.ir import (
    Add,
    Apply,
    Delta,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
    add,
    const,
    mul,
    summation,
    walk,
)
from indexcalc.read.operations import convolution_name
from indexcalc.read.text import definition_text, to_text


def explain(d) -> str:
    """The explanation of a Derivative ``d`` (see derivatives.py)."""

    model = d.model
    rules = model_rules(model)
    lines = [f"{d.lhs()}: the chain rule over the model's definitions, backwards from "
             f"{d.of} (reverse mode: one adjoint per definition, computed once)."]
    shape = " × ".join(str(i.dim) for i in d.indices) or "a scalar"
    lines.append(f"Layout: indices of {d.of} first, then those of "
                 f"{', '.join(d.wrt)}; as an array, shape {shape}.")
    bindings = tuple(model.program().bindings)
    steps: list[Step] = []
    reverse(bindings, d.of, d.wrt[0], d.wrt_indices[0], d.out, rules, steps)
    for n, step in enumerate(steps, 1):
        lines.extend(_narrate(n, step, d, rules, bindings))
    if len(d.wrt) > 1:
        lines.append(f"{len(steps) + 1}. The same pass applied again to the gradient, with respect to "
                     f"{', '.join(d.wrt[1:])}, gives the higher derivative.")
    lines.append(f"Result: {d}")
    name = convolution_name(d.expr)
    if name:
        lines.append(f"Reading: {d.lhs()} is {_roles(name, d)}.")
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
    out.append("   shapes: " + "   ".join(_shapes(step, d)))
    contractions = _contractions(step.raw)
    for a, b in contractions:
        out.append(f"   the delta δ_{a.name}{b.name} is summed over {a.name}: "
                   f"{a.name} is renamed to {b.name}")
    if _diagonal(step):
        out.append(f"   {step.consumer} is elementwise in {step.variable}: its Jacobian is "
                   "diagonal (the delta), so multiplying by it is an elementwise product ⊙")
    adjoint = to_text(Var(adjoint_name(d.of, step.variable), d.out + step.own))
    total = ", ".join(i.name for i in step.cidx)
    value = simplify(summation(step.cidx, mul(step.seed, step.local)), rules)
    if isinstance(step.seed, Var):
        out.append(f"   chain: {adjoint} gets Σ_{{{total}}} {to_text(step.seed)} "
                   f"∂{top}/∂{var} = {to_text(value)}")
    return out


def _shapes(step: Step, d) -> list[str]:
    """The step's chain-rule factors with their shapes: ∂J/∂h : (H,) times
    ∂h/∂r : (H, H), diagonal gives ∂J/∂r : (H,)."""
    local = (f"∂{step.consumer}/∂{step.variable} : {_shape(step.cidx + step.own)}"
             + (", diagonal" if _diagonal(step) else ""))
    if step.consumer == d.of:
        return [local]
    return [f"∂{d.of}/∂{step.consumer} : {_shape(d.out + step.cidx)}", local,
            f"∂{d.of}/∂{step.variable} : {_shape(d.out + step.own)}"]


def _shape(indices) -> str:
    """A chain-rule factor's shape in the user's dimension names: (H,), (H, H), ()."""
    dims = [str(i.dim) for i in indices]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _diagonal(step: Step) -> bool:
    """Is the local derivative diagonal: a delta tying the definition's index to the
    variable's, next to a function (the Jacobian of an elementwise function)?"""
    parts = step.local.factors if isinstance(step.local, Mul) else (step.local,)
    ties = any(isinstance(p, Delta) and {p.a, p.b} & set(step.cidx) and {p.a, p.b} & set(step.own)
               for p in parts)
    return ties and any(isinstance(n, (Func, Apply)) for n in walk(step.body))


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
                if isinstance(f, Delta) and (pair := contracted(f, node.indices)):
                    found.append(pair)
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
    var = to_text(Var(step.variable, step.own))
    dlog = simplify(diff(logged, step.variable, step.own), rules)
    return (f"   {top} is only used under a log, so take logs first: log {top} = "
            f"{to_text(simplify(logged))}, hence ∂ log {top}/∂{var} = {to_text(dlog)}")


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


def _roles(name: str, d) -> str:
    """Name the operands by their parts in the model: the output gradient, the kernel,
    the input (``the full convolution of the output gradient c with the flipped kernel w``)."""
    if "convolution of " in name:
        return name.replace("convolution of ", "convolution of the output gradient ", 1)
    if "correlation of " in name:
        return name.replace("correlation of ", "correlation of the input ", 1).replace(
            " with ", " with the output gradient ", 1)
    return name


def _index_roles(d) -> list[str]:
    """One line per index of the result: contracted (a matrix product), shared and
    kept (⊙), or free (an outer product, or simply the result's axis)."""
    expr = d.unnamed_expr
    roles: dict[str, str] = {}
    for node in walk(expr):
        if isinstance(node, Sum):
            for i in node.indices:
                roles.setdefault(i.name, _bound_role(node, i))
    free_in_factors = [i for i in d.indices if _carriers(expr, i)]
    for i in d.indices:
        carriers = _carriers(expr, i)
        if len(carriers) >= 2:
            roles[i.name] = (f"{i.name} is shared by {', '.join(carriers)} and kept: an "
                             "elementwise product ⊙ (the Jacobian of an elementwise function "
                             "is diagonal; its delta made the product elementwise)")
        elif carriers and len(free_in_factors) > 1:
            roles[i.name] = (f"{i.name} is free, carried by {carriers[0]} alone: "
                             "an outer product along it")
        elif carriers:
            roles[i.name] = f"{i.name} is the result's free index, carried by {carriers[0]}"
        else:
            roles[i.name] = f"{i.name} does not occur: the derivative is constant along it"
    return ["Indices:"] + [f"  {r}" for r in roles.values()] if roles else []


def _bound_role(node: Sum, i: Index) -> str:
    parts = node.body.factors if isinstance(node.body, Mul) else (node.body,)
    carriers = [p for p in parts if i in p.free]
    tensors = [p for p in carriers if isinstance(p, Var) and len(p.indices) >= 2]
    riders = [p for p in carriers if p not in tensors]
    if not tensors:
        return f"{i.name} is summed: Σ_{i.name} {to_text(mul(*riders))}"
    text = f"{i.name} is contracted (summed)"
    if len(tensors) >= 2:
        text += f" between {to_text(tensors[0])} and {to_text(tensors[1])}: a matrix product"
    else:
        text += f" against {to_text(tensors[0])}: a matrix–vector product"
    if riders:
        text += f"; {to_text(mul(*riders))} multiplies along it elementwise (⊙) before the sum"
    return text


def _carriers(e: Expr, i: Index) -> list[str]:
    """The factors carrying free index ``i`` in the term of the result where most do."""
    terms = e.terms if isinstance(e, Add) else (e,)
    best: list[str] = []
    for t in terms:
        while isinstance(t, Sum):
            t = t.body
        parts = t.factors if isinstance(t, Mul) else (t,)
        found = [to_text(p) for p in parts if i in p.free]
        if len(found) > len(best):
            best = found
    return best
