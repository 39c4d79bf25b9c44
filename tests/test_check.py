"""``check``: correct verdicts whatever names a claim uses, honest counterexamples,
and the kind of mistake on the seeds' common wrong answers.

The four false rejections of issue 16 are here, each claim using a model name
defined through another definition that the derivative's own formula does not
use; so are claims using the names of the seeds' models (S1–S5) at every depth,
made by inlining the derivative completely and folding each definition back in
alone.  Counterexamples are re-evaluated from the inputs they print.
"""

import json
import re

import numpy as np
import pytest
from claims import fold, index_claim, inline, inline_adjoints
from test_golden import S1, S2, S3, S4, S4_DEEPER, S5

import indexcalc
from indexcalc.errors import UnknownNameError

ATTENTION = """Q : matrix[T, d]; K : matrix[T, d]; V : matrix[T, e]; G : matrix[T, e]
S_ij = sum_c Q_ic K_jc
P_ij = exp(S_ij) / sum_l exp(S_il)
O_ie = sum_j P_ij V_je
E = sum_i sum_e G_ie O_ie"""

ISSUE_16 = [
    ("x : vector[n]; s = sum_i x_i^2; f = 3 s", "df/dx == 2 f x / s"),
    ("x : vector[n]; y = 3 x; w = y + x; f = sum_i x_i^2", "df/dx == w / 2"),
    ("z : vector[n]; p = softmax(z); H = -sum_i p_i log(p_i)", "dH/dz == -p ⊙ (log(p) + H)"),
    (ATTENTION, "dE/dS_ab == P_ab (sum_e G_ae V_be - sum_e G_ae O_ae)"),
    (ATTENTION, "dE/dS_ab == P_ab (sum_e G_ae V_be - sum_e G_ae sum_j P_aj V_je)"),
]


@pytest.mark.parametrize("model, claim", ISSUE_16)
def test_the_false_rejections_of_issue_16_hold(model, claim):
    r = indexcalc.check(model, claim)
    assert r.holds, str(r)
    assert [s.holds for s in r.steps] == [True] and r.kind is None


def test_a_claim_the_symbolic_side_cannot_prove_says_it_was_decided_numerically():
    model = "x : vector[n]\nf = sum_i (sin(x_i)^2 + cos(x_i)^2) x_i"
    r = indexcalc.check(model, "df/dx_k == 1")     # sin² + cos² = 1 is no rule of ours
    assert r.holds and not r.symbolic and r.steps[0].numerically
    assert "decided numerically" in str(r)
    assert not indexcalc.check(model, "df/dx_k == 1.001").holds


def test_every_verdict_says_how_it_was_decided():
    """Symbolically, numerically, or both, and at how many points: never "numerically"
    when no point could evaluate the sides, never "symbolically" when only the numbers
    agree."""
    both = indexcalc.check("x : vector[n]\nf = sum_i x_i^3", "df/dx_k == 3 x_k^2")
    assert str(both).splitlines()[1] == "✓ holds (symbolically and numerically, at 3 random points)"
    model = "x : vector[n]\nf = sum_i exp(exp(exp(exp(9 x_i))))"    # overflows at every point
    claim = ("df/dx_k == 9 exp(9 x_k) exp(exp(9 x_k)) exp(exp(exp(9 x_k))) "
             "exp(exp(exp(exp(9 x_k))))")
    symbolic = indexcalc.check(model, claim)
    assert symbolic.holds and symbolic.steps[0].points == 0
    assert str(symbolic).splitlines()[1] == ("✓ holds (symbolically; no random point could "
                                             "evaluate both sides)")
    numeric = indexcalc.check("x : vector[n]\nf = sum_i (sin(x_i)^2 + cos(x_i)^2) x_i",
                              "df/dx_k == 1")
    step = numeric.steps[0]
    assert numeric.holds and not step.symbolic and step.points == 10   # 3, then 3 and 4 more
    assert str(numeric).splitlines()[1] == ("✓ holds (numerically, at 10 random points; the "
                                            "symbolic side could not decide)")
    wrong = indexcalc.check("x : vector[n]\nf = sum_i x_i^3", "df/dx_k == 2 x_k^2")
    assert str(wrong).splitlines()[1] == ("✗ does not hold (numerically: the sides differ at "
                                          "3 of 3 random points)")
    chain = indexcalc.check("x : vector[n]\nf = sum_i x_i^3", "df/dx_k == 3 x_k^2 == 3 x_k x_k")
    assert "[holds; symbolically and numerically, at 3 random points]" in str(chain)


def test_the_softmax_entropy_claim_of_issue_16_holds():
    r = indexcalc.check(*ISSUE_16[2])          # Σ_j p_j = 1 is known now: symbolically
    assert r.holds, str(r)


@pytest.mark.parametrize("model, claim", ISSUE_16[:2])
def test_a_wrong_claim_with_the_same_names_is_still_wrong(model, claim):
    wrong = claim.replace("2 f", "3 f").replace("w / 2", "w / 3")
    r = indexcalc.check(model, wrong)
    assert not r.holds and r.kind == "factor", str(r)


SEEDS = [("S1", S1, "z"), ("S2", S2, "W"), ("S2", S2, "y"), ("S3", S3, "x"), ("S3", S3, "W1"),
         ("S4", S4, "W1"), ("S4", S4, "a1"), ("S4 deeper", S4_DEEPER, "z1"), ("S5", S5, "a")]


@pytest.mark.parametrize("label, model, wrt", SEEDS, ids=[f"{s[0]}-{s[2]}" for s in SEEDS])
def test_claims_using_the_seeds_names_at_every_depth_hold(label, model, wrt):
    m = indexcalc.parse(model)
    d = indexcalc.derivative(m, wrt)
    flat = inline(inline_adjoints(d), m, set(m.definitions))
    claims = {index_claim(d, flat, False)}
    for name in m.definitions:
        claims.add(index_claim(d, fold(flat, m, name), False))
        claims.add(index_claim(d, inline(inline_adjoints(d), m, {name}), False))
    assert len(claims) >= 2
    for claim in claims:
        r = indexcalc.check(model, claim)
        assert r.holds, str(r)


def test_I_in_a_claim_is_the_identity_unless_declared_and_unknown_names_are_refused():
    model = "x : vector[n]; A : matrix[n, n]; q = xᵀ A x"
    assert indexcalc.check(model, "dq/dx == (A + Aᵀ) I x").holds       # the notation's I
    assert not indexcalc.check(model, "dq/dx == 2 (A + Aᵀ) I x").holds
    with pytest.raises(UnknownNameError, match="'foo'"):
        indexcalc.check(model, "dq/dx_k == foo_k")
    declared = "I : matrix[n, n]\n" + model
    r = indexcalc.check(declared, "dq/dx == (A + Aᵀ) I x")       # a tensor named I
    assert not r.holds and r.counterexample and "I = [[" in r.counterexample


# ---------------------------------------------------------------- honest counterexamples

def _parse_point(text: str) -> dict:
    """The arrays a counterexample prints (``x = [0.27, -0.46]``)."""
    body = text.split(": at", 1)[0].split(" (opaque", 1)[0].removeprefix("with ")
    arrays = {}
    for name, value in re.findall(r"(\w+) = (\[[^=]*\]|-?[\d.]+)(?:, |$)", body):
        arrays[name] = np.array(json.loads(value), dtype=float)
    return arrays


S1_DECLARED = "z : vector[C]\nt : vector[C]\n" + S1


@pytest.mark.parametrize("model, claim, wrt, definition", [
    (S1_DECLARED, "dE/dz_k == t_k (o_k - 1)", "z", "P_k = t_k (o_k - 1)"),
    ("x : vector[n]; A : matrix[n, n]; q = xᵀ A x", "dq/dx == 2 A x", "x", "P = 2 A x"),
    (S2, "dE/dW_pq == y_p (o_q - t_q)", "W", "P_pq = y_p (o_q - t_q)"),
])
def test_a_counterexample_is_what_its_printed_inputs_give(model, claim, wrt, definition):
    """Both numbers a counterexample shows come back from the inputs it prints."""
    r = indexcalc.check(model, claim)
    assert not r.holds
    text = r.counterexample
    arrays = _parse_point(text)
    where = re.search(r": at ([^:]*?) the derivative is (\S+) but the claim gives (\S+)$", text)
    position = tuple(int(v) for v in re.findall(r"= (\d+)", where.group(1)))
    got = indexcalc.derivative(model, wrt).evaluate(**arrays)[position]
    claimed = indexcalc.evaluate(model + "\n" + definition, "P", **arrays)[position]
    assert (f"{got:.6g}", f"{claimed:.6g}") == (where.group(2), where.group(3))


def test_a_counterexample_names_the_stand_ins_of_opaque_functions():
    r = indexcalc.check(S4.replace("[n, m]", "[n, n]"), "dE/dW1 == (f'(z2) ⊙ L'(a2)) a1ᵀ")
    assert "opaque functions as" in r.counterexample and "f(u) = sin(u + " in r.counterexample


# ---------------------------------------------------------------- kinds of mistake

KINDS = [
    (S1, "dE/dz_k == t_k (o_k - 1)", "sum"),
    (S1, "dE/dz_k == o_k - t_k", "assumption"),
    (S1, "dE/dz_k == t_k - o_k sum_j t_j", "sign"),
    (S1, "dE/dz_k == 2 (o_k sum_j t_j - t_k)", "factor"),
    (S4, "dE/dW1 == (f'(z2) ⊙ L'(a2)) a1ᵀ", "layout"),
    (S4.replace("[n, m]", "[n, n]"), "dE/dW1 == (f'(z2) ⊙ L'(a2)) a1ᵀ", "layout"),
    ("x : vector[n]; A : matrix[n, n]; q = xᵀ A x", "dq/dx == 2 A x", "assumption"),
    ("x : vector[n]; A : matrix[n, n]; q = xᵀ A x", "dq/dx == A x", "term"),
    ("x : vector[n]; y : vector[n]; p = sum_i x_i y_i; f = p^2 + sum_i x_i sin(x_i)",
     "df/dx_k == 2 p y_k + sin(x_k)", "term"),
    (S3 + "assume sum_i y_i = 1\n",
     "dJ/dx_a == sum_b sum_c sum_d (yhat_c - y_c) W2_dc h_d (1 - h_b) W1_ab", "product"),
]


@pytest.mark.parametrize("model, claim, kind", KINDS, ids=[f"{k[2]}-{n}" for n, k in
                                                            enumerate(KINDS)])
def test_the_common_mistakes_are_classified(model, claim, kind):
    r = indexcalc.check(model, claim)
    assert not r.holds and r.kind == kind, str(r)
    assert r.steps[0].kind == kind and not r.steps[0].holds


def test_the_missing_term_is_named():
    r = indexcalc.check("x : vector[n]; y : vector[n]; p = sum_i x_i y_i; "
                        "f = p^2 + sum_i x_i sin(x_i)", "df/dx_k == 2 p y_k + sin(x_k)")
    assert "mistake (term): it misses the term x_k cos(x_k)" in str(r)


# ---------------------------------------------------------------- shapes in explanations

def test_explain_gives_each_chain_rule_factor_its_shape_in_the_users_dimensions():
    text = indexcalc.derivative(S3, "x").explain()
    assert "∂J/∂h : (H,)" in text
    assert "∂h/∂r : (H, H), diagonal" in text
    assert "∂θ/∂h : (C, H)" in text and "∂J/∂x : (Dx,)" in text
    s4 = indexcalc.derivative(S4, "W1").explain()
    assert "∂z2/∂W1 : (m, n, m)" in s4 and "∂E/∂W1 : (n, m)" in s4


# ---------------------------------------------------------------- chains and named steps

S4_STEPS = """check δ2 = dE/dz2 == f'(z2) ⊙ L'(a2)
check dE/dW1 == a1 δ2ᵀ
check dE/da1 == W1 δ2
check dE/db1 == δ2"""


def test_a_derivation_as_named_steps_holds_step_by_step():
    r = indexcalc.check(S4, S4_STEPS)
    assert r.holds and len(r.steps) == 4 and all(s.holds for s in r.steps)
    assert "all 4 steps hold" in str(r)


def test_the_first_wrong_step_is_named_and_classified():
    wrong = S4_STEPS.replace("a1 δ2ᵀ", "δ2 a1ᵀ").replace("W1 δ2", "-W1 δ2")
    r = indexcalc.check(S4, wrong)
    assert not r.holds
    assert [s.holds for s in r.steps] == [True, False, False, True]
    assert [s.kind for s in r.steps] == [None, "layout", "sign", None]
    assert str(r).splitlines()[-1].startswith("the first step that fails: step 2")


def test_a_later_step_is_judged_with_the_named_step_standing_for_its_derivative():
    """δ2 is wrong (sign), but dE/db1 == δ2 is still the right reasoning."""
    r = indexcalc.check(S4, "check δ2 = dE/dz2 == -f'(z2) ⊙ L'(a2)\ncheck dE/db1 == δ2")
    assert [s.holds for s in r.steps] == [False, True] and r.steps[0].kind == "sign"


def test_a_chain_names_its_first_wrong_link():
    chain = "dE/da1 == W1 δ2 == (δ2ᵀ W1ᵀ)ᵀ == 2 W1 δ2 == W1 (2 δ2)"
    r = indexcalc.check(S4, "check δ2 = dE/dz2 == f'(z2) ⊙ L'(a2)\ncheck " + chain)
    links = r.steps[1:]
    assert [s.holds for s in links] == [True, True, False, True]
    assert links[2].kind == "factor" and "2 times" in links[2].message
    text = str(r)
    assert "✗ link 3 is the first that does not hold" in text
    assert "the first step that fails: step 4" in text


def test_a_chain_in_index_form():
    r = indexcalc.check(S1, "dE/dz_k == sum_j t_j (o_k - δ_jk) == o_k sum_j t_j - t_k "
                            "== t_k (o_k - 1)")
    assert [s.holds for s in r.steps] == [True, True, False]
    assert r.steps[2].kind == "sum" and r.failed is r.steps[2]


def test_a_named_step_is_not_a_tensor_of_the_model():
    with pytest.raises(indexcalc.IndexcalcError, match="names a checked step"):
        indexcalc.parse(S4 + "check δ2 = dE/dz2 == f'(z2) ⊙ L'(a2)\ng = sum(δ2)")
    with pytest.raises(indexcalc.IndexcalcError, match="already a tensor"):
        indexcalc.parse(S4 + "check a2 = dE/dz2 == f'(z2) ⊙ L'(a2)")
    m = indexcalc.parse(S4 + "check δ2 = dE/dz2 == f'(z2) ⊙ L'(a2)")
    assert "δ2" not in m.shapes and "δ2" not in m.inputs
    assert m.checks[0].name == "δ2"


def test_a_script_with_a_wrong_step_exits_with_status_1(tmp_path):
    from indexcalc.ui.cli import main
    script = tmp_path / "s4.ic"
    script.write_text(S4 + S4_STEPS.replace("a1 δ2ᵀ", "δ2 a1ᵀ") + "\n", encoding="utf-8")
    assert main(["run", str(script)]) == 1
    script.write_text(S4 + S4_STEPS + "\n", encoding="utf-8")
    assert main(["run", str(script)]) == 0


def test_the_readme_shows_what_check_prints():
    """The README's check transcripts (the first example, and the S4 backprop in
    steps with one wrong step) are what indexcalc prints now."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    first = indexcalc.check("z_k = sum_i W_ik y_i + b_k\no_j = exp(z_j) / sum_i exp(z_i)\n"
                            "E = -sum_j t_j log(o_j)", "dE/dz_k == t_k (o_k - 1)")
    assert "\n".join("# " + line for line in str(first).splitlines()) in readme
    model = ("z1 : vector[n]\nW1 : matrix[n, m]\na1 = f(z1)\nz2 = W1ᵀ a1 + b1\na2 = f(z2)\n"
             "E  = L(a2)")
    r = indexcalc.check(model, "check δ2 = dE/dz2 == f'(z2) ⊙ L'(a2)\n"
                               "check dE/dW1 == a1 δ2ᵀ\ncheck dE/dz1 == f'(z1) W1 δ2")
    assert [(s.holds, s.kind) for s in r.steps] == [(True, None), (True, None), (False, "product")]
    assert "[(True, None), (True, None), (False, 'product')]" in readme
    assert f"```\n{r}\n```" in readme


@pytest.mark.parametrize("model", [
    "h_i = s - x_i\nE = s + s - sum(h)",                  # x's dimension is named n only
    "\nh_i = s - x_i\ng = s + s - sum(h)\nE = 3 g",          # once the whole text is read
])
def test_a_claim_may_name_a_dimension_the_model_leaves_undeclared(model):
    """The derivative prints the inferred size (``2 − n``); a claim written the same
    way reads ``n`` as that size, not as an unknown tensor."""
    d = indexcalc.derivative(model, "s")
    factor = 3 if "3 g" in model else 1
    rng = np.random.default_rng(5)
    for n in (2, 5):                              # the size, by central differences in s
        x, s, h = rng.normal(size=n), 0.7, 1e-6
        e = lambda s: factor * (2 * s - np.sum(s - x))
        assert abs((e(s + h) - e(s - h)) / (2 * h) - factor * (2 - n)) < 1e-6
    assert d.text() in ("∂E/∂s = 2 − n", "∂E/∂s = 6 − 3 n")    # what the claims retype
    assert indexcalc.check(model, f"dE/ds == {factor} (2 - n)").holds
    assert indexcalc.check(model, f"dE/ds == {factor} * 2 - {factor} n").holds
    wrong = indexcalc.check(model, f"dE/ds == {factor} (n - 2)")
    assert not wrong.holds and wrong.kind == "sign"
