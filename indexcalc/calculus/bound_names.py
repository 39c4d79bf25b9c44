"""Names of summed indices: the model's own where they are free.

Reverse mode renames indices apart as it goes (a consumer's summed ``i, j`` must
not capture the indices the user asked about), so a derivative's summed indices
can come out named ``j, k`` where the definition said ``i, j``:
``∂L/∂F_ocuv = Σ_{b,j,k} G_bojk X[b,c,j+u,k+v]``.  ``prefer_model_names`` gives
each summed index back a name the model itself uses for an index over the same
dimension (the first such name, in the model's order), where that name occurs
nowhere in the sum; an index already named as the model names an index over its
dimension keeps its name.  Renaming a bound index changes no meaning.

It is applied to models with shifted reads only (``shifted``): there the sums
are re-indexed by solving deltas and the renamed-apart names are what the
reader meets first.  Applied to every model it also renames the sums of the
golden derivations (``Σ_j x_j (A_jp + A_pj)`` would read ``Σ_k``) and reorders
factors, which is not an improvement.
"""

from __future__ import annotations

from indexcalc.ir import Expr, Index, Sum, Var, index_names, rebuild, rename, walk
from indexcalc.ir.affine import sub_free


def shifted(e: Expr) -> bool:
    """Does ``e`` read a tensor at an affine subscript (``x_{i+k}``)?"""
    return any(isinstance(n, Var) and not n.indices_plain for n in walk(e))


def model_indices(exprs) -> list[Index]:
    """The indices of ``exprs`` (definitions' left sides and bodies), each once, in order."""
    out: dict[Index, None] = {}
    for e in exprs:
        if isinstance(e, Index):
            out.setdefault(e)
            continue
        for node in walk(e):
            if isinstance(node, Sum):
                out.update(dict.fromkeys(node.indices))
            elif isinstance(node, Var):
                for s in node.indices:
                    out.update(dict.fromkeys(sorted(sub_free(s), key=lambda i: i.key)))
    return list(out)


def prefer_model_names(e: Expr, own: list[Index], avoid: frozenset = frozenset()) -> Expr:
    """``e`` with its summed indices renamed to the model's names where free (never to
    a name in ``avoid``: the result's free indices, so none is reused for a sum)."""
    avoid = avoid | {i.name for i in e.free}
    return _go(e, own, avoid)


def _go(e: Expr, own: list[Index], avoid: frozenset) -> Expr:
    if isinstance(e, Sum):
        e = _rename_sum(e, own, avoid)
    if not e.children:
        return e
    kids = tuple(_go(c, own, avoid) for c in e.children)
    return e if kids == e.children else rebuild(e, kids)


def _rename_sum(s: Sum, own: list[Index], avoid: frozenset) -> Sum:
    change = [i for i in s.indices if i not in own]
    if not change:
        return s
    used = (index_names(s) | avoid) - {i.name for i in change}
    fix = {}
    for i in change:
        name = next((o.name for o in own if o.dim == i.dim and o.name not in used), None)
        if name is not None:
            fix[i] = Index(name, i.dim)
            used.add(name)
        else:
            used.add(i.name)
    names = [fix.get(i, i).name for i in s.indices]
    if not fix or len(set(names)) < len(names):       # a new name is one kept: leave it
        return s
    return Sum(tuple(fix.get(i, i) for i in s.indices), rename(s.body, fix))
