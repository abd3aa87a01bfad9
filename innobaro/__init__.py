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
from .estimators import mean, proportion, quantile, ratio, total, with_replicates
from .hypotheses import (
    Nonlinear,
    chisq_test,
    compare,
    compare_surveys,
    contrast,
    table,
    ttest,
)
from .margins import MarginalEffect, Margins, average_marginal_effect, predictive_margins
from .models import GLMResult, TermTest, glm, logit
from .results import Estimate, TestContract, TestResult
from .weighting import CalibrationError, WeightsSummary

__version__ = "0.1.0.dev0"

__all__ = [
    "CalibrationError",
    "Design",
    "DesignError",
    "DomainError",
    "Estimate",
    "EstimationError",
    "GLMResult",
    "InnobaroError",
    "InnobaroWarning",
    "LonelyPSUError",
    "MarginalEffect",
    "Margins",
    "MissingValueError",
    "Nonlinear",
    "ReplicateDesign",
    "SurveyDesign",
    "TermTest",
    "TestContract",
    "TestResult",
    "WeightsSummary",
    "__version__",
    "average_marginal_effect",
    "chisq_test",
    "compare",
    "compare_surveys",
    "contrast",
    "glm",
    "logit",
    "mean",
    "predictive_margins",
    "proportion",
    "quantile",
    "ratio",
    "table",
    "total",
    "ttest",
    "with_replicates",
]
