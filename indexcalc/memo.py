"""Working memory: memoised passes, forgotten when a new model is parsed.

The passes are pure functions of immutable expressions, so their results can
be remembered: simplification rounds, the derivatives of one model and their
compiled programs meet the same subtrees again and again.  What is remembered
is only of use for the model being worked on, and a large heap of remembered
expressions makes every full garbage collection of the process slow (half a
second at half a million objects, measured by the fuzzer), so ``forget``
drops all of it; ``indexcalc.parse`` calls it for every new text.
"""

from __future__ import annotations

from functools import lru_cache

_CACHES: list = []
_HOOKS: list = []


def memoised(maxsize: int):
    """``functools.lru_cache``, registered to be forgotten."""
    def wrap(f):
        cached = lru_cache(maxsize=maxsize)(f)
        _CACHES.append(cached)
        return cached
    return wrap


def on_forget(hook):
    """Register ``hook`` (no arguments) to drop working memory kept elsewhere."""
    _HOOKS.append(hook)
    return hook


def forget() -> None:
    for cached in _CACHES:
        cached.cache_clear()
    for hook in _HOOKS:
        hook()
