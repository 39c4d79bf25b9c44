"""The statements generated code is made of, and the last touches on them.

A ``Val`` is a value as code generation sees it: a Python identifier or
literal and the ``Index`` of each of its axes (in whatever order was cheapest;
consumers align axes lazily).  A ``Line`` is one statement, with the values it
reads, so that exporters read the generator's steps rather than its text.
Single-use elementwise temporaries are inlined into their one use (``inline``),
parenthesised only where needed (``paren``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexcalc.ir import Index


@dataclass(frozen=True)
class Val:
    code: str                      # identifier or literal
    axes: tuple[Index, ...]        # one Index per axis, distinct; () for a scalar


@dataclass
class Line:
    target: str
    code: str
    inline: bool                   # an elementwise expression that may be inlined
    plain: bool = True             # "target = code" (False: a statement written as is)
    reads: tuple[str, ...] = ()    # the values (codes) ``code`` reads, in textual order


def paren(code: str) -> str:
    return code if _atomic(code) else f"({code})"


def _atomic(code: str) -> bool:
    if re.fullmatch(r"[\w.]+(\[[^\[\]]*\])?", code) and not code.startswith("-"):
        return True
    if code.startswith("(") and _closes_at_end(code, 0):
        return True
    m = re.match(r"[A-Za-z_][\w.]*\(", code)
    return bool(m) and _closes_at_end(code, m.end() - 1)


def _closes_at_end(code: str, start: int) -> bool:
    depth = 0
    for k in range(start, len(code)):
        depth += {"(": 1, ")": -1}.get(code[k], 0)
        if depth == 0:
            return k == len(code) - 1 or re.fullmatch(r"(\.T|\[[^\[\]]*\])*", code[k + 1:])
    return False


TEMP = re.compile(r"\bt\d+\b")


def inline(lines: list[Line]) -> list[Line]:
    """Inline temporaries that hold an elementwise expression and are used once."""
    uses: dict[str, int] = {}
    for line in lines:
        for t in TEMP.findall(line.code):
            uses[t] = uses.get(t, 0) + 1
    out: list[Line] = []
    pending: dict[str, str] = {}
    pending_reads: dict[str, tuple[str, ...]] = {}
    for line in lines:
        code = TEMP.sub(lambda m: pending.pop(m.group(), m.group()), line.code)
        reads = tuple(r for read in line.reads for r in pending_reads.pop(read, (read,)))
        line = Line(line.target, code, line.inline, line.plain, reads)
        if line.inline and line.plain and TEMP.fullmatch(line.target) \
                and uses.get(line.target) == 1:
            pending[line.target] = paren(code)
            pending_reads[line.target] = reads
        else:
            out.append(line)
    return out


def render(lines: list[Line]) -> list[str]:
    return [f"{l.target} = {l.code}" if l.plain else l.code for l in lines]
