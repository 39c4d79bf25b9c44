"""Timing and agreement helpers for ``run.py``: calibrated loops, paired samples.

A sample is a loop long enough for ``time.perf_counter`` to be accurate; an
implementation is timed in alternation with its baseline so that load from
other processes on a shared machine hits both alike (``time_paired``).
"""

from __future__ import annotations

import gc
import math
import statistics
import time

import numpy as np


def _calibrate(call, min_sample: float) -> tuple[int, float]:
    """Warm up, then pick an inner loop count so one sample lasts ≥ ``min_sample``;
    returns (inner, seconds per call)."""
    call()                                            # warm-up (JIT compile, caches, planning)
    t0 = time.perf_counter()
    call()
    per = time.perf_counter() - t0
    inner = max(1, math.ceil(min_sample / max(per, 1e-9)))
    if inner > 1:                                     # calibrate on a real loop
        t0 = time.perf_counter()
        for _ in range(inner):
            call()
        per = (time.perf_counter() - t0) / inner
        inner = max(1, math.ceil(min_sample / max(per, 1e-9)))
    return inner, per


def _sample(call, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - t0) / inner


def _repeats(repeats: int, cost: float, budget: float) -> int:
    """Cut repeats (to no fewer than 3, or 1 for very slow calls) to fit ``budget``."""
    fit = int(budget // max(cost, 1e-9))
    return min(repeats, max(fit, 3 if cost * 3 <= budget else 1))


def time_call(call, repeats: int, min_sample: float, budget: float) -> tuple[float, int, int]:
    """Median seconds per call: warm-up, then ``repeats`` samples of ``inner`` calls each,
    ``inner`` chosen so a sample lasts ≥ ``min_sample``.  Returns (seconds, repeats, inner)."""
    inner, per = _calibrate(call, min_sample)
    reps = _repeats(repeats, per * inner, budget)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        samples = [_sample(call, inner) for _ in range(reps)]
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(samples), reps, inner


def time_paired(ref, call, repeats: int, min_sample: float, budget: float):
    """Time ``call`` against the baseline ``ref`` in alternating samples (ref, call, ref,
    call, ...), so load from other processes hits both alike.  Returns (median seconds
    per call, median of the per-pair ratios, the ref samples, repeats, inner)."""
    r_inner, _ = _calibrate(ref, min_sample)
    inner, per = _calibrate(call, min_sample)
    reps = _repeats(repeats, per * inner, budget)
    times, ratios, refs = [], [], []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(reps):
            r = _sample(ref, r_inner)
            t = _sample(call, inner)
            refs.append(r)
            times.append(t)
            ratios.append(t / r)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times), statistics.median(ratios), refs, reps, inner


def rel_error(got: tuple, ref: tuple) -> tuple[float, str]:
    """Worst relative error over the outputs (max |got − ref| / max |ref|); a shape
    mismatch is reported as such."""
    if len(got) != len(ref):
        return math.inf, f"{len(got)} outputs, expected {len(ref)}"
    worst = 0.0
    for g, r in zip(got, ref):
        g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            return math.inf, f"shape {g.shape}, expected {r.shape}"
        scale = max(float(np.max(np.abs(r))) if r.size else 0.0, 1e-300)
        err = float(np.max(np.abs(g - r))) / scale if r.size else 0.0
        if not np.isfinite(err):
            return math.inf, "non-finite values"
        worst = max(worst, err)
    return worst, ""
