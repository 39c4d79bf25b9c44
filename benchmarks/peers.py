"""Adapters that turn a benchmark problem into a ready-to-time callable per implementation.

Each ``build_*`` function takes a problem and its input arrays and returns an
``Impl``: ``call()`` runs one derivative evaluation on inputs that were already
converted to the library's array type (conversion is not timed), and
``result(out)`` turns what ``call`` returned into a tuple of NumPy arrays for
the agreement check.  JAX calls block until the result is ready, so
asynchronous dispatch cannot make it look faster than it is.

A peer that is not installed raises ``Unavailable``; any other exception is a
failure of that implementation on that problem, which the harness records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import problems as P


VERIFY = True          # build_indexcalc calls once to verify (fresh.py: its cold call)


class Unavailable(Exception):
    """The library is not installed (or cannot be imported)."""


@dataclass
class Impl:
    call: Callable[[], Any]
    result: Callable[[Any], tuple]
    notes: list[str] = field(default_factory=list)
    handle: Any = None             # indexcalc: the compiled object (plan statistics)


def _as_tuple(out) -> tuple:
    if isinstance(out, (tuple, list)):
        return tuple(np.asarray(o) for o in out)
    return (np.asarray(out),)


def _positions(p: P.Problem) -> tuple[int, ...]:
    return tuple(p.args.index(w) for w in p.wrt)


# ---------------------------------------------------------------------------

def build_numpy(p: P.Problem, arrays: dict) -> Impl:
    fn = p.numpy
    return Impl(lambda: fn(**arrays), _as_tuple)


def build_jax(p: P.Problem, arrays: dict) -> Impl:
    try:
        import jax
    except ImportError as e:
        raise Unavailable(f"jax not installed ({e})") from None
    jax.config.update("jax_enable_x64", True)
    b = P.jax_backend()
    order = p.args

    def f(*a):
        return p.loss(b, **dict(zip(order, a)))

    if p.kind == "value":
        g = jax.jit(f)
    elif p.kind == "hessian":
        g = jax.jit(jax.hessian(f, argnums=_positions(p)[0]))
    elif p.kind == "hvp":                 # forward over reverse: jvp of the gradient
        k = _positions(p)[0]
        grad = jax.grad(f, argnums=k)

        def hvp(*a):
            a, v = a[:-1], a[-1]
            return jax.jvp(lambda x: grad(*a[:k], x, *a[k + 1:]), (a[k],), (v,))[1]
        g = jax.jit(hvp)
    else:
        g = jax.jit(jax.grad(f, argnums=_positions(p)))
    args = [jax.device_put(arrays[n]) for n in order]
    if p.kind == "hvp":
        args.append(jax.device_put(arrays[p.direction]))
    assert all(a.dtype == np.float64 for a in args), "jax_enable_x64 did not take effect"
    return Impl(lambda: jax.block_until_ready(g(*args)), _as_tuple)


def build_torch(p: P.Problem, arrays: dict) -> Impl:
    try:
        import torch
        import torch.func
    except ImportError as e:
        raise Unavailable(f"torch not installed ({e})") from None
    b = P.torch_backend()
    order = p.args

    def f(*a):
        return p.loss(b, **dict(zip(order, a)))

    args = [torch.from_numpy(np.ascontiguousarray(arrays[n])) for n in order]
    if p.kind == "value":
        def call():
            with torch.no_grad():
                return f(*args)
    elif p.kind == "hvp":                 # forward over reverse: jvp of the gradient
        k = _positions(p)[0]
        grad = torch.func.grad(f, argnums=k)
        v = torch.from_numpy(np.ascontiguousarray(arrays[p.direction]))

        def call():
            return torch.func.jvp(lambda x: grad(*args[:k], x, *args[k + 1:]),
                                  (args[k],), (v,))[1]
    else:
        if p.kind == "hessian":
            g = torch.func.hessian(f, argnums=_positions(p)[0])
        else:
            g = torch.func.grad(f, argnums=_positions(p))

        def call():
            return g(*args)

    def result(out):
        out = out if isinstance(out, (tuple, list)) else (out,)
        return tuple(o.detach().numpy() for o in out)
    return Impl(call, result)


def build_autograd(p: P.Problem, arrays: dict) -> Impl:
    try:
        import autograd
    except ImportError as e:
        raise Unavailable(f"autograd not installed ({e})") from None
    b = P.autograd_backend()
    others = {n: arrays[n] for n in p.args if n not in p.wrt}
    if p.kind == "value":
        return Impl(lambda: p.loss(b, **arrays), _as_tuple)
    if p.kind == "hessian":
        w = p.wrt[0]

        def fh(x):
            return p.loss(b, **others, **{w: x})
        h = autograd.hessian(fh)
        x0 = arrays[w]
        return Impl(lambda: h(x0), _as_tuple)

    def fp(params):                     # all variables in one tuple: one backward pass
        return p.loss(b, **others, **dict(zip(p.wrt, params)))
    g = autograd.grad(fp)
    params = tuple(arrays[w] for w in p.wrt)
    return Impl(lambda: g(params), _as_tuple)


# ---------------------------------------------------------------------------

def _compile_api():
    """``indexcalc.compile``, or ``indexcalc.api.compile`` (with a note) when the package
    attribute has been shadowed by the ``indexcalc.compile`` submodule."""
    import importlib
    import indexcalc
    c = getattr(indexcalc, "compile", None)
    if callable(c):
        return c, None
    return (importlib.import_module("indexcalc.api").compile,
            "`indexcalc.compile` is the submodule, not the function (shadowed on import); "
            "used `indexcalc.api.compile`")


def _indexcalc_one(p: P.Problem, text: str, arrays: dict, backend: str = "numpy") -> Impl:
    import indexcalc
    note = None
    if p.kind == "value" or len(p.wrt) > 1:
        names = p.indexcalc_outputs()
        compile_, note = _compile_api()
        fn = compile_(text, outputs=names, backend=backend)

        def result(out):
            if isinstance(out, dict):
                return tuple(np.asarray(out[n]) for n in names)
            return _as_tuple(out)
    else:
        wrt = (list(p.ic_wrt) if p.ic_wrt else p.wrt[0] if p.kind == "grad"
               else [p.wrt[0], p.wrt[0]])
        fn = indexcalc.derivative(text, wrt=wrt, of=p.of).compile(backend=backend)
        result = _as_tuple
    if p.extra:                          # only the extra inputs this spelling declares
        declared = set(re.findall(r"^\s*(\w+)\s*:", text, re.M))
        arrays = {**arrays, **{k: v for k, v in p.extra(arrays).items() if k in declared}}
    if backend == "jax":
        import jax
        arrays = {k: jax.device_put(v) for k, v in arrays.items()}
        impl = Impl(lambda: jax.block_until_ready(fn(**arrays)), result,
                    [note] if note else [], fn)
    else:
        impl = Impl(lambda: fn(**arrays), result, [note] if note else [], fn)
    if VERIFY:
        impl.result(impl.call())         # must run once on these arrays to count as working
    return impl


def build_indexcalc(p: P.Problem, arrays: dict, backend: str = "numpy") -> Impl:
    """Use the first model spelling indexcalc accepts; note the ones it refused."""
    try:
        import indexcalc
    except ImportError as e:
        raise Unavailable(f"indexcalc not importable ({e})") from None
    if backend == "jax":
        try:
            import jax
        except ImportError as e:
            raise Unavailable(f"jax not installed ({e})") from None
        jax.config.update("jax_enable_x64", True)
    api = "compile" if p.kind == "value" or len(p.wrt) > 1 else "derivative"
    if not hasattr(indexcalc, api):
        raise RuntimeError(f"API not ready: indexcalc.{api} missing")
    refused = []
    for k, text in enumerate(p.models):
        try:
            impl = _indexcalc_one(p, text, arrays, backend)
        except Exception as e:             # noqa: BLE001 - record and try the next spelling
            refused.append(f"model #{k + 1}: {type(e).__name__}: {_short(e)}")
            continue
        if k:
            impl.notes.append(f"used model #{k + 1}; refused " + "; ".join(refused))
        return impl
    reasons = {r.split(": ", 1)[1] for r in refused}
    if len(reasons) == 1:                  # every spelling failed the same way: say it once
        raise RuntimeError(f"all {len(refused)} model spellings: {reasons.pop()}")
    raise RuntimeError(" | ".join(refused))


def _short(e: Exception, limit: int = 300) -> str:
    s = " ".join(str(e).split())
    return s if len(s) <= limit else s[:limit] + "…"


def build_indexcalc_jax(p: P.Problem, arrays: dict) -> Impl:
    """indexcalc's program on its JAX backend (inputs already JAX arrays)."""
    return build_indexcalc(p, arrays, backend="jax")


BUILDERS = {
    "numpy": build_numpy,
    "indexcalc": build_indexcalc,
    "icjax": build_indexcalc_jax,
    "jax": build_jax,
    "torch": build_torch,
    "autograd": build_autograd,
}
