"""SymPy formulations of the symbolic-side problems, each timed in its own process.

SymPy is the closest widely installed peer for the symbolic side (parse +
differentiate + simplify).  Each task builds the problem with
``sympy.MatrixSymbol`` (matrix calculus) or ``sympy.IndexedBase`` + ``Sum``
(index form), differentiates and simplifies it.  ``run.py`` starts one process
per task (``python sympy_side.py TASK``) with a time cap, so a SymPy hang or
an unbounded expansion costs the cap and nothing more.  The process prints one
JSON line: ``{"seconds": ..., "result": "..."}`` or ``{"error": "..."}``.
Import time of SymPy is not counted.
"""

from __future__ import annotations

import json
import sys
import time


NOTES: list[str] = []


def note(text: str) -> None:
    """Record a note, and print it at once so it survives the process being killed."""
    NOTES.append(text)
    print(json.dumps({"note": text}), flush=True)


def _simplify(expr):
    """``sympy.simplify``, falling back to the unsimplified derivative if it raises."""
    import sympy as sp
    try:
        return sp.simplify(expr)
    except Exception as e:          # noqa: BLE001 - a SymPy bug is a result, not a crash
        note(f"simplify raised {type(e).__name__}; derivative left unsimplified")
        return expr


def _index_softmax_ce(z, t, n):
    import sympy as sp
    i, j = sp.symbols("i j", integer=True)
    o = lambda jj: sp.exp(z(jj)) / sp.Sum(sp.exp(z(i)), (i, 0, n - 1))   # noqa: E731
    return -sp.Sum(t[j] * sp.log(o(j)), (j, 0, n - 1))


def task_S1():
    import sympy as sp
    n = sp.Symbol("n", integer=True, positive=True)
    z, t = sp.IndexedBase("z"), sp.IndexedBase("t")
    k = sp.Symbol("k", integer=True)
    E = _index_softmax_ce(lambda jj: z[jj], t, n)
    return _simplify(E.diff(z[k]))


def task_S2():
    import sympy as sp
    n, m = sp.symbols("n m", integer=True, positive=True)
    W, y, b, t = (sp.IndexedBase(s) for s in "Wybt")
    i2, p, q = sp.symbols("l p q", integer=True)
    z = lambda kk: sp.Sum(W[i2, kk] * y[i2], (i2, 0, m - 1)) + b[kk]   # noqa: E731
    E = _index_softmax_ce(z, t, n)
    return _simplify(E.diff(W[p, q]))


def _s3_matrix_form():
    """S3 with MatrixSymbol row vectors; SymPy 1.14 fails on it (noted, then index form)."""
    import sympy as sp
    Dx, H, C = sp.symbols("Dx H C", integer=True, positive=True)
    x, W1 = sp.MatrixSymbol("x", 1, Dx), sp.MatrixSymbol("W1", Dx, H)
    b1, W2 = sp.MatrixSymbol("b1", 1, H), sp.MatrixSymbol("W2", H, C)
    b2, y = sp.MatrixSymbol("b2", 1, C), sp.MatrixSymbol("y", 1, C)
    t = sp.Dummy("t")
    h = (x * W1 + b1).applyfunc(sp.Lambda(t, 1 / (1 + sp.exp(-t))))
    th = h * W2 + b2
    lse = (th.applyfunc(sp.exp) * sp.OneMatrix(C, 1)).applyfunc(sp.log)
    J = -(y * th.T) + (y * sp.OneMatrix(C, 1)) * lse          # −y·log softmax(θ)
    return _simplify(J.diff(x))


def task_S3():
    import sympy as sp
    try:
        return _s3_matrix_form()
    except Exception as e:          # noqa: BLE001
        note(f"MatrixSymbol form raised {type(e).__name__}; index form used")
    Dx, H, C = sp.symbols("Dx H C", integer=True, positive=True)
    x, W1, b1, W2, b2, y = (sp.IndexedBase(s) for s in ("x", "W1", "b1", "W2", "b2", "y"))
    i, j, c, l, p = sp.symbols("i j c l p", integer=True)
    h = lambda jj: 1 / (1 + sp.exp(-(sp.Sum(x[i] * W1[i, jj], (i, 0, Dx - 1)) + b1[jj])))  # noqa
    th = lambda cc: sp.Sum(h(j) * W2[j, cc], (j, 0, H - 1)) + b2[cc]                       # noqa
    yhat = lambda cc: sp.exp(th(cc)) / sp.Sum(sp.exp(th(l)), (l, 0, C - 1))                # noqa
    J = -sp.Sum(y[c] * sp.log(yhat(c)), (c, 0, C - 1))
    return _simplify(J.diff(x[p]))


def task_S4():
    raise NotImplementedError("not expressible: an opaque scalar function L of a whole "
                              "vector has no SymPy matrix/indexed form")


def task_H1():
    import sympy as sp
    n = sp.Symbol("n", integer=True, positive=True)
    x, A = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("A", n, n)
    f = x.T * A * x
    return _simplify(f.diff(x).diff(x))


def task_H2():
    import sympy as sp
    N, D = sp.symbols("N D", integer=True, positive=True)
    X, w, y = sp.MatrixSymbol("X", N, D), sp.MatrixSymbol("w", D, 1), sp.MatrixSymbol("y", N, 1)
    m = X * w
    t = sp.Dummy("t")
    soft = m.applyfunc(sp.Lambda(t, sp.log(1 + sp.exp(t))))
    E = sp.OneMatrix(1, N) * soft - y.T * m
    return _simplify(E.diff(w).diff(w))


def task_H3():
    import sympy as sp
    m, n, k = sp.symbols("m n k", integer=True, positive=True)
    T, U, V = sp.MatrixSymbol("T", m, n), sp.MatrixSymbol("U", m, k), sp.MatrixSymbol("V", n, k)
    R = T - U * V.T
    f = sp.Trace(R.T * R)
    return _simplify(f.diff(U).diff(U))


TASKS = {name[5:]: fn for name, fn in globals().items() if name.startswith("task_")}


def main(name: str) -> None:
    import sympy  # noqa: F401  (imported before timing)
    t0 = time.perf_counter()
    try:
        res = TASKS[name]()
    except Exception as e:          # noqa: BLE001 - reported, not raised
        print(json.dumps({"error": f"{type(e).__name__}: {' '.join(str(e).split())[:200]}",
                          "seconds": time.perf_counter() - t0}))
        return
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "result": " ".join(str(res).split())[:200],
                      "notes": NOTES}))


if __name__ == "__main__":
    main(sys.argv[1])
