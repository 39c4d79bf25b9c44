"""Common subexpressions: values already computed, found again up to renaming of indices.

``Memo`` remembers each emitted expression with its value.  Expressions are
bucketed by shape (every index name erased, cheap); only an expression whose
shape was met before has its exact key (``_key``: equal up to renaming of the
free indices, which it numbers) computed and compared.  The value found is
returned with its axes renamed to the new expression's indices.
"""

from __future__ import annotations

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
