"""Packages: everything under lib/ plus the default configuration (conf/ -> mlhops._conf).

setup.cfg holds the metadata; this file exists only because a declarative ``packages = find:``
cannot also name a package whose folder (conf/) lies outside ``lib/``.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages("lib"), "mlhops._conf"])
