"""Reading results: index form, LaTeX, matrix form, explanations.

Its modules load on first use: ``read.matrix`` imports ``indexcalc.read.matrix``
when first read (PEP 562), so that printing a derivative in index form does not
load the matrix-form algebra or the explainer.  ``tests/test_layout.py`` checks
that a package's ``__getattr__`` loads only its own submodules.
"""

import importlib


def __getattr__(name: str):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
