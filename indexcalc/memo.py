"""Working memory: what the memoised passes remember, and for which model.

The passes are pure functions of immutable expressions, so their results can
be remembered: simplification rounds, the derivatives of one model and their
compiled programs meet the same subtrees again and again.  What is remembered
is only of use for the model being worked on, and a large heap of remembered
expressions makes every full garbage collection of the process slow (half a
second at half a million objects, measured by the fuzzer).

So the memory has an owner.  ``MEMORY`` is the one ``WorkingMemory`` of the
process; a memoised pass registers with it at import (``@memoised(size)``, or
``@on_forget`` for memory kept in another form), and holds nothing but its
bounded cache.  The public entry points (``indexcalc.parse``, ``derivative``,
``evaluate``, ``compile``) say which model they work on with
``MEMORY.work_on(model_text)``: a different model than the last one forgets
everything remembered for it; the same one keeps it.  ``MEMORY.forget()``
(behind ``indexcalc.api.forget`` and ``indexcalc.testing.clear_caches``)
forgets on demand.  Nothing is forgotten as a side effect of anything else,
and forgetting never changes a result, only how long the next one takes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache


class WorkingMemory:
    """The memoised passes' caches, owned by one model at a time."""

    def __init__(self) -> None:
        self._caches: list = []
        self._hooks: list[Callable[[], None]] = []
        self._model: str | None = None        # the text of the model worked on

    def memoised(self, maxsize: int):
        """``functools.lru_cache``, registered to be forgotten with this memory."""
        def wrap(f):
            cached = lru_cache(maxsize=maxsize)(f)
            self._caches.append(cached)
            return cached
        return wrap

    def on_forget(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register ``hook`` (no arguments) to drop working memory kept elsewhere."""
        self._hooks.append(hook)
        return hook

    def work_on(self, model: str) -> None:
        """Work on the model with this text: memory kept for another model goes."""
        if model is not self._model and model != self._model:
            self.forget()
            self._model = model

    def forget(self) -> None:
        """Drop everything remembered (and the owner: the next model starts afresh)."""
        for cached in self._caches:
            cached.cache_clear()
        for hook in self._hooks:
            hook()
        self._model = None

    @property
    def owner(self) -> str | None:
        """The text of the model worked on (None after ``forget``)."""
        return self._model

    def size(self) -> int:
        """How many results the memoised passes hold now."""
        return sum(cached.cache_info().currsize for cached in self._caches)


MEMORY = WorkingMemory()
memoised = MEMORY.memoised
on_forget = MEMORY.on_forget
