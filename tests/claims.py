"""Claims about a derivative, true and false, written as a user would write them.

The check property (test_check_properties.py) needs claims whose truth is known
without asking ``check``:

* true claims are the derivative's own printed forms: its index form (ASCII or
  Unicode), its matrix form in column and row layout where it is exact, and the
  index form with model names inlined or folded back in at random;
* false claims are the derivative with one of the common mistakes made to it, on
  its expanded index form: a sign (the whole, or one term), a constant factor,
  swapped axes (the layout), a dropped term (product rule), a sum dropped (its
  index written as a free one) or added, a summed index split in two or two
  merged (⊙ and the matrix product mixed up), and a square input transposed in
  one term (true only if it is symmetric: an assumption).  Each is labelled with
  its kind.

Whether a "false" claim really differs from the derivative is decided by the
test with its own numbers, not by this module.
"""

from __future__ import annotations

import random
import re

from indexcalc.calculus.rewrite import definition_rule, rewrite
from indexcalc.calculus.simplify import expand, simplify
from indexcalc.ir import (
    Add,
    Const,
    Expr,
    Index,
    Mul,
    Sum,
    Var,
    add,
    coeff_rest,
    const,
    fresh_index,
    index_names,
    mul,
    neg,
    rename,
    substitute,
    summation,
    var_names,
)
from indexcalc.ir import unique_binders
from indexcalc.read.text import TextPrinter

MAX_TERMS = 12


def inline_adjoints(d) -> Expr:
    e = d.unnamed_expr
    for b in reversed(d.adjoints):
        e = substitute(e, b.name, b.indices, b.expr)
    return e


def inline(e: Expr, model, names) -> Expr:
    defs = model.definitions
    for name in reversed(list(defs)):
        if name in names and name in var_names(e):
            e = substitute(e, name, defs[name].indices, defs[name].expr)
    return e


def fold(e: Expr, model, name: str) -> Expr:
    d = model.definitions[name]
    rule = definition_rule(d.name, d.indices, simplify(d.expr))
    return e if rule is None else rewrite(e, [rule])


def renamed(e: Expr, model, rng: random.Random) -> Expr:
    """``e`` with a random set of model names inlined, then maybe one folded back."""
    defs = list(model.definitions)
    chosen = {n for n in defs if rng.random() < 0.5}
    e = inline(e, model, chosen)
    if defs and rng.random() < 0.5:
        e = fold(e, model, rng.choice(defs))
    return e


def index_claim(d, e: Expr, ascii_: bool) -> str:
    # a summed index must not reuse a name of the left side (∂E/∂A_pq == Σ_p ... is refused),
    # nor may a call's binders the printer shortens (det_{i,j} beside ∂g_ij/∂B_pq)
    e = unique_binders(e, {i.name for i in d.indices})
    return f"{d.lhs(ascii=ascii_)} == {TextPrinter(ascii_, order=d.indices).print(e)}"


def matrix_claims(d) -> list[str]:
    """The exact matrix forms, in both layouts, as one expression each."""
    out = []
    for layout in ("column", "row"):
        form = d.matrix(layout)
        if not form.exact:
            continue
        lines = [ln for ln in form.text.strip().splitlines() if ln.strip()]
        *named, last = lines
        rhs = last.split("=", 1)[1].strip()
        for line in reversed(named):
            name, body = (s.strip() for s in line.split("=", 1))
            # ᵀ is a letter to the regex, but no part of a name: Sᵀ transposes S
            rhs = re.sub(rf"(?<![\w']){re.escape(name)}(?!(?!ᵀ)[\w'_\[{{])", f"({body})", rhs)
        question = f"d{d.of}/" + "".join(f"d{w}" for w in d.wrt) if len(d.wrt) == 1 else None
        if question:
            out.append(f"{question} == {rhs}")
    return out


# ---------------------------------------------------------------- mistakes

def terms(e: Expr) -> list[Expr]:
    return list(e.terms) if isinstance(e, Add) else [e]


def flat(term: Expr) -> tuple[Const, list[Index], list[Expr]]:
    """A product term as coefficient, summed indices and factors."""
    c, rest = coeff_rest(term)
    bound, factors, stack = [], [], [rest]
    while stack:
        n = stack.pop()
        if isinstance(n, Sum):
            bound.extend(n.indices)
            stack.append(n.body)
        elif isinstance(n, Mul):
            stack.extend(reversed(n.factors))
        else:
            factors.append(n)
    return const(c), bound, factors


def build(c, bound, factors) -> Expr:
    return mul(c, summation(bound, mul(*factors)))


def mistakes(d, truth: Expr, rng: random.Random) -> list[tuple[str, Expr]]:
    """(kind, wrong claim) pairs made from the expanded ``truth``."""
    out = []
    try:
        e = expand(truth)
    except Exception:                                   # noqa: BLE001 - too large to expand
        return out
    ts = terms(e)
    if len(ts) > MAX_TERMS:
        return out
    out.append(("sign", neg(e)))
    out.append(("factor", mul(const(rng.choice([2, 3, 0.5])), e)))
    if len(ts) >= 2:
        k = rng.randrange(len(ts))
        out.append(("term", add(*(t for j, t in enumerate(ts) if j != k))))
        out.append(("sign", add(*(neg(t) if j == k else t for j, t in enumerate(ts)))))
        out.append(("factor", add(*(mul(const(3), t) if j == k else t
                                    for j, t in enumerate(ts)))))
    free = list(d.indices)
    same = [(a, b) for x, a in enumerate(free) for b in free[x + 1:] if a.dim == b.dim]
    if same:
        a, b = rng.choice(same)
        out.append(("layout", rename(e, {a: b, b: a})))
    square = {n for n in d.model.inputs if len(d.model.shapes.get(n, ())) == 2
              and len(set(d.model.shapes[n])) == 1 and n not in d.model.symmetric}
    for kind, make in (("sum", _drop_sum), ("sum", _extra_sum), ("product", _split),
                       ("product", _merge), ("assumption", _transposed_input(square))):
        order = list(range(len(ts)))
        rng.shuffle(order)
        for k in order:
            wrong = make(ts[k], free, rng)
            if wrong is not None:
                # a rewired term that is 0 (Σ_k θ_k step(θ_i x_k − x_i θ_k) with the sum
                # dropped into i is θ_i step(0)) leaves the claim the truth less a term
                made = "term" if _vanishes(wrong) else kind
                out.append((made, add(*(wrong if j == k else t for j, t in enumerate(ts)))))
                break
    return out


def _vanishes(term: Expr) -> bool:
    try:
        return simplify(term) == const(0)
    except Exception:                                   # noqa: BLE001 - too large: not known
        return False


def _taken(term: Expr) -> set[str]:
    return set(index_names(term))


def _drop_sum(term, free, rng):
    """Σ_j t_j o_k -> t_k o_k: a summed index written as a free one."""
    c, bound, factors = flat(term)
    options = [(j, k) for j in bound for k in free if j.dim == k.dim]
    if not options:
        return None
    j, k = rng.choice(options)
    return build(c, [b for b in bound if b != j], [rename(f, {j: k}) for f in factors])


def _extra_sum(term, free, rng):
    """a_k b_k -> a_k Σ_j b_j: one factor's free index summed instead."""
    c, bound, factors = flat(term)
    options = [(k, n) for k in free for n, f in enumerate(factors)
               if k in f.free and sum(k in g.free for g in factors) >= 2]
    if not options:
        return None
    k, n = rng.choice(options)
    j = fresh_index(_taken(term), k.dim)
    factors = [rename(f, {k: j}) if m == n else f for m, f in enumerate(factors)]
    return build(c, bound + [j], factors)


def _split(term, free, rng):
    """Σ_j a_j b_j c_j -> Σ_j Σ_j' a_j b_j' c_j: one summed index split in two."""
    c, bound, factors = flat(term)
    options = [j for j in bound if sum(j in f.free for f in factors) >= 2]
    if not options:
        return None
    j = rng.choice(options)
    having = [n for n, f in enumerate(factors) if j in f.free]
    part = set(rng.sample(having, rng.randrange(1, len(having))))
    j2 = fresh_index(_taken(term), j.dim)
    factors = [rename(f, {j: j2}) if n in part else f for n, f in enumerate(factors)]
    return build(c, bound + [j2], factors)


def _transposed_input(square: set[str]):
    """A_ij -> A_ji for one square input in one term: a claim that holds only if A is
    symmetric (the test calls it a layout mistake where symmetry does not save it)."""
    def make(term, free, rng):
        c, bound, factors = flat(term)
        options = [n for n, f in enumerate(factors) if isinstance(f, Var) and f.name in square
                   and f.indices[0] != f.indices[1]]
        if not options:
            return None
        n = rng.choice(options)
        f = factors[n]
        factors = factors[:n] + [Var(f.name, f.indices[::-1])] + factors[n + 1:]
        return build(c, bound, factors)
    return make


def _merge(term, free, rng):
    """Σ_i Σ_j A_ij B_jk -> Σ_j A_jj B_jk: two summed indices made one."""
    c, bound, factors = flat(term)
    options = [(a, b) for x, a in enumerate(bound) for b in bound[x + 1:] if a.dim == b.dim]
    if not options:
        return None
    a, b = rng.choice(options)
    return build(c, [i for i in bound if i != b], [rename(f, {b: a}) for f in factors])
