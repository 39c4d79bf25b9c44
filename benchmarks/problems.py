"""The benchmark problems, in one table: model text, sizes, inputs, loss and baseline.

Every problem is defined once here, so that the harness (``run.py``), the peer
adapters (``peers.py``) and the README all speak about the same thing:

* ``models``: the problem in indexcalc notation (DESIGN.md).  Several spellings
  may be listed; the harness uses the first one indexcalc accepts and says
  which in the results, so a gap in the grammar shows up as a note, not as a
  missing row.
* ``loss(b, **arrays)``: the scalar being differentiated, written once against a
  tiny backend namespace ``b`` (NumPy, jax.numpy, autograd.numpy or torch), so
  that every peer differentiates the very same function.
* ``numpy``: the closed form an expert writes by hand.  It is the baseline
  (ratio 1.0) and the reference for the agreement check; ``fd_check`` verifies
  each baseline against finite differences of the NumPy loss.

Derivative arrays follow the JAX convention: shape = output.shape + wrt.shape,
so a gradient has the variable's shape and a Hessian wrt ``x`` is
``x.shape + x.shape``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np


# ---------------------------------------------------------------------------
# backend namespaces: the few operations the losses need, per array library

def numpy_backend():
    def lse(x):
        m = x.max(axis=-1, keepdims=True)
        return m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return SimpleNamespace(
        name="numpy", sum=np.sum, exp=np.exp, tanh=np.tanh, log=np.log, trace=np.trace,
        lse=lse,
        sigmoid=lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
        softplus=lambda x: np.logaddexp(0.0, x),
        logabsdet=lambda x: np.linalg.slogdet(x)[1])


def jax_backend():
    import jax
    import jax.numpy as jnp
    return SimpleNamespace(
        name="jax", sum=jnp.sum, exp=jnp.exp, tanh=jnp.tanh, log=jnp.log, trace=jnp.trace,
        lse=lambda x: jax.nn.logsumexp(x, axis=-1, keepdims=True),
        sigmoid=jax.nn.sigmoid, softplus=jax.nn.softplus,
        logabsdet=lambda x: jnp.linalg.slogdet(x)[1])


def autograd_backend():
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp
    return SimpleNamespace(
        name="autograd", sum=anp.sum, exp=anp.exp, tanh=anp.tanh, log=anp.log, trace=anp.trace,
        lse=lambda x: logsumexp(x, axis=-1, keepdims=True),
        sigmoid=lambda x: 0.5 * (1.0 + anp.tanh(0.5 * x)),
        softplus=lambda x: anp.logaddexp(0.0, x),
        logabsdet=lambda x: anp.linalg.slogdet(x)[1])


def torch_backend():
    import torch
    return SimpleNamespace(
        name="torch", sum=torch.sum, exp=torch.exp, tanh=torch.tanh, log=torch.log,
        trace=torch.trace,
        lse=lambda x: torch.logsumexp(x, dim=-1, keepdim=True),
        sigmoid=torch.sigmoid,
        softplus=lambda x: torch.logaddexp(torch.zeros((), dtype=x.dtype), x),
        logabsdet=lambda x: torch.linalg.slogdet(x)[1])


# ---------------------------------------------------------------------------
# the problem record

@dataclass
class Problem:
    name: str                      # "G1", "H3", ...
    title: str
    sizes: dict[str, dict[str, int]]          # "small"/"medium" -> dimension values
    make: Callable[[dict, np.random.Generator], dict[str, np.ndarray]]
    loss: Callable                 # loss(b, **arrays) -> scalar
    numpy: Callable                # numpy(**arrays) -> tuple of derivative arrays
    wrt: tuple[str, ...]           # variables (gradients) or (x,) for a Hessian
    models: tuple[str, ...]        # indexcalc texts, preferred first
    of: str                        # the scalar the models define
    kind: str = "grad"             # "grad", "hessian", "hvp" or "value" (the loss itself)
    note: str = ""
    args: tuple[str, ...] = field(default=())     # positional order of the loss's arrays
    extra: Callable | None = None  # arrays -> extra inputs some model spellings declare
    flops: Callable | None = None  # dims -> FLOPs of the hand-written algorithm
    peers: tuple[str, ...] | None = None          # implementations that run it (None: all)
    ic_wrt: tuple[str, ...] = ()   # indexcalc's wrt list when it differs (the HVP trick)
    direction: str = ""            # kind "hvp": the input holding the direction v

    def size_label(self, size: str) -> str:
        return " ".join(f"{k}={v}" for k, v in self.sizes[size].items())

    def indexcalc_outputs(self) -> list[str]:
        """The names asked of ``indexcalc.compile`` (``dE/dW1``, ...)."""
        if self.kind == "value":
            return [self.of]
        if self.kind == "hessian":
            return [f"d2{self.of}/d{self.wrt[0]}2"]
        if self.ic_wrt:
            return [f"d{len(self.ic_wrt)}{self.of}/" + "".join(f"d{w}" for w in self.ic_wrt)]
        return [f"d{self.of}/d{w}" for w in self.wrt]


def _onehot(rows, classes, rng):
    y = np.zeros((rows, classes))
    y[np.arange(rows), rng.integers(0, classes, rows)] = 1.0
    return y


# ---------------------------------------------------------------------------
# G1: softmax cross-entropy, gradient wrt the logits (batched)

def g1_make(d, rng):
    return {"Z": 2.0 * rng.standard_normal((d["B"], d["C"])), "Y": _onehot(d["B"], d["C"], rng)}


def g1_loss(b, Z, Y):
    return -b.sum(Y * (Z - b.lse(Z)))


def g1_numpy(Z, Y):
    # one-hot labels: dE/dZ = softmax(Z) - Y, computed stably and in place
    P = Z - Z.max(axis=1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=1, keepdims=True)
    P -= Y
    return (P,)


G1_DECL = "Z : matrix[B, C]\nY : matrix[B, C]\n"
G1 = Problem(
    "G1", "softmax cross-entropy, dE/dZ (batch × classes)",
    {"small": {"B": 32, "C": 10}, "medium": {"B": 256, "C": 1000}},
    g1_make, g1_loss, g1_numpy, ("Z",),
    models=(
        G1_DECL + "L = log_softmax(Z)\nE = -sum_{b,c} Y_bc L_bc\nassume sum_c Y_bc = 1",
        G1_DECL + "L = log_softmax(Z)\nE = -sum_{b,c} Y_bc L_bc",
        G1_DECL + "P = softmax(Z)\nE = -sum_{b,c} Y_bc log(P_bc)",
    ),
    of="E", args=("Z", "Y"),
    note="Y is one-hot; the baseline uses that (P − Y), the model states it with `assume`.")


# ---------------------------------------------------------------------------
# G2: two-layer MLP, sigmoid hidden layer, softmax cross-entropy

def g2_make(d, rng):
    B, D, H, C = d["B"], d["D"], d["H"], d["C"]
    return {"X": rng.standard_normal((B, D)),
            "W1": rng.standard_normal((D, H)) / np.sqrt(D), "b1": 0.1 * rng.standard_normal(H),
            "W2": rng.standard_normal((H, C)) / np.sqrt(H), "b2": 0.1 * rng.standard_normal(C),
            "Y": _onehot(B, C, rng)}


def g2_loss(b, X, W1, b1, W2, b2, Y):
    Hd = b.sigmoid(X @ W1 + b1)
    T = Hd @ W2 + b2
    return -b.sum(Y * (T - b.lse(T)))


def _g2_hidden(X, W1, b1):
    """σ(X W1 + b1) = (1 + tanh((X W1 + b1)/2)) / 2, stable, in one buffer."""
    Hd = X @ W1
    Hd += b1
    Hd *= 0.5
    np.tanh(Hd, out=Hd)
    Hd += 1.0
    Hd *= 0.5
    return Hd


def g2_numpy_loss(X, W1, b1, W2, b2, Y):
    Hd = _g2_hidden(X, W1, b1)
    T = Hd @ W2 + b2
    m = T.max(axis=1)
    lse = m + np.log(np.exp(T - m[:, None]).sum(axis=1))
    return (lse.sum() - np.vdot(Y, T),)          # one-hot rows: sum_c Y_bc = 1


def g2_numpy(X, W1, b1, W2, b2, Y):
    Hd = _g2_hidden(X, W1, b1)
    P = Hd @ W2 + b2                              # logits
    P -= P.max(axis=1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=1, keepdims=True)
    P -= Y                                        # dE/dT (one-hot labels)
    dW2 = Hd.T @ P
    dR = P @ W2.T
    dR *= Hd
    dR *= 1.0 - Hd                                # dE/dR = (dE/dH) ⊙ σ'(R)
    return X.T @ dR, dW2, dR @ W1.T


G2_DECL = ("X : matrix[B, D]\nW1 : matrix[D, H]\nb1 : vector[H]\nW2 : matrix[H, C]\n"
           "b2 : vector[C]\nY : matrix[B, C]\n")
G2_ONES = "u : vector[B]\n"       # all ones: for the bias rows, if broadcasting is refused
G2_MODELS = (
    G2_DECL + "Hd = sigmoid(X W1 + b1)\nT = Hd W2 + b2\nL = log_softmax(T)\n"
              "E = -sum_{b,c} Y_bc L_bc\nassume sum_c Y_bc = 1",
    G2_DECL + "R_bj = X_bi W1_ij + b1_j\nHd_bj = sigmoid(R_bj)\nT_bc = Hd_bj W2_jc + b2_c\n"
              "L = log_softmax(T)\nE = -sum_{b,c} Y_bc L_bc\nassume sum_c Y_bc = 1",
    G2_DECL + G2_ONES + "R_bj = X_bi W1_ij + u_b b1_j\nHd_bj = sigmoid(R_bj)\n"
                        "T_bc = Hd_bj W2_jc + u_b b2_c\nL = log_softmax(T)\n"
                        "E = -sum_{b,c} Y_bc L_bc\nassume sum_c Y_bc = 1",
    G2_DECL + G2_ONES + "R_bj = X_bi W1_ij + u_b b1_j\nHd_bj = sigmoid(R_bj)\n"
                        "T_bc = Hd_bj W2_jc + u_b b2_c\nL = log_softmax(T)\n"
                        "E = -sum_{b,c} Y_bc L_bc",
)


def g2_extra(arrays):
    """Inputs only some model spellings declare (the all-ones ``u``)."""
    return {"u": np.ones(arrays["X"].shape[0])}


G2_SIZES = {"small": {"B": 16, "D": 32, "H": 64, "C": 10},
            "medium": {"B": 256, "D": 784, "H": 512, "C": 10}}
G2 = Problem(
    "G2", "2-layer MLP (σ hidden, softmax-CE), dE/dW1, dE/dW2, dE/dX",
    G2_SIZES, g2_make, g2_loss, g2_numpy, ("W1", "W2", "X"),
    models=G2_MODELS, of="E", args=("X", "W1", "b1", "W2", "b2", "Y"), extra=g2_extra)
G2_LOSS = Problem(
    "G2-loss", "the same MLP loss E itself (forward only)",
    G2_SIZES, g2_make, g2_loss, g2_numpy_loss, (),
    models=G2_MODELS, of="E", kind="value", args=("X", "W1", "b1", "W2", "b2", "Y"),
    extra=g2_extra,
    note="for the target 'gradient ≤ 3× the loss'; peers run the loss (JAX jitted).")


# ---------------------------------------------------------------------------
# G3: tr(A X B) and log|det X|, gradients wrt X

def g3_make(d, rng):
    n = d["n"]
    return {"A": rng.standard_normal((n, n)), "X": rng.standard_normal((n, n)),
            "B": rng.standard_normal((n, n))}


def g3tr_loss(b, A, X, B):
    return b.trace(A @ X @ B)


def g3tr_numpy(A, X, B):
    return ((B @ A).T,)                           # d tr(AXB)/dX = Aᵀ Bᵀ = (BA)ᵀ


def g3ld_loss(b, X):
    return b.logabsdet(X)


def g3ld_numpy(X):
    return (np.linalg.inv(X).T,)                  # d log|det X|/dX = X⁻ᵀ


G3_SIZES = {"small": {"n": 100}, "medium": {"n": 500}}
G3_TR = Problem(
    "G3-tr", "tr(A X B), dF/dX", G3_SIZES, g3_make, g3tr_loss, g3tr_numpy, ("X",),
    models=("A : matrix[n, n]\nX : matrix[n, n]\nB : matrix[n, n]\nF = tr(A X B)",
            "A : matrix[n, n]\nX : matrix[n, n]\nB : matrix[n, n]\nF = A_ij X_jk B_ki"),
    of="F", args=("A", "X", "B"))
G3_LD = Problem(
    "G3-logdet", "log|det X|, dG/dX", G3_SIZES,
    lambda d, rng: {"X": g3_make(d, rng)["X"]}, g3ld_loss, g3ld_numpy, ("X",),
    models=("X : matrix[n, n]\nG = logdet(X)",),
    of="G", args=("X",))


# ---------------------------------------------------------------------------
# H1: Hessian of xᵀ A x

def h1_make(d, rng):
    n = d["n"]
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n))}


def h1_loss(b, x, A):
    return x @ A @ x


def h1_numpy(x, A):
    return (A + A.T,)


H1 = Problem(
    "H1", "Hessian of xᵀAx wrt x", {"small": {"n": 100}, "medium": {"n": 1000}},
    h1_make, h1_loss, h1_numpy, ("x",),
    models=("x : vector[n]\nA : matrix[n, n]\nf = xᵀ A x",
            "x : vector[n]\nA : matrix[n, n]\nf = x_i A_ij x_j"),
    of="f", kind="hessian", args=("x", "A"))


# ---------------------------------------------------------------------------
# H2: Hessian of the logistic-regression loss wrt w

def h2_make(d, rng):
    N, D = d["N"], d["D"]
    return {"X": rng.standard_normal((N, D)) / np.sqrt(D), "w": rng.standard_normal(D),
            "y": rng.integers(0, 2, N).astype(np.float64)}


def h2_loss(b, X, w, y):
    m = X @ w
    return b.sum(b.softplus(m) - y * m)


def h2_numpy(X, w, y):
    s = 0.5 * (1.0 + np.tanh(0.5 * (X @ w)))      # σ(Xw), stable
    return (X.T @ (X * (s * (1.0 - s))[:, None]),)  # Xᵀ diag(σ(1−σ)) X, no diag built


H2_DECL = "X : matrix[N, D]\nw : vector[D]\ny : vector[N]\n"
H2 = Problem(
    "H2", "Hessian of logistic-regression loss wrt w",
    {"small": {"N": 1000, "D": 100}, "medium": {"N": 1000, "D": 1000}},
    h2_make, h2_loss, h2_numpy, ("w",),
    models=(H2_DECL + "m = X w\nE = sum_i (softplus(m_i) - y_i m_i)",
            H2_DECL + "m_i = X_ij w_j\nE = sum_i (softplus(m_i) - y_i m_i)",
            H2_DECL + "m_i = X_ij w_j\nE = sum_i (log(1 + exp(m_i)) - y_i m_i)"),
    of="E", kind="hessian", args=("X", "w", "y"))


# ---------------------------------------------------------------------------
# H3: Hessian of ‖T − U Vᵀ‖²_F wrt U (a 4-index tensor)

def h3_make(d, rng):
    m, n, k = d["m"], d["n"], d["k"]
    return {"T": rng.standard_normal((m, n)), "U": rng.standard_normal((m, k)),
            "V": rng.standard_normal((n, k))}


def h3_loss(b, T, U, V):
    R = T - U @ V.T
    return b.sum(R * R)


def h3_numpy(T, U, V):
    # ∂²f/∂U_ab ∂U_cd = 2 δ_ac (VᵀV)_bd: write the k×k block into the a = c diagonal
    m, k = U.shape
    H = np.zeros((m, k, m, k))
    idx = np.arange(m)
    H[idx, :, idx, :] = 2.0 * (V.T @ V)
    return (H,)


H3_DECL = "T : matrix[m, n]\nU : matrix[m, k]\nV : matrix[n, k]\n"
H3 = Problem(
    "H3", "Hessian of ‖T − U Vᵀ‖²_F wrt U (m×k×m×k)",
    {"small": {"m": 20, "n": 20, "k": 5}, "medium": {"m": 50, "n": 50, "k": 10}},
    h3_make, h3_loss, h3_numpy, ("U",),
    models=(H3_DECL + "R = T - U Vᵀ\nf = sum_{i,j} R_ij R_ij",
            H3_DECL + "R_ij = T_ij - U_ia V_ja\nf = R_ij R_ij",
            H3_DECL + "f = norm(T - U Vᵀ)^2"),
    of="f", kind="hessian", args=("T", "U", "V"))


PROBLEMS = [G1, G2, G2_LOSS, G3_TR, G3_LD, H1, H2, H3]


def register(*problems: Problem) -> None:
    """Add problems defined in another module (``workloads.py``, ``conv.py``)."""
    known = {p.name for p in PROBLEMS}
    PROBLEMS.extend(p for p in problems if p.name not in known)


def select(names: list[str] | None) -> list[Problem]:
    """Problems by name; "G2" also selects "G2-loss", "G3" both G3 problems."""
    if not names:
        return list(PROBLEMS)
    wanted = [n.strip().upper() for n in names if n.strip()]
    out = [p for p in PROBLEMS if any(p.name.upper() == w or p.name.upper().startswith(w + "-")
                                      for w in wanted)]
    unknown = [w for w in wanted if not any(p.name.upper() == w or
                                            p.name.upper().startswith(w + "-")
                                            for p in PROBLEMS)]
    if unknown:
        raise SystemExit(f"unknown problem(s): {', '.join(unknown)}; "
                         f"known: {', '.join(p.name for p in PROBLEMS)}")
    return out


# ---------------------------------------------------------------------------
# the symbolic-side problems: golden models S1–S4 plus H1–H3
# (name, model text, of, wrt, small dimension values for a first call or None)

SYMBOLIC = [
    ("S1", "z : vector[n]\nt : vector[n]\no_j = exp(z_j) / sum_i exp(z_i)\n"
           "E = -sum_j t_j log(o_j)", "E", "z", {"n": 10}),
    ("S2", "y : vector[m]\nW : matrix[m, n]\nb : vector[n]\nt : vector[n]\n"
           "z_k = sum_i W_ik y_i + b_k\no_j = exp(z_j) / sum_i exp(z_i)\n"
           "E = -sum_j t_j log(o_j)", "E", "W", {"m": 8, "n": 10}),
    ("S3", "x : vector[Dx]\nW1 : matrix[Dx, H]\nb1 : vector[H]\nW2 : matrix[H, C]\n"
           "b2 : vector[C]\ny : vector[C]\n"
           "r = x W1 + b1\nh = sigmoid(r)\nθ = h W2 + b2\nyhat = softmax(θ)\n"
           "J = -sum_i y_i log(yhat_i)", "J", "x", {"Dx": 6, "H": 7, "C": 5}),
    ("S4", "a1 : vector[n]\nW1 : matrix[n, m]\nb1 : vector[m]\n"
           "z2 = W1ᵀ a1 + b1\na2 = f(z2)\nE = L(a2)", "E", "W1", None),
    ("H1", H1.models[0], "f", ["x", "x"], {"n": 10}),
    ("H2", H2.models[0], "E", ["w", "w"], {"N": 20, "D": 5}),
    ("H3", H3.models[0], "f", ["U", "U"], {"m": 6, "n": 5, "k": 3}),
]


def symbolic_inputs(text_dims: dict, name: str, rng: np.random.Generator) -> dict:
    """Random inputs for a first call of a compiled symbolic-side derivative."""
    d = text_dims
    if name == "S1":
        return {"z": rng.standard_normal(d["n"]), "t": rng.random(d["n"])}
    if name == "S2":
        return {"y": rng.standard_normal(d["m"]), "W": rng.standard_normal((d["m"], d["n"])),
                "b": rng.standard_normal(d["n"]), "t": rng.random(d["n"])}
    if name == "S3":
        return {"x": rng.standard_normal(d["Dx"]), "W1": rng.standard_normal((d["Dx"], d["H"])),
                "b1": rng.standard_normal(d["H"]), "W2": rng.standard_normal((d["H"], d["C"])),
                "b2": rng.standard_normal(d["C"]), "y": rng.random(d["C"])}
    return {"H1": h1_make, "H2": h2_make, "H3": h3_make}[name](d, rng)


# ---------------------------------------------------------------------------
# finite-difference verification of the hand-written baselines

def fd_check(p: Problem, size: str = "small", seed: int = 0, trials: int = 3) -> float:
    """Check ``p.numpy`` against central differences of the NumPy loss along random
    directions; return the worst relative error (raises AssertionError if > 1e-5)."""
    rng = np.random.default_rng(seed)
    arrays = p.make(p.sizes[size], rng)
    b = numpy_backend()
    keys = p.args or tuple(arrays)
    loss = lambda a: float(p.loss(b, **{k: a[k] for k in keys}))     # noqa: E731
    got = p.numpy(**arrays)
    worst = 0.0
    if p.kind == "value":
        err = abs(got[0] - loss(arrays)) / max(abs(loss(arrays)), 1e-300)
        assert err < 1e-10, f"{p.name}: loss baseline off by {err:.2e}"
        return err

    def shifted(**moves):
        a = dict(arrays)
        for name, delta in moves.items():
            a[name] = a[name] + delta
        return a

    for _ in range(trials):
        if p.kind == "grad":
            h = 1e-6
            for w, g in zip(p.wrt, got):
                v = rng.standard_normal(arrays[w].shape)
                fd = (loss(shifted(**{w: h * v})) - loss(shifted(**{w: -h * v}))) / (2 * h)
                an = float(np.vdot(g, v))
                worst = max(worst, abs(fd - an) / max(abs(an), 1e-8))
        else:                                        # Hessian: uᵀ H v from four loss values
            w = p.wrt[0]
            shape = arrays[w].shape
            h = 1e-4
            u, v = rng.standard_normal(shape), rng.standard_normal(shape)
            if p.kind == "hvp":                      # the problem's own direction v
                v = arrays[p.direction]
            fd = (loss(shifted(**{w: h * (u + v)})) - loss(shifted(**{w: h * (u - v)}))
                  - loss(shifted(**{w: h * (v - u)})) + loss(shifted(**{w: -h * (u + v)})))
            fd /= 4 * h * h
            if p.kind == "hvp":                      # got[0] is H v
                an = float(u.ravel() @ got[0].ravel())
            else:
                H = got[0].reshape(int(np.prod(shape)), int(np.prod(shape)))
                an = float(u.ravel() @ H @ v.ravel())
            worst = max(worst, abs(fd - an) / max(abs(an), 1e-8))
    assert worst < 1e-5, f"{p.name}: hand-written derivative disagrees with FD ({worst:.2e})"
    return worst
