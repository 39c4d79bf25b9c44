"""Common subexpressions: values already computed, found again up to renaming of indices.

``Memo`` remembers each emitted expression with its value.  Expressions are
bucketed by shape (every index name erased, cheap); only an expression whose
shape was met before has its exact key (``_key``: equal up to renaming of the
free indices, which it numbers) computed and compared.  The value found is
returned with its axes renamed to the new expression's indices.
"""

from __future__ import annotations

from itertools import combinations

from indexcalc.compiler.statements import Val
from indexcalc.ir import (
    Apply,
    Delta,
    Expr,
    Index,
    Var,
    canonical,
    erased_key,
    rename,
    walk,
)
from indexcalc.ir.affine import InRange
from indexcalc.memo import memoised


class Memo:
    def __init__(self):
        self.by_shape: dict[tuple, list[list]] = {}    # erased key -> [expr, value] entries
        self.by_code: dict[str, list[list]] = {}       # code -> the entries holding it

    def find(self, e: Expr) -> Val | None:
        """The value of an expression equal to ``e`` up to renaming, with ``e``'s axes."""
        bucket = self.by_shape.get(erased_key(e))
        if bucket:
            key, order = _key(e)
            for seen, val in bucket:
                other, first = _key(seen)
                if other == key:
                    where = {a: order[first.index(a)] for a in val.axes}
                    return Val(val.code, tuple(where[a] for a in val.axes))
        return None

    def add(self, e: Expr, val: Val) -> None:
        entry = [e, val]
        self.by_shape.setdefault(erased_key(e), []).append(entry)
        self.by_code.setdefault(val.code, []).append(entry)

    def rename(self, old: str, new: str) -> None:
        """Values held in temp ``old`` are now called ``new``."""
        entries = self.by_code.pop(old, [])
        for entry in entries:
            entry[1] = Val(new, entry[1].axes)
        self.by_code.setdefault(new, []).extend(entries)


def _plain(subs) -> tuple[Index, ...]:
    """The indices of subscripts, an affine one's (``i+k``: i, k) included, in order."""
    out = []
    for s in subs:
        out.extend((s,) if type(s) is Index else sorted(s.free, key=lambda i: i.key))
    return tuple(out)


@memoised(4096)
def _key(e: Expr) -> tuple[Expr, tuple[Index, ...]]:
    """A key equal for expressions equal up to renaming indices, and the free
    indices of ``e`` in the order the key numbers them."""
    order = []
    for node in walk(e):
        for i in _node_indices(node):
            if i in e.free and i not in order:
                order.append(i)
    mapping = {i: Index(f"\x00{k}", i.dim) for k, i in enumerate(order)}
    return canonical(rename(e, mapping)), tuple(order)


def _node_indices(node: Expr):
    if isinstance(node, Var):
        return _plain(node.indices)
    if isinstance(node, Delta):
        return _plain((node.a, node.b))
    if isinstance(node, InRange):
        return _plain((node.sub,))
    if isinstance(node, Apply):
        return node.out
    return ()


class Shared:
    """Parts of products computed already: common subexpressions *inside* products.

    Each contraction step is remembered with the operands it covers (the arrays
    the product started from) and the indices kept for the rest of the product.
    A later product whose operands include the same arrays, read with indices
    that map one to one onto the remembered ones and needing the same indices
    kept, takes the remembered value instead of contracting them again: the
    adjoint chain of an L-layer network is contracted once, not once per weight.
    """

    def __init__(self):
        self.entries: list[tuple[tuple[Val, ...], frozenset, Val]] = []
        self.by_code: dict[str, list[int]] = {}
        self.by_set: dict[frozenset, list[int]] = {}      # the codes an entry covers

    def add(self, cover: tuple[Val, ...], keep: set[Index], val: Val) -> None:
        kept = frozenset(a for v in cover for a in v.axes if a in keep)
        entry = (cover, kept, val)
        self.entries.append(entry)
        for v in cover:
            self.by_code.setdefault(v.code, []).append(len(self.entries) - 1)
        self.by_set.setdefault(frozenset(v.code for v in cover), []).append(
            len(self.entries) - 1)

    def find_pair(self, a: Val, b: Val, keep: set[Index]) -> Val | None:
        """The value of contracting exactly ``a`` and ``b`` (keeping ``keep``), if known."""
        return self._match_all([a, b], keep)

    def reuse(self, ops: list[Val], out) -> list[Val]:
        """``ops`` with every known sub-product (largest first) replaced by its value."""
        ops = list(ops)
        while len(ops) > 1:
            hit = self._best(ops, out)
            if hit is None:
                return ops
            used, val = hit
            ops = [v for k, v in enumerate(ops) if k not in used] + [val]
        return ops

    def rename(self, old: str, new: str) -> None:
        def ren(v: Val) -> Val:
            return Val(new, v.axes) if v.code == old else v
        for k, (cover, kept, val) in enumerate(self.entries):
            self.entries[k] = (tuple(ren(v) for v in cover), kept, ren(val))
        if old in self.by_code:
            self.by_code.setdefault(new, []).extend(self.by_code.pop(old))
        for key in [k for k in self.by_set if old in k]:
            self.by_set.setdefault((key - {old}) | {new}, []).extend(self.by_set.pop(key))

    # ------------------------------------------------------------ matching

    def _candidates(self, ops: list[Val]):
        codes = {v.code for v in ops}
        if len(codes) <= 8:                       # look up each subset of the codes
            subsets = [frozenset(c) for r in range(1, len(codes) + 1)
                       for c in combinations(sorted(codes), r)]
            for key in subsets:
                for k in self.by_set.get(key, ()):
                    cover = self.entries[k][0]
                    if 1 < len(cover) <= len(ops):
                        yield self.entries[k]
            return
        seen = set()
        for code in codes:
            for k in self.by_code.get(code, ()):
                if k not in seen:
                    seen.add(k)
                    cover = self.entries[k][0]
                    if 1 < len(cover) <= len(ops) and all(v.code in codes for v in cover):
                        yield self.entries[k]

    def _best(self, ops: list[Val], out):
        for cover, kept, val in sorted(self._candidates(ops), key=lambda e: -len(e[0])):
            for used, phi in _embeddings(cover, ops):
                inside = {a for k in used for a in ops[k].axes}
                outside = {a for k, v in enumerate(ops) if k not in used for a in v.axes}
                need = inside & (outside | set(out))
                if {phi[a] for a in kept} == need:
                    return used, Val(val.code, tuple(phi[a] for a in val.axes))
        return None

    def _match_all(self, ops: list[Val], keep: set[Index]) -> Val | None:
        for cover, kept, val in self._candidates(ops):
            if len(cover) != len(ops):
                continue
            for used, phi in _embeddings(cover, ops):
                need = {a for v in ops for a in v.axes} & keep
                if {phi[a] for a in kept} == need:
                    return Val(val.code, tuple(phi[a] for a in val.axes))
        return None


def _embeddings(cover: tuple[Val, ...], ops: list[Val], used=(), phi=None):
    """Ways of matching ``cover``'s operands to distinct ``ops`` with the same code,
    through a one-to-one renaming of indices: (positions used, renaming)."""
    phi = phi or {}
    if not cover:
        yield set(used), phi
        return
    first, rest = cover[0], cover[1:]
    for k, v in enumerate(ops):
        if k in used or v.code != first.code or len(v.axes) != len(first.axes):
            continue
        grown = dict(phi)
        ok = True
        for a, b in zip(first.axes, v.axes):
            if grown.setdefault(a, b) != b:
                ok = False
                break
        if ok and len(set(grown.values())) == len(grown):
            yield from _embeddings(rest, ops, (*used, k), grown)
