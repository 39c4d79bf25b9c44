"""How the symbolic side scales with the number of definitions.

``python benchmarks/depth.py`` times, for a shared-weight tanh chain and an MLP
of L layers, the gradient with respect to the input and to the first weight,
the Hessian with respect to the input, and compiling plus the first
evaluation of the gradient (small arrays), each the best of three runs with
indexcalc's caches cleared, and prints a Markdown table.  The cost should grow
linearly in L; a column that grows faster is a regression.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import indexcalc                                   # noqa: E402
from indexcalc.compiler.program import compile_program     # noqa: E402
from indexcalc.testing import chain_model, clear_caches, mlp_model, random_arrays  # noqa: E402


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        clear_caches()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(kind: str, layers: int) -> str:
    text = chain_model(layers - 1) if kind == "chain" else mlp_model(layers)
    model = indexcalc.parse(text)
    x, w = ("x", "W") if kind == "chain" else ("h0", "W0")
    arrays = random_arrays(model, 0, sizes={d: 3 for d in model.dims})
    grad = best(lambda: indexcalc.derivative(model, x))
    grad_w = best(lambda: indexcalc.derivative(model, w))
    hess = best(lambda: indexcalc.derivative(model, [x, x]))
    program = indexcalc.derivative(model, x).program
    run = best(lambda: compile_program(program)(**arrays))
    return (f"| {kind} | {layers} | {len(model.definitions)} | {grad * 1e3:.0f} ms | "
            f"{grad_w * 1e3:.0f} ms | {hess * 1e3:.0f} ms | {run * 1e3:.0f} ms |")


def main() -> None:
    indexcalc.derivative("x : vector[n]\nE = sum(x)", "x")          # warm up imports
    print("| model | layers | definitions | ∂E/∂x | ∂E/∂W | Hessian in x | compile + run ∂E/∂x |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("chain", "mlp"):
        for layers in (5, 10, 20, 50, 100):
            print(row(kind, layers), flush=True)


if __name__ == "__main__":
    main()
