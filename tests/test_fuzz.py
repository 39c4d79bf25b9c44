"""Fuzzing the front door in CI: a few thousand inputs, only IndexcalcError escapes.

The engine is tests/fuzzing.py; tools/fuzz.py runs it for 100,000 inputs and
more.  Here a fixed-seed batch of mutated models and random strings goes
through the whole pipeline (parse, derivative with respect to each variable,
Hessian, text, matrix form, evaluation), and a table of hostile inputs checks
that each limit answers quickly with a clear IndexcalcError, in bounded
memory, never a RecursionError, a hang or a NumPy exception.
"""

from __future__ import annotations

import os
import random
import time
import tracemalloc

import fuzzing
import pytest

import indexcalc
from indexcalc.errors import IndexcalcError, LimitError
from indexcalc.syntax.parse import MAX_TOKENS

CI_INPUTS = int(os.environ.get("INDEXCALC_FUZZ_INPUTS", 2000))
# A hang, not a speed: tests never assert wall-clock performance.  The one-second goal
# per input is measured by tools/fuzz.py and reported in the README; here the alarm of
# fuzzing.run_one (HARD_TIMEOUT) and this bound catch only hangs.
HANG = 30.0


@pytest.fixture(scope="module")
def seeds():
    return fuzzing.SEEDS + fuzzing.generated_seeds(60, derandomize=True)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")   # exp(exp(...)) is inf, not a bug
def test_fuzzed_inputs_raise_only_indexcalc_errors(seeds):
    rng = random.Random(20261123)
    report = fuzzing.Report()
    for k, text in enumerate(fuzzing.inputs(rng, seeds, CI_INPUTS)):
        if len(text) > 20_000:          # the long inputs have their own test below
            continue
        fuzzing.run_one(text, report, seed=k)
    fuzzing.assert_clean(report)
    assert report.inputs >= CI_INPUTS * 0.9 and report.completed > 50, report.summary()


HOSTILE = [
    ("brackets", "x : vector[n]\nE = " + "(" * 5000 + "x_i x_i" + ")" * 5000),
    ("functions", "x : scalar\nf = " + "exp(" * 1000 + "x" + ")" * 1000),
    ("signs", "x : scalar\nf = " + "-" * 5000 + "x"),
    ("powers", "x : scalar\nf = " + "^".join(["x"] * 2000)),
    ("norms", "x : vector[n]\nE = " + "||" * 500 + "x" + "||" * 500),
    ("sums", "x : vector[n]\nf = " + " ".join(f"sum_{{a{j}}}" for j in range(1000))
     + " x[a0]"),
    ("transposes", "A : matrix[n, n]\nB = A" + "ᵀ" * 5000),
    ("primes", "z : scalar\ng = f" + "'" * 5000 + "(z)"),
    ("subscripts", "x : vector[n]\nE = x" + "[" * 1000 + "i" + "]" * 1000),
    ("deep exp", "x : scalar\nf = " + "exp(" * 300 + "x" + ")" * 300),
    ("deep mix", "x : scalar\nf = " + "sin(1 + tanh(" * 150 + "x" + "))" * 150),
    ("long name", "a" * 100_000 + " : vector[n]\nE = sum(" + "a" * 100_000 + ")"),
    ("huge number", "x : scalar\nf = " + "9" * 5000 + " x"),
    ("huge exponent", "x : scalar\nf = 1e99999 x"),
    ("huge power", "x : scalar\nf = 2^2^2^2^2^2^2 x"),
    ("huge dimension", "x : vector[" + "9" * 100 + "]\nf = sum(x)"),
    ("high rank", "T : tensor[" + ", ".join(["n"] * 100) + "]\nf = sum(T)"),
    ("too long", "x : scalar\nf = x" + " + x" * 100_000),
    ("null bytes", "x : vector[n]\x00\nE = x_i\x00 x_i"),
    ("lone surrogate", "x : vector[n]\nE = x_i \ud800 x_i"),
]


@pytest.mark.parametrize("name,text", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_hits_a_clear_limit_quickly(name, text):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fuzzing.pipeline(text)
    except IndexcalcError as e:
        assert str(e)                                  # a message, with a place for text errors
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < HANG, f"{name}: {elapsed:.2f} s"
    assert peak < 200 * 2**20, f"{name}: {peak / 2**20:.0f} MiB"


def test_deep_nesting_is_a_limit_error_not_a_recursion_error():
    for text in ["x : scalar\nf = " + "exp(" * 1000 + "x" + ")" * 1000,
                 "x : scalar\nf = " + "-" * 5000 + "x",
                 "x : scalar\nf = " + "exp(" * 300 + "x" + ")" * 300]:
        with pytest.raises(LimitError):
            m = indexcalc.parse(text)
            indexcalc.derivative(m, "x")


def test_large_valid_inputs_are_bounded():
    """An input just under MAX_TOKENS (8 a term: x _ i x _ i +) goes through the
    whole pipeline in bounded memory."""
    text = "x : vector[n]\nE = " + " + ".join("x_i x_i" for _ in range(MAX_TOKENS // 8 - 2))
    tracemalloc.start()
    try:
        fuzzing.pipeline(text)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 300 * 2**20
