"""Two-phase designs: a phase-2 sample drawn from a phase-1 sample (R's ``twophase``).

The phase-1 sample is drawn from the population (by any one-stage design:
strata, clusters, probabilities, fpc); the phase-2 sample is a stratified
(cluster) sample of the phase-1 units, drawn with probabilities that may use
everything observed at phase 1. Estimates use the phase-2 rows with weights
:math:`1/(\\pi_{1i}\\pi_{2i})`; the variance has a part from each phase.

A :class:`TwoPhaseDesign` is a :class:`~innobaro.Design` of the phase-2 rows
(its strata and clusters are the phase-2 ones, which give its degrees of
freedom, as R's ``degf``), so every estimator and model takes it; the variance
engine (:mod:`innobaro.variance.twophase`) adds the phase-1 part. Calibration
of the phase-2 weights to phase-1 totals (:meth:`TwoPhaseDesign.calibrate`)
is R's ``calibrate(design, phase = 2)``.

References: Breslow, N. E. and Chatterjee, N. (1999), Design and analysis of
two-phase studies with binary outcome applied to Wilms tumour prognosis,
*Applied Statistics* 48, 457-468; Lumley, T. (2010), *Complex Surveys*, ch. 8;
Särndal, C.-E., Swensson, B. and Wretman, J. (1992), *Model Assisted Survey
Sampling*, ch. 9.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._frames import FrameView, as_frame
from ._validate import as_column_list, check_columns, compact_codes, factorize_columns, plain
from .design import Design, LonelyRule, ReplicateDesign, read_only
from .errors import DesignError, MissingValueError, UnsupportedDesignError

__all__ = ["TwoPhaseDesign", "TwoPhaseError", "TwoPhaseStructure", "UnsupportedDesignError"]

TwoPhaseMethod = Literal["full", "approx"]
_PHASE1_KEYS = ("psu", "strata", "weights", "probs", "fpc")
_PHASE2_KEYS = ("psu", "strata", "probs", "fpc")


class TwoPhaseError(DesignError):
    """A two-phase design is inconsistent (phase-2 indicator, strata, probabilities)."""


@dataclass(frozen=True)
class TwoPhaseStructure:
    """What the variance of a two-phase design needs, one value per phase-2 row.

    Attributes
    ----------
    method : {"full", "approx"}
        R's ``twophase(method=)``.
    unit1, stratum1 : (n,) int64
        Phase-1 sampling unit and stratum of each phase-2 row.
    prob1 : (n,) float64
        Phase-1 inclusion probability of the row's unit.
    stage_units1, stage_probs1 : (K, n)
        The phase-1 unit of each row at each of the K stages (nested), and its
        inclusion probability at that stage; with one stage, ``unit1`` and
        ``prob1``.
    n1_units : (H1,) float64
        Phase-1 units sampled in each phase-1 stratum.
    popsize1 : (H1,) float64
        Phase-1 population count of units per stratum (``inf``: with replacement).
    iid1 : bool
        Phase 1 has no probabilities and no fpc (R's identity phase-1 matrix).
    unit2, stratum2 : (n,) int64
        Phase-2 sampling unit and stratum of each row.
    prob2 : (n,) float64
        Phase-2 inclusion probability given phase 1 (before calibration).
    n2_units, popsize2 : (H2,) float64
        Phase-2 units sampled in each phase-2 stratum, and phase-1 units there.
    usu : (n,) float64
        Probability that the row's phase-1 unit is represented at phase 2
        (R's ``usu``; used by ``method="approx"``).
    samescale : bool
        No two phase-2 units share a phase-1 unit (R's ``samescale``).
    base_weights : (n,) float64
        :math:`1/(\\pi_1\\pi_2)` before calibration.
    """

    method: str
    unit1: np.ndarray
    stratum1: np.ndarray
    prob1: np.ndarray
    stage_units1: np.ndarray
    stage_probs1: np.ndarray
    n1_units: np.ndarray
    popsize1: np.ndarray
    iid1: bool
    unit2: np.ndarray
    stratum2: np.ndarray
    prob2: np.ndarray
    n2_units: np.ndarray
    popsize2: np.ndarray
    usu: np.ndarray
    samescale: bool
    base_weights: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, f.name, read_only(value))

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():  # unpickled arrays are writable copies
            object.__setattr__(self, name,
                               read_only(value) if isinstance(value, np.ndarray) else value)


class TwoPhaseDesign(Design):
    """A two-phase sample: phase 2 drawn from the phase-1 sample (R's ``twophase``).

    Parameters
    ----------
    data : pandas.DataFrame or other data frame
        One row per phase-1 unit (the phase-1 sample); variables measured only
        at phase 2 may be missing in the other rows. It is never modified.
    phase1 : dict, optional
        The phase-1 design, with the keys of :class:`~innobaro.Design`:
        ``psu``, ``strata``, ``weights`` or ``probs``, ``fpc``. Several
        stages (``psu`` a list of columns) are sampled with replacement, each
        with its own inclusion probability (``probs``, one column per stage,
        as R's ``probs = ~p1 + p2 + p3``).
        Empty (the default): every row is its own unit, sampled with
        probability 1 from an infinite population (R's ``id = ~1`` at phase 1,
        as in case-cohort studies).
    phase2 : dict, optional
        The phase-2 design given phase 1: ``strata`` (columns known for every
        phase-1 row), ``psu`` (one column), ``probs`` (conditional inclusion
        probabilities) and ``fpc`` (phase-1 units per phase-2 stratum). Without
        ``probs``, phase 2 is a stratified simple random sample: the
        probability is :math:`n_{2h}/N_{2h}`, phase-2 units over phase-1 units
        in the stratum. Empty: a simple random subsample.
    subset : str or array-like of bool
        Which rows are in phase 2: a boolean (or 0/1) column, or a boolean
        array or Series over the rows of ``data``.
    method : {"full", "approx"}, default "full"
        The variance (R's ``method=``): ``"full"``, the Horvitz-Thompson form
        with the joint inclusion probabilities of both phases (Lumley 2010,
        sec. 8.2); ``"approx"``, the sum of a phase-1 variance estimated from
        the phase-2 rows and the phase-2 variance given phase 1 (Breslow and
        Chatterjee 1999).
    lonely_psu : {"fail", "remove", "certainty"}, default "fail"
        What a phase-2 stratum with a single unit contributes to the
        ``"approx"`` variance (the ``"full"`` variance needs no rule).

    Notes
    -----
    With weighted influence values :math:`z_i` of a statistic on the
    phase-2 rows, ``method="full"`` computes

    .. math::

        \\hat V = \\sum_{i,j \\in s_2} \\check\\Delta_{ij} z_i z_j^\\top,
        \\qquad \\check\\Delta = \\check\\Delta_1 + \\check\\Delta_2
                               - \\check\\Delta_1 \\circ \\check\\Delta_2,

    where :math:`\\check\\Delta_{p,ij} = (\\pi_{p,ij} - \\pi_{p,i}\\pi_{p,j})/\\pi_{p,ij}` of
    phase :math:`p` (for a stratified simple random sample, :math:`1 - f_h` on
    the diagonal and :math:`-(1-f_h)/(n_h-1)` within a stratum), and reports
    the phase-2 part :math:`\\sum \\check\\Delta_{2,ij} z_i z_j^\\top`
    separately. ``method="approx"`` adds the usual stratified variance of the
    phase-2 design to a phase-1 variance in which each phase-1 unit is
    weighted by the inverse of its probability of appearing at phase 2.
    Phase 1 of ``"full"`` follows R's survey 4.1: without probabilities and
    fpc, :math:`\\check\\Delta_1 = I`; with probabilities and no fpc, Poisson
    sampling of the phase-1 units.

    References
    ----------
    .. [1] Breslow, N. E. and Chatterjee, N. (1999). Design and analysis of
       two-phase studies with binary outcome applied to Wilms tumour
       prognosis. *Applied Statistics* 48, 457-468.
    .. [2] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*,
       ch. 8. Wiley.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4,
    ...                    "y": [1.0, 2, None, None, 4, 5, 6, None],
    ...                    "in2": [True, True, False, False, True, True, True, False]})
    >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
    >>> d.weights.tolist()
    [2.0, 2.0, 1.3333333333333333, 1.3333333333333333, 1.3333333333333333]
    >>> round(float(ib.mean(d, "y").estimate.iloc[0]), 4)
    3.25
    """

    _phase1_data: pd.DataFrame
    _phase1_weights: np.ndarray
    _in_phase2: np.ndarray
    _structure: TwoPhaseStructure
    _method: str
    _phase_spec: dict[str, Any]

    def __init__(self, data: Any, *, phase1: dict[str, Any] | None = None,
                 phase2: dict[str, Any] | None = None, subset: Any,
                 method: TwoPhaseMethod = "full", lonely_psu: LonelyRule = "fail") -> None:
        frame = as_frame(data)
        if isinstance(frame, FrameView):
            frame = frame.to_pandas()
        if len(frame) == 0:
            raise DesignError("data has no rows")
        if method not in ("full", "approx"):
            raise TwoPhaseError(f"method must be 'full' or 'approx'; got {method!r}")
        if lonely_psu not in ("fail", "remove", "certainty"):
            raise UnsupportedDesignError(
                f"lonely_psu={lonely_psu!r} is not available for two-phase designs; "
                f"use 'fail', 'remove' or 'certainty'")
        p1 = _phase_args(phase1, _PHASE1_KEYS, "phase1")
        p2 = _phase_args(phase2, _PHASE2_KEYS, "phase2")
        in2 = _phase2_mask(frame, subset)
        full = frame.copy(deep=False)
        sample = frame.loc[in2]
        structure, w1 = _structure(full, in2, p1, p2, method)

        super().__init__(sample, strata=p2["strata"] or None, psu=p2["psu"] or None,
                         nest=True, lonely_psu="certainty")  # the engine applies the rule
        self._lonely_psu = lonely_psu
        self._w = read_only(structure.base_weights)
        self._phase1_data = full
        self._phase1_weights = read_only(w1)
        self._in_phase2 = read_only(in2)
        self._structure = structure
        self._method = method
        self._phase_spec = {"phase1": p1, "phase2": p2,
                            "subset": subset if isinstance(subset, str) else "mask"}

    # ---------------------------------------------------------------- accessors
    @property
    def method(self) -> str:
        """The variance method, ``"full"`` or ``"approx"`` (R's ``twophase(method=)``)."""
        return self._method

    @property
    def structure(self) -> TwoPhaseStructure:
        """Units, strata and probabilities of both phases for the phase-2 rows (advanced)."""
        return self._structure

    @property
    def phase1_data(self) -> pd.DataFrame:
        """The phase-1 sample as given (a shallow copy; do not modify)."""
        return self._phase1_data

    @property
    def phase1_weights(self) -> np.ndarray:
        """Phase-1 sampling weights :math:`1/\\pi_1` of every phase-1 row (read-only)."""
        return self._phase1_weights

    @property
    def in_phase2(self) -> np.ndarray:
        """Boolean mask over the phase-1 rows: which are in phase 2 (read-only)."""
        return self._in_phase2

    @property
    def n_phase1(self) -> int:
        """Number of phase-1 rows."""
        return int(self._in_phase2.size)

    def row_mask(self, mask: Any) -> np.ndarray:
        """A boolean array over the phase-2 rows from a mask as :meth:`subset` takes it.

        As :meth:`innobaro.Design.row_mask`; in addition a boolean Series or
        array over the *phase-1* rows (e.g. ``data["sector"] == "a"`` of the
        data given) is read at the phase-2 rows.

        Parameters
        ----------
        mask : array-like of bool, pandas Series, or str
            Over the phase-2 rows or the phase-1 rows, or an expression.

        Returns
        -------
        numpy.ndarray
            Boolean, one value per phase-2 row.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> d.row_mask(df["g"] == "b").tolist()
        [False, True, True]
        """
        if isinstance(mask, pd.Series) and len(mask) == self.n_phase1 != self.n \
                and mask.index.equals(self._phase1_data.index):
            mask = mask[self._in_phase2]
        elif not isinstance(mask, (str, pd.Series)) and np.shape(mask) == (self.n_phase1,) \
                and self.n_phase1 != self.n:
            mask = np.asarray(mask)[self._in_phase2]
        return super().row_mask(mask)

    def __repr__(self) -> str:
        st = self._structure
        lines = [f"TwoPhaseDesign: method = {self._method!r}",
                 f"  phase 1: {self.n_phase1} rows, {int(st.n1_units.sum())} units in "
                 f"{st.n1_units.size} strata",
                 f"  phase 2: {self.n} rows, {self.n_psu} units in {self.n_strata} strata, "
                 f"df = {self.df:g}"]
        if self._domain_label is not None:
            lines.append(f"  domain: {self._domain_label} "
                         f"({int(self._present.sum())} of {self.n} rows)")
        if self.calibration_steps:
            lines.append(f"  phase 2 calibrated ({len(self.calibration_steps)} step(s))")
        return "\n".join(lines)

    def phase1_totals(self, formula: str) -> dict[str, float]:
        """Phase-1 estimates of the totals of a model matrix's columns.

        :math:`\\sum_{i \\in s_1} x_i / \\pi_{1i}`: the totals that
        :meth:`calibrate` meets by default (R's ``calibrate(phase = 2)`` sums
        the phase-1 rows; with equal phase-1 weights, as in R's examples,
        the calibrated weights are the same).

        Parameters
        ----------
        formula : str
            A patsy formula without response, e.g. ``"~ C(stage) + age"``.

        Returns
        -------
        dict
            ``{column name: total}`` in the model matrix's order.

        Raises
        ------
        MissingValueError
            When a variable of the formula is missing in a phase-1 row.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
        ...                    "in2": [True, True, False, False, True, True, True, False]})
        >>> ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2").phase1_totals("~ x")
        {'Intercept': 8.0, 'x': 36.0}
        """
        from .formula import model_frame

        _, X, spec, kept = model_frame(formula, self._phase1_data, response=False)
        if not kept.all():
            raise MissingValueError(f"calibrate: the variables of {formula!r} are missing in "
                                    f"{int((~kept).sum())} phase-1 row(s); phase-1 totals "
                                    f"need them in every phase-1 row")
        totals = np.asarray(X).T @ self._phase1_weights
        return {str(name): float(t) for name, t in zip(spec.column_names, totals, strict=True)}

    # ---------------------------------------------------------------- weighting
    def calibrate(self, totals: Any = None, *, formula: str | None = None,  # type: ignore[override]
                  method: str = "linear", bounds: tuple[float, float] | None = None,
                  max_iter: int = 50, tol: float = 1e-7, phase: int = 2, **options: Any
                  ) -> TwoPhaseDesign:
        """Calibrate the phase-2 weights to phase-1 totals (R's ``calibrate(phase = 2)``).

        The phase-2 weights :math:`1/(\\pi_1\\pi_2)` become :math:`g_i/(\\pi_1\\pi_2)`
        with :math:`\\sum_{s_2} g_i x_i/(\\pi_{1i}\\pi_{2i}) = T`, by default the
        phase-1 estimates :math:`T = \\sum_{s_1} x_i/\\pi_{1i}`: the standard
        adjustment of respondents (phase 2) to the frame (phase 1). The phase-2
        part of the variance then uses the residuals of the calibration model
        (Deville and Särndal 1992); the phase-1 part is unchanged.

        Parameters
        ----------
        totals : dict or pandas.Series, optional
            Totals of the model matrix's columns; by default the phase-1
            totals of ``formula`` (:meth:`phase1_totals`).
        formula : str, optional
            A patsy formula without response, e.g. ``"~ C(stage) + age"``.
        method : {"linear", "raking", "logit", "rrz"}, default "linear"
            The distance (see :func:`innobaro.weighting.calibrate`), or
            ``"rrz"``: :meth:`estimate_weights` with ``formula`` (R's
            ``calfun = "rrz"``).
        bounds : (lower, upper), optional
            Bounds on the g-weights.
        max_iter : int, default 50
            Newton iterations.
        tol : float, default 1e-7
            Convergence tolerance.
        phase : int, default 2
            Only phase 2 can be calibrated.
        **options
            The other options of :func:`innobaro.weighting.calibrate`
            (``variance=``, per-unit bounds, ``bounds_const=``, ``aggregate_*``,
            ``"sinh"``): not available for a two-phase design, an
            :class:`UnsupportedDesignError` naming them.

        Returns
        -------
        TwoPhaseDesign
            The design with calibrated phase-2 weights.

        Raises
        ------
        UnsupportedDesignError
            For ``phase=1``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
        ...                    "in2": [True, True, False, False, True, True, True, False]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> round(float(ib.total(d.calibrate(formula="~ x"), "x").estimate.iloc[0]), 6)
        36.0
        """
        if options:
            raise UnsupportedDesignError(
                f"calibrate: {', '.join(f'{k}=' for k in options)} "
                f"{'is' if len(options) == 1 else 'are'} not available for a two-phase design "
                f"(the phase-2 variance after calibration is checked against R for the "
                f"linear, raking and logit distances with bounds only)")
        if phase == 1:
            raise UnsupportedDesignError("calibration of phase 1 is not available (nor in R's "
                                         "survey 4.1 for method='approx'); calibrate phase 2")
        if phase != 2:
            raise TwoPhaseError(f"phase must be 1 or 2; got {phase!r}")
        if method == "rrz":  # R's calfun = "rrz": estimated response probabilities
            if formula is None:
                raise TwoPhaseError("calibrate(method='rrz') needs a formula")
            return self.estimate_weights(formula)
        if totals is None:
            if formula is None:
                raise TwoPhaseError("calibrate: give a formula (to calibrate to its phase-1 "
                                    "totals) or totals")
            totals = self.phase1_totals(formula)
        from .weighting import calibrate

        out: TwoPhaseDesign = calibrate(self, totals, formula=formula, method=method,
                                        bounds=bounds, max_iter=max_iter, tol=tol)
        return out

    def estimate_weights(self, formula: str, *, max_iter: int = 50, tol: float = 1e-12
                         ) -> TwoPhaseDesign:
        """Phase-2 probabilities from a logistic model of being in phase 2 (R's ``estWeights``).

        The phase-2 indicator is regressed on the phase-1 variables of
        ``formula`` by unweighted logistic regression over the phase-1 rows
        (leaving out phase-2 strata taken whole, which keep probability 1), and
        the fitted probabilities :math:`\\hat p_i` replace the phase-2
        probabilities: the weights become :math:`1/(\\pi_{1i}\\hat p_i)`. This
        is response-propensity weighting when phase 2 are the respondents. The
        phase-2 part of the variance uses the residuals of the weighted
        regression of the influence values on the model's columns, as a
        calibration (Robins, Rotnitzky and Zhao 1994; R's
        ``calibrate(phase = 2, calfun = "rrz")``).

        Parameters
        ----------
        formula : str
            A patsy formula without response, with an intercept, over the
            phase-1 data, e.g. ``"~ C(stage) + age"``.
        max_iter : int, default 50
            Newton iterations of the logistic fit.
        tol : float, default 1e-12
            Convergence: the largest change of a coefficient, relative to
            ``1 + |coefficient|``.

        Returns
        -------
        TwoPhaseDesign
            The design with estimated phase-2 weights.

        Raises
        ------
        TwoPhaseError
            When the formula has no intercept.
        EstimationError
            When the logistic fit does not converge (e.g. separation).

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6, 7, 8],
        ...                    "in2": [True, False, True, False, True, True, False, True]})
        >>> d = ib.TwoPhaseDesign(df, subset="in2").estimate_weights("~ x")
        >>> d.weights.round(3).tolist()
        [1.716, 1.647, 1.584, 1.555, 1.501]
        """
        from .errors import EstimationError
        from .formula import model_frame
        from .variance.calibration import Basis, CalibrationStep

        _, X, spec, kept = model_frame(formula, self._phase1_data, response=False)
        if not kept.all():
            raise MissingValueError(f"estimate_weights: the variables of {formula!r} are "
                                    f"missing in {int((~kept).sum())} phase-1 row(s)")
        if "Intercept" not in spec.column_names:
            raise TwoPhaseError(f"estimate_weights: the formula {formula!r} must have an "
                                f"intercept")
        X = np.asarray(X, dtype=float)
        st = self._structure
        in2 = self._in_phase2
        certain2 = (st.popsize2 == st.n2_units)[st.stratum2]
        certain = np.zeros(in2.size, dtype=bool)
        certain[in2] = certain2
        fit_rows = ~certain
        Xf, y = X[fit_rows], in2[fit_rows].astype(float)
        beta = np.zeros(X.shape[1])
        converged = False
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for _ in range(max_iter):  # Newton's iterations, not rows
                p = 1 / (1 + np.exp(-(Xf @ beta)))
                try:
                    step = np.linalg.solve((Xf * (p * (1 - p))[:, None]).T @ Xf,
                                           Xf.T @ (y - p))
                except np.linalg.LinAlgError:
                    break
                beta = beta + step
                if not np.all(np.isfinite(beta)):
                    break
                if np.all(np.abs(step) <= tol * (1 + np.abs(beta))):
                    converged = True
                    break
        if not converged:
            raise EstimationError(f"estimate_weights: the logistic model {formula!r} of being "
                                  f"in phase 2 did not converge in {max_iter} iterations "
                                  f"(separation?)")
        X2 = X[in2]
        fitp = np.where(certain2, 1.0, 1 / (1 + np.exp(-(X2 @ beta))))
        old = self.unmasked_weights
        new = self._phase1_weights[in2] / fitp
        g = new / old
        mm = np.where(certain2[:, None], 0.0, X2)
        if certain2.any():
            mm = np.column_stack([certain2.astype(float), mm])
        K = np.linalg.inv((mm * old[:, None]).T @ mm)
        basis = Basis(K=K, a_values=new, f_values=1 / g, x=np.asfortranarray(mm),
                      scale=np.ones(mm.shape[1]))
        out: TwoPhaseDesign = self.with_weights(
            new, calibration=CalibrationStep(bases=(basis,), kind="response propensity"))
        return out

    def with_weights(self, weights: Any, replicate_weights: Any = None, *,
                     calibration: Any = None, weighting_log: tuple[Any, ...] | None = None,
                     same_support: bool = False) -> TwoPhaseDesign:
        """New phase-2 weights: only from :meth:`calibrate` and :meth:`estimate_weights`.

        Every weighting function of :mod:`innobaro.weighting` sets a design's
        weights through this one method. A two-phase design's variance knows
        only calibration of phase 2 (and its special case, estimated
        response propensities), so any other re-weighting (post-stratification,
        raking, trimming, a nonresponse adjustment, weights given by hand, or a
        weighting function added later) is refused here, whichever way it is
        called.

        Parameters
        ----------
        weights, replicate_weights, calibration, weighting_log, same_support
            As :meth:`innobaro.Design.with_weights`.

        Returns
        -------
        TwoPhaseDesign
            With the calibrated weights.

        Raises
        ------
        UnsupportedDesignError
            For any re-weighting but calibration of phase 2.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     ib.weighting.trim_weights(d, upper=1.5)
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        kind = str(getattr(calibration, "kind", ""))
        if replicate_weights is not None or not (kind.startswith("calibrate")
                                                 or kind == "response propensity"):
            raise UnsupportedDesignError(
                "re-weighting a two-phase design other than by calibrating phase 2 is not "
                "available (nor in R's survey package): its variance would not know the "
                "step; use calibrate(...) (post-stratification is calibrate(formula="
                "'~ C(by)')) or estimate_weights(formula)")
        return super().with_weights(weights, calibration=calibration,
                                    weighting_log=weighting_log, same_support=same_support)

    def poststratify(self, by: Any, totals: Any, *args: Any, **kwargs: Any
                     ) -> TwoPhaseDesign:
        """Not available: post-stratify phase 2 with :meth:`calibrate` on ``C(by)``.

        Parameters
        ----------
        by, totals, *args, **kwargs
            As :meth:`innobaro.Design.poststratify`.

        Returns
        -------
        TwoPhaseDesign
            Never: always raises :class:`UnsupportedDesignError` (as R's
            ``postStratify`` of a two-phase design).

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     d.poststratify("g", {"a": 4, "b": 4})
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        raise _no_weighting("poststratify", "calibrate(formula='~ C(by)')")

    def rake(self, margins: dict[str, Any], *args: Any, **kwargs: Any) -> TwoPhaseDesign:
        """Not available: rake phase 2 with :meth:`calibrate` and ``method="raking"``.

        Parameters
        ----------
        margins, *args, **kwargs
            As :meth:`innobaro.Design.rake`.

        Returns
        -------
        TwoPhaseDesign
            Never: always raises :class:`UnsupportedDesignError`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     d.rake({"g": {"a": 4, "b": 4}})
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        raise _no_weighting("rake", "calibrate(formula=..., method='raking')")

    def trim_weights(self, *args: Any, **kwargs: Any) -> TwoPhaseDesign:
        """Not available for two-phase designs.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`innobaro.Design.trim_weights`.

        Returns
        -------
        TwoPhaseDesign
            Never: always raises :class:`UnsupportedDesignError`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     d.trim_weights(upper=1.5)
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        raise _no_weighting("trim_weights", "calibrate(..., bounds=(lower, upper))")

    def adjust_nonresponse(self, respondent: Any, *args: Any, **kwargs: Any
                           ) -> TwoPhaseDesign:
        """Not available: respondents are phase 2; calibrate them to the frame.

        Parameters
        ----------
        respondent, *args, **kwargs
            As :meth:`innobaro.Design.adjust_nonresponse`.

        Returns
        -------
        TwoPhaseDesign
            Never: always raises :class:`UnsupportedDesignError`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     d.adjust_nonresponse("in2")
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        raise _no_weighting("adjust_nonresponse", "calibrate(formula='~ C(by)')")

    def adjust_propensity(self, respondent: Any, *args: Any, **kwargs: Any
                          ) -> TwoPhaseDesign:
        """Not available: model phase 2 on phase 1 with :meth:`estimate_weights`.

        Parameters
        ----------
        respondent, *args, **kwargs
            As a design's response-propensity adjustment.

        Returns
        -------
        TwoPhaseDesign
            Never: always raises :class:`UnsupportedDesignError`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     d.adjust_propensity("in2", "~ g")
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        raise _no_weighting("adjust_propensity", "estimate_weights(formula)")

    def replicate(self, method: str, *, replicates: int | None = None,
                  seed: int | np.random.Generator | None = None, rho: float | None = None,
                  mse: bool = False, hadamard: np.ndarray | None = None,
                  sort: str | Sequence[str] | None = None) -> ReplicateDesign:
        """Not available: R's survey has no replicate weights for two-phase designs either.

        Parameters
        ----------
        method, replicates, seed, rho, mse, hadamard, sort
            As :meth:`innobaro.Design.replicate`.

        Returns
        -------
        ReplicateDesign
            Never: always raises :class:`UnsupportedDesignError`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"g": list("aabb"), "in2": [True, False, True, True]})
        >>> d = ib.TwoPhaseDesign(df, phase2={"strata": "g"}, subset="in2")
        >>> try:
        ...     d.replicate("jk1")
        ... except ib.UnsupportedDesignError:
        ...     print("not for two-phase designs")
        not for two-phase designs
        """
        raise UnsupportedDesignError("replicate weights for a two-phase design are not "
                                     "available (nor in R's survey package); its variance "
                                     "is linearised")


def _no_weighting(name: str, instead: str) -> UnsupportedDesignError:
    return UnsupportedDesignError(f"{name} is not available for a two-phase design (nor in "
                                  f"R's survey package); use {instead}, which calibrates "
                                  f"phase 2")


# ------------------------------------------------------------------ building
def _phase_args(spec: dict[str, Any] | None, keys: tuple[str, ...], what: str
                ) -> dict[str, Any]:
    spec = dict(spec or {})
    unknown = [k for k in spec if k not in keys]
    if unknown:
        raise TwoPhaseError(f"{what} has unknown key(s) {', '.join(map(repr, unknown))}; "
                            f"use {', '.join(keys)}")
    out: dict[str, Any] = {}
    for key in keys:
        value = spec.get(key)
        if key == "weights" or (key == "probs" and what == "phase2"):
            if value is not None and not isinstance(value, str):
                raise TwoPhaseError(f"{what}[{key!r}] must be a column name")
            out[key] = value
            continue
        cols = as_column_list(value, f"{what} {key}")
        if key == "psu" and len(cols) > 1 and what == "phase2":
            raise UnsupportedDesignError(
                "phase2: multistage sampling at phase 2 is not available; give one psu "
                "column (the phase-2 sampling units)")
        if key == "fpc" and len(cols) > 1:
            raise UnsupportedDesignError(
                f"{what}: fpc for more than one stage is not available; later stages of "
                f"phase 1 are taken with replacement (give probs, one column per stage)")
        out[key] = cols
    if what == "phase1":
        n_stages = max(len(out["psu"]), 1)
        probs = out["probs"]
        out["probs"] = probs or None
        if probs and len(probs) not in (1, n_stages):
            raise TwoPhaseError(f"phase1 has {n_stages} stage(s) but {len(probs)} probs "
                                f"columns: give one per stage (or one for a one-stage "
                                f"phase 1)")
        if n_stages > 1:
            if out["fpc"]:
                raise UnsupportedDesignError(
                    "phase1: fpc with several stages is not available; the stages are "
                    "taken with replacement, with one probs column per stage")
            if out.get("weights") is not None or (probs and len(probs) != n_stages):
                raise TwoPhaseError("phase1 with several stages needs probs with one "
                                    "column per stage (each stage's inclusion probability, "
                                    "as R's probs = ~p1 + p2 + ...)")
    if out.get("weights") is not None and out.get("probs") is not None:
        raise TwoPhaseError(f"{what}: give weights or probs, not both")
    return out


def _phase2_mask(data: pd.DataFrame, subset: Any) -> np.ndarray:
    if isinstance(subset, str):
        check_columns(data, [subset], "subset")
        values = data[subset]
        name = f"column {subset!r}"
    elif isinstance(subset, pd.Series):
        if not subset.index.equals(data.index):
            outside = ~subset.index.isin(data.index)
            if outside.any():
                raise TwoPhaseError(
                    f"the phase-2 indicator has {int(outside.sum())} row(s) that are not "
                    f"phase-1 rows (index {plain(subset.index[np.argmax(outside)])}): phase 2 "
                    f"must be a subset of phase 1")
            if len(subset) != len(data):
                raise TwoPhaseError(f"the phase-2 indicator has {len(subset)} values; the "
                                    f"phase-1 data have {len(data)} rows")
            subset = subset.reindex(data.index)
        values = subset
        name = "the phase-2 indicator"
    else:
        arr = np.asarray(subset)
        if arr.shape != (len(data),):
            raise TwoPhaseError(f"the phase-2 indicator has shape {arr.shape}; the phase-1 "
                                f"data have {len(data)} rows: phase 2 must be marked on "
                                f"every phase-1 row")
        values = pd.Series(arr, index=data.index)
        name = "the phase-2 indicator"
    if values.isna().any():
        raise MissingValueError(f"{name} has {int(values.isna().sum())} missing value(s); "
                                f"every phase-1 row must be marked in or out of phase 2")
    if isinstance(values.dtype, pd.BooleanDtype) or values.dtype == bool:
        mask = values.to_numpy(dtype=bool)
    elif pd.api.types.is_numeric_dtype(values) and values.isin([0, 1]).all():
        mask = values.to_numpy() == 1
    else:
        bad = values[~values.isin([0, 1, True, False])]
        example = plain(bad.iloc[0]) if len(bad) else plain(values.iloc[0])
        raise TwoPhaseError(f"{name} must be boolean (or 0/1); it has the value {example}")
    if not mask.any():
        raise TwoPhaseError(f"{name} selects no row: phase 2 is empty")
    return mask


def _codes(data: pd.DataFrame, cols: list[str], what: str) -> np.ndarray:
    if not cols:
        return np.zeros(len(data), dtype=np.int64)
    codes, _ = factorize_columns(data, cols, what, labels=False)
    return codes


def _labels(data: pd.DataFrame, cols: list[str], codes: np.ndarray, which: np.ndarray
            ) -> str:
    rows = [int(np.argmax(codes == c)) for c in which[:5]]  # at most five examples
    return ", ".join(" / ".join(plain(data[c].iloc[r]) for c in cols) for r in rows)


def _n_distinct(group: np.ndarray, unit: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct ``unit`` values within each group."""
    pairs, _ = compact_codes(group * (int(unit.max()) + 1) + unit)
    first = np.unique(pairs, return_index=True)[1]
    return np.bincount(group[first], minlength=n_groups).astype(float)


def _popsize(values: np.ndarray, stratum: np.ndarray, n_units: np.ndarray, name: str
             ) -> np.ndarray:
    h_first = np.unique(stratum, return_index=True)[1]
    per = np.full(n_units.size, np.nan)
    per[stratum[h_first]] = values[h_first]
    if (values != per[stratum]).any():
        raise TwoPhaseError(f"fpc column {name!r} varies within a stratum; it must be "
                            f"constant within each stratum")
    if (per <= 0).any() or np.isnan(per).any():
        raise TwoPhaseError(f"fpc column {name!r} must be positive")
    pop = np.where(per <= 1, n_units / per, per) if (per <= 1).all() else per
    if (pop < n_units - 1e-9).any():
        raise TwoPhaseError(f"fpc column {name!r} gives fewer units than were sampled in "
                            f"some stratum")
    return pop.astype(float)


def _structure(full: pd.DataFrame, in2: np.ndarray, p1: dict[str, Any], p2: dict[str, Any],
               method: str) -> tuple[TwoPhaseStructure, np.ndarray]:
    n1 = len(full)
    # ---- phase 1, over every phase-1 row
    h1 = _codes(full, p1["strata"], "phase1 strata")
    stage_units = []  # the units of each stage, nested in the units above
    above = h1
    for col in p1["psu"] or [None]:
        if col is None:
            unit = np.arange(n1, dtype=np.int64)
        else:
            ids = _codes(full, [col], "phase1 psu")
            unit, _ = compact_codes(above * (int(ids.max()) + 1) + ids)
        stage_units.append(unit)
        above = unit
    u1 = stage_units[0]
    H1 = int(h1.max()) + 1
    n1_units = _n_distinct(h1, u1, H1)
    if p1["fpc"]:
        check_columns(full, p1["fpc"], "phase1 fpc")
        pop1 = _popsize(_numeric(full, p1["fpc"][0], "phase1 fpc"), h1, n1_units,
                        p1["fpc"][0])
    else:
        pop1 = np.full(H1, np.inf)
    stage_probs = None
    if p1["probs"] is not None:
        check_columns(full, p1["probs"], "phase1 probs")
        stage_probs = [_numeric(full, col, "phase1 probs") for col in p1["probs"]]
        for col, values in zip(p1["probs"], stage_probs, strict=True):
            if ((values <= 0) | (values > 1)).any():
                raise TwoPhaseError(f"phase1 probs column {col!r} must be in (0, 1]")
        pi1 = np.prod(stage_probs, axis=0)
    elif p1["weights"] is not None:
        check_columns(full, [p1["weights"]], "phase1 weights")
        w = _numeric(full, p1["weights"], "phase1 weights")
        if (w <= 0).any() or not np.isfinite(w).all():
            raise TwoPhaseError(f"phase1 weights column {p1['weights']!r} must be positive "
                                f"and finite")
        pi1 = 1.0 / w
    elif p1["fpc"]:
        pi1 = (n1_units / pop1)[h1]
    else:
        pi1 = np.ones(n1)
    iid1 = bool(np.all(pi1 == 1) and not p1["fpc"])
    if stage_probs is None:
        stage_probs = [pi1]

    # ---- phase 2 strata and units, over every phase-1 row
    for col in p2["strata"] + p2["psu"]:
        check_columns(full, [col], "phase2 strata" if col in p2["strata"] else "phase2 psu")
        missing = full[col].isna().to_numpy()
        if missing.any():
            where = "phase-2 " if missing[in2].any() else "phase-1-only "
            raise MissingValueError(
                f"phase2 {'strata' if col in p2['strata'] else 'psu'} column {col!r} is "
                f"missing in {int(missing.sum())} {where}row(s); phase-2 strata and units "
                f"must be known for every phase-1 row (they give the phase-2 sampling "
                f"fractions)")
    h2_all = _codes(full, p2["strata"], "phase2 strata")
    if p2["psu"]:
        ids2 = _codes(full, p2["psu"], "phase2 psu")
        u2_all, _ = compact_codes(h2_all * (int(ids2.max()) + 1) + ids2)
    else:
        u2_all = np.arange(n1, dtype=np.int64)
    H2 = int(h2_all.max()) + 1
    pop2 = _n_distinct(h2_all, u2_all, H2)
    n2_units = _n_distinct(h2_all[in2], u2_all[in2], H2)
    empty = np.flatnonzero(n2_units == 0)
    if empty.size:
        raise TwoPhaseError(f"phase-2 strata with no phase-2 row (a zero sampling fraction): "
                            f"{_labels(full, p2['strata'], h2_all, empty)}"
                            + (f" and {empty.size - 5} more" if empty.size > 5 else ""))
    sample = full.loc[in2]
    if p2["fpc"]:
        check_columns(full, p2["fpc"], "phase2 fpc")
        h2s = h2_all[in2]
        pop2 = _popsize(_numeric(sample, p2["fpc"][0], "phase2 fpc"), h2s, n2_units,
                        p2["fpc"][0])
    if p2["probs"] is not None:
        check_columns(full, [p2["probs"]], "phase2 probs")
        pi2 = _numeric(sample, p2["probs"], "phase2 probs")
        if ((pi2 <= 0) | (pi2 > 1)).any():
            raise TwoPhaseError(f"phase2 probs column {p2['probs']!r} must be in (0, 1]")
    else:
        pi2 = (n2_units / pop2)[h2_all[in2]]

    # ---- the representation of phase-1 units at phase 2 (R's usu), samescale
    # (R takes the phase-1 units of the last stage, and their strata: the units of
    # the stage above)
    last = stage_units[-1]
    lasts = last[in2]
    if p2["strata"]:
        part = _n_distinct(h2_all[in2], lasts, H2)
        whole = _n_distinct(h2_all, last, H2)
        usu = (part / whole)[h2_all[in2]]
    else:
        group = stage_units[-2] if len(stage_units) > 1 else h1
        n_groups = int(group.max()) + 1
        usu = (_n_distinct(group[in2], lasts, n_groups)
               / _n_distinct(group, last, n_groups))[group[in2]]
    u2s = u2_all[in2]
    first2 = np.unique(u2s, return_index=True)[1]
    samescale = bool(np.unique(lasts[first2]).size == first2.size)
    u1s = u1[in2]

    unit1, _ = compact_codes(u1s)
    unit2, _ = compact_codes(u2s)
    structure = TwoPhaseStructure(
        method=method, unit1=unit1, stratum1=h1[in2], prob1=pi1[in2],
        stage_units1=np.stack([compact_codes(u[in2])[0] for u in stage_units]),
        stage_probs1=np.stack([p[in2] for p in stage_probs]), n1_units=n1_units,
        popsize1=pop1, iid1=iid1, unit2=unit2, stratum2=h2_all[in2], prob2=pi2,
        n2_units=n2_units, popsize2=pop2, usu=usu, samescale=samescale,
        base_weights=1.0 / (pi1[in2] * pi2))
    return structure, 1.0 / pi1


def _numeric(data: pd.DataFrame, name: str, what: str) -> np.ndarray:
    col = data[name]
    if not pd.api.types.is_numeric_dtype(col):
        raise TwoPhaseError(f"{what} column {name!r} is not numeric")
    values = col.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any():
        raise MissingValueError(f"{what} column {name!r} has {int(np.isnan(values).sum())} "
                                f"missing value(s)")
    return values
