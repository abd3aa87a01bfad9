"""Result objects: :class:`Estimate` for estimators.

Results keep what they need to compute intervals on request, print the same
way on every run, and turn into DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from .intervals import t_pvalue, wald_interval

__all__ = ["Estimate"]

IntervalFn = Callable[[float, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Estimate:
    """Estimates with their design-based covariance matrix.

    Returned by :func:`~innobaro.mean`, :func:`~innobaro.total`,
    :func:`~innobaro.ratio`, :func:`~innobaro.proportion` and
    :func:`~innobaro.quantile`.

    Attributes
    ----------
    estimate : pandas.Series
        Point estimates, indexed by variable, or by domain then variable.
    se : pandas.Series
        Standard errors.
    vcov : pandas.DataFrame
        Full covariance matrix of the estimates (between domains too).
    df : float or pandas.Series
        Design degrees of freedom used for intervals (a Series when they
        differ between domains).
    kind : str
        What was estimated: ``"mean"``, ``"total"``, ``"ratio"``,
        ``"proportion"``, ``"quantile"``, ``"contrast"``, ``"coefficient"``,
        ``"margin"``, ...
    level : float
        The level the estimate was made at: the default of :meth:`ci` and
        :meth:`to_frame`.
    interval_method : str
        How :meth:`ci` makes intervals: ``"wald"`` (estimate -/+ t se), the
        proportion's method (``"logit"``, ``"beta"``, ...) or ``"woodruff"``.

    Notes
    -----
    ``ci`` uses t quantiles on the design degrees of freedom unless ``df`` is
    given; ``df=float("inf")`` gives the normal intervals of R's ``confint``.
    For proportions and quantiles the interval is the method's own (logit,
    Korn-Graubard, ... ; Woodruff), not estimate +/- t se.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": range(8),
    ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
    ...                    "sector": ["edu", "health"] * 4,
    ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
    >>> d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    >>> est = ib.mean(d, "y", by="sector")
    >>> est  # doctest: +NORMALIZE_WHITESPACE
    Mean: 95% interval, df = 2
                     estimate       se     lower   upper
    sector variable
    edu    y          3.38462 0.817949 -0.134733 6.90396
    health y          4.92308  1.03494  0.470068 9.37609
    >>> est.estimate.round(4).tolist(), est.se.round(4).tolist(), est.df
    ([3.3846, 4.9231], [0.8179, 1.0349], 2.0)
    >>> est.vcov.round(4)  # doctest: +NORMALIZE_WHITESPACE
    sector              edu  health
    variable              y       y
    sector variable
    edu    y         0.6690 -0.3531
    health y        -0.3531  1.0711
    """

    def __init__(self, estimate: np.ndarray, vcov: np.ndarray, index: pd.Index, *,
                 df: np.ndarray, kind: str,
                 interval: IntervalFn | None = None,
                 srs: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
                 level: float = 0.95, method: str | None = None,
                 notes: tuple[str, ...] = (), scale: np.ndarray | None = None) -> None:
        self._est = np.asarray(estimate, dtype=float)
        # the covariance of estimate / scale (powers of two, exact): standard
        # errors stay representable where the variance itself overflows
        self._vscale = None if scale is None else np.asarray(scale, dtype=float)
        vcov = np.asarray(vcov, dtype=float)
        if self._vscale is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                self._vcov = vcov * np.outer(self._vscale, self._vscale)
        else:
            self._vcov = vcov
        self._vcov_scaled = vcov
        self._index = index
        self._df = np.broadcast_to(np.asarray(df, dtype=float), self._est.shape).copy()
        self.kind = kind
        self._interval = interval
        self._srs_fn = srs
        self._srs_values: tuple[np.ndarray, np.ndarray] | None = None
        self.level = level
        self.method = method
        self.notes = notes

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the numbers, not the design: the variances under simple
        random sampling (for design effects) are computed now rather than on
        demand, since they need the design's rows."""
        state = self.__dict__.copy()
        fn = self._srs_fn
        if fn is not None and self._srs_values is None:
            state["_srs_values"] = fn()
        state["_srs_fn"] = None
        return state

    # --------------------------------------------------------------- accessors
    @property
    def estimate(self) -> pd.Series:
        """Point estimates, indexed by variable, or by domain then variable."""
        return pd.Series(self._est, index=self._index, name="estimate")

    @property
    def se(self) -> pd.Series:
        """Standard errors: the square roots of the diagonal of :attr:`vcov`."""
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(self._vcov_scaled))
            if self._vscale is not None:
                se = se * self._vscale
            return pd.Series(se, index=self._index, name="se")

    @property
    def vcov(self) -> pd.DataFrame:
        """Design-based covariance matrix of the estimates, between domains too."""
        return pd.DataFrame(self._vcov, index=self._index, columns=self._index)

    @property
    def df(self) -> float | pd.Series:
        """Degrees of freedom of the intervals: one number, or a Series by entry
        when domains differ (each domain's PSUs minus strata, R's ``degf``)."""
        if self._df.size and np.all(self._df == self._df[0]):
            return float(self._df[0])
        return pd.Series(self._df, index=self._index, name="df")

    @property
    def df_values(self) -> np.ndarray:
        """The degrees of freedom of each entry, as a read-only array (:attr:`df`
        as one shape for every estimate)."""
        values = self._df.view()
        values.setflags(write=False)
        return values

    @property
    def cv(self) -> pd.Series:
        """Coefficient of variation, se / estimate."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.Series(self.se.to_numpy() / self._est, index=self._index, name="cv")

    @property
    def deff(self) -> pd.Series:
        """Design effect: variance over that of a simple random sample without replacement.

        As R's ``deff=TRUE``: the SRS variance is :math:`(1 - n/\\hat N)\\, s^2/n`
        for a mean, with :math:`s^2` the weighted population variance estimate
        (divisor :math:`n-1`) and :math:`n` the rows with nonzero weight (Kish 1965).
        """
        return self._deff(0, "deff")

    @property
    def deff_replace(self) -> pd.Series:
        """Design effect against simple random sampling with replacement.

        R's ``deff="replace"``: the SRS variance is :math:`s^2/n` for a mean.
        """
        return self._deff(1, "deff_replace")

    @property
    def deft(self) -> pd.Series:
        """Design effect on the standard error: the square root of :attr:`deff`.

        Kish's (1965) DEFT, the factor by which the standard error exceeds that
        of a simple random sample without replacement of the same size
        (Stata's ``estat effects, deft``; R's ``sqrt(deff(...))``).
        """
        with np.errstate(invalid="ignore"):
            return pd.Series(np.sqrt(self.deff.to_numpy()), index=self._index, name="deft")

    @property
    def _has_srs(self) -> bool:
        return self._srs_fn is not None or self._srs_values is not None

    def _deff(self, which: int, name: str) -> pd.Series:
        if not self._has_srs:
            values = np.full(self._est.shape, np.nan)
        else:
            if self._srs_values is None:
                assert self._srs_fn is not None
                self._srs_values = self._srs_fn()
            srs = self._srs_values[which]
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.diag(self._vcov) / srs
        return pd.Series(values, index=self._index, name=name)

    # --------------------------------------------------------------- intervals
    def ci(self, level: float | None = None, df: float | None = None) -> pd.DataFrame:
        """Confidence intervals.

        Parameters
        ----------
        level : float, optional
            Confidence level; by default the level the estimate was made at
            (:attr:`level`: 0.95 unless the estimator was given another).
        df : float, optional
            Degrees of freedom for the t quantiles; the design degrees of
            freedom by default, ``float("inf")`` for normal quantiles.

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``, indexed as :attr:`estimate`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": range(8),
        ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
        ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
        >>> est = ib.mean(ib.Design(df, weights="w", strata="stratum", psu="psu"), "y")
        >>> est.df  # PSUs minus strata
        6.0
        >>> est.ci().round(4).to_dict("index")  # t quantiles on 6 degrees of freedom
        {'y': {'lower': 2.6764, 'upper': 5.6313}}
        >>> est.ci(0.90, df=float("inf")).round(4).to_dict("index")  # normal, as R's confint
        {'y': {'lower': 3.1607, 'upper': 5.147}}
        """
        level = self.level if level is None else level
        dfs = self._df if df is None else np.full(self._est.shape, float(df))
        if self._interval is not None:
            lower, upper = self._interval(level, dfs)
        else:
            lower, upper = wald_interval(self._est, self.se.to_numpy(), level, dfs)
        return pd.DataFrame({"lower": lower, "upper": upper}, index=self._index)

    def test(self, null: float | np.ndarray = 0.0, df: float | None = None) -> pd.DataFrame:
        """Wald t test of each entry against a value.

        :math:`t = (\\hat\\theta - \\theta_0)/\\widehat{se}` referred to a t
        distribution on the entry's degrees of freedom (:attr:`df`, those of
        its interval), two-sided; the normal where they are infinite. This is
        the test R prints for ``svycontrast`` or ``svyglm`` coefficients,
        ``2 * pt(-abs(t), df)``, and Stata's ``test`` after ``svy:``; for a
        symmetric (Wald) interval, the p-value is below ``1 - level`` exactly
        when the interval excludes the null value.

        Parameters
        ----------
        null : float or array, default 0
            The value under the null hypothesis, one for all entries or one
            per entry.
        df : float, optional
            Degrees of freedom; by default each entry's (:attr:`df`),
            ``float("inf")`` for a z test.

        Returns
        -------
        pandas.DataFrame
            Indexed as :attr:`estimate`, with columns ``estimate``, ``null``,
            ``se``, ``statistic`` (t), ``df`` and ``pvalue``.

        References
        ----------
        .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.4 and 5.2.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": range(8),
        ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
        ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
        >>> est = ib.mean(ib.Design(df, weights="w", strata="stratum", psu="psu"), "y")
        >>> est.test(3.0).loc["y", ["statistic", "df", "pvalue"]].round(4).tolist()
        [1.9109, 6.0, 0.1046]
        """
        null_ = np.broadcast_to(np.asarray(null, dtype=float), self._est.shape)
        dfs = self._df if df is None else np.full(self._est.shape, float(df))
        se = self.se.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self._est - null_) / se
        return pd.DataFrame({"estimate": self._est, "null": null_, "se": se, "statistic": t,
                             "df": dfs, "pvalue": t_pvalue(t, dfs)}, index=self._index)

    def to_frame(self, level: float | None = None) -> pd.DataFrame:
        """One DataFrame: estimate, se, lower, upper, df, cv and deff.

        Parameters
        ----------
        level : float, optional
            Level of the interval; the estimate's ``level`` (0.95 unless the
            estimator was given another) by default.

        Returns
        -------
        pandas.DataFrame
            One row per entry of :attr:`estimate`; ``deff`` for every
            estimator but :func:`~innobaro.quantile`.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": range(8),
        ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
        ...                    "sector": ["edu", "health"] * 4,
        ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
        >>> d = ib.Design(df, weights="w", strata="stratum", psu="psu")
        >>> ib.mean(d, "y", by="sector").to_frame().round(3)  # doctest: +NORMALIZE_WHITESPACE
                         estimate     se  lower  upper   df     cv   deff
        sector variable
        edu    y            3.385  0.818 -0.135  6.904  2.0  0.242  0.708
        health y            4.923  1.035  0.470  9.376  2.0  0.210  0.818
        """
        level = self.level if level is None else level
        out = pd.DataFrame({"estimate": self._est, "se": self.se.to_numpy()},
                           index=self._index)
        ci = self.ci(level)
        out["lower"] = ci["lower"].to_numpy()
        out["upper"] = ci["upper"].to_numpy()
        out["df"] = self._df
        out["cv"] = self.cv.to_numpy()
        if self._has_srs:
            out["deff"] = self.deff.to_numpy()
        return out

    def with_interval(self, interval: IntervalFn, method: str | None = None) -> Estimate:
        """The same estimate with another rule for its confidence intervals (advanced).

        Parameters
        ----------
        interval : callable
            ``interval(level, df) -> (lower, upper)``: the interval of every
            entry at a level, for each entry's degrees of freedom (an array).
            A module-level function or a :func:`functools.partial` of one keeps
            the result picklable.
        method : str, optional
            The name of the rule (:attr:`interval_method`); unchanged by default.

        Returns
        -------
        Estimate
            A copy (of the same class) whose :meth:`ci` uses ``interval``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "y": [1.0, 2, 3, 5, 4, 6]})
        >>> est = ib.mean(ib.Design(df, psu="psu"), "y")
        >>> def around(level, df):
        ...     return est.estimate.to_numpy() - 1, est.estimate.to_numpy() + 1
        >>> est.with_interval(around, "plus-minus one").ci().values.tolist()
        [[2.5, 4.5]]
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._interval = interval
        if method is not None:
            new.method = method
        return new

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals, statsmodels' spelling of :meth:`ci`.

        Parameters
        ----------
        level : float, optional
            Confidence level; by default the level the estimate was made at.

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "y": [1.0, 2, 3, 5, 4, 6]})
        >>> est = ib.mean(ib.Design(df, psu="psu"), "y")
        >>> est.conf_int().equals(est.ci())
        True
        """
        return self.ci(level)

    @property
    def interval_method(self) -> str:
        """How :meth:`ci` makes intervals (``"wald"``, ``"logit"``, ``"woodruff"``, ...)."""
        if self.method:
            return self.method
        return "woodruff" if self.kind == "quantile" else "wald"

    def __len__(self) -> int:
        return self._est.size

    # --------------------------------------------------------------- display
    def _title(self) -> str:
        title = self.kind.capitalize()
        if self.method:
            title += f" ({self.method} interval)"
        return title

    def __repr__(self) -> str:
        frame = self.to_frame()
        cols = ["estimate", "se", "lower", "upper"]
        body = frame[cols].to_string(float_format=lambda v: f"{v:.6g}")
        pct = f"{100 * self.level:g}%"
        df = self.df
        dftxt = f"df = {df:g}" if isinstance(df, float) else "df by domain"
        lines = [f"{self._title()}: {pct} interval, {dftxt}", body]
        lines.extend(self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<p><b>{self._title()}</b> ({100 * self.level:g}% interval)</p>"
                + self.to_frame().to_html(float_format=lambda v: f"{v:.6g}"))


class TestContract:
    """What every test result shares (the result contract, ``docs/guide/results.md``).

    Attributes
    ----------
    statistic : float
        The test statistic.
    pvalue : float
        Its p-value (``p_value`` is the same number).
    df_num, df_denom : float
        Degrees of freedom of the reference distribution: numerator and
        denominator of an F; ``(k, inf)`` for a chi-square on k; ``(1, nu)``
        for a t on nu (its square is F(1, nu)); for a weighted sum of
        chi-squares, the number of terms and the denominator degrees of
        freedom (``inf`` for none).
    df : tuple of float
        ``(df_num, df_denom)``: one shape for every test.
    method : str
        A short code of the test (``"F"``, ``"Chisq"``, ``"t"``, ``"lrt"``, ...).
    title : str
        What was computed, in words (R's ``htest`` method).

    A test unpacks as scipy's results do: ``statistic, pvalue = result``.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "y": [3.0, 4, 5, 4, 6, 7, 8, 6, 9, 7],
    ...                    "g": ["a"] * 5 + ["b"] * 5})
    >>> res = ib.ttest(ib.Design(df, psu="psu"), "y", "g")
    >>> isinstance(res, ib.TestContract), res.df
    (True, (1.0, 8.0))
    >>> t, p = res
    >>> round(t, 3), round(p, 4)
    (4.413, 0.0022)
    """

    __test__ = False  # not a pytest test class

    statistic: float
    pvalue: float
    df_num: float
    df_denom: float
    method: str
    title: str

    @property
    def p_value(self) -> float:
        """The p-value (an alias of :attr:`pvalue`)."""
        return self.pvalue

    @property
    def df(self) -> tuple[float, float]:
        """``(df_num, df_denom)``."""
        return (self.df_num, self.df_denom)

    @property
    def ddf(self) -> float:
        """The denominator degrees of freedom (an alias of :attr:`df_denom`)."""
        return self.df_denom

    def __iter__(self) -> Iterator[float]:
        return iter((self.statistic, self.pvalue))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> float:
        return (self.statistic, self.pvalue)[i]

    def _frame_row(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "df_num": self.df_num,
                "df_denom": self.df_denom, "pvalue": self.pvalue, "method": self.method}


class TestResult(TestContract):
    """Result of a design-based hypothesis test.

    Returned by :func:`~innobaro.chisq_test` and :func:`~innobaro.ttest`;
    follows the test contract of :class:`TestContract`.

    Attributes
    ----------
    statistic : float
        The test statistic (``F`` for the F-type tests, Pearson's
        :math:`X^2` for ``"Chisq"``, ``"saddlepoint"`` and ``"lincom"``,
        ``t`` for the t-test).
    df : tuple of float
        ``(df_num, df_denom)`` of the reference distribution: ``(ndf, ddf)``
        for an F distribution (fractional for the Rao-Scott F), ``(k, inf)``
        for a chi-square on k, ``(1, nu)`` for a t on nu, and for a weighted
        sum of chi-squares the number of terms and the denominator degrees
        of freedom.
    pvalue : float
        Also ``p_value``.
    method : str
        The test's code: ``"F"``, ``"Chisq"``, ``"Wald"``, ``"adjWald"``,
        ``"saddlepoint"``, ``"lincom"`` (as ``chisq_test``'s ``statistic``)
        or ``"t"``.
    title : str
        What was computed, in words.
    statistic_name : str
        ``"F"``, ``"X-squared"`` or ``"t"``.
    data : str
        The variables tested (``"row by col"``, ``"y by group"``).
    estimate, se : float or None
        For a t-test: the difference of the two means and its standard error.
    observed, expected : pandas.DataFrame or None
        For a test of independence: the estimated population shares of the
        cells, and the shares expected under independence (the product of the
        margins). Rows are the levels of ``row``, columns those of ``col``.
    details : dict
        Intermediate quantities (design effects, Pearson's statistic, ...),
        documented by the function that returns the result.

    Examples
    --------
    >>> import innobaro as ib
    >>> res = ib.TestResult(statistic=2.5, df=(1.0, 12.0), pvalue=0.028, method="t",
    ...                     title="Design-based t-test", statistic_name="t",
    ...                     data="y by group")
    >>> res
    Design-based t-test
    data: y by group
    t = 2.5, df = 12, p-value = 0.028
    >>> stat, p = res
    >>> stat, p, res.df
    (2.5, 0.028, (1.0, 12.0))
    """

    def __init__(self, *, statistic: float, df: tuple[float, float], pvalue: float,
                 method: str, title: str, statistic_name: str, data: str = "",
                 estimate: float | None = None, se: float | None = None,
                 observed: pd.DataFrame | None = None, expected: pd.DataFrame | None = None,
                 details: dict | None = None, level: float = 0.95) -> None:
        self.statistic = float(statistic)
        self.df_num, self.df_denom = float(df[0]), float(df[1])
        self.pvalue = float(pvalue)
        self.method = method
        self.title = title
        self.statistic_name = statistic_name
        self.data = data
        self.estimate = estimate
        self.se = se
        self.observed = observed
        self.expected = expected
        self.details = {} if details is None else details
        self.level = level

    def ci(self, level: float | None = None) -> tuple[float, float]:
        """Confidence interval for the estimate of a t-test: estimate -/+ t se.

        The t quantile is taken on the test's denominator degrees of freedom.

        Parameters
        ----------
        level : float, optional
            The result's ``level`` (0.95 unless the test was given another) by
            default.

        Returns
        -------
        tuple of float
            ``(lower, upper)``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": range(8),
        ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
        ...                    "sector": ["edu", "health"] * 4,
        ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
        >>> res = ib.ttest(ib.Design(df, weights="w", strata="stratum", psu="psu"),
        ...                "y", "sector")
        >>> tuple(round(v, 4) for v in res.ci())
        (-2.4822, 5.5591)
        """
        if self.estimate is None or self.se is None or self.method != "t":
            from .errors import EstimationError

            raise EstimationError(f"{self.title} has no estimate with a confidence interval")
        level = self.level if level is None else level
        lower, upper = wald_interval(np.array([self.estimate]), np.array([self.se]), level,
                                     np.array([self.df_denom]))
        return float(lower[0]), float(upper[0])

    def to_frame(self) -> pd.DataFrame:
        """The test as a one-row DataFrame.

        Returns
        -------
        pandas.DataFrame
            ``statistic``, ``df_num``, ``df_denom``, ``pvalue``, ``method``,
            and ``estimate`` and ``se`` for a t-test.

        Examples
        --------
        >>> import innobaro as ib
        >>> res = ib.TestResult(statistic=2.5, df=(1.0, 12.0), pvalue=0.028, method="t",
        ...                     title="Design-based t-test", statistic_name="t")
        >>> res.to_frame().columns.tolist()
        ['statistic', 'df_num', 'df_denom', 'pvalue', 'method']
        """
        row = self._frame_row()
        if self.estimate is not None:
            row.update(estimate=self.estimate, se=self.se)
        return pd.DataFrame([row], index=pd.Index([self.data or self.title], name="test"))

    def __repr__(self) -> str:
        lines = [self.title]
        if self.data:
            lines.append(f"data: {self.data}")
        parts = [f"{self.statistic_name} = {self.statistic:.6g}"]
        if self.statistic_name == "F":
            parts.append(f"ndf = {self.df_num:.6g}, ddf = {self.df_denom:.6g}")
        elif self.statistic_name == "t":
            parts.append(f"df = {self.df_denom:.6g}")
        elif self.method == "Chisq":
            parts.append(f"df = {self.df_num:.6g}")
        parts.append(f"p-value = {self.pvalue:.4g}")
        lines.append(", ".join(parts))
        if self.estimate is not None and self.se is not None:
            lines.append(f"estimate = {self.estimate:.6g}, se = {self.se:.6g}")
        return "\n".join(lines)


def as_estimate(obj: Any) -> Estimate:
    """The :class:`Estimate` behind a result: itself, or a model's coefficients.

    Lets :func:`~innobaro.contrast` and friends take a fitted model as they
    take a mean.
    """
    if isinstance(obj, Estimate):
        return obj
    coefs = getattr(obj, "coefficients", None)
    if isinstance(coefs, Estimate):
        return coefs
    raise TypeError(f"expected an innobaro Estimate or a fitted model, not "
                    f"{type(obj).__name__}")


__all__ += ["TestContract", "TestResult", "as_estimate"]
