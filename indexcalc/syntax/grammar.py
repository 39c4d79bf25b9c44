"""Where the grammar is: ``grammar/indexcalc.lark``, the single source of the syntax.

The file lives at the top of the source tree, beside ``indexcalc/``; the wheel
ships it as the data package ``indexcalc.grammar`` (``pyproject.toml`` maps the
folder there).  An installed indexcalc reads it from that package; a source
checkout that is imported without being installed reads it from the tree.

Building the LALR tables from the text takes tens of milliseconds, most of a
fresh process's first parse; ``cache_path`` names a file in the user's cache
directory (XDG's on Linux, else ``platformdirs``'; ``INDEXCALC_CACHE_DIR`` overrides it, an empty
value turns the cache off) where Lark keeps the built parser.  Lark checks a
hash of the grammar, its options and its own version before using the file,
and rebuilds it when they differ; the file name carries a hash of the grammar
too, so two versions of indexcalc never fight over one file.
"""

from __future__ import annotations

import hashlib
import os
import sys
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


def cache_path(text: str) -> str | None:
    """Where Lark may cache the parser built from ``text``; None when there is no
    writable cache directory (the parser is then built in memory each time)."""
    folder = os.environ.get("INDEXCALC_CACHE_DIR")
    if folder is None and sys.platform.startswith("linux"):
        folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(
            "~/.cache"), "indexcalc")    # what platformdirs says on Linux, without its import
    if folder is None:
        import platformdirs
        folder = platformdirs.user_cache_dir("indexcalc", appauthor=False)
    if not folder:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return os.path.join(folder, f"grammar-{digest}.lark-cache")
