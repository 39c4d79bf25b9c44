"""The workloads of issue 17: problems indexcalc had not been tuned on.

Attention, layer norm, deep MLPs, a large logistic-regression Hessian and its
Hessian-vector product, the softmax-regression Fisher and ``tr(A X B Xᵀ)``:
each defined like the problems in ``problems.py`` (model text, sizes, inputs,
the loss every peer differentiates, the hand-written NumPy an expert writes)
plus the FLOP count of the hand-written algorithm, so the harness can say how
far each implementation is from this machine's dgemm rate.  Importing this
module registers them with ``problems.register``.

Sizes: "medium" is the size the issue names (attention also has "large",
n = 512); "small" is a quick size for smoke runs.  None of these run
autograd (the issue asks for NumPy, JAX, torch.func and indexcalc).
"""

from __future__ import annotations

import numpy as np

import problems as P
from problems import Problem, _onehot

PEERS = ("numpy", "indexcalc", "icjax", "jax", "torch")


def _softmax_rows(S):
    S = S - S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S


# ---------------------------------------------------------------------------
# attention: E = Σ G ⊙ softmax(Q Kᵀ) V, gradients wrt Q, K, V

def att_make(d, rng):
    n, k = d["n"], d["d"]
    s = k ** -0.25                                 # the 1/√d scale, folded into Q and K
    return {"Q": s * rng.standard_normal((n, k)), "K": s * rng.standard_normal((n, k)),
            "V": rng.standard_normal((n, k)), "G": rng.standard_normal((n, k))}


def att_loss(b, Q, K, V, G):
    S = Q @ K.T
    P_ = b.exp(S - b.lse(S))
    return b.sum(G * (P_ @ V))


def att_numpy(Q, K, V, G):
    P_ = _softmax_rows(Q @ K.T)
    dV = P_.T @ G
    dS = G @ V.T                                   # dE/dP
    dS -= (dS * P_).sum(axis=1, keepdims=True)
    dS *= P_                                       # dE/dS = P ⊙ (dP − rowsum(dP ⊙ P))
    return dS @ K, dS.T @ Q, dV


ATT = Problem(
    "ATT", "attention Σ G ⊙ softmax(Q Kᵀ) V, dE/dQ, dE/dK, dE/dV",
    {"small": {"n": 128, "d": 64}, "medium": {"n": 256, "d": 64},
     "large": {"n": 512, "d": 64}},
    att_make, att_loss, att_numpy, ("Q", "K", "V"),
    models=("Q : matrix[n, d]\nK : matrix[n, d]\nV : matrix[n, d]\nG : matrix[n, d]\n"
            "S = Q Kᵀ\nP = softmax(S)\nO = P V\nE = sum_{i,a} G_ia O_ia",),
    of="E", args=("Q", "K", "V", "G"), peers=PEERS,
    flops=lambda d: 5 * 2 * d["n"] ** 2 * d["d"] + 6 * d["n"] ** 2,
    note="the 1/√d scale is folded into the inputs Q and K")


# ---------------------------------------------------------------------------
# layer norm: Y = (X − μ) / √(σ² + ε) ⊙ g + c, E = Σ G ⊙ Y, gradients wrt X, g, c

EPS = 1e-5


def ln_make(d, rng):
    B, D = d["B"], d["D"]
    return {"X": rng.standard_normal((B, D)), "g": 1.0 + 0.1 * rng.standard_normal(D),
            "c": 0.1 * rng.standard_normal(D), "G": rng.standard_normal((B, D))}


def ln_loss(b, X, g, c, G):
    D = X.shape[1]
    C = X - b.sum(X, -1)[:, None] / D
    v = b.sum(C * C, -1)[:, None] / D
    return b.sum(G * (C / (v + EPS) ** 0.5 * g + c))


def ln_numpy(X, g, c, G):
    D = X.shape[1]
    Xh = X - X.mean(axis=1, keepdims=True)
    r = 1.0 / np.sqrt((Xh * Xh).mean(axis=1, keepdims=True) + EPS)
    Xh *= r                                        # x̂
    dg = (G * Xh).sum(axis=0)
    dc = G.sum(axis=0)
    dXh = G * g
    m1 = dXh.mean(axis=1, keepdims=True)
    m2 = (dXh * Xh).mean(axis=1, keepdims=True)
    dXh -= m1
    Xh *= m2
    dXh -= Xh
    dXh *= r
    del D
    return dXh, dg, dc


LN = Problem(
    "LN", "layer norm, dE/dX, dE/dg, dE/dc",
    {"small": {"B": 32, "D": 128}, "medium": {"B": 256, "D": 1024}},
    ln_make, ln_loss, ln_numpy, ("X", "g", "c"),
    models=("X : matrix[B, D]\ng : vector[D]\nc : vector[D]\nG : matrix[B, D]\n"
            "mu_b = sum_j X_bj / D\nC_bj = X_bj - mu_b\nv_b = sum_j C_bj C_bj / D\n"
            "Y_bj = C_bj g_j / sqrt(v_b + 0.00001) + c_j\nE = sum_{b,j} G_bj Y_bj",),
    of="E", args=("X", "g", "c", "G"), peers=PEERS,
    flops=lambda d: 16 * d["B"] * d["D"])


# ---------------------------------------------------------------------------
# L-layer tanh MLP, softmax cross-entropy on top, gradients wrt every weight

def mlp_text(L: int) -> str:
    """Matrix-form model of an L-layer tanh MLP (no biases) with softmax-CE."""
    decl = ["X : matrix[B, D]", "W1 : matrix[D, H]"]
    decl += [f"W{k} : matrix[H, H]" for k in range(2, L)]
    decl += [f"W{L} : matrix[H, C]", "Y : matrix[B, C]"]
    body = ["h1 = tanh(X W1)"] + [f"h{k} = tanh(h{k - 1} W{k})" for k in range(2, L)]
    body += [f"T = h{L - 1} W{L}", "Lg = log_softmax(T)", "E = -sum_{b,c} Y_bc Lg_bc",
             "assume sum_c Y_bc = 1"]
    return "\n".join(decl + body)


def mlp_make(L):
    def make(d, rng):
        B, D, H, C = d["B"], d["D"], d["H"], d["C"]
        out = {"X": rng.standard_normal((B, D))}
        widths = [D] + [H] * (L - 1) + [C]
        for k in range(1, L + 1):
            out[f"W{k}"] = rng.standard_normal((widths[k - 1], widths[k])) / np.sqrt(
                widths[k - 1])
        out["Y"] = _onehot(B, C, rng)
        return out
    return make


def mlp_loss(L):
    def loss(b, X, Y, **W):
        Ws = [W[f"W{k}"] for k in range(1, L + 1)]
        h = X
        for W in Ws[:-1]:
            h = b.tanh(h @ W)
        T = h @ Ws[-1]
        return -b.sum(Y * (T - b.lse(T)))
    return loss


def mlp_numpy(L):
    def grads(X, Y, **W):
        Ws = [W[f"W{k}"] for k in range(1, L + 1)]
        hs = [X]
        for W in Ws[:-1]:
            hs.append(np.tanh(hs[-1] @ W))
        d = _softmax_rows(hs[-1] @ Ws[-1])
        d -= Y                                     # dE/dT (one-hot labels)
        out = [None] * L
        for k in range(L - 1, -1, -1):
            out[k] = hs[k].T @ d
            if k:
                d = d @ Ws[k].T
                h = hs[k]
                d *= 1.0 - h * h                   # tanh' = 1 − h²
        return tuple(out)
    return grads


def mlp_flops(L):
    def flops(d):
        B, D, H, C = d["B"], d["D"], d["H"], d["C"]
        mm = B * (D * H + (L - 2) * H * H + H * C)  # multiply-adds of one pass
        return 2 * mm * 3 - 2 * B * D * H           # forward, dW, dh (no dX)
    return flops


def mlp_problem(name: str, L: int, sizes: dict) -> Problem:
    args = ("X",) + tuple(f"W{k}" for k in range(1, L + 1)) + ("Y",)
    return Problem(
        name, f"{L}-layer tanh MLP, softmax-CE, all {L} weight gradients", sizes,
        mlp_make(L), mlp_loss(L), mlp_numpy(L), args[1:L + 1],
        models=(mlp_text(L),), of="E", args=args, peers=PEERS, flops=mlp_flops(L),
        note=f"hand-written backprop does {3 * L - 1} matrix products")


MLP4 = mlp_problem("MLP4", 4, {"small": {"B": 32, "D": 64, "H": 64, "C": 10},
                               "medium": {"B": 256, "D": 784, "H": 512, "C": 10}})
MLP20 = mlp_problem("MLP20", 20, {"small": {"B": 16, "D": 32, "H": 32, "C": 10},
                                  "medium": {"B": 128, "D": 128, "H": 128, "C": 10}})


# ---------------------------------------------------------------------------
# logistic regression at 1000 × 2000: the Hessian, and a Hessian-vector product

def lr_make(d, rng):
    out = P.h2_make(d, rng)
    out["v"] = rng.standard_normal(d["D"])
    return out


def lr_hvp_numpy(X, w, y, v):
    s = 0.5 * (1.0 + np.tanh(0.5 * (X @ w)))
    return (X.T @ ((s * (1.0 - s)) * (X @ v)),)


LR_SIZES = {"small": {"N": 200, "D": 100}, "medium": {"N": 1000, "D": 2000}}
LR_DECL = "X : matrix[N, D]\nw : vector[D]\ny : vector[N]\n"
LR_H = Problem(
    "LR-H", "logistic-regression Hessian wrt w", LR_SIZES,
    P.h2_make, P.h2_loss, P.h2_numpy, ("w",),
    models=(LR_DECL + "m = X w\nE = sum_i (softplus(m_i) - y_i m_i)",),
    of="E", kind="hessian", args=("X", "w", "y"), peers=PEERS,
    flops=lambda d: 2 * d["N"] * d["D"] ** 2 + 4 * d["N"] * d["D"])
LR_HVP = Problem(
    "LR-Hv", "logistic-regression Hessian-vector product H v", LR_SIZES,
    lr_make, P.h2_loss, lr_hvp_numpy, ("w",),
    models=(LR_DECL + "v : vector[D]\nt : scalar\n"
            "m = X (w + t v)\nE = sum_i (softplus(m_i) - y_i m_i)",),
    of="E", kind="hvp", args=("X", "w", "y"), direction="v", peers=PEERS,
    ic_wrt=("w", "t"), extra=lambda arrays: {"t": np.float64(0.0)},
    flops=lambda d: 6 * d["N"] * d["D"],
    note="indexcalc: ∂²E/∂w∂t of E(w + t v) at t = 0 (the model states the direction); "
         "JAX/torch: jvp of grad")


# ---------------------------------------------------------------------------
# softmax regression: the Fisher information (= the Hessian of the NLL) wrt W

def sr_make(d, rng):
    N, D, C = d["N"], d["D"], d["C"]
    return {"X": rng.standard_normal((N, D)) / np.sqrt(D),
            "W": rng.standard_normal((D, C)), "Y": _onehot(N, C, rng)}


def sr_loss(b, X, W, Y):
    T = X @ W
    return -b.sum(Y * (T - b.lse(T)))


def sr_numpy(X, W, Y):
    # F[a,c,b,e] = Σ_n X_na X_nb (P_nc δ_ce − P_nc P_ne)
    N, D = X.shape
    C = W.shape[1]
    Pm = _softmax_rows(X @ W)
    M = (X[:, :, None] * Pm[:, None, :]).reshape(N, D * C)
    F = M.T @ M
    np.negative(F, out=F)
    F4 = F.reshape(D, C, D, C)
    for c in range(C):
        F4[:, c, :, c] += (X * Pm[:, c, None]).T @ X
    return (F4,)


SR = Problem(
    "SR-F", "softmax-regression Fisher (Hessian of the NLL) wrt W (D×C×D×C)",
    {"small": {"N": 100, "D": 10, "C": 5}, "medium": {"N": 1000, "D": 50, "C": 10}},
    sr_make, sr_loss, sr_numpy, ("W",),
    models=("X : matrix[N, D]\nW : matrix[D, C]\nY : matrix[N, C]\n"
            "T = X W\nLg = log_softmax(T)\nE = -sum_{n,c} Y_nc Lg_nc\n"
            "assume sum_c Y_nc = 1",),
    of="E", kind="hessian", args=("X", "W", "Y"), peers=PEERS,
    flops=lambda d: 2 * d["N"] * (d["D"] * d["C"]) ** 2 + 2 * d["C"] * d["N"] * d["D"] ** 2)


# ---------------------------------------------------------------------------
# tr(A X B Xᵀ) (Matrix Cookbook), gradient wrt X: Aᵀ X Bᵀ + A X B

def trq_make(d, rng):
    n, m = d["n"], d["m"]
    return {"A": rng.standard_normal((n, n)), "X": rng.standard_normal((n, m)),
            "B": rng.standard_normal((m, m))}


def trq_loss(b, A, X, B):
    return b.trace(A @ X @ B @ X.T)


def trq_numpy(A, X, B):
    G = A.T @ X @ B.T
    G += A @ X @ B
    return (G,)


TRQ = Problem(
    "TR-AXBX", "tr(A X B Xᵀ), dF/dX", {"small": {"n": 20, "m": 20},
                                       "medium": {"n": 200, "m": 200}},
    trq_make, trq_loss, trq_numpy, ("X",),
    models=("A : matrix[n, n]\nX : matrix[n, m]\nB : matrix[m, m]\nF = tr(A X B Xᵀ)",),
    of="F", args=("A", "X", "B"), peers=PEERS,
    flops=lambda d: 4 * 2 * d["n"] * d["m"] * (d["n"] + d["m"]) / 2)


WORKLOADS = [ATT, LN, MLP4, MLP20, LR_H, LR_HVP, SR, TRQ]
P.register(*WORKLOADS)
