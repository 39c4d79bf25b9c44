"""Hypothesis profiles for the property tests, chosen by ``HYPOTHESIS_PROFILE``.

* ``ci`` (default): a few hundred examples per property, the whole property
  and fuzz set in well under two minutes on a two-core machine.
* ``long``: tens of thousands of examples per property; the documented long
  run (``tools/long_properties.py`` or
  ``HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py``).
* ``dev``: a handful of examples, for editing the strategies.

Example counts are per property; tests that are expensive per example (Hessians,
JAX/PyTorch) scale their own count down from the profile's with ``scaled``.
Deadlines are off: an example's time depends on the model drawn, and the
fuzz tests measure time per input themselves.
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large],
               print_blob=True)
# CI draws the same examples every run (derandomize): a red CI means a change broke
# something, never that the dice found an old case; finding new cases is the long run's job.
settings.register_profile("ci", max_examples=200, derandomize=True, database=None, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("HYPOTHESIS_LONG_EXAMPLES",
                                                                  20_000)), **_COMMON)
settings.register_profile("dev", max_examples=20, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
