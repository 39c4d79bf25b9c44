"""Checking a hand derivation: is the user's formula the derivative?

The claim is compared with indexcalc's derivative twice: symbolically, after
expanding both into canonical sums of products, and numerically at several
random points, the numbers deciding when the symbolic side cannot.  Opaque
functions (``f``, ``L``) get concrete stand-ins for the numbers (``f(x) =
sin(x + c)``), so general backprop rules are checked too.

The verdict is one of: holds; holds only under an assumption (one the model
declares, or a value of a named sum that makes the difference vanish: S1's
``o_k − t_k`` holds when ``Σ_j t_j = 1``); does not hold, with the simplified
difference and one numeric counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from indexcalc.api import parse
from indexcalc.calculus.diff import diff as differentiate_expr
from indexcalc.calculus.simplify import expand, factor, name_sums, simplify
from indexcalc.checking.numeric import random_arrays
from indexcalc.compiler.reference import evaluate_program
from indexcalc.derivative import Derivative, differentiate
from indexcalc.display import markdown_text
from indexcalc.errors import DerivativeError, IndexcalcError, ShapeError
from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.ir import (
    ZERO,
    Apply,
    Expr,
    Func,
    Var,
    add,
    const,
    delta,
    mul,
    rebuild,
    rename,
    size,
    sub,
    substitute,
    summation,
    var_names,
)
from indexcalc.model import Assume, Binding, Check, Model, Program, Question
from indexcalc.read.latex import latex
from indexcalc.read.text import to_text

SEEDS = (0, 1, 2)


@dataclass
class CheckResult:
    holds: bool
    derivative: Derivative
    claim: Expr
    symbolic: bool = False                   # equal after canonicalisation
    assumption: str | None = None            # holds only under this
    declared: bool = False                   # ... which the model declares
    difference: Expr | None = None
    counterexample: str | None = None
    note: str = ""
    claim_text: str = ""                     # as typed, when it could not be read as a claim

    @property
    def verdict(self) -> str:
        if self.assumption is not None:
            return "holds under an assumption" if self.declared else "holds only if assumed"
        return "holds" if self.holds else "does not hold"

    def __str__(self) -> str:
        d = self.derivative
        claim = to_text(self.claim) if self.claim is not None else self.claim_text
        lines = [f"check {d.lhs()} == {claim}"]
        if self.holds and self.assumption is None:
            how = "symbolically and numerically" if self.symbolic else "numerically"
            lines.append(f"✓ holds ({how}, at {len(SEEDS)} random points)")
        elif self.holds:
            lines.append(f"✓ holds when {self.assumption} (declared with `assume`)")
        elif self.assumption is not None:
            lines.append(f"~ holds only if {self.assumption}, which the model does not assume: "
                         "add `assume` if it is true of your data")
        else:
            lines.append("✗ does not hold")
        lines.append(f"  derivative:  {d}")
        if self.claim is not None:
            lines.append(f"  your claim:  {to_text(self.claim)}")
        if not self.holds and self.difference is not None and self.difference != ZERO:
            lines.append(f"  difference (derivative − claim):  {self.difference_text()}")
        if self.counterexample and not self.holds:
            lines.append(f"  counterexample: {self.counterexample}")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        claim = to_text(self.claim) if self.claim is not None else self.claim_text
        mark = "✓" if self.holds else "~" if self.assumption is not None else "✗"
        return f"<CheckResult {mark} {self.verdict}: {self.derivative.lhs()} == {claim}>"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))                # IPython's text display: the whole verdict

    def _repr_markdown_(self) -> str:
        """The verdict, then the derivative, the claim and their difference typeset."""
        text = str(self).splitlines()
        out = [f"**{markdown_text(text[1].strip())}**", "derivative:",
               f"$${self.derivative.latex()}$$"]
        if self.claim is not None:
            out += ["your claim:", f"$${latex(self.claim)}$$"]
        else:
            out += [f"your claim: `{self.claim_text}`"]
        if not self.holds and self.difference is not None and self.difference != ZERO:
            shown, sums = self.difference_parts()
            where = "".join(rf",\quad {latex(Var(n, ()))} = {latex(body)}" for n, body in sums)
            out += ["difference (derivative − claim):", f"$${latex(shown)}{where}$$"]
        out += [markdown_text(line.strip()) for line in text[2:]
                if line.strip().startswith(("counterexample:",)) or line.strip() == self.note]
        return "\n\n".join(out)

    def difference_parts(self) -> tuple[Expr, list]:
        """The difference in its shortest form, with its sums named (``τ = Σ_j t_j``)."""
        shortest = factor(self.difference)
        try:
            expanded = factor(expand(self.difference))
            if size(expanded) < size(shortest):
                shortest = expanded
        except IndexcalcError:
            pass
        return name_sums(shortest, set(self.derivative.model.shapes))

    def difference_text(self) -> str:
        shown, sums = self.difference_parts()
        text = to_text(shown)
        if sums:
            text += "   where " + ", ".join(f"{s} = {to_text(b)}" for s, b in sums)
        return text


def shape_mismatch(model: Model, question, claim_text: str, error: IndexcalcError) -> CheckResult:
    """A claim whose shape cannot be the derivative's: it does not hold, and why."""
    d = differentiate(model, question.of, list(question.wrt), question.of_indices)
    shape = " × ".join(str(i.dim) for i in d.indices) or "scalar"
    note = (f"{error.problem}; {d.lhs()} has shape ({shape}): the function's axes, then the "
            "variable's (the layout convention)")
    return CheckResult(False, d, None, note=note, claim_text=claim_text)


def check_statement(model: Model, stmt: Check) -> CheckResult:
    q = stmt.question
    with_assumptions = differentiate(model, q.of, list(q.wrt), q.of_indices)
    plain_model = replace(model, statements=tuple(s for s in model.statements
                                                  if not isinstance(s, Assume)))
    plain = differentiate(plain_model, q.of, list(q.wrt), q.of_indices)
    claim = stmt.claim
    result = _compare(plain, claim, model)
    if result.holds:
        return result
    if model.assumptions:
        under = _compare(with_assumptions, claim, model)
        if not under.holds:
            return under                   # report against what the model declares
        facts = "; ".join(a.source or f"{to_text(a.lhs)} = {to_text(a.rhs)}"
                          for a in model.assumptions)
        return CheckResult(True, with_assumptions, claim, under.symbolic,
                           assumption=facts.removeprefix("assume ").strip(), declared=True,
                           difference=result.difference)
    result.assumption = _vanishing_sum(result, model)
    return result


def _compare(d: Derivative, claim: Expr, model: Model) -> CheckResult:
    target = d.unnamed_expr
    missing = claim.free - frozenset(d.indices)
    if missing:
        raise IndexcalcError(f"the claim has free indices {sorted(i.name for i in missing)} "
                             f"that {d.lhs()} does not have")
    difference = simplify(sub(target, claim))
    symbolic = False
    try:
        symbolic = expand(difference) == ZERO
    except IndexcalcError:
        pass
    result = CheckResult(symbolic, d, claim, symbolic, difference=difference)
    if symbolic:
        return result
    worst = _numeric(d, claim, model)
    if worst is None:
        result.holds = True
        result.note = "the symbolic forms differ, but the numbers agree everywhere we looked"
    else:
        result.counterexample = worst
    return result


def _numeric(d: Derivative, claim: Expr, model: Model) -> str | None:
    """None if derivative and claim agree at every random point, else a description."""
    claimed = Binding("claim", d.indices, claim)
    program = replace(d.program, bindings=d.program.bindings + (claimed,),
                      outputs=(d.name, "claim"))
    program = _concrete(program)
    for seed in SEEDS:
        arrays = random_arrays(model, seed=seed, names=_inputs(program, model))
        values = evaluate_program(program, arrays)
        got, want = np.asarray(values[d.name]), np.asarray(values["claim"])
        want = np.broadcast_to(want, got.shape)
        err = np.abs(got - want)
        if not np.all(err <= 1e-7 + 1e-6 * np.abs(got)):
            pos = np.unravel_index(int(np.argmax(err)), err.shape) if err.shape else ()
            where = ", ".join(f"{i.name} = {p}" for i, p in zip(d.indices, pos))
            at = f" at {where}" if where else ""
            return (f"with random inputs (seed {seed}){at}, the derivative is "
                    f"{got[pos]:.6g} but the claim gives {want[pos]:.6g}")
    return None


def _inputs(program: Program, model: Model) -> list[str]:
    return [n for n in program.inputs if n in model.shapes]


# ---------------------------------------------------------------- opaque stand-ins

def _concrete(program: Program) -> Program:
    """Replace opaque functions by concrete ones with consistent derivatives:
    f^(k)(x) = sin^(k)(x + c_f); L(A) = Σ sin(A + c_L), so L' = cos(A + c_L)."""
    bindings = tuple(Binding(b.name, b.indices, _concrete_expr(b.expr))
                     for b in program.bindings)
    return replace(program, bindings=bindings)


def _shift(name: str) -> Expr:
    return const(Fraction(sum(map(ord, name)) % 7 + 1, 10))


def _sin_derivative(x: Expr, order: int) -> Expr:
    # sin, cos, −sin, −cos, ...
    base = Func("sin" if order % 2 == 0 else "cos", x)
    return mul(const(-1), base) if order % 4 >= 2 else base


def _concrete_expr(e: Expr) -> Expr:
    if e.children:
        e = rebuild(e, tuple(_concrete_expr(c) for c in e.children))
    if isinstance(e, Func) and e.name not in ELEMENTWISE:
        return _sin_derivative(add(e.arg, _shift(e.name)), e.order)
    if isinstance(e, Apply) and e.fn not in TENSOR:
        k = len(e.over)
        groups = [e.out[m * k:(m + 1) * k] for m in range(e.order)]
        if e.order == 0:
            return summation(e.over, _sin_derivative(add(e.arg, _shift(e.fn)), 0))
        # all derivative index groups sit on one component: deltas tie them together
        first = groups[0]
        ties = [delta(a, b) for g in groups[1:] for a, b in zip(first, g)]
        value = rename(add(e.arg, _shift(e.fn)), dict(zip(e.over, first)))
        return mul(_sin_derivative(value, e.order), *ties)
    return e


# ---------------------------------------------------------------- assumptions

def _vanishing_sum(result: CheckResult, model: Model) -> str | None:
    """If the difference vanishes when one named sum takes a constant value
    (``o_k (τ − 1)`` with ``τ = 1``), say which."""
    diff = result.difference
    if diff is None:
        return None
    shown, sums = name_sums(diff, set(model.shapes))
    for symbol, body in sums:
        slope = simplify(differentiate_expr(shown, symbol, ()))
        if slope == ZERO or symbol in var_names(slope):
            continue
        at_zero = simplify(substitute(shown, symbol, (), const(0)))
        for guess in (1, 0, -1):
            if expand(add(at_zero, mul(const(guess), slope))) == ZERO:
                return f"{to_text(body)} = {guess}"
    return None

# ---------------------------------------------------------------- the public entry point

def check(model: str | Model, claim: str):
    """Is the claimed formula the derivative?  ``claim`` is a check statement
    without the keyword: ``"dE/dz_k == o_k - t_k"``.  Returns a CheckResult
    (``.holds``; ``str()`` is the verdict)."""
    text = model.text if isinstance(model, Model) else model
    claim = claim.strip()
    if not claim.startswith("check"):
        claim = "check " + claim
    try:
        m = parse(f"{text}\n{claim}")
    except ShapeError as error:
        question_text, sep, claimed = claim.removeprefix("check").partition("==")
        if not sep:
            raise
        m = parse(f"{text}\n{question_text}")
        if not isinstance(m.statements[-1], Question):
            raise
        return shape_mismatch(m, m.statements[-1], claimed.strip(), error)
    if not isinstance(m.statements[-1], Check):
        raise DerivativeError(f"not a check: {claim!r} (write e.g. dE/dz_k == o_k - t_k)")
    return check_statement(m, m.statements[-1])

