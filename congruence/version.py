"""The package's version, from the installed metadata (pyproject.toml is the one source of truth).

Its own module at the bottom of the package, so the stages that stamp outputs with it do not import
the package root (which reaches up to :func:`congruence.analyze`).

>>> from congruence.version import __version__
>>> __version__ != ""
True
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("congruence")
except PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
