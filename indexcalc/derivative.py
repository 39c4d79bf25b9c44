"""Derivatives of a model: the object users hold.

``derivative(model, wrt, of)`` chains the passes in one visible place:

    parse -> reverse mode over the definitions (reverse.py) -> simplify with the
    model's definitions folded back and its assumptions (simplify.py, rewrite.py)
    -> inline the adjoints while the formula stays small -> factor -> name sums

and returns a ``Derivative``: its closed form (``expr``, printed by ``str``), the
program that computes it (``program``: the model's definitions, the adjoints
still needed, the result), and the ways of reading and running it.

Layout convention: the derivative of Y (indices I) with respect to X (indices
J) has indices I followed by J; as an array its shape is ``Y.shape + X.shape``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING

from indexcalc.calculus.bound_names import model_indices, prefer_model_names, shifted
from indexcalc.calculus.reverse import DerivativeName, inline, reverse
from indexcalc.calculus.rules import model_rules
from indexcalc.calculus.simplify import (
    factor,
    name_sums,
    orient_deltas,
    roots,
    simplify,
    tidy,
)
from indexcalc.calculus.symmetry import symmetric_names, use_symmetry
from indexcalc import compiler, read
from indexcalc.display import Explanation
from indexcalc.errors import DerivativeError
from indexcalc.ir import (
    DimSize,
    Expr,
    Index,
    Var,
    add,
    const,
    fresh_index,
    mul,
    rename,
    substitute,
    var_names,
)
from indexcalc.limits import INLINE_BUDGET
from indexcalc.ir.affine import DimExpr
from indexcalc.ir.nodes import binders, walk
from indexcalc.model import Binding, Model, Program, Wrt, needed
from indexcalc.read.latex import latex as tex
from indexcalc.read.latex import latex_block, latex_definition
from indexcalc.read.text import definition_text, to_text
from indexcalc.syntax.subscripts import split_subscript

if TYPE_CHECKING:                       # NumPy loads with the compiler, not here
    import numpy as np

WRT_POOL = "pqrsuvwxyzabcdefghijklmnot"


@dataclass
class Derivative:
    """``∂of/∂wrt``: a closed form to read and a program to run."""
    model: Model
    of: str
    wrt: tuple[str, ...]
    out: tuple[Index, ...]              # the indices of ``of``
    wrt_indices: tuple[tuple[Index, ...], ...]
    expr: Expr                          # closed form (may use the adjoints in ``adjoints``)
    adjoints: tuple[Binding, ...]
    sums: list[tuple[str, Expr]] = field(default_factory=list)   # named sums: τ = Σ_j t_j
    _compiled: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------ naming
    @property
    def indices(self) -> tuple[Index, ...]:
        return self.out + tuple(i for group in self.wrt_indices for i in group)

    @property
    def name(self) -> DerivativeName:
        """``∂of/∂wrt`` as a string that keeps its parts (``.of``, ``.wrt``)."""
        return DerivativeName(self.of, self.wrt)

    @property
    def shape(self) -> tuple:
        return tuple(i.dim for i in self.indices)

    @cached_property
    def unnamed_expr(self) -> Expr:
        """The closed form with named sums (τ) written out."""
        e = self.expr
        for symbol, body in self.sums:
            e = substitute(e, symbol, (), body)
        return e

    def lhs(self, ascii: bool = False) -> str:
        top = to_text(Var(self.of, self.out), ascii=ascii)
        parts = [to_text(Var(n, ix), ascii=ascii) for n, ix in zip(self.wrt, self.wrt_indices)]
        d = "d" if ascii else "∂"
        order = len(self.wrt)
        if order == 1:
            return f"{d}{top}/{d}{parts[0]}"
        power = "²³⁴⁵⁶⁷⁸⁹"[order - 2] if not ascii and order <= 9 else f"^{order}"
        return f"{d}{power}{top}/" + "".join(f"{d}{p}" for p in parts)

    def text(self, ascii: bool = False) -> str:
        lines = [definition_text(b.name, b.indices, b.expr, ascii=ascii) for b in self.adjoints]
        main = f"{self.lhs(ascii)} = {to_text(self.expr, ascii=ascii)}"
        if self.sums:
            where = ", ".join(f"{to_text(Var(s, ()), ascii=ascii)} = {to_text(b, ascii=ascii)}"
                              for s, b in self.sums)
            main += f"   where {where}"
        return "\n".join(lines + [main])

    def __str__(self) -> str:
        return self.text()

    def latex(self) -> str:
        """LaTeX of the result: one equation, or (with named sums and adjoints) several
        aligned on their ``=`` in an ``aligned`` environment, which MathJax, KaTeX and
        LaTeX render as separate lines."""
        lines = self.latex_lines()
        return latex_block(lines) if len(lines) > 1 else lines[0]

    def latex_lines(self) -> list[str]:
        """The equations of ``latex()`` one by one (for matplotlib's mathtext, which
        renders no environments)."""
        lines = [latex_definition(b.name, b.indices, b.expr) for b in self.adjoints]
        top = tex(Var(self.of, self.out))
        bottom = " ".join(r"\partial " + tex(Var(n, ix))
                          for n, ix in zip(self.wrt, self.wrt_indices))
        order = len(self.wrt)
        d = r"\partial" if order == 1 else rf"\partial^{{{order}}}"
        lines.append(rf"\frac{{{d} {top}}}{{{bottom}}} = {tex(self.expr)}")
        lines += [f"{tex(Var(s, ()))} = {tex(b)}" for s, b in self.sums]
        return lines

    def matrix(self, layout: str = "column"):
        """The result in matrix notation (or the index form, saying why not)."""
        return read.matrix.matrix_form(self, layout=layout)

    def explain(self) -> Explanation:
        """The derivation step by step (a ``str``; a notebook shows it as text)."""
        return Explanation(read.explain.explain(self))

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    def _repr_markdown_(self) -> str:
        return f"$${self.latex()}$$"

    def __repr__(self) -> str:
        return f"<Derivative {self.text()}>"

    # ------------------------------------------------------------ running
    @cached_property
    def program(self) -> Program:
        """The model's definitions, the adjoints and the result, as one program."""
        result = Binding(self.name, self.indices, self.unnamed_expr)
        forward = tuple(self.model.program().bindings)
        bindings = forward + self.adjoints + (result,)
        # the derivative takes the arrays its function needs, and the variables
        arguments = [n for n in Program(needed(forward, [self.of]), ()).inputs]
        arguments += [w for w in self.wrt if w not in arguments and w not in self.model.definitions]
        kept = needed(bindings, [self.name])
        arguments += _carriers(self.model, arguments, _dims_used(kept))
        return Program(kept, (self.name,), dict(self.model.shapes),
                       tuple(a for a in arguments if a in self.model.shapes))

    def evaluate(self, /, **arrays) -> np.ndarray:
        """The derivative as an array of shape ``of.shape + wrt.shape``."""
        return self.compile()(**arrays)

    def evaluate_reference(self, /, **arrays) -> np.ndarray:
        """The same, by the simple reference evaluator (one einsum per term)."""
        return compiler.reference.evaluate_program(self.program, arrays)[self.name]

    def compile(self, backend: str = "numpy"):
        """A callable ``f(**arrays) -> ndarray``, compiled once per backend."""
        if backend not in self._compiled:
            self._compiled[backend] = compiler.program.compile_program(self.program,
                                                                       backend=backend)
        return self._compiled[backend]

    def plan(self, /, **arrays) -> list[tuple[str, object]]:
        """The compiled contractions' plans for these arrays: ``(einsum spec, PathInfo)``
        (opt_einsum's FLOPs and largest intermediate), in program order."""
        return self.compile().explain_plan(**arrays)

    def einsum(self, backend: str = "numpy"):
        """The einsum program's steps: ``Step(name, spec, operands, kind, target, code)``."""
        return compiler.export.einsum_steps(self.program, backend=backend)

    def python(self, backend: str = "numpy", name: str | None = None, *, einsum: bool = False,
               demo: bool = False, ascii: bool = False) -> str:
        """Python source of one function computing the derivative, to paste elsewhere:
        parameters named as in the model, input shapes checked, called ``name``
        (default ``dE_dW``).  ``einsum=True`` writes every contraction as an einsum;
        ``demo=True`` adds a random-input run under ``if __name__ == "__main__":``;
        ``ascii=True`` writes only ASCII (``θ`` becomes ``v_theta``)."""
        return compiler.export.python_source(self.program, backend=backend, name=name,
                                             einsum=einsum, demo=demo, ascii=ascii)


# ---------------------------------------------------------------- building


def differentiate(model: Model, of: str, wrt: list[Wrt], of_indices=None,
                  budget: int = INLINE_BUDGET, rules: tuple | None = None) -> Derivative:
    """The derivative of definition ``of`` with respect to each of ``wrt`` in turn.

    Adjoints are inlined into the closed form while it stays under ``budget``
    nodes; a program computing several derivatives passes 0, so that they all
    read the same named adjoints (backprop's δ's), computed once.  ``rules`` are
    ``model_rules(model)`` when the caller has them already (one per model, not
    one per derivative: they cost more than the derivative on a deep MLP)."""
    defs = model.definitions
    if of not in model.shapes:
        raise DerivativeError(f"'{of}' is not defined in the model; definitions: "
                              f"{', '.join(defs) or 'none'}")
    rules = model_rules(model) if rules is None else rules
    symmetric = symmetric_names(model)
    bindings = tuple(model.program().bindings)
    if of in defs:
        out = tuple(of_indices) if of_indices else defs[of].indices
    else:
        out = tuple(of_indices) if of_indices else _choose(model.shapes[of], set(), "ijkl")
    taken = {i.name for i in out}
    current, current_name, current_out = bindings, of, out
    adjoints: tuple[Binding, ...] = ()
    names, groups = [], []
    expr = None
    for w in wrt:
        if w.name not in model.shapes:
            raise DerivativeError(f"cannot differentiate with respect to '{w.name}': it is not "
                                  f"a variable of the model (variables: "
                                  f"{', '.join(model.shapes)})")
        idx = _wrt_indices(w, model.shapes[w.name], taken)
        taken |= {i.name for i in idx}
        adj, value = reverse(current, current_name, w.name, idx, current_out, rules)
        if w.name in model.symmetric and len(idx) == 2:
            value = _symmetrize(value, idx)
        left, value = inline(adj, value, rules, budget)
        if symmetric:                                   # C_qp = C_pq: like terms meet
            value = simplify(use_symmetry(value, symmetric), rules)
            left = [Binding(b.name, b.indices, simplify(use_symmetry(b.expr, symmetric), rules))
                    for b in left]
        value = tidy(value, rules)
        adjoints = adjoints + tuple(left)
        names.append(w.name)
        groups.append(idx)
        step_name = DerivativeName(of, tuple(names))
        current_out = current_out + idx
        current = tuple(current) + tuple(left) + (Binding(step_name, current_out, value),)
        current_name = step_name
        expr = value
    shown = factor(roots(orient_deltas(expr, out + tuple(i for g in groups for i in g))))
    if any(shifted(d.expr) for d in defs.values()):     # convolutions: see bound_names
        shown = prefer_model_names(shown, model_indices(
            [i for d in defs.values() for i in d.indices] + [d.expr for d in defs.values()]))
    shown, sums = name_sums(shown, set(model.shapes) | set(var_names(shown)))
    return Derivative(model, of, tuple(names), out, tuple(groups), shown, adjoints, sums)


def _wrt_indices(w: Wrt, shape, taken: set[str]) -> tuple[Index, ...]:
    """The indices of the variable: the user's (``dE/dW_pq``) or fresh ones."""
    if w.indices is None:
        return _choose(shape, taken, WRT_POOL)
    if len(w.indices) != len(shape):
        raise DerivativeError(f"'{w.name}' has {len(shape)} indices, not {len(w.indices)}")
    idx = tuple(Index(i.name, d) for i, d in zip(w.indices, shape))
    clash = {i.name for i in idx} & taken
    if clash:
        raise DerivativeError(f"index {sorted(clash)[0]} is used twice in the question")
    return idx


def _symmetrize(g: Expr, idx: tuple[Index, Index]) -> Expr:
    """The gradient with respect to a symmetric matrix: sym(G) = (G + Gᵀ)/2."""
    p, q = idx
    return simplify(mul(const(Fraction(1, 2)), add(g, rename(g, {p: q, q: p}))))


def _choose(shape, taken: set[str], pool: str) -> tuple[Index, ...]:
    out = []
    for d in shape:
        name = next((c for c in pool if c not in taken), None)
        idx = Index(name, d) if name else fresh_index(taken, d)
        taken = taken | {idx.name}
        out.append(idx)
    return tuple(out)


_WRT = re.compile(r"^\s*([^\s_\[\]{}]+)\s*(?:_\{?([^\]}]*)\}?|\[([^\]]*)\])?\s*$")


def parse_wrt(spec) -> Wrt:
    """``"W"``, ``"W_pq"``, ``"W[p,q]"`` or a Wrt."""
    if isinstance(spec, Wrt):
        return spec
    m = _WRT.match(str(spec))
    if not m:
        raise DerivativeError(f"cannot read the variable '{spec}' (write W, W_pq or W[p,q])")
    name, sub, bracket = m.groups()
    if sub is None and bracket is None:
        return Wrt(name)
    raw = f"[{bracket}]" if bracket is not None else f"_{{{sub}}}" if "," in sub else "_" + sub
    names = split_subscript(raw)                   # W_pq: one letter per index
    return Wrt(name, tuple(Index(n, "?") for n in names if n))


def _dims_used(bindings) -> list:
    """The dimensions the bindings are laid out in, sum over or take the size of."""
    out = []
    for b in bindings:
        out += [i.dim for i in b.indices]
        for n in walk(b.expr):
            out += [n.dim] if isinstance(n, DimSize) else [i.dim for i in binders(n)]
    return out


def _carriers(model: Model, arguments: list[str], dims) -> list[str]:
    """Inputs that fix a dimension no argument carries: ``∂h_i/∂s = 1`` for ``h_i = s −
    x_i + x_i`` reads no array of size n, and ``x`` fixes n; a definition ``h = W − W``
    (0, of W's shape) summed in ``g = det(A) − Σ tanh(h)`` reads none of size m."""
    carried = {d for a in arguments for d in model.shapes.get(a, ())}
    out = []
    for dim in dims:
        for d in (dim.symbols if isinstance(dim, DimExpr) else (dim,)):
            if isinstance(d, int) or d in carried:
                continue
            for n in model.inputs:
                if d in model.shapes.get(n, ()):
                    out.append(n)
                    carried |= set(model.shapes[n])
                    break
    return out
