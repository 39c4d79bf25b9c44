"""Code generation: a prepared Program -> the body of a straight-line Python function.

The generated code is what an expert would write by hand, so that calling it
costs no more than the NumPy it is made of:

* every product of tensors (a ``Mul``, or a ``Sum`` over one, with nested sums
  lifted into it) is one contraction; opt_einsum chooses the pairwise order
  once, at generation time, and each pair is written as ``@``, ``np.tensordot``,
  ``np.vdot``, a broadcast ``*`` or, failing those, a two-operand ``np.einsum``;
* a Kronecker delta is never an array: it merges two indices (a renaming), a
  repeated index reads a diagonal view, an index no operand carries
  broadcasts, and a delta between two free indices writes into a diagonal view
  of a zero array;
* equal subexpressions (up to renaming of indices) are computed once; scalars
  are folded and applied to the smallest array; elementwise chains become one
  NumPy expression (single-use temporaries are inlined at the end);
* identifiers come from IR names through ``naming.safe``, never raw text.

Each value is a ``Val``: a Python identifier or literal and the ``Index`` of
each of its axes, in whatever order was cheapest; consumers align axes lazily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import opt_einsum as oe

from indexcalc.compiler.backends import Backend
from indexcalc.compiler.shapes import as_float
from indexcalc.errors import EvaluationError
from indexcalc.ir import (
    Add,
    Apply,
    Const,
    Delta,
    DimSize,
    Expr,
    Func,
    Index,
    Mul,
    Pow,
    Sum,
    Var,
    canonical,
    const,
    erased_key,
    mul,
    rename,
    unique_binders,
    var_names,
    walk,
)
from indexcalc.memo import memoised
from indexcalc.model import Program
from indexcalc.naming import assign_names


@dataclass(frozen=True)
class Val:
    code: str                      # identifier or literal
    axes: tuple[Index, ...]        # one Index per axis, distinct; () for a scalar


@dataclass
class Line:
    target: str
    code: str
    inline: bool                   # an elementwise expression that may be inlined
    plain: bool = True             # "target = code" (False: a statement written as is)
    reads: tuple[str, ...] = ()    # the values (codes) ``code`` reads, in textual order


class Generator:
    """Generates the statements for one program, for one backend and one set of sizes.

    ``dims`` maps dimension symbols to sizes used for planning; ``literal_dims``
    says whether sizes are written as numbers (a compiled function, specialised
    to one shape signature) or read from the inputs' shapes (exported code).
    """

    def __init__(self, backend: Backend, dims: dict[str, int], names: dict[str, str],
                 literal_dims: bool = True):
        self.b = backend
        self.dims = dims
        self.names = names                    # model name -> identifier
        self.literal_dims = literal_dims
        self.lines: list[Line] = []
        # common subexpressions: emitted [expr, value] by shape (every index name
        # erased); only a shape met twice needs the exact key (_key) compared
        self.memo: dict[tuple, list[list]] = {}
        self.memo_of: dict[str, list[list]] = {}      # code -> memo entries holding it
        self.env: dict[str, tuple[str, tuple[int, ...]]] = {}   # binding -> code, axis positions
        self.count = 0
        self.used_dims: set[str] = set()
        self.plans: list[tuple[str, str, object]] = []           # (target, spec, PathInfo)
        self.steps: list[tuple[str, str, list[str]]] = []
        self.prefer: tuple[Index, ...] = ()
        self.born: dict[str, tuple[int, int]] = {}   # temp -> (its line, steps then)
        self.targets: set[str] = set()
        self.emitted: list[Line] = []              # the final statements, after inlining

    # ------------------------------------------------------------ program level

    def program(self, program: Program) -> list[str]:
        """Emit every binding; the names of the values returned, per output."""
        for name in program.inputs:
            self.env[name] = (self.names[name], None)
        for bnd in program.bindings:
            self.prefer = bnd.indices
            val = self.emit(unique_binders(bnd.expr))
            self.bind(bnd.name, bnd.indices, val)
        return [self.output(program.binding(n)) for n in program.outputs]

    def bind(self, name: str, indices: tuple[Index, ...], val: Val) -> None:
        code = val.code
        if code in self.born and self.names[name] not in self.targets:
            self.rename_temp(code, self.names[name])
            code = self.names[name]
        self.env[name] = (code, tuple(indices.index(a) for a in val.axes))

    def rename_temp(self, old: str, new: str) -> None:
        """Call temp ``old`` by a binding's name (only code written since it was born)."""
        pat = re.compile(rf"\b{old}\b")
        line0, step0 = self.born.pop(old)
        for line in self.lines[line0:]:
            line.target = new if line.target == old else line.target
            line.code = pat.sub(new, line.code)
            line.reads = tuple(new if r == old else r for r in line.reads)
        self.targets.add(new)
        entries = self.memo_of.pop(old, [])
        for entry in entries:
            entry[1] = Val(new, entry[1].axes)
        self.memo_of.setdefault(new, []).extend(entries)
        self.steps[step0:] = [(new if t == old else t, s, [new if o == old else o for o in ops])
                              for t, s, ops in self.steps[step0:]]

    def output(self, bnd) -> str:
        code, pos = self.env[bnd.name]
        val = Val(code, tuple(bnd.indices[p] for p in pos))
        if len(val.axes) < len(bnd.indices):
            shape = self.shape(bnd.indices)
            padded = self.align(val, bnd.indices)
            return self.assign(self.b.broadcast.format(x=padded, shape=shape), bnd.indices,
                               reads=[code]).code
        if not bnd.indices and not re.fullmatch(r"[A-Za-z_]\w*", code):
            return self.assign(self.b.scalar.format(x=code), (), reads=[code]).code
        return self.align(val, bnd.indices)

    # ------------------------------------------------------------ helpers

    def temp(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def assign(self, code: str, axes, inline: bool = False, plain: bool = True,
               reads=()) -> Val:
        """A new temp ``t = code``; ``reads`` are the values ``code`` reads, in order."""
        t = self.temp()
        self.born[t] = (len(self.lines), len(self.steps))
        self.targets.add(t)
        self.lines.append(Line(t, code, inline, plain, tuple(reads)))
        return Val(t, tuple(axes))

    def size(self, dim) -> int:
        if isinstance(dim, int):
            return dim
        if dim not in self.dims and self.literal_dims:
            raise EvaluationError(f"the size of dimension {dim} is not known "
                                  "from the arrays passed")
        return self.dims.get(dim, 64)

    def dim_code(self, dim) -> str:
        if isinstance(dim, int) or self.literal_dims:
            return str(self.size(dim))
        self.used_dims.add(dim)
        return self.names["#dim:" + dim]

    def shape(self, axes) -> str:
        codes = [self.dim_code(a.dim) for a in axes]
        return "(" + ", ".join(codes) + ("," if len(codes) == 1 else "") + ")"

    def numel(self, axes) -> int:
        n = 1
        for a in axes:
            n *= self.size(a.dim)
        return n

    def align(self, v: Val, target: tuple[Index, ...]) -> str:
        """``v``'s code with axes ordered as ``target``; missing axes are ``None``."""
        code = v.code
        present = [t for t in target if t in v.axes]
        perm = [v.axes.index(t) for t in present]
        if perm != sorted(perm):
            code = (f"{code}.T" if len(perm) == 2
                    else self.b.permute.format(x=code, perm=tuple(perm)))
        index = [":" if t in v.axes else "None" for t in target]
        while index and index[0] == "None":
            index.pop(0)                                   # leading axes broadcast anyway
        if "None" in index:
            while index[-1] == ":":
                index.pop()
            code = f"{code}[{', '.join(index)}]"
        return code

    # ------------------------------------------------------------ expressions

    def emit(self, e: Expr) -> Val:
        if isinstance(e, Const):
            v = as_float(e.value)
            return Val(repr(v) if v >= 0 else f"({v!r})", ())
        if isinstance(e, DimSize):
            return Val(self.dim_code(e.dim), ())
        if isinstance(e, Var):
            return self.read(e)
        bucket = self.memo.setdefault(erased_key(e), [])
        if bucket:
            key, order = _key(e)
            for seen, val in bucket:
                other, first = _key(seen)
                if other == key:
                    where = {a: order[first.index(a)] for a in val.axes}
                    return Val(val.code, tuple(where[a] for a in val.axes))
        val = self._emit(e)
        entry = [e, val]
        bucket.append(entry)
        self.memo_of.setdefault(val.code, []).append(entry)
        return val

    def _emit(self, e: Expr) -> Val:
        if isinstance(e, (Mul, Sum, Delta)):
            factors, summed = _gather(e)
            return self.contraction(factors, summed, e.free)
        if isinstance(e, Add):
            return self.add(e)
        if isinstance(e, Func):
            arg = self.emit(e.arg)
            code = arg.code
            if not var_names(e.arg):          # log(0.25), sin(d_n): torch.log needs a tensor
                code = self.b.scalar.format(x=code)
            return self.assign(self.b.func_code(e.name).format(code), arg.axes, inline=True,
                               reads=[arg.code])
        if isinstance(e, Pow):
            return self.power(e)
        if isinstance(e, Apply):
            return self.apply(e)
        raise TypeError(f"unknown IR node {type(e).__name__}")

    def read(self, e: Var, raw: bool = False) -> Val:
        """A tensor read; a repeated index reads the diagonal (unless ``raw``)."""
        code, pos = self.env[e.name]
        axes = e.indices if pos is None else tuple(e.indices[p] for p in pos)
        if raw or len(set(axes)) == len(axes):
            return Val(code, axes)
        return self.reduce(Val(code, axes), set(axes))

    def add(self, e: Add) -> Val:
        pos, neg = [], []
        for t in e.terms:
            if isinstance(t, Mul) and isinstance(t.factors[0], Const) and t.factors[0].value < 0:
                neg.append(self.emit(mul(const(-t.factors[0].value), *t.factors[1:])))
            elif isinstance(t, Const) and t.value < 0:
                neg.append(self.emit(const(-t.value)))
            else:
                pos.append(self.emit(t))
        pos.sort(key=lambda v: -len(v.axes))
        target = tuple(dict.fromkeys(a for v in pos + neg for a in v.axes))
        code = " + ".join(self.align(v, target) for v in pos) or "0.0"
        for v in neg:
            code += " - " + _paren(self.align(v, target))
        return self.assign(code, target, inline=True, reads=[v.code for v in pos + neg])

    def power(self, e: Pow) -> Val:
        base = self.emit(e.base)
        if isinstance(e.exponent, Const):
            x = as_float(e.exponent.value)
            if x == -1:
                return self.assign(f"1.0 / {_paren(base.code)}", base.axes, inline=True,
                                   reads=[base.code])
            if x == 0.5:
                return self.assign(self.b.func_code("sqrt").format(base.code), base.axes, True,
                                   reads=[base.code])
            if x == 2:
                return self.assign(f"{base.code} * {base.code}", base.axes, inline=True,
                                   reads=[base.code, base.code])
        exp = self.emit(e.exponent)
        target = tuple(dict.fromkeys(base.axes + exp.axes))
        code = f"{_paren(self.align(base, target))} ** {_paren(self.align(exp, target))}"
        return self.assign(code, target, inline=True, reads=[base.code, exp.code])

    def apply(self, e: Apply) -> Val:
        arg = self.emit(e.arg)
        batch = tuple(a for a in arg.axes if a not in e.over)
        need = batch + e.over
        x = self.align(arg, need)
        if any(o not in arg.axes for o in e.over):
            x = self.b.broadcast.format(x=x, shape=self.shape(need))
        val = self.assign(f"{self.b.tensor_code(e.fn)}({x})", batch + e.out, reads=[arg.code])
        self.steps.append((val.code, f"{e.fn}[{_letters(need, need)}]", [arg.code]))
        if len(set(val.axes)) < len(val.axes):              # inv(A)_kk: the diagonal
            return self.reduce(val, set(val.axes))
        return val

    # ------------------------------------------------------------ contractions

    def contraction(self, factors: list[Expr], summed: set[Index], free) -> Val:
        """One product of tensors: deltas become renamings, the rest one contraction."""
        parent: dict[Index, Index] = {}

        def find(i):
            while parent.get(i, i) != i:
                i = parent[i]
            return i

        coeff, scalars, ops = 1.0, [], []
        for f in factors:
            if isinstance(f, Const):
                coeff *= as_float(f.value)
            elif isinstance(f, DimSize) and self.literal_dims:
                coeff *= self.size(f.dim)
            elif isinstance(f, Delta):
                parent[find(f.a)] = find(f.b)
            else:
                v = self.read(f, raw=True) if isinstance(f, Var) else self.emit(f)
                (ops if v.axes else scalars).append(v if v.axes else v.code)
        ops = [Val(v.code, tuple(find(a) for a in v.axes)) for v in ops]
        groups: dict[Index, list[Index]] = {}
        for i in sorted(free, key=lambda i: i.key):
            groups.setdefault(find(i), []).append(i)
        carried = {a for v in ops for a in v.axes}
        for cls in {find(s) for s in summed} - groups.keys() - carried:
            coeff *= self.size(cls.dim)                       # Σ_i 1 = n
        out = tuple(dict.fromkeys(a for v in ops for a in v.axes if a in groups))
        val = self.product(ops, out, coeff, scalars)
        if any(len(g) > 1 for g in groups.values()):
            return self.embed(val, groups)
        return Val(val.code, tuple(groups[a][0] for a in val.axes))

    def product(self, ops: list[Val], out: tuple[Index, ...], coeff: float,
                scalars: list[str]) -> Val:
        scale = ([repr(coeff)] if coeff != 1.0 else []) + scalars
        if not ops:
            if len(scale) <= 1:
                return Val(scale[0] if scale else "1.0", ())
            return self.assign(" * ".join(scale), (), inline=True, reads=scale)
        if scale:                                     # scale the smallest array
            k = min(range(len(ops)), key=lambda k: self.numel(ops[k].axes))
            if self.numel(ops[k].axes) <= self.numel(out):
                ops = list(ops)
                ops[k] = self.scaled(ops[k], scale)
                scale = []
        ops = [self.reduce(v, _keep(v, ops, out)) for v in ops]
        self.record(ops, out)
        while len(ops) > 1:
            ops = self.step(ops, out)
        val = self.reduce(ops[0], set(out))
        return self.scaled(val, scale) if scale else val

    def scaled(self, v: Val, scale: list[str]) -> Val:
        if scale == ["-1.0"]:
            return self.assign(f"-{_paren(v.code)}", v.axes, inline=True, reads=[v.code])
        return self.assign(" * ".join(scale + [_paren(v.code)]), v.axes, inline=True,
                           reads=scale + [v.code])

    def record(self, ops: list[Val], out: tuple[Index, ...]) -> None:
        if len(ops) < 2:
            return
        spec = ",".join(_letters(v.axes, _labels(ops)) for v in ops) + "->" + _letters(
            out, _labels(ops))
        shapes = [tuple(self.size(a.dim) for a in v.axes) for v in ops]
        info = _plan(spec, tuple(shapes))
        self.plans.append((spec, info))
        self._path = list(info.path)

    def step(self, ops: list[Val], out: tuple[Index, ...]) -> list[Val]:
        """Contract the next pair of the planned path."""
        pair = self._path.pop(0) if len(ops) > 2 else (0, 1)
        pair = tuple(sorted(pair, reverse=True))
        taken = [ops.pop(k) for k in pair]
        rest = {a for v in ops for a in v.axes} | set(out)
        if len(taken) == 1:
            return ops + [self.reduce(taken[0], rest)]
        b, a = taken
        return ops + [self.pair(a, b, rest)]

    def pair(self, a: Val, b: Val, keep: set[Index]) -> Val:
        shared = [i for i in a.axes if i in b.axes]
        summed = [i for i in shared if i not in keep]
        batch = [i for i in shared if i in keep]
        spec = _letters(a.axes, a.axes + b.axes) + "," + _letters(b.axes, a.axes + b.axes)
        if not summed:
            target = a.axes + tuple(i for i in b.axes if i not in a.axes)
            if len(b.axes) > len(a.axes):
                target = b.axes + tuple(i for i in a.axes if i not in b.axes)
            if not set(a.axes) & set(b.axes):
                target = self.preferred(target)
            code = f"{self.align(a, target)} * {self.align(b, target)}"
            val = self.assign(code, target, inline=True, reads=[a.code, b.code])
        elif not batch and len(a.axes) <= 2 and len(b.axes) <= 2 and len(summed) == 1:
            val = self.matmul(a, b, summed[0])
        elif not batch and self.b.blas and set(a.axes) == set(b.axes):
            val = self.assign(f"np.vdot({a.code}, {self.align(b, a.axes)})", (),
                              reads=[a.code, b.code])
        elif not batch and "{a}" in self.b.tensordot:
            ia = tuple(a.axes.index(i) for i in summed)
            ib = tuple(b.axes.index(i) for i in summed)
            axes = tuple(i for i in a.axes if i not in summed) + tuple(
                i for i in b.axes if i not in summed)
            val = self.assign(self.b.tensordot.format(a=a.code, b=b.code, ia=ia, ib=ib,
                                                      spec=spec + "->" + _letters(
                                                          axes, a.axes + b.axes)), axes,
                              reads=[a.code, b.code])
        else:
            axes = tuple(i for i in a.axes + b.axes if i in keep)
            axes = tuple(dict.fromkeys(axes))
            full = spec + "->" + _letters(axes, a.axes + b.axes)
            val = self.assign(self.b.einsum.format(spec=full, ops=f"{a.code}, {b.code}"), axes,
                              reads=[a.code, b.code])
        self.steps.append((val.code, spec + "->" + _letters(val.axes, a.axes + b.axes),
                           [a.code, b.code]))
        return val

    def preferred(self, axes: tuple[Index, ...]) -> tuple[Index, ...]:
        """``axes`` reordered as the binding being generated lists them, if it does."""
        if set(axes) <= set(self.prefer):
            return tuple(i for i in self.prefer if i in axes)
        return axes

    def matmul(self, a: Val, b: Val, c: Index) -> Val:
        if len(a.axes) == 2 and len(b.axes) == 2:
            axes = tuple(i for i in a.axes + b.axes if i != c)
            if self.preferred(axes) != axes:
                a, b = b, a                          # (A B)^T = B^T A^T: a contiguous result
        left = a.code if a.axes[-1] == c else f"{a.code}.T"
        right = b.code if b.axes[0] == c else f"{b.code}.T"
        axes = tuple(i for i in a.axes if i != c) + tuple(i for i in b.axes if i != c)
        return self.assign(f"{left} @ {right}", axes, reads=[a.code, b.code])

    def reduce(self, v: Val, keep: set[Index]) -> Val:
        """Read diagonals (repeated axes) and sum axes not in ``keep``: one operand."""
        uniq = tuple(dict.fromkeys(v.axes))
        if len(uniq) < len(v.axes):
            if len(v.axes) == 2 and uniq[0] not in keep:
                return self.assign(self.b.trace.format(x=v.code), (), reads=[v.code])
            code = f"{v.code}.diagonal()" if len(v.axes) == 2 else self.b.einsum.format(
                spec=_letters(v.axes, uniq) + "->" + _letters(uniq, uniq), ops=v.code)
            v = self.assign(code, uniq, reads=[v.code])
        drop = tuple(k for k, a in enumerate(v.axes) if a not in keep)
        if not drop:
            return v
        axes = tuple(a for a in v.axes if a in keep)
        if len(drop) == len(v.axes):
            return self.assign(f"{v.code}.sum()", (), reads=[v.code])
        arg = drop[0] if len(drop) == 1 else drop
        return self.assign(self.b.total.format(x=v.code, axes=arg), axes, reads=[v.code])

    def embed(self, val: Val, groups: dict[Index, list[Index]]) -> Val:
        """Write ``val`` into the diagonal of a zero array: the free deltas of a product."""
        axes = tuple(i for g in groups.values() for i in g)
        reps = tuple(groups)
        t = self.assign(self.b.zeros.format(shape=self.shape(axes)), axes)
        view = self.b.view(t.code, axes, groups)
        if view is not None:
            self.lines.append(Line("", f"{view}[...] = {self.align(val, reps)}", False, False,
                                   (t.code, val.code)))
            return t
        # libraries without writable views: a broadcast comparison of aranges as a mask
        first = Val(val.code, tuple(groups[a][0] for a in val.axes))
        terms = [self.align(first, axes)]
        for g in groups.values():
            for other in g[1:]:
                n = self.dim_code(g[0].dim)
                eq = f"({self.b.xp}.arange({n})[:, None] == {self.b.xp}.arange({n}))"
                terms.append(self.align(Val(eq, (g[0], other)), axes))
        return self.assign(f"{t.code} + " + " * ".join(terms), axes, reads=[t.code, first.code])


# ------------------------------------------------------------ pure helpers

def _gather(e: Expr) -> tuple[list[Expr], set[Index]]:
    """Factors of a product with nested sums lifted (binders are unique)."""
    if isinstance(e, Sum):
        factors, summed = _gather(e.body)
        return factors, summed | set(e.indices)
    if isinstance(e, Mul):
        factors, summed = [], set()
        for f in e.factors:
            fs, ss = _gather(f)
            factors += fs
            summed |= ss
        return factors, summed
    if isinstance(e, Pow) and isinstance(e.base, Var) and e.exponent == const(2):
        return [e.base, e.base], set()                 # x_i^2 = x_i x_i: a dot product
    return [e], set()


def _keep(v: Val, ops: list[Val], out) -> set[Index]:
    others = {a for w in ops if w is not v for a in w.axes}
    return others | set(out)


def _labels(ops) -> tuple[Index, ...]:
    if ops and isinstance(ops[0], Val):
        return tuple(dict.fromkeys(a for v in ops for a in v.axes))
    return tuple(ops)


def _letters(axes, universe) -> str:
    order = list(dict.fromkeys(universe))
    return "".join(oe.get_symbol(order.index(a)) for a in axes)


@memoised(4096)
def _key(e: Expr) -> tuple[Expr, tuple[Index, ...]]:
    """A key equal for expressions equal up to renaming indices, and the free
    indices of ``e`` in the order the key numbers them."""
    order = []
    for node in walk(e):
        for i in _node_indices(node):
            if i in e.free and i not in order:
                order.append(i)
    mapping = {i: Index(f"\x00{k}", i.dim) for k, i in enumerate(order)}
    return canonical(rename(e, mapping)), tuple(order)


def _node_indices(node: Expr):
    if isinstance(node, Var):
        return node.indices
    if isinstance(node, Delta):
        return (node.a, node.b)
    if isinstance(node, Apply):
        return node.out
    return ()


def _paren(code: str) -> str:
    return code if _atomic(code) else f"({code})"


def _atomic(code: str) -> bool:
    if re.fullmatch(r"[\w.]+(\[[^\[\]]*\])?", code) and not code.startswith("-"):
        return True
    if code.startswith("(") and _closes_at_end(code, 0):
        return True
    m = re.match(r"[A-Za-z_][\w.]*\(", code)
    return bool(m) and _closes_at_end(code, m.end() - 1)


def _closes_at_end(code: str, start: int) -> bool:
    depth = 0
    for k in range(start, len(code)):
        depth += {"(": 1, ")": -1}.get(code[k], 0)
        if depth == 0:
            return k == len(code) - 1 or re.fullmatch(r"(\.T|\[[^\[\]]*\])*", code[k + 1:])
    return False


# ------------------------------------------------------------ assembly

def generate(program: Program, backend: Backend, dims: dict[str, int], *,
             literal_dims: bool = True, fname: str = "derivative",
             shapes: dict[str, tuple] | None = None) -> tuple[str, Generator]:
    """Source text of one function computing ``program``'s outputs, and its generator.

    ``program`` must already be prepared (``prepare.prepare``).  Arguments are
    the program's inputs, in order, as sanitised identifiers.
    """
    inputs = program.inputs
    taken: set[str] = set()
    names = assign_names(inputs + [b.name for b in program.bindings], "v_", taken)
    symbols = sorted({d for s in (shapes or {}).values() for d in s if isinstance(d, str)}
                     | set(dims))
    names.update({"#dim:" + d: n for d, n in assign_names(symbols, "d_", taken).items()})
    gen = Generator(backend, dims, names, literal_dims)
    results = gen.program(program)
    if len(results) == 1:
        ret = results[0]
    else:
        ret = "{" + ", ".join(f"{n!r}: {r}" for n, r in zip(program.outputs, results)) + "}"
    gen.lines.append(Line("", "return " + ret, False, plain=False))
    body = [_dim_line(gen, d, program, shapes or {}) for d in sorted(gen.used_dims)]
    gen.emitted = _inline(gen.lines)
    body += _render(gen.emitted)
    args = ", ".join(names[n] for n in inputs)
    src = f"def {fname}({args}):\n" + "".join(f"    {line}\n" for line in body)
    return src, gen


def _dim_line(gen: Generator, dim: str, program: Program, shapes: dict) -> str:
    for n in program.inputs:
        shape = shapes.get(n, ())
        if dim in shape:
            return f"{gen.names['#dim:' + dim]} = {gen.names[n]}.shape[{shape.index(dim)}]"
    raise AssertionError(f"dimension {dim} is not the size of any input")


_TEMP = re.compile(r"\bt\d+\b")


def _inline(lines: list[Line]) -> list[Line]:
    """Inline temporaries that hold an elementwise expression and are used once."""
    uses: dict[str, int] = {}
    for line in lines:
        for t in _TEMP.findall(line.code):
            uses[t] = uses.get(t, 0) + 1
    out: list[Line] = []
    pending: dict[str, str] = {}
    pending_reads: dict[str, tuple[str, ...]] = {}
    for line in lines:
        code = _TEMP.sub(lambda m: pending.pop(m.group(), m.group()), line.code)
        reads = tuple(r for read in line.reads for r in pending_reads.pop(read, (read,)))
        line = Line(line.target, code, line.inline, line.plain, reads)
        if line.inline and line.plain and _TEMP.fullmatch(line.target) \
                and uses.get(line.target) == 1:
            pending[line.target] = _paren(code)
            pending_reads[line.target] = reads
        else:
            out.append(line)
    return out


def _render(lines: list[Line]) -> list[str]:
    return [f"{l.target} = {l.code}" if l.plain else l.code for l in lines]


@memoised(4096)
def _plan(spec: str, shapes: tuple[tuple[int, ...], ...]):
    """opt_einsum's contraction plan for ``spec`` (the derivatives of one model share
    most of their products, so plans are remembered).  Its "auto" searches branches
    for 5-8 operands: a noticeable share of compile time for long products, for
    plans greedy finds as well at these sizes."""
    how = "auto" if len(shapes) <= 6 else "greedy"
    return oe.contract_path(spec, *shapes, shapes=True, optimize=how)[1]
