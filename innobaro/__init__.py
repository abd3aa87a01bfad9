"""innobaro: design-based survey statistics.

Survey designs with weights, strata, multistage clusters and finite population
corrections; means, totals, ratios, proportions and quantiles for the
population and its domains, with linearisation standard errors that agree with
R's survey package.
"""

from __future__ import annotations

from .comparisons import compare, compare_surveys
from .contrasts import Nonlinear, contrast
from .descriptives import design_effects, naive_design, standardize, var
from .design import (
    HR,
    Design,
    JointProbabilityError,
    PPSError,
    PPSSizeError,
    ReplicateDesign,
    SurveyDesign,
    ppsmat,
)
from .diagnostics import gvif
from .empirical import boxplot_stats, cdf, histogram
from .errors import (
    DesignError,
    DomainError,
    EngineError,
    EstimationError,
    InnobaroError,
    InnobaroWarning,
    LonelyPSUError,
    MissingValueError,
)
from .estimators import mean, proportion, quantile, ratio, total, with_replicates
from .imputation import (
    ImputationError,
    MIEstimate,
    imputation_designs,
    mi_combine,
    with_imputations,
    with_plausible_values,
)
from .independence import chisq_test, goodness_of_fit
from .margins import MarginalEffect, Margins, average_marginal_effect, predictive_margins
from .models import GLMResult, TermTest, anova, glm, logit
from .multinomial import MLogitResult, mlogit
from .ordinal import OrdinalResult, ologit
from .planning import (
    InfeasibleTargetError,
    allocate,
    publishable_size,
    sample_size_difference,
    sample_size_mean,
    sample_size_proportion,
    sample_size_total,
)
from .ranks import ranktest
from .replicate_weights import mrb_bootstrap, sdr_replicates
from .results import Estimate, TestContract, TestResult
from .sae import (
    BHFResult,
    FayHerriotResult,
    SmallAreaConvergenceWarning,
    SmallAreaWarning,
    battese_harter_fuller,
    fay_herriot,
    fay_herriot_fit,
)
from .selection import (
    CertaintyUnitsWarning,
    inclusion_probabilities,
    joint_inclusion_probabilities,
    select,
    select_two_stage,
)
from .tabulate import table
from .two_groups import ttest
from .twophase import TwoPhaseDesign, TwoPhaseError, UnsupportedDesignError
from .weighting import CalibrationError, WeightsSummary

__version__ = "0.1.0.dev0"

#: Subpackages and modules loaded on first use (as scipy's): ``ib.datasets``
#: works after ``import innobaro as ib`` without importing the data readers,
#: the report or matplotlib up front.
_LAZY = ("comparisons", "contrasts", "datasets", "distributions", "formula", "hypotheses",
         "independence", "intervals", "irls", "margins", "models", "plot", "readers",
         "replicate_weights", "report", "results", "tabulate", "two_groups", "variance",
         "weighting")

#: Functions of lazily loaded modules re-exported at the top level, by the
#: module that holds them: ``ib.read_survey`` loads ``innobaro.readers`` when
#: first used.
_LAZY_FUNCTIONS = {"read_survey": "readers"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_FUNCTIONS:
        import importlib

        module = importlib.import_module(f".{_LAZY_FUNCTIONS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'innobaro' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_FUNCTIONS))

__all__ = [
    "HR",
    "BHFResult",
    "CalibrationError",
    "CertaintyUnitsWarning",
    "Design",
    "DesignError",
    "DomainError",
    "EngineError",
    "Estimate",
    "EstimationError",
    "FayHerriotResult",
    "GLMResult",
    "ImputationError",
    "InfeasibleTargetError",
    "InnobaroError",
    "InnobaroWarning",
    "JointProbabilityError",
    "LonelyPSUError",
    "MIEstimate",
    "MLogitResult",
    "MarginalEffect",
    "Margins",
    "MissingValueError",
    "Nonlinear",
    "OrdinalResult",
    "PPSError",
    "PPSSizeError",
    "ReplicateDesign",
    "SmallAreaConvergenceWarning",
    "SmallAreaWarning",
    "SurveyDesign",
    "TermTest",
    "TestContract",
    "TestResult",
    "TwoPhaseDesign",
    "TwoPhaseError",
    "UnsupportedDesignError",
    "WeightsSummary",
    "__version__",
    "allocate",
    "anova",
    "average_marginal_effect",
    "battese_harter_fuller",
    "boxplot_stats",
    "cdf",
    "chisq_test",
    "compare",
    "compare_surveys",
    "contrast",
    "design_effects",
    "fay_herriot",
    "fay_herriot_fit",
    "glm",
    "goodness_of_fit",
    "gvif",
    "histogram",
    "imputation_designs",
    "inclusion_probabilities",
    "joint_inclusion_probabilities",
    "logit",
    "mean",
    "mi_combine",
    "mlogit",
    "mrb_bootstrap",
    "naive_design",
    "ologit",
    "ppsmat",
    "predictive_margins",
    "proportion",
    "publishable_size",
    "quantile",
    "ranktest",
    "ratio",
    "read_survey",
    "sample_size_difference",
    "sample_size_mean",
    "sample_size_proportion",
    "sample_size_total",
    "sdr_replicates",
    "select",
    "select_two_stage",
    "standardize",
    "table",
    "total",
    "ttest",
    "var",
    "with_imputations",
    "with_plausible_values",
    "with_replicates",
]
