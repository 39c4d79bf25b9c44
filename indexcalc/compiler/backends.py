"""What generated code looks like for each array library.

Code generation writes straight-line Python against one ``Backend``: the
module aliases it imports, how it spells a transpose, a sum over axes, an
einsum or a tensordot, a zero array, and the helpers (stable softmax,
log-sum-exp...) it must define, how it writes into a diagonal view, and what
its linear algebra raises for a singular matrix.  Library quirks (torch's
``diagonal``, ``trace`` and ``LinAlgError``) live here, not in code generation.
Function knowledge stays in ``functions.py``: an entry's ``spelling`` and
``helpers`` give a library's own code; otherwise ``np.`` becomes
``torch.``/``jnp.`` in the NumPy template.

NumPy is the default and the only backend lowered to ``@``/``tensordot``/``vdot``
by hand.  ``torch``, ``jax`` and ``dask`` are imported lazily, only when asked
for; any other name is passed to opt_einsum's ``backend=`` for contractions,
with NumPy ufuncs (which dispatch through the array protocols) elsewhere.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np

from indexcalc import functions
from indexcalc.compiler import window_helpers
from indexcalc.compiler.shapes import einsum_symbol
from indexcalc.errors import EvaluationError
from indexcalc.functions import ELEMENTWISE, TENSOR


def letters(axes, universe) -> str:
    """einsum subscripts for ``axes``: one letter per distinct index of ``universe``."""
    order = list(dict.fromkeys(universe))
    return "".join(einsum_symbol(order.index(a)) for a in axes)


def _einsum_view(backend: Backend, t: str, axes, groups) -> str | None:
    """NumPy's writable diagonal view: an einsum with repeated input letters."""
    labels = {i: rep for rep, g in groups.items() for i in g}
    reps = tuple(groups)
    spec = letters([labels[i] for i in axes], reps) + "->" + letters(reps, reps)
    return backend.einsum.format(spec=spec, ops=t)


def _no_view(backend: Backend, t: str, axes, groups) -> None:
    return None                               # no writable views: codegen builds a mask


def _torch_view(backend: Backend, t: str, axes, groups) -> str | None:
    """The diagonal view with its axes in ``groups`` order, like NumPy's einsum
    view: ``torch.diagonal`` puts the diagonal axis last, so it is permuted back.
    It takes one diagonal of two indices; anything else is masked instead."""
    diagonals = [(r, g) for r, g in groups.items() if len(g) > 1]
    if len(diagonals) != 1 or len(diagonals[0][1]) != 2:
        return None
    (rep, g), = diagonals
    labels = {i: r for r, members in groups.items() for i in members}
    order = [labels[i] for i in axes if i not in g] + [rep]
    perm = tuple(order.index(r) for r in groups)
    view = f"torch.diagonal({t}, 0, {axes.index(g[0])}, {axes.index(g[1])})"
    return view if perm == tuple(range(len(perm))) else f"{view}.permute({perm})"


def _numpy_errors() -> tuple:
    return (np.linalg.LinAlgError,)


def _torch_errors() -> tuple:
    import torch
    return (np.linalg.LinAlgError, torch.linalg.LinAlgError)


@dataclass(frozen=True)
class Backend:
    name: str
    imports: tuple[str, ...]
    xp: str                                  # module alias replacing "np." in templates
    blas: bool = False                       # lower pairs to @ / tensordot / vdot by hand
    matmul: bool = True                      # a product of matrices/vectors as ``@``
    einsum: str = "np.einsum({spec!r}, {ops})"
    tensordot: str = "np.tensordot({a}, {b}, axes=({ia}, {ib}))"
    total: str = "{x}.sum(axis={axes})"
    permute: str = "{x}.transpose({perm})"
    zeros: str = "np.zeros({shape})"
    broadcast: str = "np.broadcast_to({x}, {shape}).copy()"
    scalar: str = "np.float64({x})"
    trace: str = "{x}.trace()"
    # a copy reversed along axes: set for a library without negative strides, whose
    # windows read backwards are reversed views and the small operands flipped instead
    flip: str = ""
    conv: bool = False                       # a window times one operand as ``_conv``
    # the writable view of a zero array's diagonal (or None: codegen writes a mask)
    diagonal_view: Callable[..., str | None] = _no_view
    linalg_errors: Callable[[], tuple] = _numpy_errors   # what a singular matrix raises
    helpers: dict[str, str] = field(default_factory=dict)       # helper name -> source

    def func_code(self, name: str) -> str:
        entry = ELEMENTWISE[name]
        return entry.spelling.get(self.name, entry.code).replace("np.", self.xp + ".")

    def tensor_code(self, name: str) -> str:
        entry = TENSOR[name]
        return entry.spelling.get(self.name, entry.code).replace("np.", self.xp + ".")

    def view(self, t: str, axes, groups) -> str | None:
        return self.diagonal_view(self, t, axes, groups)


def _helpers(backend: str) -> dict[str, str]:
    """Helper sources for one backend, from the function table: the entry's source for
    that library, else its NumPy implementation's own source."""
    table = {name: entry.helpers.get(backend) or _impl_source(name)
             for name, entry in functions.helper_functions().items()}
    return {**table, **window_helpers.helpers(backend)}   # strided views of shifted reads


@cache
def _impl_source(helper: str) -> str:
    return inspect.getsource(functions.helper_functions()[helper].impl)


def _numpy() -> Backend:
    # "numpy" helpers: the same stable algorithms as functions.py, spelled with array
    # methods and in-place operations (a few microseconds cheaper on small arrays)
    return Backend("numpy", ("import numpy as np",), "np", blas=True,
                   diagonal_view=_einsum_view, helpers=_helpers("numpy"))


def _torch() -> Backend:
    return Backend(
        "torch", ("import torch",), "torch",
        einsum="torch.einsum({spec!r}, {ops})",
        tensordot="torch.tensordot({a}, {b}, dims=({ia}, {ib}))",
        total="{x}.sum(dim={axes})", permute="{x}.permute({perm})",
        zeros="torch.zeros({shape}, dtype=torch.float64)",
        broadcast=("torch.broadcast_to(torch.as_tensor({x}, dtype=torch.float64), {shape})"
                   ".clone()"),
        scalar="torch.as_tensor({x}, dtype=torch.float64)", trace="torch.trace({x})",
        flip="torch.flip({x}, {dims})",
        diagonal_view=_torch_view, linalg_errors=_torch_errors, helpers=_helpers("torch"))


def _jax() -> Backend:
    return Backend(
        "jax", ("import jax", "import jax.numpy as jnp"), "jnp",
        einsum="jnp.einsum({spec!r}, {ops})",
        tensordot="jnp.tensordot({a}, {b}, axes=({ia}, {ib}))",
        zeros="jnp.zeros({shape})", broadcast="jnp.broadcast_to({x}, {shape})",
        scalar="jnp.asarray({x})", conv=True, helpers=_helpers("jax"))


def _dask() -> Backend:
    # NumPy ufuncs and np.max/np.where dispatch to dask lazily, so NumPy spellings stay.
    return Backend(
        "dask", ("import numpy as np", "import dask.array as da"), "np",
        einsum="da.einsum({spec!r}, {ops})",
        tensordot="da.tensordot({a}, {b}, axes=({ia}, {ib}))",
        zeros="da.zeros({shape})", broadcast="da.broadcast_to({x}, {shape})",
        helpers=_helpers("dask"))


def _generic(name: str) -> Backend:
    return Backend(
        name, ("import numpy as np", "import opt_einsum as _oe"), "np",
        einsum="_oe.contract({spec!r}, {ops}, backend=" + repr(name) + ")",
        tensordot="_oe.contract({spec!r}, {a}, {b}, backend=" + repr(name) + ")",
        helpers=_helpers(""))


def literal_einsums(backend: Backend) -> Backend:
    """``backend`` writing every contraction as one einsum call with its subscripts (no
    ``@``, ``tensordot`` or ``vdot``), and a diagonal as a mask, not an einsum view: the
    exported einsum program."""
    return replace(backend, blas=False, matmul=False, tensordot="", diagonal_view=_no_view,
                   conv=False)


_BUILTIN = {"numpy": _numpy, "torch": _torch, "jax": _jax, "dask": _dask}
_MODULES = {"torch": "torch", "jax": "jax", "dask": "dask.array"}


def get_backend(name: str) -> Backend:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        raise EvaluationError(f"unknown backend {name!r}")
    return _BUILTIN.get(name, lambda: _generic(name))()


def require(name: str) -> None:
    """Import the backend's library now (lazily, only when it is asked for)."""
    import importlib
    module = _MODULES.get(name, name if name != "numpy" else "numpy")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise EvaluationError(f"backend {name!r} needs the {module!r} package, which is not "
                              f"installed (pip install indexcalc[{name}])") from exc


WINDOW_HELPERS = ["_window", "_mask", "_conv", "_size"]
HELPER_CALL = re.compile(r"\b(" + "|".join(sorted(functions.helper_functions()) + WINDOW_HELPERS)
                         + r")\(")


def helpers_needed(backend: Backend, code: str) -> list[str]:
    """Sources of the helpers ``code`` calls, dependencies included, in a stable order."""
    names: list[str] = []
    todo = HELPER_CALL.findall(code)
    while todo:
        n = todo.pop()
        if n not in names:
            names.append(n)
            todo.extend(HELPER_CALL.findall(backend.helpers[n].split("\n", 1)[1]))
    return [backend.helpers[n] for n in sorted(names)]
