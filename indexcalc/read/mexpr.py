"""Matrix expressions: the small tree a matrix-form result is built as.

``matrix.py`` decides *whether* an index-form result is a matrix formula and
builds it from the nodes below; ``matrix_text.py`` decides how it is *spelt*.
The nodes say what a formula means, independently of the vector convention: a
vector is a 1-D array, ``MProd`` is a matrix product whose first and last
factors may be vectors (``u A v`` is the number uᵀAv), ``MOuter`` the outer
product, ``MOnes`` the vector of ones and ``MIdentity`` the identity (both
sized by a dimension of the model), ``MKron`` a Kronecker product.

The smart constructors (``prod``, ``hadamard``, ``scale``, ``transpose``) keep
one canonical shape: scalars pulled out in front, nested products flattened.
The module is one algorithm, over the project's few hundred lines: the nodes and
their smart constructors keep one canonical form together, as ``ir/algebra.py``
does for the index form.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Union

Number = Union[Fraction, float]


class MExpr:
    """Base of matrix-expression nodes; ``rank`` is 0 (scalar), 1 (vector) or 2."""
    __slots__ = ()
    rank: int


@dataclass(frozen=True)
class MName(MExpr):
    """A named tensor of the model (or a named intermediate)."""
    name: str
    rank: int


@dataclass(frozen=True)
class MNum(MExpr):
    value: Number
    rank: int = 0


@dataclass(frozen=True)
class MOnes(MExpr):
    """The vector of ones ``1`` of length ``dim`` (``1ᵀ X`` sums the columns of X)."""
    dim: object
    rank: int = 1


@dataclass(frozen=True)
class MIdentity(MExpr):
    """The identity matrix ``I`` of size ``dim``."""
    dim: object
    rank: int = 2


@dataclass(frozen=True)
class MT(MExpr):
    """Transpose of a matrix."""
    arg: MExpr
    rank: int = 2


@dataclass(frozen=True)
class MProd(MExpr):
    """Matrix product ``F1 F2 … Fk``; the first and the last factor may be vectors
    (a leading vector is read as a row, a trailing one as a column)."""
    factors: tuple[MExpr, ...]

    @property
    def rank(self) -> int:
        return 2 - (self.factors[0].rank == 1) - (self.factors[-1].rank == 1)


@dataclass(frozen=True)
class MOuter(MExpr):
    """``u vᵀ``: the matrix with entries u_p v_q."""
    u: MExpr
    v: MExpr
    rank: int = 2


@dataclass(frozen=True)
class MHad(MExpr):
    """Elementwise product ``a ⊙ b ⊙ …`` of operands of one shape."""
    factors: tuple[MExpr, ...]

    @property
    def rank(self) -> int:
        return self.factors[0].rank


@dataclass(frozen=True)
class MScale(MExpr):
    """``c s1 s2 … X``: a coefficient and scalar factors times one array (or a scalar)."""
    coeff: Number
    scalars: tuple[MExpr, ...]
    arg: MExpr | None = None

    @property
    def rank(self) -> int:
        return self.arg.rank if self.arg is not None else 0


@dataclass(frozen=True)
class MAdd(MExpr):
    """A sum; scalar terms broadcast over vector and matrix terms."""
    terms: tuple[MExpr, ...]

    @property
    def rank(self) -> int:
        return max(t.rank for t in self.terms)


@dataclass(frozen=True)
class MPow(MExpr):
    """``x^c``, elementwise; a matrix base only with exponent −1 (``1 / X``): other
    elementwise powers of a matrix are written as ``X ⊙ X``."""
    base: MExpr
    exponent: MExpr

    @property
    def rank(self) -> int:
        return self.base.rank


@dataclass(frozen=True)
class MCall(MExpr):
    """``f(x)``: an elementwise function, a tensor function (softmax, inv, det; of a
    matrix, softmax and logsumexp act on each row), ``diag``, ``tr`` or ``sum``;
    ``order`` primes for derivatives of opaque functions."""
    fn: str
    arg: MExpr
    rank: int
    order: int = 0


@dataclass(frozen=True)
class MKron(MExpr):
    """``A ⊗ B``; ``kinds`` says for each operand whether it is a matrix ("mat"), a
    column ("col") or a row vector ("row"), since a Kronecker product tells them apart."""
    a: MExpr
    b: MExpr
    kinds: tuple[str, str] = ("mat", "mat")
    rank: int = 2


def diag(v: MExpr) -> MExpr:
    """``diag(v)``: the diagonal matrix of a vector, or the diagonal vector of a matrix;
    scalings come out in front (diag(c v) = c diag(v))."""
    c, scalars, v = _unscale(v)
    return scale(c, scalars, MCall("diag", v, 3 - v.rank))


def trace(m: MExpr) -> MExpr:
    return MCall("tr", m, 0)


def total(v: MExpr) -> MExpr:
    """Σ of every entry: ``uᵀ v`` for a sum of ``u ⊙ v``, ``sum(x)`` otherwise."""
    if isinstance(v, MHad) and v.rank == 1:
        return prod(v.factors[0], hadamard(*v.factors[1:]))
    return MCall("sum", v, 0)


def identity(dim, coeff: Number = 1, scalars=()) -> MExpr:
    return scale(coeff, scalars, MIdentity(dim))


# ---------------------------------------------------------------- smart constructors

def prod(*factors: MExpr) -> MExpr:
    """A matrix product; scalars and scalings are pulled out, nested products
    flattened (a vector-valued chain first in a product is turned round into its
    row form ``x Mᵀ``, last into its column form ``M x``); identities drop out."""
    coeff, scalars, arrays = Fraction(1), [], []
    for f in factors:
        if isinstance(f, MScale) and f.arg is not None:
            coeff, scalars, f = coeff * f.coeff, scalars + list(f.scalars), f.arg
        (arrays if f.rank else scalars).append(f)
    if len(arrays) > 1:
        arrays = [f for f in arrays if not isinstance(f, MIdentity)] or arrays[:1]
    flat: list[MExpr] = []
    for k, f in enumerate(arrays):
        if not isinstance(f, MProd):
            flat.append(f)
            continue
        fs = f.factors
        if f.rank == 1 and len(arrays) > 1 and (fs[-1].rank == 1) != (k == len(arrays) - 1):
            fs = tuple(transpose(g) if g.rank == 2 else g for g in reversed(fs))
        flat.extend(fs)
    body = None if not flat else flat[0] if len(flat) == 1 else MProd(tuple(flat))
    return scale(coeff, scalars, body)


def hadamard(*factors: MExpr) -> MExpr:
    flat: list[MExpr] = []
    coeff, scalars = Fraction(1), []
    for f in factors:
        if isinstance(f, MScale) and f.arg is not None and f.arg.rank > 0:
            coeff, scalars, f = coeff * f.coeff, scalars + list(f.scalars), f.arg
        flat.extend(f.factors if isinstance(f, MHad) else (f,))
    body = flat[0] if len(flat) == 1 else MHad(tuple(flat))
    return scale(coeff, scalars, body)


def scale(coeff: Number, scalars, arg: MExpr | None) -> MExpr:
    if arg is not None and arg.rank == 0 and not isinstance(arg, MScale):
        scalars, arg = tuple(scalars) + (arg,), None
    flat = []
    for f in scalars:                       # numbers and scalings fold into the coefficient
        if isinstance(f, MNum):
            coeff *= f.value
        elif isinstance(f, MScale) and f.arg is None:
            coeff, flat = coeff * f.coeff, flat + list(f.scalars)
        else:
            flat.append(f)
    scalars = tuple(flat)
    if isinstance(arg, MScale):
        coeff, scalars, arg = coeff * arg.coeff, scalars + arg.scalars, arg.arg
    if arg is not None and arg.rank == 0:
        scalars, arg = scalars + (arg,), None
    if coeff == 1 and not scalars and arg is not None:
        return arg
    if coeff == 1 and len(scalars) == 1 and arg is None:
        return scalars[0]
    if not scalars and arg is None:
        return MNum(coeff)
    return MScale(coeff, scalars, arg)


def transpose(m: MExpr) -> MExpr:
    """``Mᵀ``, pushed through products: (A B)ᵀ = Bᵀ Aᵀ, (u vᵀ)ᵀ = v uᵀ; (A ⊙ B)ᵀ stays."""
    if isinstance(m, MIdentity):
        return m
    if isinstance(m, MT):
        return m.arg
    if isinstance(m, MProd) and m.rank == 2:
        return MProd(tuple(transpose(f) for f in reversed(m.factors)))
    if isinstance(m, MOuter):
        return MOuter(m.v, m.u)
    if isinstance(m, MScale) and m.arg is not None:
        return MScale(m.coeff, m.scalars, transpose(m.arg))
    return MT(m)


def outer(u: MExpr, v: MExpr) -> MExpr:
    """``u vᵀ`` with scalings pulled out in front."""
    cu, su, u = _unscale(u)
    cv, sv, v = _unscale(v)
    return scale(cu * cv, su + sv, MOuter(u, v))


def _unscale(m: MExpr):
    """(coefficient, scalar factors, array or None): ``−2 s A`` is (−2, (s,), A)."""
    if isinstance(m, MScale):
        return m.coeff, m.scalars, m.arg
    return Fraction(1), (), m


# ---------------------------------------------------------------- common factors

def plus(terms) -> MExpr:
    """A sum with what its terms share taken out, each rule an identity of matrices:

        a B + c B        -> (a + c) B                (like terms: I + g I = (1 + g) I)
        2 a + 2 b        -> 2 (a + b);  s a + s b -> s (a + b)
        A X + B X        -> (A + B) X;  X A + X B -> X (A + B)
        a ⊙ h + b ⊙ h    -> (a + b) ⊙ h"""
    terms = _like_terms(tuple(terms))
    if len(terms) == 1:
        return terms[0]
    parts = [_unscale(t) for t in terms]
    coeffs = {abs(c) for c, _, _ in parts}
    c = min(coeffs) if len(coeffs) == 1 else 1
    c = -c if all(p[0] < 0 for p in parts) else c
    common = list(parts[0][1])
    for p in parts[1:]:                 # as many copies as every term has (s s a + s b)
        left = list(p[1])
        common = [s for s in common if s in left and not left.remove(s)]
    if c != 1 or common:
        rest = []
        for coeff, scalars, arg in parts:
            kept = list(scalars)
            for s in common:
                kept.remove(s)
            rest.append(scale(coeff / c, kept, arg))
        return scale(c, common, plus(rest))
    left, right = _shared_end(terms, 0), _shared_end(terms, -1)
    if left is not None or right is not None:
        return _take_end(terms, left, right)
    return _shared_hadamard(terms) or MAdd(terms)


def _like_terms(terms: tuple) -> tuple:
    """Terms with one array body merged: their scalar parts are added."""
    groups: dict = {}
    for t in terms:
        c, s, body = _unscale(t)
        array = body is not None and body.rank > 0
        groups.setdefault(body if array else id(t), []).append(scale(c, s, None))
    out = []
    for key, scalars in groups.items():
        if isinstance(key, int):
            out.extend(t for t in terms if id(t) == key)
        elif len(scalars) == 1:
            out.append(scale(1, scalars, key))
        elif all(isinstance(x, MNum) for x in scalars):      # A + A = 2 A
            out.append(scale(sum(x.value for x in scalars), (), key))
        else:
            out.append(scale(1, [plus(scalars)], key))
    return tuple(out)


def _shared_hadamard(terms) -> MExpr | None:
    parts = [_unscale(t) for t in terms]
    if any(arg is None or arg.rank == 0 for _, _, arg in parts):
        return None
    lists = [list(arg.factors) if isinstance(arg, MHad) else [arg] for _, _, arg in parts]
    common = []
    for f in lists[0]:                                 # the multiset intersection
        if all(fs.count(f) > common.count(f) for fs in lists):
            common.append(f)
    if not common:
        return None
    rest = []
    for (c, s, _), fs in zip(parts, lists):
        for f in common:
            fs.remove(f)
        rest.append(scale(c, s, hadamard(*fs) if fs else MNum(1)))
    return hadamard(plus(rest), *common)


def _shared_end(terms, k: int):
    """The matrix every term's product starts (k = 0) or ends (k = -1) with, if any."""
    ends = []
    for t in terms:
        t = _unscale(t)[2]
        if not isinstance(t, MProd) or t.factors[k].rank != 2:
            return None
        ends.append(t.factors[k])
    return ends[0] if all(e == ends[0] for e in ends) else None


def _take_end(terms, left, right) -> MExpr:
    parts = [_unscale(t) for t in terms]
    if right is not None:
        inner = plus([scale(c, s, prod(*t.factors[:-1])) for c, s, t in parts])
        return prod(inner, right)
    inner = plus([scale(c, s, prod(*t.factors[1:])) for c, s, t in parts])
    return prod(left, inner)


# ---------------------------------------------------------------- repeated applications

NOT_NAMED = ("diag", "tr", "sum")
NAMED_SIZE = 5                  # nodes: σ(−m) stays as it is, softmax(Q Kᵀ / sqrt(d)) is named


def children(m: MExpr) -> tuple[MExpr, ...]:
    out = []
    for v in vars(m).values():
        if isinstance(v, MExpr):
            out.append(v)
        elif isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, MExpr))
    return tuple(out)


def replace(m: MExpr, table: dict) -> MExpr:
    """``m`` with every subtree found in ``table`` replaced by its value."""
    if m in table:
        return table[m]
    fields = {}
    for k, v in vars(m).items():
        if isinstance(v, MExpr):
            fields[k] = replace(v, table)
        elif isinstance(v, tuple) and any(isinstance(x, MExpr) for x in v):
            fields[k] = tuple(replace(x, table) if isinstance(x, MExpr) else x for x in v)
    return type(m)(**{**vars(m), **fields}) if fields else m


def size(m: MExpr) -> int:
    return 1 + sum(size(c) for c in children(m))


def _calls(m: MExpr, found: list) -> None:
    if isinstance(m, MCall) and m.fn not in NOT_NAMED and size(m) >= NAMED_SIZE:
        found.append(m)
        return                                  # the outermost application only
    for c in children(m):
        _calls(c, found)


def name_repeats(forms: list, taken: set[str]):
    """Function applications of NAMED_SIZE nodes or more met twice or more in ``forms`` (matrix
    expressions; other items pass through): ``[(symbol, call)]`` and the forms using them."""
    found: list = []
    for m in forms:
        if isinstance(m, MExpr):
            _calls(m, found)
    named, table = [], {}
    for call in dict.fromkeys(found):
        if found.count(call) < 2:
            continue
        base = call.fn[0].upper() if call.rank == 2 else call.fn[0]
        symbol, k = base, 1
        while symbol in taken:
            k, symbol = k + 1, f"{base}{k + 1}"
        taken.add(symbol)
        named.append((symbol, call))
        table[call] = MName(symbol, call.rank)
    if not table:
        return [], forms
    return named, [replace(m, table) if isinstance(m, MExpr) else m for m in forms]


# ---------------------------------------------------------------- signs

def absorbed(m: MExpr) -> MExpr:
    """−A (B (y − ŷ) ⊙ h) -> A (B (ŷ − y) ⊙ h): a leading minus goes into a sum that
    the expression is linear in, when the sum then starts with a positive term."""
    c, s, arg = _unscale(m)
    if c >= 0 or arg is None:
        return m
    flipped = _flip(arg)
    return m if flipped is None else scale(-c, s, flipped)


def _flip(m: MExpr) -> MExpr | None:
    """``−m`` by negating one sum inside the linear positions of ``m``, or None."""
    if isinstance(m, MAdd):
        terms = [scale(-_unscale(t)[0], _unscale(t)[1], _unscale(t)[2]) for t in m.terms]
        lead = [t for t in terms if _unscale(t)[0] > 0]
        if not lead or all(_unscale(t)[0] > 0 for t in terms):
            return None
        first = terms.index(lead[0])
        return MAdd(tuple([terms[first]] + terms[:first] + terms[first + 1:]))
    if isinstance(m, (MProd, MHad)):
        for k, f in enumerate(m.factors):
            g = _flip(f)
            if g is not None:
                return type(m)(m.factors[:k] + (g,) + m.factors[k + 1:])
        return None
    if isinstance(m, MOuter):
        u = _flip(m.u)
        if u is not None:
            return MOuter(u, m.v)
        v = _flip(m.v)
        return None if v is None else MOuter(m.u, v)
    if isinstance(m, MT):
        g = _flip(m.arg)
        return None if g is None else MT(g)
    return None


# ---------------------------------------------------------------- symmetric matrices

def is_symmetric(m: MExpr, names: frozenset) -> bool:
    """``mᵀ = m``: a symmetric name, I, diag(v), inv of a symmetric matrix, a product
    read the same both ways (Xᵀ X, A S Aᵀ), sums and Hadamard products of such."""
    if isinstance(m, MName):
        return m.rank == 2 and m.name in names
    if isinstance(m, MIdentity):
        return True
    if isinstance(m, MCall):
        return (m.fn == "diag" and m.rank == 2) or \
            (m.fn == "inv" and is_symmetric(m.arg, names))
    if isinstance(m, MScale):
        return m.arg is not None and is_symmetric(m.arg, names)
    if isinstance(m, (MAdd, MHad)):
        parts = m.terms if isinstance(m, MAdd) else m.factors
        return m.rank == 2 and all(t.rank == 0 or is_symmetric(t, names) for t in parts)
    if isinstance(m, MProd) and m.rank == 2:
        fs = m.factors
        half = len(fs) // 2
        return all(fs[k] == transpose(fs[-1 - k]) for k in range(half)) and \
            (len(fs) % 2 == 0 or is_symmetric(fs[half], names))
    return False


def untransposed(m: MExpr, names: frozenset) -> MExpr:
    """``m`` with ``Sᵀ`` written ``S`` for every symmetric S."""
    if isinstance(m, MT) and is_symmetric(m.arg, names):
        return untransposed(m.arg, names)
    kids = children(m)
    if not kids:
        return m
    return replace(m, {k: untransposed(k, names) for k in kids})
