"""indexcalc: tensor derivatives in index and matrix notation.

Write a model the way you write it on paper, in index notation, matrix
notation or both, and get back its derivatives: simplified, printed in index
form, matrix form and LaTeX, explained step by step, checked numerically, and
compiled to einsum contractions.

    >>> import indexcalc
    >>> d = indexcalc.derivative("z_k = W_ik y_i + b_k", wrt="W")
"""

from indexcalc import testing
from indexcalc.api import answer, compile, derivative, evaluate, export, latex, parse
from indexcalc.checking.claims import check
from indexcalc.derivative import Derivative
from indexcalc.errors import IndexcalcError
from indexcalc.model import Model
from indexcalc.notebook import load_ipython_extension
from indexcalc.version import __version__

__all__ = ["Derivative", "IndexcalcError", "Model", "__version__", "answer", "check", "compile",
           "derivative", "evaluate", "export", "latex", "load_ipython_extension", "parse",
           "testing"]
