"""The NumPy implementations the function table (``functions.py``) names where an entry
is not one NumPy function.  The reference evaluator runs them; where an entry names a
helper, generated code defines it from the function's own source, so each is named as
the helper that code calls (``_softmax``) and uses only ``np``."""

from indexcalc.later import np


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))          # stable for any x


def _softplus(x):
    return np.logaddexp(0.0, x)


def _heaviside(x):
    return np.heaviside(x, 0.0)


def _erf(x):
    import math
    return np.vectorize(math.erf, otypes=[float])(x)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x * 0.7071067811865476))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


def _norm2(x):
    return np.linalg.norm(x, 2, axis=(-2, -1))


def _norm2grad(x):
    u, s, vt = np.linalg.svd(x)
    return u[..., :, 0, None] * vt[..., None, 0, :]


def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _logsumexp(x):
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))[..., 0]


def _log_softmax(x):
    return x - _logsumexp(x)[..., None]


def _logdet(x):
    return np.linalg.slogdet(x)[1]
