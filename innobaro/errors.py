"""Errors and warnings raised by innobaro.

Every exception innobaro raises on purpose is a subclass of
:class:`InnobaroError`, and every warning a subclass of
:class:`InnobaroWarning`, so callers can catch or filter them as a family.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = [
    "DesignError",
    "DomainError",
    "EngineError",
    "EstimationError",
    "InnobaroError",
    "InnobaroWarning",
    "LonelyPSUError",
    "MissingValueError",
    "UnsupportedDesignError",
    "warn",
]


class InnobaroError(ValueError):
    """Base class of every error innobaro raises on bad input."""


class DesignError(InnobaroError):
    """The survey design is inconsistent (columns, weights, strata, clusters, fpc)."""


class LonelyPSUError(DesignError):
    """A stratum has a single PSU and ``lonely_psu="fail"``."""


class MissingValueError(InnobaroError):
    """Missing values where the computation cannot proceed without ``na_rm=True``."""


class DomainError(InnobaroError):
    """A domain (subpopulation) is empty or too small for the requested estimate."""


class EstimationError(InnobaroError):
    """The estimator cannot be computed for this variable (wrong type, no variation...)."""


class UnsupportedDesignError(InnobaroError, NotImplementedError):
    """The design asks for something innobaro (like R's survey package) does not do."""


class EngineError(InnobaroError):
    """A data source of a DuckDB or Dask design cannot give a correct answer
    (files whose schemas disagree, a source that changed between passes)."""


class InnobaroWarning(UserWarning):
    """Base class of the warnings innobaro issues."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def warn(message: str, category: type[Warning] = InnobaroWarning) -> None:
    """Issue ``message`` as a warning attributed to the first caller outside
    innobaro, whatever the depth of the library code that found the problem
    (Python 3.12's ``skip_file_prefixes``, for every supported version)."""
    level = 2  # warnings.warn's count for the caller of this function
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
