"""The compiler: programs of index-form bindings to NumPy (or torch/JAX) code.

Its modules load on first use: ``from indexcalc import compiler`` costs nothing,
and ``compiler.program`` imports ``indexcalc.compiler.program`` when first
read (PEP 562), so that a derivative that is only printed never loads code
generation, planning or the backends.  ``tests/test_layout.py`` checks that a
package's ``__getattr__`` loads only its own submodules.
"""

import importlib


def __getattr__(name: str):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
