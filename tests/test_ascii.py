"""``--ascii`` spells every answer in the notation's own ASCII, for every model.

The rule (``ui.views.ascii_text``: a table of symbols, the letters' table of
``read.text``, σ(...) by its name) is checked on generated models against the
printer's own ASCII mode, and its matrix forms are parsed back: the ASCII
formula must compute what the Unicode one computes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from strategies import models

import indexcalc
from indexcalc.errors import IndexcalcError
from indexcalc.testing import random_arrays
from indexcalc.ui.views import ascii_text


def same_formula(model_text: str, unicode_lines: list[str]) -> None:
    """The matrix-form lines, in ASCII, define the same values as in Unicode (evaluated
    on the same random arrays: the canonical order of terms depends on the names)."""
    unicode = indexcalc.parse(model_text + "\n" + "\n".join(unicode_lines))
    spelt = indexcalc.parse(ascii_text(model_text) + "\n"
                            + "\n".join(ascii_text(line) for line in unicode_lines))
    arrays = random_arrays(unicode, seed=1)
    spelt_arrays = {ascii_text(name): value for name, value in arrays.items()}
    for line in unicode_lines:
        name = line.split("=", 1)[0].strip()
        try:
            want = indexcalc.evaluate(unicode, name, **arrays)
        except IndexcalcError:                      # an opaque function: no numbers
            continue
        got = indexcalc.evaluate(spelt, ascii_text(name), **spelt_arrays)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=line)


@settings(max_examples=max(10, settings.default.max_examples // 4), deadline=None)
@given(models())
def test_ascii_answers_are_the_printers_ascii_and_parse_back(case):
    model = indexcalc.parse(case.text)
    assert indexcalc.parse(ascii_text(case.text)).definitions.keys() == model.definitions.keys()
    for w in model.inputs[:2]:
        try:
            d = indexcalc.derivative(model, w, of=case.of)
        except IndexcalcError:
            continue
        assert ascii_text(d.text()) == d.text(ascii=True)
        form = d.matrix()
        assert ascii_text(str(form)).isascii()
        if form.exact and not form.units:     # 1 and I parse back once the notation has them
            same_formula(case.text, form.lines)
