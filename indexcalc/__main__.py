"""``python -m indexcalc``: the same as the ``indexcalc`` command."""

import sys

from indexcalc.ui.cli import main

sys.exit(main())
