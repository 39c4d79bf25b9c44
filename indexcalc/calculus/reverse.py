"""Reverse-mode differentiation over the definitions of a model: backprop.

A model is a program of definitions ``B[I] = expr``.  To differentiate the
output ``E[K]`` with respect to ``X[J]`` we walk the definitions backwards and
give each one an *adjoint* ``∂E/∂B[K, I]``, computed once and reused by every
definition below it:

    ∂E/∂B[K, I] = Σ_C Σ_{I_C} ∂E/∂C[K, I_C] ∂C[I_C]/∂B[I]        (C uses B)

where ``∂C/∂B`` is the local derivative of one definition (diff.py), written
back in terms of the model's own names (``σ'(r) -> h (1 − h)``, rewrite.py).
The adjoints are exactly the δ's of backprop, and the size of the result
grows linearly with the depth of the model.  Inlining the adjoints into one
closed formula is a display choice, made by the caller when it stays small.

The seed is ``∂E/∂E[K', K] = δ_K'K`` (1 for a scalar E), so Jacobians and,
applied again to a gradient, Hessians come out of the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexcalc.calculus.diff import diff
from indexcalc.calculus.rewrite import Rule
from indexcalc.calculus.simplify import simplify
from indexcalc.errors import LimitError
from indexcalc.ir import (
    ZERO,
    Const,
    Expr,
    Index,
    Mul,
    Sum,
    Var,
    add,
    delta,
    fresh_index,
    index_names,
    mul,
    rename,
    size,
    substitute,
    summation,
    var_names,
    walk,
)
from indexcalc.limits import MAX_BOUND, MAX_LOCAL_SIZE, WHOLE_FACTOR
from indexcalc.memo import memoised
from indexcalc.model import Binding, needed


class DerivativeName(str):
    """The name of a derivative or an adjoint, ``∂E/∂z`` (``∂2E/∂x∂x`` of a second
    derivative), as programs, generated code and printers spell it, with its parts
    kept: ``of`` and ``wrt`` (one name per differentiation).  Readers that need the
    parts (LaTeX fractions, the δ symbols of the matrix form) take them from here
    instead of parsing the string; everything else sees the string."""

    of: str
    wrt: tuple[str, ...]

    def __new__(cls, of: str, wrt: tuple[str, ...]) -> DerivativeName:
        wrt = tuple(wrt)
        if len(wrt) == 1:
            text = f"∂{of}/∂{wrt[0]}"
        else:
            text = f"∂{len(wrt)}{of}/" + "".join(f"∂{w}" for w in wrt)
        name = super().__new__(cls, text)
        name.of, name.wrt = of, wrt
        return name

    def __reduce__(self):
        return DerivativeName, (self.of, self.wrt)


def adjoint_name(of: str, name: str) -> DerivativeName:
    """``∂of/∂name``: the adjoint of definition ``name``."""
    return DerivativeName(of, (name,))


@dataclass(frozen=True)
class Step:
    """One use of the chain rule: definition ``consumer`` (renamed to indices
    ``cidx``) differentiated with respect to ``variable[own]``."""
    consumer: str
    cidx: tuple[Index, ...]
    body: Expr                  # the consumer's definition, with indices cidx
    variable: str
    own: tuple[Index, ...]
    raw: Expr                   # ∂body/∂variable[own] before simplification
    local: Expr                 # ... simplified, definitions folded back
    seed: Expr                  # ∂of/∂consumer (a delta or the adjoint's name)


def reverse(bindings: tuple[Binding, ...], of: str, target: str, wrt: tuple[Index, ...],
            out: tuple[Index, ...], rules: list[Rule], steps: list[Step] | None = None
            ) -> tuple[list[Binding], Expr]:
    """Adjoint bindings (in evaluation order) and the expression of
    ``∂of[out]/∂target[wrt]`` (free indices ``out + wrt``) that uses them.
    Each chain-rule step is appended to ``steps`` when a list is given."""
    defs = {b.name: b for b in bindings}
    taken = {i.name for i in out + wrt}
    if of == target:
        return [], mul(*(delta(o, w) for o, w in zip(out, wrt)))
    chain = _between(bindings, of, target)
    if not chain:
        return [], ZERO
    adjoints: list[Binding] = []
    consumers: dict[str, list[str]] = {}        # name -> the definitions that use it
    for c in chain:
        for used in var_names(defs[c].expr):
            consumers.setdefault(used, []).append(c)
    for name in [n for n in reversed(chain) if n != of] + [target]:
        users = {i for c in consumers.get(name, ()) for i in index_names(defs[c].expr)}
        own = wrt if name == target else _fresh_like(defs[name].indices, taken | users)
        uses = tuple(c for c in consumers.get(name, ()) if c != target)
        if steps is None:
            value = _adjoint(bindings, of, out, frozenset(taken), name, own, uses, rules)
        else:
            value = _adjoint_value(defs, of, out, taken, name, own, uses, rules, steps)
        if name == target:
            return adjoints, value
        adjoints.append(Binding(adjoint_name(of, name), out + own, value))
    raise AssertionError("unreachable")


@memoised(4096)
def _adjoint(bindings, of, out, taken: frozenset, name, own, uses, rules) -> Expr:
    """``_adjoint_value``, remembered: the adjoint of a definition does not depend on
    which variable the sweep is heading for, so the derivatives of one output with
    respect to many variables (all the weights of a network) share their sweeps."""
    return _adjoint_value({b.name: b for b in bindings}, of, out, set(taken), name, own, uses,
                          rules, None)


def _adjoint_value(defs, of, out, taken, name, own, uses, rules, steps) -> Expr:
    """∂of/∂name[own] from the adjoints of the definitions that use it (``uses``)."""
    terms = []
    for consumer in uses:
        c = defs[consumer]
        cidx = _fresh_like(c.indices, taken | {i.name for i in own})
        body = rename(c.expr, dict(zip(c.indices, cidx)))
        _check_size(_path_weight(body), consumer, name)     # before diff: it can be slow
        raw = diff(body, name, own)
        _check_size(size(raw), consumer, name)
        local = simplify(raw, rules)
        if consumer == of:
            seed = mul(*(delta(o, i) for o, i in zip(out, cidx)))
        else:
            seed = Var(adjoint_name(of, consumer), out + cidx)
        if steps is not None:
            steps.append(Step(consumer, cidx, body, name, own, raw, local, seed))
        terms.append(summation(cidx, mul(seed, local)))
    return simplify(add(*terms), rules)


def _path_weight(e: Expr) -> int:
    """The sum of the depths of the nodes of ``e``: about the size of its
    derivative, which repeats what lies above each node (chain rule)."""
    total, stack = 0, [(e, 1)]
    while stack:
        node, depth = stack.pop()
        total += depth
        stack.extend((c, depth + 1) for c in node.children)
    return total


def _check_size(n: int, consumer: str, name: str) -> None:
    """Refuse a local derivative too large to simplify in reasonable time.

    One definition's derivative can grow quadratically with its nesting
    (``exp(exp(…exp(x)…))`` 100 deep has 5,000 nodes) and simplification is
    worse than linear in size; named steps keep reverse mode linear instead."""
    if n > MAX_LOCAL_SIZE:
        raise LimitError(
            f"the derivative of {consumer} with respect to {name} grows to {n:,} terms and "
            f"factors before simplification (the limit is {MAX_LOCAL_SIZE:,}); name "
            f"intermediate results as definitions of their own (h1 = exp(x); h2 = exp(h1); "
            f"...), which backprop differentiates one small step at a time")


def _fresh_like(indices: tuple[Index, ...], taken: set[str]) -> tuple[Index, ...]:
    out = []
    avoid = set(taken)
    for i in indices:
        new = fresh_index(avoid, i.dim, prefer=i.name)
        avoid.add(new.name)
        out.append(new)
    return tuple(out)


def _between(bindings: tuple[Binding, ...], of: str, target: str) -> list[str]:
    """Names of the definitions on a path from ``target`` to ``of``, in model order
    (``target`` itself is a variable here, whatever its definition says)."""
    names = [b.name for b in bindings]
    uses = {b.name: var_names(b.expr) & set(names) | ({target} & var_names(b.expr))
            for b in bindings}
    depends: dict[str, bool] = {target: True}
    for b in bindings:
        depends[b.name] = b.name == target or any(depends.get(u, False) for u in uses[b.name]
                                                  if u != b.name)
    if not depends.get(of, False):
        return []
    needed, stack = set(), [of]
    while stack:
        n = stack.pop()
        if n in needed or n == target:
            continue
        needed.add(n)
        stack.extend(u for u in uses.get(n, ()) if depends.get(u, False))
    return [n for n in names if n in needed]


                    # (a 400-layer chain would build an expression too deep to simplify)


def inline(adjoints: list[Binding], result: Expr, rules: list[Rule], budget: int
           ) -> tuple[list[Binding], Expr]:
    """Substitute adjoints into the result while it stays readable: at most
    ``budget`` nodes and at most MAX_BOUND indices summed in one product.
    Trivial adjoints (a number or a single factor) are substituted everywhere.
    Returns the adjoints still needed and the new result."""
    adjoints, result = _inline_trivial(list(adjoints), result, rules)
    if size(result) + sum(size(b.expr) for b in adjoints) <= WHOLE_FACTOR * budget:
        whole = result
        for b in reversed(adjoints):                    # everything at once: the usual case
            whole = substitute(whole, b.name, b.indices, b.expr)
        if size(whole) <= WHOLE_FACTOR * budget:        # else too big to shrink back in budget
            whole = simplify(whole, rules)
            if size(whole) <= budget and _widest_sum(whole) <= MAX_BOUND:
                return [], whole
    remaining = list(adjoints)
    while remaining:
        last = remaining[-1]
        if last.name not in var_names(result):
            remaining.pop()
            continue
        candidate = substitute(result, last.name, last.indices, last.expr)
        if size(candidate) > WHOLE_FACTOR * budget:          # too big to shrink back in budget
            break
        candidate = simplify(candidate, rules)
        if size(candidate) > budget or _widest_sum(candidate) > MAX_BOUND:
            break
        result = candidate
        remaining.pop()
    still = list(needed(remaining, var_names(result)))
    return still, result


def _inline_trivial(adjoints: list[Binding], result: Expr, rules: list[Rule]):
    """Substitute the trivial adjoints into every adjoint after them and into the result,
    simplifying what they land in.  A number or one factor goes everywhere; a number
    times one factor (``∂E/∂Lg = −Y``) only where the result gets no bigger, which is
    where the model knows something of that factor (``Σ_k (−Y_lk)`` meets
    ``assume Σ_c Y_bc = 1``); elsewhere the name stays, to be shared."""
    current, tried = list(adjoints), set()
    for k in range(len(current)):
        b = current[k]          # as it is now: the trivial adjoints before it substituted
        n = size(b.expr)
        everywhere = n <= 2
        if not everywhere and not (n == 3 and _scaled_factor(b.expr)):
            continue
        tried.add(b.name)

        def put(e: Expr, b=b, everywhere=everywhere) -> Expr:
            if b.name not in var_names(e):
                return e
            new = simplify(substitute(e, b.name, b.indices, b.expr), rules)
            return new if everywhere or size(new) <= size(e) else e

        current = [Binding(a.name, a.indices, put(a.expr)) for a in current]
        result = put(result)
    used = set(var_names(result)).union(*(var_names(a.expr) for a in current))
    return [a for a in current if a.name not in tried or a.name in used], result


def _scaled_factor(e: Expr) -> bool:
    return isinstance(e, Mul) and len(e.factors) == 2 and isinstance(e.factors[0], Const)


def _widest_sum(e: Expr) -> int:
    return max((len(n.indices) for n in walk(e) if isinstance(n, Sum)), default=0)
