"""Symmetry a model declares or implies, used in the result.

A symmetric matrix has one entry for two index orders: ``C_qp = C_pq``.  Writing
each symmetric factor with its indices in one canonical order lets like terms
meet: ``Σ_l W_lq (C_lp + C_pl)`` becomes ``2 Σ_l C_lp W_lq``, i.e. ``2 C W``, and
``inv(S)_pq / 2 + inv(S)_qp / 2`` becomes ``inv(S)_pq``.  A matrix is symmetric
when it is declared so, or when it is a definition whose right side is
symmetric in its two indices (``Xᵀ X``, ``A + Aᵀ``), or the inverse of a
symmetric matrix (``inv(Xᵀ X)``: the function table's ``inverse`` entries).
"""

from __future__ import annotations

from indexcalc.functions import TENSOR
from indexcalc.ir import Apply, Expr, Index, Var, canonical, rebuild, rename
from indexcalc.model import Model


def symmetric_names(model: Model) -> frozenset[str]:
    """The declared symmetric matrices and the definitions symmetric by construction."""
    names = set(model.symmetric)
    for d in model.definitions.values():
        if len(d.indices) == 2 and d.indices[0] != d.indices[1] \
                and d.indices[0].dim == d.indices[1].dim \
                and symmetric_in(d.expr, *d.indices, frozenset(names)):
            names.add(d.name)
    return frozenset(names)


def symmetric_in(e: Expr, i: Index, j: Index, names: frozenset[str]) -> bool:
    """``e`` is unchanged by swapping its free indices i and j (given ``names``)."""
    if i.dim != j.dim:
        return False
    same = use_symmetry(e, names)
    return canonical(use_symmetry(rename(e, {i: j, j: i}), names)) == canonical(same)


def use_symmetry(e: Expr, names: frozenset[str]) -> Expr:
    """``e`` with every symmetric factor's two indices in canonical order: the free
    indices of ``e`` first (by name), then summed ones, and a function's own indices in
    their order there: C_lp -> C_pl, inv(S)_qp -> inv(S)_pq, Σ_i r_i inv(S)_iq ->
    Σ_i r_i inv(S)_qi (so that it meets Σ_k r_k inv(S)_qk)."""
    top = e.free
    return _use(e, names, lambda i: (0 if i in top else 1, i.key))


def _use(e: Expr, names, rank) -> Expr:
    if isinstance(e, Apply):
        inner = dict(zip(e.over, range(len(e.over))))
        arg = _use(e.arg, names, lambda i: (-1, inner[i]) if i in inner else rank(i))
        e = Apply(e.fn, arg, e.over, e.out, e.order)
    elif e.children:
        e = rebuild(e, tuple(_use(c, names, rank) for c in e.children))
    if isinstance(e, Var) and e.name in names and len(e.indices) == 2:
        return Var(e.name, tuple(sorted(e.indices, key=rank)))
    if isinstance(e, Apply) and len(e.out) == 2 and len(e.over) == 2 and not e.order:
        entry = TENSOR.get(e.fn)
        if entry is not None and entry.inverse and symmetric_in(e.arg, *e.over, names):
            return Apply(e.fn, e.arg, e.over, tuple(sorted(e.out, key=rank)))
    return e
