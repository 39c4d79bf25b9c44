"""Subscripts that do arithmetic: ``x_{i+k}``, ``x[2i+k]``, ``x_{i-1}``, and range
conditions ``[0 ≤ p − k < m]``.

The grammar keeps a subscript as one token (``_ik``, ``_{i+k}``, ``[2i+k, j]``):
what is inside is a tiny language of its own, read here.  Each comma-separated
item is either an index name or an affine form -- a sum of index names with
integer coefficients and an integer offset (``i+k``, ``2i+k``, ``i+2k``,
``p−k``, ``(p−k)/2``, the last only as printed by indexcalc for a strided
backward pass).  Anything else (``i k``, ``i^2``, ``i/k``) is refused with a
message that says what is allowed.  Names are resolved to indices or dimensions
later, by lowering; this module only reads the text.

A range condition (an Iverson bracket, ``[0 ≤ p − k < m]``, ``[1 ≤ p < n]``,
``[2 | p − k]``) is 1 where it holds and 0 elsewhere; it is how a derivative
that reads past a border says so, and how a user's claim may say the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from indexcalc.limits import MAX_SUBSCRIPT_NUMBER
from indexcalc.syntax.subscripts import subscript_indices

ALLOWED = ("a subscript may be an index (i), or a sum of indices with whole-number "
           "coefficients and an offset: i+k, 2i+k, i+2k, i−1")

_TOKEN = re.compile(r"\s*(?:(?P<num>[0-9]+)|(?P<name>[A-Za-z\u0391-\u03A9\u03B1-\u03C9"
                    r"\u03D1\u03D5\u03F5][A-Za-z0-9\u0391-\u03A9\u03B1-\u03C9\u03D1\u03D5"
                    r"\u03F5]*)|(?P<op><=|>=|[-−+*/^()|<>≤≥⌊⌋]))")
_OPS = set("+-−*/^()")


@dataclass(frozen=True)
class Shift:
    """An affine subscript as typed: ``terms`` maps names to coefficients."""
    terms: tuple[tuple[str, Fraction], ...]
    offset: Fraction
    text: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.terms)


@dataclass(frozen=True)
class Clause:
    """One part of a range condition: ``kind`` "range" with linear forms ``parts``
    joined by ``ops`` (``≤`` or ``<``), or "divides" with ``parts == (s, form)``."""
    kind: str
    parts: tuple
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cond:
    """A range condition as typed: clauses joined by commas (all must hold)."""
    clauses: tuple[Clause, ...]
    text: str


def subscript_items(raw: str, fail: Callable[[str], Exception]) -> tuple:
    """The items of a subscript: index names, and ``Shift`` where an item does
    arithmetic (``_{i+k}``, ``[2i+k, j]``, ``_{i-1}``).  Without arithmetic this is
    ``subscripts.subscript_indices``, the rule for plain subscripts."""
    if raw.startswith(("[", "_{")):
        inner = raw[1:-1] if raw.startswith("[") else raw[2:-1]
        if is_arithmetic(inner):
            out = []
            for item in inner.split(","):
                if not item.strip():
                    raise fail(f"empty index in the subscript {raw!r}")
                out.append(read_shift(item, fail))
            return tuple(out)
        if raw.startswith("[") and any(" " in p.strip() for p in inner.split(",")):
            bad = next(p.strip() for p in inner.split(",") if " " in p.strip())
            raise fail(f"the subscript {bad!r} is not affine (a product of indices); "
                       f"{ALLOWED}")
    return subscript_indices(raw, fail)


def cond_names(cond: Cond) -> set[str]:
    """Every name in a range condition (indices and dimensions alike)."""
    out: set[str] = set()
    for c in cond.clauses:
        for part in c.parts:
            if isinstance(part, tuple):
                out.update(part[0])
    return out


def index_names(items) -> tuple[str, ...]:
    """Every index name a subscript mentions, shifted or not, in order."""
    out: list[str] = []
    for it in items:
        out.extend(it.names if isinstance(it, Shift) else (it,))
    return tuple(out)


def is_arithmetic(inner: str) -> bool:
    """Does subscript text (inside the braces) do arithmetic (``i+k``, ``2i``, ``i-1``)?"""
    return bool(set(inner) & (_OPS | {"^"})) or bool(re.search(r"[0-9]\s*[A-Za-z]", inner))


def items(raw: str) -> list[str]:
    """The comma-separated items of ``_{...}`` or ``[...]``."""
    return raw[2:-1].split(",") if raw.startswith("_{") else raw[1:-1].split(",")


def read_shift(text: str, fail: Callable[[str], Exception]) -> Shift | str:
    """One subscript item: a name, or a ``Shift`` where it does arithmetic."""
    terms, offset = _Reader(text, fail).whole()
    if not offset and len(terms) == 1 and list(terms.values()) == [1] and \
            text.strip() == next(iter(terms)):
        return next(iter(terms))
    if not terms:
        raise fail(f"the subscript {text.strip()!r} has no index; {ALLOWED}")
    if any(c == 0 for c in terms.values()):                 # 0i: no position to solve for
        raise fail(f"the subscript {text.strip()!r} multiplies an index by zero; {ALLOWED}")
    for c in list(terms.values()) + [offset]:
        if Fraction(c).denominator != 1 and not _printed_fraction(text):
            raise fail(f"the subscript {text.strip()!r} has a fractional coefficient; "
                       f"{ALLOWED}")
    return Shift(tuple(terms.items()), Fraction(offset), text.strip())


def _printed_fraction(text: str) -> bool:
    return bool(re.fullmatch(r"\s*\([^()]*\)\s*/\s*[0-9]+\s*", text))


def read_cond(text: str, fail: Callable[[str], Exception]) -> Cond:
    """``[0 ≤ p − k < m]`` (a chain of ≤ and <), ``[2 | p − k]`` (divisibility), or
    several of them separated by commas."""
    clauses = []
    for part in text.strip()[1:-1].split(","):
        if "|" in part:
            left, _, right = part.partition("|")
            s = _Reader(left, fail).whole()
            if s[0] or s[1].denominator != 1 or s[1] < 1:
                raise fail(f"in {text!r}: write divisibility as [2 | p − k]")
            clauses.append(Clause("divides", (int(s[1]), _Reader(right, fail).whole())))
            continue
        pieces = re.split(r"(<=|≤|<)", part)
        if len(pieces) < 3 or re.search(r">|≥", part):
            raise fail(f"a range condition reads like [0 ≤ p − k < m], not {text!r}")
        parts = tuple(_floor(p, fail) or _Reader(p, fail).whole() for p in pieces[0::2])
        ops = tuple("≤" if op in ("<=", "≤") else "<" for op in pieces[1::2])
        clauses.append(Clause("range", parts, ops))
    return Cond(tuple(clauses), text)


_FLOOR = re.compile(r"\s*⌊\s*\((?P<num>[^()]*)\)\s*/\s*(?P<div>[0-9]+)\s*⌋\s*"
                    r"(?:(?P<sign>[-−+])\s*(?P<add>[0-9]+))?\s*")


def _floor(text: str, fail):
    """``⌊(n − K)/2⌋ + 1`` (a strided range, as printed) as ``("floor", form, 2, 1)``."""
    m = _FLOOR.fullmatch(text)
    if not m:
        return None
    add = int(m.group("add") or 0) * (-1 if m.group("sign") in ("-", "−") else 1)
    return ("floor", _Reader(m.group("num"), fail).whole(), int(m.group("div")), add)


class _Reader:
    """Recursive descent over ``expr := term (± term)*``, ``term := factor
    ((* | / | juxtaposition) factor)*``, ``factor := number | name | (expr) | −factor``.
    Values are linear forms ``({name: c}, offset)``; a product or power of two
    indices is refused."""

    def __init__(self, text: str, fail):
        self.text = text
        self.fail = fail
        self.toks = self._lex(text)
        self.k = 0

    def _lex(self, text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                bad = text[pos:].strip()[:1]
                raise self.fail(f"{bad!r} cannot appear in the subscript {text.strip()!r}; "
                                f"{ALLOWED}")
            kind = m.lastgroup
            out.append((kind, m.group(kind)))
            pos = m.end()
        return out

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.k] if self.k < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail(f"the subscript {self.text.strip()!r} ends too early; {ALLOWED}")
        self.k += 1
        return tok

    def whole(self):
        if not self.toks:
            raise self.fail(f"empty index in the subscript {self.text!r}")
        value = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r} in the subscript "
                            f"{self.text.strip()!r}; {ALLOWED}")
        for c in list(value[0].values()) + [value[1]]:
            if max(abs(c.numerator), c.denominator) > MAX_SUBSCRIPT_NUMBER:
                raise self.fail(f"a number in the subscript {self.text.strip()!r} is beyond "
                                f"the limit of {MAX_SUBSCRIPT_NUMBER:,}")
        return value

    def expr(self):
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-"), ("op", "−")):
            sign = 1 if self.take()[1] == "+" else -1
            value = _lin_add(value, self.term(), sign)
        return value

    def term(self):
        value = self.factor()
        while True:
            tok = self.peek()
            if tok in (("op", "*"), ("op", "/")):
                self.take()
                other = self.factor()
                value = self._times(value, other) if tok[1] == "*" else self._over(value, other)
            elif tok is not None and (tok[0] in ("num", "name") or tok == ("op", "(")):
                value = self._times(value, self.factor())
            else:
                return value

    def factor(self):
        kind, text = self.take()
        if kind == "num":
            value = ({}, Fraction(int(text)))
        elif kind == "name":
            value = ({text: Fraction(1)}, Fraction(0))
        elif text in ("-", "−"):
            terms, off = self.factor()
            return {n: -c for n, c in terms.items()}, -off
        elif text == "(":
            value = self.expr()
            if self.take() != ("op", ")"):
                raise self.fail(f"unbalanced parenthesis in {self.text.strip()!r}")
        else:
            raise self.fail(f"{text!r} cannot appear in the subscript {self.text.strip()!r}; "
                            f"{ALLOWED}")
        if self.peek() == ("op", "^"):
            self.take()
            power = self.factor()
            if value[0] or power[0]:
                raise self.fail(f"the subscript {self.text.strip()!r} is not affine (a power "
                                f"of an index); {ALLOWED}")
            base, exp = value[1], power[1]
            if exp.denominator != 1 or exp < 0:
                raise self.fail(f"the subscript {self.text.strip()!r} raises to a power "
                                f"other than a whole number; {ALLOWED}")
            if abs(base) > 1 and exp > MAX_SUBSCRIPT_NUMBER.bit_length():   # 9^9^9: refused
                raise self.fail(f"a number in the subscript {self.text.strip()!r} is beyond "
                                f"the limit of {MAX_SUBSCRIPT_NUMBER:,}")
            value = ({}, base ** exp)
        return value

    def _times(self, a, b):
        if a[0] and b[0]:
            raise self.fail(f"the subscript {self.text.strip()!r} is not affine (a product "
                            f"of indices); {ALLOWED}")
        if b[0]:
            a, b = b, a
        return {n: c * b[1] for n, c in a[0].items()}, a[1] * b[1]

    def _over(self, a, b):
        if b[0] or not b[1]:
            raise self.fail(f"the subscript {self.text.strip()!r} divides by an index or "
                            f"by zero; {ALLOWED}")
        return {n: c / b[1] for n, c in a[0].items()}, a[1] / b[1]


def _lin_add(a, b, sign: int):
    terms = dict(a[0])
    for n, c in b[0].items():
        terms[n] = terms.get(n, 0) + sign * c
    return {n: c for n, c in terms.items() if c}, a[1] + sign * b[1]
