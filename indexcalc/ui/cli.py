"""The ``indexcalc`` command: the REPL, scripts, pipes and one-shot derivatives.

    indexcalc                         the REPL (statements from standard input when it is a pipe)
    indexcalc run FILE.ic ...         run files of statements, print every answer (- is stdin)
    indexcalc -                       the same as indexcalc run -
    indexcalc -c "TEXT"               the same for a string
    indexcalc diff TEXT_OR_FILE --wrt W [--of E] [--format index|matrix|latex|einsum|python|json]
                                      [--backend B] [--name F] [--demo] [--differentiable]
    indexcalc --version               the version; --ascii anywhere spells every answer in ASCII

Exit status: 0 on success, 1 when a ``check`` fails, 2 on an input error (the
message, with its caret, goes to standard error).  Everything that reads
statements goes through ``session.Session``, so a script, a pipe and the REPL
answer the same text in the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from indexcalc.api import derivative, export, parse
from indexcalc.errors import IndexcalcError
from indexcalc.ui.commands import Quit
from indexcalc.ui.repl import repl
from indexcalc.ui.session import Session
from indexcalc.ui.views import ascii_message, ascii_text, matrix_text
from indexcalc.version import __version__

FORMATS = ("index", "matrix", "latex", "einsum", "python", "json")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    _utf8_streams()
    args = _parser().parse_args(_stdin_is_run(sys.argv[1:] if argv is None else list(argv)))
    try:
        if args.text is not None:
            return _run_text(args.text, "<-c>", args)
        if args.command == "run":
            return _run_files(args)
        if args.command == "diff":
            return _diff(args)
        if args.command == "repl" or sys.stdin.isatty():
            return repl(layout=getattr(args, "layout", "column"),
                        ascii=getattr(args, "ascii", False))
        return _pipe(sys.stdin, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _stdin_is_run(argv: list[str]) -> list[str]:
    """A bare ``indexcalc -`` (options aside) is ``indexcalc run -``: standard input."""
    for k, arg in enumerate(argv):
        if arg == "-c" or arg == "--":
            return argv
        if arg == "-":
            return argv[:k] + ["run"] + argv[k:]
        if not arg.startswith("-"):
            return argv
    return argv


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="indexcalc",
        description="Tensor derivatives in index and matrix notation. Without arguments, "
                    "a REPL (or, when standard input is a pipe, its statements are run).",
        epilog="Exit status: 0 success, 1 a check failed, 2 input error.")
    p.add_argument("--version", action="version", version=f"indexcalc {__version__}")
    p.add_argument("-c", dest="text", metavar="TEXT", help="run the statements of TEXT")
    _common(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run files of statements and print every answer")
    run.add_argument("files", nargs="+", metavar="FILE.ic", help="- reads standard input")
    _common(run)
    diff = sub.add_parser("diff", help="print one derivative")
    diff.add_argument("model", metavar="TEXT_OR_FILE",
                      help="model text, or a file holding it (- reads standard input)")
    diff.add_argument("--wrt", action="append", required=True, metavar="W",
                      help="variable (W, W_pq, W[p,q]); repeat for higher derivatives")
    diff.add_argument("--of", help="the function differentiated (default: last definition)")
    diff.add_argument("--format", choices=FORMATS, default="index")
    diff.add_argument("--backend", choices=("numpy", "torch", "jax"), default="numpy",
                      help="for --format python and einsum")
    diff.add_argument("--name", help="for --format python and einsum: the function's name "
                                     "(default from what it computes, e.g. dE_dW)")
    diff.add_argument("--demo", action="store_true",
                      help="for --format python and einsum: add a random-input run under "
                           'if __name__ == "__main__":')
    diff.add_argument("--differentiable", action="store_true",
                      help="with --format python and --backend torch|jax: also write a "
                           "torch.autograd.Function / jax.custom_vjp function of the value "
                           "whose backward is this derivative")
    _common(diff)
    _common(sub.add_parser("repl", help="the interactive session (the default on a terminal)"))
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layout", choices=("column", "row"), default=argparse.SUPPRESS,
                   help="print vectors as columns (default) or rows in matrix forms")
    p.add_argument("--ascii", action="store_true", default=argparse.SUPPRESS,
                   help="ASCII instead of Unicode (d for ∂, sum_j for Σ_j, ' for ᵀ)")


class CliError(IndexcalcError):
    """Options of ``indexcalc`` that do not go together."""


def _session(args) -> Session:
    return Session(layout=getattr(args, "layout", "column"), ascii=getattr(args, "ascii", False))


def _report(e: IndexcalcError, where: str | None = None, ascii: bool = False) -> None:
    prefix = f"{where}: " if where else ""
    print(f"{prefix}{ascii_message(str(e)) if ascii else e}", file=sys.stderr)


def _answer(text: str) -> None:
    print(text)
    print()


def _run_text(text: str, where: str | None, args, session: Session | None = None) -> int:
    session = session or _session(args)
    try:
        return session.run(text, on_answer=_answer,
                           on_error=lambda e: _report(e, where, session.ascii))
    except Quit:                                   # :quit or exit in a script: stop there
        return 1 if session.failed_checks else 0


def _run_files(args) -> int:
    status = 0
    for path in args.files:
        try:
            text = _read(path)
        except OSError as e:
            print(f"indexcalc: cannot read {path}: {e.strerror}", file=sys.stderr)
            return 2
        status = max(status, _run_text(text, "<stdin>" if path == "-" else path, args))
        if status == 2:
            return 2
    return status


def _pipe(stream, args) -> int:
    """Statements from a pipe: like the REPL without prompts; errors do not stop it."""
    session = _session(args)
    try:
        return session.run(stream.read(), on_answer=_answer,
                           on_error=lambda e: _report(e, "<stdin>", session.ascii), keep_going=True)
    except Quit:
        return 1 if session.failed_checks else 0


def _diff(args) -> int:
    text = args.model
    if text == "-" or os.path.isfile(text):
        text = _read(text)
    # a file made for `run` may hold :commands; blank them, keeping the line numbers
    text = "\n".join("" if ln.lstrip().startswith(":") else ln for ln in text.splitlines())
    try:
        d = derivative(parse(text), args.wrt if len(args.wrt) > 1 else args.wrt[0], of=args.of)
        print(_format(d, args.format, args))
    except IndexcalcError as e:
        _report(e, ascii=getattr(args, "ascii", False))
        return 2
    return 0


def _read(path: str) -> str:
    """The text of a file, or of standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def _format(d, fmt: str, args) -> str:
    """``d`` in the format asked, in ASCII with ``--ascii``: exported code spells its
    names itself (θ -> v_theta, said in its docstring); text is spelt by ascii_text."""
    ascii = getattr(args, "ascii", False)
    if args.differentiable:
        return _differentiable(d, fmt, args, ascii)
    if (args.name is not None or args.demo) and fmt not in ("einsum", "python"):
        raise CliError(f"--name and --demo are for --format python or einsum, not {fmt}")
    if fmt in ("einsum", "python"):
        return d.python(backend=args.backend, name=args.name, einsum=fmt == "einsum",
                        demo=args.demo, ascii=ascii).rstrip()
    text = _text_format(d, fmt, getattr(args, "layout", "column"))
    return ascii_text(text) if ascii else text


def _differentiable(d, fmt: str, args, ascii: bool) -> str:
    """``--differentiable``: the value and its gradient, wrapped for torch or JAX."""
    if fmt != "python" or args.backend not in ("torch", "jax") or len(d.wrt) != 1:
        raise CliError("--differentiable is for --format python --backend torch|jax "
                       "and one --wrt")
    return export(d.model, [d.of, f"d{d.of}/d{d.wrt[0]}"], name=args.name,
                  backend=args.backend, differentiable=True, demo=args.demo,
                  ascii=ascii).rstrip()


def _text_format(d, fmt: str, layout: str) -> str:
    if fmt == "index":
        return d.text()
    if fmt == "matrix":
        m = matrix_text(d, layout)
        return m if m is not None else f"(no matrix form)\n{d.text()}"
    if fmt == "latex":
        return d.latex()
    return json.dumps(_json(d, layout), ensure_ascii=False, indent=2)


def _json(d, layout: str) -> dict:
    out = {
        "of": d.of,
        "wrt": list(d.wrt),
        "indices": [i.name for i in d.indices],
        "shape": [str(i.dim) if not isinstance(i.dim, int) else i.dim for i in d.indices],
        "index": d.text(),
        "ascii": d.text(ascii=True),
        "matrix": matrix_text(d, layout),
        "einsum": [{"out": s.name, "kind": s.kind, "spec": s.spec, "operands": list(s.operands),
                    "target": s.target, "code": s.code} for s in d.einsum()],
    }
    if hasattr(d, "latex"):
        out["latex"] = d.latex()
    return out


def _utf8_streams() -> None:
    """Unicode output (∂, Σ, ᵀ) even where the locale says ASCII."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower() != "utf-8":
            try:
                stream.reconfigure(encoding="utf-8")
            except (OSError, ValueError):
                pass


if __name__ == "__main__":
    sys.exit(main())
