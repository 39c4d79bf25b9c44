"""The index-form IR: ``nodes`` (the node classes and traversal) and ``algebra``
(smart constructors, renaming, keys, substitution), importable from here as one."""

from indexcalc.ir.algebra import *  # noqa: F401,F403
from indexcalc.ir.algebra import __all__ as _algebra
from indexcalc.ir.nodes import *  # noqa: F401,F403
from indexcalc.ir.nodes import __all__ as _nodes

__all__ = _nodes + _algebra
