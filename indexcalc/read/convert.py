"""From index form to a matrix expression: one rule per kind of node.

The index form is the truth: a matrix formula is produced only by the exact
rules here and in ``network.py`` (products), never by guessing, and a result
they do not cover raises ``NoMatrixForm`` with the reason in the model's terms.

    x_p, A_pq, A_qp                 -> x, A, Aᵀ;  A_pp -> diag(A)
    δ_pq on the two axes            -> I;  c δ_pq v_p -> diag(c v)
    f(X_pq), softmax_j(Z_pj)_q      -> f(X), softmax(Z) (row-wise for a batch)
    X_pq^2, X_pq^-1, sqrt(X_pq)     -> X ⊙ X, 1 / X, sqrt(X)
    a term missing an axis          -> an outer product with 𝟙 (x_p on p, q: x 𝟙ᵀ)
    Σ_B Π F                         -> the network of the factors (network.py); when a
                                       factor is a sum that no network reads (its terms
                                       use different indices), the product is multiplied
                                       out: p_j (δ_jp − p_p) -> diag(p) − p pᵀ

Axis order: the form evaluates to the array whose axes are ``axes`` in that
order, which for a derivative is the indices of ``of`` then those of ``wrt``.
"""

from __future__ import annotations

from fractions import Fraction

from indexcalc.calculus.deltas import contract_deltas
from indexcalc.functions import TENSOR, constant_symbol
from indexcalc.ir import (
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
    mul,
    rename,
    summation,
    unique_binders,
    walk,
)
from indexcalc.ir.affine import InRange
from indexcalc.read.mexpr import (
    MCall,
    MExpr,
    MIdentity,
    MName,
    MNum,
    MOnes,
    MPow,
    MScale,
    diag,
    hadamard,
    identity,
    outer,
    plus,
    scale,
    transpose,
    untransposed,
)
from indexcalc.read.network import NoMatrixForm, read_term
from indexcalc.read.operations import convolution_name
from indexcalc.read.text import to_text

DISTRIBUTE_TERMS = 12          # multiply out a product only into this many terms


def _names(ix) -> str:
    return ", ".join(i.name for i in ix)


def to_matrix(expr: Expr, axes: tuple[Index, ...], symmetric=frozenset()) -> MExpr:
    """The matrix expression equal to ``expr`` as an array with axes ``axes``, with no
    transpose on a matrix of ``symmetric`` (names).  Raises NoMatrixForm when there is
    none."""
    axes = tuple(axes)
    if len(axes) > 2:
        raise NoMatrixForm(f"it has {len(axes)} indices ({_names(axes)}): "
                           f"a tensor of rank {len(axes)} is not a matrix")
    if not expr.free <= set(axes):
        raise AssertionError("axes must cover the free indices")
    m = convert(unique_binders(expr, {i.name for i in axes}), axes)
    return untransposed(m, frozenset(symmetric)) if symmetric else m


def convert(e: Expr, axes: tuple[Index, ...]) -> MExpr:
    if isinstance(e, Add):
        return _add(e, axes)
    if isinstance(e, (Var, InRange)) and e.free and not getattr(e, "indices_plain", False) \
            or isinstance(e, Sum) and shifted(e):
        refuse_shifted(e)
    if set(axes) - e.free:
        return _broadcast(e, axes)
    if isinstance(e, Const):
        return MNum(e.value)
    if isinstance(e, DimSize):
        return MName(str(e.dim), 0)
    if isinstance(e, Var):
        return _var(e, axes)
    if isinstance(e, Delta):
        return MIdentity(e.a.dim)                  # δ_pq on the two axes
    if isinstance(e, Func):
        if (symbol := constant_symbol(e)) is not None:       # π, e
            return MName(symbol[0], 0)
        return MCall(e.name, convert(e.arg, axes), len(axes), e.order)
    if isinstance(e, Apply):
        return _apply(e, axes)
    if isinstance(e, Pow):
        return _pow(e, axes)
    if isinstance(e, (Mul, Sum)):
        return _product(e, axes)
    raise NoMatrixForm(f"no matrix form for {type(e).__name__} nodes")


def refuse_shifted(e: Expr):
    """No matrix form for a read at shifted positions: say which operation it is."""
    name = convolution_name(e)
    raise NoMatrixForm((f"it is {name}; " if name else "it reads at shifted positions; ")
                       + "a shifted sum is no matrix product (it would take a Toeplitz "
                       "matrix), so here is the index form")


def shifted(e: Expr) -> bool:
    return any(isinstance(n, InRange) or isinstance(n, Var) and not n.indices_plain
               for n in walk(e))


def _broadcast(e: Expr, axes: tuple[Index, ...]) -> MExpr:
    """A term constant along an axis: ``x_p`` on (p, q) is ``x 𝟙ᵀ``, ``c`` on (p,) is ``c 𝟙``."""
    have = tuple(i for i in axes if i in e.free)
    inner = convert(e, have)
    if len(axes) == 1:
        return scale(1, [inner], MOnes(axes[0].dim))
    p, q = axes
    if not have:
        return scale(1, [inner], outer(MOnes(p.dim), MOnes(q.dim)))
    return outer(inner, MOnes(q.dim)) if have == (p,) else outer(MOnes(p.dim), inner)


def _var(e: Var, axes: tuple[Index, ...]) -> MExpr:
    ix = e.indices
    if len(ix) == 2 and ix[0] == ix[1] and len(axes) == 1:
        return diag(MName(e.name, 2))                              # A_pp: diag(A)
    if len(set(ix)) != len(ix):
        raise NoMatrixForm(f"{to_text(e)} reads a diagonal of {e.name}")
    if len(ix) > 2:
        raise NoMatrixForm(f"{e.name} is a tensor of rank {len(ix)}")
    leaf = MName(e.name, len(ix))
    return transpose(leaf) if len(axes) == 2 and ix != axes else leaf


def _apply(e: Apply, axes: tuple[Index, ...]) -> MExpr:
    batch = tuple(sorted(e.arg.free - set(e.over), key=lambda i: i.key))
    if len(set(e.out)) != len(e.out):
        if len(axes) == 1 and not batch:
            return diag(MCall(e.fn, convert(e.arg, e.over), 2, e.order))
        raise NoMatrixForm(f"{to_text(e)} reads a diagonal")
    if batch:
        return _batch(e, batch, axes)
    if len(e.over) > 2 or len(e.out) > 2:
        raise NoMatrixForm(f"{e.fn} of a tensor of rank above two")
    call = MCall(e.fn, convert(e.arg, e.over), len(e.out), e.order)
    return transpose(call) if len(axes) == 2 and e.out != axes else call


def _batch(e: Apply, batch: tuple[Index, ...], axes: tuple[Index, ...]) -> MExpr:
    """softmax_j(Z_pj)_q of a batch: ``softmax(Z)``, which acts on each row."""
    entry = TENSOR.get(e.fn)
    if entry is None or entry.rank_in != 1 or len(batch) != 1:
        raise NoMatrixForm(f"{e.fn} is applied along {_names(e.over)} for every "
                           f"{_names(batch)}: only softmax, log_softmax and logsumexp "
                           "act on each row of a matrix")
    call = MCall(e.fn, convert(e.arg, batch + e.over), 1 + len(e.out), e.order)
    return transpose(call) if len(axes) == 2 and batch + e.out != axes else call


def _pow(e: Pow, axes: tuple[Index, ...]) -> MExpr:
    if e.exponent.free:
        raise NoMatrixForm("a power whose exponent has indices")
    if len(axes) < 2:
        return MPow(convert(e.base, axes), convert(e.exponent, ()))
    base = convert(e.base, axes)
    c = e.exponent.value if isinstance(e.exponent, Const) else None
    if c is not None and c == int(c) and 1 <= abs(c) <= 8:          # X ⊙ X, 1 / (X ⊙ X)
        whole = hadamard(*([base] * int(abs(c))))
        return whole if c > 0 else MPow(whole, MNum(Fraction(-1)))
    if c is not None and abs(c) == Fraction(1, 2):
        root = MCall("sqrt", base, 2)
        return root if c > 0 else MPow(root, MNum(Fraction(-1)))
    raise NoMatrixForm(f"the elementwise power {to_text(e)} of a matrix "
                       "(X^c would be a matrix power)")


def _add(e: Add, axes: tuple[Index, ...]) -> MExpr:
    terms = []
    for t in e.terms:
        if not t.free <= set(axes):
            raise NoMatrixForm(f"a term with indices {_names(sorted(t.free, key=str))} is "
                               f"added to terms with indices {_names(axes)}")
        terms.append(convert(t, axes) if t.free else convert(t, ()))
    if axes and all(t.rank == 0 for t in terms):
        return scale(1, [plus(_ordered(terms))], _ones(axes))
    return plus(_ordered(terms))


def _ones(axes: tuple[Index, ...]) -> MExpr:
    if len(axes) == 1:
        return MOnes(axes[0].dim)
    return outer(MOnes(axes[0].dim), MOnes(axes[1].dim))


def _ordered(terms: list[MExpr]) -> tuple[MExpr, ...]:
    """A positive term first, identity terms (``2 λ I``) and an ε (``v + 1e-5``) last;
    otherwise as given."""
    terms = sorted(terms, key=lambda t: (_is_identity(t), _small(t)))
    lead = next((k for k, t in enumerate(terms) if not _negative(t)), 0)
    terms.insert(0, terms.pop(lead))
    return tuple(terms)


def _small(t: MExpr) -> bool:
    return isinstance(t, MNum) and (not isinstance(t.value, Fraction)        # a decimal written
                                    or t.value.denominator != 1)


def _is_identity(t: MExpr) -> bool:
    return isinstance(t, MIdentity) or (isinstance(t, MScale) and isinstance(t.arg, MIdentity))


def _negative(t: MExpr) -> bool:
    coeff = getattr(t, "coeff", None)
    value = getattr(t, "value", None)
    return (coeff is not None and coeff < 0) or (value is not None and value < 0)


# ---------------------------------------------------------------- products

def flatten(e: Expr) -> tuple[list[Index], list[Expr]]:
    """``Σ_B Π F`` with nested sums merged (binders are unique)."""
    bound: list[Index] = []
    factors: list[Expr] = []
    stack = [e]
    while stack:
        f = stack.pop()
        if isinstance(f, Sum):
            bound.extend(f.indices)
            stack.append(f.body)
        elif isinstance(f, Mul):
            stack.extend(reversed(f.factors))
        else:
            factors.append(f)
    return bound, factors


def _product(e: Expr, axes: tuple[Index, ...]) -> MExpr:
    bound, factors = contract_deltas(*flatten(e))
    for k, f in enumerate(factors):
        if isinstance(f, Delta):                      # δ_pq on the two axes: a diagonal
            rest = [rename(g, {f.b: f.a}) for g in factors[:k] + factors[k + 1:]]
            inner = summation(bound, mul(*rest))
            if f.a not in inner.free:                 # c δ_pq = c I
                return identity(f.a.dim, 1, [convert(inner, ())])
            return diag(convert(inner, (f.a,)))
    scalars = [f for f in factors if not f.free and not isinstance(f, Const)]
    if scalars and any(isinstance(f, Add) for f in factors):     # (Σ …)/√d: √d stays outside
        rest = summation(bound, mul(*(f for f in factors if f not in scalars)))
        return scale(1, [convert(f, ()) for f in scalars], convert(rest, axes))
    spread = _distributed(bound, factors)
    if spread is not None and any(_spreads(f) for f in factors):
        try:                                  # p_j (δ_jp − p_p) -> diag(p) − p pᵀ
            return convert(spread, axes)
        except NoMatrixForm:
            pass
    try:
        return read_term(factors, bound, axes, convert, to_text)
    except NoMatrixForm as first:
        if spread is None:
            raise
        try:
            return convert(spread, axes)
        except NoMatrixForm:
            raise first from None


def _spreads(f: Expr) -> bool:
    """A sum whose terms would need a ones vector to be added (δ_jp − p_p), not only a
    scalar broadcast (1 − h_j)."""
    return isinstance(f, Add) and any(t.free and t.free != f.free for t in f.terms)


def _distributed(bound: list[Index], factors: list[Expr]) -> Expr | None:
    """The product multiplied out over its sum factor whose terms differ most in their
    indices (``Σ (a + b) c = Σ a c + Σ b c``), or None when there is none to spread."""
    sums = [k for k, f in enumerate(factors) if isinstance(f, Add)]
    size = 1
    for k in sums:
        size *= len(factors[k].terms)
    if not sums or size > DISTRIBUTE_TERMS:
        return None
    k = max(sums, key=lambda k: (len({t.free for t in factors[k].terms}),
                                 len(factors[k].free)))
    others = factors[:k] + factors[k + 1:]
    return add(*(summation(bound, mul(t, *others)) for t in factors[k].terms))
