"""indexcalc: tensor derivatives in index and matrix notation.

Write a model the way you write it on paper, in index notation, matrix
notation or both, and get back its derivatives: simplified, printed in index
form, matrix form and LaTeX, explained step by step, checked numerically, and
compiled to einsum contractions.

    >>> import indexcalc
    >>> d = indexcalc.derivative("z_k = W_ik y_i + b_k", wrt="W")

The public names load on first use (PEP 562: the module's ``__getattr__``), so
``import indexcalc`` costs little more than NumPy's import and what a
derivative needs is loaded by the first derivative; ``indexcalc.check``,
``indexcalc.compile``, ``indexcalc.testing`` and the notebook extension load
their stages when first used.  This is the package's one deferred import of
its own modules (``tests/test_layout.py`` knows it as ``LAZY``).

``indexcalc.derivative`` is the function; the module of that name
(``indexcalc/derivative.py``, home of ``Derivative``) is reached by importing
from it (``from indexcalc.derivative import Derivative``).  Importing a
submodule sets it as an attribute of its package, so the package's module
class keeps the public functions from being replaced by their namesake modules.
"""

import importlib
import sys
from types import ModuleType

from indexcalc.errors import IndexcalcError
from indexcalc.version import __version__

# public name -> the module that defines it (a module itself where the names agree)
LAZY = {
    "Derivative": "indexcalc.derivative",
    "Model": "indexcalc.model",
    "answer": "indexcalc.api",
    "check": "indexcalc.checking.claims",
    "compile": "indexcalc.api",
    "derivative": "indexcalc.api",
    "evaluate": "indexcalc.api",
    "export": "indexcalc.api",
    "latex": "indexcalc.api",
    "load_ipython_extension": "indexcalc.notebook",
    "parse": "indexcalc.api",
    "testing": "indexcalc.testing",
}

__all__ = sorted(["IndexcalcError", "__version__", *LAZY])


def __getattr__(name: str):
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'indexcalc' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module == f"{__name__}.{name}" else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(ModuleType):
    """The package: importing a submodule named like a public function
    (``indexcalc.derivative``) leaves the function in place."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, ModuleType) and LAZY.get(name, value.__name__) != value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
