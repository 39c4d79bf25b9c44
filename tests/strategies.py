"""Hypothesis strategies: random well-formed models, as the text a user types.

The property tests (test_properties.py), the fuzzer (test_fuzz.py,
tools/fuzz.py) and the long runs all need models that are *valid by
construction*, so that any error or wrong number is indexcalc's fault.  The
generator here builds a small random expression tree while tracking, for every
subexpression, its free indices (index form) or its shape (matrix form), and
whether it is strictly positive; it then spells the tree as source text with
randomly chosen spellings (``x_i``, ``x_{i}``, ``x[i]``; ``sum_a``, ``Σ_a``,
``∑_{a}``; ``Aᵀ``, ``A'``, ``A.T``; ``*`` or juxtaposition ...).

Domains are kept by construction: ``log``, ``sqrt`` and fractional powers
only see expressions that are positive by their form (``exp(e)``, ``1 + e^2``,
``σ(e)``, ``softplus(e)``, ``2 + sin(e)``, softmax...), denominators are such
positive forms, and ``det``/``logdet``/``inv`` only see the square inputs A
and B (or sums and products of them), which ``indexcalc.testing.random_arrays``
draws as 2I + noise.  Values stay moderate because nesting is shallow and
inputs lie in [-1, 1].

A model is up to three definitions; later ones may use earlier ones, by name
(matrix form) or with indices (index form).  ``Case.text`` is the whole model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

# ---------------------------------------------------------------- the universe

DIMS = ("n", "m")
INPUTS: dict[str, tuple[str, ...]] = {
    "x": ("n",), "y": ("n",), "θ": ("n",), "u": ("m",), "v": ("m",),
    "W": ("n", "m"), "A": ("n", "n"), "B": ("n", "n"), "s": (), "c": (),
}
SQUARE = ("A", "B")                     # drawn as 2I + noise by random_arrays
SMOOTH = ("exp", "sin", "cos", "tanh", "sigmoid", "σ", "softplus", "arctan", "atan", "erf",
          "gelu", "gelu_tanh", "sinh")
TAME = ("tan", "expm1", "cosh")         # applied to a bounded argument only (tan's poles, growth)
BOUNDED = ("sin", "cos", "tanh", "sigmoid", "σ")       # keep exp's argument tame
NUMBERS = ("2", "3", "0.5", "1.5", "0.25")
BOUND_POOL = "abcdefghpqrstuvw"
FREE_POOL = "ijk"
ATOM, POWER, PRODUCT, SUM = 3, 2, 1, 0


@dataclass(frozen=True)
class Node:
    """Source text of a subexpression, how tightly it binds, and whether it is > 0."""
    text: str
    prec: int = ATOM
    pos: bool = False

    def at(self, prec: int) -> str:
        return self.text if self.prec >= prec else f"({self.text})"


@dataclass
class Tensor:
    name: str
    shape: tuple[str, ...]
    pos: bool = False


@dataclass
class Ctx:
    """What a definition may use, and the fresh-index counter."""
    draw: object
    tensors: list[Tensor]
    depth: int
    used: set[str] = field(default_factory=set)
    counter: int = 0

    def fresh(self) -> str:
        self.counter += 1
        k = self.counter - 1
        return BOUND_POOL[k] if k < len(BOUND_POOL) else f"b{k}"

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def coin(self, p: float = 0.5) -> bool:
        return self.draw(st.floats(0, 1)) < p

    def of_shape(self, shape: tuple[str, ...], pos: bool = False) -> list[Tensor]:
        return [t for t in self.tensors if t.shape == shape and (t.pos or not pos)]


# ---------------------------------------------------------------- spelling


def sub(ctx: Ctx, name: str, idx: tuple[str, ...]) -> str:
    """``x_i``, ``x_{i}``, ``x[i]``; multi-letter indices need braces or brackets."""
    if not idx:
        return name
    if all(len(i) == 1 for i in idx):
        style = ctx.pick(["plain", "brace", "bracket", "comma"])
        if style == "plain":
            return f"{name}_{''.join(idx)}"
        if style == "brace":
            return f"{name}_{{{''.join(idx)}}}"
    else:
        style = ctx.pick(["bracket", "comma"])
    if style == "bracket":
        return f"{name}[{','.join(idx)}]"
    return f"{name}_{{{','.join(idx)}}}"


def var(ctx: Ctx, t: Tensor, idx: tuple[str, ...] = ()) -> Node:
    ctx.used.add(t.name)
    return Node(sub(ctx, t.name, idx), ATOM, t.pos)


def transpose(ctx: Ctx, text: str) -> str:
    if text.endswith(("ᵀ", "'", ".T", "^T")):          # B^Tᵀ would read as B^(Tᵀ)
        text = f"({text})"
    return text + ctx.pick(["ᵀ", "'", ".T", "^T"])


def times(ctx: Ctx, a: Node, b: Node) -> Node:
    op = ctx.pick([" ", " * ", "*"])
    return Node(f"{a.at(PRODUCT)}{op}{b.at(POWER)}", PRODUCT, a.pos and b.pos)


def plus(a: Node, b: Node, minus: bool = False) -> Node:
    if minus and _plain(a.text) == _plain(b.text):
        minus = False        # x_a - x_a cancels and takes the index with it (a known limitation)
    sign = " - " if minus else " + "
    return Node(f"{a.at(SUM)}{sign}{b.at(PRODUCT)}", SUM, a.pos and b.pos and not minus)


def call(name: str, arg: Node, pos: bool = False) -> Node:
    return Node(f"{name}({arg.text})", ATOM, pos)


# ---------------------------------------------------------------- index form
# An index is (name, dim).  ``decl`` holds the indices that may be shared
# elementwise between factors (those on the left-hand side and those of
# explicit sums); an index introduced by an Einstein contraction appears
# exactly twice and nowhere else.

Idx = tuple[str, str]


def ix_leaf(ctx: Ctx, free: tuple[Idx, ...], pos: bool = False, room: bool = False) -> Node:
    """A tensor, a number, or (with ``room``) a small call such as ``softmax_a(x_a)_i``."""
    dims = tuple(d for _, d in free)
    names = tuple(i for i, _ in free)
    options = []
    for t in ctx.of_shape(dims, pos):
        options.append(("var", t, names))
    if len(free) == 2:
        for t in ctx.of_shape((dims[1], dims[0]), pos):
            options.append(("var", t, (names[1], names[0])))
    if not free:
        options.append(("num", None, ()))
        if not pos:
            options += [("tr", None, ()), ("logdet", None, ())]
        options += [("det", None, ())]
    if len(free) == 1 and not pos and dims[0] == "n" and room:
        options.append(("mixed", None, names))
    if len(free) == 1 and room:
        options.append(("softmax", None, names))
    if len(free) == 2 and dims == ("n", "n") and not pos:
        options.append(("inv", None, names))
    if not options or (len(free) == 2 and ctx.coin(0.2)):
        if len(free) == 2:                                          # outer product
            return times(ctx, ix_leaf(ctx, free[:1], pos), ix_leaf(ctx, free[1:], pos))
        return pos_wrap(ctx, ix_leaf(ctx, free, False))
    kind, t, idx = ctx.pick(options)
    if kind == "var":
        return var(ctx, t, idx)
    if kind == "num":
        return Node(ctx.pick(NUMBERS), ATOM, True)
    if kind in ("tr", "det", "logdet"):
        ctx.used.add("A")
        return Node(f"{kind}({square(ctx)})", ATOM, kind == "det")
    if kind == "inv":
        return Node(sub(ctx, f"inv({square(ctx)})", idx), ATOM)
    if kind == "mixed":
        return Node(sub(ctx, f"({mvec(ctx, 'n', ctx.depth - 1).text})", idx), ATOM)
    a = ctx.fresh()
    body = ix_leaf(ctx, ((a, dims[0]),))
    return Node(sub(ctx, f"softmax_{a}({body.text})", idx), ATOM, True)


def square(ctx: Ctx) -> str:
    """A well-conditioned square matrix expression (2I + noise inputs)."""
    ctx.used.add("A")
    form = ctx.pick(["A", "B", "Aᵀ", "A B", "A + B", "2 A", "A @ B"])
    ctx.used.update(ch for ch in form if ch in SQUARE)
    return form


def pos_wrap(ctx: Ctx, e: Node) -> Node:
    """A strictly positive expression built around ``e``."""
    if e.pos and ctx.coin(0.3):
        return e
    kind = ctx.pick(["exp", "1+sq", "sigmoid", "softplus", "2+sin", "cosh"])
    if kind == "exp":
        return call("exp", Node(f"{ctx.pick(BOUNDED)}({e.text})"), True) \
            if ctx.coin() else call("exp", e, True)
    if kind == "1+sq":
        return Node(f"1 + {e.at(ATOM)}^2", SUM, True)
    if kind == "2+sin":
        return Node(f"2 + sin({e.text})", SUM, True)
    if kind == "cosh":                   # bounded arguments: exp(±e) for large e overflow in
        arg = f"{ctx.pick(BOUNDED)}({e.text})"      # the derivative (∞/∞) though not in the value
        return Node(f"exp({arg}) + exp(-{arg})", SUM, True)
    return call(kind, e, True)


def ix(ctx: Ctx, free: tuple[Idx, ...], decl: frozenset[str], depth: int,
       pos: bool = False) -> Node:
    """An index-form expression with exactly the free indices ``free``."""
    if depth >= ctx.depth or depth and ctx.coin(0.25):
        return ix_leaf(ctx, free, pos, room=depth < ctx.depth)
    kinds = ["add", "mul", "mul", "scale", "quot", "func", "pow", "tame", "extreme"]
    if any(i in decl for i, _ in free):
        kinds.append("bcast")
    if len(free) <= 1:
        kinds += ["sum", "stat"]
    if not free:
        kinds.append("lse")
    if pos:
        kinds = ["add", "mul", "scale", "quot", "wrap", "wrap", "pow", "log-ok"]
    kind = ctx.pick(kinds)
    if kind == "add":
        a, b = ix(ctx, free, decl, depth + 1, pos), ix(ctx, free, decl, depth + 1, pos)
        return plus(a, b, minus=not pos and ctx.coin(0.3))
    if kind == "bcast":                   # a term constant along some left-hand indices
        part = tuple(i for i in free if i[0] not in decl or ctx.coin())
        a, b = ix(ctx, free, decl, depth + 1, pos), ix(ctx, part, decl, depth + 1, pos)
        if ctx.coin():
            a, b = b, a
        return plus(a, b, minus=not pos and ctx.coin(0.3))
    if kind == "tame":
        return call(ctx.pick(TAME), call(ctx.pick(BOUNDED), ix(ctx, free, decl, depth + 1)))
    if kind == "extreme":
        a, b = ix(ctx, free, decl, depth + 1, pos), ix(ctx, free, decl, depth + 1, pos)
        return Node(f"{ctx.pick(['max', 'min'])}({a.text}, {b.text})", ATOM, pos)
    if kind == "stat":                    # mean_a x_a, var_a(...), std over a positive spread
        a = ctx.fresh()
        dim = ctx.pick(DIMS)
        body = ix(ctx, free + ((a, dim),), decl | {a}, depth + 1)
        f = ctx.pick(["mean", "mean", "var"])
        if ctx.coin():
            return Node(f"{f}_{a}({body.text})", ATOM)
        return Node(f"{f}_{a} {body.at(POWER)}", SUM)      # binds the product that follows
    if kind == "mul":
        return product(ctx, free, decl, depth, pos)
    if kind == "scale":
        a = ix(ctx, (), decl, depth + 1, pos)
        b = ix(ctx, free, decl, depth + 1, pos)
        return times(ctx, a, b) if ctx.coin() else times(ctx, b, a)
    if kind == "quot":
        num = ix(ctx, free, decl, depth + 1, pos)
        shared = tuple(i for i in free if i[0] in decl and ctx.coin())
        den = pos_wrap(ctx, ix(ctx, shared, decl, depth + 1))
        if _plain(den.text) in _plain(num.text):
            # x_i / x_i cancels and takes index i with it: the notation then refuses
            # h_i = ..., a known limitation (see test_regressions), not what we test here
            den = Node(f"2 + sin({den.text})", SUM, True)
        return Node(f"{num.at(PRODUCT)} / {den.at(POWER)}", PRODUCT, num.pos)
    if kind == "wrap":
        return pos_wrap(ctx, ix(ctx, free, decl, depth + 1))
    if kind == "func":
        f = ctx.pick(SMOOTH + ("log", "sqrt"))
        if f in ("log", "sqrt"):
            return call(f, ix(ctx, free, decl, depth + 1, pos=True), f == "sqrt")
        arg = ix(ctx, free, decl, depth + 1)
        if f == "exp" and ctx.coin(0.7):
            arg = call(ctx.pick(BOUNDED), arg)
        return call(f, arg, f in ("exp", "sigmoid", "σ", "softplus"))
    if kind == "log-ok":                                  # log of a positive thing, shifted
        inner = call("log", ix(ctx, free, decl, depth + 1, pos=True))
        return Node(f"2 + {inner.text}^2", SUM, True)
    if kind == "pow":
        if ctx.coin(0.6):
            base = ix(ctx, free, decl, depth + 1, pos)
            return Node(f"{base.at(ATOM)}^{ctx.pick(['2', '3'])}", POWER, pos)
        base = ix(ctx, free, decl, depth + 1, pos=True)
        if free and all(i in decl for i, _ in free) and ctx.coin(0.3):   # x_i^y_i
            expo = call("tanh", ix(ctx, free, decl, depth + 1))
            return Node(f"{base.at(ATOM)}^{expo.text}", POWER, True)
        expo = ctx.pick(["0.5", "(-1)", "1.5", "-2", "(1/3)"])
        return Node(f"{base.at(ATOM)}^{expo}", POWER, True)
    if kind == "lse":
        a = ctx.fresh()
        dim = ctx.pick(DIMS)
        body = ix(ctx, ((a, dim),), decl | {a}, depth + 1)
        return Node(f"logsumexp_{a}({body.text})", ATOM)
    a = ctx.fresh()                                       # explicit sum
    dim = ctx.pick(DIMS)
    body = ix(ctx, free + ((a, dim),), decl | {a}, depth + 1)
    word = ctx.pick(["sum_", "Σ_", "∑_", "sum_"])
    binder = ctx.pick([a, "{" + a + "}"]) if len(a) == 1 else "{" + a + "}"
    return Node(f"{word}{binder} {body.at(ATOM)}", SUM)


def _plain(text: str) -> str:
    """Text without the spelling choices (x_{i}, x[i], *, spaces, parentheses)."""
    return re.sub(r"[{}\[\]_,\s*()]", "", text.replace("σ", "sigmoid"))


def product(ctx: Ctx, free, decl, depth, pos) -> Node:
    """``A B`` with free indices split between the factors, maybe one contracted
    (Einstein) and maybe some lhs/sum indices shared elementwise."""
    left, right = [], []
    for i in free:
        if i[0] in decl and ctx.coin(0.2) and len(left) < 2 and len(right) < 2:
            left.append(i)
            right.append(i)
        elif ctx.coin():
            left.append(i)
        else:
            right.append(i)
    if ctx.coin(0.6) and len(left) < 2 and len(right) < 2:
        c = (ctx.fresh(), ctx.pick(DIMS))
        left.append(c)
        right.append(c)
    if len(left) > 2 or len(right) > 2:
        return ix_leaf(ctx, free, pos)
    a = ix(ctx, tuple(left), decl, depth + 1, pos)
    b = ix(ctx, tuple(right), decl, depth + 1, pos)
    return times(ctx, a, b)


# ---------------------------------------------------------------- matrix form


def mvec(ctx: Ctx, dim: str, depth: int, pos: bool = False) -> Node:
    leaves = ctx.of_shape((dim,), pos)
    if depth >= ctx.depth or depth and ctx.coin(0.3):
        if leaves and ctx.coin(0.8):
            return var(ctx, ctx.pick(leaves))
        if pos:
            return call("softmax", mvec(ctx, dim, depth + 1), True)
        other = ctx.pick(DIMS)
        return Node(f"{mmat(ctx, dim, other, ctx.depth).at(PRODUCT)} "
                    f"{mvec(ctx, other, ctx.depth).at(POWER)}", PRODUCT)
    kinds = ["add", "matvec", "vecmat", "func", "had", "scale", "softmax", "quot"]
    if dim == "n":
        kinds.append("inv")
    if pos:
        kinds = ["softmax", "wrap", "had", "scale"]
    kind = ctx.pick(kinds)
    if kind == "add":
        return plus(mvec(ctx, dim, depth + 1), mvec(ctx, dim, depth + 1), ctx.coin(0.3))
    if kind == "matvec":
        other = ctx.pick(DIMS)
        op = ctx.pick([" ", " @ "])
        return Node(f"{mmat(ctx, dim, other, depth + 1).at(PRODUCT)}{op}"
                    f"{mvec(ctx, other, depth + 1).at(POWER)}", PRODUCT)
    if kind == "vecmat":
        other = ctx.pick(DIMS)
        return Node(f"{mvec(ctx, other, depth + 1).at(PRODUCT)} "
                    f"{mmat(ctx, other, dim, depth + 1).at(POWER)}", PRODUCT)
    if kind == "func":
        f = ctx.pick(SMOOTH + ("log",))
        if f == "log":
            return call("log", mvec(ctx, dim, depth + 1, pos=True))
        return call(f, mvec(ctx, dim, depth + 1))
    if kind == "had":
        op = ctx.pick([" ⊙ ", " .* "])
        a, b = mvec(ctx, dim, depth + 1, pos), mvec(ctx, dim, depth + 1, pos)
        return Node(f"{a.at(POWER)}{op}{b.at(POWER)}", PRODUCT, pos)
    if kind == "scale":
        a = mscal(ctx, depth + 1, pos)
        return Node(f"{a.at(POWER)} {mvec(ctx, dim, depth + 1, pos).at(POWER)}", PRODUCT, pos)
    if kind == "softmax":
        if pos:
            return call("softmax", mvec(ctx, dim, depth + 1), True)
        if ctx.coin(0.3):                                        # with a temperature
            return Node(f"softmax({mvec(ctx, dim, depth + 1).text}, {ctx.pick(NUMBERS)})")
        return call(ctx.pick(["softmax", "log_softmax"]), mvec(ctx, dim, depth + 1))
    if kind == "wrap":
        return Node(f"exp({mvec(ctx, dim, depth + 1).text})", ATOM, True)
    if kind == "quot":
        den = pos_wrap(ctx, mscal(ctx, depth + 1))
        return Node(f"{mvec(ctx, dim, depth + 1).at(PRODUCT)} / {den.at(POWER)}", PRODUCT)
    form = ctx.pick(["inv({}) ", "{}^-1 "])
    sq = square(ctx)
    head = form.format(sq if " " not in sq and "@" not in sq else f"({sq})")
    return Node(f"{head}{mvec(ctx, dim, depth + 1).at(POWER)}", PRODUCT)


def mmat(ctx: Ctx, d1: str, d2: str, depth: int) -> Node:
    leaves = []
    for t in ctx.tensors:
        if t.shape == (d1, d2):
            leaves.append((t, False))
        if t.shape == (d2, d1):
            leaves.append((t, True))
    if depth >= ctx.depth or ctx.coin(0.3) or not leaves and ctx.coin(0.5):
        if leaves and ctx.coin(0.8):
            t, tr = ctx.pick(leaves)
            ctx.used.add(t.name)
            return Node(transpose(ctx, t.name) if tr else t.name, ATOM)
        a, b = mvec(ctx, d1, ctx.depth), mvec(ctx, d2, ctx.depth)
        if ctx.coin():
            return Node(f"outer({a.text}, {b.text})", ATOM)
        return Node(f"{a.at(POWER)} {transpose(ctx, b.at(ATOM))}", PRODUCT)
    kinds = ["add", "matmul", "func", "had", "scale", "T"]
    if d1 == d2 == "n":
        kinds += ["inv"]
    if d1 == d2:
        kinds += ["diag", "eye"]
    kind = ctx.pick(kinds)
    if kind == "eye":                       # I sized by its context
        m = mmat(ctx, d1, d2, depth + 1)
        eye = ctx.pick(["I", "2 I", "c I"])
        ctx.used.update("c" if "c" in eye else "")
        return plus(Node(eye, PRODUCT), m, ctx.coin(0.3)) if ctx.coin() else \
            plus(m, Node(eye, PRODUCT), ctx.coin(0.3))
    if kind == "add":
        return plus(mmat(ctx, d1, d2, depth + 1), mmat(ctx, d1, d2, depth + 1), ctx.coin(0.3))
    if kind == "matmul":
        e = ctx.pick(DIMS)
        op = ctx.pick([" ", " @ "])
        return Node(f"{mmat(ctx, d1, e, depth + 1).at(PRODUCT)}{op}"
                    f"{mmat(ctx, e, d2, depth + 1).at(POWER)}", PRODUCT)
    if kind == "func":
        return call(ctx.pick(SMOOTH), mmat(ctx, d1, d2, depth + 1))
    if kind == "had":
        a, b = mmat(ctx, d1, d2, depth + 1), mmat(ctx, d1, d2, depth + 1)
        return Node(f"{a.at(POWER)} ⊙ {b.at(POWER)}", PRODUCT)
    if kind == "scale":
        return Node(f"{mscal(ctx, depth + 1).at(POWER)} {mmat(ctx, d1, d2, depth + 1).at(POWER)}",
                    PRODUCT)
    if kind == "T":
        return Node(transpose(ctx, mmat(ctx, d2, d1, depth + 1).at(ATOM)), ATOM)
    if kind == "diag":
        return call("diag", mvec(ctx, d1, depth + 1))
    return call("inv", Node(square(ctx)))


def mscal(ctx: Ctx, depth: int, pos: bool = False) -> Node:
    leaves = ctx.of_shape((), pos)
    if depth >= ctx.depth or depth and ctx.coin(0.3):
        if leaves and ctx.coin(0.7):
            return var(ctx, ctx.pick(leaves))
        return Node(ctx.pick(NUMBERS), ATOM, True)
    if pos:
        kind = ctx.pick(["det", "norm", "wrap", "sq"])
    else:
        kind = ctx.pick(["dot", "dotT", "sum", "lse", "tr", "det", "logdet", "norm", "quad",
                         "func", "add", "mul", "norms", "stat", "ones"])
    d = ctx.pick(DIMS)
    if kind == "dot":
        return Node(f"dot({mvec(ctx, d, depth + 1).text}, {mvec(ctx, d, depth + 1).text})")
    if kind == "dotT":
        return Node(f"{transpose(ctx, mvec(ctx, d, depth + 1).at(ATOM))} "
                    f"{mvec(ctx, d, depth + 1).at(POWER)}", PRODUCT)
    if kind == "sum":
        return call("sum", mvec(ctx, d, depth + 1))
    if kind == "lse":
        return call("logsumexp", mvec(ctx, d, depth + 1))
    if kind == "tr":
        return call("tr", mmat(ctx, d, d, depth + 1))
    if kind in ("det", "logdet"):
        return Node(f"{kind}({square(ctx)})", ATOM, kind == "det")
    if kind == "norm":
        v = mvec(ctx, d, depth + 1)
        return Node(f"norm(1 + {v.at(POWER)} ⊙ {v.at(POWER)})" if ctx.coin() or "||" in v.text
                    else f"||exp({v.text})||", ATOM, True)
    if kind == "norms":                   # a norm is a factor: λ ||w||^2, ||u|| ||v||, ||M||_F
        v, w = mvec(ctx, d, depth + 1), mvec(ctx, d, depth + 1)
        form = ctx.pick(["c ||{v}||^2", "0.5 ||{v} - {w}||^2", "||exp({v})|| ||exp({w})||",
                         "||{M}||_F", "||1 + {v}^2||_1", "||{M}||_2 + 1"])
        m = mmat(ctx, d, ctx.pick(DIMS), depth + 1).text if "{M}" in form else ""
        if "||" in v.text + w.text + m:   # bars inside bars do not parse: ||(0.5 ||u||^2) x||
            return Node(f"norm(1 + {v.at(POWER)} ⊙ {v.at(POWER)})", ATOM, True)
        ctx.used.update("c" if form.startswith("c ") else "")
        return Node(form.format(v=v.at(ATOM), w=w.at(ATOM), M=m), PRODUCT,
                    form.startswith("||exp"))
    if kind == "stat":
        return call(ctx.pick(["mean", "var"]), mvec(ctx, d, depth + 1))
    if kind == "ones":                    # 1ᵀ v: the ones vector sized by v
        return Node(f"1ᵀ {mvec(ctx, d, depth + 1).at(POWER)}", PRODUCT)
    if kind == "quad":
        return Node(f"{transpose(ctx, mvec(ctx, 'n', depth + 1).at(ATOM))} "
                    f"{mmat(ctx, 'n', d, depth + 1).at(POWER)} "
                    f"{mvec(ctx, d, depth + 1).at(POWER)}", PRODUCT)
    if kind == "func":
        return call(ctx.pick(SMOOTH), mscal(ctx, depth + 1))
    if kind == "wrap":
        return pos_wrap(ctx, mscal(ctx, depth + 1))
    if kind == "sq":
        return Node(f"1 + {mscal(ctx, depth + 1).at(ATOM)}^2", SUM, True)
    if kind == "add":
        return plus(mscal(ctx, depth + 1), mscal(ctx, depth + 1), ctx.coin(0.3))
    return Node(f"{mscal(ctx, depth + 1).at(PRODUCT)} * {mscal(ctx, depth + 1).at(POWER)}",
                PRODUCT)


# ---------------------------------------------------------------- models

SHAPES = [(), (), ("n",), ("m",), ("n", "m"), ("n", "n")]
DEF_NAMES = ["h", "g", "z1", "E"]


@dataclass
class Case:
    """A generated model: its text, the definitions in order, their shapes."""
    text: str
    defs: list[str]
    shapes: dict[str, tuple[str, ...]]
    forms: list[str]                      # "index" or "matrix" per definition
    undeclared: bool = False              # no declarations: the notation decides the ranks

    @property
    def of(self) -> str:
        return self.defs[-1]

    def __repr__(self) -> str:               # what Hypothesis prints for a failure
        return f"Case(text={self.text!r})"


def definition(ctx: Ctx, name: str, shape: tuple[str, ...], form: str, pos: bool,
               prev: Tensor | None) -> str:
    """``name = rhs``; when the right side does not use the previous definition
    ``prev``, a term that does is added, so the definitions form a chain."""
    free = tuple((FREE_POOL[k], d) for k, d in enumerate(shape))
    names = tuple(i for i, _ in free)
    if form == "matrix":
        if shape == ():
            rhs = mscal(ctx, 0, pos)
        elif len(shape) == 1:
            rhs = mvec(ctx, shape[0], 0, pos)
        else:
            rhs = mmat(ctx, shape[0], shape[1], 0)
    else:
        rhs = ix(ctx, free, frozenset(names), 0, pos)
    if prev is not None and prev.name not in ctx.used:
        rhs = link(ctx, rhs, prev, shape, names if form == "index" else None)
    lhs = sub(ctx, name, names) if form == "index" else name
    return f"{lhs} = {rhs.text}"


def link(ctx: Ctx, rhs: Node, prev: Tensor, shape, names) -> Node:
    """``rhs`` plus a term of the same shape that uses ``prev``."""
    ctx.used.add(prev.name)
    if prev.shape == shape:
        term = Node(sub(ctx, prev.name, names) if names is not None else prev.name)
    else:
        if not prev.shape:
            scalar = prev.name
        elif len(prev.shape) == 1:
            scalar = ctx.pick([f"sum({prev.name})", f"logsumexp({prev.name})",
                               "sum_{0} {1}_{0} sin({1}_{0})".format(ctx.fresh(), prev.name)])
        elif prev.shape[0] == prev.shape[1]:
            scalar = ctx.pick([f"sum({prev.name})", f"tr({prev.name})"])
        else:
            scalar = f"sum(tanh({prev.name}))"
        scalar = scalar if " " not in scalar else f"({scalar})"
        if not shape:
            term = Node(scalar)
        else:
            t = ctx.pick([t for t in ctx.tensors if t.shape == shape] or [None])
            if t is None:                                   # (m, n) or (n, n) without tensors
                other = Node(f"outer({'x' if shape[0] == 'n' else 'u'}, "
                             f"{'x' if shape[1] == 'n' else 'u'})")
                ctx.used.update("x" if "n" in shape else "u")
                ctx.used.update("u" if "m" in shape else "x")
                if names is not None:
                    other = Node(sub(ctx, f"({other.text})", names))
            else:
                other = var(ctx, t, names or ())
            term = Node(f"{scalar} {other.text}", PRODUCT)
    return plus(rhs, term, ctx.coin(0.3))


@st.composite
def models(draw, max_defs: int = 3, max_depth: int = 3, final_shapes=None,
           forms=("index", "matrix")) -> Case:
    """A well-formed model of 1..max_defs definitions, its declarations first."""
    tensors = [Tensor(n, s) for n, s in INPUTS.items()]
    ndefs = draw(st.integers(1, max_defs))
    depth = draw(st.integers(1, max_depth))
    lines, names, shapes, kinds = [], [], {}, []
    used: set[str] = set()
    for k in range(ndefs):
        last = k == ndefs - 1
        shape = draw(st.sampled_from(final_shapes if last and final_shapes else SHAPES))
        form = draw(st.sampled_from(forms))
        pos = not last and draw(st.booleans())
        if form == "matrix" and len(shape) == 2 and pos:
            pos = False
        name = DEF_NAMES[k] if not last else DEF_NAMES[-1] if shape == () else DEF_NAMES[k]
        ctx = Ctx(draw, tensors, depth)
        lines.append(definition(ctx, name, shape, form, pos, tensors[-1] if k else None))
        used |= ctx.used
        tensors.append(Tensor(name, shape, pos))
        names.append(name)
        shapes[name] = shape
        kinds.append(form)
    decls = [declaration(draw, n) for n in INPUTS if n in used]
    undeclared = bool(decls) and draw(st.floats(0, 1)) < 0.3 and inferred("\n".join(lines), used)
    if undeclared:
        decls = []                      # the notation decides every rank: no declarations
    sep = draw(st.sampled_from(["\n", "; "]))
    text = "\n".join(["; ".join(decls) if sep == "; " else "\n".join(decls)] + lines)
    return Case(text, names, shapes, kinds, undeclared)


def inferred(text: str, used: set[str]) -> bool:
    """Does ``text`` without declarations give every input its intended rank (and the
    two square inputs square)?  Then the model is also tried undeclared."""
    import indexcalc
    from indexcalc.ir import DimSize, walk
    try:
        model = indexcalc.parse(text)
    except indexcalc.IndexcalcError:
        return False
    if any(isinstance(e, DimSize) for d in model.definitions.values() for e in walk(d.expr)):
        return False        # the size of a dimension named by indexcalc (N) reads back as a name
    shapes = model.shapes
    used = [n for n in used if n in INPUTS]
    if any(n not in shapes or len(shapes[n]) != len(INPUTS[n]) for n in used):
        return False
    dims = {}
    for n in used:                     # the same dimension names relate the same inputs
        for d, got in zip(INPUTS[n], shapes[n]):
            if dims.setdefault(d, got) != got:
                return False
    return len(set(dims.values())) == len(dims)


def declaration(draw, name: str) -> str:
    shape = INPUTS[name]
    if not shape:
        return draw(st.sampled_from([f"{name} : scalar", f"{name} ∈ ℝ", f"{name} in R"]))
    if len(shape) == 1:
        return draw(st.sampled_from([f"{name} : vector[{shape[0]}]", f"{name} ∈ ℝ^{shape[0]}",
                                     f"{name} in R^{shape[0]}"]))
    dims = ", ".join(shape)
    return draw(st.sampled_from([f"{name} : matrix[{dims}]", f"{name} ∈ ℝ^{{{'×'.join(shape)}}}",
                                 f"{name} in R^({dims})"]))


# ---------------------------------------------------------------- shifted subscripts

@dataclass
class ShiftCase:
    """A model with affine subscripts: its text, the variables to differentiate, and
    sizes for its dimensions (a strided or dilated read needs room)."""
    text: str
    wrt: list[str]
    sizes: dict[str, int]
    of: str = "L"


def affine_text(draw, out: str, kernel: str, stride: int, dilation: int, offset: int) -> str:
    """``2i+k``, ``i+2k+1``, ``k+i`` ... spelled in a random order and style."""
    a = f"{stride if stride > 1 else ''}{out}"
    b = f"{dilation if dilation > 1 else ''}{kernel}"
    parts = [a, b] if draw(st.booleans()) else [b, a]
    text = "+".join(parts)
    if offset:
        text += f"+{offset}" if offset > 0 else f"-{-offset}"
    return text


@st.composite
def shifted_models(draw) -> ShiftCase:
    """A 1-D or 2-D convolution, strided and dilated at random, with a shifted-difference
    term (``x_{i+1} − x_i``) or a pooling, then an elementwise function and a loss."""
    two_d = draw(st.booleans())
    stride = draw(st.sampled_from([1, 1, 2]))
    dilation = draw(st.sampled_from([1, 1, 2]))
    fn = draw(st.sampled_from(["", "tanh", "sin", "sigmoid"]))
    loss = draw(st.sampled_from(["c", "square"]))
    bracket = draw(st.booleans())
    if two_d:
        su = affine_text(draw, "i", "u", stride, dilation, 0)
        sv = affine_text(draw, "j", "v", stride, dilation, 0)
        lines = ["X : tensor[C, H, W]", "F : tensor[O, C, U, V]",
                 f"Y[o,i,j] = sum_{{c,u,v}} F[o,c,u,v] X[c,{su},{sv}]"]
        y, idx, wrt = "Y[o,i,j]", "o,i,j", ["X", "F"]
        sizes = {"C": 2, "O": 2, "H": 6 + 2 * stride, "W": 5 + 2 * stride, "U": 2, "V": 2}
    else:
        s = affine_text(draw, "i", "k", stride, dilation, draw(st.sampled_from([0, 0, 1])))
        sub = f"[{s}]" if bracket else f"_{{{s}}}"
        extra = draw(st.sampled_from(["", " + x_{i+1} - x_i", " + x[i]"]))
        # several reads of x bound i: with numbers their ranges compare (n − K + 1 and
        # n − 1 do not, for an unknown K)
        n = 9 + 4 * stride * dilation
        shape = (n, 3) if extra else ("n", "K")
        lines = [f"x : vector[{shape[0]}]", f"w : vector[{shape[1]}]",
                 f"y_i = sum_k w_k x{sub}{extra}"]
        y, idx, wrt = "y_i", "i", ["x", "w"]
        sizes = {"n": n, "K": 3}
    value = f"{fn}({y})" if fn else y
    name = "Z" if two_d else "z"
    lines.append(f"{name}{'[' + idx + ']' if two_d else '_i'} = {value}")
    ref = f"{name}[{idx}]" if two_d else f"{name}_i"
    lines.append(f"L = sum_{{{idx}}} c{'[' + idx + ']' if two_d else '_i'} {ref}"
                 if loss == "c" else f"L = sum_{{{idx}}} {ref}^2")
    return ShiftCase("\n".join(lines), wrt, sizes)
