"""Reading one product term as matrix algebra: the tensor network of its factors.

A product term ``c Σ_B F1 F2 … Fk`` (output axes O, at most two) is a network
whose nodes are its factors, each on at most two indices.  It is reduced one
index at a time by rules that each are a matrix identity, until only the axes
are left (every rule keeps the value of the term):

    N_ab, N'_ab or N'_ba                   -> one node N ⊙ N'(ᵀ)        (a Hadamard product)
    Σ_ij of N_ij, N'_ij alone (a 2-cycle)  -> tr(N N'ᵀ)                 (a trace)
    Σ_i of N_ai only                       -> (N 𝟙)_a                   (a row sum; 𝟙ᵀ N, a column sum)
    Σ_i of v_i only                        -> sum(v)                    (uᵀ v for v = u ⊙ …)
    Σ_i N_ai v_i                           -> (N v)_a                   (a matrix-vector product)
    Σ_i N_ai N'_ib                         -> (N N')_ab                 (a matrix product)
    Σ_i N_ai v_i N'_ib                     -> (N diag(v) N')_ab
    on the axes: u_p N_pq w_q              -> diag(u) N diag(w); u_p w_q -> u wᵀ;
                 a missing axis            -> an outer product with 1

Indices joined to a vector are eliminated first (matrix-vector products, so a
vector propagates through a chain as in backprop), then row sums, then
matrix products.  An index shared by three matrices, or a factor on three
indices, has no matrix form: ``NoMatrixForm`` says which factors, in the
model's names.  Each rule removes an index or a node, so the reduction ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from indexcalc.ir import Apply, Const, Expr, Index, Var
from indexcalc.read.mexpr import (
    MCall,
    MExpr,
    MName,
    MOnes,
    diag,
    hadamard,
    outer,
    prod,
    scale,
    total,
    trace,
    transpose,
)


class NoMatrixForm(Exception):
    """Raised inside the converter; ``reason`` says what has no matrix spelling."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Node:
    """A matrix (two indices), vector (one) or scalar (none) of the network; ``derived``
    marks a node made by a reduction (it goes first in a Hadamard product on a
    bound index: ``(W2 v) ⊙ h``, last on an axis: ``y ⊙ (A x)``)."""
    m: MExpr
    ix: tuple[Index, ...]
    derived: bool = False
    text: str = ""                      # the factor as the user reads it (for reasons)


Convert = Callable[[Expr, tuple[Index, ...]], MExpr]


def read_term(factors: list[Expr], bound: list[Index], axes: tuple[Index, ...],
              convert: Convert, show: Callable[[Expr], str]) -> MExpr:
    """The matrix expression of ``Σ_bound Π factors`` as an array on ``axes``."""
    coeff, nodes = Fraction(1), []
    for f in factors:
        if isinstance(f, Const):
            coeff *= f.value
        else:
            nodes.append(_leaf(f, convert, show))
    bound = list(bound)
    for i in bound:
        if not any(i in n.ix for n in nodes):
            nodes.append(Node(MName(str(i.dim), 0), ()))        # Σ_i 1 = n
    bound = [i for i in bound if any(i in n.ix for n in nodes)]
    while bound:
        nodes = _merge(nodes, bound)
        bound = [i for i in bound if any(i in n.ix for n in nodes)]     # closed by a trace
        if not bound:
            break
        i = min(bound, key=lambda i: _priority(i, nodes))
        nodes = _eliminate(i, nodes, bound)
        bound.remove(i)
    return _finish(coeff, _merge(nodes, []), axes)


def _leaf(f: Expr, convert: Convert, show) -> Node:
    ix = _order(f)
    if len(ix) > 2:
        raise NoMatrixForm(f"{_what(f, show)} has {len(ix)} indices "
                           f"({', '.join(map(str, ix))}) in this term")
    if len(ix) == 2 and ix[0] == ix[1]:                         # A_ii: the diagonal of A
        whole = MName(f.name, 2) if isinstance(f, Var) else \
            MCall(f.fn, convert(f.arg, f.over), 2, f.order)
        return Node(diag(whole), ix[:1], text=show(f))
    return Node(convert(f, ix), ix, text=show(f))


def _what(f: Expr, show) -> str:
    if isinstance(f, Var):
        return f"{f.name} (a tensor of rank {len(f.indices)})"
    return f"the factor {show(f)}"


def _order(f: Expr) -> tuple[Index, ...]:
    """The factor's indices in reading order (a Var's own order)."""
    if isinstance(f, Var):
        return f.indices if len(f.indices) == 2 else tuple(dict.fromkeys(f.indices))
    if isinstance(f, Apply) and len(f.out) == 2 and f.out[0] == f.out[1] \
            and not (f.arg.free - set(f.over)):
        return f.out
    if isinstance(f, Apply) and len(f.out) == 1 and len(f.free) == 2:    # softmax(Z)_pq
        return tuple(sorted(f.free - set(f.out), key=lambda i: i.key)) + f.out
    if len(f.free) == 2:                     # (1 − H_pl^2): the order of its first matrix
        inner = _first_matrix(f, f.free)
        if inner is not None:
            return inner
    return tuple(sorted(f.free, key=lambda i: i.key))


def _first_matrix(e: Expr, free: frozenset) -> tuple[Index, ...] | None:
    if isinstance(e, Var) and len(e.indices) == 2 and set(e.indices) == free:
        return e.indices
    for c in e.children:
        if free <= c.free:
            found = _first_matrix(c, free)
            if found is not None:
                return found
    return None


def _oriented(n: Node, ix: tuple[Index, ...]) -> MExpr:
    return transpose(n.m) if len(ix) == 2 and n.ix != ix else n.m


def _merge(nodes: list[Node], bound: list[Index]) -> list[Node]:
    """Nodes on the same indices become one Hadamard product, except a closed 2-cycle
    (both indices summed, nothing else on them), which is a trace."""
    out: list[Node] = []
    groups: dict[frozenset, list[Node]] = {}
    for n in nodes:
        groups.setdefault(frozenset(n.ix), []).append(n)
    for key, group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        if len(key) == 2 and key <= set(bound) and _alone(key, nodes, len(group)):
            ix = group[0].ix
            rest = hadamard(*(_oriented(g, ix) for g in group[1:]))
            out.append(Node(trace(prod(group[0].m, transpose(rest))), ()))
            continue
        if not key:
            out.append(Node(scale(1, [g.m for g in group], None), ()))
            continue
        derived_first = len(key) == 1 and key <= set(bound)     # (W2 v) ⊙ h; P ⊙ (G Vᵀ)
        order = sorted(group, key=lambda g: g.derived != derived_first)
        ix = order[0].ix
        out.append(Node(hadamard(*(_oriented(g, ix) for g in order)), ix,
                        any(g.derived for g in group)))
    return out


def _alone(key: frozenset, nodes: list[Node], count: int) -> bool:
    return sum(1 for n in nodes if set(n.ix) & key) == count


def _priority(i: Index, nodes: list[Node]) -> tuple:
    on = [n for n in nodes if i in n.ix]
    vectors = sum(1 for n in on if len(n.ix) == 1)
    if vectors and len(on) == 2:
        return (0, i.key)                # a matrix-vector product (or a lone vector)
    if len(on) == 1:
        return (1 if len(on[0].ix) == 1 else 2, i.key)
    return (3 + len(on), i.key)


def _eliminate(i: Index, nodes: list[Node], bound: list[Index]) -> list[Node]:
    on = [n for n in nodes if i in n.ix]
    rest = [n for n in nodes if i not in n.ix]
    vecs = [n for n in on if len(n.ix) == 1]
    mats = [n for n in on if len(n.ix) == 2]
    if len(on) == 1 and vecs:                                   # Σ_i v_i
        v = vecs[0].m
        whole = v.arg if isinstance(v, MCall) and v.fn == "diag" else None
        return rest + [Node(trace(whole) if whole else total(v), (), True)]   # Σ_i A_ii = tr(A)
    if len(on) == 1:                                            # Σ_i N_ai
        (n,) = mats
        a = n.ix[0] if n.ix[1] == i else n.ix[1]
        if n.ix[0] == i:
            return rest + [Node(prod(MOnes(i.dim), n.m), (a,), True)]
        return rest + [Node(prod(n.m, MOnes(i.dim)), (a,), True)]
    if len(mats) == 1 and len(vecs) == 1:                       # Σ_i N_ai v_i
        (n,) = mats
        a = n.ix[0] if n.ix[1] == i else n.ix[1]
        return rest + [Node(prod(_oriented(n, (a, i)), vecs[0].m), (a,), True)]
    if len(mats) == 2 and len(vecs) <= 1:                       # Σ_i N_ai (v_i) N'_ib
        n1, n2 = mats
        a = n1.ix[0] if n1.ix[1] == i else n1.ix[1]
        b = n2.ix[0] if n2.ix[1] == i else n2.ix[1]
        middle = [diag(vecs[0].m)] if vecs else []
        m = prod(_oriented(n1, (a, i)), *middle, _oriented(n2, (i, b)))
        return rest + [Node(m, (a, b), True)]
    names = ", ".join(n.text for n in mats if n.text) or f"{len(mats)} matrices"
    raise NoMatrixForm(f"the summed index {i} joins {len(mats)} matrices ({names}); "
                       "a matrix product joins two")


def _finish(coeff: Fraction, nodes: list[Node], axes: tuple[Index, ...]) -> MExpr:
    scalars = [n.m for n in nodes if not n.ix]
    by = {frozenset(n.ix): n for n in nodes if n.ix}
    if len(axes) == 0:
        return scale(coeff, scalars, None)
    if len(axes) == 1:
        (p,) = axes
        v = by.get(frozenset((p,)))
        return scale(coeff, scalars, v.m if v else MOnes(p.dim))
    p, q = axes
    m, u, w = by.get(frozenset(axes)), by.get(frozenset((p,))), by.get(frozenset((q,)))
    if m is None:
        body = outer(u.m if u else MOnes(p.dim), w.m if w else MOnes(q.dim))
    else:
        body = prod(*([diag(u.m)] if u else []), _oriented(m, axes),
                    *([diag(w.m)] if w else []))
    return scale(coeff, scalars, body)
