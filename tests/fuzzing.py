"""The fuzzer shared by tests/test_fuzz.py (a few thousand inputs in CI) and
tools/fuzz.py (the documented long run of 100,000 and more).

Nothing a user types may end in a Python traceback, a hang or unbounded
memory (DESIGN.md, "Errors").  So every input, valid or not, goes through the
whole front door: ``indexcalc.parse``, then for a model the derivative of its
last definition with respect to each of its variables (and a Hessian), its
text, its matrix form and its value on random arrays.  The only exception
allowed out is ``IndexcalcError``; anything else is an *escape*, recorded with
the input that caused it.  Each input is timed (and interrupted after
``HARD_TIMEOUT`` seconds, so a hang is reported rather than suffered).

Inputs are mutations of valid models (``SEEDS`` plus models drawn from the
Hypothesis strategies): tokens deleted, duplicated, swapped or replaced;
random Unicode; very long names; huge numbers; deep nesting of brackets,
functions, powers, signs and sums; long sums; splices of two models; and
plain random strings.
"""

from __future__ import annotations

import random
import re
import signal
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

import indexcalc
from indexcalc.errors import IndexcalcError
from indexcalc.testing import chain_model, clear_caches, mlp_model, random_arrays

HARD_TIMEOUT = 10.0          # seconds; an input running longer is reported as a hang
MAX_VARIABLES = 4            # derivatives per model (the first few variables)

SEEDS = [
    "x : vector[n]\nE = x_i x_i",
    "x : vector[n]; W : matrix[n, m]; b : vector[m]\nz_k = W_ik x_i + b_k\n"
    "o_j = exp(z_j) / sum_i exp(z_i)\nt : vector[m]\nE = -sum_j t_j log(o_j)\ndE/dz_k",
    "X : matrix[n, n]; A : matrix[n, n]\nf = tr(A X)\ng = det(X) + logdet(X)\n"
    "h = tr(inv(X) A)\ngrad(f, X)",
    "x ∈ ℝ^n; W1 ∈ ℝ^{n×h}; b1 ∈ ℝ^h; W2 ∈ ℝ^{h×k}; b2 ∈ ℝ^k; y ∈ ℝ^k\n"
    "r = x W1 + b1\nh1 = sigmoid(r)\nyhat = softmax(h1 W2 + b2)\nJ = -sum_i y_i log(yhat_i)",
    "x in R^n; A in R^(n,n)\nf = xᵀ A x\nhessian(f, x)\ncheck df/dx_p == (A_pq + A_qp) x_q",
    "θ : vector[n]; y : vector[n]\nE = logsumexp(θ) - dot(θ, y)\nassume sum_j y_j = 1",
    "a : vector[n]; b : vector[n]\ns : scalar\nf = ||a - s b||^2 + Σ_i a_i^3 / (1 + b_i^2)",
    "A : matrix[n, n] symmetric; x : vector[n]\nf = xᵀ A x + tr(A A)",
    "T : tensor[n, m, k]; v : vector[k]\nh_ij = T_ijk v_k\nE = sum_{i,j} h_ij^2",
    "x : vector[3]; u : vector[3]\nf = relu(x_i) u_i + abs(x_i) + softplus(x_i) u_i\n∂f/∂x",
    "z : vector[n]\nf_a = log_softmax(z)_a\nL(a)\ng = f(z_i) z_i",
    # shifted and strided subscripts, range conditions, padding
    "x : vector[n]; w : vector[K]\ny_i = sum_k w_k x_{i+k}\nL = sum_i c_i tanh(y_i)\ndL/dx\n"
    "check dL/dw_p == sum_i c_i (1 - tanh(y_i)^2) x_{i+p}",
    "x : vector[n]; w : vector[K]\ny_i = sum_k w_k x[2i+k]\nz_i = sum_k [0 ≤ k < 2] x[2i+k] / 2\n"
    "L = sum_i y_i^2 + z_i\ndL/dx_p",
    "X : tensor[B, C, H, W]; F : tensor[O, C, U, V]; β : vector[O]\n"
    "Y[b,o,i,j] = sum_{c,u,v} F[o,c,u,v] X[b,c,i+2u,j+2v] + β_o\nL = sum_{b,o,i,j} Y[b,o,i,j]^2",
    "x : vector[n] pad\ny : vector[n]\ny_i = x_{i-1} - 2 x_i + x_{i+1}\nT = sum_i (x_{i+1} - x_i)^2"
    "\ncheck dT/dx_p == 2 (x_p - x_{p-1}) [1 <= p < n] - 2 (x_{p+1} - x_p) [0 <= p < n-1]",
    "x : vector[n]; w : vector[K]; y : vector[m]\ny_i = sum_k w_k x[2i+k]\nL = sum_i c_i y_i\n"
    "dL/dx_p\ncheck dL/dw_p == sum_i c_i x[2i+p]",
]

# ---------------------------------------------------------------- mutations

TOKEN = re.compile(r"[A-Za-z\u0370-\u03ff][A-Za-z0-9\u0370-\u03ff]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
                   r"|\s+|.", re.S)
POOL = ["(", ")", "[", "]", "{", "}", "_", "^", "'", "ᵀ", ".T", "^T", "*", "/", "@", "⊙", ".*",
        "+", "-", "−", "=", "==", ";", "\n", ",", ":", "∂", "d", "sum_", "Σ_", "∑_", "||", "‖",
        "check ", "assume ", "in ", "∈", "ℝ", "R^", "vector[n]", "matrix[n, m]", "tensor[a,b,c]",
        "scalar", "symmetric", "exp(", "log(", "softmax(", "inv(", "det(", "tr(", "diag(",
        "norm(", "hessian(", "grad(", "jacobian(", "f'(", "L''(", "δ_ij", "0", "1e308",
        "1e-308", "9" * 70, "2^1000", "_{i,j}", "[i1,j2]", " ", "#", "x", "i", "σ", "θ",
        "_{i+k}", "[2i+k]", "_{i-1}", "[0 ≤ p − k < m]", "[2 | p]", " pad", "_{(p-k)/2}"]
WEIRD = ["\u0000", "\u200b", "\u202e", "\ufeff", "\U0001f600", "\u0301", "𝑥", "ℵ", "\\",
         "\ud800", "\r", "\t", "\x0b", "\x0c", "\u2028", "\u00a0", "∞", "NaN", "inf", "…",
         "＝", "（", "）", "−", "×", "ℝ", "∂∂", "''''", "ᵀᵀ", "\"", "`", "$", "%", "!", "?"]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def random_unicode(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            out.append(chr(rng.randint(32, 126)))
        elif r < 0.6:
            out.append(rng.choice(WEIRD))
        elif r < 0.8:
            out.append(chr(rng.randint(0x370, 0x3ff)))
        else:
            out.append(chr(rng.randint(0, 0x10FFFF)))
    return "".join(out)


def nest(rng: random.Random, k: int) -> str:
    """A deeply nested expression of depth ``k``."""
    kind = rng.choice(["paren", "exp", "pow", "neg", "sum", "call-mix", "transpose", "bracket",
                       "norm", "prime"])
    if kind == "paren":
        return "x : vector[n]\nE = " + "(" * k + "x_i x_i" + ")" * k
    if kind == "exp":
        return "x : scalar\nf = " + "exp(" * k + "x" + ")" * k
    if kind == "pow":
        return "x : scalar\nf = " + "^".join(["x"] * k)
    if kind == "neg":
        return "x : scalar\nf = " + "-" * k + "x"
    if kind == "sum":
        idx = [f"a{j}" for j in range(k)]
        return ("x : vector[n]\nf = " + " ".join(f"sum_{{{i}}}" for i in idx) + " "
                + " ".join(f"x[{i}]" for i in idx))
    if kind == "call-mix":
        fns = ["sin(", "tanh(", "sigmoid(", "log(1 + ", "sqrt(2 + "]
        parts = [rng.choice(fns) for _ in range(k)]
        return "x : vector[n]\nE = sum(" + "".join(parts) + "x" + ")" * (k + 1)
    if kind == "transpose":
        return "A : matrix[n, n]\nB = A" + "ᵀ" * k
    if kind == "bracket":
        return "x : vector[n]\nE = x" + "[" * k + "i" + "]" * k
    if kind == "norm":
        return "x : vector[n]\nE = " + "||" * k + "x" + "||" * k
    return "z : scalar\ng = f" + "'" * k + "(z)"


def long_input(rng: random.Random) -> str:
    kind = rng.choice(["name", "number", "terms", "statements", "products", "indices", "huge",
                       "layers"])
    n = rng.choice([100, 1000, 10_000, 100_000])
    if kind == "layers":                 # many definitions: a shared-weight chain, an MLP, a wide sum
        return layers(rng, rng.randint(1, 12))
    if kind == "name":
        name = "a" * n if rng.random() < 0.5 else "θ" * n
        return f"{name} : vector[n]\nE = {name}_i {name}_i"
    if kind == "number":
        digits = "".join(rng.choice("0123456789") for _ in range(min(n, 5000)))
        return rng.choice([f"x : scalar\nf = {digits} x", f"x : scalar\nf = x^{digits}",
                           f"x : vector[{digits}]\nf = sum(x)", f"x : scalar\nf = 1e{digits}",
                           f"x : scalar\nf = x^1e-{digits[:5]}", "x : scalar\nf = 2^2^2^2^2^x"])
    if kind == "terms":           # 2,000 terms are 14,000 tokens: over MAX_TOKENS; 100 are not
        return "x : vector[n]\nE = " + " + ".join("x_i x_i" for _ in range(min(n, 2_000)))
    if kind == "statements":
        lines = [f"x{j} : scalar" for j in range(min(n, 5000))]
        return "\n".join(lines) + "\nf = " + " * ".join(f"x{j}" for j in range(min(n, 2000)))
    if kind == "products":
        k = min(n, 400)
        return "x : vector[n]\nf = " + " ".join("(1 + x_i^2)" for _ in range(k))
    if kind == "indices":
        k = min(n, 200)
        names = [f"i{j}" for j in range(k)]
        return f"T : tensor[{', '.join(['n'] * k)}]\nf = T[{','.join(names)}] T[{','.join(names)}]"
    return "x" * (300 * 1024)


def layers(rng: random.Random, k: int) -> str:
    shape = rng.choice(["chain", "mlp", "wide"])
    if shape == "chain":
        return chain_model(k)
    if shape == "mlp":
        return mlp_model(k)
    return ("x : vector[n]\n" + "\n".join(f"h{j}_i = exp(x_i) + {j}" for j in range(k))
            + "\nE = " + " + ".join(f"sum(h{j})" for j in range(k)))


def mutate(rng: random.Random, text: str, seeds: list[str]) -> str:
    toks = tokens(text) or [""]
    kind = rng.choice(["delete", "duplicate", "swap", "replace", "insert", "unicode", "splice",
                       "chars", "repeat-line", "nest", "long", "random"])
    k = rng.randrange(len(toks))
    if kind == "delete":
        j = min(len(toks), k + rng.choice([1, 1, 2, 5]))
        toks[k:j] = []
    elif kind == "duplicate":
        toks.insert(k, toks[k])
    elif kind == "swap" and len(toks) > 1:
        j = rng.randrange(len(toks))
        toks[k], toks[j] = toks[j], toks[k]
    elif kind == "replace":
        toks[k] = rng.choice(POOL)
    elif kind == "insert":
        toks.insert(k, rng.choice(POOL))
    elif kind == "unicode":
        toks.insert(k, random_unicode(rng, rng.randint(1, 8)))
    elif kind == "splice":
        other = rng.choice(seeds)
        return text[:rng.randint(0, len(text))] + other[rng.randint(0, len(other)):]
    elif kind == "chars":
        s = list(text)
        for _ in range(rng.randint(1, 4)):
            if s:
                p = rng.randrange(len(s))
                s[p] = rng.choice(["", chr(rng.randint(0, 0x2fff)), rng.choice(WEIRD)])
        return "".join(s)
    elif kind == "repeat-line":
        lines = text.split("\n")
        line = rng.choice(lines)
        lines.insert(rng.randrange(len(lines) + 1), line)
        return "\n".join(lines)
    elif kind == "nest":
        return nest(rng, rng.choice([3, 30, 150, 199, 201, 399, 401, 1000, 5000]))
    elif kind == "long":
        return long_input(rng)
    else:
        return random_unicode(rng, rng.randint(0, 200))
    out = "".join(toks)
    if rng.random() < 0.3:                       # mutations compose
        return mutate(rng, out, seeds)
    return out


# ---------------------------------------------------------------- the pipeline


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` eats it."""


def _alarm(signum, frame):
    raise Hang()


def pipeline(text: str, seed: int = 0) -> str:
    """Everything a user can do with ``text``; returns how far it got."""
    model = indexcalc.parse(text)
    defs = list(model.definitions)
    if not defs:
        return "parsed"
    of = defs[-1]
    variables = [n for n in model.inputs][:MAX_VARIABLES]
    arrays = None
    for k, w in enumerate(variables):
        try:
            d = indexcalc.derivative(model, w, of=of)
            str(d)
            d.text(ascii=True)
            d.matrix()
            if arrays is None:
                arrays = random_arrays(model, seed, sizes={dim: 2 for dim in model.dims})
            d.evaluate(**arrays)
            if k == 0 and not model.shapes[of] and len(model.shapes[w]) <= 1:
                h = indexcalc.derivative(model, [w, w], of=of)
                str(h)
                h.evaluate(**arrays)
        except IndexcalcError:
            continue
    for q in model.questions:
        try:
            str(indexcalc.answer(model, q))
        except IndexcalcError:
            continue
    return "evaluated"


@dataclass
class Report:
    inputs: int = 0
    errors: int = 0                       # IndexcalcError: a clear refusal, allowed
    completed: int = 0                    # went through the whole pipeline
    escapes: list = field(default_factory=list)    # (input, traceback)
    hangs: list = field(default_factory=list)
    slowest: tuple = (0.0, "")
    limit: float = 1.0                    # seconds an input may take
    slow: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"inputs {self.inputs}, IndexcalcErrors {self.errors}, "
                f"completed {self.completed}, escapes {len(self.escapes)}, "
                f"hangs {len(self.hangs)}, over {self.limit:g} s {len(self.slow)}, "
                f"slowest {self.slowest[0]:.3f} s")


def run_one(text: str, report: Report, seed: int = 0, timeout: float = HARD_TIMEOUT) -> None:
    report.inputs += 1
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        pipeline(text, seed)
        report.completed += 1
    except IndexcalcError:
        report.errors += 1
    except Hang:
        report.hangs.append(text)
    except Exception:                                   # noqa: BLE001 - that is the point
        report.escapes.append((text, traceback.format_exc()))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.perf_counter() - start
    if elapsed > report.slowest[0]:
        report.slowest = (elapsed, text)
    if elapsed > report.limit:
        report.slow.append((elapsed, text))


def inputs(rng: random.Random, seeds: list[str], count: int):
    """``count`` fuzz inputs: mostly mutations, some seeds as they are."""
    for _ in range(count):
        base = rng.choice(seeds)
        yield base if rng.random() < 0.05 else mutate(rng, base, seeds)


def generated_seeds(count: int, derandomize: bool = False) -> list[str]:
    """Valid models from the Hypothesis strategies, to mutate (the same ones
    every time with ``derandomize``, as CI needs)."""
    from hypothesis import HealthCheck, given, settings

    from hypothesis import strategies as st
    from strategies import models, shifted_models
    out: list[str] = []

    @settings(max_examples=count, database=None, deadline=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(models(), shifted_models()))       # shifted and strided subscripts too
    def collect(case):
        out.append(case.text)

    collect()
    return out


def short(text: str, n: int = 300) -> str:
    return repr(text if len(text) <= n else text[:n] + f"... ({len(text):,} chars)")


def assert_clean(report: Report) -> None:
    assert not report.escapes, "escaped:\n" + "\n".join(
        f"{short(t)}\n{tb}" for t, tb in report.escapes[:5])
    assert not report.hangs, "hung:\n" + "\n".join(short(t) for t in report.hangs[:5])


def array_ok(a) -> bool:
    return isinstance(a, np.ndarray)


def retime(text: str) -> float:
    """Time ``text`` again, cold (a loaded machine makes single timings noisy)."""
    clear_caches()
    start = time.perf_counter()
    try:
        pipeline(text)
    except IndexcalcError:
        pass
    return time.perf_counter() - start
