"""The function table: everything indexcalc knows about each function, in one place.

Adding a function is adding one entry.  An entry holds:

* the derivative rule (as an IR expression);
* the NumPy implementation (``implementations.py`` where it is not one NumPy
  function): a callable for the reference evaluator and a source template for
  generated code (``np.`` is respelled ``torch.``/``jnp.`` by the backends);
* ``spelling``: per array library, a different template where the NumPy one
  does not carry over (``torch.relu({0})``);
* ``helper``: the name of the helper function generated code calls (``_softmax``),
  whose NumPy source is the implementation's own, and ``helpers``: its source for
  other libraries (and ``"numpy"``: a faster in-place NumPy spelling);
* the printed names (Unicode, LaTeX);
* ``domain``: where random test inputs must lie (``"positive"`` for log and
  sqrt, ``"invertible"`` for det, logdet and inv; ``""``: anywhere);
* ``fuses``: identities ``outer(inner(x)) = this(x)`` (log(softmax) = log_softmax),
  read by simplification and by the compiler's stable rewrites (``fused``);
* ``values``: the interval the function's values lie in (sigmoid in [0, 1]), read
  by the compiler to know a weight is never negative (``values``);
* ``exact``: its value at a constant, where that is rational (relu(0) = 0), which
  simplification folds (``exact_value``).

Two kinds of function exist:

* ``Elementwise`` functions act on each component: ``exp(z_j)``.  Their rule
  gives ``f'(x)`` as an expression of the argument ``x``.
* ``TensorFunction``s act on a whole vector or matrix (``softmax``, ``det``,
  ``inv``).  In the IR they are ``Apply`` nodes; their rule gives the Jacobian
  ``J[out, w] = ∂F(X)[out]/∂X[w]`` for fresh indices ``w``.

A function name that is not in the table is *opaque*: its derivative stays
symbolic (``f'(z)``, ``L'(a)_j``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from indexcalc.errors import DerivativeError
from indexcalc.ir import (
    MINUS_ONE,
    ONE,
    Apply,
    add,
    Expr,
    Func,
    Index,
    const,
    delta,
    mul,
    neg,
    power,
    sub,
)
from indexcalc.implementations import (
    _erf,
    _gelu,
    _gelu_tanh,
    _heaviside,
    _log_softmax,
    _logdet,
    _logsumexp,
    _norm2,
    _norm2grad,
    _sigmoid,
    _softmax,
    _softplus,
)
from indexcalc.later import np
from indexcalc.later import numpy_function as _numpy


INF = float("inf")


@dataclass(frozen=True)
class Elementwise:
    name: str
    derivative: Callable[[Expr], Expr]     # x -> f'(x)     (identity in the comment)
    impl: Callable[[np.ndarray], np.ndarray]
    code: str                              # NumPy source, "{0}" is the argument
    unicode: str
    latex: str
    domain: str = ""                       # "positive": random inputs in (0.5, 1.5)
    spelling: dict[str, str] = field(default_factory=dict, hash=False)   # backend -> code
    helper: str = ""                       # helper `code` calls; its NumPy source is impl's
    helpers: dict[str, str] = field(default_factory=dict, hash=False)    # backend -> source
    values: tuple[float, float] = (-INF, INF)   # the interval its values lie in
    # its value at a constant, where that is rational (exp(0) = 1, relu(c) = max(c, 0);
    # a table's keys: 0 and 0.0 are one)
    exact: Callable[[object], object] = field(default=lambda c: None, hash=False, compare=False)


@dataclass(frozen=True)
class TensorFunction:
    name: str
    rank_in: int                           # 1: vector functions, 2: matrix functions
    rank_out: int
    jacobian: Callable[[Apply, tuple[Index, ...]], Expr]
    impl: Callable[[np.ndarray], np.ndarray]   # acts on the last rank_in axes
    code: str                              # the callable generated code names
    unicode: str
    latex: str
    domain: str = ""                       # "invertible": well-conditioned square inputs
    spelling: dict[str, str] = field(default_factory=dict, hash=False)   # backend -> callable
    helper: str = ""                       # helper `code` names; its NumPy source is impl's
    helpers: dict[str, str] = field(default_factory=dict, hash=False)    # backend -> source
    fuses: tuple[tuple[str, str], ...] = ()   # (outer, inner): outer(inner(x)) = this(x)
    values: tuple[float, float] = (-INF, INF)   # the interval its values lie in
    total: Fraction | None = None          # Σ_j F(x)_j when it is a constant (softmax: 1)
    inverse: bool = False                  # Σ_j F(X)_ij X_jk = δ_ik (inv); F(X) symmetric too


def _f(name: str, x: Expr) -> Expr:
    return Func(name, x)


PI = Func("const_pi", ONE)              # the constants π and e: see CONSTANTS below
HALF = const(Fraction(1, 2))
GELU_A = const(0.044715)                # gelu's tanh approximation: tanh(c (x + a x³))


def _erf_derivative(x: Expr) -> Expr:
    # d erf(x) = 2/sqrt(π) exp(-x²) dx
    return mul(const(2), power(PI, const(Fraction(-1, 2))), _f("exp", neg(power(x, const(2)))))


def _gelu_derivative(x: Expr) -> Expr:
    # gelu(x) = x Φ(x):  d gelu(x) = (Φ(x) + x φ(x)) dx,  Φ(x) = (1 + erf(x/√2))/2,
    # φ(x) = exp(-x²/2) / sqrt(2π)
    cdf = mul(HALF, add(ONE, _f("erf", mul(x, power(_f("sqrt", const(2)), MINUS_ONE)))))
    pdf = mul(_f("exp", mul(const(Fraction(-1, 2)), power(x, const(2)))),
              power(mul(const(2), PI), const(Fraction(-1, 2))))
    return add(cdf, mul(x, pdf))


def _gelu_tanh_derivative(x: Expr) -> Expr:
    # f = x (1 + t)/2 with t = tanh(c (x + a x³)), c = sqrt(2/π):
    # d f = ((1 + t)/2 + x (1 − t²) c (1 + 3a x²)/2) dx
    c = _f("sqrt", mul(const(2), power(PI, MINUS_ONE)))
    t = _f("tanh", mul(c, add(x, mul(GELU_A, power(x, const(3))))))
    inner = add(ONE, mul(const(3), GELU_A, power(x, const(2))))
    return add(mul(HALF, add(ONE, t)),
               mul(HALF, x, sub(ONE, power(t, const(2))), c, inner))


ELEMENTWISE: dict[str, Elementwise] = {e.name: e for e in [
    # d exp(x) = exp(x) dx
    Elementwise("exp", lambda x: _f("exp", x), _numpy("exp"), "np.exp({0})", "exp", r"\exp",
                values=(0.0, INF), exact={0: 1}.get),
    # d log(x) = dx / x
    Elementwise("log", lambda x: power(x, MINUS_ONE), _numpy("log"), "np.log({0})", "log", r"\log",
                domain="positive", exact={1: 0}.get),
    # d sqrt(x) = dx / (2 sqrt(x))
    Elementwise("sqrt", lambda x: mul(const(Fraction(1, 2)), power(_f("sqrt", x), MINUS_ONE)),
                _numpy("sqrt"), "np.sqrt({0})", "sqrt", r"\sqrt", domain="positive",
                values=(0.0, INF), exact={0: 0, 1: 1}.get),
    # d sin(x) = cos(x) dx
    Elementwise("sin", lambda x: _f("cos", x), _numpy("sin"), "np.sin({0})", "sin", r"\sin",
                values=(-1.0, 1.0), exact={0: 0}.get),
    # d cos(x) = -sin(x) dx
    Elementwise("cos", lambda x: neg(_f("sin", x)), _numpy("cos"), "np.cos({0})", "cos", r"\cos",
                values=(-1.0, 1.0), exact={0: 1}.get),
    # d tanh(x) = (1 - tanh(x)^2) dx
    Elementwise("tanh", lambda x: sub(ONE, power(_f("tanh", x), const(2))), _numpy("tanh"),
                "np.tanh({0})", "tanh", r"\tanh", values=(-1.0, 1.0), exact={0: 0}.get),
    # d σ(x) = σ(x) (1 - σ(x)) dx
    Elementwise("sigmoid", lambda x: mul(_f("sigmoid", x), sub(ONE, _f("sigmoid", x))),
                _sigmoid, "_sigmoid({0})", "σ", r"\sigma", helper="_sigmoid", helpers={
                    "torch": "def _sigmoid(x):\n    return torch.sigmoid(x)\n",
                    "jax": "def _sigmoid(x):\n    return jax.nn.sigmoid(x)\n"},
                values=(0.0, 1.0), exact={0: Fraction(1, 2)}.get),
    # d relu(x) = step(x) dx
    Elementwise("relu", lambda x: _f("step", x), lambda x: np.maximum(x, 0.0),
                "np.maximum({0}, 0.0)", "relu", r"\operatorname{relu}",
                spelling={"torch": "torch.relu({0})"}, values=(0.0, INF),
                exact=lambda c: max(c, 0)),
    # d step(x) = 0 (almost everywhere)
    Elementwise("step", lambda x: const(0), _heaviside, "np.heaviside({0}, 0.0)", "step",
                r"\operatorname{step}",
                spelling={"torch": "torch.heaviside({0}, {0}.new_zeros(()))"},
                values=(0.0, 1.0), exact=lambda c: int(c > 0)),
    # d |x| = sign(x) dx
    Elementwise("abs", lambda x: _f("sign", x), _numpy("abs"), "np.abs({0})", "abs",
                r"\operatorname{abs}", values=(0.0, INF), exact=abs),
    # d sign(x) = 0 (almost everywhere)
    Elementwise("sign", lambda x: const(0), _numpy("sign"), "np.sign({0})", "sign",
                r"\operatorname{sign}", values=(-1.0, 1.0),
                exact=lambda c: int(c > 0) - int(c < 0)),
    # d softplus(x) = σ(x) dx
    Elementwise("softplus", lambda x: _f("sigmoid", x), _softplus, "np.logaddexp(0.0, {0})",
                "softplus", r"\operatorname{softplus}",
                spelling={"torch": "torch.nn.functional.softplus({0})"}, values=(0.0, INF)),
    # d tan(x) = (1 + tan(x)^2) dx
    Elementwise("tan", lambda x: add(ONE, power(_f("tan", x), const(2))), _numpy("tan"),
                "np.tan({0})", "tan", r"\tan", exact={0: 0}.get),
    # d sinh(x) = cosh(x) dx
    Elementwise("sinh", lambda x: _f("cosh", x), _numpy("sinh"), "np.sinh({0})", "sinh", r"\sinh",
                exact={0: 0}.get),
    # d cosh(x) = sinh(x) dx
    Elementwise("cosh", lambda x: _f("sinh", x), _numpy("cosh"), "np.cosh({0})", "cosh", r"\cosh",
                values=(1.0, INF), exact={0: 1}.get),
    # d arctan(x) = dx / (1 + x^2)
    Elementwise("arctan", lambda x: power(add(ONE, power(x, const(2))), MINUS_ONE),
                _numpy("arctan"),
                "np.arctan({0})", "arctan", r"\arctan", exact={0: 0}.get),
    # d log1p(x) = dx / (1 + x)
    Elementwise("log1p", lambda x: power(add(ONE, x), MINUS_ONE), _numpy("log1p"), "np.log1p({0})",
                "log1p", r"\operatorname{log1p}", domain="positive", exact={0: 0}.get),
    # d expm1(x) = exp(x) dx
    Elementwise("expm1", lambda x: _f("exp", x), _numpy("expm1"), "np.expm1({0})", "expm1",
                r"\operatorname{expm1}", exact={0: 0}.get),
    # d erf(x) = 2/sqrt(π) exp(-x^2) dx
    Elementwise("erf", _erf_derivative, _erf, "_erf({0})", "erf", r"\operatorname{erf}",
                helper="_erf", helpers={
                    "torch": "def _erf(x):\n    return torch.special.erf(x)\n",
                    "jax": "def _erf(x):\n    return jax.scipy.special.erf(x)\n"},
                exact={0: 0}.get),
    # gelu(x) = x Φ(x) (exact);  d gelu(x) = (Φ(x) + x φ(x)) dx
    Elementwise("gelu", _gelu_derivative, _gelu, "_gelu({0})", "gelu",
                r"\operatorname{gelu}", helper="_gelu", helpers={
                    "torch": "def _gelu(x):\n    return torch.nn.functional.gelu(x)\n",
                    "jax": "def _gelu(x):\n    return jax.nn.gelu(x, approximate=False)\n"},
                exact={0: 0}.get),
    # gelu_tanh(x) = x (1 + tanh(sqrt(2/π) (x + 0.044715 x^3)))/2, the tanh approximation
    Elementwise("gelu_tanh", _gelu_tanh_derivative, _gelu_tanh, "_gelu_tanh({0})",
                "gelu_tanh", r"\operatorname{gelu_{tanh}}", helper="_gelu_tanh", helpers={
                    "torch": "def _gelu_tanh(x):\n"
                             "    return torch.nn.functional.gelu(x, approximate='tanh')\n",
                    "jax": "def _gelu_tanh(x):\n    return jax.nn.gelu(x, approximate=True)\n"},
                exact={0: 0}.get),
    # The constants are functions c·x applied to 1 (Func("const_pi", 1), printed as the
    # symbol; no one can type the name):  d (π x) = π dx,  d (e x) = e dx.
    Elementwise("const_pi", lambda x: PI, lambda x: np.pi * x, "(np.pi * {0})", "π", r"\pi"),
    Elementwise("const_e", lambda x: Func("const_e", ONE), lambda x: np.e * x,
                "(np.e * {0})", "e", r"\mathrm{e}"),
]}

# The named constants a user writes (where the text has no tensor of that name), and how
# each is printed: (Unicode, ASCII, LaTeX).
CONSTANTS = {"pi": "const_pi", "π": "const_pi", "e": "const_e"}
CONSTANT_SYMBOLS = {"const_pi": ("π", "pi", r"\pi"), "const_e": ("e", "e", r"\mathrm{e}")}


def constant(name: str) -> Func:
    """The constant the user wrote as ``name`` (pi, π or e): Func("const_pi", 1)."""
    return Func(CONSTANTS[name], ONE)


def constant_symbol(e: Expr) -> tuple[str, str, str] | None:
    """(Unicode, ASCII, LaTeX) if ``e`` is one of the named constants, else None."""
    if isinstance(e, Func) and not e.order and e.name in CONSTANT_SYMBOLS and e.arg == ONE:
        return CONSTANT_SYMBOLS[e.name]
    return None


# ---------------------------------------------------------------- tensor functions

def _again(node: Apply, fn: str, out: tuple[Index, ...]) -> Apply:
    return Apply(fn, node.arg, node.over, out)


def _softmax_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂s_j/∂z_w = s_j (δ_jw - s_w)
    (j,), (k,) = node.out, w
    return mul(node, sub(delta(j, k), _again(node, "softmax", (k,))))


def _log_softmax_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂ log s_j/∂z_w = δ_jw - s_w
    (j,), (k,) = node.out, w
    return sub(delta(j, k), _again(node, "softmax", (k,)))


def _logsumexp_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂ lse(z)/∂z_w = s_w
    return _again(node, "softmax", w)


def _inverse(node: Apply, a: Index, b: Index) -> Apply:
    return Apply("inv", node.arg, node.over, (a, b))


def _det_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂ det X/∂X_ij = det(X) X⁻¹_ji
    i, j = w
    return mul(node, _inverse(node, j, i))


def _logdet_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂ log|det X|/∂X_ij = X⁻¹_ji
    i, j = w
    return _inverse(node, j, i)


def _inv_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂X⁻¹_ab/∂X_ij = -X⁻¹_ai X⁻¹_jb
    (a, b), (i, j) = node.out, w
    return neg(mul(_inverse(node, a, i), _inverse(node, j, b)))


def _norm2_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    # ∂σ_max(A)/∂A_ij = u_i v_j, the top singular vectors (σ_max simple, A ≠ 0)
    return Apply("norm2grad", node.arg, node.over, w)


def _norm2grad_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    raise DerivativeError("the second derivative of the spectral norm ||A||_2 is not "
                          "available (it needs the whole singular value decomposition)")


TENSOR: dict[str, TensorFunction] = {t.name: t for t in [
    TensorFunction("softmax", 1, 1, _softmax_jacobian, _softmax, "_softmax", "softmax",
                   r"\operatorname{softmax}", total=Fraction(1), helper="_softmax", helpers={
                       "numpy": "def _softmax(x):\n    e = x - x.max(axis=-1, keepdims=True)\n"
                                "    np.exp(e, out=e)\n"
                                "    e /= e.sum(axis=-1, keepdims=True)\n    return e\n",
                       "torch": "def _softmax(x):\n    return torch.softmax(x, -1)\n",
                       "jax": "def _softmax(x):\n    return jax.nn.softmax(x, axis=-1)\n"},
                   values=(0.0, 1.0)),
    TensorFunction("log_softmax", 1, 1, _log_softmax_jacobian, _log_softmax, "_log_softmax",
                   "log_softmax", r"\operatorname{log\_softmax}", helper="_log_softmax",
                   helpers={
                       "torch": "def _log_softmax(x):\n    return torch.log_softmax(x, -1)\n",
                       "jax": "def _log_softmax(x):\n"
                              "    return jax.nn.log_softmax(x, axis=-1)\n"},
                   fuses=(("log", "softmax"),), values=(-INF, 0.0)),
    TensorFunction("logsumexp", 1, 0, _logsumexp_jacobian, _logsumexp, "_logsumexp",
                   "logsumexp", r"\operatorname{logsumexp}", helper="_logsumexp", helpers={
                       "numpy": "def _logsumexp(x):\n    m = x.max(axis=-1, keepdims=True)\n"
                                "    m[~np.isfinite(m)] = 0.0\n"
                                "    return (m + np.log(np.exp(x - m).sum(axis=-1, "
                                "keepdims=True)))[..., 0]\n",
                       "torch": "def _logsumexp(x):\n    return torch.logsumexp(x, -1)\n",
                       "jax": "def _logsumexp(x):\n"
                              "    return jax.scipy.special.logsumexp(x, axis=-1)\n"}),
    TensorFunction("det", 2, 0, _det_jacobian, _numpy("linalg.det"), "np.linalg.det", "det",
                   r"\det", domain="invertible", spelling={"torch": "torch.linalg.det"}),
    TensorFunction("logdet", 2, 0, _logdet_jacobian, _logdet, "_logdet", "logdet",
                   r"\log\left|\det\right|", domain="invertible", helper="_logdet", helpers={
                       "torch": "def _logdet(x):\n    return torch.linalg.slogdet(x)[1]\n",
                       "jax": "def _logdet(x):\n    return jnp.linalg.slogdet(x)[1]\n"}),
    # the spectral norm σ_max(A) (norm2, ||A||_2); its derivative u vᵀ needs σ_max simple
    TensorFunction("norm2", 2, 0, _norm2_jacobian, _norm2, "_norm2", "norm2",
                   r"\operatorname{norm2}", helper="_norm2", helpers={
                       "torch": "def _norm2(x):\n    return torch.linalg.matrix_norm(x, 2)\n",
                       "jax": "def _norm2(x):\n    return jnp.linalg.norm(x, 2, axis=(-2, -1))\n"}),
    TensorFunction("norm2grad", 2, 2, _norm2grad_jacobian, _norm2grad, "_norm2grad",
                   "norm2grad", r"\operatorname{norm2grad}", helper="_norm2grad", helpers={
                       "torch": "def _norm2grad(x):\n    u, s, vt = torch.linalg.svd(x)\n"
                                "    return u[..., :, 0, None] * vt[..., None, 0, :]\n",
                       "jax": "def _norm2grad(x):\n    u, s, vt = jnp.linalg.svd(x)\n"
                              "    return u[..., :, 0, None] * vt[..., None, 0, :]\n"}),
    TensorFunction("inv", 2, 2, _inv_jacobian, _numpy("linalg.inv"), "np.linalg.inv", "inv",
                   r"\operatorname{inv}", domain="invertible", inverse=True,
                   spelling={"torch": "torch.linalg.inv"}),
]}

# outer(inner(x)) = fused(x): log(softmax(z)_j) = log_softmax(z)_j
FUSED: dict[tuple[str, str], str] = {pair: t.name for t in TENSOR.values() for pair in t.fuses}

# Other spellings users type for the same functions.
ALIASES = {"σ": "sigmoid", "sigma": "sigmoid", "lse": "logsumexp", "logsoftmax": "log_softmax",
           "heaviside": "step", "ln": "log", "atan": "arctan", "gelutanh": "gelu_tanh"}

# Functions that are rewritten into other nodes while lowering (syntax/expressions.py).
LOWERED = ("sum", "tr", "trace", "diag", "norm", "norm1", "dot", "outer",
           "mean", "var", "std", "max", "min")


def canonical_name(name: str) -> str:
    return ALIASES.get(name, name)


def known(name: str) -> bool:
    name = canonical_name(name)
    return name in ELEMENTWISE or name in TENSOR or name in LOWERED


def is_opaque(name: str) -> bool:
    return not known(name)


def fused(outer: str, inner: str) -> str | None:
    """The tensor function equal to ``outer`` applied to ``inner``'s result, if one is."""
    return FUSED.get((outer, inner))


def values(name: str) -> tuple[float, float]:
    """The interval a known function's values lie in ((-inf, inf) when unknown)."""
    entry = ELEMENTWISE.get(name) or TENSOR.get(name)
    return entry.values if entry else (-INF, INF)


def exact_value(name: str, c) -> object:
    """The elementwise function ``name`` at the constant ``c``, where that is rational
    (step(0) = 0, as the code computes it: np.heaviside(0, 0)); else None."""
    e = ELEMENTWISE.get(name)
    return None if e is None else e.exact(c)


def domain(name: str) -> str:
    """Where random inputs of ``name``'s argument must lie ("" for anywhere)."""
    entry = ELEMENTWISE.get(name) or TENSOR.get(name)
    return entry.domain if entry else ""


def helper_functions() -> dict[str, Elementwise | TensorFunction]:
    """Helper name -> the entry defining it, for every helper generated code may call."""
    entries = list(ELEMENTWISE.values()) + list(TENSOR.values())
    return {e.helper: e for e in entries if e.helper}


def elementwise_derivative(node: Func) -> Expr:
    """f'(x) for a Func node (opaque functions get one more prime)."""
    entry = ELEMENTWISE.get(node.name)
    if entry is None:
        return Func(node.name, node.arg, node.order + 1)
    return entry.derivative(node.arg)


def tensor_jacobian(node: Apply, w: tuple[Index, ...]) -> Expr:
    """∂F(X)[out]/∂X[w] for an Apply node (opaque functions: one more derivative)."""
    entry = TENSOR.get(node.fn)
    if entry is None:
        return Apply(node.fn, node.arg, node.over, node.out + w, node.order + 1)
    return entry.jacobian(node, w)


def opaque_is_scalar_valued(name: str) -> bool:
    """Convention: an opaque function named with a capital (``L``, ``E``, ``Φ``) is a
    scalar function of its whole argument; a lowercase one (``f``, ``g``) acts
    elementwise.  The README states this."""
    return name[:1].isupper()
