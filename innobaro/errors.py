"""Errors and warnings raised by innobaro.

Every exception innobaro raises on purpose is a subclass of
:class:`InnobaroError`, and every warning a subclass of
:class:`InnobaroWarning`, so callers can catch or filter them as a family.
"""

from __future__ import annotations

__all__ = [
    "DesignError",
    "DomainError",
    "EstimationError",
    "InnobaroError",
    "InnobaroWarning",
    "LonelyPSUError",
    "MissingValueError",
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


class InnobaroWarning(UserWarning):
    """Base class of the warnings innobaro issues."""
