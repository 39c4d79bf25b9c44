"""indexcalc: tensor derivatives in index and matrix notation.

Write a model the way you write it on paper, in index notation, matrix
notation or both, and get back its derivatives: simplified, printed in index
form, matrix form and LaTeX, explained step by step, checked numerically, and
compiled to einsum contractions.

    >>> import indexcalc
    >>> d = indexcalc.derivative("z_k = W_ik y_i + b_k", wrt="W")
"""

from . import evaluate as _evaluate_module, latex as _latex_module  # noqa: F401  loaded
# before the API binds indexcalc.evaluate and indexcalc.latex, so loading them later
# cannot replace the functions with the modules
from . import testing
from .api import answer, check, compile, derivative, evaluate, latex, parse
from .derivatives import Derivative
from .errors import IndexcalcError
from .model import Model

__all__ = ["Derivative", "IndexcalcError", "Model", "answer", "check", "compile", "derivative",
           "evaluate", "latex", "parse", "testing"]
