"""indexcalc: tensor derivatives in index and matrix notation.

Write a model the way you write it on paper, in index notation, matrix
notation or both, and get back its derivatives: simplified, printed in index
form, matrix form and LaTeX, explained step by step, checked numerically, and
compiled to einsum contractions.
"""

from .errors import IndexcalcError

__all__ = ["IndexcalcError"]
