"""Behaviour snapshot for refactors: everything indexcalc prints, for many models.

A refactor must not change what a user sees.  This records, for every example
in ``examples/``, every fuzz seed model and a few hundred models drawn
(derandomized) from the property-test generator, the printed index form
(Unicode and ASCII), the matrix forms in both layouts, the LaTeX, the
explanation, the einsum steps and the generated Python source of the
derivative of the last definition with respect to each of the model's
variables, the answer to every question, and any error message, then compares
two such records byte for byte.

    python tools/snapshot.py record before.txt      # before the change (+ before.models.json)
    python tools/snapshot.py record after.txt --models before.models.json   # after it
    python tools/snapshot.py compare before.txt after.txt

Only the public API is used, so the script outlives the modules it checks.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import indexcalc  # noqa: E402
from indexcalc import IndexcalcError  # noqa: E402

MAX_VARIABLES = 3


def models(generated: int, saved: Path | None) -> list[tuple[str, str]]:
    """The models to record: from ``saved`` (a JSON list written by an earlier
    record) when given, so that both records read the same texts, else drawn
    afresh (Hypothesis's derandomized draws can change with the code around them)."""
    if saved is not None:
        return [tuple(pair) for pair in json.loads(saved.read_text())]
    from fuzzing import SEEDS, generated_seeds
    out = []
    for p in sorted((ROOT / "examples").glob("*.ic")):
        # a session file: the models between :reset commands, the other commands dropped
        for k, chunk in enumerate(p.read_text().split(":reset")):
            kept = [line for line in chunk.splitlines() if not line.lstrip().startswith(":")]
            out.append((f"{p.name} part {k}", "\n".join(kept)))
    out += [(f"seed {k}", t) for k, t in enumerate(SEEDS)]
    out += [(f"generated {k}", t) for k, t in enumerate(generated_seeds(generated, True))]
    return out


def _try(lines: list[str], label: str, thunk) -> None:
    try:
        value = thunk()
    except IndexcalcError as error:
        value = f"IndexcalcError {type(error).__name__}: {error}"
    lines.append(f"--- {label}\n{value}")


def record_model(text: str) -> list[str]:
    lines: list[str] = []
    try:
        model = indexcalc.parse(text)
    except IndexcalcError as error:
        return [f"parse error {type(error).__name__}: {error}"]
    defs = list(model.definitions)
    for q in model.questions:
        _try(lines, f"question {q}", lambda q=q: str(indexcalc.answer(model, q)))
    if not defs:
        return lines
    of = defs[-1]
    for w in list(model.inputs)[:MAX_VARIABLES]:
        try:
            d = indexcalc.derivative(model, w, of=of)
        except IndexcalcError as error:
            lines.append(f"--- d{of}/d{w}\nIndexcalcError {type(error).__name__}: {error}")
            continue
        head = f"d{of}/d{w}"
        _try(lines, f"{head} text", lambda: str(d))
        _try(lines, f"{head} ascii", lambda: d.text(ascii=True))
        _try(lines, f"{head} matrix", lambda: str(d.matrix()))
        _try(lines, f"{head} matrix row", lambda: str(d.matrix(layout="row")))
        _try(lines, f"{head} latex", d.latex)
        _try(lines, f"{head} explain", d.explain)
        _try(lines, f"{head} einsum", lambda: "\n".join(map(repr, d.einsum())))
        _try(lines, f"{head} python", d.python)
    return lines


def run_examples() -> list[str]:
    """``indexcalc run`` on every example: exit status, standard output and error."""
    chunks = []
    for p in sorted((ROOT / "examples").glob("*.ic")):
        done = subprocess.run([sys.executable, "-m", "indexcalc", "run", str(p.relative_to(ROOT))],
                              cwd=ROOT, capture_output=True, text=True)
        chunks.append(f"=== run {p.name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return chunks


def record(path: Path, generated: int, saved: Path | None) -> None:
    chunks = run_examples()
    texts = models(generated, saved)
    path.with_suffix(".models.json").write_text(json.dumps(texts, ensure_ascii=False, indent=0))
    for label, text in texts:
        chunks.append(f"=== {label}\n{text}\n" + "\n".join(record_model(text)))
    path.write_text("\n".join(chunks) + "\n")
    print(f"recorded {len(chunks)} models to {path}")


def compare(a: Path, b: Path) -> int:
    left, right = a.read_text().splitlines(), b.read_text().splitlines()
    if left == right:
        print(f"identical: {len(left):,} lines")
        return 0
    diff = list(difflib.unified_diff(left, right, str(a), str(b), lineterm="", n=2))
    print("\n".join(diff[:200]), flush=True)
    print(f"... {sum(1 for x in diff if x[:1] in '+-')} changed lines")
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record")
    r.add_argument("path", type=Path)
    r.add_argument("--generated", type=int, default=300)
    r.add_argument("--models", type=Path, help="the models of an earlier record (its .models.json)")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.command == "record":
        record(args.path, args.generated, args.models)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
