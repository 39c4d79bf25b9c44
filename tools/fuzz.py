"""The long fuzz run: ``python tools/fuzz.py --count 100000``.

Feeds mutated models, random Unicode, very long and deeply nested inputs
(tests/fuzzing.py) through the whole pipeline and prints what the README
reports: inputs run, IndexcalcErrors (clear refusals, allowed), escapes (any
other exception: bugs), hangs, inputs over the time limit (``--limit``, one
second; and how many are still over when timed again from cold caches: single
timings on a shared machine are noisy), the slowest, and the peak memory
(resident set size, per worker process).  Escapes and slow inputs are written
to ``--out`` (default fuzz-findings.txt) to become regression tests; every
1,000 inputs each worker appends its running counts to ``<out>.progress.<seed>``.
``--workers`` splits the count over processes, each with its own seed.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import random
import resource
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def work(args) -> dict:
    seed, count, generated, progress, limit = args
    warnings.simplefilter("ignore")            # overflow in exp(exp(...)) is not a finding
    import fuzzing
    rng = random.Random(seed)
    seeds = fuzzing.SEEDS + fuzzing.generated_seeds(generated)
    report = fuzzing.Report(limit=limit)
    t0 = time.time()
    for k, text in enumerate(fuzzing.inputs(rng, seeds, count)):
        fuzzing.run_one(text, report, seed=k)
        if progress and (k + 1) % 1000 == 0:
            with open(f"{progress}.{seed}", "a", encoding="utf-8") as f:
                f.write(f"{time.time() - t0:.0f} s: {report.summary()}, "
                        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
                        f" MiB\n")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # a single timing on a shared machine is noisy: an input over the limit is timed again
    still = [(fuzzing.retime(text), text) for _, text in report.slow]
    return {"inputs": report.inputs, "errors": report.errors, "completed": report.completed,
            "escapes": [(t, tb) for t, tb in report.escapes],
            "hangs": report.hangs, "over": report.slow, "slowest": report.slowest,
            "still": [(t, text) for t, text in still if t > limit], "peak_mib": peak_kib / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--generated", type=int, default=200, help="models drawn as seeds")
    ap.add_argument("--out", default="fuzz-findings.txt")
    ap.add_argument("--limit", type=float, default=1.0, help="seconds an input may take")
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    shares = [args.count // args.workers + (k < args.count % args.workers)
              for k in range(args.workers)]
    jobs = [(args.seed * 1000 + k, n, args.generated, args.out + ".progress", args.limit)
            for k, n in enumerate(shares)]
    if args.workers == 1:
        results = [work(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(work, jobs)
    total = {k: sum(r[k] for r in results) for k in ("inputs", "errors", "completed")}
    escapes = [e for r in results for e in r["escapes"]]
    hangs = [h for r in results for h in r["hangs"]]
    over = sorted((o for r in results for o in r["over"]), reverse=True)
    still = sorted((o for r in results for o in r["still"]), reverse=True)
    slowest = max((r["slowest"] for r in results), key=lambda s: s[0])
    peak = max(r["peak_mib"] for r in results)
    elapsed = time.time() - t0
    import fuzzing
    with open(args.out, "w", encoding="utf-8", errors="backslashreplace") as f:
        for text, tb in escapes:
            f.write(f"ESCAPE {text!r}\n{tb}\n")
        for text in hangs:
            f.write(f"HANG {text!r}\n")
        for t, text in over:
            f.write(f"SLOW {t:.3f} s {fuzzing.short(text, 2000)}\n")
        for t, text in still:
            f.write(f"STILL SLOW {t:.3f} s {fuzzing.short(text, 2000)}\n")
    print(f"fuzz run {started:%Y-%m-%d %H:%M} UTC, seed {args.seed}, {args.workers} worker(s), "
          f"{elapsed / 60:.1f} min")
    print(f"inputs {total['inputs']:,}  IndexcalcErrors {total['errors']:,}  "
          f"completed {total['completed']:,}  escapes {len(escapes)}  hangs {len(hangs)}")
    print(f"over {args.limit:g} s: {len(over)}, and {len(still)} again when timed a second time "
          f"(cold);  slowest "
          f"{slowest[0]:.3f} s: {fuzzing.short(slowest[1], 120)}")
    print(f"peak memory (max RSS of a worker): {peak:.0f} MiB")
    for text, tb in escapes[:10]:
        print("ESCAPE", fuzzing.short(text, 200), tb.strip().splitlines()[-1])
    return 1 if escapes or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
