"""The index-form IR, importable from here as one: ``nodes`` (the node classes and
traversal), ``names`` (fresh index names), ``keys`` (comparison up to renaming
indices), ``algebra`` (smart constructors, rebuilding, renaming) and
``substitution`` (substituting, instantiating, unique binders, mapping indices)."""

from indexcalc.ir.algebra import *  # noqa: F401,F403
from indexcalc.ir.algebra import __all__ as _algebra
from indexcalc.ir.keys import *  # noqa: F401,F403
from indexcalc.ir.keys import __all__ as _keys
from indexcalc.ir.names import *  # noqa: F401,F403
from indexcalc.ir.names import __all__ as _names
from indexcalc.ir.nodes import *  # noqa: F401,F403
from indexcalc.ir.nodes import __all__ as _nodes
from indexcalc.ir.substitution import *  # noqa: F401,F403
from indexcalc.ir.substitution import __all__ as _substitution

__all__ = _nodes + _names + _keys + _algebra + _substitution
