"""The numbers behind a verdict: every side of a check evaluated through one program.

A claim may name anything the model defines (``f``, ``s``, ``O``) at any depth,
so the claim is evaluated as one more binding of the model's own program, beside
the derivative and its adjoints: the same inputs reach every definition, and a
name in a claim means exactly what it means in the model (a name the
derivative's formula does not use is still computed).  Named steps (``δ2`` of
``check δ2 = dE/dz2 == ...``) are bindings too, to the derivative they name.

The inputs are drawn inside the functions' domains (``numeric.random_arrays``,
with the claim's own logs and roots counted) and rounded to two decimals, so a
point prints exactly: a counterexample shows the inputs it was computed from,
and evaluating the printed inputs again gives the printed numbers.  The first
point has every dimension 2, so the counterexample a user reads is small.  A
claim that only the numbers say holds is evaluated at three more points, with
the inputs scaled down, so that a difference hidden where a sigmoid saturates
still shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from indexcalc.checking.magnitudes import magnitude_program
from indexcalc.checking.numeric import invertible_inputs, random_arrays
from indexcalc.checking.standins import concrete, describe
from indexcalc.compiler.reference import evaluate_program
from indexcalc.derivative import Derivative
from indexcalc.errors import IndexcalcError
from indexcalc.ir import Expr, Func, Index, Var, var_names, walk
from indexcalc.ir.affine import DimExpr
from indexcalc.model import Binding, Definition, Model, Program, needed

SEEDS = (0, 1, 2)
EXTRA_SEEDS = (3, 4, 5)           # drawn when a point cannot be evaluated (a log of 0)
DIGITS = 2                        # inputs are rounded to this many decimals
RTOL, ATOL = 1e-9, 1e-12          # |a − b| <= RTOL (|a| + |b|) / 2 + ATOL · scale
TERMS = 1e-13                     # a point within TERMS (M(a) + M(b)) only cannot tell (magnitudes)
# when only the numbers say a claim holds, more points: inputs scaled down (functions far
# from saturation) and up (a step of max or relu that small inputs never cross)
SCRUTINY = (((6, 7, 8), 0.3), ((9, 10, 11, 12), 4.0))
# ... and, where a step (of max, min, relu) is in the sides, more at other scales: a term
# that only a corner of the inputs switches on must be switched on at some point
# ... and at points with the inputs scaled apart (``APART``: each input by its own factor
# between 1/5 and 1): a step between quantities of different inputs that a common scale
# never moves across each other (max(det(A), s), det(A) near 2^n and s in [−1, 1])
# ... and far out (``FAR``): a step at a constant that no input reaches at the scales
# above (step(3 − c) with c drawn near 0; at scale 4 four points miss it one time in three)
# ... and with the invertible inputs' determinants of the other sign (``FLIPPED``): a
# step at a determinant (min(det(A + B), c)) that matrices near 2 I never cross
APART = (27, 28, 29, 30, 31, 32)
FAR = (33, 34, 35, 36, 37, 38)
FLIPPED = (39, 40, 41, 42)
STEPPED = (((13, 14, 15, 16), 1.0), ((17, 18, 19, 20), 2.0), ((21, 22, 23, 24, 25, 26), 0.3),
           (APART, 1.0), (FAR, 8.0), (FLIPPED, 1.0))


def wider_points(exprs, model: Model) -> tuple:
    """The wider points' (seeds, scale) for sides computed by ``exprs`` from inputs
    drawn for ``model``: inputs scaled down and up; where a step is, the stepped
    points; the flipped ones only where an input is drawn invertible (elsewhere they
    would be four more points like the others)."""
    if not any(isinstance(n, Func) and n.name in ("step", "relu") for e in exprs
               for n in walk(e)):
        return SCRUTINY
    flips = bool(invertible_inputs(model))
    return SCRUTINY + tuple(p for p in STEPPED if flips or p[0] != FLIPPED)


@dataclass(frozen=True)
class Point:
    seed: int
    arrays: dict[str, np.ndarray]


@dataclass
class Values:
    """The value of every side of a check at each point (``sides[k][p]``).

    Two sides agree at a point when they are close (``close``).  A point where they
    are not, but differ by no more than the round-off of the terms they are computed
    from (``TERMS`` times their magnitudes, ``magnitudes.py``), cannot tell: where a
    derivative is 0 and a claim writes it as terms of 1e4 that cancel to 1e-12, the
    difference says nothing, and the other points decide.  The magnitudes are
    evaluated only at points where the values differ."""
    program: Program
    names: list[str]
    points: list[Point]
    sides: list[list[np.ndarray]]
    indices: tuple[Index, ...]
    runnable: Program | None = None            # the program with stand-ins, as evaluated
    drawn: Model | None = None                 # the model the inputs were drawn for
    _sizes: dict[int, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _magnitude: Program | None = field(default=None, repr=False)

    def same(self, a: int, b: int, p: int, rtol: float = RTOL, atol: float = ATOL
             ) -> bool | None:
        """Do sides a and b agree at point p (both finite)?  None where they differ by
        no more than the round-off of the terms they are computed from: that point
        cannot tell."""
        x, y = self.sides[a][p], self.sides[b][p]
        if close(x, y, rtol, atol):
            return True
        sizes = self.sizes(p)
        if sizes is not None and close(x, y, rtol, atol, TERMS * (sizes[a] + sizes[b])):
            return None
        return False

    def sizes(self, p: int) -> list[np.ndarray] | None:
        """The magnitude of every side at point p (None where they cannot be evaluated)."""
        if p not in self._sizes:
            self._sizes[p] = self._magnitudes(p) if self.runnable else None
        return self._sizes[p]

    def _magnitudes(self, p: int) -> list[np.ndarray] | None:
        if self._magnitude is None:
            self._magnitude = magnitude_program(self.runnable)
        program = self._magnitude
        try:
            with np.errstate(all="ignore"):
                out = evaluate_program(program, self.points[p].arrays)
        except IndexcalcError:
            return None
        shape = np.shape(self.sides[0][p])
        sizes = [np.broadcast_to(np.asarray(out[n], float), shape) for n in program.outputs]
        # a magnitude that overflows or is undefined bounds nothing
        return [np.where(np.isfinite(m), m, 0.0) for m in sizes]

    def finite_at(self, a: int, b: int) -> int:
        """At how many points both sides are finite."""
        return sum(finite(x) and finite(y) for x, y in zip(self.sides[a], self.sides[b]))

    def judged(self, a: int, b: int) -> list[tuple[int, bool]]:
        """The points that can tell whether sides a and b agree (both finite, and not
        within round-off of each other only), and whether they do."""
        found = []
        for p, (x, y) in enumerate(zip(self.sides[a], self.sides[b])):
            if finite(x) and finite(y):
                same = self.same(a, b, p)
                if same is not None:
                    found.append((p, same))
        return found

    def agree(self, a: int, b: int) -> bool | None:
        """Do sides a and b agree at every point?  None if no point could decide."""
        judged = self.judged(a, b)
        return all(same for _, same in judged) if judged else None

    def agree_where_stable(self, a: int, b: int, nudged: "Values") -> bool | None:
        """``agree``, at the points where sides a and b barely move when the inputs move
        by a relative 1e-9 (``nudged``): at scaled-up inputs a cosine of a huge argument
        is noise, as are terms far larger than the values that cancel, and two formulas
        for noise need not agree."""
        stable = [p for p, (x, y, z, w) in enumerate(zip(self.sides[a], self.sides[b],
                                                         nudged.sides[a], nudged.sides[b]))
                  if finite(x) and finite(y) and finite(z) and finite(w)
                  and close(x, z, 1e-6) and close(y, w, 1e-6)]
        # a step crossed makes a difference of the values' order; round-off of terms that
        # cancel where a softmax saturates makes one of 1e-12
        judged = [self.same(a, b, p, 1e-6, 1e-9) for p in stable]
        judged = [same for same in judged if same is not None]
        return all(judged) if judged else None

    def count(self, a: int, b: int) -> tuple[int, int]:
        """How many points decided (``judged``), and at how many the sides differ."""
        judged = self.judged(a, b)
        return len(judged), sum(not same for _, same in judged)

    def wider(self) -> tuple:
        """``wider_points`` for these sides and the model their inputs were drawn for."""
        return wider_points([b.expr for b in self.program.bindings], self.drawn)

    def copy(self) -> "Values":
        return Values(self.program, self.names, list(self.points),
                      [list(s) for s in self.sides], self.indices, self.runnable,
                      self.drawn, dict(self._sizes), self._magnitude)

    def extend(self, other: "Values") -> None:
        offset = len(self.points)
        self.points += other.points
        for mine, theirs in zip(self.sides, other.sides):
            mine += theirs
        self._sizes.update({offset + p: s for p, s in other._sizes.items()})

    def first_disagreement(self, a: int, b: int) -> int | None:
        return next((p for p, same in self.judged(a, b) if not same), None)

    def pairs(self, a: int, b: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.sides[a][p], self.sides[b][p]) for p, _ in self.judged(a, b)]


def finite(a: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(a)))


def close(a, b, rtol: float = RTOL, atol: float = ATOL, slack=0.0) -> bool:
    """|a − b| <= rtol (|a| + |b|) / 2 + atol · max(1, |a|, |b|) + slack, entry by entry."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    scale = max(1.0, float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)))
    return bool(np.all(np.abs(a - b) <= rtol * (np.abs(a) + np.abs(b)) / 2 + atol * scale
                       + slack))


def side_name(k: int) -> str:
    return f"⊢side{k}"            # no user name can contain ⊢


def joint_program(d: Derivative, sides: list[Expr], steps: list[tuple[str, Derivative]]
                  ) -> Program:
    """The model's definitions, the derivatives (``d`` and the named steps'), the
    named steps, and one binding per side of the check (side 0 is ``d``)."""
    model = d.model
    bindings: dict[str, Binding] = {b.name: b for b in model.program().bindings}
    for name, named in steps:
        _add_derivative(bindings, named)
        bindings[name] = Binding(name, named.indices, Var(named.name, named.indices))
    _add_derivative(bindings, d)
    bindings[side_name(0)] = Binding(side_name(0), d.indices, Var(d.name, d.indices))
    for k, e in enumerate(sides, 1):
        bindings[side_name(k)] = Binding(side_name(k), d.indices, e)
    outputs = tuple(side_name(k) for k in range(len(sides) + 1))
    kept = needed(tuple(bindings.values()), outputs)
    inputs = [n for n in model.inputs if n in model.shapes]
    return Program(kept, outputs, dict(model.shapes), tuple(inputs))


def _add_derivative(bindings: dict[str, Binding], d: Derivative) -> None:
    for b in d.adjoints:
        bindings.setdefault(b.name, b)
    bindings.setdefault(d.name, Binding(d.name, d.indices, d.unnamed_expr))


def evaluate_sides(d: Derivative, sides: list[Expr], steps=(), draw_from: Model | None = None,
                   seeds=SEEDS, scale: float = 1.0, jitter: float = 0.0) -> Values:
    """Every side at each point (points where one cannot be evaluated are skipped).
    ``draw_from`` is the model the inputs are drawn for (by default ``d``'s; one
    with an input declared symmetric draws it symmetric)."""
    program = joint_program(d, sides, list(steps))
    runnable = concrete(program)
    model = _with_claims(draw_from or d.model, sides)
    names = list(program.arguments)
    points, values = [], [[] for _ in program.outputs]
    for seed in tuple(seeds) + EXTRA_SEEDS:
        if len(points) >= len(seeds) and all(finite(v[-1]) for v in values):
            break
        point = draw_point(model, names, seed, scale, jitter)
        try:
            with np.errstate(all="ignore"):
                out = evaluate_program(runnable, point.arrays)
        except IndexcalcError:
            continue
        points.append(point)
        for k, name in enumerate(program.outputs):
            values[k].append(np.broadcast_to(np.asarray(out[name], float),
                                             tuple(np.shape(out[side_name(0)]))))
    return Values(program, names, points, values, d.indices, runnable, model)


def draw_point(model: Model, names: list[str], seed: int, scale: float = 1.0,
               jitter: float = 0.0) -> Point:
    # the first point is small (every dimension 2), so a counterexample prints in full;
    # not where a shifted read derives a range from them (n − 2K + 2 would be empty)
    derived = any(isinstance(d, DimExpr) for shape in model.shapes.values() for d in shape)
    sizes = {dim: 2 for dim in _dims(model)} if seed == 0 and not derived else None
    arrays = random_arrays(model, seed=seed, sizes=sizes, names=names, flip=seed in FLIPPED)
    if seed in APART:                 # scaled down only: nothing saturates
        rng = np.random.default_rng(seed)
        arrays = {n: a * 5.0 ** -rng.uniform(0, 1) for n, a in sorted(arrays.items())}
    return Point(seed, {n: np.round(a * scale, DIGITS) * (1 + jitter) for n, a in arrays.items()})


def _dims(model: Model) -> set[str]:
    return set(model.dims) | {d for s in model.shapes.values() for d in s if isinstance(d, str)}


def _with_claims(model: Model, sides: list[Expr]) -> Model:
    """The model with the claims as definitions, so that their logs and roots count
    when the inputs' domains are chosen."""
    extra = tuple(Definition(side_name(k), tuple(sorted(e.free, key=lambda i: i.name)), e)
                  for k, e in enumerate(sides, 1))
    return replace(model, statements=model.statements + extra)


# ---------------------------------------------------------------- printing a point

def show_array(a: np.ndarray) -> str:
    if a.ndim == 0:
        return f"{float(a):g}"
    return "[" + ", ".join(show_array(x) for x in a) + "]"


def point_text(values: Values, p: int, a: int, b: int) -> str:
    """The inputs sides a and b read at point p, the sizes of the dimensions, and the
    stand-ins of opaque functions: enough to compute both sides again by hand."""
    point = values.points[p]
    wanted = needed(values.program.bindings, (side_name(a), side_name(b)))
    read = set().union(*(var_names(x.expr) for x in wanted)) if wanted else set()
    shown = [n for n in values.names if n in read]
    shapes = values.program.shapes
    dims: dict[str, int] = {}
    for n in values.names:
        for dim, size in zip(shapes.get(n, ()), np.shape(point.arrays[n])):
            if isinstance(dim, str):
                dims.setdefault(dim, size)
    used_dims = sorted({d for n in shown for d in shapes.get(n, ()) if isinstance(d, str)}
                       | {i.dim for i in values.indices if isinstance(i.dim, str)})
    parts = [f"{dim} = {dims[dim]}" for dim in used_dims if dim in dims]
    parts += [f"{n} = {show_array(point.arrays[n])}" for n in shown]
    stand_ins = describe(Program(wanted, ()))
    text = ", ".join(parts)
    return text + (f" (opaque functions as {stand_ins})" if stand_ins else "")


def worst_entry(x: np.ndarray, y: np.ndarray) -> tuple:
    err = np.abs(x - y)
    return np.unravel_index(int(np.argmax(err)), err.shape) if err.shape else ()
