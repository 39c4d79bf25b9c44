"""Models and programs: what a parsed text is, and what a derivative compiles from.

A ``Model`` is the parsed, lowered text: its statements in order
(declarations, definitions, questions, checks, assumptions), with every
expression already in index form and every dimension settled.

A ``Program`` is a list of named bindings ``name[indices] = expr`` evaluated in
order, plus the names of the outputs.  Definitions of a model, the adjoints of
reverse-mode differentiation and the results of derivatives are all bindings;
the evaluators and the compiler run programs.  The axis order of a binding's
array is the order of its ``indices``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from indexcalc.display import text_html
from indexcalc.ir import Dim, Expr, Index, var_names


@dataclass(frozen=True)
class Span:
    """Where a statement or an expression is in the source text (1-based)."""
    line: int
    column: int


@dataclass(frozen=True)
class Declaration:
    name: str
    shape: tuple[Dim, ...]
    symmetric: bool = False
    span: Span | None = None


@dataclass(frozen=True)
class Definition:
    """``name[indices] = expr``.  ``matrix_form`` is true when the left-hand side
    was written without indices (``r = x W1 + b1``)."""
    name: str
    indices: tuple[Index, ...]
    expr: Expr
    matrix_form: bool = False
    span: Span | None = None
    source: str = ""                     # the statement as the user typed it


@dataclass(frozen=True)
class Wrt:
    """One variable a derivative is taken with respect to.  ``indices`` is None
    when the user named the whole variable (``dE/dW``, ``grad(E, W)``)."""
    name: str
    indices: tuple[Index, ...] | None = None


@dataclass(frozen=True)
class Question:
    """``dE/dz_k``, ``grad(E, W)``, ``jacobian(h, r)``, ``hessian(f, x)``.

    ``kind`` is "derivative", "grad", "jacobian" or "hessian"; ``wrt`` has one
    entry per differentiation (two for a Hessian).  ``of_indices`` is set when
    the user indexed the function (``dh_a/dr_b``)."""
    kind: str
    of: str
    wrt: tuple[Wrt, ...]
    of_indices: tuple[Index, ...] | None = None
    span: Span | None = None
    source: str = ""


@dataclass(frozen=True)
class Check:
    """``check QUESTION == CLAIM``: the claim's free indices are those of the
    question (the function's indices, then the variable's).  A chain
    ``check Q == e1 == e2`` has ``chain = (e1, e2)`` (``claim`` is e1); ``check δ2 =
    Q == e`` names the result ``δ2`` for later checks, where it stands for Q."""
    question: Question
    claim: Expr
    span: Span | None = None
    source: str = ""
    chain: tuple[Expr, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class Assume:
    """``assume LHS = RHS``: a fact simplification may use (``sum_j t_j = 1``)."""
    lhs: Expr
    rhs: Expr
    span: Span | None = None
    source: str = ""


Statement = Union[Declaration, Definition, Question, Check, Assume]


@dataclass(frozen=True)
class Model:
    """A parsed text.  ``shapes`` gives every tensor's shape (inputs and
    definitions); ``symmetric`` names the matrices declared symmetric."""
    statements: tuple[Statement, ...]
    shapes: dict[str, tuple[Dim, ...]] = field(default_factory=dict)
    symmetric: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()      # opaque functions used
    dims: frozenset[str] = frozenset()           # symbolic dimension names
    text: str = ""

    @property
    def definitions(self) -> dict[str, Definition]:
        return {s.name: s for s in self.statements if isinstance(s, Definition)}

    @property
    def declarations(self) -> dict[str, Declaration]:
        return {s.name: s for s in self.statements if isinstance(s, Declaration)}

    @property
    def questions(self) -> list[Question]:
        return [s for s in self.statements if isinstance(s, Question)]

    @property
    def checks(self) -> list[Check]:
        return [s for s in self.statements if isinstance(s, Check)]

    @property
    def assumptions(self) -> list[Assume]:
        return [s for s in self.statements if isinstance(s, Assume)]

    @property
    def inputs(self) -> list[str]:
        """Tensor names that are not defined: the arrays a user must supply."""
        defined = self.definitions
        return [n for n in self.shapes if n not in defined]

    def program(self) -> "Program":
        defs = self.definitions
        return Program(tuple(Binding(d.name, d.indices, d.expr) for d in defs.values()),
                       tuple(defs), dict(self.shapes))

    # ------------------------------------------------------------ display
    def summary(self) -> str:
        """One line: the inputs with their shapes, what is defined, what is asked."""
        shape = {n: "[" + ", ".join(map(str, s)) + "]" if s else "" for n, s in self.shapes.items()}
        parts = ["inputs " + (", ".join(n + shape[n] for n in self.inputs) or "none")]
        if self.definitions:
            parts.append("defines " + ", ".join(self.definitions))
        asked = [s.source.strip() or s.of for s in self.questions]
        asked += [s.source.strip() or "check" for s in self.checks]
        if asked:
            parts.append("asks " + "; ".join(asked))
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"<indexcalc.Model: {self.summary()}>"

    def _repr_html_(self) -> str:
        return text_html(self.text.strip() or "(empty)", title="indexcalc model",
                         note=self.summary())


@dataclass(frozen=True)
class Binding:
    name: str
    indices: tuple[Index, ...]
    expr: Expr


@dataclass(frozen=True)
class Program:
    """Bindings evaluated in order; ``outputs`` names the bindings wanted;
    ``shapes`` gives the shape of every input (and may give bindings' too);
    ``arguments`` names inputs taken even where no binding reads them (they fix
    the dimensions of a result such as ``∂tr(X)/∂X = I``)."""
    bindings: tuple[Binding, ...]
    outputs: tuple[str, ...]
    shapes: dict[str, tuple[Dim, ...]] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()

    def binding(self, name: str) -> Binding:
        for b in self.bindings:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def inputs(self) -> list[str]:
        bound = {b.name for b in self.bindings}
        seen: dict[str, None] = {}
        for b in self.bindings:
            for n in sorted(var_names(b.expr)):
                if n not in bound:
                    seen[n] = None
        for n in self.arguments:
            if n not in bound:
                seen[n] = None
        return list(seen)


def needed(bindings, roots) -> tuple[Binding, ...]:
    """The bindings that names ``roots`` depend on, in their original order: pruning
    (dead-binding elimination), shared by the derivative, reverse mode and the compiler.

    Bindings read only earlier bindings (a program is evaluated in order), so one
    backward scan finds them all."""
    wanted = set(roots)
    keep = []
    for b in reversed(bindings):
        if b.name in wanted:
            keep.append(b)
            wanted |= var_names(b.expr)
    return tuple(reversed(keep))
