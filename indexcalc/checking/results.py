"""What ``check`` answers: one ``Step`` verdict per link, gathered in a ``CheckResult``.

A result reads three ways: as text (``str``: the verdict of each check, the
first failing link named), as a short ``repr``, and in a notebook as Markdown
with the formulas typeset (``_repr_markdown_``; IPython's text display is the
whole verdict).  Judging lives in ``claims``; this module only says what was
judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexcalc.calculus.simplify import expand, factor, name_sums
from indexcalc.derivative import Derivative
from indexcalc.display import markdown_text
from indexcalc.errors import IndexcalcError
from indexcalc.ir import ZERO, Expr, Var, size
from indexcalc.model import Model
from indexcalc.read.latex import latex
from indexcalc.read.text import to_text


@dataclass
class Step:
    """The verdict on one link ``left == right`` of a check."""
    number: int
    left: str                                # as printed: ∂E/∂z_k, or the previous expression
    right: Expr | None                       # None: it could not be read (a shape mismatch)
    holds: bool
    kind: str | None = None                  # the class of mistake (mistakes.KINDS), or None
    message: str = ""                        # what is wrong, or how it was decided
    symbolic: bool = False                   # equal after canonicalisation too
    numerically: bool = False                # the numbers decided against the symbolic side
    assumption: str | None = None            # holds only under this
    declared: bool = False                   # ... which the model declares
    difference: Expr | None = None
    counterexample: str | None = None
    right_text: str = ""
    points: int = 0                          # random points at which both sides evaluated
    differing: int = 0                       # ... and at which they differ
    assumption_how: str = ""                 # how the assumption was found
    decided_by: str = ""                     # set when neither side decided (the shapes)

    @property
    def how(self) -> str:
        """How the verdict was reached: symbolically, numerically, or both."""
        at = _points(self.points)
        if self.decided_by:
            return self.decided_by
        if self.points == 0:
            proven = "symbolically" if self.symbolic else "the symbolic forms differ"
            return f"{proven}; no random point could evaluate both sides"
        if self.differing:
            against = ", against the symbolic side" if self.symbolic else ""
            return f"numerically{against}: the sides differ at {self.differing} of {at}"
        if self.symbolic:
            return f"symbolically and numerically, at {at}"
        return f"numerically, at {at}; the symbolic side could not decide"

    @property
    def verdict(self) -> str:
        if self.assumption is not None:
            return "holds under an assumption" if self.declared else "holds only if assumed"
        return "holds" if self.holds else "does not hold"

    @property
    def claim_text(self) -> str:
        return to_text(self.right) if self.right is not None else self.right_text

    def headline(self) -> str:
        if self.holds and self.assumption is None:
            return f"✓ holds ({self.how})"
        if self.holds:
            return (f"✓ holds when {self.assumption} (declared with `assume`; numerically, at "
                    f"{_points(self.points)})")
        how = f" ({self.assumption_how})" if self.assumption_how else ""
        if self.assumption is not None and self.assumption.endswith(" is symmetric"):
            return (f"~ holds only if {self.assumption}, which the model does not declare: "
                    f"declare it `symmetric` if it is{how}")
        if self.assumption is not None:
            return (f"~ holds only if {self.assumption}, which the model does not assume: "
                    f"add `assume` if it is true of your data{how}")
        return f"✗ does not hold ({self.how})"

    def details(self, model: Model, sides: str = "derivative − claim") -> list[str]:
        out = []
        if not self.holds and self.kind is not None and self.kind != "assumption":
            out.append(f"mistake ({self.kind}): {self.message}")
        elif self.message:
            out.append(self.message)
        if not self.holds and self.difference is not None and self.difference != ZERO:
            out.append(f"difference ({sides}):  {difference_text(self.difference, model)}")
        if self.counterexample and not self.holds:
            out.append(f"counterexample: {self.counterexample}")
        return out


@dataclass
class CheckResult:
    """The verdict on a check (or on several): ``holds`` when every step holds;
    ``steps`` has one ``Step`` per link; ``str()`` names the first failing one."""
    derivative: Derivative
    steps: list[Step]
    statements: list[tuple[str, list[Step], Derivative]] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return all(s.holds for s in self.steps)

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if not s.holds), None)

    def _main(self) -> Step:
        return self.failed or self.steps[-1]

    # the verdict of the step that decides, for one-claim checks and old callers
    claim = property(lambda self: self._main().right)
    symbolic = property(lambda self: self._main().symbolic)
    assumption = property(lambda self: self._main().assumption)
    declared = property(lambda self: any(s.declared for s in self.steps))
    difference = property(lambda self: self._main().difference)
    counterexample = property(lambda self: self._main().counterexample)
    kind = property(lambda self: self._main().kind)
    verdict = property(lambda self: self._main().verdict if self.holds or self.failed is None
                       else self.failed.verdict)

    def __str__(self) -> str:
        blocks = [_statement_text(title, steps, d) for title, steps, d in self.statements]
        if len(self.statements) > 1:
            failed = self.failed
            if failed is None:
                blocks.append(f"all {len(self.steps)} steps hold")
            else:
                k = self.steps.index(failed) + 1
                blocks.append(f"the first step that fails: step {k} ({failed.left} == "
                              f"{failed.claim_text})")
        return "\n\n".join(blocks)


    def __repr__(self) -> str:
        step = self._main()
        mark = "✓" if self.holds else "~" if step.assumption is not None else "✗"
        return f"<CheckResult {mark} {self.verdict}: {step.left} == {step.claim_text}>"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))                # IPython's text display: the whole verdict

    def _repr_markdown_(self) -> str:
        """The verdict, then the derivative, the claim and their difference typeset
        (a chain or several checks: the verdict as text)."""
        if len(self.steps) > 1:
            return f"```\n{self}\n```"
        step, model = self.steps[0], self.derivative.model
        out = [f"**{markdown_text(step.headline())}**", "derivative:",
               f"$${self.derivative.latex()}$$"]
        if step.right is not None:
            out += ["your claim:", f"$${latex(step.right)}$$"]
        else:
            out += [f"your claim: `{step.right_text}`"]
        if step.kind is not None and not step.holds and step.message:
            out.append(markdown_text(f"mistake ({step.kind}): {step.message}"))
        if not step.holds and step.difference is not None and step.difference != ZERO:
            shown, sums = difference_parts(step.difference, model)
            where = "".join(rf",\quad {latex(Var(n, ()))} = {latex(body)}" for n, body in sums)
            out += ["difference (derivative − claim):", f"$${latex(shown)}{where}$$"]
        if step.counterexample and not step.holds:
            out.append(markdown_text(f"counterexample: {step.counterexample}"))
        return "\n\n".join(out)


def _points(n: int) -> str:
    return f"{n} random point" + ("" if n == 1 else "s")


def _statement_text(title: str, steps: list[Step], d: Derivative) -> str:
    model = d.model
    if len(steps) == 1:
        s = steps[0]
        lines = [title, s.headline(), f"  derivative:  {d}"]
        if s.right is not None:
            lines.append(f"  your claim:  {s.claim_text}")
        lines += ["  " + x for x in s.details(model)]
        return "\n".join(lines)
    failed = next((s for s in steps if not s.holds), None)
    head = ("✓ every link holds" if failed is None else
            f"✗ link {failed.number} is the first that does not hold: "
            f"{failed.left} == {failed.claim_text}")
    lines = [title, head, f"  derivative:  {d}"]
    for s in steps:
        mark = "✓" if s.holds else ("~" if s.assumption else "✗")
        lines.append(f"  {mark} link {s.number}: {s.left} == {s.claim_text}   "
                     f"[{s.verdict}; {s.how}]")
        sides = "derivative − right side" if s.number == 1 else "left side − right side"
        lines += ["      " + x for x in s.details(model, sides)]
    return "\n".join(lines)


def difference_parts(difference: Expr, model: Model) -> tuple[Expr, list]:
    """The difference in its shortest form, with its sums named (``τ = Σ_j t_j``)."""
    shortest = factor(difference)
    try:
        expanded = factor(expand(difference))
        if size(expanded) < size(shortest):
            shortest = expanded
    except IndexcalcError:
        pass
    return name_sums(shortest, set(model.shapes))


def difference_text(difference: Expr, model: Model) -> str:
    shown, sums = difference_parts(difference, model)
    text = to_text(shown)
    if sums:
        text += "   where " + ", ".join(f"{s} = {to_text(b)}" for s, b in sums)
    return text
