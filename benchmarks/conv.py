"""The convolution problems of issue 14, registered with the benchmark's main run.

- ``CONV1D``: ``y_i = Σ_k w_k x_{i+k}``, ``L = Σ_i c_i y_i``; the gradients with
  respect to ``x`` and ``w`` (medium: n = 200,000, K = 16).
- ``CONV2D-S1`` / ``CONV2D-S2``: a convolution layer, batch 32, 16 -> 32 channels,
  32 x 32 images, 3 x 3 kernel, stride 1 and 2 (medium):
  ``Y[b,o,i,j] = Σ_{c,u,v} F[o,c,u,v] X[b,c,s·i+u,s·j+v] + β_o`` and
  ``L = Σ G ⊙ Y`` (``G`` the output gradient); the gradients with respect to the
  input ``X`` and the weights ``F``.

Each is a ``problems.Problem`` like the others: the loss every peer differentiates
is written once (``_conv`` spells the convolution in each library: sliding windows
for NumPy, ``jax.lax.conv_general_dilated`` for JAX, ``torch.nn.functional.conv1d``
/ ``conv2d`` for torch, so ``jax.grad`` and torch's autograd go through their own
convolution kernels), and the hand-written NumPy is ``sliding_window_view`` plus
one ``tensordot`` per gradient (the input gradient pads -- and for stride 2 dilates
-- the output gradient and correlates it with the flipped kernel), which is what a
careful person writes.  Importing this module registers the problems; ``run.py``
does (``PROBLEM_MODULES``), so ``python benchmarks/run.py --problems CONV1D,CONV2D``
runs them alone.  Their target (issue 14: indexcalc's NumPy backend ≤ 1.2× the
hand-written NumPy) is reported by ``targets14``.

Nothing but NumPy is imported here at module level: the fresh-process children of
``fresh.py`` import every problem module before they time their library's import.

``python benchmarks/conv.py --calls PROBLEM ours|hand N`` builds one side of one
problem at medium size (``CONV1D``, ...), calls it once to warm up and then N
times, for ``valgrind --tool=callgrind``: the difference between N = 2 and N = 0,
halved, is the instructions of one call (a count that does not move with load).
"""

from __future__ import annotations

import os
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import problems as P                    # noqa: E402
from problems import Problem            # noqa: E402

PEERS = ("numpy", "indexcalc", "icjax", "jax", "torch")
TARGET = 1.2                            # issue 14: ≤ 1.2× hand-written NumPy

CONV1D_TEXT = """x : vector[n]
w : vector[K]
y_i = sum_k w_k x_{i+k}
L = sum_i c_i y_i"""

CONV2D_TEXT = """X : tensor[B, C, H, W]
F : tensor[O, C, U, V]
β : vector[O]
Y[b,o,i,j] = sum_{{c,u,v}} F[o,c,u,v] X[b,c,{s}i+u,{s}j+v] + β_o
L = sum_{{b,o,i,j}} G[b,o,i,j] Y[b,o,i,j]"""


# ---------------------------------------------------------------- the loss, per library

def _conv(b, x, w, s: int = 1):
    """The valid correlation of ``x`` (N, C, spatial...) with ``w`` (O, C, kernel...),
    stride ``s``, in the array library of the backend namespace ``b``."""
    nd = x.ndim - 2
    if b.name == "jax":
        import jax
        return jax.lax.conv_general_dilated(x, w, (s,) * nd, "VALID")
    if b.name == "torch":
        import torch
        conv = torch.nn.functional.conv1d if nd == 1 else torch.nn.functional.conv2d
        return conv(x, w, stride=s)
    axes = tuple(range(2, 2 + nd))
    win = sliding_window_view(x, w.shape[2:], axis=axes)
    win = win[(slice(None), slice(None)) + (slice(None, None, s),) * nd]
    spec = "bciu,ocu->boi" if nd == 1 else "bcijuv,ocuv->boij"
    return np.einsum(spec, win, w)


def conv1d_loss(b, x, w, c):
    return b.sum(c * _conv(b, x[None, None], w[None, None])[0, 0])


def conv2d_loss(s: int):
    def loss(b, X, F, β, G):
        return b.sum(G * (_conv(b, X, F, s) + β[None, :, None, None]))
    return loss


# ---------------------------------------------------------------- hand-written NumPy

def hand_conv1d(x, w, c):
    K = w.shape[0]
    dw = sliding_window_view(x, K)[: c.shape[0]].T @ c             # Σ_i c_i x_{i+p}
    dx = sliding_window_view(np.pad(c, K - 1), K) @ w[::-1]         # Σ_k c_{p−k} w_k
    return dx, dw


def hand_conv2d(s: int):
    def grads(X, F, β, G):
        U, V = F.shape[2:]
        win = sliding_window_view(X, (U, V), axis=(2, 3))[:, :, ::s, ::s]
        dF = np.tensordot(G, win, axes=([0, 2, 3], [0, 2, 3]))      # (O, C, U, V)
        if s > 1:                                                   # dilate the gradient
            up = np.zeros(G.shape[:2] + ((G.shape[2] - 1) * s + 1, (G.shape[3] - 1) * s + 1))
            up[:, :, ::s, ::s] = G
            G = up
        H, W = X.shape[2:]
        Gp = np.pad(G, ((0, 0), (0, 0), (U - 1, H - G.shape[2]), (V - 1, W - G.shape[3])))
        gwin = sliding_window_view(Gp, (U, V), axis=(2, 3))         # (B, O, H, W, U, V)
        dX = np.tensordot(gwin, F[:, :, ::-1, ::-1], axes=([1, 4, 5], [0, 2, 3]))
        return dX.transpose(0, 3, 1, 2), dF
    return grads


# ---------------------------------------------------------------- the problems

def conv1d_make(d, rng):
    n, K = d["n"], d["K"]
    return {"x": rng.standard_normal(n), "w": rng.standard_normal(K),
            "c": rng.standard_normal(n - K + 1)}


def conv2d_make(s: int):
    def make(d, rng):
        B, C, O, H, U = d["B"], d["C"], d["O"], d["H"], d["U"]
        m = (H - U) // s + 1
        return {"X": rng.standard_normal((B, C, H, H)),
                "F": rng.standard_normal((O, C, U, U)),
                "β": rng.standard_normal(O), "G": rng.standard_normal((B, O, m, m))}
    return make


CONV1D = Problem(
    "CONV1D", "1-D convolution y = w ⋆ x, L = Σ c ⊙ y, dL/dx and dL/dw",
    {"small": {"n": 2000, "K": 16}, "medium": {"n": 200_000, "K": 16}},
    conv1d_make, conv1d_loss, hand_conv1d, ("x", "w"),
    models=(CONV1D_TEXT,), of="L", args=("x", "w", "c"), peers=PEERS,
    note="hand: sliding_window_view + one matrix-vector product per gradient")


def conv2d_problem(s: int) -> Problem:
    return Problem(
        f"CONV2D-S{s}", f"conv layer, stride {s}, L = Σ G ⊙ Y, dL/dX and dL/dF",
        {"small": {"B": 4, "C": 4, "O": 8, "H": 16, "U": 3},
         "medium": {"B": 32, "C": 16, "O": 32, "H": 32, "U": 3}},
        conv2d_make(s), conv2d_loss(s), hand_conv2d(s), ("X", "F"),
        models=(CONV2D_TEXT.format(s="" if s == 1 else s),), of="L",
        args=("X", "F", "β", "G"), peers=PEERS,
        note="hand: sliding_window_view + one tensordot per gradient")


CONVS = [CONV1D, conv2d_problem(1), conv2d_problem(2)]
NAMES = {p.name for p in CONVS}
P.register(*CONVS)


def targets14(ratios: dict) -> str:
    """Issue 14's target as met / MISSED / not measured, one line per problem, at the
    issue's sizes ("medium"; the small sizes are for smoke runs and are only listed)."""
    out = []
    for (name, size, impl), r in sorted(ratios.items()):
        if name in NAMES and impl == "indexcalc":
            mark = ("met" if r <= TARGET else "**MISSED**") if size == "medium" else \
                "smoke size, not judged"
            out.append(f"- {mark}: {name} {size}: indexcalc {r:.2f}× hand-written NumPy "
                       f"(≤ {TARGET}×)")
    return "\n".join(out) or f"- not measured: indexcalc ≤ {TARGET}× NumPy on the conv problems"


def calls(problem: str, side: str, n: int) -> None:
    """Warm up one side of one problem (medium size), then call it ``n`` times."""
    import peers
    p = next(q for q in CONVS if q.name == problem.upper())
    arrays = p.make(p.sizes["medium"], np.random.default_rng(0))
    impl = (peers.build_indexcalc if side == "ours" else peers.build_numpy)(p, arrays)
    impl.call()
    for _ in range(n):
        impl.call()


if __name__ == "__main__":
    if sys.argv[1:2] != ["--calls"] or len(sys.argv) != 5:
        raise SystemExit("usage: python benchmarks/conv.py --calls PROBLEM ours|hand N "
                         "(the timings: python benchmarks/run.py --problems CONV1D,CONV2D)")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    calls(sys.argv[2], sys.argv[3], int(sys.argv[4]))
