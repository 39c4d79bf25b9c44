"""Benchmark indexcalc's compiled derivatives against hand-written NumPy and AD peers.

Run from the repository root::

    python benchmarks/run.py                     # all problems, small + medium, writes RESULTS.md
    python benchmarks/run.py --quick --problems G1,H1    # smoke run: small sizes, few repeats

For every problem in ``problems.py`` and every size, each implementation
(hand-written NumPy, indexcalc, jax.jit(grad/hessian), torch.func, HIPS
autograd) is built, warmed up, checked against the NumPy baseline and timed:
median over repeats of the per-call time, each repeat a loop long enough
(≥ 20 ms) for ``time.perf_counter`` to be accurate.  Times are reported as
ratios to NumPy.  Then the symbolic side (parse + differentiate + simplify +
compile) is timed for S1–S4 and H1–H3, with SymPy as the peer.

This exists so that the performance targets of issue 4 are measured, in one
run, on one machine, the same way every time; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes only, fewer repeats (smoke run); writes no file unless --out")
    ap.add_argument("--out", default=None,
                    help="Markdown file to write (default: benchmarks/RESULTS.md for a full run)")
    ap.add_argument("--problems", default="",
                    help="comma-separated problem names (G1,G2,G3,H1,H2,H3); default all")
    ap.add_argument("--sizes", default="", help="comma-separated: small,medium,large")
    ap.add_argument("--peers", default="numpy,indexcalc,icjax,jax,torch,autograd",
                    help="implementations to run (numpy is always run: it is the baseline)")
    ap.add_argument("--repeats", type=int, default=None, help="timing repeats (default 7, quick 3)")
    ap.add_argument("--min-sample", type=float, default=0.02,
                    help="minimum duration of one timing sample in seconds (default 0.02)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timing per implementation and problem before repeats "
                         "are cut (default 10, quick 3)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for BLAS / torch, and cores the process is pinned to "
                         "(default 1: reproducible on a shared machine; 0 = all cores)")
    ap.add_argument("--no-symbolic", action="store_true", help="skip the symbolic-side table")
    ap.add_argument("--no-fresh", action="store_true",
                    help="skip the fresh-process runs (cold start, memory, start-up)")
    ap.add_argument("--no-sympy", action="store_true", help="skip SymPy in the symbolic table")
    ap.add_argument("--sympy-cap", type=float, default=None,
                    help="seconds before a SymPy task is abandoned (default 30, quick 10)")
    return ap.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads <= 0:
    ARGS.threads = os.cpu_count() or 1

if ARGS is not None:
    # Thread counts must be set before NumPy / torch / jax are imported.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
    # JAX/XLA has no stable thread-count flag: with fewer threads than cores, pin the
    # whole process (every library's pool) to that many cores instead.
    if ARGS.threads < (os.cpu_count() or 1) and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:ARGS.threads])
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
if os.path.isdir(os.path.join(ROOT, "indexcalc")):
    sys.path.insert(0, ROOT)            # benchmark the working tree's indexcalc

import json                              # noqa: E402
import platform                          # noqa: E402
import statistics                        # noqa: E402
import subprocess                        # noqa: E402
import time                              # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import numpy as np                       # noqa: E402

import conv                              # noqa: E402
import costs                             # noqa: E402
import peers                             # noqa: E402
import problems as P                     # noqa: E402
from timing import rel_error, time_call, time_paired   # noqa: E402

# Modules that define more problems and register them with ``problems.register``
# (one name per module; a new benchmark file adds itself here).
PROBLEM_MODULES = (
    "workloads",                          # issue 17: attention, layer norm, deep MLPs, ...
    "conv",                               # issue 14: 1-D convolution, conv layers
)
for _module in PROBLEM_MODULES:
    __import__(_module)
os.environ["INDEXCALC_BENCH_MODULES"] = ",".join(PROBLEM_MODULES)   # for fresh.py's children

PEER_LABEL = {"numpy": "NumPy (hand)", "indexcalc": "indexcalc", "icjax": "indexcalc (JAX)",
              "jax": "JAX jit", "torch": "torch.func", "autograd": "autograd"}
FRESH_SIZES = ("medium", "large")         # sizes measured in fresh processes too
TOL = 1e-8                                # max relative error that counts as agreement


# ---------------------------------------------------------------------------
# running

def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×" if r < 1000 else f"{r:.1e}×"


class Notes:
    """Numbered footnotes, so long error texts stay out of the table cells."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, text: str) -> str:
        if text in self.items:
            return f"[{self.items.index(text) + 1}]"
        self.items.append(text)
        return f"[{len(self.items)}]"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_fresh(p, size, impls, threads, fresh_runs: dict) -> None:
    """Each implementation once in a fresh process (cold start, memory); first, so a
    plan that cannot fit in memory is known before the main process would try it."""
    for name in impls:
        got = costs.fresh(["call", p.name, size, name], threads)
        fresh_runs[(p.name, size, name)] = got
        what = got.get("error") or (f"cold {fmt_time(got['build_s'] + got['first_s'])}, "
                                    f"1st-call RSS {costs.fmt_bytes(got['first_peak'])}")
        log(f"{p.name:10s} {size:6s} {name:9s} fresh process: {what}")


def run_eval(probs, sizes, impls, repeats, min_sample, budget, notes: Notes,
             fresh_runs: dict | None = None, threads: int = 1):
    rows = []
    times: dict[tuple[str, str, str], float] = {}
    ratios: dict[tuple[str, str, str], float] = {}
    for p in probs:
        for size in sizes:
            if size not in p.sizes:
                continue
            mine = [n for n in impls if p.peers is None or n in p.peers]
            if fresh_runs is not None and p.flops and size in FRESH_SIZES:
                run_fresh(p, size, mine, threads, fresh_runs)
            rng = np.random.default_rng(20261123)
            arrays = p.make(p.sizes[size], rng)
            ref_impl = peers.build_numpy(p, arrays)
            ref = ref_impl.result(ref_impl.call())
            t_np, reps, inner = time_call(ref_impl.call, repeats, min_sample, budget)
            times[(p.name, size, "numpy")] = t_np
            log(f"{p.name:10s} {size:6s} numpy     {fmt_time(t_np):>10s}  ({reps}×{inner})")
            np_times = [t_np]
            cells, errs = {}, {}
            for name in mine:
                if name == "numpy":
                    continue
                bad = (fresh_runs or {}).get((p.name, size, name), {}).get("error", "")
                if bad:                       # known to fail: never risk it in this process
                    cells[name] = ("out of memory" if bad.startswith("MemoryError")
                                   else "error") + notes.add(
                        f"{PEER_LABEL[name]} on {p.name} {size}: {bad} (in a fresh process "
                        f"limited to {costs.fmt_bytes(3 << 30)} above its inputs; not run here)")
                    continue
                try:
                    impl = peers.BUILDERS[name](p, arrays)
                    out = impl.result(impl.call())
                except peers.Unavailable as e:
                    cells[name] = "—" + notes.add(f"{PEER_LABEL[name]} skipped: {e}")
                    continue
                except Exception as e:        # noqa: BLE001 - recorded in the table
                    msg = peers._short(e, 400)
                    cells[name] = "error" + notes.add(f"{PEER_LABEL[name]} on {p.name}: "
                                                      f"{type(e).__name__}: {msg}")
                    log(f"{p.name:10s} {size:6s} {name:9s} ERROR {type(e).__name__}: {msg}")
                    continue
                err, why = rel_error(out, ref)
                errs[name] = (err, why)
                try:
                    t, ratio, refs, reps, inner = time_paired(ref_impl.call, impl.call, repeats,
                                                              min_sample, budget)
                except Exception as e:        # noqa: BLE001
                    cells[name] = "error" + notes.add(f"{PEER_LABEL[name]} on {p.name} "
                                                      f"(timing): {type(e).__name__}: {e}")
                    continue
                np_times += refs
                times[(p.name, size, name)] = t
                ratios[(p.name, size, name)] = ratio
                cell = fmt_ratio(ratio)
                if err > TOL:
                    cell += " ✗"
                for n in impl.notes:
                    cell += notes.add(f"indexcalc on {p.name}: {n}")
                cells[name] = cell
                log(f"{p.name:10s} {size:6s} {name:9s} {fmt_time(t):>10s}  "
                    f"{ratio:7.2f}×  err {err:.1e} ({reps}×{inner}) {why}")
            times[(p.name, size, "numpy")] = statistics.median(np_times)
            rows.append((p, size, statistics.median(np_times), cells, errs))
    return rows, times, ratios


def agreement_cell(errs: dict) -> str:
    if not errs:
        return "—"
    worst = max(e for e, _ in errs.values())
    bad = [f"{PEER_LABEL[n]}: {why or f'{e:.1e}'}" for n, (e, why) in errs.items() if e > TOL]
    if bad:
        return f"✗ {'; '.join(bad)}"
    return f"✓ {worst:.0e}"


def eval_table(rows, impls, notes: Notes) -> str:
    peer_cols = [n for n in impls if n != "numpy"]
    head = (["problem", "size", "NumPy (hand)"] + [PEER_LABEL[n] for n in peer_cols]
            + ["agreement (max rel err)"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p, size, t_np, cells, errs in rows:
        line = [p.name, f"{size}: {p.size_label(size)}", fmt_time(t_np)]
        line += [cells.get(n, "") for n in peer_cols]
        line.append(agreement_cell(errs))
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def grad_vs_loss(probs, sizes, impls, repeats, min_sample, budget) -> tuple[str, dict]:
    """Gradient cost over loss cost for the G2 MLP, per implementation: the G2 gradient
    call timed in alternating samples with the same implementation's loss call (the
    ratio of two rows of the table would mix moments of different machine load)."""
    have = {p.name: p for p in probs}
    if "G2" not in have or "G2-loss" not in have:
        return "", {}
    out, got = [], {}
    for size in [s for s in sizes if s in have["G2"].sizes]:
        parts = []
        arrays = have["G2"].make(have["G2"].sizes[size], np.random.default_rng(20261123))
        for n in impls:
            try:
                grad = peers.BUILDERS[n](have["G2"], arrays)
                loss = peers.BUILDERS[n](have["G2-loss"], arrays)
                _, ratio, _, _, _ = time_paired(loss.call, grad.call, repeats, min_sample, budget)
            except Exception:                 # noqa: BLE001 - reported in the main table
                continue
            got[(size, n)] = ratio
            parts.append(f"{PEER_LABEL[n]} {ratio:.2f}×")
        if parts:
            out.append(f"- G2 {size}: gradient time / loss time (same implementation, "
                       f"alternating samples) — " + ", ".join(parts))
    return "\n".join(out), got


def targets(ratios, times, gl, warm_times, sizes) -> str:
    """Each target of issue 4 as met / MISSED / not measured, with the numbers."""
    out = []

    def line(ok, text):
        mark = "not measured" if ok is None else "met" if ok else "**MISSED**"
        out.append(f"- {mark}: {text}")

    evals = sorted({(p, s) for (p, s, n) in ratios if n == "indexcalc"
                    and p not in conv.NAMES})          # issue 14's own target: targets14
    for size, limit in (("small", 1.5), ("medium", 1.1)):
        if size not in sizes:
            continue
        got = {p: ratios[(p, s, "indexcalc")] for (p, s) in evals if s == size}
        if not got:
            line(None, f"indexcalc ≤ {limit}× NumPy at {size} size (no indexcalc timings)")
            continue
        worse = {p: r for p, r in got.items() if r > limit}
        detail = (", ".join(f"{p} {r:.2f}×" for p, r in worse.items()) if worse
                  else f"worst {max(got.values()):.2f}×")
        line(not worse, f"indexcalc ≤ {limit}× NumPy at {size} size on {len(got)} problems "
                        f"— {detail}")
    for prob, want in (("H1", 10.0), ("H3", 10.0), ("H2", 2.5)):
        for size in sizes:
            if (prob, size, "numpy") not in times:
                continue
            ix, jx = ratios.get((prob, size, "indexcalc")), ratios.get((prob, size, "jax"))
            if ix is None or jx is None:
                line(None, f"{prob} {size}: indexcalc ≥ {want:g}× faster than JAX jit(hessian)")
                continue
            line(jx / ix >= want, f"{prob} {size}: indexcalc {jx / ix:.1f}× faster than JAX "
                                  f"jit(hessian) (target ≥ {want:g}×)")
    for size in sizes:
        if ("G2", size, "numpy") not in times or ("G2-loss", size, "numpy") not in times:
            continue
        r = gl.get((size, "indexcalc"))
        if r is not None:
            line(r <= 3.0, f"G2 {size}: indexcalc gradient = {r:.2f}× its loss (≤ 3×)")
        else:
            line(None, f"G2 {size}: indexcalc gradient ≤ 3× its loss")
    if warm_times:
        slow = {k: v for k, v in warm_times.items() if v > 0.010}
        detail = (", ".join(f"{k} {fmt_time(v)}" for k, v in slow.items()) if slow
                  else f"worst {fmt_time(max(warm_times.values()))}")
        line(not slow, f"symbolic side ≤ 10 ms (warm derive + compile) on {len(warm_times)} "
                       f"models — {detail}")
    else:
        line(None, "symbolic side ≤ 10 ms")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# symbolic side

def _indexcalc_symbolic(text, of, wrt, dims, name, repeats):
    """(derive+compile seconds: cold, warm median; first-call seconds; note)."""
    import indexcalc
    if not hasattr(indexcalc, "derivative"):
        raise RuntimeError("API not ready: indexcalc.derivative missing")

    def once(k):
        # a distinct comment per run defeats any cache keyed on the text
        t0 = time.perf_counter()
        d = indexcalc.derivative(text + f"\n# run {k}", wrt=wrt, of=of)
        t1 = time.perf_counter()
        try:
            f = d.compile()
            err = None
        except Exception as e:              # noqa: BLE001 - e.g. opaque functions
            f, err = None, f"compile: {type(e).__name__}: {peers._short(e, 200)}"
        t2 = time.perf_counter()
        return t1 - t0, t2 - t0, f, err

    cold_d, cold, f, err = once(0)
    warm = [once(k + 1) for k in range(repeats)]
    warm_d = statistics.median(w[0] for w in warm)
    warm_t = statistics.median(w[1] for w in warm)
    first = None
    if f is not None and dims is not None:
        arrays = P.symbolic_inputs(dims, name, np.random.default_rng(0))
        f = warm[-1][2]
        t0 = time.perf_counter()
        f(**arrays)
        first = time.perf_counter() - t0
    return cold, warm_d, warm_t, first, err


def _sympy_task(name, cap):
    cmd = [sys.executable, os.path.join(HERE, "sympy_side.py"), name]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        said = [json.loads(line)["note"] for line in out.splitlines() if '"note"' in line]
        return None, "; ".join([f"> {cap:.0f} s (abandoned)"] + said)
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except Exception:                       # noqa: BLE001
        return None, f"failed: {peers._short(RuntimeError(r.stderr[-300:]), 200)}"
    if "error" in res:
        return None, res["error"]
    note = "; ".join([f"`{res['result'][:60]}`"] + res.get("notes", []))
    return res["seconds"], note


def run_symbolic(notes: Notes, want_sympy: bool, cap: float, repeats: int, only=None,
                 warm_times: dict | None = None) -> str:
    head = ["model", "indexcalc derive+compile (cold)", "warm: derive", "warm: +compile",
            "first call (small arrays)", "SymPy", "SymPy result / note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, text, of, wrt, dims in P.SYMBOLIC:
        if only and name.upper() not in only:
            continue
        row = [name]
        try:
            cold, warm_d, warm_t, first, err = _indexcalc_symbolic(text, of, wrt, dims, name,
                                                                    repeats)
            row += [fmt_time(cold), fmt_time(warm_d),
                    fmt_time(warm_t) + (notes.add(f"indexcalc {name}: {err}") if err else ""),
                    fmt_time(first) if first is not None else "—"]
            log(f"symbolic {name}: indexcalc cold {fmt_time(cold)} warm {fmt_time(warm_t)}")
            if warm_times is not None:
                warm_times[name] = warm_t
        except Exception as e:              # noqa: BLE001
            msg = f"{type(e).__name__}: {peers._short(e, 300)}"
            row += ["error" + notes.add(f"indexcalc symbolic {name}: {msg}"), "", "", ""]
            log(f"symbolic {name}: indexcalc ERROR {msg}")
        if want_sympy:
            secs, note = _sympy_task(name, cap)
            row += [fmt_time(secs) if secs is not None else "✗", note.replace("|", "\\|")]
            log(f"symbolic {name}: sympy {secs} {note}")
        else:
            row += ["not run", ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def versions() -> str:
    from importlib import metadata
    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    for mod in ("indexcalc", "jax", "torch", "autograd", "sympy", "opt_einsum"):
        try:
            parts.append(f"{mod} {metadata.version(mod)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{mod} not installed")
    return ", ".join(parts)


def pinned_note() -> str:
    if not hasattr(os, "sched_getaffinity"):
        return ""
    n = len(os.sched_getaffinity(0))
    return f" (process pinned to {n} core(s))" if n < (os.cpu_count() or 1) else ""


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(args) -> int:
    names = [n.strip().upper() for n in args.problems.split(",") if n.strip()]
    sym_names = {s[0] for s in P.SYMBOLIC}
    eval_names = [n for n in names if n not in sym_names or n[0] != "S"]
    probs = P.select(eval_names) if eval_names or not names else []
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()] or (
        ["small"] if args.quick else ["small", "medium", "large"])
    impls = ["numpy"] + [n for n in args.peers.split(",") if n and n != "numpy"]
    for n in impls:
        if n not in peers.BUILDERS:
            raise SystemExit(f"unknown implementation {n!r}; known: {', '.join(peers.BUILDERS)}")
    repeats = args.repeats or (3 if args.quick else 7)
    budget = args.budget or (3.0 if args.quick else 10.0)
    cap = args.sympy_cap or (10.0 if args.quick else 30.0)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass

    for p in probs:                          # the baselines must be right before timing them
        P.fd_check(p, "small")
    log(f"hand-written baselines agree with finite differences ({len(probs)} problems)")

    started = time.perf_counter()
    rate = costs.dgemm_rate()
    log(f"dgemm: {rate / 1e9:.1f} GFLOP/s ({args.threads} thread(s))")
    notes = Notes()
    load0 = os.getloadavg()[0]
    fresh_runs: dict = {}
    rows, times, ratios = run_eval(probs, sizes, impls, repeats, args.min_sample, budget, notes,
                                   None if args.no_fresh else fresh_runs, args.threads)
    parts = [
        "## Evaluation: time of one derivative call, as a ratio to hand-written NumPy",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {cpu_name()}, {os.cpu_count()} "
        f"cores, {args.threads} thread(s){pinned_note()} · {versions()}",
        f"float64 · median of up to {repeats} samples, each ≥ {args.min_sample * 1e3:.0f} ms "
        f"of calls, after warm-up · agreement: max |x − ref| / max |ref| against NumPy, "
        f"✗ if > {TOL:g}" + (" · **quick run**" if args.quick else ""),
        f"load average (1 min) at start {load0:.2f}, at end {os.getloadavg()[0]:.2f} "
        f"(the machine is shared; ratios come from alternating samples, see README)",
        "",
        eval_table(rows, impls, notes),
    ]
    warm_times: dict[str, float] = {}
    gl, gl_ratios = grad_vs_loss(probs, sizes, impls, repeats, args.min_sample, budget)
    if gl:
        parts += ["", gl]
    if not args.no_symbolic:
        only = names or None
        sym_repeats = 3 * repeats          # cheap, and absolute times need more samples
        parts += ["", "## Symbolic side: parse + differentiate + simplify + compile", "",
                  f"indexcalc: `derivative(text, ...)` then `.compile()`; cold = first in the "
                  f"process, warm = median of {sym_repeats} (text varied by a comment, so no "
                  f"cache hit); first call = one evaluation on small arrays (per-shape "
                  f"planning). SymPy: own process, capped at {cap:.0f} s, import not counted.",
                  "", run_symbolic(notes, not args.no_sympy, cap, sym_repeats, only, warm_times)]
    rate = max(rate, costs.dgemm_rate())     # the machine is shared: the better of two
    cost_rows = [(p, size) for p, size, *_ in rows if p.flops and size in FRESH_SIZES]
    if cost_rows:
        parts += ["", "## Issue 17 workloads: distance to the limit, memory, cold start", "",
                  f"dgemm on this machine: {rate / 1e9:.1f} GFLOP/s (float64, 1000×1000, "
                  f"{args.threads} thread(s), best of 5 at the start and 5 at the end). FLOPs: the hand-written algorithm's "
                  f"count; % of dgemm = FLOPs / warm time / dgemm rate. Cold columns: a fresh "
                  f"process per implementation (`fresh.py`), at sizes {', '.join(FRESH_SIZES)}: "
                  f"import, build + first call (JIT compile / code generation), the second "
                  f"call over the warm median, the resident memory the first call adds "
                  f"(JIT included), NumPy's allocation peak in one warm call (tracemalloc), "
                  f"minor page faults of the first and second call.", "",
                  costs.cost_table(cost_rows, times, fresh_runs, rate, PEER_LABEL, notes)]
    startup: dict = {}
    if not args.no_fresh:
        log("start-up: fresh processes")
        text_, startup = costs.startup_section(args.threads)
        parts += ["", "## Start-up (fresh processes)", "", text_]
    parts += ["", "## Targets (issue 4), as measured in this run", "",
              targets(ratios, times, gl_ratios, warm_times, sizes)]
    parts += ["", "## Targets (issue 17), as measured in this run", "",
              costs.targets17(ratios, fresh_runs, startup, warm_times, PEER_LABEL)]
    parts += ["", "## Targets (issue 14), as measured in this run", "",
              conv.targets14(ratios)]
    parts += ["", f"Whole run: {time.perf_counter() - started:.0f} s."]
    if notes.items:
        parts += ["", "Notes:", ""] + [f"{i + 1}. {t}" for i, t in enumerate(notes.items)]
    text = "\n".join(parts) + "\n"
    print(text)
    out = args.out or (None if args.quick else os.path.join(HERE, "RESULTS.md"))
    if out:
        with open(out, "w") as fh:
            fh.write("# Benchmark results\n\nProduced by `python benchmarks/run.py`; see "
                     "`benchmarks/README.md` for what is measured and how.\n\n" + text)
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
