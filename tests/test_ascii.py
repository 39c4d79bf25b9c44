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
        # ASCII but for a ones column 𝟙, which has no ASCII spelling (1 is the number)
        assert ascii_text(str(form)).replace("𝟙", "").isascii()
        if form.exact:
            same_formula(case.text, form.lines)


def test_the_ones_vector_in_ascii_parses_back():
    """𝟙ᵀ is written 1' (the notation's ASCII for it); a ones column keeps 𝟙, since
    the notation has no ASCII spelling for it and a plain 1 is the number."""
    bias = "X : matrix[N, D]\nW : matrix[D, H]\nb : vector[H]\nG : matrix[N, H]\n" \
           "Z = X W + b\nL = sum(G ⊙ Z)"
    form = indexcalc.derivative(bias, "b").matrix()
    assert ascii_text(form.result) == "1' G"
    same_formula(bias, form.lines)
    rows = "Z : matrix[N, C]\nY : matrix[N, C]\nP = softmax(Z)\nL = -sum(Y ⊙ log(P))"
    form = indexcalc.derivative(rows, "Z").matrix()
    assert ascii_text(form.result) == "diag(Y 𝟙) P - Y"
    same_formula(rows, form.lines)
