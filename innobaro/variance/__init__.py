"""Variance engines: the one place where influence values become covariances.

:func:`vcov_of` dispatches on the kind of design. For a linearisation
:class:`~innobaro.Design` it is :func:`linearized_vcov`; the replicate-weight
engine plugs in here as well, so estimators, models and tests never compute a
variance themselves.
"""

from __future__ import annotations

import numpy as np

from ..design import Design
from .linearization import Influence, design_df, linearized_vcov

__all__ = ["Influence", "design_df", "linearized_vcov", "vcov_of"]


def vcov_of(design: Design, infl: Influence) -> np.ndarray:
    """Covariance matrix of a statistic with influence values ``infl`` under ``design``."""
    return linearized_vcov(design, infl)
