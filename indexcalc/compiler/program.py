"""The compiler: a Program -> a fast callable, planned once per shape signature.

``compile_program`` runs the shape-independent passes once (``prepare.prepare``:
dead bindings, stable log-softmax, opaque functions).  The returned ``Compiled``
keeps a cache keyed by the inputs' shapes and dtypes; on the first call with new
shapes it binds the dimensions, has ``codegen`` write a straight-line Python
function specialised to those sizes (contraction orders chosen by opt_einsum,
pairs lowered to ``@``/``tensordot``; with float64 inputs, elementwise work
written into dead temporaries), and compiles it with ``compile()`` into a
namespace holding only the backend's modules and helpers.  Later calls with
the same shapes look the function up and call it: no planning, no checks
beyond the cache lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexcalc.compiler import backends
from indexcalc.compiler.codegen import generate
from indexcalc.compiler.prepare import prepare
from indexcalc.compiler.shapes import bind_dims, singular, var_shapes
from indexcalc.errors import EvaluationError
from indexcalc.model import Program


@dataclass
class Plan:
    """What was generated for one shape signature."""
    fn: object
    source: str
    dims: dict[str, int]
    contractions: list          # (einsum spec, opt_einsum PathInfo), in program order
    stats: dict                 # what the plan costs: products, FLOPs, largest array, peak


class Compiled:
    """``Compiled(**arrays)``: the single output's array, or a dict name -> array;
    with ``keys`` (one per output), always a dict under those keys."""

    def __init__(self, program: Program, backend: str = "numpy", keys: list[str] | None = None):
        self.program = prepare(program)
        self.keys = list(keys) if keys is not None else None
        self.backend = backends.get_backend(backend)
        self.inputs = tuple(self.program.inputs)
        declared = var_shapes(b.expr for b in self.program.bindings)
        self.shapes = {n: tuple(program.shapes.get(n, declared.get(n, ()))) for n in self.inputs}
        self.plans: dict[tuple, Plan] = {}
        self._fns: dict[tuple, object] = {}
        # NumPy plans depend on the dtypes (float64 ones work in place); a jitted or torch
        # program takes any dtype, so its key is the shapes alone (a cheaper lookup)
        self._typed = self.backend.name == "numpy"
        # the fused path: one jitted function for every shape, planned while jax traces
        # it, so that a call is jax's own dispatch (it keys on the shapes itself);
        # public, for jax's own tools (``.lower(*arrays)`` shows what XLA compiles)
        self.jitted = _jit(self._traced) if self.backend.name == "jax" else None
        # a class of its own whose __call__ is generated for these inputs: a call is
        # one Python frame before the planned function's (see _calling)
        self.__class__ = _calling(self.inputs, self._fns, self._slow, self._typed,
                                  self.backend.linalg_errors(), self.jitted)

    def __call__(self, /, **arrays):
        """The outputs for these arrays (replaced per instance by ``_calling``)."""
        raise NotImplementedError

    def _slow(self, arrays):
        """First call for a shape signature, or arrays that need checking."""
        args, key = self._checked(arrays)
        if self.jitted is not None:
            return self.jitted(*args)
        plan = self.plans.get(key) or self.plan(dict(zip(self.inputs, args)), key)
        return plan.fn(*args)

    def _traced(self, *args):
        """The jax backend's program, run on jax's tracers: planned for their shapes
        (once per shape signature; jax traces again only for new ones)."""
        jnp = _jnp()
        args = [a if hasattr(a, "shape") else jnp.asarray(a, dtype=jnp.result_type(float))
                for a in args]                         # a list's entries arrive one by one
        key = tuple(a.shape for a in args)
        plan = self.plans.get(key) or self.plan(dict(zip(self.inputs, args)), key)
        return plan.fn(*args)

    def _checked(self, arrays) -> tuple[list, tuple]:
        """The slow path: missing arrays are errors, non-arrays become arrays."""
        bind_dims(self.shapes, arrays)
        args = [arrays[n] if hasattr(arrays[n], "shape") else np.asarray(arrays[n], dtype=float)
                for n in self.inputs]
        key = tuple(a.shape for a in args)
        return args, key + tuple(a.dtype for a in args) if self._typed else key

    def plan(self, arrays: dict, key: tuple) -> Plan:
        """Generate and compile the function for one shape signature (cached)."""
        dims = bind_dims(self.shapes, arrays)
        numpy = self.backend.name == "numpy"
        source, gen = generate(self.program, self.backend, dims, shapes=self.shapes,
                               keys=self.keys, release=numpy, in_place=numpy and all(
                                   isinstance(a, np.ndarray) and a.dtype == np.float64
                                   for a in arrays.values()))
        plan = Plan(_load(self.backend, source, "derivative"), source, dims, gen.plans,
                    _stats(gen))
        self.plans[key] = plan
        self._fns[key] = plan.fn
        return plan

    def explain_plan(self, /, **arrays) -> list[tuple[str, object]]:
        """opt_einsum's plan for each contraction of more than one operand, in program
        order: ``(einsum spec, PathInfo)``, the PathInfo giving the FLOPs
        (``opt_cost``), the largest intermediate and the pairwise path.

        With arrays, for their shapes (planning them if they are new); without,
        the most recent plan."""
        return list(self._plan_for(arrays).contractions)

    def stats(self, /, **arrays) -> dict:
        """What one call costs, counted from the plan (never timed): ``products``
        (pairwise contractions that sum an index: matrix products, tensordots),
        ``flops`` (of the contractions and elementwise products, 2 per multiply-add),
        ``largest`` and ``peak`` (elements of the largest array made, and the most
        alive at once), ``largest_bytes`` and ``peak_bytes`` at 8 bytes each, and
        ``in_place`` (elementwise operations written into a dead temporary instead
        of a new array).

        With arrays, for their shapes (planning them if they are new); without,
        the most recent plan."""
        return dict(self._plan_for(arrays).stats)

    def _plan_for(self, arrays: dict) -> Plan:
        if arrays:
            args, key = self._checked(arrays)
            return self.plans.get(key) or self.plan(dict(zip(self.inputs, args)), key)
        if self.plans:
            return list(self.plans.values())[-1]
        raise EvaluationError("nothing compiled yet: pass arrays for the shapes to plan")

    @property
    def source(self) -> str:
        """The source of the most recently planned function."""
        if not self.plans:
            raise EvaluationError("nothing compiled yet: call the function with arrays first")
        return list(self.plans.values())[-1].source


def _stats(gen) -> dict:
    largest = max(gen.sizes.values(), default=0)
    return {"products": gen.products, "flops": gen.flops, "largest": largest,
            "peak": gen.peak, "largest_bytes": 8 * largest, "peak_bytes": 8 * gen.peak,
            "in_place": gen.reused}


def compile_program(program: Program, backend: str = "numpy",
                    keys: list[str] | None = None) -> Compiled:
    """A callable computing ``program``'s outputs, planned per shape signature
    (returning a dict under ``keys``, one per output, when given)."""
    backends.require(backend)
    return Compiled(program, backend, keys)


def _calling(inputs, fns: dict, slow, typed: bool, linalg_errors, jitted=None) -> type:
    """A subclass of ``Compiled`` whose ``__call__`` looks the planned function up by
    the inputs' shapes (and, ``typed``, dtypes) and calls it; new shapes, missing
    arrays or non-arrays go to ``slow``, a singular matrix becomes a clear error.
    With ``jitted`` (the jax backend), the call goes straight to it: jax looks up
    the shapes itself, and only a missing array goes to ``slow``.

    Generated so that a call does no more Python work than it must; input
    names appear only as string literals (``repr``), never as code."""
    n = len(inputs)
    args = ", ".join(f"a{k}" for k in range(n))
    reads = "; ".join(f"a{k} = arrays[{name!r}]" for k, name in enumerate(inputs)) or "pass"
    key = "(" + "".join(f"a{k}.shape, " for k in range(n)) + "".join(
        f"a{k}.dtype, " for k in range(n) if typed) + ")"
    if jitted is not None:
        body = (f"        try:\n            {reads}\n"
                f"        except KeyError:\n            return slow(arrays)\n"
                f"        return jitted({args})\n")
    else:
        body = (f"        try:\n            {reads}\n            fn = get({key})\n"
                f"        except (KeyError, AttributeError):\n            return slow(arrays)\n"
                f"        if fn is None:\n            return slow(arrays)\n"
                f"        return fn({args})\n")
    src = (f"def __call__(self, /, **arrays):\n"
           f"    try:\n{body}"
           f"    except linalg_errors as exc:          # inv(A) of a singular A\n"
           f"        raise singular('inv', exc) from None\n")
    namespace = {"get": fns.get, "slow": slow, "linalg_errors": linalg_errors,
                 "singular": singular, "jitted": jitted}
    exec(compile(src, "<indexcalc dispatch>", "exec"), namespace)
    call = namespace["__call__"]
    call.__doc__ = Compiled.__call__.__doc__
    return type("Compiled", (Compiled,), {"__call__": call, "__module__": __name__,
                                          "__doc__": Compiled.__doc__})


def _load(backend, source: str, fname: str):
    """Execute generated source (ours, built from sanitised IR names) in a fresh namespace."""
    helpers = backends.helpers_needed(backend, source)
    text = "\n".join(backend.imports) + "\n\n" + "\n".join(helpers) + "\n" + source
    namespace: dict = {"__builtins__": __builtins__}
    exec(compile(text, f"<indexcalc {fname}>", "exec"), namespace)
    return namespace[fname]


def _jnp():
    import jax.numpy as jnp
    return jnp


def _jit(fn):
    """``jax.jit(fn)``: XLA compiles the whole program (imported only when asked for)."""
    import jax
    return jax.jit(fn)
