"""A held-out set for readable answers (issue 15), and the measurement of it.

The problems are of the kinds issue 15 lists, but none is one of its texts (or
of the tests' or examples' texts): names, layouts, functions, order of factors
and the spelling of assumptions vary.  For each result we measure

- whether it has a matrix (or Kronecker) form, when a person would write one
  (``matrix`` says so, decided by hand when the set was written);
- defects left in the printed result, found numerically, not by reading the
  text: on random inputs (symmetric where declared, an assumed-normalised
  vector normalised) every subexpression of the result is evaluated and
  flagged when it is
    * ``zero``: a term of a sum that is identically zero;
    * ``cancel``: a constant left in: a subexpression made of the model's
      arrays whose value does not depend on them (``Σ_j p_j`` of a softmax is 1),
      or two terms of a sum that cancel;
    * ``unmerged``: two terms of a sum that are equal (``Cᵀ W + C W`` for
      symmetric C: the declared symmetry unused);
    * ``unfolded``: a subexpression equal to a name the model defines (or a power
      of it), or to a ``norm(…)`` the user wrote that the matrix form does not
      write as ``norm(…)``, printed written out.

``python tests/heldout_readable.py`` prints the table and the totals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from matrix_check import run, sizes_for

import indexcalc
from indexcalc.compiler.reference import evaluate_program
from indexcalc.ir import (
    Add,
    Const,
    Delta,
    DimSize,
    Mul,
    Sum,
    Var,
    add,
    const,
    mul,
    summation,
    var_names,
    walk,
)
from indexcalc.model import Binding, Program
from indexcalc.testing import random_arrays


@dataclass(frozen=True)
class Problem:
    name: str
    model: str
    wrt: object
    matrix: bool = True                  # a person writes a matrix (or Kronecker) form
    normalise: tuple = ()                # inputs assumed to sum to 1


P = Problem
PROBLEMS = [
    # ---------------------------------------------------------- batch backprop
    P("batch sigmoid, weights", "X : matrix[b, i]\nW : matrix[i, o]\nT : matrix[b, o]\n"
      "Y = sigmoid(X W)\nL = sum(T ⊙ Y)", "W"),
    P("batch exp, left factor", "A : matrix[o, i]\nX : matrix[i, b]\nC : matrix[o, b]\n"
      "E = exp(A X)\nL = sum(C ⊙ E)", "X"),
    P("two-layer batch tanh", "X : matrix[b, i]\nW1 : matrix[i, h]\nW2 : matrix[h, o]\n"
      "G : matrix[b, o]\nH = tanh(X W1)\nO = H W2\nL = sum(G ⊙ O)", "W1"),
    P("bias broadcast, transposed weights", "X : matrix[b, i]\nW : matrix[o, i]\nc : vector[o]\n"
      "G : matrix[b, o]\nZ = X Wᵀ + c\nL = sum(G ⊙ Z)", "c"),
    P("masked factorisation, right factor", "Mk : matrix[a, c]\nT : matrix[a, c]\n"
      "F : matrix[a, r]\nE : matrix[c, r]\nD = Mk ⊙ (F Eᵀ - T)\nL = sum(D ⊙ D) / 2", "E"),
    P("batch row softmax CE, other names", "Lg : matrix[b, k]\nT : matrix[b, k]\n"
      "Pr = softmax(Lg)\nL = -sum(T ⊙ log(Pr))", "Lg"),
    P("row logsumexp of an affine map", "X : matrix[b, i]\nW : matrix[i, k]\n"
      "s = logsumexp(X W)\nL = sum(s)", "W"),
    # ---------------------------------------------------------- attention
    P("attention, keys", "Qh : matrix[t, k]\nKh : matrix[u, k]\nVh : matrix[u, e]\n"
      "Gh : matrix[t, e]\nSc = Qh Khᵀ / sqrt(k)\nA = softmax(Sc)\nO = A Vh\n"
      "L = sum(Gh ⊙ O)", "Kh"),
    P("attention, values, unscaled", "Q : matrix[t, k]\nK : matrix[u, k]\nV : matrix[u, e]\n"
      "G : matrix[t, e]\nA = softmax(Q Kᵀ)\nY = A V\nL = sum(G ⊙ Y)", "V"),
    P("attention with an additive mask, queries", "Q : matrix[t, k]\nK : matrix[u, k]\n"
      "V : matrix[u, e]\nB : matrix[t, u]\nG : matrix[t, e]\nA = softmax(Q Kᵀ + B)\n"
      "Y = A V\nL = sum(G ⊙ Y)", "Q"),
    # ---------------------------------------------------------- norms
    P("unit vector, other names", "v : vector[m]\nu = v / norm(v)", "v"),
    P("norm of a residual", "A : matrix[m, n]\nx : vector[n]\nt : vector[m]\n"
      "e = A x - t\nr = norm(e)", "x"),
    P("RMS norm, other names", "z : vector[m]\nw : vector[m]\nc : vector[m]\n"
      "q = sqrt(sum(z ⊙ z) / m + 1e-6)\nzn = z / q\nL = cᵀ (w ⊙ zn)", "z"),
    P("layer norm, scale gradient", "x : vector[m]\nw : vector[m]\nc : vector[m]\n"
      "me = sum(x) / m\nd = x - me\nva = sum(d ⊙ d) / m\nxn = d / sqrt(va + 1e-5)\n"
      "L = cᵀ (w ⊙ xn)", "x"),
    # ---------------------------------------------------------- Hessians
    P("Gaussian precision, gradient", "x : vector[n]\nm : vector[n]\n"
      "P : matrix[n, n] symmetric\nr = x - m\nE = rᵀ P r / 2 - logdet(P) / 2", "P"),
    P("Gaussian, Hessian in the mean", "x : vector[n]\nm : vector[n]\n"
      "S : matrix[n, n] symmetric\nr = x - m\nE = rᵀ inv(S) r / 2", ["m", "m"]),
    P("ridge Hessian, halves", "A : matrix[m, n]\nw : vector[n]\nt : vector[m]\nmu : scalar\n"
      "e = A w - t\nE = eᵀ e / 2 + mu wᵀ w / 2", ["w", "w"]),
    P("logistic Hessian, sigmoid spelt", "X : matrix[N, D]\nw : vector[D]\ny : vector[N]\n"
      "p = sigmoid(X w)\nE = -sum(y ⊙ log(p) + (1 - y) ⊙ log(1 - p))", ["w", "w"]),
    P("logistic gradient, sigmoid spelt", "X : matrix[N, D]\nw : vector[D]\ny : vector[N]\n"
      "p = sigmoid(X w)\nE = -sum(y ⊙ log(p) + (1 - y) ⊙ log(1 - p))", "w"),
    # ---------------------------------------------------------- KL / entropy
    P("KL to a softmax, assume spelt sum(q)", "a : vector[k]\nq : vector[k]\np = softmax(a)\n"
      "K = sum(q ⊙ log(q) - q ⊙ log(p))\nassume sum(q) = 1", "a", normalise=("q",)),
    P("entropy in index notation", "t : vector[k]\ns = softmax(t)\n"
      "H = -sum_i s_i log(s_i)", "t"),
    P("KL of a softmax to a fixed q", "a : vector[k]\nq : vector[k]\np = softmax(a)\n"
      "K = sum(p ⊙ log(p) - p ⊙ log(q))", "a"),
    P("cross-entropy of a linear softmax, assume", "W : matrix[k, i]\nx : vector[i]\n"
      "y : vector[k]\np = softmax(W x)\nE = -sum(y ⊙ log(p))\nassume sum(y) = 1", "W",
      normalise=("y",)),
    # ---------------------------------------------------------- Cookbook
    P("tr(Xᵀ A X)", "A : matrix[m, m]\nX : matrix[m, n]\nf = tr(Xᵀ A X)", "X"),
    P("tr(A X B)", "A : matrix[n, m]\nX : matrix[m, k]\nB : matrix[k, n]\nf = tr(A X B)", "X"),
    P("aᵀ X b", "a : vector[m]\nX : matrix[m, n]\nb : vector[n]\nf = aᵀ X b", "X"),
    P("tr(B inv(X))", "B : matrix[n, n]\nX : matrix[n, n]\nf = tr(B inv(X))", "X"),
    # ---------------------------------------------------------- Kronecker
    P("vec of B X Cᵀ", "B : matrix[m, k]\nX : matrix[k, l]\nC : matrix[n, l]\nY = B X Cᵀ", "X"),
    P("Hessian of ‖Y − X W‖² in W", "X : matrix[n, k]\nW : matrix[k, m]\nY : matrix[n, m]\n"
      "R = Y - X W\nL = sum(R ⊙ R)", ["W", "W"]),
    # ---------------------------------------------------------- symmetry
    P("xᵀ S x, symmetric", "S : matrix[n, n] symmetric\nx : vector[n]\nf = xᵀ S x", "x"),
    P("tr(X Xᵀ S), symmetric", "S : matrix[n, n] symmetric\nX : matrix[n, k]\n"
      "f = tr(X Xᵀ S)", "X"),
    P("logdet of a Gram matrix", "X : matrix[N, D]\nG = Xᵀ X\nf = logdet(G)", "X"),
    # ---------------------------------------------------------- names to fold, GELU
    P("affine tanh layer, folded names", "W : matrix[o, i]\nx : vector[i]\nb : vector[o]\n"
      "c : vector[o]\nh = W x + b\ng = tanh(h)\nL = cᵀ g", "W"),
    P("GELU (tanh form), other names", "z : vector[m]\nc : vector[m]\n"
      "s = 0.7978845608 (z + 0.044715 z ⊙ z ⊙ z)\ng = z ⊙ (1 + tanh(s)) / 2\nL = cᵀ g", "z"),
    # ---------------------------------------------------------- more spellings
    P("relu MLP with a row bias, bias gradient", "X : matrix[b, i]\nW1 : matrix[i, h]\n"
      "c1 : vector[h]\nW2 : matrix[h, o]\nG : matrix[b, o]\nH = relu(X W1 + c1)\n"
      "L = sum(G ⊙ (H W2))", "c1"),
    P("batch norm of a batch matrix, index form", "X : matrix[b, f]\nC : matrix[b, f]\n"
      "mu_j = sum_i X_ij / b\nD_ij = X_ij - mu_j\nva_j = sum_i D_ij D_ij / b\n"
      "Xn_ij = D_ij / sqrt(va_j + 1e-5)\nL = sum_{i,j} C_ij Xn_ij", "X"),
    P("multi-head scores in index form", "Q : tensor[h, t, k]\nK : tensor[h, u, k]\n"
      "G : tensor[h, t, u]\nS_ntu = sum_k Q_ntk K_nuk\nA_ntu = exp(S_ntu)\n"
      "L = sum_{n,t,u} G_ntu A_ntu", "Q", matrix=False),
    P("softmax Jacobian spelt by hand", "z : vector[k]\np_j = exp(z_j) / sum_i exp(z_i)", "z"),
    P("cross-entropy Hessian, index assume", "z : vector[k]\ny : vector[k]\np = softmax(z)\n"
      "E = -sum_k y_k log(p_k)\nassume sum_k y_k = 1", ["z", "z"], normalise=("y",)),
    P("one-line two-layer softmax, assume", "x : vector[i]\nW1 : matrix[h, i]\n"
      "W2 : matrix[k, h]\ny : vector[k]\nyh = softmax(W2 tanh(W1 x))\n"
      "E = -sum(y ⊙ log(yh))\nassume sum(y) = 1", "W1", normalise=("y",)),
    P("Gaussian covariance, halves in one", "x : vector[n]\nm : vector[n]\n"
      "C : matrix[n, n] symmetric\nE = (logdet(C) + (x - m)ᵀ inv(C) (x - m)) / 2", "C"),
    P("tr(S X S X), symmetric", "S : matrix[n, n] symmetric\nX : matrix[n, n]\n"
      "f = tr(S X S X)", "X"),
    P("quadratic form Hessian, no symmetry", "A : matrix[n, n]\nx : vector[n]\nf = xᵀ A x",
      ["x", "x"]),
    P("vec of X W in W", "X : matrix[n, k]\nW : matrix[k, m]\nY = X W", "W"),
    P("vec of A X Aᵀ", "A : matrix[m, n]\nX : matrix[n, n]\nY = A X Aᵀ", "X"),
    P("entropy through log_softmax", "z : vector[k]\nH = -sum(softmax(z) ⊙ log_softmax(z))",
      "z"),
    P("inverse norm", "x : vector[n]\nr = sqrt(sum(x ⊙ x))\nf = 1 / r", "x"),
    P("inv(X) X cancels", "X : matrix[n, n]\nB : matrix[n, n]\nf = tr(inv(X) X B)", "X"),
]


# ---------------------------------------------------------------- measuring

TOL = 1e-9
POWERS = (1, 2, -1, -2)                  # q² printed as the sum it squares is unfolded too


def _inputs(model, problem: Problem, seed: int) -> dict:
    arrays = random_arrays(model, seed=seed, sizes=sizes_for(model))
    for name in problem.normalise:
        a = np.abs(arrays[name]) + 0.1
        arrays[name] = a / a.sum()
    return arrays


def _values(bindings, shapes, named: dict, arrays: dict) -> dict:
    """Values of ``named`` ({key: (indices, expr)}) after the model's bindings."""
    extra = tuple(Binding(f"_t{k}", ix, e) for k, (ix, e) in named.items())
    out = tuple(b.name for b in extra)
    env = evaluate_program(Program(tuple(bindings) + extra, out, shapes), arrays)
    return {k: env[f"_t{k}"] for k in named}


def _free(e) -> tuple:
    return tuple(sorted(e.free, key=lambda i: i.name))


def _close(a, b) -> bool:
    return np.shape(a) == np.shape(b) and np.allclose(a, b, atol=TOL, rtol=1e-7)


def _norm_calls(text: str):
    """``norm(v)`` the user wrote, but did not name (``r = norm(e)`` is the name ``r``)."""
    named = set(re.findall(r"^\w+ = norm\((\w+)\)$", text, re.MULTILINE))
    return sorted(set(re.findall(r"norm\((\w+)\)", text)) - named)


def defects(problem: Problem, d=None) -> set[str]:
    """The kinds of defect left in the printed result (see the module docstring)."""
    model = indexcalc.parse(problem.model)
    d = d or indexcalc.derivative(problem.model, wrt=problem.wrt)
    expr = d.unnamed_expr
    bindings = tuple(model.program().bindings) + tuple(d.adjoints)
    subs = [e for e in walk(expr) if not isinstance(e, (Const, DimSize, Delta, Var))
            and var_names(e) and len(e.free) <= 2]
    terms = [t for e in walk(expr) if isinstance(e, Add) and len(e.free) <= 2 for t in e.terms]
    named = {k: (_free(e), e) for k, e in enumerate(dict.fromkeys(subs + terms))}
    spread = [x for e in walk(expr) if isinstance(e, Sum) and len(e.free) <= 2
              for x in _distributed(e)]
    subs += [x for x in spread if x not in subs]
    subs += [x for e in walk(expr) if isinstance(e, Add) and len(e.free) <= 2
             for x in _partial_sums(e) if x not in subs]
    named = {k: (_free(e), e) for k, e in enumerate(dict.fromkeys(subs + terms))}
    inner = set(subs)
    defs = dict(model.definitions)
    shown = d.matrix().text
    for v in _norm_calls(problem.model):
        if f"norm({v})" not in shown:            # the matrix form writes it as the user did
            defs[f"norm({v})"] = None
    found = set()
    runs = []
    for seed in (0, 1):
        arrays = _inputs(model, problem, seed)
        values = _values(bindings, model.shapes, named, arrays)
        env = {**arrays, **run(model.program(), arrays)}
        for v in _norm_calls(problem.model):
            env[f"norm({v})"] = np.sqrt(np.sum(env[v] ** 2))
        runs.append((values, env))
    for k, (ix, e) in named.items():
        if isinstance(e, Add):
            found |= _add_defects(e, runs, named)
        if e not in inner:
            continue
        a, b = runs[0][0][k], runs[1][0][k]
        if np.ndim(a) == 0 and _close(a, b):
            found.add("cancel")                          # a constant written with arrays
        if _unfolded(e, k, runs, defs):
            found.add("unfolded")
    return found


def _distributed(e: Sum) -> list:
    """``Σ_j f (a + b + c)`` taken apart: ``Σ_j f a``, … and ``Σ_j f (the terms with
    arrays)``, so that a constant or a name hidden by a distributed factor is seen."""
    factors = e.body.factors if isinstance(e.body, Mul) else (e.body,)
    out = []
    for k, f in enumerate(factors):
        if not isinstance(f, Add):
            continue
        rest = factors[:k] + factors[k + 1:]
        parts = [(t,) for t in f.terms] + [tuple(t for t in f.terms if var_names(t))]
        out += [summation(e.indices, mul(*rest, add(*p))) for p in parts if p]
    return out


def _partial_sums(e: Add) -> list:
    """Sums of two or more (not all) terms of a short sum, and their negations: a name
    may be written out as part of a sum (``− Σ p log p + Σ p log q`` is ``−K``)."""
    terms = e.terms
    if len(terms) > 5:
        return []
    out = []
    for mask in range(1, 2 ** len(terms) - 1):
        chosen = [t for k, t in enumerate(terms) if mask >> k & 1]
        if len(chosen) >= 2:
            out += [add(*chosen), mul(const(-1), add(*chosen))]
    return out


def _add_defects(e, runs, named) -> set[str]:
    index = {t: k for k, (_, t) in named.items()}
    vals = [[r[0][index[t]] for r in runs] for t in e.terms]
    out = set()
    for a in range(len(vals)):
        if all(_close(v, 0 * v) for v in vals[a]):
            out.add("zero")
        for b in range(a + 1, len(vals)):
            if not all(np.shape(x) == np.shape(y) for x, y in zip(vals[a], vals[b])):
                continue
            if all(_close(x, -y) for x, y in zip(vals[a], vals[b])):
                out.add("cancel")
            elif all(_close(x, y) for x, y in zip(vals[a], vals[b])):
                out.add("unmerged")
    return out


def _unfolded(e, k, runs, defs) -> bool:
    """A written-out subexpression equal to a model name (in some order of its indices)."""
    for name in defs:
        if len(var_names(e)) == 1 and not isinstance(e, (Add, Sum)):
            continue                                     # a power of one name (1/r, r²)
        hits = 0
        for values, env in runs:
            want, got = np.asarray(env[name]), np.asarray(values[k])
            if want.ndim != got.ndim or want.size < 1:
                break
            with np.errstate(divide="ignore", invalid="ignore"):
                powers = [want ** k for k in POWERS]
            if not any(_close(got, np.transpose(w, p)) for w in powers
                       for p in _perms(want.ndim)):
                break
            hits += 1
        if hits == len(runs):
            return True
    return False


def _perms(n):
    return [(0,), ] if n == 1 else [(0, 1), (1, 0)] if n == 2 else [()]


def has_matrix_form(d) -> bool:
    forms = [d.matrix(layout) for layout in ("column", "row")]
    return all(f.exact or bool(f.vec) for f in forms)


def measure(problems=PROBLEMS):
    rows = []
    for p in problems:
        d = indexcalc.derivative(p.model, wrt=p.wrt)
        rows.append((p, has_matrix_form(d), defects(p, d), d))
    return rows


def report(rows) -> str:
    lines = []
    want = sum(p.matrix for p, *_ in rows)
    got = sum(p.matrix and ok for p, ok, _, _ in rows)
    kinds = ("zero", "cancel", "unmerged", "unfolded")
    for p, ok, found, d in rows:
        flag = ("form " if ok else "NONE ") if p.matrix else "n/a  "
        lines.append(f"{flag} {','.join(sorted(found)) or '-':24} {p.name}")
    lines.append(f"matrix forms: {got}/{want}")
    for kind in kinds:
        lines.append(f"{kind}: {sum(kind in f for _, _, f, _ in rows)}/{len(rows)}")
    lines.append(f"results with any defect: {sum(bool(f) for _, _, f, _ in rows)}/{len(rows)}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    rows = measure()
    if "-v" in sys.argv:
        for p, ok, found, d in rows:
            print(f"== {p.name}: {sorted(found)}\n{d}\n{d.matrix()}\n")
    print(report(rows))
