"""Optional matplotlib drawings: distributions, estimates with intervals, forest plots.

Each function draws on the matplotlib ``Axes`` given as ``ax=`` (or on a new
:class:`matplotlib.figure.Figure` of its own, not registered with pyplot, when
``ax`` is None) and returns the Axes. Nothing here calls ``plt.show()`` or
changes matplotlib's global settings; ``import innobaro.plot`` does not
import matplotlib, which is needed only when a function is called
(``pip install innobaro[plot]``).

========================  ==================================================
:func:`cdf`               weighted distribution functions (R's ``svycdf`` plot)
:func:`histogram`         weighted histogram (R's ``svyhist``)
:func:`boxplot`           survey boxplots (R's ``svyboxplot``)
:func:`estimates`         point estimates with their intervals, by domain
:func:`forest`            odds ratios (or coefficients) of a model, with intervals
========================  ==================================================

The numbers drawn are those of :func:`innobaro.cdf`,
:func:`innobaro.histogram`, :func:`innobaro.boxplot_stats`, a result's
``to_frame()`` and ``conf_int()``.

References
----------
.. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
   Wiley, ch. 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import empirical as _dist
from ._validate import as_column_list
from .design import SurveyDesign
from .errors import EstimationError

__all__ = ["boxplot", "cdf", "estimates", "forest", "histogram"]

Columns = str | Sequence[str]


def _axes(ax: Any) -> Any:
    """``ax``, or the Axes of a new Figure that pyplot does not know about."""
    if ax is not None:
        return ax
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("innobaro.plot needs matplotlib: pip install 'innobaro[plot]'"
                          ) from err
    return Figure().add_subplot()


def _label(key: Any) -> str:
    if isinstance(key, tuple):
        return ", ".join(str(k) for k in key)
    return str(key)


def _grouper(by_cols: list[str]) -> str | list[str]:
    """One column by its name (a list of one warns in pandas 1.5 when iterated)."""
    return by_cols[0] if len(by_cols) == 1 else by_cols


def _domain_label(key: Any) -> str:
    """A groupby key as a label: one value, or several joined (pandas < 2 gives
    a scalar for one column, later versions a tuple of one)."""
    if isinstance(key, tuple) and len(key) == 1:
        key = key[0]
    return _label(key)


def cdf(design: SurveyDesign, y: str, *, by: Columns | None = None, ax: Any = None,
        **kwargs: Any) -> Any:
    """Draw weighted distribution functions (R's ``plot(svycdf(...))``).

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        A numeric column.
    by : str or list of str, optional
        One step function per domain, labelled by domain.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's Axes by default.
    **kwargs
        Passed to ``Axes.step`` (``color``, ``linewidth``, ...).

    Returns
    -------
    matplotlib.axes.Axes
        One line per domain whose data are :func:`innobaro.cdf`'s ``value``
        and ``cdf`` (drawn as steps after each value).

    Notes
    -----
    :math:`\\hat F(x) = \\sum_i w_i [x_i \\le x] / \\sum_i w_i`, see
    :func:`innobaro.cdf`.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 4.2.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> import innobaro.plot
    >>> df = pd.DataFrame({"psu": range(5), "w": [1.0, 2, 1, 4, 2], "y": [3, 1, 2, 2, 5]})
    >>> ax = ib.plot.cdf(ib.Design(df, weights="w", psu="psu"), "y")
    >>> ax.lines[0].get_ydata().tolist()
    [0.2, 0.7, 0.8, 1.0]
    """
    data = _dist.cdf(design, y, by=by)
    ax = _axes(ax)
    by_cols = as_column_list(by, "by") if by is not None else []
    groups = data.groupby(_grouper(by_cols), sort=False) if by_cols else [(None, data)]
    for key, part in groups:
        label = None if key is None else _domain_label(key)
        ax.step(part["value"].to_numpy(), part["cdf"].to_numpy(), where="post", label=label,
                **kwargs)
    ax.set_xlabel(y)
    ax.set_ylabel("cumulative share")
    ax.set_ylim(0, 1.05)
    if by_cols:
        ax.legend(title=", ".join(by_cols))
    return ax


def histogram(design: SurveyDesign, y: str, *, bins: str | int | Sequence[float] = "sturges",
              by: Columns | None = None, probability: bool = True, right: bool = True,
              ax: Any = None, **kwargs: Any) -> Any:
    """Draw a weighted histogram (R's ``svyhist``).

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        A numeric column.
    bins : "sturges", int or sequence of float, default "sturges"
        As :func:`innobaro.histogram`.
    by : str or list of str, optional
        One outline per domain on the same breaks, instead of bars.
    probability : bool, default True
        Heights are densities (R's default); ``False`` draws the estimated
        population counts.
    right : bool, default True
        Bins closed on the right, as :func:`innobaro.histogram`.
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``Axes.bar`` (or ``Axes.stairs`` with ``by``).

    Returns
    -------
    matplotlib.axes.Axes
        Bars (or one ``stairs`` outline per domain) whose heights are
        :func:`innobaro.histogram`'s ``density`` or ``count``.

    Notes
    -----
    The density of bin :math:`k` is :math:`\\hat p_k / (b_k - b_{k-1})`,
    :math:`\\hat p_k` the weighted share of the bin.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 4.3.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> import innobaro.plot
    >>> df = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 4, 2, 2],
    ...                    "y": [0.5, 1.5, 1.7, 2.2, 3.9, 2.0]})
    >>> ax = ib.plot.histogram(ib.Design(df, weights="w", psu="psu"), "y", bins=[0, 1, 2, 4],
    ...                        probability=False)
    >>> [float(bar.get_height()) for bar in ax.patches]
    [1.0, 5.0, 6.0]
    """
    data = _dist.histogram(design, y, bins=bins, by=by, right=right)
    ax = _axes(ax)
    height = "density" if probability else "count"
    by_cols = as_column_list(by, "by") if by is not None else []
    if not by_cols:
        kwargs.setdefault("edgecolor", "black")
        ax.bar(data["left"].to_numpy(), data[height].to_numpy(),
               width=(data["right"] - data["left"]).to_numpy(), align="edge", **kwargs)
    else:
        for key, part in data.groupby(_grouper(by_cols), sort=False):
            edges = np.append(part["left"].to_numpy(), part["right"].to_numpy()[-1])
            ax.stairs(part[height].to_numpy(), edges, label=_domain_label(key), **kwargs)
        ax.legend(title=", ".join(by_cols))
    ax.set_xlabel(y)
    ax.set_ylabel("density" if probability else "estimated count")
    return ax


def boxplot(design: SurveyDesign, y: str, *, by: Columns | None = None,
            all_outliers: bool = False, ax: Any = None, **kwargs: Any) -> Any:
    """Draw survey boxplots (R's ``svyboxplot``).

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        A numeric column.
    by : str or list of str, optional
        One box per domain.
    all_outliers : bool, default False
        Draw every value beyond the whiskers (R's ``all.outliers``).
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``Axes.bxp``.

    Returns
    -------
    matplotlib.axes.Axes
        The boxes of :func:`innobaro.boxplot_stats`: quartiles, whiskers at
        the fences (:math:`Q_1 - 1.5\\,\\mathrm{IQR}`, :math:`Q_3 +
        1.5\\,\\mathrm{IQR}` within the range of the data) and outliers.

    Notes
    -----
    Quartiles by :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}`, see
    :func:`innobaro.boxplot_stats`.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 4.3.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> import innobaro.plot
    >>> df = pd.DataFrame({"psu": range(8), "w": [1.0, 2, 1, 4, 2, 2, 1, 1],
    ...                    "y": [1.0, 2, 3, 3, 4, 5, 6, 40]})
    >>> ax = ib.plot.boxplot(ib.Design(df, weights="w", psu="psu"), "y")
    >>> [line.get_ydata().tolist() for line in ax.lines[1:3]]  # the whiskers
    [[3.0, 1.0], [5.0, 8.0]]
    """
    data = _dist.boxplot_stats(design, y, by=by, all_outliers=all_outliers)
    ax = _axes(ax)
    stats = [{"whislo": r.whisker_low, "q1": r.q1, "med": r.median, "q3": r.q3,
              "whishi": r.whisker_high, "fliers": list(r.outliers),
              "label": _label(key) if by is not None else y}
             for key, r in zip(data.index, data.itertuples(index=False), strict=True)]
    ax.bxp(stats, **kwargs)
    if by is not None:
        ax.set_xlabel(", ".join(as_column_list(by, "by")))
        ax.set_ylabel(y)
    return ax


def _interval_frame(result: Any, level: float | None) -> pd.DataFrame:
    """Estimate, lower and upper of any result (the result contract's
    ``to_frame()`` and ``conf_int()``)."""
    to_frame = getattr(result, "to_frame", None)
    conf_int = getattr(result, "conf_int", None)
    if to_frame is None or conf_int is None:
        raise TypeError(f"innobaro.plot needs a result with to_frame() and conf_int() (an "
                        f"Estimate or a model result), not {type(result).__name__}")
    est = to_frame()["estimate"]
    ci = conf_int(level) if level is not None else conf_int()
    return pd.DataFrame({"estimate": est.to_numpy(dtype=float),
                         "lower": ci["lower"].to_numpy(dtype=float),
                         "upper": ci["upper"].to_numpy(dtype=float)}, index=est.index)


def _draw_intervals(ax: Any, frame: pd.DataFrame, horizontal: bool, **kwargs: Any) -> None:
    pos = np.arange(len(frame))[::-1] if horizontal else np.arange(len(frame))
    est = frame["estimate"].to_numpy()
    err = np.vstack([est - frame["lower"].to_numpy(), frame["upper"].to_numpy() - est])
    labels = [_label(k) for k in frame.index]
    kwargs.setdefault("fmt", "o")
    kwargs.setdefault("capsize", 3)
    if horizontal:
        ax.errorbar(est, pos, xerr=err, **kwargs)
        ax.set_yticks(pos)
        ax.set_yticklabels(labels)
    else:
        ax.errorbar(pos, est, yerr=err, **kwargs)
        ax.set_xticks(pos)
        ax.set_xticklabels(labels)


def estimates(result: Any, *, level: float | None = None, horizontal: bool = True,
              ax: Any = None, **kwargs: Any) -> Any:
    """Draw estimates with their confidence intervals (any :class:`~innobaro.Estimate`).

    Parameters
    ----------
    result : Estimate
        Any estimate: means, totals, proportions, quantiles by domain, ...
        (anything with ``to_frame()`` and ``conf_int()``).
    level : float, optional
        Level of the intervals; the result's own by default.
    horizontal : bool, default True
        Estimates along the x axis, one row per entry, the first at the top;
        ``False`` draws them upright, one column per entry.
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``Axes.errorbar``.

    Returns
    -------
    matplotlib.axes.Axes
        One point per entry at its estimate, with bars from ``lower`` to
        ``upper`` of ``result.conf_int(level)``, labelled by domain and
        variable.

    Notes
    -----
    The intervals are the result's own: :math:`\\hat\\theta \\pm
    t_{df}\\,\\mathrm{SE}` for means and totals, the proportion's or the
    quantile's method otherwise.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.3 and 4.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> import innobaro.plot
    >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": range(8),
    ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
    ...                    "sector": ["edu", "health"] * 4,
    ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
    >>> d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    >>> ax = ib.plot.estimates(ib.mean(d, "y", by="sector"))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['edu, y', 'health, y']
    """
    frame = _interval_frame(result, level)
    ax = _axes(ax)
    _draw_intervals(ax, frame, horizontal, **kwargs)
    kind = getattr(result, "kind", "estimate")
    (ax.set_xlabel if horizontal else ax.set_ylabel)(str(kind))
    return ax


def forest(result: Any, *, level: float | None = None, exponentiate: bool = True,
           terms: Sequence[str] | None = None, intercept: bool = False, ax: Any = None,
           **kwargs: Any) -> Any:
    """Forest plot of a model's odds ratios (or coefficients) with intervals.

    Parameters
    ----------
    result : GLMResult, OrdinalResult or MLogitResult
        Any model result (anything with ``to_frame()`` and ``conf_int()``).
    level : float, optional
        Level of the intervals; the result's own (0.95) by default.
    exponentiate : bool, default True
        Draw :math:`e^{\\beta}` and :math:`e^{\\text{interval}}` (odds ratios
        of a logit model, rate ratios of a log link) on a log axis with a line
        at 1; ``False`` draws the coefficients with a line at 0.
    terms : sequence of str, optional
        The rows to draw (labels of ``result.to_frame()``'s index, the last
        level for a multinomial model's (category, term) rows); by default
        every coefficient but the intercept and an ordinal model's cutpoints.
    intercept : bool, default False
        Keep the intercept when ``terms`` is not given.
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``Axes.errorbar``.

    Returns
    -------
    matplotlib.axes.Axes
        One row per coefficient, the first at the top.

    Notes
    -----
    The intervals are the model's Wald intervals
    :math:`\\hat\\beta \\pm t_{df}\\,\\mathrm{SE}` (``conf_int``),
    exponentiated end by end: :math:`[e^{L}, e^{U}]`.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, ch. 6.

    Examples
    --------
    >>> import innobaro as ib
    >>> import innobaro.plot
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> ax = ib.plot.forest(m)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['C(sector)[T.health_care]', 'np.log(employees)']
    """
    frame = _interval_frame(result, level)
    last = frame.index.get_level_values(-1).astype(str)
    if terms is not None:
        keep = np.isin(last, list(terms))
        unknown = sorted(set(terms) - set(last))
        if unknown:
            raise EstimationError(f"forest: term(s) {', '.join(map(repr, unknown))} are not "
                                  f"in the model; its terms are {sorted(set(last))}")
    else:
        keep = np.ones(len(frame), bool) if intercept else ~np.isin(
            last, ["Intercept", "(Intercept)"])
        slopes = getattr(result, "slopes", None)
        if isinstance(slopes, pd.Series):  # an ordinal model: no cutpoints
            keep &= np.isin(last, slopes.index.astype(str))
    frame = frame[keep]
    if frame.empty:
        raise EstimationError("forest: no coefficient left to draw; pass terms= or "
                              "intercept=True")
    if exponentiate:
        frame = np.exp(frame)
    ax = _axes(ax)
    _draw_intervals(ax, frame, True, **kwargs)
    ax.axvline(1.0 if exponentiate else 0.0, color="grey", linestyle="--", linewidth=1)
    if exponentiate:
        ax.set_xscale("log")
        ax.set_xlabel("odds ratio" if getattr(result, "link", "logit") == "logit"
                      else "exp(coefficient)")
    else:
        ax.set_xlabel("coefficient")
    return ax
