"""Where the grammar is: ``grammar/indexcalc.lark``, the single source of the syntax.

The file lives at the top of the source tree, beside ``indexcalc/``; the wheel
ships it as the data package ``indexcalc.grammar`` (``pyproject.toml`` maps the
folder there).  An installed indexcalc reads it from that package; a source
checkout that is imported without being installed reads it from the tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FILE = "indexcalc.lark"
SOURCE_TREE = Path(__file__).resolve().parents[2] / "grammar" / FILE


def grammar_text() -> str:
    """The text of the grammar."""
    try:
        return (resources.files("indexcalc.grammar") / FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return SOURCE_TREE.read_text(encoding="utf-8")
