"""Matrix form: reading an index-form result back as matrix notation.

People check a derivative against the matrix formula in their notes
(``∂E/∂W = y (τ o − t)ᵀ``), so indexcalc prints one whenever the index form
has one, and says so plainly when it does not.  The index form is the truth:
a matrix formula is produced only by the exact rules below, never by guessing,
and a result they do not cover comes back in index form with the reason.

Each product term ``c Σ_B F1 F2 … Fk`` (output axes O, at most two) is read as
a tensor network whose nodes are the factors (each with 0–2 indices):

    δ_ab with a bound                   -> rename it away (Σ_a δ_ab x_a = x_b)
    δ_pq with p, q the two axes         -> diag(v_p), v the rest of the term
    x_i, y_i, … on one index            -> one vector x ⊙ y ⊙ …
    v_p on an axis p, M_p… elsewhere    -> v ⊙ (M …)  or  diag(v) M …
    A_pq, B_pq on the two axes          -> A ⊙ B
    A_ii, i bound only there            -> tr(A)

After these, every bound index joins exactly two matrices (a product), a
matrix and a vector (a matrix-vector product), two matrices and a vector
(``A diag(v) B``, or ``v ⊙ (B w)`` inside a vector chain) or is the one index
of a vector (``sum(v)``), and every axis is an end of exactly one node.  The
network is then a set of paths and cycles: a path between two axes is a
matrix product, a path from an axis to a vector a matrix-vector product, a
path between two vectors a number ``uᵀ A v``, a cycle a trace; two paths
ending on the two axes make an outer product ``u vᵀ``.  Anything else (an
index on three matrices, a sum along one axis of a matrix, a tensor of rank
three) has no matrix form.  Sums of terms become ``+`` of their forms, and
functions apply to the form of their argument.

Axis order: the form evaluates to the array whose axes are ``axes`` in that
order, which for a derivative is the indices of ``of`` then those of ``wrt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from indexcalc.calculus.deltas import contract_deltas
from indexcalc.calculus.reverse import DerivativeName
from indexcalc.display import text_html
from indexcalc.functions import constant_symbol
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
    mul,
    rebuild,
    rename,
    summation,
    unique_binders,
    walk,
)
from indexcalc.ir.affine import InRange
from indexcalc.read.operations import convolution_name
from indexcalc.read.matrix_text import (
    MAdd,
    MatrixPrinter,
    MCall,
    MExpr,
    MName,
    MNum,
    MOuter,
    MPow,
    diag,
    hadamard,
    prod,
    scale,
    total,
    trace,
    transpose,
)
from indexcalc.read.text import definition_text, to_text


class NoMatrixForm(Exception):
    """Raised inside the converter; ``reason`` says what has no matrix spelling."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _names(ix) -> str:
    return ", ".join(i.name for i in ix)


# ---------------------------------------------------------------- expressions

def to_matrix(expr: Expr, axes: tuple[Index, ...]) -> MExpr:
    """The matrix expression equal to ``expr`` as an array with axes ``axes``.
    Raises NoMatrixForm when there is none."""
    axes = tuple(axes)
    if len(axes) > 2:
        raise NoMatrixForm(f"the result has {len(axes)} indices ({_names(axes)}): "
                           "a tensor of rank above two has no matrix form")
    if not expr.free <= set(axes):
        raise AssertionError("axes must cover the free indices")
    return convert(unique_binders(expr, {i.name for i in axes}), axes)


def convert(e: Expr, axes: tuple[Index, ...]) -> MExpr:
    if isinstance(e, Add):
        return _add(e, axes)
    if isinstance(e, (Var, InRange)) and e.free and not getattr(e, "indices_plain", False) \
            or isinstance(e, Sum) and _shifted(e):
        _refuse_shifted(e)
    missing = set(axes) - e.free
    if missing:
        raise NoMatrixForm(f"a term does not depend on {_names(sorted(missing, key=str))}: "
                           "spreading it along an axis has no matrix form")
    if isinstance(e, Const):
        return MNum(e.value)
    if isinstance(e, DimSize):
        return MName(str(e.dim), 0)
    if isinstance(e, Var):
        return _var(e, axes)
    if isinstance(e, Delta):
        raise NoMatrixForm(f"the identity δ_{e.a}{e.b} has no spelling of its own here")
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


def _refuse_shifted(e: Expr):
    name = convolution_name(e)
    raise NoMatrixForm((f"it is {name}; " if name else "it reads at shifted positions; ")
                       + "a shifted sum is no matrix product (it would take a Toeplitz "
                       "matrix), so here is the index form")


def _shifted(e: Expr) -> bool:
    return any(isinstance(n, InRange) or isinstance(n, Var) and not n.indices_plain
               for n in walk(e))


def _var(e: Var, axes: tuple[Index, ...]) -> MExpr:
    if len(set(e.indices)) != len(e.indices):
        raise NoMatrixForm(f"{e.name}_{''.join(map(str, e.indices))} reads a diagonal; "
                           "only its sum, tr(...), has a matrix form")
    if len(e.indices) > 2:
        raise NoMatrixForm(f"{e.name} has {len(e.indices)} indices")
    leaf = MName(e.name, len(e.indices))
    return transpose(leaf) if len(axes) == 2 and e.indices != axes else leaf


def _apply(e: Apply, axes: tuple[Index, ...]) -> MExpr:
    batch = e.arg.free - set(e.over)
    if batch:
        raise NoMatrixForm(f"{e.fn} is applied along {_names(e.over)} for every "
                           f"{_names(sorted(batch, key=str))} (a batch)")
    if len(e.over) > 2 or len(e.out) > 2:
        raise NoMatrixForm(f"{e.fn} of a tensor of rank above two")
    if len(set(e.out)) != len(e.out):
        raise NoMatrixForm(f"{e.fn}(...)_{''.join(map(str, e.out))} reads a diagonal; only "
                           "its sum, tr(...), has a matrix form")
    call = MCall(e.fn, convert(e.arg, e.over), len(e.out), e.order)
    if len(axes) == 2 and e.out != axes:
        return transpose(call)
    return call


def _pow(e: Pow, axes: tuple[Index, ...]) -> MExpr:
    if e.exponent.free:
        raise NoMatrixForm("a power whose exponent has indices")
    if len(axes) == 2:
        raise NoMatrixForm("an elementwise power of a matrix (A^n would be a matrix power)")
    return MPow(convert(e.base, axes), convert(e.exponent, ()))


def _add(e: Add, axes: tuple[Index, ...]) -> MExpr:
    terms = []
    for t in e.terms:
        if t.free == set(axes) or not t.free:
            terms.append(convert(t, axes if t.free else ()))
        else:
            raise NoMatrixForm(f"a term with indices {_names(sorted(t.free, key=str))} is "
                               f"added to terms with indices {_names(axes)}")
    if len(axes) and all(t.rank == 0 for t in terms):
        raise NoMatrixForm("the sum does not depend on its axes")
    lead = next((k for k, t in enumerate(terms) if not _negative(t)), 0)
    terms.insert(0, terms.pop(lead))
    return MAdd(tuple(terms))


def _negative(t: MExpr) -> bool:
    coeff = getattr(t, "coeff", None)
    value = getattr(t, "value", None)
    return (coeff is not None and coeff < 0) or (value is not None and value < 0)


# ---------------------------------------------------------------- products

@dataclass
class Term:
    """A product term taken apart: coefficient, scalar factors, nodes by index."""
    coeff: Fraction
    scalars: list[MExpr]
    vectors: dict[Index, list[Expr]]          # index -> factors with only that index
    mats: list[tuple[tuple[Expr, ...], tuple[Index, Index]]]   # factors ⊙ on two indices
    traces: list[MExpr]
    bound: list[Index]


def _flatten(e: Expr) -> tuple[list[Index], list[Expr]]:
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
    bound, factors = contract_deltas(*_flatten(e))
    for k, f in enumerate(factors):
        if isinstance(f, Delta):                      # δ_pq on the two axes: a diagonal
            rest = [rename(g, {f.b: f.a}) for g in factors[:k] + factors[k + 1:]]
            inner = summation(bound, mul(*rest))
            if f.a not in inner.free:
                raise NoMatrixForm(f"the identity δ_{f.a}{f.b} has no spelling of its own here")
            return diag(convert(inner, (f.a,)))
    return _network(_split(bound, factors, axes), axes)


def _split(bound: list[Index], factors: list[Expr], axes: tuple[Index, ...]) -> Term:
    term = Term(Fraction(1), [], {}, [], [], list(bound))
    for f in factors:
        if isinstance(f, Const):
            term.coeff *= f.value
        elif not f.free:
            term.scalars.append(convert(f, ()))
        elif _diagonal_read(f):
            i = next(iter(f.free))
            if i not in bound or any(i in g.free for g in factors if g is not f):
                raise NoMatrixForm(f"{to_text(f)} reads a diagonal")
            whole = MName(f.name, 2) if isinstance(f, Var) else \
                MCall(f.fn, convert(f.arg, f.over), 2, f.order)
            term.traces.append(trace(whole))
        elif len(f.free) == 1:
            (i,) = f.free
            term.vectors.setdefault(i, []).append(f)
        elif len(f.free) == 2:
            term.mats.append(((f,), _order(f)))
        else:
            raise NoMatrixForm(f"a factor with {len(f.free)} indices "
                               f"({_names(sorted(f.free, key=str))})")
    for i in bound:
        if not any(i in f.free for f in factors):
            term.scalars.append(convert(DimSize(i.dim), ()))
    _merge_matrices(term, axes)
    return term


def _diagonal_read(f: Expr) -> bool:
    """A_ii or inv(A)_ii: a matrix read on its diagonal (summed, a trace)."""
    ix = f.indices if isinstance(f, Var) else f.out if isinstance(f, Apply) and not \
        (f.arg.free - set(f.over)) else ()
    return len(ix) == 2 and ix[0] == ix[1]


def _order(f: Expr) -> tuple[Index, Index]:
    if isinstance(f, Var):
        return tuple(f.indices)
    return tuple(sorted(f.free, key=lambda i: i.key))


def _merge_matrices(term: Term, axes: tuple[Index, ...]) -> None:
    """A_pq B_pq on the two axes -> one node A ⊙ B."""
    if len(axes) != 2:
        return
    on_axes = [m for m in term.mats if set(m[1]) == set(axes)]
    if len(on_axes) > 1:
        term.mats = [m for m in term.mats if m not in on_axes]
        term.mats.append((tuple(f for fs, _ in on_axes for f in fs), axes))


# ---------------------------------------------------------------- the network

def _network(term: Term, axes: tuple[Index, ...]) -> MExpr:
    """Paths and cycles of the term's nodes, each read as a product."""
    incident: dict[Index, list[int]] = {}
    for k, (_, pair) in enumerate(term.mats):
        for i in pair:
            incident.setdefault(i, []).append(k)
    _check_degrees(term, axes, incident)
    seen: set[int] = set()
    opened: list[MExpr] = []
    closed = list(term.scalars) + term.traces
    for p in axes:
        if not incident.get(p):
            opened.append(_vector(term, p))
        elif incident[p][0] not in seen:
            elems, end = _walk(term, incident, incident[p][0], p, axes, seen)
            if p in term.vectors:                     # v_p M_p…: v ⊙ (M …) or diag(v) M …
                elems.insert(0, ("diag", p))
            opened.append(_open_path(term, elems, end))
    for i in term.bound:
        if i in term.vectors and not incident.get(i):
            closed.append(_closed_vector(term, i))
        elif i in term.vectors and len(incident[i]) == 1 and incident[i][0] not in seen:
            elems, end = _walk(term, incident, incident[i][0], i, axes, seen)
            closed.append(prod(_vector(term, i), _open_path(term, elems, end)))
    for k in range(len(term.mats)):
        if k not in seen:
            start = term.mats[k][1][0]
            elems, _ = _walk(term, incident, k, start, axes, seen)
            closed.append(trace(prod(*(_piece(term, el) for el in elems))))
    return scale(term.coeff, closed, _join(opened, axes))


def _check_degrees(term: Term, axes, incident) -> None:
    for p in axes:
        count = len(incident.get(p, ()))
        if count + (p in term.vectors) == 0:
            raise NoMatrixForm(f"the term does not depend on {p}")
        if count > 1:
            raise NoMatrixForm(f"index {p} is kept by {count} factors that are not vectors "
                               "(a row-wise product of matrices)")
    for i in term.bound:
        m = len(incident.get(i, ()))
        if m == 1 and i not in term.vectors:
            raise NoMatrixForm(f"Σ_{i} sums a matrix along one axis")
        if m > 2:
            raise NoMatrixForm(f"index {i} is shared by {m} matrices")


def _walk(term: Term, incident, k: int, enter: Index, axes, seen: set[int]):
    """Follow the chain from matrix node ``k`` entered through ``enter``.  Returns the
    elements (("mat", k, from, to) and ("diag", i)) and how it ends: an axis, a
    vector's index (("vec", i)), or None for a cycle back to the start."""
    elems: list[tuple] = []
    start = k
    while True:
        seen.add(k)
        _, pair = term.mats[k]
        out = pair[1] if pair[0] == enter else pair[0]
        elems.append(("mat", k, enter, out))
        if out in axes:
            if out in term.vectors:
                elems.append(("diag", out))
            return elems, out
        others = [m for m in incident[out] if m != k]
        if not others:
            return elems, ("vec", out)
        if out in term.vectors:
            elems.append(("diag", out))
        if others[0] == start:
            return elems, None
        k, enter = others[0], out


def _piece(term: Term, el: tuple) -> MExpr:
    if el[0] == "diag":
        return diag(_vector(term, el[1]))
    fs, _ = term.mats[el[1]]
    return hadamard(*(convert(f, (el[2], el[3])) for f in fs))


def _closed_vector(term: Term, i: Index) -> MExpr:
    """Σ_i of vectors alone: ``sum(x)``, ``xᵀ y``, ``xᵀ (y ⊙ z)``."""
    vs = [convert(f, (i,)) for f in term.vectors[i]]
    return total(vs[0]) if len(vs) == 1 else prod(vs[0], hadamard(*vs[1:]))


def _vector(term: Term, i: Index) -> MExpr:
    return hadamard(*(convert(f, (i,)) for f in term.vectors[i]))


def _open_path(term: Term, elems: list[tuple], end) -> MExpr:
    """A path from an axis: a matrix (it ends on an axis) or a vector (it ends on a
    vector; diagonals on the way become ⊙ with what follows)."""
    if not isinstance(end, tuple):
        return prod(*(_piece(term, el) for el in elems))
    acc = _vector(term, end[1])
    for k, el in reversed(list(enumerate(elems))):
        if el[0] == "diag" and k == 0:                # on the axis itself: v ⊙ (…)
            acc = hadamard(_vector(term, el[1]), acc)
        elif el[0] == "diag":
            acc = hadamard(acc, _vector(term, el[1]))
        else:
            acc = prod(_piece(term, el), acc)
    return acc


def _join(opened: list[MExpr], axes: tuple[Index, ...]) -> MExpr | None:
    """The array part of a term from its open paths, in the order of the axes."""
    if not opened:
        return None
    if len(opened) == 1:
        return opened[0]
    u, v = opened
    return MOuter(u, v)


# ---------------------------------------------------------------- the API

@dataclass(frozen=True)
class MatrixForm:
    """Matrix notation for a result, as lines of indexcalc text.

    ``lines`` are definitions ``name = rhs`` (named intermediates first, the
    result last); ``exact`` is False when some line has no matrix form and is
    given in index form instead, with ``reason`` saying why.  ``str()`` is the
    text, which parses in the context of the model."""
    lines: tuple[str, ...]
    exact: bool
    reason: str = ""
    result: str = ""                     # the right-hand side of the last line
    layout: str = "column"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<MatrixForm ({self.layout} vectors): {'; '.join(self.lines)}>"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text)                # IPython's text display: the lines

    def _repr_html_(self) -> str:
        note = "" if self.exact else f"in index form where there is no matrix form: {self.reason}"
        return text_html(self.text, title=f"matrix form ({self.layout} vectors)", note=note)


def matrix_text(expr: Expr, axes: tuple[Index, ...], layout: str = "column") -> str:
    """The right-hand side in matrix notation; raises NoMatrixForm."""
    return MatrixPrinter(layout).text(to_matrix(expr, axes))


def line_form(name: str, axes: tuple[Index, ...], expr: Expr, layout: str = "column"
              ) -> tuple[str, str, str]:
    """(line, rhs, reason): a matrix-form definition of ``name``, or its
    index-form definition with the reason when it has no matrix form."""
    try:
        if _shifted(expr):
            _refuse_shifted(expr)
        rhs = matrix_text(expr, axes, layout)
        return f"{name} = {rhs}", rhs, ""
    except NoMatrixForm as e:
        line = definition_text(name, axes, expr)
        return line, line.split(" = ", 1)[1], e.reason


def bindings_form(bindings: list[tuple[str, tuple[Index, ...], Expr]],
                  layout: str = "column") -> MatrixForm:
    """Matrix form of bindings ``(name, axes, expr)`` in order, the last the result."""
    lines, reasons, rhs = [], [], ""
    for name, axes, expr in bindings:
        line, rhs, reason = line_form(name, tuple(axes), expr, layout)
        lines.append(line)
        if reason:
            reasons.append(f"{name}: {reason}")
    return MatrixForm(tuple(lines), not reasons, "; ".join(reasons), rhs, layout)


def expr_form(expr: Expr, axes: tuple[Index, ...], name: str = "result",
              layout: str = "column") -> MatrixForm:
    return bindings_form([(name, tuple(axes), expr)], layout)


def matrix_form(d, layout: str = "column", name: str | None = None) -> MatrixForm:
    """The matrix form of a Derivative: named sums (``τ = sum(t)``) and the
    adjoints it still uses (``δ2 = f'(z2) ⊙ L'(a2)``) first, then the result as
    ``name = …`` (``dEdW`` by default), with axes ``d.indices``."""
    taken = set(d.model.shapes) | set(d.model.functions)
    symbols = _adjoint_symbols([b.name for b in d.adjoints], taken)
    taken |= set(symbols.values())
    result = name or _result_name(d.of, d.wrt, taken)
    bindings = [(s, (), body) for s, body in d.sums]
    bindings += [(symbols[b.name], b.indices, _rename_vars(b.expr, symbols))
                 for b in d.adjoints]
    bindings.append((result, d.indices, _rename_vars(d.expr, symbols)))
    return bindings_form(bindings, layout)


def _adjoint_symbols(names: list[str], taken: set[str]) -> dict[str, str]:
    """``∂E/∂z2 -> δ2`` (``δz`` when the digits would clash), as in backprop notes."""
    import re
    out: dict[str, str] = {}
    targets = {n: n.wrt[-1] if isinstance(n, DerivativeName) else n for n in names}
    for n, t in targets.items():
        m = re.fullmatch(r"[A-Za-z]+(\d+)", t)
        digits = [re.fullmatch(r"[A-Za-z]+(\d+)", u) for u in targets.values()]
        clash = sum(1 for g in digits if g and m and g.group(1) == m.group(1)) > 1
        symbol = "δ" + (m.group(1) if m and not clash else re.sub(r"\W", "", t))
        k, base = 1, symbol
        while symbol in taken or symbol in out.values():
            k, symbol = k + 1, f"{base}{k + 1}"
        out[n] = symbol
    return out


def _result_name(of: str, wrt: tuple[str, ...], taken: set[str]) -> str:
    order = f"{len(wrt)}" if len(wrt) > 1 else ""
    base = f"d{order}{of}" + "".join(f"d{w}" for w in wrt)
    symbol, k = base, 1
    while symbol in taken:
        k, symbol = k + 1, f"{base}{k + 1}"
    return symbol


def _rename_vars(e: Expr, symbols: dict[str, str]) -> Expr:
    if isinstance(e, Var) and e.name in symbols:
        return Var(symbols[e.name], e.indices)
    if not e.children:
        return e
    return rebuild(e, tuple(_rename_vars(c, symbols) for c in e.children))
