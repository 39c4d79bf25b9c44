"""Matrix form: reading an index-form result back as matrix notation.

People check a derivative against the matrix formula in their notes
(``∂E/∂W = y (τ o − t)ᵀ``), so indexcalc prints one whenever the index form
has one, and says plainly why when it does not.  This module is the entry: it
turns a derivative (its named sums, the adjoints it keeps, the result) into
lines of matrix notation.  ``convert.py`` and ``network.py`` read one index
form as a matrix expression (``mexpr.py``), ``matrix_text.py`` spells it, and
``vec.py`` gives 3- and 4-index results as Kronecker products of vec forms.

A result with no matrix form comes back as its index-form definition, with a
comment line saying why (``# no matrix form: …``), or, for a Jacobian of a
matrix, with its vec form (``# vec form (…): ∂vec(Y)/∂vec(X) = Bᵀ ⊗ A``).
Every line that is not a comment is valid indexcalc input in the context of
the model; ``1`` and ``I`` take their size from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexcalc.calculus.reverse import DerivativeName
from indexcalc.calculus.simplify import simplify
from indexcalc.calculus.symmetry import symmetric_names
from indexcalc.display import text_html
from indexcalc.errors import LimitError
from indexcalc.ir import (Add, Const, Expr, Index, Mul, Sum, Var, add, mul, rebuild, summation,
                          var_names)
from indexcalc.read.convert import refuse_shifted, shifted, to_matrix
from indexcalc.read.matrix_text import MatrixPrinter
from indexcalc.read.mexpr import absorbed, name_repeats
from indexcalc.read.network import NoMatrixForm
from indexcalc.read.text import definition_text
from indexcalc.read.vec import CONVENTION, vec_form

__all__ = ["MatrixForm", "NoMatrixForm", "bindings_form", "expr_form", "line_form",
           "matrix_form", "matrix_text", "to_matrix"]


# ---------------------------------------------------------------- the API

@dataclass(frozen=True)
class MatrixForm:
    """Matrix notation for a result, as lines of indexcalc text.

    ``lines`` are definitions ``name = rhs`` (named intermediates first, the
    result last), and comment lines (``# …``) for what has no matrix notation;
    ``exact`` is False when some definition has no matrix form and is given in
    index form instead, with ``reason`` saying why.  ``vec`` is the Kronecker
    form of a 3- or 4-index result (``Bᵀ ⊗ A``) when it has one.  ``str()`` is
    the text, which parses in the context of the model."""
    lines: tuple[str, ...]
    exact: bool
    reason: str = ""
    result: str = ""                     # the right-hand side of the last definition
    layout: str = "column"
    vec: str = ""

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


def line_form(name: str, axes: tuple[Index, ...], expr: Expr,
              layout: str = "column") -> tuple[str, str, str]:
    """(line, rhs, reason): a matrix-form definition of ``name``, or its
    index-form definition with the reason when it has no matrix form."""
    try:
        if shifted(expr):                 # before the network reader, which assumes plain reads
            refuse_shifted(expr)
        rhs = matrix_text(expr, axes, layout)
        return f"{name} = {rhs}", rhs, ""
    except NoMatrixForm as e:
        line = definition_text(name, axes, expr)
        return line, line.split(" = ", 1)[1], e.reason


def bindings_form(bindings: list[tuple[str, tuple[Index, ...], Expr]],
                  layout: str = "column",
                  vec: tuple | None = None, taken: set[str] = frozenset(),
                  symmetric: frozenset[str] = frozenset()) -> MatrixForm:
    """Matrix form of bindings ``(name, axes, expr)`` in order, the last the result;
    ``vec`` is ``(lhs, rows, cols)`` for a Kronecker form of the result.  A function
    application met more than once (``softmax(Q Kᵀ / sqrt(d))`` three times in an
    attention gradient) is named once, first (a name not in ``taken``)."""
    forms = [_form(expr, tuple(axes), symmetric) for _, axes, expr in bindings]
    shared, forms = name_repeats(forms, set(taken) | {b[0] for b in bindings})
    printer = MatrixPrinter(layout, frozenset(symmetric))
    pending = [(sym, f"{sym} = {printer.text(m)}") for sym, m in shared]
    lines, reasons, rhs = [], [], ""
    for (name, axes, expr), m in zip(bindings, forms):
        if axes and isinstance(expr, Const) and expr.value == 0:     # dfdA_pq = 0: all zeros
            line = definition_text(name, axes, expr)
            rhs = "0"
        elif isinstance(m, NoMatrixForm):
            line = definition_text(name, axes, expr)
            rhs = line.split(" = ", 1)[1]
            reasons.append(f"{name}: {m.reason}")
        else:
            rhs = printer.text(m)
            line = f"{name} = {rhs}"
        lines += _named_for(line, pending)
        lines.append(line)
    lines[:0] = [text for _, text in pending]          # none, unless a use went unseen
    kron = ""
    if vec is not None and reasons and reasons[-1].startswith(f"{bindings[-1][0]}: "):
        lhs, rows, cols = vec
        try:
            kron = MatrixPrinter(layout).text(vec_form(bindings[-1][2], rows, cols))
        except NoMatrixForm as e:
            reasons[-1] += f"; no Kronecker form either: {e.reason}"
    if kron:
        lines.append(f"# vec form ({CONVENTION}): {lhs} = {kron}")
    elif reasons:
        lines.append("# no matrix form: " + "; ".join(reasons))
    return MatrixForm(tuple(lines), not reasons, "; ".join(reasons), rhs, layout, kron)


def _named_for(line: str, pending: list[tuple[str, str]]) -> list[str]:
    """The lines of the shared names ``line`` uses (and those they use), taken out of
    ``pending`` in their order: each is printed just before its first use, so after the
    bindings it reads (``ξ = sum(x)`` before ``t = tanh(… ξ …)``).  A name ends where
    no letter follows, ``ᵀ`` aside (a letter to the regex, a transpose here)."""
    used, grew = set(), True
    while grew:
        texts = [line] + [text for sym, text in pending if sym in used]
        new = {sym for sym, _ in pending
               if any(re.search(rf"(?<!\w){re.escape(sym)}(?!(?!ᵀ)\w)", t) for t in texts)}
        grew, used = new != used, new
    out = [text for sym, text in pending if sym in used]
    pending[:] = [(sym, text) for sym, text in pending if sym not in used]
    return out


def _form(expr: Expr, axes: tuple[Index, ...], symmetric):
    """The matrix expression of ``expr``, or the NoMatrixForm saying why not.  A factor
    taken out for the index form can leave a sum over terms that read differently
    (``a_p Σ_k e_k (δ_jp v_k − y_j t_pk)``), which has no matrix form while the sums of
    its terms do (``δ_jp (eᵀ v) − y_j (T e)_p``): those are tried when it has none."""
    try:
        return absorbed(to_matrix(expr, axes, symmetric))
    except NoMatrixForm as e:
        first = e
    spread = spread_sums(expr)
    if spread == expr:
        return first
    try:
        return absorbed(to_matrix(simplify(spread), axes, symmetric))
    except (NoMatrixForm, LimitError):
        return first


def spread_sums(e: Expr) -> Expr:
    """``Σ_k f (a + b)`` as ``Σ_k f a + Σ_k f b`` (the same value), everywhere."""
    if e.children:
        e = rebuild(e, tuple(spread_sums(c) for c in e.children))
    if not isinstance(e, Sum):
        return e
    factors = e.body.factors if isinstance(e.body, Mul) else (e.body,)
    for k, f in enumerate(factors):
        if isinstance(f, Add):
            rest = factors[:k] + factors[k + 1:]
            return add(*(summation(e.indices, mul(*rest, t)) for t in f.terms))
    return e


def expr_form(expr: Expr, axes: tuple[Index, ...], name: str = "result",
              layout: str = "column", taken: frozenset[str] = frozenset()) -> MatrixForm:
    """One expression's matrix form; a repeated call is named with a symbol that is
    none of ``taken`` (the model's names) and none of the names ``expr`` reads."""
    return bindings_form([(name, tuple(axes), expr)], layout,
                         taken=set(taken) | var_names(expr))


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
    return bindings_form(bindings, layout, _vec_question(d), taken,
                         symmetric_names(d.model))


def _vec_question(d):
    """(lhs, rows, cols) of the vec form of a derivative with 3 or 4 indices."""
    if len(d.wrt) == 1:
        rows, cols = d.out, d.wrt_indices[0]
        lhs = f"∂{_vec(d.of, rows)}/∂{_vec(d.wrt[0], cols)}"
    elif len(d.wrt) == 2 and not d.out:
        rows, cols = d.wrt_indices
        lhs = f"∂²{d.of}/∂{_vec(d.wrt[0], rows)}∂{_vec(d.wrt[1], cols)}ᵀ"
    else:
        return None
    if not (1 <= len(rows) <= 2 and 1 <= len(cols) <= 2) or len(rows) + len(cols) < 3:
        return None
    return lhs, tuple(rows), tuple(cols)


def _vec(name: str, ix) -> str:
    return f"vec({name})" if len(ix) == 2 else name


def _adjoint_symbols(names: list[str], taken: set[str]) -> dict[str, str]:
    """``∂E/∂z2 -> δ2`` (``δz`` when the digits would clash), as in backprop notes."""
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
