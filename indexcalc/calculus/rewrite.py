"""Rewriting with rules ``pattern -> replacement``, matched up to index renaming.

Two passes use it:

* folding definitions back: after differentiating ``o_j = exp(z_j) / Σ_i exp(z_i)``
  the derivative contains ``exp(z_k) / Σ_i exp(z_i)``, which a careful person
  writes ``o_k``.  Each definition is a rule ``body -> name[indices]``.
* assumptions: ``assume sum_j t_j = 1`` is the rule ``Σ_j t_j -> 1``.

A pattern's free indices are variables that bind to any index of the same
dimension; its bound indices match bound indices.  A product pattern also
matches part of a larger product, with powers split: ``exp(z_j) Ω^-1`` is
found inside ``-exp(z_j) exp(z_k) Ω^-2`` (twice).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations, permutations
from dataclasses import dataclass, field
from typing import Iterator

from indexcalc.ir import (
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
    base_exp,
    coeff_rest,
    const,
    erased_key,
    mul,
    power,
    rebuild,
    rename,
    unique_binders,
    var_names,
)
from indexcalc.ir.affine import Sub
from indexcalc.limits import MANY_RULES, MATCH_BUDGET, MAX_PATTERN_FACTORS, MEMO_SIZE
from indexcalc.memo import on_forget

Env = dict[Index, Index]
MAX_PART_TERMS = 8          # a longer sum is not searched for a sum pattern among its terms


@dataclass(frozen=True)
class Rule:
    pattern: Expr
    replacement: Expr          # its free indices are among the pattern's


def definition_rule(name: str, indices: tuple[Index, ...], body: Expr) -> Rule | None:
    """The rule folding ``body`` back into ``name[indices]``, if worth having."""
    if (not var_names(body) or isinstance(body, Var) or len(set(indices)) != len(indices)
            or body.free != frozenset(indices)            # h_ij = det(A) broadcasts: no rule
            or isinstance(body, Mul) and len(body.factors) > MAX_PATTERN_FACTORS):
        return None
    return Rule(body, Var(name, indices))


# ---------------------------------------------------------------- matching

def _bind(p: Sub, t: Sub, env: Env) -> Env | None:
    if type(p) is not Index or type(t) is not Index:
        return _bind_affine(p, t, env)
    if p in env:
        return env if env[p] == t else None
    if p.dim != t.dim or t in env.values():
        return None
    new = dict(env)
    new[p] = t
    return new


def _bind_affine(p: Sub, t: Sub, env: Env) -> Env | None:
    """A shifted subscript matches one of the same shape (``x[2i−k]``, ``x[2a−b]``),
    binding the indices in it, term by term, in any order of the terms."""
    if (type(p) is Index or type(t) is Index or (p.offset, p.dim) != (t.offset, t.dim)
            or len(p.terms) != len(t.terms)):
        return None
    for order in permutations(t.terms):
        new = env
        for (pi, pc), (ti, tc) in zip(p.terms, order):
            new = _bind(pi, ti, new) if pc == tc else None
            if new is None:
                break
        if new is not None:
            return new
    return None


def _bind_all(ps, ts, env: Env) -> Env | None:
    for p, t in zip(ps, ts):
        env = _bind(p, t, env)
        if env is None:
            return None
    return env


class _TooHard(Exception):
    """Matching ran out of budget (many factors of one shape: the search is exponential)."""


class Budget:
    """The node comparisons one rule may still spend at one node.  Each match attempt
    owns one (``_apply`` makes it), so no count outlives the attempt or is shared."""

    __slots__ = ("left",)

    def __init__(self, comparisons: int):
        self.left = comparisons

    def spend(self) -> None:
        """One comparison; ``_TooHard`` once more than the budget has been spent."""
        self.left -= 1
        if self.left < 0:
            raise _TooHard()


def matches(p: Expr, t: Expr, env: Env, budget: Budget) -> Iterator[Env]:
    """Every way ``p`` matches ``t`` extending ``env``; each call spends one comparison
    of ``budget`` (``_TooHard`` when it is gone)."""
    budget.spend()
    if type(p) is not type(t):
        return
    if isinstance(p, (Const, DimSize)):
        if p == t:
            yield env
    elif isinstance(p, Var):
        if p.name == t.name and len(p.indices) == len(t.indices):
            new = _bind_all(p.indices, t.indices, env)
            if new is not None:
                yield new
    elif isinstance(p, Delta):
        for a, b in ((t.a, t.b), (t.b, t.a)):
            new = _bind_all((p.a, p.b), (a, b), env)
            if new is not None:
                yield new
    elif isinstance(p, Func):
        if p.name == t.name and p.order == t.order:
            yield from matches(p.arg, t.arg, env, budget)
    elif isinstance(p, Apply):
        if (p.fn, p.order, len(p.over), len(p.out)) == (t.fn, t.order, len(t.over), len(t.out)):
            new = _bind_all(p.over + p.out, t.over + t.out, env)
            if new is not None:
                yield from matches(p.arg, t.arg, new, budget)
    elif isinstance(p, Pow):
        for new in matches(p.base, t.base, env, budget):
            yield from matches(p.exponent, t.exponent, new, budget)
    elif isinstance(p, Sum):
        if len(p.indices) == len(t.indices):       # bound onto bound, in any order
            for new in matches(p.body, t.body, env, budget):
                if {new.get(i) for i in p.indices} == set(t.indices):
                    yield new
    elif isinstance(p, (Mul, Add)):
        if len(p.children) == len(t.children):
            yield from _match_multiset(list(p.children), list(t.children), env, budget)


def _match_multiset(ps: list[Expr], ts: list[Expr], env: Env, budget: Budget
                    ) -> Iterator[Env]:
    if not ps:
        yield env
        return
    first, rest = ps[0], ps[1:]
    shape = erased_key(first)
    for k, t in enumerate(ts):
        if erased_key(t) != shape:          # cannot match whatever the indices: skip early
            continue
        for new in matches(first, t, env, budget):
            yield from _match_multiset(rest, ts[:k] + ts[k + 1:], new, budget)


def _free_ok(pattern: Expr, env: Env, target_free: frozenset) -> bool:
    return all(env.get(i, i) in target_free for i in pattern.free)


# ---------------------------------------------------------------- product patterns

def _split_power(p_exp: Expr, t_exp: Expr) -> Expr | None:
    """What is left of ``x^t_exp`` after taking ``x^p_exp`` out, or None."""
    if p_exp == t_exp:
        return ZERO
    if isinstance(p_exp, Const) and isinstance(t_exp, Const):
        p, t = p_exp.value, t_exp.value
        if p * t > 0 and abs(t) > abs(p):
            return const(t - p)
    return None


def _head(e: Expr) -> tuple:
    """What two expressions must share to match (names, not indices)."""
    if isinstance(e, Var):
        return (Var, e.name, len(e.indices))
    if isinstance(e, Func):
        return (Func, e.name, e.order)
    if isinstance(e, Apply):
        return (Apply, e.fn, e.order)
    if isinstance(e, (Const, DimSize)):
        return (type(e), e)
    return (type(e), len(e.children))


def _match_product(ps: list[tuple[Expr, Expr]], ts: list[tuple[Expr, Expr]], env: Env,
                   budget: Budget) -> Iterator[tuple[Env, list[tuple[Expr, Expr]]]]:
    """Match pattern factors (base, exponent) inside target factors; yield the
    environment and the target factors left over."""
    if not ps:
        yield env, ts
        return
    (pb, pe), rest = ps[0], ps[1:]
    shape = erased_key(pb)
    for k, (tb, te) in enumerate(ts):
        if erased_key(tb) != shape:
            continue
        if not isinstance(pe, Const):            # y_i^(y_j): the exponent is matched too
            for new in matches(pb, tb, env, budget):
                for both in matches(pe, te, new, budget):
                    yield from _match_product(rest, ts[:k] + ts[k + 1:], both, budget)
            continue
        left = _split_power(pe, te)
        if left is None:
            continue
        for new in matches(pb, tb, env, budget):
            remaining = ts[:k] + ([(tb, left)] if left != ZERO else []) + ts[k + 1:]
            yield from _match_product(rest, remaining, new, budget)


def _rewrite_product(rule: Rule, e: Mul, budget: Budget) -> Expr | None:
    ps = [base_exp(f) for f in rule.pattern.factors]
    ts = [base_exp(f) for f in e.factors]
    if Counter(_head(b) for b, _ in ps) - Counter(_head(b) for b, _ in ts):
        return None                      # a pattern factor has nothing to match: quick no
    for env, left in _match_product(ps, ts, {}, budget):
        used_free = frozenset().union(*(b.free for b, _ in ts))
        if _free_ok(rule.pattern, env, used_free):
            return mul(_instantiate(rule, env), *(power(b, x) for b, x in left))
    return None


def _instantiate(rule: Rule, env: Env) -> Expr:
    return rename(rule.replacement, {i: env[i] for i in rule.replacement.free})


# ---------------------------------------------------------------- application

def rewrite(e: Expr, rules: list[Rule], limit: int = 1000) -> Expr:
    """Apply the rules bottom-up, repeatedly, wherever a pattern matches."""
    index = _index_of(rules)
    for _ in range(limit):
        new = _rewrite_once(e, index)
        if new == e:
            return e
        e = new
    return e


@dataclass(frozen=True)
class _Index:
    """The rules by the head of their pattern (of a product pattern: its first factor),
    so that a node is tried only against rules that could match it."""
    by_head: dict       # head -> [(position, rule, names the pattern uses)]
    by_factor: dict
    any_sum: bool
    sums: tuple = ()    # the rules whose pattern is a sum (found among a longer sum's terms)
    done: dict = field(default_factory=dict)    # expression -> rewritten once (memo)

    def candidates(self, e: Expr) -> list[tuple[int, Rule, frozenset]]:
        if isinstance(e, Mul):
            heads = {_head(base_exp(f)[0]) for f in e.factors}
            found = [r for h in heads for r in self.by_factor.get(h, ())]
            if len(found) > MANY_RULES:                 # a product pattern matches a part
                names = var_names(e)
                found = [r for r in found if r[2] <= names]
            return sorted(found, key=lambda r: r[0])        # the rules' own order
        found = self.by_head.get(_head(e), [])
        if len(found) > MANY_RULES:                     # h1 = tanh(W x), h2 = tanh(W h1), ...
            names = var_names(e)
            found = [r for r in found if r[2] == names]
        return found


_LAST: list = [None, None]      # the rule tuple last indexed (held, so its id stays its own)


@on_forget
def _forget_index() -> None:
    _LAST[:] = [None, None]


def _index_of(rules) -> _Index:
    """The index of ``rules``; a model's rules arrive as the same tuple many times."""
    if _LAST[0] is not rules:
        _LAST[:] = [rules, _index(rules)]
    return _LAST[1]


def _index(rules) -> _Index:
    by_head: dict = {}
    by_factor: dict = {}
    for k, r in enumerate(rules):
        entry = (k, r, frozenset(var_names(r.pattern)))
        if isinstance(r.pattern, Mul):
            by_factor.setdefault(_head(base_exp(r.pattern.factors[0])[0]), []).append(entry)
        else:
            by_head.setdefault(_head(r.pattern), []).append(entry)
    sums = tuple(r for r in rules if isinstance(r.pattern, Add) and var_names(r.replacement))
    return _Index(by_head, by_factor, any(isinstance(r.pattern, Sum) for r in rules), sums)


def push_inward(e: Expr) -> Expr:
    """Σ_{i,n} a_i b_i c_in -> Σ_i a_i b_i (Σ_n c_in): a bound index that only one
    factor carries becomes an inner sum over that factor (the same value)."""
    if not isinstance(e, Sum) or len(e.indices) < 2 or not isinstance(e.body, Mul):
        return e
    factors = list(e.body.factors)
    inner: dict[int, list[Index]] = {}
    outer = []
    for i in e.indices:
        carriers = [k for k, f in enumerate(factors) if i in f.free]
        if len(carriers) == 1:
            inner.setdefault(carriers[0], []).append(i)
        else:
            outer.append(i)
    if not inner or not outer:
        return e
    for k, idx in inner.items():
        factors[k] = Sum(tuple(idx), factors[k])
    return Sum(tuple(outer), mul(*factors))


def split_sums(e: Sum) -> Iterator[tuple[list[Expr], Sum, tuple[Index, ...]]]:
    """Σ_{i,l} G_pl P_pi V_il = Σ_l G_pl (Σ_i P_pi V_il): for each summed index carried by
    some but not all factors, (the other factors, those factors as an inner sum, the
    other summed indices), so a definition O_pl = Σ_i P_pi V_il can be folded back
    inside a larger sum (tried on the inner sum alone)."""
    if not isinstance(e.body, Mul):
        return
    factors = e.body.factors
    for i in e.indices:
        carriers = [f for f in factors if i in f.free]
        if len(carriers) < 2 or len(carriers) == len(factors):
            continue
        rest = [f for f in factors if i not in f.free]
        yield rest, Sum((i,), mul(*carriers)), tuple(j for j in e.indices if j != i)


def _rewrite_once(e: Expr, index: _Index) -> Expr:
    """One bottom-up round (memoised: simplification rounds repeat most subtrees)."""
    done = index.done.get(e)
    if done is None:
        if len(index.done) > MEMO_SIZE:
            index.done.clear()
        done = index.done[e] = _rewrite_node(e, index)
    return done


def _rewrite_node(e: Expr, index: _Index) -> Expr:
    if e.children:
        e = rebuild(e, tuple(_rewrite_once(c, index) for c in e.children))
    if isinstance(e, Sum) and len(e.indices) > 1 and index.any_sum:
        pushed = push_inward(e)
        if pushed is not e:
            again = _rewrite_once(pushed, index)
            if again != pushed:
                return again
        for rest, inner, outer in split_sums(e):        # O = P V inside Σ_{i,l} G P V
            for _, rule, _ in index.candidates(inner):
                try:
                    new = _apply(rule, inner)
                except _TooHard:
                    continue
                if new is not None:
                    return Sum(outer, mul(*rest, new)) if outer else mul(*rest, new)
    for _, rule, _ in index.candidates(e):
        try:
            new = _apply(rule, e)
        except _TooHard:          # a rule folds or assumes: left out here, e is still right
            continue
        if new is not None:
            return new
    if isinstance(e, Add) and index.sums:
        for rule in index.sums:
            try:
                new = _rewrite_part(rule, e, Budget(MATCH_BUDGET))
            except _TooHard:
                continue
            if new is not None:
                return new
    return e


def _rewrite_part(rule: Rule, e: Add, budget: Budget) -> Expr | None:
    """A sum pattern found among some of the terms of a longer sum, all scaled by one
    number: ``a − Σ_j p_j log p_j + Σ_i p_i log q_i`` holds ``−K`` for
    ``K = Σ_j p_j log p_j − Σ_i p_i log q_i``."""
    size = len(rule.pattern.terms)
    if not 2 <= size < len(e.terms) <= MAX_PART_TERMS:
        return None
    pattern = unique_binders(rule.pattern)          # each term's sum binds its own names
    first, _ = coeff_rest(pattern.terms[0])
    for scale in {coeff_rest(t)[0] / first for t in e.terms}:
        scaled = [mul(const(1 / scale), t) for t in e.terms]
        for chosen in combinations(range(len(e.terms)), size):
            part = unique_binders(Add(tuple(scaled[k] for k in chosen)))   # a multiset
            for env in matches(pattern, part, {}, budget):
                if _free_ok(pattern, env, e.free):
                    rest = [t for k, t in enumerate(e.terms) if k not in chosen]
                    return add(mul(const(scale), _instantiate(rule, env)), *rest)
    return None


def _apply(rule: Rule, e: Expr) -> Expr | None:
    budget = Budget(MATCH_BUDGET)
    if isinstance(rule.pattern, Mul) and isinstance(e, Mul):
        return _rewrite_product(rule, e, budget)
    if erased_key(rule.pattern) == erased_key(e):
        for env in matches(rule.pattern, e, {}, budget):
            if _free_ok(rule.pattern, env, e.free):
                return _instantiate(rule, env)
    return None
