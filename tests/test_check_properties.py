"""``check`` on random models: never a wrong verdict, and the right kind of mistake.

For a random model (strategies.py) and a variable, the claims come from
claims.py: the derivative's own printed forms (index form in Unicode and ASCII,
matrix form in both layouts, model names inlined or folded in at random), which
must hold, and the same with one common mistake made, which must not, and whose
``kind`` must be the mistake made.  Whether a mutated claim really differs is
decided here, independently of ``check``: both sides evaluated by the reference
evaluator at unrounded random inputs (a mistake that changes nothing, such as
swapping the axes of a symmetric result, makes a true claim).

A reported kind other than the one made is accepted only when this test's own
numbers show that it is also true of the claim (a dropped term that happens to
be the negative of the whole is also a sign).  When model names were inlined
into the wrong claim after the mistake was made, terms may merge or split so
that the mistake is no longer one of the kinds in any names: such claims are
tallied apart ("kind not recovered after renaming"), their verdicts still
asserted.
A rewired term that is 0 (a sum dropped into an index that makes ``step(θ_i x_k −
x_i θ_k)`` ``step(0)``) leaves the truth less that term: that mistake is a ``term``.

CI runs 30 examples (about ten claims each); ``tools/long_properties.py``
runs the long profile's 3,000.

The tally (claims tried, wrong verdicts, kinds matched) goes to the file named
by ``INDEXCALC_CHECK_TALLY`` when it is set (tools/long_properties.py reads it).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from itertools import permutations

import numpy as np
import pytest
from claims import index_claim, inline_adjoints, matrix_claims, mistakes, renamed
from hypothesis import assume, given, note
from hypothesis import strategies as st
from strategies import models
from test_properties import broadcasts, dependencies, scaled

import indexcalc
from indexcalc.checking.evaluation import SEEDS, draw_point, wider_points
from indexcalc.compiler.reference import evaluate_program
from indexcalc.errors import IndexcalcError, LimitError
from indexcalc.model import Binding, Program
from indexcalc.testing import random_arrays

TALLY: Counter = Counter()


def save_tally() -> None:
    path = os.environ.get("INDEXCALC_CHECK_TALLY")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(TALLY), f)


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    save_tally()


def values(model, d, exprs, seed: int, symmetric: bool = False, scale: float = 1.0,
           arrays=None, jitter: float = 0.0, nudge: int = 0):
    """Each expression's value at unrounded random inputs (not check's points), scaled
    by ``scale`` and moved by a relative ``jitter`` (the ``nudge``-th random one); or
    at the inputs ``arrays``."""
    bindings = list(model.program().bindings) + [Binding(f"#{k}", d.indices, e)
                                                 for k, e in enumerate(exprs)]
    program = Program(tuple(bindings), tuple(f"#{k}" for k in range(len(exprs))),
                      dict(model.shapes), tuple(model.inputs))
    if arrays is None:
        arrays = {n: a * scale for n, a in random_arrays(model, seed).items()}
    if jitter:
        rng = np.random.default_rng((seed + 1, nudge))
        arrays = {n: a * (1 + jitter * rng.standard_normal(np.shape(a)))
                  for n, a in arrays.items()}
    if symmetric:
        arrays = {n: (a + a.T) / 2 if a.ndim == 2 and a.shape[0] == a.shape[1] else a
                  for n, a in arrays.items()}
    with np.errstate(all="ignore"):
        out = evaluate_program(program, arrays)
    return [np.asarray(out[f"#{k}"], float) for k in range(len(exprs))]


REFUSED = {"call letters": "refused: a call's binders not single letters",
           "unfixed range": "refused: a reduction of a constant, its range lost in print",
           "undecided": "undecided: no point evaluates, the symbolic forms differ"}
SCALED = ((0.3, 505), (0.3, 606), (4.0, 707), (4.0, 808))      # (scale, seed)


def close(a, b) -> bool:
    """Equal up to round-off (the two sides are different formulas for one value)."""
    scale = max(1.0, float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)))
    return bool(np.all(np.abs(a - b) <= 1e-8 * (np.abs(a) + np.abs(b)) + 1e-10 * scale))


def near(a, b) -> bool:
    """``close`` at inputs scaled away from 1, where terms that cancel (a sigmoid or a
    softmax saturated) leave round-off of the terms' order, not the values': as check
    allows there (evaluation.agree_where_stable), a difference must be 1e-6 of the
    values' order to count."""
    scale = max(1.0, float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)))
    return bool(np.all(np.abs(a - b) <= 1e-6 * (np.abs(a) + np.abs(b)) + 1e-9 * scale))


def finite(pair) -> bool:
    return all(np.all(np.isfinite(v)) for v in pair)


def stable_pairs(model, d, truth, claim, symmetric: bool = False) -> list:
    """The two sides, each with ``near``, at the scaled points and at check's own
    points; a point where either side moves by more than ``near`` allows when the
    inputs move by a relative 1e-9 is noise there (terms far larger than the values
    cancel: ``E det(A B) (σ(det(A B)) X − Y)`` with σ saturated) and is left out, as
    check leaves such points out."""
    out = []
    places = [dict(seed=s, scale=scale) for scale, s in SCALED]
    places += [dict(seed=0, arrays=arrays) for arrays in check_points(model, d, truth, claim)]
    for where in places:
        p = values(model, d, [truth, claim], symmetric=symmetric, **where)
        if finite(p) and all(stays(p, values(model, d, [truth, claim], symmetric=symmetric,
                                             jitter=1e-9, nudge=k, **where))
                             for k in range(NUDGES)):
            out.append(p + [near])
    return out


# nudges per point: round-off where large terms cancel moves at random, and one nudge
# may leave it nearly where it was (found by the long run: terms of 1e9 around a
# saturated tanh cancelled to 0.03; one nudge moved the claim by 7e-9, others by 4e-7)
NUDGES = 3


def stays(p, q) -> bool:
    return finite(q) and all(near(a, b) for a, b in zip(p, q))


def check_points(model, d, truth, claim):
    """The inputs check draws (evaluated here by this test's own program): a claim
    that check finds wrong at one of them is seen to be wrong here too, even where
    a step of max or relu lies that no other point crosses."""
    names = [n for n in model.inputs if n in model.shapes]
    exprs = [b.expr for b in model.program().bindings] + [b.expr for b in d.adjoints]
    for seeds, scale in ((SEEDS, 1.0),) + wider_points(exprs + [truth, claim], model):
        for seed in seeds:
            yield draw_point(model, names, seed, scale).arrays


def relation(model, d, truth, claim) -> set[str]:
    """What this test's numbers say the claim is: {'true'}, or the kinds it fits.

    At four points, at points with the inputs scaled down and up (where they can be
    evaluated), and at check's points: a step of max, min or relu that the first
    points never cross makes a claim that is wrong past it look true there."""
    seeds = (101, 202, 303, 404)
    pairs = [values(model, d, [truth, claim], s) + [close] for s in seeds]
    if not all(finite(p[:2]) for p in pairs):
        return {"undecided"}
    pairs += stable_pairs(model, d, truth, claim)
    if all(ok(x, y) for x, y, ok in pairs):
        return {"true"}
    fits = set()
    if all(ok(-x, y) for x, y, ok in pairs):
        fits.add("sign")
    k = len(d.indices)
    for perm in permutations(range(k)):
        if list(perm) != list(range(k)) and all(
                d.indices[p].dim == d.indices[j].dim for j, p in enumerate(perm)) and all(
                ok(np.transpose(x, perm), y) for x, y, ok in pairs):
            fits.add("layout")
    x, y, _ = pairs[0]
    big = int(np.argmax(np.abs(x)))
    if abs(np.ravel(x)[big]) > 1e-9:
        c = np.ravel(y)[big] / np.ravel(x)[big]
        if all(ok(c * a, b) for a, b, ok in pairs):
            # 0 times the truth is the truth with every term missing (a dropped sum
            # that cancels the other term: 2 x_p − 2 Σ_i x_i written 0), as check says
            fits.add("term" if abs(c) < 1e-12 else "factor")
    sym = [values(model, d, [truth, claim], s, symmetric=True) + [close] for s in seeds]
    sym += stable_pairs(model, d, truth, claim, symmetric=True)
    if all(ok(x, y) for x, y, ok in sym):
        fits.add("assumption")
    return fits


def verdict(text: str, claim: str, ascii_: bool = False):
    if ascii_:
        text = text.replace("θ", "theta")
    try:
        return indexcalc.check(text, claim)
    except LimitError:
        return None                       # a claim too long to type is refused, rightly
    except IndexcalcError as e:
        if "over a range nothing in it fixes" in e.problem or "that no tensor of the model" \
                in e.problem:
            # known limitation of printing: inlining h = 1 into logsumexp(h) prints
            # logsumexp_j(1), whose j no tensor fixes, and check rightly refuses it: tallied
            return "unfixed range"
        if e.problem.startswith("cannot decide"):
            return "undecided"                # no verdict at all is never a wrong one: tallied
        if re.search(r"(?<![\w'])[a-z_]+\[[^\]]*\]\(", claim):
            # known limitation: where a call has no single letter of its dimension left
            # for its binders (more than 52 index names), it prints inv[k1,l1](...),
            # which the grammar does not read: tallied
            return "call letters"
        raise AssertionError(f"check refused a claim printed from the derivative:\n  {claim}\n"
                             f"  {e}") from None


@scaled(0.15)
@given(models(), st.data())
def test_check_never_gives_a_wrong_verdict(case, data):
    model = indexcalc.parse(case.text)
    candidates = dependencies(model, case.of)
    assume(candidates)
    d = indexcalc.derivative(model, data.draw(st.sampled_from(candidates), label="wrt"))
    truth = inline_adjoints(d)
    assume(not broadcasts(d.indices, truth))
    rng = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
    assume({"true"} == relation(model, d, truth, truth))          # finite, evaluable
    true_claims = [(index_claim(d, truth, False), False), (index_claim(d, truth, True), True)]
    for _ in range(2):
        ascii_ = rng.random() < 0.3
        true_claims.append((index_claim(d, renamed(truth, model, rng), ascii_), ascii_))
    true_claims += [(c, False) for c in matrix_claims(d)]
    for claim, ascii_ in true_claims:
        note(f"true claim: {claim}")
        r = verdict(case.text, claim, ascii_)
        if r is None or isinstance(r, str):
            TALLY[REFUSED.get(r, "too long")] += 1
            continue
        TALLY["claims"] += 1
        if not r.holds:
            TALLY["wrong verdicts"] += 1
        assert r.holds, f"a true claim was rejected:\n{r}"
    if TALLY["claims"] % 20 < 8:
        save_tally()                     # a long run stopped early still reports
    for kind, wrong in mistakes(d, truth, rng):
        names_changed = rng.random() < 0.5
        shown = renamed(wrong, model, rng) if names_changed else wrong
        if broadcasts(d.indices, shown):
            continue
        fits = relation(model, d, truth, shown)
        if "undecided" in fits:
            continue
        ascii_ = rng.random() < 0.3
        claim = index_claim(d, shown, ascii_)
        note(f"{kind} claim: {claim}")
        r = verdict(case.text, claim, ascii_)
        if r is None or isinstance(r, str):
            TALLY[REFUSED.get(r, "too long")] += 1
            continue
        TALLY["claims"] += 1
        expected = fits == {"true"}
        if r.holds != expected:
            TALLY["wrong verdicts"] += 1
        assert r.holds == expected, f"wrong verdict on a claim made by a {kind} mistake:\n{r}"
        if expected:
            continue
        TALLY["false claims"] += 1
        if kind == "assumption" and "assumption" not in fits:
            kind = "layout"               # a transposed input that symmetry does not save
        TALLY[f"made: {kind}"] += 1
        if r.kind == kind:
            TALLY["kind as made"] += 1
        elif r.kind in fits:
            TALLY["kind also true"] += 1
        elif names_changed:
            # inlining a name can merge terms (h_k v_p + v_k h_p with h = v: a sign error
            # in one of two equal terms is then both terms missing), or split one term
            # into several that no single mistake explains: tallied, not asserted
            TALLY["kind not recovered after renaming"] += 1
            continue
        else:
            TALLY["kind wrong"] += 1
        assert r.kind == kind or r.kind in fits, (
            f"a {kind} mistake was classified {r.kind!r} (the numbers fit {sorted(fits)}):\n{r}")


def test_the_oracle_leaves_out_points_where_cancelling_terms_round_off():
    # Found by the long run: a transposed A, which symmetry saves, was classified
    # "assumption" by check, rightly (the difference is a multiple of A − Aᵀ), but
    # this test's numbers saw a difference of 2e-7 at one point scaled by 8, where
    # tanh is ±1 and terms of 1e9 cancel; the one nudge it took had moved the claim by
    # 7e-9 only.  With NUDGES nudges the point is seen to be noise and left out.
    text = ("x : vector[n]\ny : vector[n]\nv : vector[m]\nW ∈ ℝ^{n×m}\nA : matrix[n, n]\n"
            "h = outer(x, x) ⊙ ((y v^T) ⊙ W (v x^T))\ng = (h^T A) ⊙ h.T W\n"
            "E = sum(log_softmax(softmax(v, 2))) - sum(tanh(g))")
    claim = ('m softmax_i(v_i / 2)_p (Σ_b softmax_c(softmax_d(v_d / 2)_c)_b softmax_e(v_e / '
             '2)_b) / 2 − 2 v_p Σ_{a,j,n,q} x_a^2 A_jn h_ja W_np W_nq x_n y_n − 2 Σ_{h,o,t,u} '
             'v_p x_h^2 W_op x_o y_o A_to h_th W_tu − m softmax_k(softmax_m(v_m / 2)_k)_p '
             'softmax_r(v_r / 2)_p / 2 + 2 v_p Σ_{f,g,l,s} A_fs h_fl x_l^2 W_sg W_sp x_s y_s '
             'tanh(g_lg)^2 + 2 v_p Σ_{v,w,x,y} x_v^2 A_wx W_wp x_w y_w h_xv W_xy tanh(g_vy)^2')
    model = indexcalc.parse(text)
    d = indexcalc.derivative(model, "v")
    shown = indexcalc.parse(text + "\nC_p = " + claim).definitions["C"].expr
    assert relation(model, d, inline_adjoints(d), shown) == {"assumption"}
    assert indexcalc.check(text, "dE/dv_p == " + claim).kind == "assumption"
