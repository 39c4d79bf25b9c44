"""Lifetimes of the generated function's arrays: release the dead, account for the peak.

Straight-line generated code keeps every temporary alive until it returns,
so a deep program holds all its intermediates at once, and a fresh process
pays a page fault for each new one.  This pass reads the finished lines (the
statements ``codegen`` wrote, single-use expressions already inlined), finds
the last line that reads each array the function itself made, and writes a
``del`` after it, so NumPy's allocator can reuse the memory for the next
array of that size.

The same walk accounts for memory: with the size of every array the generator
made (``sizes``, in elements, including the ones inlined into a larger
expression, which live only while their line runs: ``hidden_sizes``),
``peak_size`` is the largest sum of live arrays at any line.  Inputs are the caller's and are not
counted; outputs are counted from their line to the return.
"""

from __future__ import annotations

import re

from indexcalc.compiler.statements import TEMP, Line

_NAME = re.compile(r"[A-Za-z_]\w*")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def names_read(code: str) -> set[str]:
    """Identifiers a line reads (string literals, such as output labels, ignored)."""
    return set(_NAME.findall(_STRING.sub("''", code)))


def last_uses(lines: list[Line], made: set[str]) -> dict[str, int]:
    """For each array the function made, the index of the last line reading it."""
    last: dict[str, int] = {}
    for k, line in enumerate(lines):
        for n in names_read(line.code) & made:
            last[n] = k
    return last


def release_dead(lines: list[Line], arguments: set[str], sizes: dict[str, int]) -> list[Line]:
    """``lines`` with ``del`` statements after the last use of each temporary array.

    Only arrays the function assigned (never its arguments, nor scalars: there
    is nothing to give back) are released, and never on the return line."""
    made = {l.target for l in lines if l.plain and l.target and sizes.get(l.target, 0) > 1}
    made -= arguments
    last = last_uses(lines, made)
    out: list[Line] = []
    for k, line in enumerate(lines):
        out.append(line)
        if line.code.startswith("return"):
            continue
        dead = sorted(n for n, j in last.items() if j == k and n != line.target)
        if dead:
            out.append(Line("", "del " + ", ".join(dead), False, plain=False))
    return out


def peak_size(lines: list[Line], sizes: dict[str, int], arguments: set[str],
              hidden: list[int] | None = None) -> int:
    """The largest total size of live arrays at any line (in elements).

    ``sizes``: elements of each name the function assigns; ``hidden``: per line,
    the elements of the inlined intermediates that line evaluates (alive only
    during it).  A name lives from its line to its last use."""
    made = {l.target for l in lines if l.plain and l.target} - arguments
    last = last_uses(lines, made)
    live: dict[str, int] = {}
    peak = 0
    for k, line in enumerate(lines):
        if line.plain and line.target in made:
            live[line.target] = sizes.get(line.target, 0)
        extra = hidden[k] if hidden and k < len(hidden) else 0
        peak = max(peak, sum(live.values()) + extra)
        for n in [n for n in live if last.get(n, -1) <= k and not line.code.startswith(
                "return") and n != line.target]:
            del live[n]
    return peak


def hidden_sizes(lines: list[Line], sizes: dict[str, int]) -> list[int]:
    """Per line that survives ``statements.inline``, the elements of the temporaries
    inlined into it (they live while it runs): the same walk as ``inline``."""
    uses: dict[str, int] = {}
    for line in lines:
        for t in TEMP.findall(line.code):
            uses[t] = uses.get(t, 0) + 1
    pending: dict[str, int] = {}
    out: list[int] = []
    for line in lines:
        carried = sum(pending.pop(t, 0) for t in TEMP.findall(line.code))
        if line.inline and line.plain and TEMP.fullmatch(line.target) \
                and uses.get(line.target) == 1:
            pending[line.target] = carried + sizes.get(line.target, 0)
        else:
            out.append(carried)
    return out
