"""The parts of exported code that make it fit to paste: names, docstring, checks, demo.

Exported functions take the model's own names as parameters (``f(x=x, A=A)``
works), so people can call them as they wrote the model.  A name is kept when
Python reads it as written and nothing else in the generated code could mean
it: a valid identifier (Greek letters are), unchanged by Unicode normalisation,
not a keyword, a builtin, a name starting with ``_`` (dunders, our helpers), a
module alias the code imports (``np``) or a temporary (``t1``).  Any other
name becomes ``v_<safe>`` (``naming.py``) and the docstring says why.

The docstring lists each parameter's shape in the user's dimension names and
what is returned.  ``_sizes`` (included in the exported source) checks every
input's shape on entry, with an error naming the tensor and the dimension, and
returns the sizes the code needs.  ``demo`` writes a random-input run under
``if __name__ == "__main__":``, with inputs in the functions' domains.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

from indexcalc import functions
from indexcalc.ir import Apply, Const, Func, Pow, Var, walk
from indexcalc.model import Program
from indexcalc.naming import safe

ALIASES = {"np", "torch", "jnp", "jax", "da", "rng"}     # modules and the demo's generator
TEMP = re.compile(r"t\d+")


def why_unsafe(name: str, ascii: bool = False) -> str:
    """Why ``name`` cannot be used as written in generated code ('' when it can);
    ``ascii``: the code must be ASCII."""
    if not isinstance(name, str) or not name.isidentifier():
        return "not a Python identifier"
    if ascii and not name.isascii():
        return "not ASCII"
    if unicodedata.normalize("NFKC", name) != name:
        return f"Python reads it as {unicodedata.normalize('NFKC', name)!r}"
    if keyword.iskeyword(name):
        return "a Python keyword"
    if hasattr(builtins, name):
        return "a Python builtin"
    if name.startswith("_"):
        return "names starting with _ are kept for the generated code"
    if name in ALIASES or TEMP.fullmatch(name):
        return "a name the generated code uses"
    return ""


def spelled(name: str, ascii: bool = False) -> str:
    """``name`` with each character Python cannot read in an identifier spelt out
    (``∂E/∂θ`` -> ``dE_dθ``); Greek and other identifier letters are kept (unless
    ``ascii``: ``dE_dtheta``)."""
    return "".join(c if ("_" + c).isidentifier() and unicodedata.normalize("NFKC", c) == c
                   and (c.isascii() or not ascii) else safe(c) for c in str(name)) or "x"


def identifiers(program: Program, shapes: dict[str, tuple], ascii: bool = False
                ) -> tuple[dict, dict]:
    """An identifier for each input, binding and dimension (``"#dim:n"``), and the
    reason for each input renamed.  Inputs keep their names when safe, then
    bindings (an adjoint ``∂E/∂z`` becomes ``dE_dz``), then dimensions."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    renamed: dict[str, str] = {}
    for n in program.inputs:
        reason = why_unsafe(n, ascii)
        if reason or n in taken:
            renamed[n] = reason or "another name is spelt the same"
            out[n] = unique("v_" + safe(n), taken)
        else:
            out[n] = unique(n, taken)
    for b in program.bindings:
        if b.name not in out:
            base = spelled(b.name, ascii)
            out[b.name] = unique(base if not why_unsafe(base) else "v_" + safe(b.name), taken)
    dims = sorted({d for s in shapes.values() for d in s if isinstance(d, str)})
    for d in dims:
        base = d if not why_unsafe(d, ascii) else "d_" + safe(d)
        out["#dim:" + d] = unique(base, taken)
    return out, renamed


def unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``...: the first not taken (it is then taken)."""
    ident, k = base, 1
    while ident in taken or keyword.iskeyword(ident):
        k += 1
        ident = f"{base}_{k}"
    taken.add(ident)
    return ident


def function_name(outputs, ascii: bool = False) -> str:
    """A default name from what is computed: ``dE_dW``, ``d2E_dxdx``, ``E_and_grad``."""
    def one(o) -> str:
        wrt = getattr(o, "wrt", None)
        if not wrt:
            return spelled(o, ascii)
        order = "" if len(wrt) == 1 else str(len(wrt))
        return f"d{order}{spelled(o.of, ascii)}_" + "".join(f"d{spelled(w, ascii)}"
                                                            for w in wrt)
    outputs = list(outputs)
    value = outputs[0]
    if len(outputs) > 1 and not getattr(value, "wrt", None) and all(
            getattr(o, "of", None) == value for o in outputs[1:]):
        return f"{spelled(value, ascii)}_and_grad" + ("s" if len(outputs) > 2 else "")
    return "_and_".join(one(o) for o in outputs) if len(outputs) <= 2 else "outputs"


# ---------------------------------------------------------------- docstring

def shape_text(shape) -> str:
    if not shape:
        return "scalar"
    return "array of shape (" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1
                                                                    else "") + ")"


def label(name, ascii: bool = False) -> str:
    """A model name as the docstring shows it: ``∂E/∂θ`` (``dE/dtheta`` when ``ascii``)."""
    if not ascii:
        return str(name)
    wrt = getattr(name, "wrt", None)
    if wrt:
        order = "" if len(wrt) == 1 else f"^{len(wrt)}"
        return f"d{order}{label(name.of, True)}/" + "".join(f"d{label(w, True)}" for w in wrt)
    return "".join(c if c.isascii() else safe(c) for c in str(name))


def docstring(title: str, params: list[tuple[str, str, tuple]], renamed: dict[str, str],
              returns: list[tuple[str, tuple]], indent: str = "    ",
              ascii: bool = False) -> str:
    """``params``: (model name, identifier, shape); ``returns``: (model name, shape)."""
    lines = [title, "", "Generated by indexcalc.", "", "Parameters", "----------"]
    for name, ident, shape in params:
        lines.append(f"{ident} : {shape_text(shape)}")
        if name in renamed:
            lines.append(f"    the model's {name!r}, renamed: {renamed[name]}")
    lines += ["", "Returns", "-------"]
    if len(returns) > 1:
        lines.append("A tuple, in this order:")
    for name, shape in returns:
        lines.append(f"{label(name, ascii)} : {shape_text(shape)}")
    body = "\n".join((indent + l) if l else "" for l in lines)
    return indent + '"""' + text(body[len(indent):], ascii) + "\n" + indent + '"""\n'


def text(s: str, ascii: bool = False) -> str:
    """User text made safe inside a docstring literal (newlines kept); with ``ascii``,
    other characters as ``\\N{NAME}`` escapes (the docstring still reads them)."""
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
    if ascii:
        s = "".join(c if c.isascii() else _escape(c) for c in s)
    return s


def _escape(c: str) -> str:
    name = unicodedata.name(c, "")
    return f"\\N{{{name}}}" if name else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF \
        else f"\\U{ord(c):08x}"


def literal(s, ascii: bool = False) -> str:
    """A Python literal for ``s`` (ASCII-only with ``ascii``)."""
    return builtins.ascii(s) if ascii else repr(s)


# ---------------------------------------------------------------- shape checks

SIZES = '''def _sizes(arrays, wanted):
    """Check that each array has its declared shape; the sizes of the dimensions wanted."""
    sizes = {}
    for name, (array, dims) in arrays.items():
        shape = tuple(array.shape) if hasattr(array, "shape") else ()
        declared = "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
        if len(shape) != len(dims):
            raise ValueError(f"{name} must have shape {declared}, {len(dims)} axes, "
                             f"but has shape {shape}")
        for axis, (dim, size) in enumerate(zip(dims, shape)):
            if isinstance(dim, int):
                if size != dim:
                    raise ValueError(f"{name} must have shape {declared}: axis {axis} has "
                                     f"size {size}, not {dim}")
            elif dim in sizes and sizes[dim][0] != size:
                raise ValueError(f"{name} must have shape {declared}: axis {axis} is "
                                 f"dimension {dim}, which is {sizes[dim][0]} from "
                                 f"{sizes[dim][1]}, but has size {size}")
            else:
                sizes.setdefault(dim, (size, name))
    return tuple(sizes[d][0] for d in wanted)
'''


def sizes_lines(params: list[tuple[str, str, tuple]], dims: list[tuple[str, str]],
                ascii: bool = False) -> list[str]:
    """The statement checking the inputs' shapes and reading the sizes ``dims`` (dimension,
    identifier) the body uses.  Names and dimensions appear only as string literals."""
    wanted = "(" + "".join(f"{literal(d, ascii)}, " for d, _ in dims) + ")"
    start = ", ".join(ident for _, ident in dims) + ("," if len(dims) == 1 else "") + " = " \
        if dims else ""
    return ([start + "_sizes({"]
            + [f"    {literal(n, ascii)}: ({ident}, {_tuple(s, ascii)})," for n, ident, s in params]
            + ["}, " + wanted + ")"])


def _tuple(items, ascii: bool) -> str:
    # a derived size (n − K + 1) by its spelling: equal spellings must be equal sizes
    parts = [literal(d if isinstance(d, (int, str)) else str(d), ascii) for d in items]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


# ---------------------------------------------------------------- demo

def domains(program: Program) -> tuple[set[str], set[str]]:
    """Inputs that must be positive, and those that must be invertible matrices."""
    positive, square = set(), set()
    for b in program.bindings:
        for node in walk(b.expr):
            if isinstance(node, Func) and functions.domain(node.name) == "positive":
                positive |= {v.name for v in walk(node.arg) if isinstance(v, Var)}
            elif isinstance(node, Pow) and not (isinstance(node.exponent, Const)
                                                and node.exponent.value > 0
                                                and float(node.exponent.value).is_integer()):
                positive |= {v.name for v in walk(node.base) if isinstance(v, Var)}
            elif isinstance(node, Apply) and functions.domain(node.fn) == "invertible":
                square |= {v.name for v in walk(node.arg) if isinstance(v, Var)}
    return positive, square


def demo(call: str, params: list[tuple[str, str, tuple]], program: Program, backend: str,
         returns: list[tuple[str, tuple]], ascii: bool = False) -> str:
    """A random-input run of ``call`` (its arguments are the parameters, by keyword)."""
    dims = sorted({d for _, _, s in params for d in s if isinstance(d, str)})
    sizes = {d: 3 + k for k, d in enumerate(dims)}
    positive, square = domains(program)
    lines = ['if __name__ == "__main__":', "    import numpy as np", "",
             "    rng = np.random.default_rng(0)"]
    if backend == "jax":
        lines.insert(1, '    jax.config.update("jax_enable_x64", True)')
    for name, ident, shape in params:
        numeric = tuple(sizes.get(d, d) for d in shape)
        if name in square and len(set(shape)) == 1 and len(shape) == 2:
            sizes_square = numeric[0]
            value = (f"2.0 * np.eye({sizes_square}) + 0.1 * rng.standard_normal("
                     f"{numeric!r})")
        elif name in positive:
            value = f"rng.uniform(0.5, 1.5, {numeric!r})"
        else:
            value = f"rng.uniform(-1.0, 1.0, {numeric!r})"
        lines.append(f"    {ident} = {_convert(value, backend)}")
    args = ", ".join(f"{ident}={ident}" for _, ident, _ in params)
    outs = [f"r{k}" for k in range(len(returns))]
    lines.append(f"    {', '.join(outs)} = {call}({args})")
    for out, (name, _) in zip(outs, returns):
        lines.append(f"    print({literal(label(name, ascii), ascii)}, tuple({out}.shape), {out})")
    return "\n".join(lines) + "\n"


def _convert(value: str, backend: str) -> str:
    if backend == "torch":
        return f"torch.from_numpy({value})"
    if backend == "jax":
        return f"jnp.asarray({value})"
    return value
