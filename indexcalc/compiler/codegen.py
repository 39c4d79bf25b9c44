"""Code generation: a prepared Program -> the body of a straight-line Python function.

The generated code is what an expert would write by hand, so that calling it
costs no more than the NumPy it is made of:

* every product of tensors is one contraction, planned by opt_einsum and
  lowered pair by pair (``contract``); a Kronecker delta is never an array;
* equal subexpressions (up to renaming of indices) are computed once (``cse``);
* elementwise chains become one NumPy expression (single-use temporaries are
  inlined at the end, ``statements.inline``);
* identifiers come from IR names through ``naming.safe``, never raw text.

``Generator`` holds the state of one generation (the statements so far, the
value of each binding, the sizes) and lowers every node but products, which
it hands to ``contract``.  Each value is a ``Val``: a Python identifier or
literal and the ``Index`` of each of its axes.
"""

from __future__ import annotations

import re

from indexcalc.compiler import contract, windows
from indexcalc.compiler.backends import Backend, letters
from indexcalc.compiler.cse import Memo, Shared
from indexcalc.compiler.inplace import reuse_buffers
from indexcalc.compiler.liveness import hidden_sizes, peak_size, release_dead
from indexcalc.compiler.shapes import as_float
from indexcalc.compiler.statements import Line, Val, inline, paren, render
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
    add,
    const,
    mul,
    unique_binders,
    var_names,
)
from indexcalc.ir.affine import DimExpr, InRange
from indexcalc.model import Program
from indexcalc.naming import assign_names


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
        self.memo = Memo()                    # common subexpressions
        self.shared = Shared()                # ... and common parts of products
        self.bound = 0                        # elements of the largest array the program holds
        self.products = 0                     # pairwise contractions summing an index
        self.flops = 0                        # of those contractions (2 per multiply-add)
        self.sizes: dict[str, int] = {}       # temp -> elements
        self.axes: dict[str, tuple[Index, ...]] = {}             # temp -> its axes
        self.reused = 0                       # allocations written into dead buffers
        self.peak = 0                         # most elements alive at once (generate)
        self.defs: dict[str, Expr] = {}       # binding -> its expression (value intervals)
        self.env: dict[str, tuple[str, tuple[int, ...]]] = {}   # binding -> code, axis positions
        self.factoring: set[Expr] = set()     # sums whose common factor is being taken out
        self.count = 0
        self.used_dims: set[str] = set()
        self.plans: list[tuple[str, object]] = []                # (einsum spec, PathInfo)
        self.path: list[tuple[int, ...]] = []        # the planned pairs left to contract
        self.steps: list[tuple[str, str, list[str]]] = []        # (target, spec, operands)
        self.prefer: tuple[Index, ...] = ()
        self.born: dict[str, tuple[int, int]] = {}   # temp -> (its line, steps then)
        self.targets: set[str] = set()
        self.emitted: list[Line] = []              # the final statements, after inlining
        self.results: list[str] = []               # the code of each output's value

    # ------------------------------------------------------------ program level

    def program(self, program: Program, shapes: dict[str, tuple] | None = None) -> list[str]:
        """Emit every binding; the names of the values returned, per output."""
        for name in program.inputs:
            self.env[name] = (self.names[name], None)
        self.defs = {b.name: b.expr for b in program.bindings}
        self.bound = max([self.numel(b.indices) for b in program.bindings]
                         + [_numel(self, s) for s in (shapes or {}).values()] + [1])
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
        self.memo.rename(old, new)
        self.shared.rename(old, new)
        if old in self.sizes:
            self.sizes[new] = self.sizes.pop(old)
        if old in self.axes:
            self.axes[new] = self.axes.pop(old)
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
        self.sizes[t] = self.numel(axes)
        self.axes[t] = tuple(axes)
        return Val(t, tuple(axes))

    def count_pair(self, a: Val, b: Val, summed) -> None:
        """Account for one pairwise contraction.  A *product* sums an index and leaves
        an index of its own on at least one side (a matrix-matrix or matrix-vector
        product, batched or not); dot products and row-wise dots are not counted."""
        every = tuple(dict.fromkeys(a.axes + b.axes))
        if summed:
            own = (set(a.axes) - set(b.axes)) | (set(b.axes) - set(a.axes))
            self.products += bool(own)
            self.flops += 2 * self.numel(every)
        else:
            self.flops += self.numel(every)

    def size(self, dim) -> int:
        if isinstance(dim, int):
            return dim
        if isinstance(dim, DimExpr):                      # a valid range, n − K + 1
            return dim.size({d: self.size(d) for d in dim.symbols})
        if dim not in self.dims and self.literal_dims:
            raise EvaluationError(f"the size of dimension {dim} is not known "
                                  "from the arrays passed")
        return self.dims.get(dim, 64)

    def dim_code(self, dim) -> str:
        if isinstance(dim, int) or self.literal_dims:
            return str(self.size(dim))
        if isinstance(dim, DimExpr):                      # (d_n - d_K + 1), ((...) // 2 + 1)
            num = ""
            for d, c in sorted(dim.terms, key=lambda t: t[1] < 0):
                term = self.dim_code(d) if abs(c) == 1 else f"{abs(c)} * {self.dim_code(d)}"
                num += (" - " if c < 0 else " + " if num else "") + term
            off = dim.offset + (1 if dim.div == 1 else 0)
            num += f" + {off}" if off > 0 else f" - {-off}" if off < 0 else ""
            return f"({num})" if dim.div == 1 else f"(({num}) // {dim.div} + 1)"
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
        found = self.memo.find(e)
        if found is not None:
            return found
        val = self._emit(e)
        self.memo.add(e, val)
        return val

    def _emit(self, e: Expr) -> Val:
        if isinstance(e, (Mul, Sum, Delta)):
            factors, summed = contract.gather(e)
            return contract.contraction(self, factors, summed, e.free)
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
        if isinstance(e, InRange):                        # [0 ≤ p − 1 < n − 1]
            call, axes = windows.emit_mask(self, e)
            return self.assign(call, axes)
        raise TypeError(f"unknown IR node {type(e).__name__}")

    def read(self, e: Var, raw: bool = False, rev: tuple = ()) -> Val:
        """A tensor read; a repeated index reads the diagonal (unless ``raw``); a
        shifted read (``x_{i+k}``) is a strided view (``windows``), reversed along the
        indices ``rev``."""
        code, pos = self.env[e.name]
        if not e.indices_plain:
            call, axes = windows.emit_window(self, e, code, pos, rev)
            return self.assign(call, axes, reads=[code])
        axes = e.indices if pos is None else tuple(e.indices[p] for p in pos)
        if raw or len(set(axes)) == len(axes):
            return Val(code, axes)
        return contract.reduce(self, Val(code, axes), set(axes))

    def add(self, e: Add) -> Val:
        common = _common_factor(e) if e not in self.factoring else None
        if common is not None:                 # a b − a c = a (b − c): one pass fewer
            self.factoring.add(e)              # (a contraction may multiply it out again)
            try:
                return self.emit(mul(common, add(*(_without(t, common) for t in e.terms))))
            finally:
                self.factoring.discard(e)
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
            code += " - " + paren(self.align(v, target))
        return self.assign(code, target, inline=True, reads=[v.code for v in pos + neg])

    def power(self, e: Pow) -> Val:
        base = self.emit(e.base)
        if isinstance(e.exponent, Const):
            x = as_float(e.exponent.value)
            if x == -1:
                return self.assign(f"1.0 / {paren(base.code)}", base.axes, inline=True,
                                   reads=[base.code])
            if x == 0.5:                        # sqrt(2.0): torch.sqrt needs a tensor
                arg = base.code if var_names(e.base) else self.b.scalar.format(x=base.code)
                return self.assign(self.b.func_code("sqrt").format(arg), base.axes, True,
                                   reads=[base.code])
            if x == int(x) and 2 <= abs(x) <= 4:           # x³, x⁻² ...: multiplies
                k = int(abs(x))
                code = " * ".join([base.code] * k)
                if x < 0:
                    code = f"1.0 / ({code})"
                return self.assign(code, base.axes, inline=True, reads=[base.code] * k)
        exp = self.emit(e.exponent)
        target = tuple(dict.fromkeys(base.axes + exp.axes))
        code = f"{paren(self.align(base, target))} ** {paren(self.align(exp, target))}"
        return self.assign(code, target, inline=True, reads=[base.code, exp.code])

    def apply(self, e: Apply) -> Val:
        arg = self.emit(e.arg)
        batch = tuple(a for a in arg.axes if a not in e.over)
        need = batch + e.over
        x = self.align(arg, need)
        if any(o not in arg.axes for o in e.over):
            x = self.b.broadcast.format(x=x, shape=self.shape(need))
        val = self.assign(f"{self.b.tensor_code(e.fn)}({x})", batch + e.out, reads=[arg.code])
        self.steps.append((val.code, f"{e.fn}[{letters(need, need)}]", [arg.code]))
        if len(set(val.axes)) < len(val.axes):              # inv(A)_kk: the diagonal
            return contract.reduce(self, val, set(val.axes))
        return val


# ------------------------------------------------------------ assembly

_BOTH_TRANSPOSED = re.compile(r"(\w+)\.T @ (\w+)\.T")


def _returned_transposes(lines: list[Line], results: set[str]) -> None:
    """A result ``Aᵀ Bᵀ`` that nothing else reads is written ``(B A)ᵀ``, as the hand
    writes it: one product of the arrays as they lie (BLAS is slower on two
    transposed operands), returned as a transposed view.  Only a result: read by an
    elementwise line, the view's other layout would cost more than it saves."""
    read = {r for line in lines for r in line.reads}
    for line in lines:
        m = _BOTH_TRANSPOSED.fullmatch(line.code)
        if m and line.plain and line.target in results and line.target not in read:
            line.code = f"({m.group(2)} @ {m.group(1)}).T"


def generate(program: Program, backend: Backend, dims: dict[str, int], *,
             literal_dims: bool = True, fname: str = "derivative",
             shapes: dict[str, tuple] | None = None,
             names: dict[str, str] | None = None, keys: list[str] | None = None,
             release: bool = False, in_place: bool = False) -> tuple[str, Generator]:
    """Source text of one function computing ``program``'s outputs, and its generator.

    ``program`` must already be prepared (``prepare.prepare``).  Arguments are
    the program's inputs, in order, as sanitised identifiers.  ``names`` may
    choose the identifiers of some names (``"#dim:n"`` for dimension n); the
    exporter does, so that pasted code uses the model's own names.  With
    ``release``, each temporary is deleted after its last use (``liveness``);
    the generator's ``peak`` is the most elements alive at once either way.
    With ``keys`` (one per output), the function returns a dict of the outputs
    under those keys, even for one output; without, the array of a single output
    or a dict by output name.
    ``in_place`` (NumPy, every input a float64 array) writes elementwise work into
    dead temporaries (``inplace``; ``reused`` counts the allocations saved).
    """
    inputs = program.inputs
    preset = dict(names or {})
    taken: set[str] = set(preset.values())
    names = assign_names([n for n in inputs + [b.name for b in program.bindings]
                          if n not in preset], "v_", taken)
    symbols = sorted({d for s in (shapes or {}).values() for d in s if isinstance(d, str)}
                     | set(dims))
    names.update({"#dim:" + d: n for d, n in assign_names(
        [d for d in symbols if "#dim:" + d not in preset], "d_", taken).items()})
    names.update(preset)
    gen = Generator(backend, dims, names, literal_dims)
    results = gen.results = gen.program(program, shapes)
    if len(results) == 1 and keys is None:
        ret = results[0]
    else:
        ret = "{" + ", ".join(f"{n!r}: {r}" for n, r in zip(keys or program.outputs,
                                                            results)) + "}"
    _returned_transposes(gen.lines, set(results))
    gen.lines.append(Line("", "return " + ret, False, plain=False))
    body = [_dim_line(gen, d, program, shapes or {}) for d in sorted(gen.used_dims)]
    gen.emitted = inline(gen.lines)
    args_ = {names[n] for n in inputs}
    gen.peak = peak_size(gen.emitted, gen.sizes, args_, hidden_sizes(gen.lines, gen.sizes))
    if in_place:
        known = {names[n]: tuple(gen.size(d) for d in s) for n, s in (shapes or {}).items()
                 if n in names and all(isinstance(d, int) or d in dims for d in s)}
        known.update({t: tuple(gen.size(a.dim) for a in ax) for t, ax in gen.axes.items()})
        gen.emitted, gen.reused = reuse_buffers(gen.emitted, known, args_)
    body += render(release_dead(gen.emitted, args_, gen.sizes) if release else gen.emitted)
    args = ", ".join(names[n] for n in inputs)
    src = f"def {fname}({args}):\n" + "".join(f"    {line}\n" for line in body)
    return src, gen


def _common_factor(e: Add) -> Expr | None:
    """A factor (an array, not a number) of every term that carries all of the sum's
    indices, so that taking it out of the sum leaves no larger array behind."""
    first = e.terms[0]
    for f in (first.factors if isinstance(first, Mul) else (first,)):
        if isinstance(f, Const) or f.free != e.free or not f.free:
            continue
        if all(t == f or (isinstance(t, Mul) and f in t.factors) for t in e.terms[1:]):
            return f
    return None


def _without(t: Expr, f: Expr) -> Expr:
    if t == f:
        return const(1)
    factors = list(t.factors)
    factors.remove(f)
    return mul(*factors)


def _numel(gen: Generator, shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= gen.size(d) if isinstance(d, int) or d in gen.dims or not gen.literal_dims else 1
    return n


def _dim_line(gen: Generator, dim: str, program: Program, shapes: dict) -> str:
    for n in program.inputs:
        shape = shapes.get(n, ())
        if dim in shape:
            return f"{gen.names['#dim:' + dim]} = {gen.names[n]}.shape[{shape.index(dim)}]"
    raise AssertionError(f"dimension {dim} is not the size of any input")
