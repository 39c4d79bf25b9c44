"""Exports that plug into another framework's autodiff, with our derivative as backward.

From a program whose outputs are a value and its first derivatives with respect
to some inputs, ``differentiable_source`` writes a module defining:

* ``E_and_grad(...)``: the value and the gradients, sharing the forward pass;
* for torch, ``E_function``, a ``torch.autograd.Function`` whose ``forward``
  runs ``E_and_grad`` once, saving the gradients, and whose ``backward`` returns
  them contracted with the incoming gradient (``None`` for inputs not asked for),
  and ``E(...)``, which applies it;
* for JAX, ``E(...)``, a ``jax.custom_vjp`` function computing only the value,
  whose forward rule runs ``E_and_grad`` and keeps the gradients as residuals.

The backward of a value with axes contracts the incoming gradient with the
Jacobian (shape ``value.shape + input.shape``, the layout convention of
``derivative.py``).  Local names start with ``_``, which no parameter does.
"""

from __future__ import annotations

from dataclasses import replace

from indexcalc.compiler import pasting
from indexcalc.compiler.export import assemble, function
from indexcalc.errors import EvaluationError
from indexcalc.model import Program
from indexcalc.naming import safe


def differentiable_source(program: Program, backend: str, name: str | None = None,
                          demo: bool = False, ascii: bool = False) -> str:
    """The module described above; ``program.outputs`` is the value, then derivatives of
    it with respect to inputs (``DerivativeName`` with one variable each)."""
    if backend not in ("torch", "jax"):
        raise EvaluationError(f"a differentiable export is for torch or jax, not {backend!r}")
    value, *grads = program.outputs
    wrt = [_variable(g, value, program) for g in grads]
    if not wrt:
        raise EvaluationError("a differentiable export needs at least one derivative "
                              f"of {value} with respect to an input")
    both = function(program, backend, ascii=ascii)
    params = [i for _, i, _ in both.params]
    taken = set(params) | {both.name}
    if name is not None and pasting.why_unsafe(name, ascii):
        raise EvaluationError(f"cannot call the exported function {name!r}: "
                              f"{pasting.why_unsafe(name, ascii)}")
    top = name or pasting.spelled(value, ascii)
    top = top if not pasting.why_unsafe(top) else "f_" + safe(value)
    if name in taken:
        raise EvaluationError(f"cannot call the exported function {name!r}: it is a parameter")
    top = pasting.unique(top, set(taken))
    rank = len(both.returns[0][1])
    grad_of = {n: k for k, n in enumerate(wrt)}
    vjps = [_vjp(backend, rank, grad_of[n]) if n in grad_of else "None"
            for n, _, _ in both.params]
    if backend == "torch":
        cls = pasting.unique(f"{top}_function", taken)
        text = _torch(cls, top, both.name, params, vjps)
        fns = [both]
    else:
        primal = function(replace(program, outputs=(value,)), backend, top, taken=taken,
                          ascii=ascii)
        primal.text = "@jax.custom_vjp\n" + primal.text
        text = _jax(top, both.name, params, vjps)
        fns = [both, primal]
    extra = [text]
    if demo:
        extra.append(pasting.demo(top, both.params, program, backend, both.returns[:1], ascii))
    return assemble(fns, extra)


def _variable(g, value: str, program: Program) -> str:
    wrt = getattr(g, "wrt", None)
    inputs = set(program.inputs)
    if getattr(g, "of", None) != value or not wrt or len(wrt) != 1 or wrt[0] not in inputs:
        raise EvaluationError(f"{g!r} is not a first derivative of {value!r} with respect to "
                              f"an input; a differentiable export takes the value, then its "
                              f"gradients (outputs=['{value}', 'd{value}/dW', ...])")
    return wrt[0]


def _vjp(backend: str, rank: int, k: int) -> str:
    grad = f"_grads[{k}]"
    if rank == 0:
        return f"_g * {grad}"
    if backend == "torch":
        return f"torch.tensordot(_g, {grad}, dims={rank})"
    return f"jnp.tensordot(_g, {grad}, axes={rank})"


def _torch(cls: str, top: str, both: str, params: list[str], vjps: list[str]) -> str:
    args = ", ".join(params)
    returns = ", ".join(vjps) + ("," if len(vjps) == 1 else "")
    return (f"class {cls}(torch.autograd.Function):\n"
            f'    """{top} with its exported derivative as backward: {cls}.apply({args})."""\n'
            f"\n    @staticmethod\n"
            f"    def forward(_ctx, {args}):\n"
            f"        _value, *_grads = {both}({args})\n"
            f"        _ctx.save_for_backward(*_grads)\n"
            f"        return _value\n"
            f"\n    @staticmethod\n"
            f"    def backward(_ctx, _g):\n"
            f"        _grads = _ctx.saved_tensors\n"
            f"        return ({returns})\n"
            f"\n\n"
            f"def {top}({args}):\n"
            f'    """{top}, differentiable by torch.autograd (backward: {both})."""\n'
            f"    return {cls}.apply({args})\n")


def _jax(top: str, both: str, params: list[str], vjps: list[str]) -> str:
    args = ", ".join(params)
    returns = ", ".join(vjps) + ("," if len(vjps) == 1 else "")
    return (f"def _{top}_forward({args}):\n"
            f"    _value, *_grads = {both}({args})\n"
            f"    return _value, tuple(_grads)\n"
            f"\n\n"
            f"def _{top}_backward(_grads, _g):\n"
            f"    return ({returns})\n"
            f"\n\n"
            f"{top}.defvjp(_{top}_forward, _{top}_backward)\n")
