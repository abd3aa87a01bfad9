"""innobaro: design-based survey statistics.

Survey designs with weights, strata, multistage clusters and finite population
corrections; means, totals, ratios, proportions and quantiles for the
population and its domains, with linearisation standard errors that agree with
R's survey package.
"""

from __future__ import annotations

from .design import Design, ReplicateDesign, SurveyDesign
from .errors import (
    DesignError,
    DomainError,
    EstimationError,
    InnobaroError,
    InnobaroWarning,
    LonelyPSUError,
    MissingValueError,
)
from .estimators import mean, proportion, quantile, ratio, total
from .results import Estimate

__version__ = "0.1.0.dev0"

__all__ = [
    "Design",
    "DesignError",
    "DomainError",
    "Estimate",
    "EstimationError",
    "InnobaroError",
    "InnobaroWarning",
    "LonelyPSUError",
    "MissingValueError",
    "ReplicateDesign",
    "SurveyDesign",
    "__version__",
    "mean",
    "proportion",
    "quantile",
    "ratio",
    "total",
]
