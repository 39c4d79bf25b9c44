"""Simplification: what a careful person does to a derivative before writing it down.

``simplify`` rewrites bottom-up, to a fixpoint:

    Σ_i (a + b)         -> Σ_i a + Σ_i b                  (sums distribute)
    Σ_i δ_ij a_i        -> a_j                            (i bound: the delta goes)
    Σ_i δ_ii            -> n                              (via δ_ii = 1, Σ_i 1 = n)
    Σ_i (δ_ij + c) a_i  -> Σ_i δ_ij a_i + Σ_i c a_i       (expand only to reach a delta)
    Σ_i c a_i           -> c Σ_i a_i                      (c free of i)
    Σ_i a_i Σ_j b_ij    -> Σ_{i,j} a_i b_ij               (nested sums merge ...)
    Σ_{i,j} a_i b_j     -> (Σ_i a_i)(Σ_j b_j)             (... and independent ones split)
    2 Σ_i a_i + Σ_j a_j -> 3 Σ_i a_i                      (like terms, up to bound renaming)
    log(exp(x)) -> x,  exp(log(x)) -> x,  log(softmax(z)_j) -> log_softmax(z)_j
    Σ_j softmax(z)_j -> 1,  Σ_j inv(M)_ij M_jk -> δ_ik  (facts of the function table)

A delta between two free indices is never removed: it means a diagonal.
Constants fold and zeros vanish in the smart constructors of ir.py.

Termination: every rewrite either removes a delta or a bound index (contraction),
moves a factor or a binder strictly outward (pulling out, merging), replaces a
sum over an Add by sums over its strictly smaller terms (distribution, applied
only to a sum whose Add factor holds a contractible delta, so the delta goes at
the next step), or lowers the number of terms (collection).  No rule moves
anything inward, so the lexicographic measure (deltas, bound-index depth,
terms) decreases and the fixpoint is reached; an iteration cap guards it anyway.

This module is over the project's few hundred lines because it is one algorithm:
the rewrites above share one bottom-up traversal and one termination argument,
and splitting them would spread that argument over several files.

``expand`` multiplies everything out (used to compare two formulas), and
``factor`` takes common factors out of sums (used for display).
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.calculus.affine import (
    contract_affine,
    drop_implied,
    is_affine_delta,
    reindex,
    simplify_mul,
)
from indexcalc.calculus.deltas import contract_deltas, contracted
from indexcalc.calculus.factoring import best_group, divide, shared, split
from indexcalc.calculus.rewrite import Rule, push_inward, rewrite
from indexcalc.errors import LimitError
from indexcalc.functions import TENSOR, exact_value, fused
from indexcalc.ir import (
    ONE,
    ZERO,
    Add,
    Apply,
    Const,
    Delta,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
    add,
    canonical,
    coeff_rest,
    const,
    delta,
    dim_key,
    fresh_index,
    index_names,
    mul,
    possible_twins,
    power,
    rebuild,
    rename,
    rename_bound,
    size,
    var_names,
    summation,
    unique_binders,
    walk,
)
from indexcalc.limits import MAX_EXPANDED, MAX_TERMS
from indexcalc.memo import memoised


def simplify(e: Expr, rules: list[Rule] | tuple = (), limit: int = 60) -> Expr:
    """The simplified form of ``e``; ``rules`` (assumptions, folded definitions)
    are applied between rounds."""
    e = unique_binders(e)
    for _ in range(limit):
        new = _pass(e)
        if rules:
            new = rewrite(new, rules)
            new = unique_binders(new)
        if new == e:
            break
        e = new
    return e


@memoised(8192)
def _pass(e: Expr) -> Expr:
    """One bottom-up round (memoised: later rounds meet mostly finished subtrees)."""
    if e.children:
        e = rebuild(e, tuple(_pass(c) for c in e.children))
    if isinstance(e, Sum):
        return _sum(e)
    if isinstance(e, Func):
        return _func(e)
    if isinstance(e, Add):
        return collect(e)
    if isinstance(e, Mul):
        return simplify_mul(e)
    return e


def roots(e: Expr) -> Expr:
    """sqrt(x)^(2k) -> x^k (sqrt is only taken of x ≥ 0).  For display, after the
    model's names are folded back: ``xc sqrt(v)^-2`` is first ``xh sqrt(v)^-1``."""
    if e.children:
        e = rebuild(e, tuple(roots(c) for c in e.children))
    x = e.exponent if isinstance(e, Pow) else None
    if isinstance(x, Const) and isinstance(e.base, Func) and e.base.name == "sqrt" \
            and not e.base.order and isinstance(x.value, Fraction) \
            and (x.value / 2).denominator == 1:
        return power(e.base.arg, const(x.value / 2))
    return e


# ---------------------------------------------------------------- sums

def _sum(e: Sum) -> Expr:
    bound = list(e.indices)
    if isinstance(e.body, Add):                                  # Σ (a + b) -> Σ a + Σ b
        return add(*(summation(bound, t) for t in e.body.terms))
    factors = list(e.body.factors) if isinstance(e.body, Mul) else [e.body]
    factors, bound = _merge_nested(factors, bound)
    bound, factors = contract_deltas(bound, factors)
    while (shifted := contract_affine(factors, bound)) is not None:   # δ_{p,i+k}: i = p − k
        bound, factors = contract_deltas(shifted[1], shifted[0])
    factors = drop_implied(factors)
    if any(isinstance(f, Var) and not f.indices_plain for f in factors):
        taken = {i.name for i in e.free}.union(*(index_names(f) for f in factors))
        while (moved := reindex(factors, bound, taken)) is not None:  # Σ_i c_i w_{p−i}
            factors, bound = moved
            taken |= {i.name for i in bound}
    for k, f in enumerate(factors):                              # expand to reach a delta
        if isinstance(f, Add) and any(_bound_delta(t, bound) for t in f.terms):
            rest = factors[:k] + factors[k + 1:]
            return add(*(summation(bound, mul(*rest, t)) for t in f.terms))
    inside = [f for f in factors if f.free & set(bound)]
    outside = [f for f in factors if not f.free & set(bound)]
    groups = _components(inside, bound)
    return mul(*outside, *(_known_sum(ix, fs) for ix, fs in groups),
               *_unused_dims(inside, bound))


def _known_sum(ix: list[Index], fs: list[Expr]) -> Expr:
    """A closed sum the function table knows (its rules below), else ``Σ_ix Π fs``."""
    if len(fs) == 1 and _total(fs[0], ix) is not None:
        return const(_total(fs[0], ix))                  # Σ_j softmax(z)_j = 1
    for b in ix:
        pair = [f for f in fs if b in f.free]
        if len(pair) == 2:
            unit = _inverse_pair(*pair, b) or _inverse_pair(*reversed(pair), b)
            if unit is not None:                         # Σ_b inv(M)_ab M_bc = δ_ac
                rest = [f for f in fs if f not in pair]
                return summation([i for i in ix if i != b], mul(unit, *rest))
    return summation(ix, mul(*fs))


def _total(f: Expr, ix: list[Index]):
    """Σ_out F(x)_out for a function whose entries always add up to one number."""
    entry = TENSOR.get(f.fn) if isinstance(f, Apply) and not f.order else None
    if entry is None or entry.total is None or set(f.out) != set(ix):
        return None
    return entry.total


def _inverse_pair(f: Expr, g: Expr, b: Index) -> Expr | None:
    """Σ_b inv(M)_ab M_bc = δ_ac, Σ_b M_cb inv(M)_ba = δ_ca (``M`` read over its
    ``over`` indices; ``g`` must be that matrix)."""
    entry = TENSOR.get(f.fn) if isinstance(f, Apply) and not f.order else None
    if entry is None or not entry.inverse or f.arg.free - set(f.over) or len(g.free) != 2:
        return None
    (i, j), (a, c) = f.over, f.out
    (other,) = g.free - {b} or {b}
    if c == b and a != b:
        rows, cols, ends = b, other, (a, other)
    elif a == b and c != b:
        rows, cols, ends = other, b, (other, c)
    else:
        return None
    if other.dim != b.dim or canonical(rename(f.arg, {i: rows, j: cols})) != canonical(g):
        return None
    return delta(*ends)


def _merge_nested(factors: list[Expr], bound: list[Index]):
    """Σ_I a (Σ_J b) -> Σ_{I,J} a b, renaming J where it clashes with other names."""
    if not any(isinstance(f, Sum) for f in factors):
        return factors, bound
    taken = {i.name for i in bound}.union(*(index_names(f) for f in factors))
    out, seen = [], {i.name for i in bound}
    for f in factors:
        if isinstance(f, Sum):
            fix = {}
            for i in f.indices:
                if i.name in seen:
                    fix[i] = fresh_index(taken, i.dim)
                    taken.add(fix[i].name)
                seen.add(fix.get(i, i).name)
            if fix:
                f = rename_bound(f, fix)
            bound = bound + list(f.indices)
            out.extend(f.body.factors if isinstance(f.body, Mul) else [f.body])
        else:
            out.append(f)
    return out, bound


def _bound_delta(term: Expr, bound: list[Index]) -> bool:
    parts = term.factors if isinstance(term, Mul) else (term,)
    return any(isinstance(p, Delta) and (contracted(p, bound) or (
        is_affine_delta(p) and bool(p.free & set(bound)))) for p in parts)


def _components(factors: list[Expr], bound: list[Index]) -> list[tuple[list[Index], list[Expr]]]:
    """Group factors that share bound indices (independent sums split apart)."""
    groups: list[tuple[set[Index], list[Expr]]] = []
    for f in factors:
        mine = set(f.free) & set(bound)
        joined = [g for g in groups if g[0] & mine]
        for g in joined:
            groups.remove(g)
            mine |= g[0]
        groups.append((mine, [f] + [h for g in joined for h in g[1]]))
    return [([i for i in bound if i in ix], fs) for ix, fs in groups]


def _unused_dims(inside: list[Expr], bound: list[Index]) -> list[Expr]:
    """Σ_i c = n c for a bound index no factor uses."""
    used = set().union(*(f.free for f in inside)) if inside else set()
    return [summation([i], ONE) for i in bound if i not in used]


# ---------------------------------------------------------------- functions

def _func(e: Func) -> Expr:
    arg = e.arg
    if e.order:
        return e
    if e.name == "log" and isinstance(arg, Func) and arg.name == "exp" and not arg.order:
        return arg.arg                                           # log(exp(x)) -> x
    if e.name == "exp" and isinstance(arg, Func) and arg.name == "log" and not arg.order:
        return arg.arg                                           # exp(log(x)) -> x
    if isinstance(arg, Apply) and fused(e.name, arg.fn):
        return Apply(fused(e.name, arg.fn), arg.arg, arg.over, arg.out)  # log softmax
    if isinstance(arg, Const):                                   # relu(0) -> 0
        value = exact_value(e.name, arg.value)
        if value is not None:
            return const(value)
    return e


# ---------------------------------------------------------------- like terms

def collect(e: Expr) -> Expr:
    """Combine terms of a sum that are equal up to renaming bound indices."""
    if not isinstance(e, Add):
        return e
    groups: dict[Expr, list] = {}
    parts = [coeff_rest(t) for t in e.terms]
    twins = possible_twins([rest for _, rest in parts])
    for c, rest in parts:
        key = canonical(rest) if rest in twins else rest
        if key in groups:
            groups[key][0] += c
        else:
            groups[key] = [c, rest]
    if len(groups) == len(e.terms):
        return e
    return add(*(mul(const(c), rest) for c, rest in groups.values()))


# ---------------------------------------------------------------- expansion

def expand(e: Expr) -> Expr:
    """Multiply everything out into a sum of products, then simplify.  A LimitError
    past MAX_TERMS terms, or MAX_EXPANDED nodes (few terms, each multiplied out
    inside its functions and powers), which simplify would take minutes over.

    Simplifying may merge powers into a new integer power of a sum (``x^0.5 x^1.5``
    is ``x^2``, with ``x = 2 + sin(v)``), which is multiplied out in its turn, so that
    an expanded expression expands to itself: a claim typed as the expanded
    derivative is compared term by term with it."""
    for _ in range(EXPAND_ROUNDS):
        e = _expand(unique_binders(e))
        if size(e) > MAX_EXPANDED:
            raise LimitError(f"the expression expands to more than {MAX_EXPANDED} nodes")
        e = simplify(e)
        if isinstance(e, Add) and len(e.terms) > MAX_TERMS:
            raise LimitError(f"the expression expands to more than {MAX_TERMS} terms")
        if not any(_power_of_a_sum(n) for n in walk(e)):
            break
    return e


EXPAND_ROUNDS = 4           # simplifying seldom makes a power of a sum more than once


def _power_of_a_sum(e: Expr) -> bool:
    """A power that ``_expand`` multiplies out."""
    if not (isinstance(e, Pow) and isinstance(e.base, Add) and isinstance(e.exponent, Const)):
        return False
    n = e.exponent.value
    return isinstance(n, Fraction) and n.denominator == 1 and 1 < n <= 8


def _expand(e: Expr) -> Expr:
    if not e.children:
        return e
    e = rebuild(e, tuple(_expand(c) for c in e.children))
    if isinstance(e, Mul):
        return _multiply_out(e.factors)
    if _power_of_a_sum(e):
        # the base is expanded already; multiplied out directly, since rebuilding
        # the product of its copies would make the power again (and recurse forever)
        return _multiply_out((e.base,) * int(e.exponent.value))
    if isinstance(e, Sum) and isinstance(e.body, Add):
        return add(*(summation(e.indices, t) for t in e.body.terms))
    return e


def _multiply_out(factors) -> Expr:
    """The product of expanded factors as a sum of products."""
    terms = [ONE]
    for f in factors:
        parts = f.terms if isinstance(f, Add) else (f,)
        terms = [mul(t, p) for t in terms for p in parts]
        if len(terms) > MAX_TERMS:
            raise LimitError(f"the expression expands to more than {MAX_TERMS} terms")
    return add(*terms)


# ---------------------------------------------------------------- factoring

MAX_GROUPED = 12          # terms: a longer sum has only its common factors taken out


def factor(e: Expr) -> Expr:
    """Take factors common to every term of a sum out of it, bottom-up:
    ``y_p o_q τ − y_p t_q -> y_p (o_q τ − t_q)`` (up to bound names, powers split,
    see factoring.py), else those shared by some terms; a bound index only one factor
    carries is summed right there: ``Σ_i a_i b_i (Σ_n c_in)``."""
    if not e.children:
        return e
    e = rebuild(e, tuple(factor(c) for c in e.children))
    if isinstance(e, Sum):
        return push_inward(e)
    if not isinstance(e, Add):
        return e
    merged = _merge_sums(e)
    if merged is not None:
        return merged
    splits = [split(t) for t in e.terms]
    common = shared(splits)
    if common:
        return mul(*common, factor(add(*(divide(s, common) for s in splits))))
    group = best_group(splits) if len(splits) <= MAX_GROUPED else None
    if group is None:
        return e
    members, common = group
    inner = factor(add(*(divide(splits[k], common) for k in members)))
    others = add(*(t for k, t in enumerate(e.terms) if k not in members))
    return add(mul(*common, inner), factor(others))


def orient_deltas(e: Expr, order: tuple[Index, ...]) -> Expr:
    """In a product with a delta between two free indices, write the other
    factors with the index that comes first in ``order`` (the function's indices
    before the variable's): ``h_b δ_bi`` -> ``δ_bi h_i``.  Equal by the delta."""
    rank = {i: k for k, i in enumerate(order)}
    if not e.children:
        return e
    e = rebuild(e, tuple(orient_deltas(c, order) for c in e.children))
    if not isinstance(e, Mul):
        return e
    for f in e.factors:
        if isinstance(f, Delta) and f.a in rank and f.b in rank:
            keep, gone = sorted((f.a, f.b), key=rank.get)
            others = [rename(g, {gone: keep}) if g is not f else g for g in e.factors]
            return mul(*others)
    return e


def tidy(e: Expr, rules=(), limit: int = 300) -> Expr:
    """The smaller of ``e`` and ``e`` multiplied out, simplified and refactored:
    ``s (1 − s) (−y/s + (1 − y)/(1 − s))`` becomes ``s − y``, while ``y_p (o_q τ − t_q)``
    stays as it is; and ``e`` with a known sum brought out wherever multiplying out
    one sum reaches it (``Σ_m y_m (W2_km − …)`` with ``Σ_m y_m = 1`` assumed).
    Expressions above ``limit`` nodes are left alone."""
    if size(e) > limit:
        return e
    try:
        known = _spread_known(e, _known_names(rules), rules)
        if known is not e:
            e = factor(simplify(known, rules))
        cancelled = _cancel(e)
        if cancelled is e:
            return e                               # nothing cancels: keep the factored form
        candidate = factor(simplify(expand(simplify(cancelled)), rules))
    except LimitError:
        return e
    return candidate if size(candidate) < size(factor(e)) else e


def _known_names(rules) -> frozenset:
    """Names a rule sums to a constant (``Σ_j p_j = 1``, assumed or fixed by definitions)."""
    return frozenset(n for r in rules if isinstance(r.pattern, Sum)
                     and isinstance(r.replacement, Const) for n in var_names(r.pattern))


def _spread_known(e: Expr, names: frozenset, rules) -> Expr:
    """Σ_j p_j (−1 − log p_j) -> −1 − Σ_j p_j log p_j: a sum of a product with a sum in
    it is multiplied out when that makes a known sum vanish (fewer uses of its name
    than before, or than multiplied out without the known sums), so constants cancel:
    ``p_p (1 + a_p − Σ_j p_j (1 + a_j))`` is ``p_p (a_p − Σ_j p_j a_j)``."""
    if not names or not names & var_names(e):
        return e
    if e.children:
        kids = tuple(_spread_known(c, names, rules) for c in e.children)
        if any(k is not c for k, c in zip(kids, e.children)):
            e = rebuild(e, kids)
    if not (isinstance(e, Sum) and isinstance(e.body, Mul)):
        return e
    factors, width = e.body.factors, _width(rules)
    for k, f in enumerate(factors):
        if isinstance(f, Add) and any(_sums_known(mul(*factors[:k], *factors[k + 1:], t),
                                                  e.indices, names, width) for t in f.terms):
            rest = factors[:k] + factors[k + 1:]
            spread = add(*(summation(e.indices, mul(*rest, t)) for t in f.terms))
            known = simplify(spread, rules)
            uses = _uses(known, names)
            if uses < _uses(e, names) or uses < _uses(simplify(spread), names):
                return known
    return e


def _sums_known(term: Expr, summed, names: frozenset, width: int) -> bool:
    """Could Σ over ``summed`` of ``term`` hold a known sum once simplified?  Only if a
    factor is a known name read at a summed index that at most ``width`` factors
    read (a known sum's body has that many: 1 for ``Σ_j p_j``, so ``p_j`` in ``Σ_j
    p_j c`` but not in ``Σ_j p_j W_kj``): the check that saves multiplying out and
    simplifying the other candidates."""
    factors = term.factors if isinstance(term, Mul) else (term,)
    for f in factors:
        if isinstance(f, Var) and f.name in names:
            for i in f.free:
                if i in summed and sum(i in g.free for g in factors) <= width:
                    return True
    return False


def _width(rules) -> int:
    """Factors in the body of the widest known sum (``Σ_j p_j = 1``: 1)."""
    return max((len(r.pattern.body.factors) if isinstance(r.pattern.body, Mul) else 1
                for r in rules if isinstance(r.pattern, Sum)
                and isinstance(r.replacement, Const)), default=0)


def _uses(e: Expr, names: frozenset) -> int:
    if isinstance(e, Var):
        return int(e.name in names)
    return sum(_uses(c, names) for c in e.children)


def _cancel(e: Expr) -> Expr:
    """Distribute a product over a sum whose terms divide by one of the product's
    other factors, so that the division cancels: s (1 − s) (a/s + b/(1 − s))
    -> (1 − s) a + s b."""
    if not e.children:
        return e
    e = rebuild(e, tuple(_cancel(c) for c in e.children))
    if not isinstance(e, Mul):
        return e
    for k, f in enumerate(e.factors):
        if isinstance(f, Add) and any(_divides(t, e.factors) for t in f.terms):
            rest = e.factors[:k] + e.factors[k + 1:]
            return add(*(_cancel(mul(*rest, t)) for t in f.terms))
    return e


def _divides(term: Expr, factors: tuple[Expr, ...]) -> bool:
    parts = term.factors if isinstance(term, Mul) else (term,)
    return any(isinstance(p, Pow) and isinstance(p.exponent, Const) and p.exponent.value < 0
               and p.base in factors for p in parts)


def _merge_sums(e: Add) -> Expr | None:
    """Σ_l s_l X_lp − Σ_j X_jp y_j -> Σ_i X_ip (s_i − y_i): sums over the same
    dimensions become one sum when its body then has a common factor."""
    sums = [(c, rest) for c, rest in map(coeff_rest, e.terms) if isinstance(rest, Sum)]
    if len(sums) != len(e.terms) or len(sums) < 2:
        return None
    dims = sorted(dim_key(i.dim) for i in sums[0][1].indices)
    if any(sorted(dim_key(i.dim) for i in r.indices) != dims for _, r in sums[1:]):
        return None
    by_dim = lambda ix: sorted(ix, key=lambda i: dim_key(i.dim))      # noqa: E731
    target = sums[0][1].indices
    taken = set().union(*(index_names(r) for _, r in sums)) | {i.name for i in e.free}
    bodies = []
    for c, r in sums:
        safe = unique_binders(r, taken - {i.name for i in r.indices})
        mapping = dict(zip(by_dim(safe.indices), by_dim(target)))
        bodies.append(mul(const(c), rename(safe.body, mapping)))
    body = factor(add(*bodies))
    if not isinstance(body, Mul):
        return None
    merged = summation(target, body)
    return merged if size(merged) < size(e) else None


def name_sums(e: Expr, taken: set[str]) -> tuple[Expr, list[tuple[str, Expr]]]:
    """Name each closed sum of one variable (``τ = Σ_j t_j``), as the golden
    derivations do.  Returns the expression using the names, and the names."""
    found: dict[Expr, str] = {}

    def go(node: Expr) -> Expr:
        if (isinstance(node, Sum) and not node.free and isinstance(node.body, Var)
                and len(node.indices) == len(node.body.indices)):
            key = canonical(node)
            if key not in found:
                symbol = _sum_symbol(node.body.name, taken | {s for s, _ in found.values()})
                if symbol is None:
                    return node
                found[key] = (symbol, node)
            return Var(found[key][0], ())
        if not node.children:
            return node
        return rebuild(node, tuple(go(c) for c in node.children))

    out = go(e)
    return out, list(found.values())


_GREEK = {"t": "τ", "y": "υ", "x": "ξ", "z": "ζ", "p": "π", "r": "ρ", "m": "μ", "n": "ν",
          "l": "λ", "k": "κ", "e": "ε", "g": "γ", "a": "α", "b": "β", "h": "η", "w": "ω",
          "c": "χ", "f": "φ", "q": "ψ", "o": "ο"}


def _sum_symbol(name: str, taken: set[str]) -> str | None:
    symbol = _GREEK.get(name[:1].lower())
    if symbol is None:
        return None
    symbol += name[1:]
    return None if symbol in taken else symbol
