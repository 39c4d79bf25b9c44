"""Issue 17's side of the report: FLOPs, the dgemm limit, memory, cold start, start-up.

``run.py`` times warm calls; this module adds what issue 17 asks to be
reported next to them:

* this machine's dgemm rate (``dgemm_rate``), so each workload's time can be
  read as a distance to the limit: FLOPs of the hand-written algorithm over
  time, as a share of dgemm;
* fresh-process measurements per implementation (``fresh.py``): import,
  build + first call (cold), second call, warm median, the resident memory a
  first call adds, NumPy's allocation peak, page faults, and indexcalc's own
  plan report where it has one;
* indexcalc's start-up (import + first derivative of S1) and all gradients of
  a 40-layer MLP, each in a fresh process;
* the issue's targets, each met / **MISSED** with the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FRESH = os.path.join(HERE, "fresh.py")


def dgemm_rate(n: int = 1000, repeats: int = 5) -> float:
    """Best-of-``repeats`` FLOP/s of an n×n float64 matrix product (2 n³ FLOPs)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n ** 3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fresh(args: list[str], threads: int, timeout: float = 180.0) -> dict:
    """Run ``fresh.py`` in a child process; its JSON answer (or an error record).
    The child may write Python's bytecode cache (``PYTHONDONTWRITEBYTECODE``
    dropped), as an installed package has it: ``pip install`` compiles it."""
    cmd = [sys.executable, FRESH, *args, str(threads)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except Exception:                          # noqa: BLE001
        return {"error": f"child failed: {' '.join(r.stderr.split())[-300:]}"}
    out["wall_s"] = wall
    return out


def fmt_bytes(b) -> str:
    if b is None:
        return "—"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b} B"


def fmt_s(s) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def cost_table(rows, times, fresh_runs, rate, labels, notes) -> str:
    """Per workload and implementation: share of dgemm, cold/warm, memory."""
    head = ["problem", "size", "FLOPs (hand)", "implementation", "warm", "% of dgemm",
            "cold: import", "cold: build + 1st call", "2nd call / warm", "1st-call RSS",
            "NumPy alloc peak", "faults: 1st / 2nd call", "plan (indexcalc)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p, size in rows:
        flops = p.flops(p.sizes[size]) if p.flops else None
        for impl in ["numpy"] + [n for n in labels if n != "numpy"]:
            t = times.get((p.name, size, impl))
            f = fresh_runs.get((p.name, size, impl))
            if t is None and f is None:
                continue
            share = f"{100 * flops / t / rate:.0f} %" if flops and t else "—"
            cells = [p.name, size, f"{flops / 1e6:.1f} M" if flops else "—", labels[impl],
                     fmt_s(t), share]
            if f is None:
                cells += ["not run"] + [""] * 6
            elif "error" in f:
                cells += ["error" + notes.add(f"{labels[impl]} on {p.name} {size} in a fresh "
                                              f"process: {f['error']}")] + [""] * 6
            else:
                cold = f["build_s"] + f["first_s"]
                cells += [fmt_s(f["import_s"]), fmt_s(cold),
                          f"{f['second_s'] / f['warm_s']:.2f}×", fmt_bytes(f["first_peak"]),
                          fmt_bytes(f.get("np_peak")),
                          f"{f['first_faults']} / {f['second_faults']}",
                          _plan_cell(f.get("plan"))]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plan_cell(plan) -> str:
    if not plan:
        return "—"
    if "error" in plan:
        return plan["error"][:60]
    parts = []
    if "flops" in plan:
        parts.append(f"{plan['flops'] / 1e6:.1f} MFLOP")
    if "peak_bytes" in plan:
        parts.append(f"peak {fmt_bytes(plan['peak_bytes'])}")
    if "largest_bytes" in plan:
        parts.append(f"largest {fmt_bytes(plan['largest_bytes'])}")
    if "products" in plan:
        parts.append(f"{plan['products']} products")
    return ", ".join(parts)


def startup_section(threads: int, repeats: int = 3) -> tuple[str, dict]:
    """indexcalc's start-up and the 40-layer MLP, each in fresh processes (after
    one discarded run that leaves the bytecode cache as an install does)."""
    runs = [fresh(["startup"], threads) for _ in range(repeats + 1)][1:]
    ok = [r for r in runs if "error" not in r]
    got: dict = {}
    lines = []
    if ok:
        best = min(ok, key=lambda r: r["first_result_s"])
        got["startup"] = best["first_result_s"]
        lines.append(
            f"- start-up (fresh process, best of {len(ok)}): `import indexcalc` "
            f"{fmt_s(best['import_s'])}, first derivative of S1 {fmt_s(best['derive_s'])} "
            f"(sum {fmt_s(got['startup'])}; target ≤ 100 ms), then NumPy's import "
            f"{fmt_s(best['numpy_s'])} and the compile + first call "
            f"{fmt_s(best['compile_call_s'])}; whole process incl. interpreter "
            f"{fmt_s(min(r['wall_s'] for r in ok))}; libraries the derivative loaded: "
            f"{', '.join(best['loaded']) or 'none'}")
    else:
        lines.append(f"- start-up: error {runs[0].get('error')}")
    m = fresh(["mlp40"], threads, timeout=300)
    if "error" in m:
        lines.append(f"- 40-layer MLP: error {m['error']}")
    else:
        got["mlp40"] = m["compile_s"]
        lines.append(f"- all 80 gradients of the 40-layer MLP (`testing.mlp_model(40)`) in one "
                     f"`indexcalc.compile` (fresh process, import excluded): "
                     f"{fmt_s(m['compile_s'])} (target ≤ 0.5 s); first call on 3-element "
                     f"arrays {fmt_s(m['first_call_s'])}")
    return "\n".join(lines), got


def targets17(ratios, fresh_runs, startup, warm_times, labels) -> str:
    """Issue 17's targets as met / MISSED / not measured."""
    out = []

    def line(ok, text):
        mark = "not measured" if ok is None else "met" if ok else "**MISSED**"
        out.append(f"- {mark}: {text}")

    import workloads
    names = {p.name for p in workloads.WORKLOADS}
    ic = {k[:2]: v for k, v in ratios.items() if k[2] == "indexcalc" and k[0] in names}
    bad = {k: v for k, v in ic.items() if v > 1.05}
    line(not bad if ic else None,
         "NumPy backend ≤ 1.05× hand-written NumPy on every issue-17 workload — "
         + (", ".join(f"{p} {s} {v:.2f}×" for (p, s), v in sorted(bad.items()))
            if bad else f"worst {max(ic.values()):.2f}×" if ic else "no timings"))
    for p in workloads.WORKLOADS:
        for (name, size, impl), r in sorted(ratios.items()):
            if name != p.name or impl != "icjax":
                continue
            jx = ratios.get((name, size, "jax"))
            if jx is None:
                continue
            if p.kind == "hessian":
                line(r < jx, f"{name} {size}: indexcalc (JAX backend) {r:.2f}× vs "
                             f"jax.jit(jax.hessian) {jx:.2f}× (must be faster)")
            else:
                line(r <= jx, f"{name} {size}: indexcalc (JAX backend) {r:.2f}× vs "
                              f"jax.jit(jax.grad) {jx:.2f}× (≤ 1.0× of it)")
    for p in workloads.WORKLOADS:
        if p.kind != "hessian":
            continue
        for (name, size, impl), r in sorted(ratios.items()):
            if name != p.name or impl != "indexcalc":
                continue
            peers_ = {n: v for (a, s, n), v in ratios.items()
                      if a == name and s == size and n not in ("indexcalc", "icjax")}
            best_peer = min(peers_.items(), key=lambda kv: kv[1]) if peers_ else None
            if best_peer:
                line(r <= best_peer[1] * 1.0, f"{name} {size}: indexcalc Hessian {r:.2f}× NumPy, "
                     f"best peer {labels[best_peer[0]]} {best_peer[1]:.2f}× (ahead of every peer)")
    cold = {k: v for k, v in fresh_runs.items() if k[2] == "indexcalc" and "error" not in v}
    slow = {k: v["second_s"] / v["warm_s"] for k, v in cold.items()
            if v["second_s"] / v["warm_s"] > 1.1}
    line(not slow if cold else None,
         "a call in a fresh process within 1.1× of a warm one (indexcalc, second call) — "
         + (", ".join(f"{p} {s} {r:.2f}×" for (p, s, _), r in sorted(slow.items())) if slow
            else f"{len(cold)} workloads"))
    if "startup" in startup:
        line(startup["startup"] <= 0.100, f"import indexcalc + first derivative of S1 = "
                                          f"{startup['startup'] * 1e3:.0f} ms (≤ 100 ms)")
    if "mlp40" in startup:
        line(startup["mlp40"] <= 0.5, f"all gradients of a 40-layer MLP in "
                                      f"{startup['mlp40']:.2f} s (≤ 0.5 s)")
    if warm_times:
        worst = max(warm_times.items(), key=lambda kv: kv[1])
        line(worst[1] <= 0.010, f"warm symbolic time ≤ 10 ms on S1–S4, H1–H3 — worst "
                                f"{worst[0]} {worst[1] * 1e3:.1f} ms")
    return "\n".join(out)
