"""Checking a hand derivation: is the user's formula the derivative, and if not, where
and how did it go wrong?

A check is ``check dE/dz_k == e1 == e2 ...``: a chain of links, the first
between the derivative and ``e1``, each next one between two of the user's own
expressions.  A check may name its last expression (``check δ2 = dE/dz2 ==
...``) for later checks to use; a later step is judged on its own reasoning,
with ``δ2`` standing for the derivative it names.

Each link gets a ``Step`` verdict.  The numbers decide it: both sides are
evaluated through the model's own program at printable random points
(``evaluation``); the symbolic side (``symbolic``: canonical forms, names
unfolded until both sides use the same ones) says whether it also holds
symbolically, and the verdict says when the two disagree and the numbers
decided.  A link that fails is classified as one of the common mistakes
(``mistakes.KINDS``, with a smaller difference to look at), or as holding only
under an assumption (``assumptions``), and comes with a counterexample whose
inputs are printed exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from indexcalc.api import parse
from indexcalc.calculus.rewrite import Rule
from indexcalc.calculus.simplify import simplify
from indexcalc.checking.assumptions import symmetric_input, vanishing_sum
from indexcalc.checking.evaluation import (
    Values,
    evaluate_sides,
    point_text,
    worst_entry,
)
from indexcalc.checking.mistakes import structural_kind, terms_left_out
from indexcalc.checking.numeric_kinds import numeric_kind
from indexcalc.checking.results import CheckResult, Step
from indexcalc.checking.symbolic import Names, comparable, compare
from indexcalc.derivative import Derivative, differentiate
from indexcalc.errors import (
    DerivativeError,
    EvaluationError,
    IndexcalcError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.ir import DimSize, Expr, var_names
from indexcalc.ir.nodes import binders, walk
from indexcalc.model import Assume, Check, Model, Question
from indexcalc.read.text import to_text

# ---------------------------------------------------------------- one check statement

def check_statement(model: Model, stmt: Check) -> CheckResult:
    """The verdict on ``stmt``, read in ``model`` (the statements before it)."""
    q = stmt.question
    plain_model = replace(model, statements=tuple(s for s in model.statements
                                                  if not isinstance(s, Assume)))
    d = differentiate(plain_model, q.of, list(q.wrt), q.of_indices)
    assumed = differentiate(model, q.of, list(q.wrt), q.of_indices) if model.assumptions \
        else None
    chain = tuple(getattr(stmt, "chain", ()) or (stmt.claim,))
    steps = named_steps(model, stmt)
    for e in chain:
        _known(model, e, steps, d)
    judge = _Judge(model, d, assumed, list(chain), steps)
    verdicts = [judge.link(k) for k in range(1, len(chain) + 1)]
    shown = assumed if assumed is not None and not verdicts[0].holds else d
    if assumed is not None and verdicts[0].declared:
        shown = assumed
    title = "check " + " == ".join([_title_name(stmt) + d.lhs()] + [to_text(e) for e in chain])
    return CheckResult(shown, verdicts, [(title, verdicts, shown)])


def _title_name(stmt: Check) -> str:
    name = getattr(stmt, "name", None)
    return f"{name} = " if name else ""


def named_steps(model: Model, stmt: Check) -> list[tuple[str, Derivative]]:
    """The names earlier checks gave to their results (``δ2``), and the derivative
    each stands for."""
    out = []
    for s in model.statements:
        if s is stmt:
            break
        name = getattr(s, "name", None)
        if isinstance(s, Check) and name:
            q = s.question
            out.append((name, differentiate(model, q.of, list(q.wrt), q.of_indices)))
    return out


def _known(model: Model, claim: Expr, steps, d: Derivative) -> None:
    """A claim may use what the model declares or defines (and named steps): any
    other name is refused, never taken as a new input."""
    known = set(model.declarations) | set(model.definitions) | {n for n, _ in steps}
    for s in model.statements:
        if hasattr(s, "expr") and not isinstance(s, Question):
            known |= var_names(s.expr)
        if isinstance(s, Assume):
            known |= var_names(s.lhs) | var_names(s.rhs)
    unknown = sorted(var_names(claim) - known)
    if unknown:
        _refuse(unknown[0])


_STEP_NAME = re.compile(r"^\s*[^\W\d]\w*\s*=(?!=)")
SHAPE_VERDICTS = ("the claim's shape does not match", "the claim has rank")
_RANK = re.compile(r"cannot infer the rank of (\S+?);")


def _refuse(name: str):
    if name == "I":
        raise UnknownNameError(
            "the claim uses I, which the model does not declare: write the identity as a "
            "delta in index form (δ_ij), or declare a tensor named I")
    raise UnknownNameError(
        f"the claim uses {name!r}, which the model neither declares nor defines; a claim may "
        f"use the model's tensors, its definitions and the names earlier checks give "
        f"(check δ2 = dE/dz2 == ...)")


@dataclass
class _Judge:
    model: Model
    d: Derivative
    assumed: Derivative | None
    chain: list[Expr]
    steps: list[tuple[str, Derivative]]
    values_assumed: Values | None = None

    def __post_init__(self):
        self.values = evaluate_sides(self.d, self.chain, self.steps)
        self._batches: dict = {}
        bodies = {n: (b.indices, b.expr) for n, b in self.model.definitions.items()}
        for name, named in self.steps:
            bodies.update({b.name: (b.indices, b.expr) for b in named.adjoints})
            bodies[name] = (named.indices, named.unnamed_expr)
        bodies.update({b.name: (b.indices, b.expr) for b in self.d.adjoints})
        self.names = Names(bodies)
        self.wide = self.values.wider()
        self.assume_rules = [Rule(simplify(a.lhs), simplify(a.rhs))
                             for a in self.model.assumptions if a.rhs.free <= a.lhs.free]

    def batch(self, seeds, scale: float, jitter: float = 0.0) -> Values:
        """Every side at the points ``seeds`` drawn at ``scale``, evaluated once per
        judge (a chain's links and the kinds of a failing one share them)."""
        key = (seeds, scale, jitter)
        if key not in self._batches:
            self._batches[key] = evaluate_sides(self.d, self.chain, self.steps, seeds=seeds,
                                                scale=scale, jitter=jitter)
        return self._batches[key]

    def left_expr(self, k: int) -> Expr:
        return self.d.unnamed_expr if k == 1 else self.chain[k - 2]

    def link(self, k: int) -> Step:
        """Link k: side k − 1 == side k (side 0 is the derivative)."""
        left, right = self.left_expr(k), self.chain[k - 1]
        lhs = self.d.lhs() if k == 1 else to_text(left)
        if k == 1:
            missing = right.free - frozenset(self.d.indices)
            if missing:
                raise IndexcalcError(f"the claim has free indices "
                                     f"{sorted(i.name for i in missing)} that {self.d.lhs()} "
                                     f"does not have")
        sym = compare(left, right, self.names)
        agree = self.values.agree(k - 1, k)
        if agree and sym.equal is not True:          # the numbers alone: look harder
            for seeds, scale in self.wide:
                more = self.batch(seeds, scale)
                if scale > 1 and more.agree(k - 1, k) is False and more.agree_where_stable(
                        k - 1, k, self.batch(seeds, scale, jitter=1e-9)) is not False:
                    continue                 # they differ only where the numbers are noise
                self.values.extend(more)
                agree = self.values.agree(k - 1, k)
                if not agree:
                    break
        why = ("no random point could evaluate both sides (outside a function's domain)"
               if not self.values.finite_at(k - 1, k) else
               "at every random point the sides differ by no more than the round-off of "
               "the large terms they add up")
        if agree is None and sym.equal is not True:
            raise EvaluationError(
                f"cannot decide {lhs} == {to_text(right)}: {why}, and canonical forms that "
                "differ do not prove the sides unequal; write the claim so that its values "
                "are defined at ordinary inputs and its terms do not cancel, or compare it "
                "by hand")
        points, differing = self.values.count(k - 1, k)
        step = Step(k, lhs, right, bool(agree) if agree is not None else sym.equal is True,
                    symbolic=sym.equal is True, difference=sym.difference, points=points,
                    differing=differing)
        if agree is None:
            step.message = f"{why}; decided symbolically"
        elif agree and sym.equal is not True:
            step.numerically = True
            step.message = ("decided numerically: the symbolic forms differ (or are too large "
                            "to compare), but the numbers agree at every point")
        elif not agree and sym.equal is True:
            step.numerically = True
            step.message = ("decided numerically: the symbolic forms agree, but the numbers do "
                            "not (the simplification assumed something the inputs break)")
        if step.holds:
            return step
        if self.model.assumptions and self._holds_as_assumed(k, step):
            return step
        self._explain(k, step, left, right)
        return step

    def _holds_as_assumed(self, k: int, step: Step) -> bool:
        """Does link k hold once the model's assumptions are used?"""
        if k == 1:
            truth = self.assumed
            right = self.chain[0]
        else:
            truth = self.d
            right = simplify(self.chain[k - 1], self.assume_rules)
        sides = [right] if k == 1 else [simplify(self.chain[k - 2], self.assume_rules), right]
        values = evaluate_sides(truth, sides, self.steps)
        a, b = (0, 1) if k == 1 else (1, 2)
        if not values.agree(a, b):
            if k == 1:            # report against what the model declares
                self.values_assumed = values
            return False
        facts = "; ".join(a.source or f"{to_text(a.lhs)} = {to_text(a.rhs)}"
                          for a in self.model.assumptions)
        step.holds, step.declared = True, True
        step.points, step.differing = values.count(a, b)
        step.assumption = facts.removeprefix("assume ").strip()
        step.message, step.numerically = "", False
        return True

    def _explain(self, k: int, step: Step, left: Expr, right: Expr) -> None:
        """The kind of mistake, the difference to show and a counterexample."""
        values, a, b = self.values, k - 1, k
        if k == 1 and self.assumed is not None:
            left = self.assumed.unnamed_expr
            values, a, b = self.values_assumed, 0, 1
            sym = compare(left, right, self.names)
            step.difference = sym.difference
        step.counterexample = counterexample(values, a, b, k == 1)
        found = numeric_kind(values, a, b)
        if found is not None and values is self.values and not self._seen_widely(found, a, b):
            found = None                     # the terms say which mistake it is
        if found is None:
            found = self._assumption(k, step, left, right)
        if found is None and var_names(left) != var_names(right):
            found = terms_left_out(left, right)
        for lc, rc in comparable(left, right, self.names) if found is None else ():
            found = structural_kind(lc, rc)
            if found is not None:
                break
        if found is not None:
            step.kind, step.message = found
            if step.kind == "assumption":
                step.message = ""

    def _seen_widely(self, found, a: int, b: int) -> bool:
        """Does the kind the first points show hold at the wider ones too (inputs scaled
        down and up; where a step is, the stepped points)?  Points that never cross a
        step make ``2 step(4 − 2 W) − 3`` look like the negative of ``2 step(4 − 2 W)
        − 1``, and a wrong kind is no better than a wrong verdict."""
        wide = self.values.copy()
        for seeds, scale in self.wide:
            wide.extend(self.batch(seeds, scale))
        return numeric_kind(wide, a, b) == found

    def _assumption(self, k: int, step: Step, left: Expr, right: Expr):
        truth = self.assumed or self.d
        named = vanishing_sum(step.difference, self.model)
        how = "symbolically: the difference vanishes then"
        if named is None:
            sides_left = None if k == 1 else left
            found = symmetric_input(truth, sides_left, right, self.steps)
            if found is not None:
                matrix, points = found
                named = f"{matrix} is symmetric"
                how = f"numerically, at {points} random points where it is"
        if named is None:
            return None
        step.assumption, step.assumption_how = named, how
        return "assumption", ""


def counterexample(values: Values, a: int, b: int, first: bool) -> str | None:
    p = values.first_disagreement(a, b)
    if p is None:
        return None
    x, y = values.sides[a][p], values.sides[b][p]
    pos = worst_entry(x, y)
    where = ", ".join(f"{i.name} = {q}" for i, q in zip(values.indices, pos))
    left, right = ("the derivative", "the claim") if first else ("the left side",
                                                                 "the right side")
    at = f" at {where}" if where else ""
    return (f"with {point_text(values, p, a, b)}:{at} {left} is {x[pos]:.6g} but {right} gives "
            f"{y[pos]:.6g}")


# ---------------------------------------------------------------- shapes that cannot match

def shape_mismatch(model: Model, question, claim_text: str, error: IndexcalcError) -> CheckResult:
    """A claim whose shape cannot be the derivative's: it does not hold, and why."""
    d = differentiate(model, question.of, list(question.wrt), question.of_indices)
    shape = " × ".join(str(i.dim) for i in d.indices) or "scalar"
    message = (f"{error.problem}; {d.lhs()} has shape ({shape}): the function's axes, then "
               "the variable's (the layout convention)")
    kind = None
    if _transposed_fits(model, question, claim_text):
        kind = "layout"
        message = "it is transposed: " + message
    step = Step(1, d.lhs(), None, False, kind=kind, message=message, right_text=claim_text,
                decided_by="by the shapes")
    title = f"check {d.lhs()} == {claim_text}"
    return CheckResult(d, [step], [(title, [step], d)])


def _transposed_fits(model: Model, question, claim_text: str) -> bool:
    source = question.source or ""
    if not source:
        return False
    try:
        parse(f"{model.text}\ncheck {source} == ({claim_text})ᵀ")
    except IndexcalcError:
        return False
    return True


# ---------------------------------------------------------------- the public entry point

_WORD = re.compile(r"[^\W\d]\w*")


def _declare_inferred(text: str, line: str) -> str:
    """A model that leaves its inputs undeclared gets its dimensions named only once
    the whole text is read, so a claim naming one (the derivative prints ``2 − n``)
    would read ``n`` as an unknown tensor.  When a claim uses an inferred
    dimension's name, the inputs are declared first with the shapes the model
    alone gives them, which is the same model with its dimensions named up front."""
    model = parse(text)
    plain = [n for n in model.shapes if n not in model.definitions and n not in
             model.declarations and all(isinstance(d, (str, int)) for d in model.shapes[n])]
    named = {d for n in model.declarations for d in model.shapes[n] if isinstance(d, str)}
    inferred = {d for n in plain for d in model.shapes[n] if isinstance(d, str)} - named
    if not set(_WORD.findall(line)) & (inferred - set(model.shapes)):
        return text
    declared = "; ".join(f"{n} : {_shape_word(model.shapes[n])}" for n in plain)
    return f"{declared}\n{text}" if text.startswith("\n") else f"{declared}; {text}"


def _shape_word(dims) -> str:
    kind = {0: "scalar", 1: "vector", 2: "matrix"}.get(len(dims), "tensor")
    return kind if not dims else f"{kind}[{', '.join(map(str, dims))}]"


def check(model: str | Model, claim: str) -> CheckResult:
    """Is the claimed formula the derivative?  ``claim`` is a check statement
    without the keyword: ``"dE/dz_k == o_k - t_k"``, a chain ``"dE/dz_k == e1 ==
    e2"``, or several checks, one per line (``check δ2 = dE/dz2 == ...`` then
    ``check dE/dW2 == a1 δ2ᵀ``).  Returns a CheckResult: ``.holds``, ``.steps``
    (one verdict per link, each with ``.holds``, ``.kind``, ``.message``);
    ``str()`` is the verdict and names the first failing link."""
    text = model.text if isinstance(model, Model) else model
    lines = [ln.strip() for ln in claim.replace(";", "\n").splitlines() if ln.strip()]
    lines = [ln if ln.startswith("check") else "check " + ln for ln in lines]
    if not lines:
        raise DerivativeError("nothing to check (write e.g. dE/dz_k == o_k - t_k)")
    results, named = [], []            # earlier named checks: later ones may use the names
    for line in lines:
        results.append(_check_one(text, named, line))
        if _STEP_NAME.match(line.removeprefix("check")) and results[-1].steps[0].right:
            named.append(line)
    if len(results) == 1:
        return results[0]
    steps = [s for r in results for s in r.steps]
    statements = [st for r in results for st in r.statements]
    return CheckResult(results[0].derivative, steps, statements)


def _check_one(text: str, before: list[str], line: str) -> CheckResult:
    prefix = "\n".join([_declare_inferred(text, line)] + before)
    try:
        m = parse(f"{prefix}\n{line}")
    except ShapeError as error:
        question_text, sep, claimed = line.removeprefix("check").partition("==")
        if not sep:
            raise
        question_text = _STEP_NAME.sub("", question_text)       # check δ2 = dE/dz2 == ...
        claimed = claimed.split("==")[0]                        # the first link's claim
        unknown = _RANK.search(error.problem)
        if not unknown and not error.problem.startswith(SHAPE_VERDICTS):
            raise                 # the claim is inconsistent in itself: an input error
        m = parse(f"{prefix}\n{question_text}")
        if not isinstance(m.statements[-1], Question):
            raise
        if unknown and unknown.group(1) not in m.shapes:
            _refuse(unknown.group(1))
        return shape_mismatch(m, m.statements[-1], claimed.strip(), error)
    if not isinstance(m.statements[-1], Check):
        raise DerivativeError(f"not a check: {line!r} (write e.g. dE/dz_k == o_k - t_k)")
    _ranges_fixed(m, m.statements[-1])
    return check_statement(m, m.statements[-1])


def _ranges_fixed(m: Model, stmt: Check) -> None:
    """A claim's summed index must range over one of the model's dimensions: in
    ``logsumexp_j(1)`` nothing says how far j goes, and reading it as a new size
    would check another formula than the one written."""
    fixed = {d for shape in m.shapes.values() for d in shape}
    for e in (stmt.claim, *stmt.chain):
        for node in walk(e):
            for i in binders(node):
                if isinstance(i.dim, str) and i.dim not in fixed:
                    _unfixed(m, stmt, node, i)
            if isinstance(node, DimSize) and isinstance(node.dim, str) and node.dim not in fixed:
                raise ShapeError(f"the claim uses a size, {node.dim}, that no tensor of the "
                                 "model has (a sum of a constant over an index nothing fixes?)",
                                 **_place(m, stmt))


def _unfixed(m: Model, stmt: Check, node: Expr, i) -> None:
    raise ShapeError(f"the claim sums {i.name} in {to_text(node)} over a range nothing in it "
                     f"fixes (no tensor of the model is read at {i.name}); write {i.name} on a "
                     "tensor of the dimension meant, or the size itself (n for Σ_j 1)",
                     **_place(m, stmt))


def _place(m: Model, stmt: Check) -> dict:
    line, column = (stmt.span.line, stmt.span.column) if stmt.span else (1, 1)
    return {"text": m.text, "line": line, "column": column}
