"""The surface syntax tree: what the grammar recognised, before names are resolved.

The builder (build.py) turns lark's parse tree into these small nodes; lowering
(statements.py and the modules it uses) turns them into index-form IR.  They sit
in between because what a piece of text *means* often depends on names declared
elsewhere: `W (x + b)` is a product if `W` is a tensor and a call if it is a function, and `dE/dz_k`
is a question only as a whole statement.  Each node records where it was
typed (``Pos``) so that lowering can point at the culprit.

Products and sums are kept flat (a list of factors with their operators) so
that the Einstein convention can count indices over a whole product, and so
that long inputs never build deep trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Union


@dataclass(frozen=True)
class Pos:
    """A stretch of source text: 1-based line and column of its start, and the
    character offsets ``start:end``."""
    line: int
    column: int
    start: int
    end: int


@dataclass
class Num:
    value: Fraction | float          # a float for a decimal as written (0.5, 1e-5)
    pos: Pos


@dataclass
class Name:
    """``x``, ``W_ik``, ``W[p,q]``; ``indices`` is None without a subscript.  An index
    may be a ``affine_text.Shift`` (``x_{i+k}``); ``index_names`` lists the names inside."""
    name: str
    indices: tuple | None
    pos: Pos


@dataclass
class Cond:
    """A range condition ``[0 ≤ p − k < m]`` (``affine_text.Cond``), 1 where it holds."""
    cond: object
    pos: Pos


@dataclass
class Call:
    """``name'…_over(args)_out``: a function call, or a tensor times a parenthesis
    (decided when names are resolved)."""
    name: str
    primes: int
    over: tuple[str, ...] | None
    args: list
    out: tuple[str, ...] | None
    pos: Pos
    head: Pos            # the name itself


@dataclass
class Paren:
    """``(expr)`` or ``(expr)_ij``: parentheses, and indexing a matrix-form result."""
    body: "Node"
    indices: tuple[str, ...] | None
    pos: Pos


@dataclass
class Neg:
    body: "Node"
    pos: Pos


@dataclass
class Terms:
    """``a + b - c``: ``terms`` holds (sign, node) with sign +1 or -1."""
    terms: list
    pos: Pos


@dataclass
class Chain:
    """A product ``a b * c / d @ e ⊙ f``: ``factors`` holds (op, node); the first
    op is "" and juxtaposition is "" too."""
    factors: list
    pos: Pos


@dataclass
class Power:
    base: "Node"
    exponent: "Node"
    pos: Pos


@dataclass
class Transpose:
    body: "Node"
    pos: Pos


@dataclass
class SumOver:
    """``sum_j body``: an explicit sum reaching to the end of its product."""
    indices: tuple[str, ...]
    body: "Node"
    pos: Pos


@dataclass
class Norm:
    """``||x||``; ``kind`` is the subscript of ``||A||_F``, ``||x||_1``, ``||A||_2``."""
    body: "Node"
    pos: Pos
    kind: str | None = None


@dataclass
class Partial:
    """``∂X``: only meaningful in a question ``∂E/∂z_k``."""
    body: "Node"
    pos: Pos


Node = Union[Num, Name, Call, Paren, Neg, Terms, Chain, Power, Transpose, SumOver, Norm,
             Partial]


# ---------------------------------------------------------------- statements

@dataclass
class DeclStmt:
    name: str
    shape: tuple                 # dims: str or int
    symmetric: bool
    pos: Pos
    pad: bool = False            # reads outside the declared range are zero


FUNCTION, SCALAR_FUNCTION = "function", "function scalar"     # shapes of function declarations


@dataclass
class FuncDeclStmt:
    """``phi : function`` (elementwise), ``Loss : function scalar`` (of its whole argument):
    an opaque function with a name longer than the one-letter convention."""
    name: str
    scalar: bool
    pos: Pos


@dataclass
class DefStmt:
    lhs: Node
    rhs: Node
    pos: Pos


@dataclass
class ExprStmt:
    expr: Node
    pos: Pos


@dataclass
class CheckStmt:
    """``check [NAME =] QUESTION == CLAIM [== CLAIM ...]``: a chain of equalities,
    the last expression named ``name`` for later checks."""
    question: Node
    claim: Node
    pos: Pos
    more: tuple = ()                 # the chain's further expressions
    name: str | None = None


@dataclass
class AssumeStmt:
    lhs: Node
    rhs: Node
    pos: Pos


Stmt = Union[DeclStmt, FuncDeclStmt, DefStmt, ExprStmt, CheckStmt, AssumeStmt]


def children(node) -> list:
    """The sub-nodes of a surface node (used for iterative depth checks)."""
    if isinstance(node, (Terms,)):
        return [t for _, t in node.terms]
    if isinstance(node, Chain):
        return [f for _, f in node.factors]
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, Power):
        return [node.base, node.exponent]
    if isinstance(node, (Paren, Neg, Transpose, SumOver, Norm, Partial)):
        return [node.body]
    return []


def depth(node) -> int:
    """Nesting depth of a surface tree, computed without recursion.  A norm counts
    three levels: it lowers to sqrt(Σ x²)."""
    best = 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + (3 if isinstance(c, Norm) else 1)) for c in children(n))
    return best


@dataclass
class Source:
    """The statements of a text, with the text itself for error messages."""
    statements: list[Stmt] = field(default_factory=list)
    text: str = ""
