"""The version of indexcalc: the one place it is written.

``pyproject.toml`` reads it from here (setuptools' ``attr:``, read without
importing the package), ``indexcalc.__version__`` and ``indexcalc --version``
print it.
"""

__version__ = "0.1.0"
