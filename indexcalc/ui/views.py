"""Views of a derivative for a session's answers: matrix form, evaluation, ASCII.

The Derivative object has the readings (``matrix``, ``einsum``, ``explain``,
``python``); this module turns them into the text a session prints, evaluates
a derivative on data with a finite-difference check beside it, and spells any
answer in ASCII for ``--ascii`` (in the notation's own ASCII spellings, so that
a formula still parses: ``ᵀ`` -> ``'``, ``⊙`` -> ``.*``, ``Σ_j`` -> ``sum_j``).
"""

from __future__ import annotations

import os
import re

import numpy as np

from indexcalc.checking.numeric import numeric_derivative, random_arrays
from indexcalc.errors import IndexcalcError
from indexcalc.functions import ELEMENTWISE, TENSOR
from indexcalc.limits import MAX_DIFFERENCED
from indexcalc.read.text import ASCII_NAMES
from indexcalc.syntax.scope import ONES


class CommandError(IndexcalcError):
    """A REPL command used wrongly (unknown command, missing argument, no derivative yet)."""


def call(d, method: str, *args, **kwargs):
    """``d.method(...)``, with a clear message when this version of indexcalc lacks it."""
    try:
        fn = getattr(d, method)
    except AttributeError:
        fn = None
    if fn is None:
        raise CommandError(f"this version of indexcalc cannot do that yet "
                           f"(Derivative.{method} is missing)")
    try:
        return fn(*args, **kwargs)
    except ImportError as e:
        raise CommandError(f"this version of indexcalc cannot do that yet "
                           f"(Derivative.{method}: {e})") from None


def matrix_form(d, layout: str = "column"):
    """The matrix form of ``d`` (its object, ``str`` is the text), or None when it has none."""
    try:
        m = call(d, "matrix", layout=layout)
    except IndexcalcError:
        return None
    for flag in ("exists", "ok", "available", "has_matrix_form"):
        if getattr(m, flag, True) is False:
            return None
    return None if "no matrix form" in str(m) else m


def matrix_text(d, layout: str = "column") -> str | None:
    """The matrix form of ``d`` as text, or None when it has none."""
    m = matrix_form(d, layout)
    return None if m is None else str(m)


def evaluate_text(d, path: str | None, seed: int = 0) -> str:
    """The derivative evaluated on random arrays (or on arrays from an .npz file),
    compared with central finite differences."""
    inputs = list(d.program.inputs)
    if path:
        arrays = _load_npz(path, inputs)
        origin = f"arrays from {path}"
    else:
        arrays = random_arrays(d.model, seed=seed, names=inputs)
        origin = f"random arrays (seed {seed})"
    value = np.asarray(d.evaluate(**arrays))
    lines = [f"{d.lhs()} on {origin}:"]
    for name in inputs:
        lines.append(f"  {name}: shape {tuple(np.shape(arrays[name]))}")
    with np.printoptions(precision=4, suppress=True, linewidth=96):
        lines.append(f"{d.lhs()}  (shape {value.shape}) =\n{indent(str(value))}")
    lines.append(_finite_difference_line(d, arrays, value, numeric_derivative))
    return "\n".join(lines)


def _finite_difference_line(d, arrays, value, numeric_derivative) -> str:
    if d.model.assumptions:
        facts = "; ".join(a.source.removeprefix("assume ").strip() for a in d.model.assumptions)
        return (f"(finite differences skipped: the derivative uses the assumption {facts}, "
                "which random data does not satisfy)")
    if any(w in d.model.symmetric for w in d.wrt):
        return "(finite differences skipped: the variable is declared symmetric)"
    big = [w for w in d.wrt if np.size(arrays[w]) > MAX_DIFFERENCED]
    if big:                                 # vector[200000]: minutes of evaluations
        return (f"(finite differences skipped: {big[0]} has {np.size(arrays[big[0]]):,} "
                f"entries, more than the {MAX_DIFFERENCED:,} differenced)")
    try:                            # it evaluates only what d.of needs (not an opaque h(x))
        want = numeric_derivative(d.model, d.of, list(d.wrt), arrays)
    except IndexcalcError as e:
        return f"(finite differences not available: {e.problem})"
    if np.allclose(value, want, rtol=1e-4, atol=1e-6):
        return "finite differences agree (rtol 1e-4, atol 1e-6)"
    err = float(np.max(np.abs(want - value)))
    return f"finite differences DISAGREE (largest difference {err:.1e})"


def _load_npz(path: str, inputs: list[str]) -> dict:
    if not os.path.exists(path):
        raise CommandError(f"no such file: {path}")
    try:
        with np.load(path) as data:
            arrays = {k: np.asarray(data[k], dtype=float) for k in data.files}
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read {path} as an .npz file: {e}") from None
    missing = [n for n in inputs if n not in arrays]
    if missing:
        raise CommandError(f"{path} lacks the arrays {', '.join(missing)} "
                           f"(it has {', '.join(arrays) or 'none'})")
    return {n: arrays[n] for n in inputs}


def indent(text: str, by: str = "    ") -> str:
    """Every non-empty line of ``text`` indented by ``by``."""
    return "\n".join(by + ln if ln else ln for ln in text.splitlines())


# ASCII spellings of the symbols the printers use (letters: read.text.ASCII_NAMES);
# formulas keep the notation's ASCII forms so that they parse.
ASCII_SYMBOLS = {
    "−": "-", "ᵀ": "'", "⊙": ".*", "Σ": "sum", "∑": "sum", "∂": "d", "·": "*",
    "∈": "in", "ℝ": "R", "…": "...", "–": "-", "—": "--", "→": "->", "≠": "!=", "≈": "~",
    "≤": "<=", "≥": ">=", "‖": "||", "√": "sqrt", "′": "'", "✓": "[ok]", "✗": "[x]",
}
SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))
_SUPERSCRIPT_RUN = re.compile("[" + "".join(SUPERSCRIPTS) + "]+")
_TIMES = re.compile(r"\s*×\s*")
# the ones vector: as a row, `1ᵀ` (which the notation reads as 𝟙ᵀ, and 1' in ASCII);
# a column has no ASCII spelling (a plain 1 is the number), so 𝟙 stays as it is
_ONES_ROW = re.compile(ONES + "ᵀ")
# functions printed with a non-ASCII symbol (σ(z), σ'(z)) are spelt by name
_FUNCTION_SYMBOLS = {f.unicode: f.name for f in [*ELEMENTWISE.values(), *TENSOR.values()]
                     if not f.unicode.isascii()}
_FUNCTION_CALL = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, _FUNCTION_SYMBOLS)) + r")(?='*\()")


def ascii_text(text: str) -> str:
    """``text`` in ASCII: ``∂²f/∂x²`` -> ``d^2f/dx^2``, ``yᵀ ⊙ τ`` -> ``y' .* tau``,
    ``W ∈ ℝ^{n×m}`` -> ``W in R^{n, m}``.
    ``𝟙ᵀ`` -> ``1'``; a ``𝟙`` column stays ``𝟙`` (writing 1 would mean the number).
    Any other character no table spells becomes ``?`` (the printers use none)."""
    text = _ONES_ROW.sub("1ᵀ", text)
    text = _FUNCTION_CALL.sub(lambda m: _FUNCTION_SYMBOLS[m.group()], text)
    text = _TIMES.sub(", ", text)          # ℝ^{n×m} -> R^{n, m}; shape n × C -> n, C
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^" + "".join(SUPERSCRIPTS[c] for c in m.group()),
                                text)
    out = []
    for c in text:
        if c.isascii() or c == ONES:
            out.append(c)
        else:
            out.append(ASCII_SYMBOLS.get(c) or ASCII_NAMES.get(c) or "?")
    return "".join(out)


def ascii_message(message: str) -> str:
    """An error message in ASCII, except the quoted input and its caret, which stay
    as the user typed them (spelling them out would move the caret off its place)."""
    head, sep, place = message.partition("\n  at line ")
    return ascii_text(head) + sep + place
