"""What generated code looks like for each array library.

Code generation writes straight-line Python against one ``Backend``: the
module aliases it imports, how it spells a transpose, a sum over axes, an
einsum or a tensordot, a zero array, and the helpers (stable softmax,
log-sum-exp...) it must define.  Function knowledge stays in
``functions.py``: a backend only overrides the spelling of an entry where its
library differs from NumPy (``np.`` becomes ``torch.``/``jnp.``).

NumPy is the default and the only backend lowered to ``@``/``tensordot``/``vdot``
by hand.  ``torch``, ``jax`` and ``dask`` are imported lazily, only when asked
for; any other name is passed to opt_einsum's ``backend=`` for contractions,
with NumPy ufuncs (which dispatch through the array protocols) elsewhere.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import lru_cache

from indexcalc import functions
from indexcalc.errors import EvaluationError
from indexcalc.functions import ELEMENTWISE, TENSOR


@dataclass(frozen=True)
class Backend:
    name: str
    imports: tuple[str, ...]
    xp: str                                  # module alias replacing "np." in templates
    blas: bool = False                       # lower pairs to @ / tensordot / vdot by hand
    einsum: str = "np.einsum({spec!r}, {ops})"
    tensordot: str = "np.tensordot({a}, {b}, axes=({ia}, {ib}))"
    total: str = "{x}.sum(axis={axes})"
    permute: str = "{x}.transpose({perm})"
    zeros: str = "np.zeros({shape})"
    broadcast: str = "np.broadcast_to({x}, {shape}).copy()"
    scalar: str = "np.float64({x})"
    diag_write: bool = True                  # may write into an einsum diagonal view
    elementwise: dict[str, str] = field(default_factory=dict)   # name -> code override
    tensor: dict[str, str] = field(default_factory=dict)        # name -> callable override
    helpers: dict[str, str] = field(default_factory=dict)       # helper name -> source

    def func_code(self, name: str) -> str:
        code = self.elementwise.get(name, ELEMENTWISE[name].code)
        return code.replace("np.", self.xp + ".")

    def tensor_code(self, name: str) -> str:
        code = self.tensor.get(name, TENSOR[name].code)
        return code.replace("np.", self.xp + ".")


def _numpy_helpers() -> dict[str, str]:
    """Helper sources for generated NumPy code: the function table's own impls."""
    return dict(_numpy_helper_sources())


@lru_cache(maxsize=1)
def _numpy_helper_sources() -> tuple[tuple[str, str], ...]:
    names = ["_sigmoid", "_softmax", "_logsumexp", "_log_softmax", "_logdet"]
    return tuple((n, inspect.getsource(getattr(functions, n))) for n in names)


_TORCH_HELPERS = {
    "_sigmoid": "def _sigmoid(x):\n    return torch.sigmoid(x)\n",
    "_softmax": "def _softmax(x):\n    return torch.softmax(x, -1)\n",
    "_log_softmax": "def _log_softmax(x):\n    return torch.log_softmax(x, -1)\n",
    "_logsumexp": "def _logsumexp(x):\n    return torch.logsumexp(x, -1)\n",
    "_logdet": "def _logdet(x):\n    return torch.linalg.slogdet(x)[1]\n",
}

_JAX_HELPERS = {
    "_sigmoid": "def _sigmoid(x):\n    return jax.nn.sigmoid(x)\n",
    "_softmax": "def _softmax(x):\n    return jax.nn.softmax(x, axis=-1)\n",
    "_log_softmax": "def _log_softmax(x):\n    return jax.nn.log_softmax(x, axis=-1)\n",
    "_logsumexp": "def _logsumexp(x):\n    return jax.scipy.special.logsumexp(x, axis=-1)\n",
    "_logdet": "def _logdet(x):\n    return jnp.linalg.slogdet(x)[1]\n",
}


# The same stable algorithms as functions.py, spelled with array methods and in-place
# operations: a few microseconds cheaper per call on small arrays.
_FAST_NUMPY = {
    "_softmax": "def _softmax(x):\n    e = x - x.max(axis=-1, keepdims=True)\n"
                "    np.exp(e, out=e)\n"
                "    e /= e.sum(axis=-1, keepdims=True)\n    return e\n",
    "_logsumexp": "def _logsumexp(x):\n    m = x.max(axis=-1, keepdims=True)\n"
                  "    m[~np.isfinite(m)] = 0.0\n"
                  "    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]\n",
}


def _numpy() -> Backend:
    return Backend("numpy", ("import numpy as np",), "np", blas=True,
                   helpers={**_numpy_helpers(), **_FAST_NUMPY})


def _torch() -> Backend:
    return Backend(
        "torch", ("import torch",), "torch",
        einsum="torch.einsum({spec!r}, {ops})",
        tensordot="torch.tensordot({a}, {b}, dims=({ia}, {ib}))",
        total="{x}.sum(dim={axes})", permute="{x}.permute({perm})",
        zeros="torch.zeros({shape}, dtype=torch.float64)",
        broadcast=("torch.broadcast_to(torch.as_tensor({x}, dtype=torch.float64), {shape})"
                   ".clone()"),
        scalar="torch.tensor({x}, dtype=torch.float64)",
        elementwise={"relu": "torch.relu({0})", "step": "torch.heaviside({0}, {0}.new_zeros(()))",
                     "softplus": "torch.nn.functional.softplus({0})"},
        tensor={"det": "torch.linalg.det", "inv": "torch.linalg.inv"},
        helpers=_TORCH_HELPERS)


def _jax() -> Backend:
    return Backend(
        "jax", ("import jax", "import jax.numpy as jnp"), "jnp",
        einsum="jnp.einsum({spec!r}, {ops})",
        tensordot="jnp.tensordot({a}, {b}, axes=({ia}, {ib}))",
        zeros="jnp.zeros({shape})", broadcast="jnp.broadcast_to({x}, {shape})",
        scalar="jnp.asarray({x})", diag_write=False, helpers=_JAX_HELPERS)


def _dask() -> Backend:
    # NumPy ufuncs and np.max/np.where dispatch to dask lazily, so NumPy spellings stay.
    return Backend(
        "dask", ("import numpy as np", "import dask.array as da"), "np",
        einsum="da.einsum({spec!r}, {ops})",
        tensordot="da.tensordot({a}, {b}, axes=({ia}, {ib}))",
        zeros="da.zeros({shape})", broadcast="da.broadcast_to({x}, {shape})",
        diag_write=False, helpers=_numpy_helpers())


def _generic(name: str) -> Backend:
    return Backend(
        name, ("import numpy as np", "import opt_einsum as _oe"), "np",
        einsum="_oe.contract({spec!r}, {ops}, backend=" + repr(name) + ")",
        tensordot="_oe.contract({spec!r}, {a}, {b}, backend=" + repr(name) + ")",
        diag_write=False, helpers=_numpy_helpers())


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


HELPER_CALL = re.compile(r"\b(_sigmoid|_softmax|_log_softmax|_logsumexp|_logdet)\(")


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
