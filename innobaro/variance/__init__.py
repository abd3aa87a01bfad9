"""Variance engines: the one place where estimators' output becomes a covariance.

An estimator hands :func:`vcov_of` its point estimate, its influence values
(for linearisation) and a function that re-estimates it under a matrix of
replicate weights. :func:`vcov_of` picks the engine for the kind of design:
:func:`linearized_vcov` for a :class:`~innobaro.Design`,
:func:`replicate_vcov` for a :class:`~innobaro.ReplicateDesign`. Estimators,
models and tests never compute a variance themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..design import Design, ReplicateDesign, SurveyDesign
from .linearization import Influence, design_df, linearized_vcov
from .replicates import replicate_rank_df, replicate_vcov

__all__ = [
    "Influence",
    "ReplicateFn",
    "degrees_of_freedom",
    "design_df",
    "linearized_vcov",
    "model_df",
    "replicate_vcov",
    "vcov_of",
]

#: Re-estimates a statistic under replicate weights: (n, R) -> (R, m).
ReplicateFn = Callable[[np.ndarray], np.ndarray]


def vcov_of(design: SurveyDesign, estimate: np.ndarray, influence: Influence,
            replicates: ReplicateFn) -> np.ndarray:
    """Covariance matrix of a statistic under ``design``.

    Parameters
    ----------
    design : Design or ReplicateDesign
    estimate : (m,) array
        Full-sample estimate (the centre of the replicates when ``mse``).
    influence : Influence
        Weighted influence values, used for linearisation designs.
    replicates : callable
        Maps the (n, R) replicate weights to (R, m) replicate estimates, used
        for replicate designs.
    """
    if isinstance(design, ReplicateDesign):
        return replicate_vcov(design, estimate, replicates(design._rep))
    if isinstance(design, Design):
        return linearized_vcov(design, influence)
    raise TypeError(f"not a survey design: {type(design).__name__}")


def degrees_of_freedom(design: SurveyDesign, domain: np.ndarray, n_domains: int
                       ) -> np.ndarray:
    """Design degrees of freedom of each domain (codes ``domain``, -1 outside).

    Linearisation: PSUs minus strata among the domain's rows with nonzero
    weight. Replicates: the degrees of freedom given to the design, else the
    rank of the domain's replicate weights minus one (R's ``degf``).
    """
    if isinstance(design, ReplicateDesign):
        if design._df is not None:
            return np.full(n_domains, design._df)
        key = ("rank_df_domains", n_domains, domain.tobytes() if domain.size < 64 else
               hash(domain.tobytes()))
        if key not in design._cache:
            order = np.argsort(domain, kind="stable")
            counts = np.bincount(domain[domain >= 0], minlength=n_domains)
            start = int((domain < 0).sum())
            out = np.empty(n_domains)
            for d in range(n_domains):  # one rank per domain, computed once and cached
                rows = order[start:start + counts[d]]
                out[d] = replicate_rank_df(design._rep[rows])
                start += counts[d]
            design._cache[key] = out
        return design._cache[key]
    if not isinstance(design, Design):
        raise TypeError(f"not a survey design: {type(design).__name__}")
    infl = Influence(values=np.zeros((domain.size, 0)), domain=domain, n_domains=n_domains)
    return design_df(design, infl)


def model_df(design: SurveyDesign, complete: np.ndarray) -> float:
    """Design degrees of freedom of a model fitted to the ``complete`` rows.

    As R's ``svyglm`` (and ``svyttest``, which fits one) counts them: on a
    linearisation design among the design's rows that are complete in the
    model variables (it drops the others first); on a replicate design among
    all the design's rows (it takes ``degf(design)`` and drops the incomplete
    rows afterwards). Cached per design and pattern of complete rows.
    """
    present = design._present
    counted = present if isinstance(design, ReplicateDesign) else present & complete
    full = bool(counted.all()) or counted is present
    key = ("model_df", None if full else np.packbits(counted).tobytes())
    if key not in design._cache:
        design._cache[key] = float(degrees_of_freedom(design, np.where(counted, 0, -1), 1)[0])
    return float(design._cache[key])
