"""Numerical checks of derivatives, for our tests and for users' own.

``check_grad(text, wrt)`` compares indexcalc's derivative with central finite
differences on random inputs drawn inside the functions' domains (positive
where a log, a square root or a division needs it, well-conditioned where a
determinant or an inverse needs it), and raises ``AssertionError`` with the
largest discrepancy when they disagree.
"""

from __future__ import annotations

import numpy as np

from indexcalc.api import derivative, forget, parse
from indexcalc.checking.numeric import (
    finite_difference,
    numeric_derivative,
    random_arrays,
)
from indexcalc.model import Model

__all__ = ["chain_model", "check_grad", "clear_caches", "finite_difference", "mlp_model",
           "numeric_derivative", "random_arrays"]


def check_grad(model, wrt, of: str | None = None, arrays: dict | None = None, seed: int = 0,
               rtol: float = 1e-5, atol: float = 1e-6, compiled: bool = True) -> np.ndarray:
    """Assert that indexcalc's derivative matches finite differences; return it."""
    m = model if isinstance(model, Model) else parse(model)
    d = derivative(m, wrt, of=of)
    if symmetric_wrt := [w for w in d.wrt if w in m.symmetric]:
        raise ValueError(f"finite differences ignore the symmetry of {symmetric_wrt[0]}; "
                         "compare with sym(G) yourself")
    arrays = arrays if arrays is not None else random_arrays(m, seed)
    want = numeric_derivative(m, d.of, list(d.wrt), arrays)
    got = d.evaluate(**arrays) if compiled else d.evaluate_reference(**arrays)
    got = np.asarray(got)
    if got.shape != want.shape:
        raise AssertionError(f"{d.name}: shape {got.shape}, finite differences {want.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        err = np.max(np.abs(got - want))
        raise AssertionError(f"{d.name} disagrees with finite differences by {err:.3g}\n"
                             f"  indexcalc: {d}\n  got:  {got.ravel()[:6]}\n"
                             f"  want: {want.ravel()[:6]}")
    return got


# ---------------------------------------------------------------- deep models

def chain_model(layers: int) -> str:
    """A shared-weight tanh chain: h0 = tanh(W x), h(k+1) = tanh(W hk), E = sum(h_layers)."""
    return ("x : vector[n]\nW : matrix[n, n]\nh0 = tanh(W x)\n"
            + "\n".join(f"h{j + 1} = tanh(W h{j})" for j in range(layers))
            + f"\nE = sum(h{layers})")


def mlp_model(layers: int) -> str:
    """An MLP of sigmoid layers with their own weights and biases, E = sum(h_layers)."""
    return ("h0 : vector[n]\n" + "\n".join(
        f"W{j} : matrix[n, n]\nb{j} : vector[n]\nh{j + 1} = sigmoid(W{j} h{j} + b{j})"
        for j in range(layers)) + f"\nE = sum(h{layers})")


# ---------------------------------------------------------------- timing

def clear_caches() -> None:
    """Forget what indexcalc remembers between calls (parsed texts, simplified
    subtrees, rewrites, contraction plans), so that the next call is timed cold.
    The parser itself and the helper sources are built once per process and stay."""
    forget()
