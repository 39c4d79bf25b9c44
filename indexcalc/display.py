"""Rich displays for notebooks: the HTML Jupyter shows for indexcalc's objects.

IPython asks an object for ``_repr_html_``, ``_repr_markdown_`` or
``_repr_latex_`` and shows the richest its front end renders.  Derivatives are
typeset (their LaTeX); models, matrix forms and explanations are text the
user can read and paste back (a matrix form parses in the model's context),
so they are shown as preformatted text under a title.  The helpers here make
every such display escape its text the same way; nothing imports IPython.
"""

from __future__ import annotations



def text_html(text: str, title: str = "", note: str = "") -> str:
    """``text`` preformatted (escaped), under a bold ``title``, above an italic ``note``."""
    import html                         # only a notebook needs it: not at start-up
    parts = ['<div class="indexcalc">']
    if title:
        parts.append(f"<strong>{html.escape(title)}</strong>")
    parts.append(f'<pre style="margin: 0.25em 0">{html.escape(text)}</pre>')
    if note:
        parts.append(f"<em>{html.escape(note)}</em>")
    parts.append("</div>")
    return "\n".join(parts)


def markdown_text(text: str) -> str:
    """``text`` as Markdown that shows it literally: the characters Markdown (and a
    notebook's math finder) would act on are escaped; parentheses are not, since
    ``\\(`` opens inline math in JupyterLab."""
    return "".join("\\" + c if c in "\\`*_[]<>#|$" else c for c in text)


class Explanation(str):
    """A derivation step by step.  A ``str`` in every way, except that IPython
    shows it as text rather than as a quoted literal full of ``\\n``."""

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return text_html(str(self), title="explanation")
