"""Measurements that need a fresh process: cold start, peak memory, start-up time.

A warm timing loop hides what a user meets first: the import, the JIT compile
or code generation, the page faults of a first call.  ``run.py`` therefore
starts this file as a child process, once per (problem, size, implementation)
and once for indexcalc's start-up, and reads one JSON line back:

* ``python fresh.py call PROBLEM SIZE IMPL THREADS``: import the library, build
  the implementation, call it once (cold), a second time, then repeatedly
  (warm median); the peak resident memory each of the first and a warm call
  adds (Linux: the high-water mark is reset through ``/proc/self/clear_refs``),
  minor page faults per call, and for the NumPy-based implementations the
  exact peak of NumPy's allocations during one warm call (``tracemalloc``).
  Every implementation runs under an address-space limit (3 GB above the
  inputs), so a plan that would allocate an n×n×m×m array fails with an
  out-of-memory error instead of filling the machine.
* ``python fresh.py startup THREADS``: ``import indexcalc``, the first
  derivative of S1 (printed in index form), their sum (``first_result_s``),
  which libraries that loaded (optional ones, NumPy, opt_einsum), then NumPy's
  import and the derivative's compile and first call.
* ``python fresh.py mlp40 THREADS``: all 80 gradients of the 40-layer MLP in
  one ``indexcalc.compile`` call, and its first evaluation on small arrays.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

T_START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MEM_LIMIT = 3 << 30                 # bytes of address space allowed above the inputs
LIBRARIES = {"numpy": (), "indexcalc": ("indexcalc",), "icjax": ("indexcalc", "jax"),
             "jax": ("jax",), "torch": ("torch", "torch.func")}
OPTIONAL = ("jax", "torch", "sympy", "scipy", "dask", "IPython", "prompt_toolkit")


def _pin(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(threads)
    if threads < (os.cpu_count() or 1) and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, HERE)
    if os.path.isdir(os.path.join(ROOT, "indexcalc")):
        sys.path.insert(0, ROOT)


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (0 where there is none)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _measured(call):
    """(seconds, peak bytes added, minor faults) of one call."""
    import resource
    ok = _reset_peak()
    rss0 = _status("VmRSS")
    flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    call()
    dt = time.perf_counter() - t0
    flt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0
    peak = max(0, _status("VmHWM") - rss0) if ok else None
    return dt, peak, flt


def _limit_memory() -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = _status("VmSize") + MEM_LIMIT
    if hard == resource.RLIM_INFINITY or want < hard:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def call_main(problem: str, size: str, impl: str) -> dict:
    import numpy as np
    import peers
    import problems as P
    for module in os.environ.get("INDEXCALC_BENCH_MODULES", "workloads").split(","):
        importlib.import_module(module)          # the modules run.py registers problems from
    p = next(q for q in P.PROBLEMS if q.name == problem)
    arrays = p.make(p.sizes[size], np.random.default_rng(20261123))
    _limit_memory()
    t0 = time.perf_counter()
    for module in LIBRARIES[impl]:
        importlib.import_module(module)
    out = {"import_s": time.perf_counter() - t0}
    peers.VERIFY = False                 # the first call below is the cold one
    t0 = time.perf_counter()
    obj = peers.BUILDERS[impl](p, arrays)
    out["build_s"] = time.perf_counter() - t0
    out["first_s"], out["first_peak"], out["first_faults"] = _measured(obj.call)
    out["second_s"], _, out["second_faults"] = _measured(obj.call)
    times, t_end = [], time.perf_counter() + 0.3
    while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 50):
        t0 = time.perf_counter()
        obj.call()
        times.append(time.perf_counter() - t0)
    out["warm_s"] = sorted(times)[len(times) // 2]
    _, out["warm_peak"], out["warm_faults"] = _measured(obj.call)
    if impl in ("numpy", "indexcalc"):
        import tracemalloc
        tracemalloc.start()
        obj.call()
        out["np_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    stats = getattr(obj.handle, "stats", None)
    if callable(stats):                  # indexcalc's own plan report, where it has one
        try:
            out["plan"] = stats()
        except Exception as e:           # noqa: BLE001 - reported, not fatal
            out["plan"] = {"error": f"{type(e).__name__}: {e}"}
    return out


S1 = ("z : vector[n]\nt : vector[n]\no_j = exp(z_j) / sum_i exp(z_i)\n"
      "E = -sum_j t_j log(o_j)")            # problems.SYMBOLIC's S1 (checked below)


def startup_main() -> dict:
    """``import indexcalc``, then the first derivative of S1 printed in index form
    (loading what it needs: neither NumPy nor the compiler), their sum
    (``first_result_s``: what a user waits), then NumPy's import and the compile and
    first call."""
    t0 = time.perf_counter()
    import indexcalc
    t1 = time.perf_counter()
    d = indexcalc.derivative(S1, wrt="z", of="E")
    str(d)
    t2 = time.perf_counter()
    loaded = [m for m in OPTIONAL + ("numpy", "opt_einsum") if m in sys.modules]
    import numpy as np
    t3 = time.perf_counter()
    import problems as P
    name, text, of, wrt, dims = P.SYMBOLIC[0]
    assert (name, text, of, wrt) == ("S1", S1, "E", "z"), "fresh.S1 is not problems' S1"
    t4 = time.perf_counter()
    f = d.compile()
    f(**P.symbolic_inputs(dims, name, np.random.default_rng(0)))
    t5 = time.perf_counter()
    return {"since_start_s": t0 - T_START, "import_s": t1 - t0, "derive_s": t2 - t1,
            "first_result_s": t2 - t0, "numpy_s": t3 - t2, "compile_call_s": t5 - t4,
            "loaded": loaded}


def mlp40_main() -> dict:
    import indexcalc
    import numpy as np
    from indexcalc.testing import mlp_model, random_arrays
    text = mlp_model(40)
    outs = [f"dE/dW{j}" for j in range(40)] + [f"dE/db{j}" for j in range(40)]
    t0 = time.perf_counter()
    f = indexcalc.compile(text, outputs=outs)
    t1 = time.perf_counter()
    model = indexcalc.parse(text)
    arrays = random_arrays(model, 0, sizes={d: 3 for d in model.dims})
    t2 = time.perf_counter()
    f(**arrays)
    t3 = time.perf_counter()
    np.asarray(0)
    return {"compile_s": t1 - t0, "first_call_s": t3 - t2}


def main(argv: list[str]) -> int:
    mode = argv[0]
    threads = int(argv[-1])
    _pin(threads)
    try:
        if mode == "call":
            out = call_main(argv[1], argv[2], argv[3])
        elif mode == "startup":
            out = startup_main()
        elif mode == "mlp40":
            out = mlp40_main()
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except MemoryError as e:
        out = {"error": f"MemoryError: {' '.join(str(e).split())[:200]}"}
    except Exception as e:               # noqa: BLE001 - reported by the parent
        text = " ".join(str(e).split())
        kind = ("MemoryError" if "RESOURCE_EXHAUSTED" in text or "Out of memory" in text
                else type(e).__name__)
        out = {"error": f"{kind}: {text[:300]}"}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
