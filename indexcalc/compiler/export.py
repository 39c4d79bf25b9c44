"""Export: a program as a Python function to paste elsewhere, or as einsum steps.

Both come from the code generator the compiler uses, reading its structured
statements (``Generator.lines``: each target, its code and the values it
reads), so what is exported is what runs.

``python_source`` writes a self-contained module: the imports, the helpers the
code calls (stable softmax, log-sum-exp..., and ``_sizes``, which checks the
inputs' shapes), and one function whose parameters are the model's own names
(``pasting.py`` says when one is renamed, and the docstring says why).  Several
outputs are returned as a tuple in their order, sharing all their work: the
value and its gradients (``fAndG``).  With ``einsum=True`` every contraction
is one literal ``np.einsum('…', a, b)`` (``torch.einsum``, ``jnp.einsum``),
the other steps plain array code; with ``demo=True`` a random-input run
follows under ``if __name__ == "__main__":``.

``einsum_steps`` lists that einsum program's statements with their kind
(``einsum``, ``elementwise``, ``reduction``, ``diagonal``, ``diagonal write``,
``zeros``, ``function``) and operands.  Contraction orders are planned for
``dims`` (every unknown size taken as 64).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NamedTuple

from indexcalc.compiler import backends, pasting
from indexcalc.compiler.codegen import Generator, generate
from indexcalc.compiler.prepare import prepare
from indexcalc.compiler.shapes import var_shapes
from indexcalc.compiler.statements import TEMP, Line, inline, render
from indexcalc.errors import EvaluationError
from indexcalc.model import Program


class Step(NamedTuple):
    name: str                 # the model's name of the value computed (or the temporary's)
    spec: str                 # einsum subscripts; for other kinds, the code in model names
    operands: list[str]       # the values read, by model name
    kind: str = "einsum"
    target: str = ""          # the identifier assigned in the exported program
    code: str = ""            # the right-hand side, as exported (valid Python)


@dataclass
class Function:
    """One generated function, ready to assemble with others into a module."""
    name: str
    text: str                            # ``def name(...):`` with its docstring and body
    imports: tuple[str, ...]
    helpers: list[str]
    params: list[tuple[str, str, tuple]]  # (model name, identifier, shape)
    returns: list[tuple[str, tuple]]      # (model name, shape)
    gen: Generator
    lines: list[Line]                    # the body's statements, after inlining


def python_source(program: Program, backend: str = "numpy", name: str | None = None,
                  dims: dict[str, int] | None = None, *, einsum: bool = False,
                  demo: bool = False, ascii: bool = False) -> str:
    """A self-contained module defining one function that computes the program's outputs
    (a tuple of them when there are several); ``ascii``: only ASCII characters."""
    fn = function(program, backend, name, dims, einsum=einsum, ascii=ascii)
    extra = [pasting.demo(fn.name, fn.params, prepare(program), backend, fn.returns, ascii)] \
        if demo else []
    return assemble([fn], extra)


def function(program: Program, backend: str = "numpy", name: str | None = None,
             dims: dict[str, int] | None = None, *, einsum: bool = False,
             taken: set[str] = frozenset(), ascii: bool = False) -> Function:
    """Generate one function; ``taken``: module-level names it must not be called."""
    program = prepare(program)
    b = backends.get_backend(backend)
    if einsum:
        b = backends.literal_einsums(b)
    shapes = _shapes(program)
    idents, renamed = pasting.identifiers(program, shapes, ascii)
    _, gen = generate(program, b, dims or {}, literal_dims=False, shapes=shapes, names=idents)
    params = [(n, idents[n], shapes[n]) for n in _order(program, shapes)]
    if name in {i for _, i, _ in params}:
        raise EvaluationError(f"cannot call the exported function {name!r}: it is a parameter")
    fname = pasting.unique(_function_name(name, program.outputs, ascii),
                           {i for _, i, _ in params} | set(taken))
    returns = [(o, tuple(i.dim for i in program.binding(o).indices))
               for o in program.outputs]
    lines = _body(gen, einsum)
    if einsum:
        _check_labels(lines)
    used = [(d, idents["#dim:" + d]) for d in sorted(gen.used_dims)]
    body = pasting.sizes_lines(params, used, ascii) if any(s for _, _, s in params) else []
    body += render(lines)
    doc = pasting.docstring(_title(program.outputs, ascii), params, renamed, returns,
                            ascii=ascii)
    text = (f"def {fname}({', '.join(i for _, i, _ in params)}):\n" + doc
            + "".join(f"    {line}\n" for line in body))
    helpers = backends.helpers_needed(b, text)
    if "_sizes(" in text:
        helpers = helpers + [pasting.SIZES]
    return Function(fname, text, b.imports, helpers, params, returns, gen, lines)


def parameters(program: Program, ascii: bool = False) -> dict[str, str]:
    """The exported function's parameters, in order: model name -> identifier."""
    program = prepare(program)
    shapes = _shapes(program)
    idents, _ = pasting.identifiers(program, shapes, ascii)
    return {n: idents[n] for n in _order(program, shapes)}


def _order(program: Program, shapes: dict[str, tuple]) -> list[str]:
    """The inputs in the order the model declares them."""
    return [n for n in program.shapes if n in shapes] + [n for n in shapes
                                                         if n not in program.shapes]


def assemble(functions: list[Function], extra: list[str] = ()) -> str:
    """A module: the imports and helpers of all ``functions`` once, then each function."""
    imports = list(dict.fromkeys(i for f in functions for i in f.imports))
    helpers = list(dict.fromkeys(h for f in functions for h in f.helpers))
    parts = ["\n".join(imports), *helpers, *(f.text for f in functions), *extra]
    return "\n\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def _function_name(name: str | None, outputs, ascii: bool = False) -> str:
    if name is None:
        base = pasting.function_name(outputs, ascii)
        return base if not pasting.why_unsafe(base) else "f_" + pasting.safe(base)
    if not isinstance(name, str) or pasting.why_unsafe(name, ascii):
        reason = pasting.why_unsafe(name, ascii) if isinstance(name, str) else "not a string"
        raise EvaluationError(f"cannot call the exported function {name!r}: {reason}")
    return name


def _title(outputs, ascii: bool = False) -> str:
    names = [pasting.label(o, ascii) for o in outputs]
    if len(outputs) == 1:
        o = outputs[0]
        wrt = getattr(o, "wrt", None)
        return names[0] + (f", the derivative of {pasting.label(o.of, ascii)} with respect "
                           f"to {' and '.join(pasting.label(w, ascii) for w in wrt)}"
                           if wrt else "") + "."
    return ", ".join(names[:-1]) + f" and {names[-1]}, computed together."


def _body(gen: Generator, einsum: bool) -> list[Line]:
    """The statements, inlined, ending with ``return`` of the outputs (a tuple of several).
    In an einsum program an einsum's operands stay named: nothing is inlined into it."""
    results = gen.results
    ret = Line("", "return " + ", ".join(results), False, False, tuple(results))
    lines = [l for l in gen.lines if not (not l.plain and l.code.startswith("return "))]
    if einsum:
        prefix = gen.b.einsum.split("(", 1)[0] + "("
        fed = {r for l in lines if l.code.startswith(prefix) for r in l.reads}
        lines = [replace(l, inline=False) if l.target in fed else l for l in lines]
    return inline(lines + [ret])


def _check_labels(lines: list[Line]) -> None:
    for line in lines:
        m = EINSUM.match(line.code)
        if m and not re.fullmatch(r"[a-zA-Z,]*->[a-zA-Z]*", m.group(2)):
            raise EvaluationError("a contraction of this program needs more than the 52 "
                                  "letters einsum allows; export it without einsum=True")


def _shapes(program: Program) -> dict[str, tuple]:
    declared = var_shapes(b.expr for b in program.bindings)
    return {n: tuple(program.shapes.get(n, declared.get(n, ()))) for n in program.inputs}


# ---------------------------------------------------------------- steps and their kinds

EINSUM = re.compile(r"(np|torch|jnp|da)\.einsum\('([^']*)', (.*)\)$")
REDUCTION = re.compile(r".*(\.sum\(((axis|dim)=[^()]*)?\)|\.trace\(\))$|torch\.trace\(.*\)$")


def einsum_steps(program: Program, dims: dict[str, int] | None = None,
                 backend: str = "numpy") -> list[Step]:
    """The einsum program's statements as steps, named by the model's names where they
    have one, each with its kind and operands."""
    fn = function(program, backend, dims=dims, einsum=True)
    gen = fn.gen
    back = {ident: name for name, ident in gen.names.items() if not name.startswith("#")}
    functions = {t for t, spec, _ in gen.steps if "->" not in spec}
    steps = []
    for line in fn.lines:
        if line.code.startswith("return "):
            continue
        ops = [r for r in dict.fromkeys(line.reads) if r in back or r in gen.targets]
        kind, spec = _kind(line, functions), None
        m = EINSUM.match(line.code)
        if kind == "einsum":
            spec = m.group(2)
        target = line.target or (line.reads[0] if line.reads else "")
        steps.append(Step(back.get(target, target), spec or _named(line.code, ops, back),
                          [back.get(o, o) for o in ops], kind, target,
                          line.code))
    return steps


def _kind(line: Line, functions: set[str]) -> str:
    code = line.code
    if not line.plain or "arange(" in code:
        return "diagonal write"
    if EINSUM.match(code):
        return "einsum"
    if code.startswith(("np.zeros(", "torch.zeros(", "jnp.zeros(", "da.zeros(")):
        return "zeros"
    if line.target in functions:
        return "function"
    if REDUCTION.fullmatch(code):
        return "reduction"
    if code.endswith(".diagonal()"):
        return "diagonal"
    return "elementwise"


def _named(code: str, reads: list[str], back: dict[str, str]) -> str:
    """``code`` with each value it reads called by its model name."""
    for ident in reads:
        if ident in back and not TEMP.fullmatch(ident):
            code = re.sub(rf"\b{re.escape(ident)}\b", lambda _, n=back[ident]: n, code)
    return code
