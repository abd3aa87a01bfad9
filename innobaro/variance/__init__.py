"""Variance engines: the one place where estimators' output becomes a covariance.

An estimator hands :func:`vcov_of` its point estimate, its influence values
(for linearisation) and a function that re-estimates it under a matrix of
replicate weights. :func:`vcov_of` picks the engine for the kind of design:
:func:`linearized_vcov` for a :class:`~innobaro.Design`,
:func:`replicate_vcov` for a :class:`~innobaro.ReplicateDesign`. Estimators,
models and tests never compute a variance themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from ..design import Design, ReplicateDesign, SurveyDesign
from ..twophase import TwoPhaseDesign
from .linearization import Influence, design_df, linearized_vcov
from .replicates import factor_rank_df, replicate_rank_df, replicate_vcov
from .small_sample import Working, small_sample_influence
from .twophase import twophase_vcov

__all__ = [
    "Influence",
    "ReplicateFn",
    "Working",
    "combined_df",
    "degrees_of_freedom",
    "design_df",
    "linearized_vcov",
    "model_df",
    "replicate_vcov",
    "residual_df",
    "vcov_of",
]

#: Re-estimates a statistic under replicate weights: (n, R) -> (R, m). One
#: that also has a method ``from_factors(factors)`` (a
#: :class:`~innobaro.design.ReplicateFactors` -> (R, m)) is given the unit
#: factors instead when the design holds its replicates so (:func:`vcov_of`).
ReplicateFn = Callable[[np.ndarray], np.ndarray]


def vcov_of(design: SurveyDesign, estimate: np.ndarray, influence: Influence,
            replicates: ReplicateFn, *, se: str = "linearized",
            working: Working | None = None) -> np.ndarray:
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
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        R's ``svyglm(std.errors=)``: the Bell-McCaffrey variants first adjust
        the residuals of ``working`` (:mod:`innobaro.variance.small_sample`).
    working : Working, optional
        The estimator's working regression, needed for the Bell-McCaffrey variants.
    """
    if se != "linearized":
        influence = small_sample_influence(design, influence, working, se)
    if isinstance(design, ReplicateDesign):
        # an estimator that can sum per unit first (``from_factors``) skips the
        # (n, R) matrix of replicates held as unit factors
        factored = getattr(replicates, "from_factors", None)
        factors = design.replicate_factors
        reps = (factored(factors) if factored is not None and factors is not None
                else replicates(design.unmasked_replicate_weights))
        return replicate_vcov(design, estimate, reps)
    if isinstance(design, TwoPhaseDesign):  # a Design of the phase-2 rows, both phases
        return twophase_vcov(design, influence)
    if isinstance(design, Design):
        return linearized_vcov(design, influence)
    raise TypeError(f"not a survey design: {type(design).__name__}")


# ----------------------------------------------------------------------------
# degrees of freedom: the one place that knows R's rules (``degf``, svyglm's
# residual degrees of freedom, a statistic of several estimates)
# ----------------------------------------------------------------------------
def degrees_of_freedom(design: SurveyDesign, domain: np.ndarray | None = None,
                       n_domains: int = 1, *, key: Hashable | None = None) -> np.ndarray:
    """Design degrees of freedom of each domain (R's ``degf`` of the domain's design).

    Linearisation: PSUs minus strata among the domain's rows with nonzero
    weight. Replicates: the degrees of freedom given to the design, else the
    rank of the domain's replicate weights minus one. Every degrees of
    freedom in innobaro (a design's ``df``, an estimate's, a model's) comes
    from this rule.

    Parameters
    ----------
    design : Design or ReplicateDesign
    domain : (n,) int array, optional
        Domain code of each row (0 to ``n_domains - 1``), -1 for rows in no
        domain. By default the design's own rows (its :attr:`df`).
    n_domains : int, default 1
        Number of domains.
    key : hashable, optional
        What the domains are (e.g. the ``by`` columns), to cache the result
        on the design for these codes; without it, linearisation designs
        recompute (a quick count) and replicate designs cache by the codes.

    Returns
    -------
    numpy.ndarray
        One value per domain.
    """
    if not isinstance(design, (Design, ReplicateDesign)):
        raise TypeError(f"not a survey design: {type(design).__name__}")
    if isinstance(design, ReplicateDesign) and design.given_df is not None:
        return np.full(n_domains, design.given_df)
    if domain is None:
        return design.cache.domain_df(
            "design", None, lambda: _domain_df(design, np.where(design.present, 0, -1), 1))
    codes = domain
    if key is None:
        if not isinstance(design, ReplicateDesign):
            return _domain_df(design, codes, n_domains)
        key = ("codes", n_domains, codes.tobytes() if codes.size < 64 else
               hash(codes.tobytes()))
    return design.cache.domain_df(key, codes, lambda: _domain_df(design, codes, n_domains))


def _domain_df(design: SurveyDesign, domain: np.ndarray, n_domains: int) -> np.ndarray:
    if isinstance(design, ReplicateDesign):
        factors = design.replicate_factors
        if factors is not None:  # the same rank from the unit factors
            return factor_rank_df(factors.factors, factors.unit, factors.weights, domain,
                                  n_domains)
        rep = design.unmasked_replicate_weights
        order = np.argsort(domain, kind="stable")
        counts = np.bincount(domain[domain >= 0], minlength=n_domains)
        start = int((domain < 0).sum())
        out = np.empty(n_domains)
        for d in range(n_domains):  # one rank per domain, computed once and cached
            rows = order[start:start + counts[d]]
            out[d] = replicate_rank_df(rep, rows)
            start += counts[d]
        return out
    assert isinstance(design, Design)
    infl = Influence(values=np.zeros((domain.size, 0)), domain=domain, n_domains=n_domains)
    return design_df(design, infl)


def model_df(design: SurveyDesign, complete: np.ndarray) -> float:
    """Design degrees of freedom of a model fitted to the ``complete`` rows.

    As R's ``svyglm`` (and ``svyttest``, which fits one) counts them: on a
    linearisation design among the design's rows that are complete in the
    model variables (it drops the others first); on a replicate design among
    all the design's rows (it takes ``degf(design)`` and drops the incomplete
    rows afterwards). Cached per design and pattern of complete rows.

    Parameters
    ----------
    design : Design or ReplicateDesign
    complete : (n,) bool array
        The rows complete in the model's variables.

    Returns
    -------
    float
    """
    present = design.present
    counted = present if isinstance(design, ReplicateDesign) else present & complete
    full = bool(counted.all()) or counted is present
    return design.cache.model_df(
        None if full else np.packbits(counted).tobytes(),
        lambda: float(degrees_of_freedom(design, np.where(counted, 0, -1), 1)[0]))


def residual_df(design: SurveyDesign, complete: np.ndarray, n_coef: int) -> float:
    """Residual degrees of freedom of a model: its design degrees of freedom + 1 - p.

    R's ``svyglm`` rule (``df.residual``), on the degrees of freedom of
    :func:`model_df`; t intervals and tests of the model's coefficients use it.

    Parameters
    ----------
    design : Design or ReplicateDesign
    complete : (n,) bool array
        The rows complete in the model's variables.
    n_coef : int
        Number of estimable coefficients ``p``.

    Returns
    -------
    float
    """
    return model_df(design, complete) + 1 - n_coef


def combined_df(df: Any, used: np.ndarray | None = None) -> float:
    """Degrees of freedom of a statistic computed from several estimates.

    The smallest degrees of freedom among the estimates it uses (those with
    ``used`` true, all of them when none is), as R's ``svycontrast`` and
    ``svychisq`` take the design's.

    Parameters
    ----------
    df : float or array-like
        Degrees of freedom of each estimate (e.g. ``Estimate.df_values``).
    used : (k,) bool array, optional
        The estimates the statistic depends on (a contrast's nonzero
        coefficients).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.variance import combined_df
    >>> combined_df([12.0, 7.0, 9.0]), combined_df([12.0, 7.0, 9.0], np.array([1, 0, 1]) != 0)
    (7.0, 9.0)
    """
    values = np.atleast_1d(np.asarray(df, dtype=float))
    if used is not None:
        used = np.asarray(used, dtype=bool)
        if used.any():
            values = values[used]
    return float(values.min())
