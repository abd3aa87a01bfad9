"""Predictive margins and average marginal effects of survey GLMs.

The delta method lives here, in one place: every quantity is an average over
the design of a function of the coefficients, so its influence values are

.. math::

    z_i = w_i\\,(f_i(\\hat\\beta) - \\hat m)/\\hat N
          + \\Big(\\frac{1}{\\hat N}\\sum_j w_j \\nabla_\\beta f_j\\Big)^\\top z^{(\\beta)}_i,

the first term for the sampling of the population the margin averages over,
the second for the estimated coefficients (Korn and Graubard 1999, sec.
4.4; Graubard and Korn 1999). They go to the design's variance engine, so the
covariance between margins, and hence their differences, is design-based
(Stata's ``margins, vce(unconditional)``). R's ``svypredmeans`` adds the two
parts' variances and leaves out their covariance; ``method="svypredmeans"``
reproduces it.

References
----------
.. [1] Graubard, B. I. and Korn, E. L. (1999). Predictive margins with
   survey data. *Biometrics* 55, 652-659.
.. [2] Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*.
   Wiley.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ._linalg import tall_dot
from .errors import EstimationError
from .formula import constant_column
from .intervals import t_quantile
from .results import Estimate
from .variance import Influence, vcov_of

if TYPE_CHECKING:
    from .models import GLMResult

__all__ = ["MarginalEffect", "Margins", "average_marginal_effect", "predictive_margins"]


class Margins(Estimate):
    """Predictive margins with their design-based covariance.

    An :class:`~innobaro.Estimate` (kind ``"margin"``, indexed by the values
    of the variable, t intervals on the model's residual degrees of freedom),
    so :func:`~innobaro.contrast` takes it; the pairwise differences come
    ready-made.

    Attributes
    ----------
    variable : str
    table : pandas.DataFrame
        ``estimate``, ``se``, ``lower``, ``upper`` for each value.
    differences : pandas.DataFrame
        Every pairwise difference with ``estimate``, ``se``, ``lower``,
        ``upper``, ``statistic`` and ``pvalue`` (t on the model's residual
        degrees of freedom).

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> m.margins("sector").differences[["estimate", "se"]].round(3).values.tolist()
    [[-0.112, 0.022]]
    """

    def __init__(self, variable: str, estimate: np.ndarray, vcov: np.ndarray,
                 index: pd.Index, *, df: float, level: float,
                 differences: pd.DataFrame, kind: str = "margin") -> None:
        super().__init__(estimate, vcov, index, df=np.full(len(index), float(df)), kind=kind,
                         level=level)
        self.variable = variable
        self.differences = differences

    @property
    def table(self) -> pd.DataFrame:
        """``estimate``, ``se``, ``lower`` and ``upper`` for each value."""
        return self.to_frame()[["estimate", "se", "lower", "upper"]]

    def __repr__(self) -> str:
        return (f"Predictive margins of {self.variable} (df = {self.df:g})\n"
                + self.table.to_string(float_format=lambda v: f"{v:.6g}"))


class MarginalEffect(Estimate):
    """Average marginal effects: an :class:`~innobaro.Estimate` (kind
    ``"marginal effect"``) indexed by variable, with t intervals on the
    model's residual degrees of freedom.

    Attributes
    ----------
    estimate, se : pandas.Series
        The average derivative of the prediction and its design-based
        standard error.
    vcov : pandas.DataFrame
    df : float
        The model's residual degrees of freedom.
    level : float

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "x": [float(i) for i in range(10)],
    ...                    "y": [2.0 * i + 1 for i in range(10)]})
    >>> ame = ib.glm("y ~ x", ib.Design(df, psu="psu")).average_marginal_effect("x")
    >>> ame.estimate.round(6).tolist(), ame.kind
    ([2.0], 'marginal effect')
    """

    def __repr__(self) -> str:
        return (f"Average marginal effect (df = {self.df:g})\n"
                + self.to_frame()[["estimate", "se", "lower", "upper"]].to_string(
                    float_format=lambda v: f"{v:.6g}"))


def _fit_data(model: GLMResult) -> pd.DataFrame:
    return model.design.data.iloc[model.fit_rows]


def _set(data: pd.DataFrame, variable: str, value: Any) -> pd.DataFrame:
    out = data.copy()
    out[variable] = constant_column(data[variable], value)
    return out


class _Varied:
    """The model matrix and linear predictor with ``variable`` set to a value,
    rebuilding only the columns of the terms that read the variable.

    The linear predictor moves by :math:`(X^{(v)}_S - X_S)\\beta_S` over
    those columns S; the offset is re-evaluated only when the model has one.
    """

    def __init__(self, model: GLMResult, variable: str) -> None:
        self.model = model
        self.variable = variable
        design = model.design
        rows = model.fit_rows
        spec = model.spec
        self.terms = spec.terms_reading(variable, design.data, rows)
        self.cols = np.concatenate(
            [np.arange(spec.term_columns[t].start, spec.term_columns[t].stop)
             for t in self.terms] + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
        self.offset = model.fit_offset

    def base(self, B: np.ndarray) -> np.ndarray:
        """:math:`X_S B_S` at the data's own values, for coefficients ``B``
        ((p,) or (p, R))."""
        X = self.model.model_matrix
        out = np.zeros((X.shape[0], *B.shape[1:]))
        for j in self.cols:  # over the few columns S
            out += np.multiply.outer(X[:, j], B[j]) if B.ndim == 2 else X[:, j] * B[j]
        return out

    def matrix(self, value: Any) -> np.ndarray:
        """The (n_fit, |S|) columns S with the variable at ``value``."""
        model = self.model
        if not self.terms:
            return np.zeros((model.fit_rows.size, 0))
        return model.spec.matrix(model.design.data, terms=self.terms, rows=model.fit_rows,
                                 at={self.variable: value})

    def offset_at(self, value: Any) -> np.ndarray:
        """The offset of the fit's rows with the variable at ``value``."""
        model = self.model
        if not model.has_offset:
            return self.offset
        return model.offset_for(_set(_fit_data(model), self.variable, value),
                                fitted_rows=True)


def _margin_influence(model: GLMResult, fits: np.ndarray, grads: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimates and the two parts of the influence values of averages of
    ``fits`` (n_fit, k): the population part for the fit's rows (n_fit, k) and
    the coefficients' part for every row of the design (n, k)."""
    w = model.fit_weights
    N = w.sum()
    est = (w @ fits) / N
    z_pop = w[:, None] * (fits - est) / N
    z_beta = tall_dot(model.influence, grads)  # (n, k)
    return est, z_pop, z_beta


def _both_parts(model: GLMResult, z_pop: np.ndarray, z_beta: np.ndarray) -> np.ndarray:
    """The influence values of both parts, for every row of the design."""
    z = z_beta.copy() if not z_beta.flags.writeable else z_beta
    z[model.fit_rows] += z_pop
    return z


def _pop_only(model: GLMResult, z_pop: np.ndarray) -> np.ndarray:
    z = np.zeros((model.design.n, z_pop.shape[1]))
    z[model.fit_rows] = z_pop
    return z


def _vcov(model: GLMResult, est: np.ndarray, z: np.ndarray, reps) -> np.ndarray:
    design = model.design
    domain = np.where(design.present, 0, -1).astype(np.int64)
    return vcov_of(design, est, Influence(values=z, domain=domain, n_domains=1), reps)


def predictive_margins(model: GLMResult, variable: str, values: Sequence[Any] | None = None,
                       *, level: float = 0.95, method: str = "unconditional") -> Margins:
    """Predictive margins: the average prediction with ``variable`` set to each value.

    Parameters
    ----------
    model : GLMResult
    variable : str
        A column of the design's data used in the model.
    values : sequence, optional
        Values to set; by default the levels of a categorical variable, or
        the distinct values of a numeric one with at most 20 of them.
    level : float, default 0.95
    method : {"unconditional", "svypredmeans"}
        ``"unconditional"`` (default): the variance of the influence values
        above, covariance of both parts included. ``"svypredmeans"``: R's sum
        of the two parts' variances.

    Returns
    -------
    Margins

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(12), "w": [1.0, 2] * 6,
    ...                    "g": list("abcabcabcabc"), "x": [float(i) for i in range(12)],
    ...                    "y": [0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]})
    >>> m = ib.logit("y ~ g + x", ib.Design(df, weights="w", psu="psu"))
    >>> m.margins("g").table.index.tolist()
    ['a', 'b', 'c']
    """
    from .models import GLMResult

    if not isinstance(model, GLMResult):
        raise TypeError("predictive_margins needs a fitted model (ib.glm or ib.logit)")
    if variable not in model.design.data.columns:
        raise EstimationError(f"margins: {variable!r} is not a column of the data")
    if values is None:
        col = model.design.data[variable].iloc[model.fit_rows]
        if isinstance(col.dtype, pd.CategoricalDtype):
            # the levels with rows in the fit (the model drops the others)
            values = [c for c in col.cat.categories if (col == c).any()]
        else:
            uniq = np.sort(col.dropna().unique()) if pd.api.types.is_numeric_dtype(col) \
                else sorted(col.dropna().unique(), key=str)
            if len(uniq) > 20:
                raise EstimationError(f"margins: {variable!r} has {len(uniq)} values; give "
                                      f"values=... or use average_marginal_effect")
            values = list(uniq)
    fam = model.family_functions
    beta = model.beta
    w = model.fit_weights
    varied = _Varied(model, variable)
    X = model.model_matrix
    eta0 = X @ beta + model.fit_offset
    b_S = beta[varied.cols]
    eta0 -= varied.base(beta)  # the linear predictor without the columns S
    F = np.empty((w.size, len(values)))
    WD = np.empty((w.size, len(values)))
    G_S = np.empty((b_S.size, len(values)))
    for k, v in enumerate(values):  # over the values of the margin (a handful)
        X_v = varied.matrix(v)
        eta = eta0 + X_v @ b_S
        if model.has_offset:
            eta += varied.offset_at(v) - model.fit_offset
        mu = fam.inverse_link(eta)
        F[:, k] = mu
        WD[:, k] = w * fam.dmu_deta(eta, mu)
        G_S[:, k] = X_v.T @ WD[:, k]
    # G = X^(v)'(w d) / N: the unchanged columns for every value in one product,
    # the columns S of each value from its own matrix
    G = X.T @ WD
    G[varied.cols] = G_S
    G /= w.sum()
    est, z_pop, z_beta = _margin_influence(model, F, G)
    if method == "unconditional":
        V = _vcov(model, est, _both_parts(model, z_pop, z_beta),
                  _margin_reps(model, variable, values))
    elif method == "svypredmeans":
        V = _vcov(model, est, _pop_only(model, z_pop), _fixed_beta_reps(model, F)) \
            + G.T @ model.beta_cov @ G
    else:
        raise EstimationError("method must be 'unconditional' or 'svypredmeans'")
    return _make_margins(model, variable, values, est, V, level)


def _margin_reps(model: GLMResult, variable: str, values: Sequence[Any]):
    """Replicate margins: refit the model and re-average under each replicate."""
    def reps(W: np.ndarray) -> np.ndarray:
        Wf = W[model.fit_rows]
        B = model.refit(W).T  # (p, R)
        varied = _Varied(model, variable)
        E0 = tall_dot(model.model_matrix, B) + model.fit_offset[:, None]
        E0 -= varied.base(B)  # the linear predictors without the columns S
        B_S = B[varied.cols]
        out = []
        for v in values:  # over the values of the margin
            E = E0 + tall_dot(varied.matrix(v), B_S)
            if model.has_offset:
                E += (varied.offset_at(v) - model.fit_offset)[:, None]
            mu = model.family_functions.inverse_link(E)  # (n_fit, R)
            out.append((Wf * mu).sum(axis=0) / Wf.sum(axis=0))
        return np.column_stack(out)

    def from_factors(factors: Any) -> np.ndarray:
        """The same from unit factors, a block of rows at a time (no (n, R) array)."""
        src = factors.row_weights()
        B = model.refit(src).T  # (p, R)
        varied = _Varied(model, variable)
        X, off, cols = model.model_matrix, model.fit_offset, varied.cols
        at = [(varied.matrix(v), varied.offset_at(v) - off if model.has_offset else None)
              for v in values]
        B_S = B[cols]

        def fits(a: int, b: int) -> list[np.ndarray]:
            # the linear predictors of rows a:b without the columns S
            E0 = tall_dot(X[a:b], B) + off[a:b, None] - tall_dot(X[a:b][:, cols], B_S)
            out = []
            for M, d in at:  # over the values of the margin
                E = E0 + tall_dot(M[a:b], B_S)
                if d is not None:
                    E += d[a:b, None]
                out.append(model.family_functions.inverse_link(E))
            return out

        return _row_averages(src.take(model.fit_rows), len(values), fits)

    reps.from_factors = from_factors  # type: ignore[attr-defined]
    return reps


def _row_averages(src: Any, k: int, fits: Any) -> np.ndarray:
    r"""(R, k) weighted averages :math:`\sum_i W_{ir} f_{ijr} / \sum_i W_{ir}`
    of the fits ``fits(a, b)`` (k arrays of (b - a, R)) over the rows of the
    weights ``src`` (a :class:`~innobaro._linalg.RowWeights`), a block of
    rows at a time."""
    n, R = src.shape
    num = np.zeros((R, k))
    den = np.zeros(R)
    step = src.step(2 + k)
    for a in range(0, n, step):  # blocks of rows
        b = min(n, a + step)
        Wb = src.block(a, b)
        for j, f in enumerate(fits(a, b)):  # over the averaged quantities
            num[:, j] += np.einsum("ij,ij->j", Wb, f)
        den += Wb.sum(axis=0)
    return num / den[:, None]


def _fixed_beta_reps(model: GLMResult, F: np.ndarray):
    def reps(W: np.ndarray) -> np.ndarray:
        Wf = W[model.fit_rows]
        return (Wf.T @ F) / Wf.sum(axis=0)[:, None]

    def from_factors(factors: Any) -> np.ndarray:
        src = factors.row_weights().take(model.fit_rows)
        return (src.totals(lambda a, b: F[a:b], F.shape[1])
                / src.totals(lambda a, b: np.ones((b - a, 1)), 1))

    reps.from_factors = from_factors  # type: ignore[attr-defined]
    return reps


def _make_margins(model: GLMResult, variable: str, values: Sequence[Any], est: np.ndarray,
                  V: np.ndarray, level: float) -> Margins:
    index = pd.Index([v for v in values], name=variable)
    df = model.df_resid
    t = t_quantile(level, df)
    i, j = np.triu_indices(len(values), k=1)  # every pair of values
    d = est[j] - est[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sqrt(V[i, i] + V[j, j] - 2 * V[i, j])
        stat = np.where(s > 0, d / s, np.nan)
    p = 2 * stats.t.sf(np.abs(stat), df) if df > 0 else np.full(d.shape, np.nan)
    names = pd.Index([f"{values[int(b)]} - {values[int(a)]}" for a, b in zip(i, j, strict=True)],
                     name="contrast")
    diffs = pd.DataFrame({"estimate": d, "se": s, "lower": d - t * s, "upper": d + t * s,
                          "statistic": stat, "pvalue": p}, index=names)
    return Margins(variable, est, V, index, df=df, level=level, differences=diffs)


def average_marginal_effect(model: GLMResult, variable: str, *, level: float = 0.95,
                            step: float | None = None) -> MarginalEffect:
    """Average marginal effect of a continuous variable on the response scale.

    .. math::

        \\widehat{AME} = \\frac{1}{\\hat N}\\sum_i w_i\\,
            \\frac{\\partial\\mu_i}{\\partial x_i}
          = \\frac{1}{\\hat N}\\sum_i w_i\\, \\mu'(\\eta_i)\\,
            \\dot x_i^\\top\\hat\\beta,
        \\qquad \\dot x_i = \\partial x_i / \\partial x,

    where :math:`\\dot x_i` is the derivative of row i of the model matrix
    with respect to the variable, through every term that uses it
    (``np.log(x)``, ``I(x**2)``, interactions). It is computed by the complex
    step, :math:`\\dot x_i = \\operatorname{Im} x_i(x + ih)/h` with
    :math:`h = 10^{-20}`, exact to rounding (Squire and Trapp 1998), and
    checked against a central difference: a transform that does not carry
    complex numbers falls back to the central difference with step ``step``
    (by default 1e-5 times the variable's standard deviation), as does an
    explicit ``step``. The design-based standard error comes from the
    influence values of :mod:`innobaro.margins`, with the gradient
    :math:`\\frac{1}{\\hat N}\\sum_i w_i (\\mu''(\\eta_i)\\,
    \\dot x_i^\\top\\hat\\beta\\, x_i + \\mu'(\\eta_i)\\,\\dot x_i)`, or
    from refits under replicate weights.

    Parameters
    ----------
    model : GLMResult
        A fitted model (:func:`~innobaro.glm`, :func:`~innobaro.logit`).
    variable : str
        A numeric column of the design's data used in the model.
    level : float, default 0.95
        Confidence level.
    step : float, optional
        Step of the central difference, used instead of the complex step
        when given.

    Returns
    -------
    MarginalEffect
        An :class:`~innobaro.Estimate` with one entry (indexed by
        ``variable``); ``to_frame()`` gives ``estimate``, ``se``, ``lower``,
        ``upper`` and ``df``.

    References
    ----------
    .. [1] Squire, W. and Trapp, G. (1998). Using complex variables to
       estimate derivatives of real functions. *SIAM Review* 40, 110-112.
    .. [2] Bartus, T. (2005). Estimation of marginal effects using margeff.
       *Stata Journal* 5, 309-329.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "w": [1.0] * 10,
    ...                    "x": [float(i) for i in range(10)],
    ...                    "y": [2.0 * i + 1 for i in range(10)]})
    >>> m = ib.glm("y ~ x", ib.Design(df, weights="w", psu="psu"))
    >>> m.average_marginal_effect("x").estimate.round(6).tolist()
    [2.0]
    """
    data = _fit_data(model)
    col = data[variable]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise EstimationError(f"average_marginal_effect: {variable!r} is not numeric; use "
                              f"margins() for a categorical variable")
    x = col.to_numpy(dtype=float)
    dX = _matrix_derivative(model, data, variable, x, step)
    d_off = _offset_derivative(model, data, variable, x, step)
    if not dX.any():
        raise EstimationError(f"average_marginal_effect: no model term uses {variable!r}")
    fam, beta, X = model.family_functions, model.beta, model.model_matrix
    eta = X @ beta + model.fit_offset
    mu = fam.inverse_link(eta)
    d1 = fam.dmu_deta(eta, mu)
    slope = dX @ beta + d_off  # d eta / d x, per row (an offset in x included)
    deriv = d1 * slope
    w = model.fit_weights
    grad = ((w * fam.d2mu_deta2(mu) * slope) @ X + (w * d1) @ dX) / w.sum()
    est, z_pop, z_beta = _margin_influence(model, deriv[:, None], grad[:, None])

    def reps(W: np.ndarray) -> np.ndarray:
        Wf = W[model.fit_rows]
        B = model.refit(W).T  # (p, R)
        E = tall_dot(X, B) + model.fit_offset[:, None]
        d = fam.dmu_deta(E, fam.inverse_link(E)) * (tall_dot(dX, B) + d_off[:, None])
        return ((Wf * d).sum(axis=0) / Wf.sum(axis=0))[:, None]

    def slopes(B: np.ndarray, a: int, b: int) -> list[np.ndarray]:
        E = tall_dot(X[a:b], B) + model.fit_offset[a:b, None]
        return [fam.dmu_deta(E, fam.inverse_link(E)) * (tall_dot(dX[a:b], B)
                                                        + d_off[a:b, None])]

    def from_factors(factors: Any) -> np.ndarray:  # a block of rows at a time
        src = factors.row_weights()
        B = model.refit(src).T  # (p, R)
        return _row_averages(src.take(model.fit_rows), 1, lambda a, b: slopes(B, a, b))

    reps.from_factors = from_factors  # type: ignore[attr-defined]

    V = _vcov(model, est, _both_parts(model, z_pop, z_beta), reps)
    return MarginalEffect(est, V, pd.Index([variable], name="variable"),
                          df=np.array([float(model.df_resid)]), kind="marginal effect",
                          level=level)



def _offset_derivative(model: GLMResult, data: pd.DataFrame, variable: str, x: np.ndarray,
                       step: float | None) -> np.ndarray:
    """Derivative of the model's offset with respect to ``variable`` (zero
    unless an ``offset()`` term uses it), by a central difference."""
    h = step if step is not None else 1e-5 * max(float(np.std(x)), 1e-8)
    up = model.offset_for(data.assign(**{variable: x + h}), fitted_rows=True)
    down = model.offset_for(data.assign(**{variable: x - h}), fitted_rows=True)
    return (up - down) / (2 * h)


def _matrix_derivative(model: GLMResult, data: pd.DataFrame, variable: str, x: np.ndarray,
                       step: float | None) -> np.ndarray:
    """Derivative of the model matrix's rows with respect to ``variable``."""
    h = step if step is not None else 1e-5 * max(float(np.std(x)), 1e-8)

    def built(values: np.ndarray) -> np.ndarray:
        return model.spec.matrix(data.assign(**{variable: values}))

    try:
        central = (built(x + h) - built(x - h)) / (2 * h)
    except EstimationError as exc:
        raise EstimationError(f"average_marginal_effect: cannot rebuild the model matrix "
                              f"with {variable!r} moved by {h:.3g}: {exc}") from None
    if step is not None:
        return central
    tiny = 1e-20
    try:
        moved = built(x + 1j * tiny)
    except Exception:  # a transform that does not take complex numbers
        return central
    if not np.iscomplexobj(moved):
        return central
    exact = moved.imag / tiny
    # a transform that silently drops the imaginary part would give zero:
    # accept the complex step only where the central difference agrees
    if np.allclose(exact, central, rtol=1e-4, atol=1e-6 * (np.abs(central).max() + 1)):
        return exact
    return central
