"""Every limit and budget of indexcalc, in one place.

indexcalc is for models a person writes down, so it bounds the work a text can
cause: inputs beyond a *limit* are refused with a ``LimitError`` pointing at the
place; a *budget* beyond which a pass stops trying to improve its output (the
result is the same, only less folded or less inlined).  The README's
Conventions section (Limits) quotes these numbers; change both together.
"""

from __future__ import annotations

# ---------------------------------------------------------------- text (syntax/)

MAX_INPUT_CHARS = 64 * 1024    # characters of text: longer texts are refused before parsing
MAX_TOKENS = 4000              # names, numbers, symbols (about 400 lines): keeps work ~1 s
MAX_RANK = 16                  # dimensions of a declared tensor (a Hessian doubles it)
MAX_NESTING = 200              # brackets open at once, ( [ {: bounds Lark's stack
MAX_DEPTH = 400                # nesting of the surface tree (powers, minus signs, sums...)
MAX_IR_DEPTH = 250             # nesting of a definition in index form: later passes recurse
MAX_NUMBER_DIGITS = 60         # digits in one numeric literal: exact arithmetic stays cheap
MAX_EXPONENT = 60              # |e| in 1.5e-3 style literals: exact fractions stay small
RECURSION_LIMIT = 20_000       # Python's recursion limit while lowering the depth-bounded tree
MAX_POWER_BITS = 4096          # bits of a constant power folded exactly (2^5000 is refused)
MAX_SUBSCRIPT_NUMBER = 10_000  # |coefficient|, |offset|, divisor in x_{2i+k}, [0 ≤ p − k < m]

# ---------------------------------------------------------------- calculus/

MAX_TERMS = 20000              # terms of an expansion in simplify; beyond, a LimitError
MAX_EXPANDED = 20000           # nodes of an expansion before it is simplified; beyond, the same
MAX_LOCAL_SIZE = 4000          # nodes of one definition's derivative before simplification
MAX_BOUND = 4                  # indices summed at once in an inlined closed form; more: named
WHOLE_FACTOR = 3               # adjoints this many times the budget are not all substituted
MAX_PATTERN_FACTORS = 100      # factors of a rule's product pattern (matching recurses on them)
MATCH_BUDGET = 20_000          # node comparisons for one rule at one node; beyond, not applied
MANY_RULES = 4                 # more candidate rules than this are filtered by the names used
MEMO_SIZE = 50_000             # rewritten subtrees remembered per rule set (bounds memory)

# ---------------------------------------------------------------- derivative.py

INLINE_BUDGET = 160            # nodes: a closed formula larger than this keeps adjoints named

# ---------------------------------------------------------------- checking/

MAX_RANDOM_ENTRIES = 10_000_000  # entries of one random input array (check, :eval): 80 MB
MAX_DIFFERENCED = 2_000          # entries :eval differences (two evaluations each)
