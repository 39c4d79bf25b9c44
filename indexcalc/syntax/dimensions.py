"""Dimension variables: the union-find that infers what every index ranges over.

Every tensor axis and every index name of a statement gets a dimension variable
(``?3``); declarations pin variables to symbols (``n``) or numbers (``='n'``),
and uses unify them.  While a statement is lowered its IR carries the
placeholder dimension ``PENDING`` on every index; ``settle.py`` replaces the
placeholders once the whole text is read, with the helpers at the end of this
module (unresolved dimensions get generated symbols ``N``, ``N1``...).
"""

from __future__ import annotations

from indexcalc.ir import Apply, DimSize, Expr, Index, const, map_indices, rebuild, walk


class DimTable:
    """Union-find over dimension variables.  A variable may be pinned to a
    declared symbol or an integer; two different pins never unify."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.pin: dict[str, object] = {}
        self.count = 0

    def new(self) -> str:
        self.count += 1
        v = f"?{self.count}"
        self.parent[v] = v
        return v

    def fixed(self, value) -> str:
        v = f"={value!r}"
        if v not in self.parent:
            self.parent[v] = v
            self.pin[v] = value
        return v

    def find(self, v: str) -> str:
        root = v
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[v] != root:
            self.parent[v], v = root, self.parent[v]
        return root

    def unify(self, a: str, b: str) -> bool:
        """Make ``a`` and ``b`` the same dimension; False if they are pinned apart."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        pa, pb = self.pin.get(ra), self.pin.get(rb)
        if pa is not None and pb is not None:
            return False
        if pa is None:
            ra, rb = rb, ra
        self.parent[rb] = ra                  # keep the pinned root
        return True

    def value(self, v: str):
        return self.pin.get(self.find(v))

    def show(self, v: str) -> str:
        value = self.value(v)
        return "?" if value is None else str(value)


DIM_NAMES = ("n", "m", "k", "d", "r", "s", "t")     # for dimensions nothing names


def fresh_dim_name(taken: set[str]) -> str:
    """The first of n, m, k, d, r, s, t (then N, N1, ...) not taken by a name of the text."""
    for name in DIM_NAMES:
        if name not in taken:
            return name
    n = 0
    while True:
        name = "N" if n == 0 else f"N{n}"
        if name not in taken:
            return name
        n += 1


def settle_expr(e: Expr, dim_of, settle_var) -> Expr:
    """``e`` with every index carrying its settled dimension, and every
    placeholder ``DimSize`` of a dimension variable replaced by its size."""
    if any(isinstance(n, DimSize) and _placeholder(n.dim) for n in walk(e)):
        e = _settle_sizes(e, settle_var)
    return map_indices(e, lambda i: Index(i.name, dim_of(i.name)))


def _placeholder(dim) -> bool:
    """A dimension variable of the DimTable: free (``?3``) or pinned (``='n'``)."""
    return str(dim).startswith(("?", "="))


def _settle_sizes(e: Expr, settle_var) -> Expr:
    if isinstance(e, DimSize) and _placeholder(e.dim):
        value = settle_var(e.dim)
        return const(value) if isinstance(value, int) else DimSize(value)
    if not e.children:
        return e
    new = tuple(_settle_sizes(c, settle_var) for c in e.children)
    if isinstance(e, Apply):
        return Apply(e.fn, new[0], e.over, e.out, e.order)
    return rebuild(e, new)
