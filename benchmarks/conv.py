"""Convolution benchmark: indexcalc's compiled backward passes against hand-written code.

Problems (float64, one run, minimum over repeats):

- ``conv1d``: ``y_i = Σ_k w_k x_{i+k}`` (n = 200,000, K = 16) and
  ``L = Σ_i c_i y_i``; the gradients with respect to ``x`` and ``w``.
- ``conv2d-s1`` / ``conv2d-s2``: a convolution layer, batch 32, 16 -> 32 channels,
  32 x 32 images, 3 x 3 kernel, stride 1 and 2:
  ``Y[b,o,i,j] = Σ_{c,u,v} F[o,c,u,v] X[b,c,s·i+u,s·j+v] + β_o`` and
  ``L = Σ G ⊙ Y`` (``G`` the output gradient); the gradients with respect to the
  input ``X`` and the weights ``F``.

Compared with:

- hand-written NumPy: ``sliding_window_view`` plus one ``tensordot`` per gradient
  (the input gradient pads -- and for stride 2 dilates -- the output gradient and
  correlates it with the flipped kernel), which is what a careful person writes;
- torch autograd through ``torch.nn.functional.conv2d`` (``conv1d``) and
- ``jax.grad`` through ``jax.lax.conv_general_dilated``, both timed for the whole
  gradient call (their forward pass included: that is what autograd costs).

Run alone: ``python benchmarks/conv.py`` prints a Markdown table with each time
and its ratio to hand-written NumPy.  ``problems()`` returns the same problems
for a benchmark driver.

Timings on a loaded machine move by tens of percent; instruction counts do not.
``python benchmarks/conv.py --calls PROBLEM ours|hand N`` runs one side of
problem number PROBLEM (0: conv1d) once to warm up and then N times, for
``valgrind --tool=callgrind``: the difference between N = 2 and N = 0, halved,
is the instructions of one call.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import indexcalc  # noqa: E402

CONV1D = """x : vector[n]
w : vector[K]
y_i = sum_k w_k x_{i+k}
L = sum_i c_i y_i"""

CONV2D = """X : tensor[B, C, H, W]
F : tensor[O, C, U, V]
β : vector[O]
Y[b,o,i,j] = sum_{{c,u,v}} F[o,c,u,v] X[b,c,{s}i+u,{s}j+v] + β_o
L = sum_{{b,o,i,j}} G[b,o,i,j] Y[b,o,i,j]"""


# ---------------------------------------------------------------- hand-written NumPy

def hand_conv1d(x, w, c):
    K = w.shape[0]
    dw = sliding_window_view(x, K)[: c.shape[0]].T @ c             # Σ_i c_i x_{i+p}
    dx = sliding_window_view(np.pad(c, K - 1), K) @ w[::-1]         # Σ_k c_{p−k} w_k
    return dx, dw


def hand_conv2d(X, F, G, s):
    U, V = F.shape[2:]
    win = sliding_window_view(X, (U, V), axis=(2, 3))[:, :, ::s, ::s]
    dF = np.tensordot(G, win, axes=([0, 2, 3], [0, 2, 3]))          # (O, C, U, V)
    if s > 1:                                                       # dilate the gradient
        up = np.zeros(G.shape[:2] + ((G.shape[2] - 1) * s + 1, (G.shape[3] - 1) * s + 1))
        up[:, :, ::s, ::s] = G
        G = up
    H, W = X.shape[2:]
    Gp = np.pad(G, ((0, 0), (0, 0), (U - 1, H - G.shape[2]), (V - 1, W - G.shape[3])))
    gwin = sliding_window_view(Gp, (U, V), axis=(2, 3))             # (B, O, H, W, U, V)
    dX = np.tensordot(gwin, F[:, :, ::-1, ::-1], axes=([1, 4, 5], [0, 2, 3]))
    return dX.transpose(0, 3, 1, 2), dF


# ---------------------------------------------------------------- peers

def torch_grads(kind, arrays, s=1):
    import torch
    if kind == "conv1d":
        x = torch.tensor(arrays["x"], requires_grad=True)
        w = torch.tensor(arrays["w"], requires_grad=True)
        c = torch.tensor(arrays["c"])

        def run():
            y = torch.nn.functional.conv1d(x[None, None], w[None, None])[0, 0]
            return torch.autograd.grad(y, (x, w), c)
        return run
    X = torch.tensor(arrays["X"], requires_grad=True)
    F = torch.tensor(arrays["F"], requires_grad=True)
    G = torch.tensor(arrays["G"])

    def run():
        Y = torch.nn.functional.conv2d(X, F, stride=s)
        return torch.autograd.grad(Y, (X, F), G)
    return run


def jax_grads(kind, arrays, s=1):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    if kind == "conv1d":
        x, w, c = (jnp.asarray(arrays[k]) for k in ("x", "w", "c"))

        def loss(x, w):
            y = jax.lax.conv_general_dilated(x[None, None], w[None, None], (1,), "VALID")
            return jnp.sum(c * y[0, 0])
    else:
        x, w, G = (jnp.asarray(arrays[k]) for k in ("X", "F", "G"))

        def loss(x, w):
            y = jax.lax.conv_general_dilated(x, w, (s, s), "VALID")
            return jnp.sum(G * y)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    grad(x, w)[0].block_until_ready()

    def run():
        out = grad(x, w)
        out[0].block_until_ready()
        return out
    return run


# ---------------------------------------------------------------- problems

def _arrays(kind: str, s: int, rng) -> dict:
    if kind == "conv1d":
        n, K = 200_000, 16
        return {"x": rng.standard_normal(n), "w": rng.standard_normal(K),
                "c": rng.standard_normal(n - K + 1)}
    B, C, O, H, U = 32, 16, 32, 32, 3
    m = (H - U) // s + 1
    return {"X": rng.standard_normal((B, C, H, H)), "F": rng.standard_normal((O, C, U, U)),
            "β": rng.standard_normal(O), "G": rng.standard_normal((B, O, m, m))}


def problems():
    """(name, indexcalc callable, hand NumPy callable, torch maker, jax maker, arrays)."""
    rng = np.random.default_rng(0)
    out = []
    a = _arrays("conv1d", 1, rng)
    f = indexcalc.compile(CONV1D, ["dL/dx", "dL/dw"])
    out.append(("conv1d (n=200000, K=16)", lambda a=a: f(**a),
                lambda a=a: hand_conv1d(a["x"], a["w"], a["c"]),
                lambda a=a: torch_grads("conv1d", a), lambda a=a: jax_grads("conv1d", a), a, f))
    for s in (1, 2):
        a = _arrays("conv2d", s, rng)
        g = indexcalc.compile(CONV2D.format(s="" if s == 1 else s), ["dL/dX", "dL/dF"])
        out.append((f"conv2d 32×16→32, 32×32, 3×3, stride {s}",
                    (lambda g, a: lambda: g(**a))(g, a),
                    (lambda a, s: lambda: hand_conv2d(a["X"], a["F"], a["G"], s))(a, s),
                    (lambda a, s: lambda: torch_grads("conv2d", a, s))(a, s),
                    (lambda a, s: lambda: jax_grads("conv2d", a, s))(a, s), a, g))
    return out


def best(fn, repeats: int = 7) -> float:
    return interleaved([fn], repeats)[0]


def interleaved(fns, repeats: int = 9) -> list[float]:
    """The best time of each function, the functions run in turn (a loaded machine
    slows them alike)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times]


def check(ours, hand) -> None:
    got = list(ours().values())
    want = hand()
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-9, atol=1e-9)


def main() -> None:
    rows = []
    for name, ours, hand, torch_make, jax_make, _, _ in problems():
        check(ours, hand)
        fns = [ours, hand]
        for make in (torch_make, jax_make):
            try:
                fns.append(make())
            except ImportError:
                fns.append(None)
        times = interleaved([f for f in fns if f is not None])
        it = iter(times)
        rows.append((name, *[next(it) if f is not None else None for f in fns]))
    print("| problem | indexcalc | hand NumPy | torch autograd | jax.grad | indexcalc / hand |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ours, hand, tt, jj in rows:
        cells = [f"{ours * 1e3:.2f} ms", f"{hand * 1e3:.2f} ms",
                 f"{tt * 1e3:.2f} ms" if tt else "n/a", f"{jj * 1e3:.2f} ms" if jj else "n/a"]
        print(f"| {name} | " + " | ".join(cells) + f" | {ours / hand:.2f}× |")


def calls(problem: int, side: str, n: int) -> None:
    """Warm up one side of one problem, then call it ``n`` times (for callgrind)."""
    chosen = problems()[problem]
    fn = {"ours": chosen[1], "hand": chosen[2]}[side]
    fn()
    for _ in range(n):
        fn()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--calls"]:
        calls(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        main()
