"""``python -m indexcalc``: the same as the ``indexcalc`` command."""

import sys

from .cli import main

sys.exit(main())
