"""Ranks from use: what an undeclared matrix-form name is, read off where it is written.

``f = 0.5 x' A x + c sin(y)' x`` needs no declarations: before a statement is
lowered, ``rank_hints`` reads its surface tree and gives each undeclared name
without indices a rank, by these rules (a name that is declared, defined, or
written with indices anywhere in the text is never hinted; declarations
override inference):

* transposed (``x'``, ``sin(y)ᵀ``), inside a norm (``||z − y||``), or the
  argument of a function of vectors or matrices (``softmax``, ``diag``, ``sum``,
  ``det``...): a vector, or a matrix when the name is capitalised (``Xᵀ``);
  ``det``, ``inv``, ``logdet`` and ``tr`` take a matrix;
* a factor of a matrix-form product (``A x``, ``x W1``, ``c x``): capitalised
  names (``A``, ``Σ``) are matrices; the letters a–g and lowercase Greek letters
  (``c``, ``λ``, ``α``) are scalar coefficients; other lowercase names are
  vectors (matrixcalculus.org's convention: a–g scalars, h–z vectors, A–Z matrices).

Where a name gets several hints the largest rank wins (``y yᵀ``: y is a vector).
A name no rule reaches keeps the older rules: it takes the shape of what it is
added to, and is otherwise an error that lists its possible readings
(``scope.rank_error``).
"""

from __future__ import annotations

from indexcalc.functions import ELEMENTWISE, TENSOR, canonical_name
from indexcalc.syntax import tree as S
from indexcalc.syntax.calls import OPAQUE_NAME

SCALAR, VECTOR, MATRIX = 0, 1, 2
MATRIX_ARGUMENT = ("det", "inv", "logdet", "tr", "trace", "norm2")
ARRAY_ARGUMENT = ("softmax", "log_softmax", "logsumexp", "diag", "sum", "norm", "norm1", "mean",
                  "var", "std", "dot", "outer")
ELEMENTWISE_OPS = (".*", "./")


def capital(name: str) -> bool:
    return name[:1].isupper()


def coefficient_letter(name: str) -> bool:
    """a–g, and lowercase Greek (λ, α, σ): scalars by convention."""
    first = name[:1]
    return ("a" <= first <= "g") or ("\u03b1" <= first <= "\u03c9")


def rank_hints(node, unknown) -> dict[str, int]:
    """Name -> rank for the names ``unknown(name)`` says are undeclared, from ``node``."""
    hints: dict[str, int] = {}

    def give(name: str, rank: int) -> None:
        if unknown(name):
            hints[name] = max(rank, hints.get(name, rank))

    def array(n) -> None:                       # n is (an elementwise expression of) arrays
        for name in _leaves(n):
            give(name, MATRIX if capital(name) else VECTOR)

    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (S.Transpose, S.Norm)):
            array(n.body)
        elif isinstance(n, S.Call):
            name = canonical_name(n.name)
            if name in MATRIX_ARGUMENT and n.over is None:
                for leaf in _leaves(n.args[0]):
                    give(leaf, MATRIX)
            elif (name in ARRAY_ARGUMENT or name in TENSOR) and n.over is None:
                array(n.args[0])
                if name in TENSOR:                   # softmax(z, T): T is a temperature
                    for a in n.args[1:]:
                        for leaf in _leaves(a):
                            give(leaf, SCALAR)
                else:
                    for a in n.args[1:]:
                        array(a)
            elif name in TENSOR and len(n.args) > 1:
                for a in n.args[1:]:
                    for leaf in _leaves(a):
                        give(leaf, SCALAR)
        elif isinstance(n, S.Chain):
            _product(n, give)
        stack.extend(S.children(n))
    return hints


def _product(n: S.Chain, give) -> None:
    if any(op in ELEMENTWISE_OPS for op, _ in n.factors[1:]) or len(n.factors) < 2:
        return
    if any(_index_form(f) for _, f in n.factors):
        return                  # an index-form product: its bare names are scalars (w x_i)
    for k, (op, f) in enumerate(n.factors):
        if op == "/":                            # x' x / c, x / (2 l^2): a divisor is a scalar
            for leaf in _divisor(f):
                give(leaf, SCALAR)
        elif (isinstance(f, S.Name) and f.indices is None and _before_parenthesis(n, k)
              and OPAQUE_NAME.fullmatch(f.name)):
            continue                             # f (z) may be a call: its other uses decide
        elif isinstance(f, S.Name) and f.indices is None:
            if capital(f.name):
                give(f.name, MATRIX)
            elif coefficient_letter(f.name) and k == 0:
                give(f.name, SCALAR)
            elif not coefficient_letter(f.name):
                give(f.name, VECTOR)
        elif isinstance(f, S.Call) and canonical_name(f.name) in ELEMENTWISE and k > 0:
            for leaf in _leaves(f.args[0]):
                give(leaf, MATRIX if capital(leaf) else VECTOR)


def _before_parenthesis(n: S.Chain, k: int) -> bool:
    if k + 1 >= len(n.factors):
        return False
    op, f = n.factors[k + 1]
    return op == "" and isinstance(f, S.Paren)


def _divisor(n) -> list[str]:
    """The bare lowercase names of a divisor, outside norms and tensor functions."""
    out, stack = [], [n]
    while stack:
        m = stack.pop()
        if isinstance(m, S.Name) and m.indices is None and not capital(m.name):
            out.append(m.name)
        elif isinstance(m, S.Terms):
            stack.extend(t for _, t in m.terms)
        elif isinstance(m, S.Chain):
            stack.extend(f for _, f in m.factors)
        elif isinstance(m, (S.Neg, S.Paren)):
            stack.append(m.body)
        elif isinstance(m, S.Power):
            stack.append(m.base)
        elif (isinstance(m, S.Call) and canonical_name(m.name) in ELEMENTWISE
              and len(m.args) == 1 and m.over is None):
            stack.append(m.args[0])                  # x / sqrt(d)
    return out


def _index_form(n) -> bool:
    """Is ``n`` written in index form (a subscript at its top: x_i, (W x)_i, f(z)_j, Σ_j)?"""
    if isinstance(n, S.Name):
        return n.indices is not None
    if isinstance(n, (S.Paren, S.Call)):
        return getattr(n, "indices", None) is not None or getattr(n, "out", None) is not None \
            or getattr(n, "over", None) is not None
    if isinstance(n, S.Power):
        return _index_form(n.base)
    return isinstance(n, S.SumOver)


def _leaves(n) -> list[str]:
    """The bare names of an elementwise expression: through + − ⊙ ./ unary minus,
    parentheses, powers' bases and elementwise calls."""
    out, stack = [], [n]
    while stack:
        m = stack.pop()
        if isinstance(m, S.Name) and m.indices is None:
            out.append(m.name)
        elif isinstance(m, S.Terms):
            stack.extend(t for _, t in m.terms)
        elif isinstance(m, (S.Neg, S.Transpose)) or (isinstance(m, S.Paren) and m.indices is None):
            stack.append(m.body)
        elif isinstance(m, S.Power):
            stack.append(m.base)
        elif isinstance(m, S.Chain) and all(op in ELEMENTWISE_OPS for op, _ in m.factors[1:]):
            stack.extend(f for _, f in m.factors)
        elif (isinstance(m, S.Call) and canonical_name(m.name) in ELEMENTWISE
              and len(m.args) == 1 and m.over is None):
            stack.append(m.args[0])
    return out
