"""Elementwise work into dead buffers: ``np.multiply(a, b, out=a)``.

After inlining, an elementwise chain is one NumPy expression per line
(``dE_dr = dE_dh * (1.0 - h * h)``), and each operator in it allocates a new
array, as does each line.  Backprop's elementwise passes are memory-bound, so
those allocations (and a fresh process's page faults on them) are much of
their cost.  This pass rewrites, in a function compiled for float64 inputs,
each elementwise operation whose result has exactly the shape of an array the
function made, read for the last time on that line, into the ufunc writing
into that array (``np.multiply(dE_dh, np.subtract(1.0, np.multiply(h, h,
out=h), out=h), out=dE_dh)``): no allocation at all.  The ufunc is the one
the operator calls, so the values are the same.  Operands of anything else (a
product, a helper such as ``_sigmoid``, a transpose) are rewritten the same
way inside it: ``_sigmoid(np.add(b, t1, out=t1))``.

A buffer is written only when that is safe:

* it is the function's own (never an argument) and a fresh array: its line
  is arithmetic, a ufunc, a product or a reduction, never a view;
* no line reads it into something that could be a view of it (a transpose,
  an index, a single-operand einsum), so nothing else sees the write;
* its last use is this line (it is never an output), and every occurrence of
  it on the line lies inside the operation that writes it, so nothing reads
  it after the write;
* every name on the line is a float64 array (the caller's arrays are checked
  when the function is planned), and the operation's shape is the buffer's.

The pass reads the lines' code with ``ast``: generated code only, never user text.
"""

from __future__ import annotations

import ast
from collections import Counter

from indexcalc.compiler.statements import Line
from indexcalc.functions import ELEMENTWISE, TENSOR

BINARY = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
UFUNCS = frozenset({"exp", "log", "sqrt", "sin", "cos", "tanh", "abs", "sign", "tan", "sinh",
                    "cosh", "arctan", "log1p", "expm1", "maximum", "logaddexp", "heaviside"})
# the table's NumPy helpers (``_sigmoid``, ``_softmax``): each returns a new float64 array
HELPERS = frozenset(f.helper for f in [*ELEMENTWISE.values(), *TENSOR.values()] if f.helper)
Shape = tuple[int, ...]


def reuse_buffers(lines: list[Line], shapes: dict[str, Shape], arguments: set[str]
                  ) -> tuple[list[Line], int]:
    """``lines`` with elementwise operations writing into dead buffers, and how many
    allocations that saves.  ``shapes``: the shape of each argument and temporary
    (where known); ``arguments``: the function's parameters (float64 arrays)."""
    trees = [_parse(l) for l in lines]
    assigned = Counter(l.target for l in lines if l.plain and l.target)
    once = {n for n, c in assigned.items() if c == 1} - arguments
    f64, fresh, ok = set(arguments), set(), []
    for line, tree in zip(lines, trees):
        ok.append(tree is not None and _float64(tree, f64))
        if ok[-1] and line.target in once:
            f64.add(line.target)
            if _makes_new(tree):
                fresh.add(line.target)
    reads: dict[str, list[int]] = {}
    for k, tree in enumerate(trees):
        for n in _names(lines[k], tree):
            reads.setdefault(n, []).append(k)
    dies: dict[int, set[str]] = {}           # line -> the private buffers it reads last
    for n in fresh:
        if n in shapes and all(trees[k] is not None and _makes_new(trees[k])
                               for k in reads.get(n, [])) and n in reads:
            dies.setdefault(reads[n][-1], set()).add(n)
    out, saved = [], 0
    for k, (line, tree) in enumerate(zip(lines, trees)):
        dead = dies.get(k)
        if not dead or not ok[k]:
            out.append(line)
            continue
        writer = _Writer(line.code, tree, shapes, dead)
        code, _ = writer.rewrite(tree.body)
        out.append(Line(line.target, code, line.inline, line.plain, line.reads)
                   if writer.saved else line)
        saved += writer.saved
    return out, saved


def _parse(line: Line) -> ast.Expression | None:
    if not line.plain:
        return None
    try:
        return ast.parse(line.code, mode="eval")
    except SyntaxError:
        return None


def _names(line: Line, tree: ast.Expression | None) -> set[str]:
    if tree is None:                       # a statement written as is: read it as text
        try:
            tree = ast.parse(line.code)
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _is_np(node: ast.AST, names=None) -> bool:
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "np" and (names is None or node.attr in names))


def _makes_new(tree: ast.Expression) -> bool:
    """Whether the line's value is a new array (never a view of what it reads)."""
    top = tree.body
    if isinstance(top, ast.BinOp):
        return isinstance(top.op, (*BINARY, ast.MatMult, ast.Pow))
    if isinstance(top, ast.UnaryOp):
        return isinstance(top.op, ast.USub)
    if isinstance(top, ast.Call):
        if _is_np(top.func, UFUNCS) or _is_np(top.func, {"tensordot"}) or _helper(top):
            return True
        if _is_np(top.func, {"einsum"}):
            return sum(not isinstance(a, ast.Constant) for a in top.args) >= 2
        return isinstance(top.func, ast.Attribute) and top.func.attr == "sum"
    return False


def _float64(tree: ast.Expression, f64: set[str]) -> bool:
    """Every name read is a float64 array (or ``np``), every constant a number, and
    nothing but arithmetic, ufuncs, products, reductions and views is used."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and _helper(n)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id != "np" and n.id not in f64 and id(n) not in called:
            return False
        if isinstance(n, ast.Constant) and isinstance(n.value, bool):
            return False
        if isinstance(n, (ast.Compare, ast.BoolOp, ast.IfExp, ast.Lambda)):
            return False
        if isinstance(n, ast.Call) and not (_is_np(n.func, UFUNCS | {"einsum", "tensordot"})
                                            or _helper(n) or isinstance(n.func, ast.Attribute)
                                            and n.func.attr == "sum"):
            return False
    return True


def _helper(call: ast.Call) -> bool:
    """A call of one of the table's helpers or of ``np.linalg.inv``/``det``."""
    f = call.func
    if isinstance(f, ast.Name):
        return f.id in HELPERS
    return (isinstance(f, ast.Attribute) and f.attr in ("inv", "det")
            and _is_np(f.value, {"linalg"}))


class _Writer:
    """Rewrites one line's expression, bottom up; ``saved`` counts the allocations avoided."""

    def __init__(self, code: str, tree: ast.AST, shapes: dict[str, Shape], dead: set[str]):
        self.code, self.shapes, self.free = code, shapes, set(dead)
        self.text = code.encode("utf-8")          # ast's offsets count UTF-8 bytes
        self.total = {n: sum(isinstance(m, ast.Name) and m.id == n for m in ast.walk(tree))
                      for n in dead}
        self.saved = 0

    def rewrite(self, node: ast.AST) -> tuple[str, str | None]:
        """(code, the buffer the value is in when this line wrote it)."""
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            name, children = f"np.{BINARY[type(node.op)]}", [node.left, node.right]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            name, children = "np.negative", [node.operand]
        elif isinstance(node, ast.Call) and _is_np(node.func, UFUNCS) and not node.keywords:
            name, children = f"np.{node.func.attr}", list(node.args)
        else:
            return self._splice(node), None
        parts = [self.rewrite(c) for c in children]
        shape = _shape(node, self.shapes)
        buffer = next((b for _, b in parts if b is not None), None)
        if buffer is None and shape:
            buffer = next((c.id for c in children if isinstance(c, ast.Name)
                           and c.id in self.free and self.shapes[c.id] == shape
                           and self._inside(node, c.id)), None)
        if buffer is None or self.shapes[buffer] != shape:
            if all(code == self._segment(c) for (code, _), c in zip(parts, children)):
                return self._segment(node), None
            return self._call(name, [c for c, _ in parts], None), None
        self.free.discard(buffer)
        self.saved += 1
        return self._call(name, [c for c, _ in parts], buffer), buffer

    def _segment(self, node: ast.AST) -> str:
        return self.text[node.col_offset:node.end_col_offset].decode("utf-8")

    def _splice(self, node: ast.AST) -> str:
        """Any other node (a helper call, a product, a transpose, an index): its own
        text with its operands rewritten (a buffer written inside an operand holds
        what the node reads, once; the node's value is new or a view of it)."""
        text = self.text
        start, end = node.col_offset, node.end_col_offset
        inner = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        inner += [k.value for k in getattr(node, "keywords", ())]
        out, pos = b"", start
        for child in sorted(inner, key=lambda c: c.col_offset):
            code, _ = self.rewrite(child)
            out += text[pos:child.col_offset] + code.encode("utf-8")
            pos = child.end_col_offset
        return (out + text[pos:end]).decode("utf-8")

    def _inside(self, node: ast.AST, name: str) -> bool:
        """Every occurrence of ``name`` on the line is within ``node``."""
        inside = sum(isinstance(m, ast.Name) and m.id == name for m in ast.walk(node))
        return inside == self.total[name]

    @staticmethod
    def _call(name: str, args: list[str], out: str | None) -> str:
        return f"{name}({', '.join(args)}" + (f", out={out})" if out else ")")


def _shape(node: ast.AST, shapes: dict[str, Shape]) -> Shape | None:
    """The shape of an expression's value, where the pass can tell (None otherwise)."""
    if isinstance(node, ast.Name):
        return shapes.get(node.id)
    if isinstance(node, ast.Constant):
        return () if isinstance(node.value, (int, float)) else None
    if _is_np(node, {"pi", "e"}):
        return ()
    if isinstance(node, ast.Attribute) and node.attr == "T":
        inner = _shape(node.value, shapes)
        return None if inner is None else inner[::-1]
    if isinstance(node, ast.Subscript):
        return _indexed(_shape(node.value, shapes), node.slice)
    if isinstance(node, ast.UnaryOp):
        return _shape(node.operand, shapes)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        return _broadcast(_shape(node.left, shapes), _shape(node.right, shapes))
    if isinstance(node, ast.Call) and _is_np(node.func, UFUNCS) and not node.keywords:
        out: Shape | None = ()
        for a in node.args:
            out = _broadcast(out, _shape(a, shapes))
        return out
    return None


def _indexed(shape: Shape | None, index: ast.AST) -> Shape | None:
    """``x[:, None]``: the axes kept (``:``) and added (``None``); nothing else."""
    items = index.elts if isinstance(index, ast.Tuple) else [index]
    if shape is None:
        return None
    out, axis = [], 0
    for item in items:
        if isinstance(item, ast.Constant) and item.value is None:
            out.append(1)
        elif isinstance(item, ast.Slice) and not (item.lower or item.upper or item.step):
            if axis >= len(shape):
                return None
            out.append(shape[axis])
            axis += 1
        else:
            return None
    return tuple(out) + shape[axis:]


def _broadcast(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(out)
