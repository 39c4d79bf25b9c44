"""NumPy, imported when first used by the function table's implementations.

Every stage reads the function table (``functions.py``), and most of them
(parsing, differentiating, printing) evaluate nothing; NumPy's import is half
of a fresh process's wait for its first printed derivative.  So the table's
implementations reach NumPy through ``np`` here, which imports it on the first
attribute read, and the table holds ``numpy_function("exp")`` rather than
``numpy.exp`` itself.  The compiler and the evaluators import NumPy as usual.
"""

from __future__ import annotations

from typing import Callable


class _NumPy:
    """``np.<name>`` is ``numpy.<name>``; NumPy is imported by the first read."""

    def __getattr__(self, name: str):
        import numpy
        return getattr(numpy, name)


np = _NumPy()


def numpy_function(name: str) -> Callable:
    """``numpy.<name>`` (``"exp"``, ``"linalg.det"``), found when first called."""
    def impl(*args):
        f = np
        for part in name.split("."):
            f = getattr(f, part)
        return f(*args)
    impl.__name__ = impl.__qualname__ = name
    return impl
