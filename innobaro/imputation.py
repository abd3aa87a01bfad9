r"""Multiple imputation and plausible values: one analysis per completed data set,
combined by Rubin's rules (R's ``mitools``: ``imputationList``, ``with``,
``MIcombine``; survey's ``withPV``).

With :math:`m` completed data sets, estimates :math:`\hat\theta_k` and their
design-based covariance matrices :math:`W_k` (:math:`k = 1..m`), Rubin's
(1987) rules give

.. math::

    \bar\theta = \frac1m \sum_k \hat\theta_k, \qquad
    \bar W = \frac1m \sum_k W_k, \qquad
    B = \frac{1}{m-1} \sum_k (\hat\theta_k - \bar\theta)(\hat\theta_k - \bar\theta)^\top,

    T = \bar W + (1 + 1/m)\, B .

For each entry, with :math:`r = (1 + 1/m) B_{jj} / \bar W_{jj}` (the relative
increase in variance due to nonresponse), the degrees of freedom are Rubin's
:math:`\nu_m = (m - 1)(1 + 1/r)^2`; given the complete-data degrees of freedom
:math:`\nu_{com}`, Barnard and Rubin's (1999) small-sample degrees of freedom
are :math:`\nu = (1/\nu_m + 1/\hat\nu_{obs})^{-1}` with

.. math::

    \hat\nu_{obs} = \frac{\nu_{com} + 1}{\nu_{com} + 3}\, \nu_{com}\, (1 - \gamma),

where mitools (and so innobaro's default, ``df_method="mitools"``) takes
:math:`1 - \gamma = \bar W_{jj} / (\bar W_{jj} + B_{jj})`, and Barnard and
Rubin's paper (``df_method="barnard-rubin"``) :math:`1 - \gamma = \bar W_{jj} /
T_{jj}`. The fraction of missing information is
:math:`(r + 2/(\nu + 3)) / (r + 1)`.

References
----------
.. [1] Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
   Wiley.
.. [2] Barnard, J. and Rubin, D. B. (1999). Small-sample degrees of freedom
   with multiple imputation. *Biometrika* 86, 948-955.
.. [3] Lumley, T. (2010). *Complex Surveys*, ch. 9.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from ._frames import as_frame
from ._linalg import RowWeights
from .design import Design, ReplicateDesign, SurveyDesign
from .errors import InnobaroError
from .results import Estimate, as_estimate

__all__ = ["ImputationDesigns", "ImputationError", "MIEstimate", "imputation_designs",
           "mi_combine", "with_imputations", "with_plausible_values"]

DfMethod = Literal["mitools", "barnard-rubin"]

#: The design arguments whose columns must agree between imputed data sets.
_DESIGN_ARGS = ("weights", "probs", "strata", "psu", "fpc", "replicate_weights")


class ImputationError(InnobaroError):
    """Imputed data sets, their designs or their results do not agree (or there are none)."""


class MIEstimate(Estimate):
    """Estimates combined over imputations by Rubin's rules (R's ``MIcombine``).

    An :class:`~innobaro.Estimate` (the same accessors, intervals and
    contrasts) whose :attr:`vcov` is Rubin's total variance :math:`T` and
    whose :attr:`df` are the multiple-imputation degrees of freedom, with the
    parts of the variance.

    Parameters
    ----------
    estimate, vcov : numpy.ndarray
        The combined estimates and Rubin's total covariance :math:`T`.
    index : pandas.Index
        The entries (as the combined results').
    df : numpy.ndarray
        The degrees of freedom of each entry.
    kind : str
        What was estimated (as the combined results').
    within, between : numpy.ndarray
        :math:`\\bar W` and :math:`B`.
    missing_info : numpy.ndarray
        Fraction of missing information of each entry.
    n_imputations : int
        :math:`m`.
    df_complete : float
        Complete-data degrees of freedom (``inf``: Rubin's df).
    level : float, default 0.95
        Level of the intervals.
    notes : tuple of str
        Lines printed under the table.

    Attributes
    ----------
    within : pandas.DataFrame
        :math:`\\bar W`, the average of the design-based covariance matrices.
    between : pandas.DataFrame
        :math:`B`, the covariance of the estimates between imputations.
    missing_info : pandas.Series
        The fraction of missing information of each entry (R's ``missinfo``).
    n_imputations : int
        :math:`m`.
    df_complete : float
        The complete-data degrees of freedom (``inf``: Rubin's 1987 df).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> base = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 2, 1, 2]})
    >>> sets = [base.assign(y=[1.0, 2, 3, 4, 5, v]) for v in (6.0, 7.0, 9.0)]
    >>> res = ib.with_imputations(ib.imputation_designs(sets, weights="w", psu="psu"),
    ...                           lambda d: ib.mean(d, "y"))
    >>> type(res).__name__, res.n_imputations, round(float(res.estimate.iloc[0]), 4)
    ('MIEstimate', 3, 3.963)
    """

    def __init__(self, estimate: np.ndarray, vcov: np.ndarray, index: pd.Index, *,
                 df: np.ndarray, kind: str, within: np.ndarray, between: np.ndarray,
                 missing_info: np.ndarray, n_imputations: int, df_complete: float,
                 level: float = 0.95, notes: tuple[str, ...] = ()) -> None:
        """Made by :func:`mi_combine`; see the class for the parameters."""
        super().__init__(estimate, vcov, index, df=df, kind=kind, level=level, notes=notes)
        self.within = pd.DataFrame(within, index=index, columns=index)
        self.between = pd.DataFrame(between, index=index, columns=index)
        self.missing_info = pd.Series(missing_info, index=index, name="missing_info")
        self.n_imputations = n_imputations
        self.df_complete = df_complete

    @property
    def interval_method(self) -> str:
        """``"wald"``: estimate -/+ t quantile on the imputation df times se."""
        return "wald"

    def _title(self) -> str:
        return f"{self.kind.capitalize()}, combined over {self.n_imputations} imputations"


class ImputationDesigns(Sequence[SurveyDesign]):
    """The same survey design over each of several imputed data sets.

    R's ``svydesign(data = imputationList(...))``. A sequence of designs: index
    it, iterate over it, or pass it to :func:`with_imputations`.

    Parameters
    ----------
    designs : sequence of SurveyDesign
        One design per completed data set, with the same rows and the same
        design (weights, strata, clusters, fpc, replicate weights).

    Raises
    ------
    ImputationError
        When there are no designs, or they differ in rows or weights.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> base = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 1, 2]})
    >>> sets = [base.assign(y=[1.0, 2, 3, v]) for v in (4.0, 5.0)]
    >>> designs = ib.imputation_designs(sets, weights="w", psu="psu")
    >>> len(designs), type(designs[0]).__name__
    (2, 'Design')
    """

    def __init__(self, designs: Sequence[SurveyDesign]) -> None:
        designs = tuple(designs)
        if not designs:
            raise ImputationError("no imputed data sets: give at least one")
        for k, d in enumerate(designs):
            if not isinstance(d, SurveyDesign):
                raise ImputationError(f"imputation {k + 1} is a {type(d).__name__}, not an "
                                      f"innobaro design")
        first = designs[0]
        for k, d in enumerate(designs[1:], start=2):
            if type(d) is not type(first):
                raise ImputationError(f"imputation {k} is a {type(d).__name__}; imputation 1 "
                                      f"is a {type(first).__name__}")
            if d.n != first.n:
                raise ImputationError(f"imputation {k} has {d.n} rows; imputation 1 has "
                                      f"{first.n}: imputed data sets must hold the same rows")
            _same(first.unmasked_weights, d.unmasked_weights, k, "the weights")
            _same(first.present.astype(float), d.present.astype(float), k, "the domain")
            if isinstance(first, ReplicateDesign) and isinstance(d, ReplicateDesign):
                if d.n_replicates != first.n_replicates:
                    raise ImputationError(f"imputation {k} has {d.n_replicates} replicates; "
                                          f"imputation 1 has {first.n_replicates}")
                _same_replicates(first, d, k)
        self._designs = designs

    @overload
    def __getitem__(self, i: int) -> SurveyDesign: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[SurveyDesign]: ...

    def __getitem__(self, i: int | slice) -> SurveyDesign | Sequence[SurveyDesign]:
        return self._designs[i]

    def __len__(self) -> int:
        return len(self._designs)

    def __iter__(self) -> Iterator[SurveyDesign]:
        return iter(self._designs)

    def __repr__(self) -> str:
        first = self._designs[0]
        return (f"ImputationDesigns: {len(self)} imputations of a {type(first).__name__} "
                f"with {first.n} rows")

    def replicate(self, method: str, *, replicates: int | None = None,
                  seed: int | np.random.Generator | None = None, **options: Any
                  ) -> ImputationDesigns:
        """Replicate-weight designs, the same replicate weights in every imputation.

        R's ``as.svrepdesign`` of imputation designs: the replicate weights
        are made once (the design is the same in every imputation) and each
        imputation gets them with its own data.

        Parameters
        ----------
        method : str
            A method of :meth:`innobaro.Design.replicate` (``"jk1"``,
            ``"jkn"``, ``"brr"``, ``"fay"``, ``"bootstrap"``,
            ``"subbootstrap"``), or ``"mrbbootstrap"``
            (:func:`~innobaro.mrb_bootstrap`) or ``"sdr"``
            (:func:`~innobaro.sdr_replicates`).
        replicates : int, optional
            Number of replicates (the method's default otherwise).
        seed : int or numpy.random.Generator, optional
            Seed of a random method, drawn from once for all imputations.
        **options
            Further arguments of the method (``rho``, ``mse``, ``sort``, ...).

        Returns
        -------
        ImputationDesigns
            Replicate designs with identical replicate weights.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> base = pd.DataFrame({"h": [1, 1, 2, 2, 2], "w": [1.0, 2, 1, 2, 1]})
        >>> sets = [base.assign(y=[1.0, 2, 3, 4, v]) for v in (4.0, 5.0)]
        >>> reps = ib.imputation_designs(sets, weights="w", strata="h").replicate(
        ...     "bootstrap", replicates=20, seed=3)
        >>> bool((reps[0].unmasked_replicate_weights == reps[1].unmasked_replicate_weights).all())
        True
        """
        from .replicate_weights import mrb_bootstrap, sdr_replicates

        first = self._designs[0]
        if not isinstance(first, Design):
            raise ImputationError("the imputation designs already have replicate weights")
        # one integer seed for every imputation: the same draws from the same design
        fixed = int(np.random.default_rng(seed).integers(2 ** 63 - 1))
        out = []
        for d in self._designs:
            assert isinstance(d, Design)
            if method == "mrbbootstrap":
                out.append(mrb_bootstrap(d, replicates=50 if replicates is None else replicates,
                                         seed=fixed, **options))
            elif method in ("sdr", "successive-difference"):
                out.append(sdr_replicates(d, replicates=80 if replicates is None else replicates,
                                          **options))
            else:
                out.append(d.replicate(method, replicates=replicates, seed=fixed, **options))
        return ImputationDesigns(out)

    def subset(self, mask: Any) -> ImputationDesigns:
        """The same domain in every imputation (R's ``subset`` of imputation designs).

        Parameters
        ----------
        mask : str or array-like
            As :meth:`innobaro.Design.subset`: a query string evaluated on
            each imputed data set, or a boolean array.

        Returns
        -------
        ImputationDesigns
            Each design restricted to the domain. A query over imputed
            columns can select different rows in different imputations,
            which Rubin's rules allow (the domain size then varies too).

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> base = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 1, 2], "g": [0, 0, 1, 1]})
        >>> sets = [base.assign(y=[1.0, 2, 3, v]) for v in (4.0, 5.0)]
        >>> sub = ib.imputation_designs(sets, weights="w", psu="psu").subset("g == 1")
        >>> [int(d.present.sum()) for d in sub]
        [2, 2]
        """
        out = object.__new__(ImputationDesigns)
        out._designs = tuple(d.subset(mask) for d in self._designs)
        return out


def _same_replicates(first: ReplicateDesign, d: ReplicateDesign, k: int) -> None:
    """The replicate weights of two designs agree (as :func:`_same`), read a
    block of rows at a time: replicates held as unit factors are compared
    without making their (n, R) matrices."""
    fa, fb = first.replicate_factors, d.replicate_factors
    if fa is not None and fb is not None and np.array_equal(fa.unit, fb.unit) \
            and np.array_equal(fa.factors, fb.factors):
        return  # w F with the same factors: the weights, compared already, decide
    a = fa.row_weights() if fa is not None else RowWeights(first.unmasked_replicate_weights)
    b = fb.row_weights() if fb is not None else RowWeights(d.unmasked_replicate_weights)
    n = a.shape[0]
    step = a.step()
    for start in range(0, n, step):  # blocks of rows
        _same(a.block(start, start + step), b.block(start, start + step), k,
              "the replicate weights", offset=start)


def _same(a: np.ndarray, b: np.ndarray, k: int, what: str, column: str | None = None,
          offset: int = 0) -> None:
    a = np.asarray(a)
    b = np.asarray(b)
    equal = (a == b) | (pd.isna(a) & pd.isna(b)) if a.dtype == object or b.dtype == object \
        else np.isclose(a, b, rtol=1e-12, atol=0, equal_nan=True)
    if not np.all(equal):
        bad = np.argwhere(~np.asarray(equal))[0]
        where = f" (column {column!r})" if column else ""
        raise ImputationError(f"imputation {k} differs from imputation 1 in {what}{where} at "
                              f"row {int(bad[0]) + offset}: the design must be the same in every "
                              f"imputed data set")


def imputation_designs(datasets: Sequence[Any], **design_args: Any) -> ImputationDesigns:
    """One survey design per imputed data set (R's ``svydesign(data = imputationList(...))``).

    Parameters
    ----------
    datasets : sequence of data frames
        The completed data sets, one per imputation, with the same rows in
        the same order; only imputed values may differ.
    **design_args
        The arguments of :class:`~innobaro.Design` (``weights``, ``strata``,
        ``psu``, ``fpc``, ...), or of :class:`~innobaro.ReplicateDesign` when
        ``replicate_weights`` is among them.

    Returns
    -------
    ImputationDesigns
        The designs, for :func:`with_imputations`.

    Raises
    ------
    ImputationError
        When the list is empty, or the data sets differ in their number of
        rows or in a design column (weights, probs, strata, psu, fpc,
        replicate weights): the message names the imputation, the column and
        the first row that differs.

    Notes
    -----
    Every design variable must be the same in all imputations (mitools and
    survey only assume it); analysis variables may differ.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 9.2.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> base = pd.DataFrame({"h": [1, 1, 2, 2], "w": [1.0, 2, 1, 2]})
    >>> sets = [base.assign(y=[1.0, 2, 3, v]) for v in (4.0, 5.0)]
    >>> ib.imputation_designs(sets, weights="w", strata="h")
    ImputationDesigns: 2 imputations of a Design with 4 rows
    """
    if isinstance(datasets, (pd.DataFrame, Mapping)) or not isinstance(datasets, Sequence):
        raise ImputationError("datasets must be a list of data frames, one per imputation")
    frames = [as_frame(df, f"imputed data set {k + 1}") for k, df in enumerate(datasets)]
    if not frames:
        raise ImputationError("no imputed data sets: give at least one")
    n0 = len(frames[0])
    for k, f in enumerate(frames[1:], start=2):
        if len(f) != n0:
            raise ImputationError(f"imputed data set {k} has {len(f)} rows; data set 1 has "
                                  f"{n0}: imputed data sets must hold the same rows")
    columns: list[str] = []
    for arg in _DESIGN_ARGS:
        spec = design_args.get(arg)
        if isinstance(spec, str):
            columns.append(spec)
        elif spec is not None:
            columns.extend(str(c) for c in spec)
    for k, f in enumerate(frames[1:], start=2):
        for c in columns:
            if c in f.columns and c in frames[0].columns:
                _same(_values(frames[0][c]), _values(f[c]), k, "a design column", c)
    if "replicate_weights" in design_args:
        return ImputationDesigns([ReplicateDesign(f, **design_args) for f in frames])
    return ImputationDesigns([Design(f, **design_args) for f in frames])


def _values(col: Any) -> np.ndarray:
    s = pd.Series(col)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    return s.astype(object).to_numpy()


def _run(designs: Sequence[SurveyDesign], fn: Callable[[SurveyDesign], Any]) -> list[Any]:
    return [fn(d) for d in designs]


def with_imputations(designs: ImputationDesigns | Sequence[SurveyDesign],
                     fn: Callable[[SurveyDesign], Any], *, combine: bool = True,
                     df_complete: float | None = None, df_method: DfMethod = "mitools"
                     ) -> MIEstimate | list[Any]:
    """Run an analysis on every imputation and combine it (R's ``with`` + ``MIcombine``).

    Parameters
    ----------
    designs : ImputationDesigns or sequence of SurveyDesign
        From :func:`imputation_designs`.
    fn : callable
        ``fn(design) -> result``: any estimator or model, e.g.
        ``lambda d: ib.mean(d, "y")`` or ``lambda d: ib.glm("y ~ x", d)``.
    combine : bool, default True
        Combine the results by Rubin's rules (:func:`mi_combine`); False
        returns the list of results.
    df_complete : float, optional
        Complete-data degrees of freedom for Barnard and Rubin's df (R's
        ``df.complete``), e.g. the design's ``df``; None: Rubin's (1987) df.
    df_method : {"mitools", "barnard-rubin"}
        The form of the observed-data df (see :mod:`innobaro.imputation`).

    Returns
    -------
    MIEstimate or list
        The combined result, or the results of each imputation.

    Notes
    -----
    Rubin's rules (module :mod:`innobaro.imputation`): the mean of the
    estimates, with variance :math:`\\bar W + (1 + 1/m) B`.

    References
    ----------
    .. [1] Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> base = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 2, 1, 2]})
    >>> sets = [base.assign(y=[1.0, 2, 3, 4, 5, v]) for v in (6.0, 7.0, 9.0)]
    >>> designs = ib.imputation_designs(sets, weights="w", psu="psu")
    >>> res = ib.with_imputations(designs, lambda d: ib.mean(d, "y"))
    >>> res.se.round(4).tolist(), round(res.df, 2)
    ([1.1328], 139.52)
    """
    if not isinstance(designs, ImputationDesigns):
        designs = ImputationDesigns(designs)
    results = _run(designs, fn)
    return mi_combine(results, df_complete=df_complete, df_method=df_method) if combine \
        else results


def with_plausible_values(design: SurveyDesign, mapping: Mapping[str, Sequence[str]],
                          fn: Callable[[SurveyDesign], Any], *, combine: bool = True,
                          df_complete: float | None = None, df_method: DfMethod = "mitools"
                          ) -> MIEstimate | list[Any]:
    """Run an analysis once per plausible value and combine (R's ``withPV`` + ``MIcombine``).

    Parameters
    ----------
    design : SurveyDesign
        The design, whose data hold the plausible-value columns.
    mapping : dict
        ``{name: [pv1, pv2, ...]}``: the working column ``name`` takes the
        values of each listed column in turn (R's ``mapping = name ~ pv1 +
        pv2 + ...``). Every name needs the same number of plausible values.
    fn : callable
        ``fn(design) -> result``, analysing the working columns, e.g.
        ``lambda d: ib.mean(d, "math")``.
    combine : bool, default True
        Combine by Rubin's rules (:func:`mi_combine`); False returns the list.
    df_complete : float, optional
        Complete-data degrees of freedom (Barnard and Rubin); None: Rubin's df.
    df_method : {"mitools", "barnard-rubin"}
        The form of the observed-data df.

    Returns
    -------
    MIEstimate or list
        The combined result, or one result per plausible value.

    Raises
    ------
    ImputationError
        When a working name is already a column of the data, the names have
        different numbers of plausible values, or none are given.

    Notes
    -----
    Plausible values are imputations of a latent score; they combine by
    Rubin's rules as multiple imputations do (Mislevy 1991).

    References
    ----------
    .. [1] Mislevy, R. J. (1991). Randomization-based inference about latent
       variables from complex samples. *Psychometrika* 56, 177-196.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(5), "pv1": [1.0, 2, 3, 4, 5],
    ...                    "pv2": [1.5, 2, 3, 4, 6], "pv3": [1.0, 2.5, 3, 4, 4]})
    >>> d = ib.Design(df, psu="psu")
    >>> res = ib.with_plausible_values(d, {"score": ["pv1", "pv2", "pv3"]},
    ...                                lambda d: ib.mean(d, "score"))
    >>> res.estimate.round(4).tolist()
    [3.0667]
    """
    if not isinstance(mapping, Mapping) or not mapping:
        raise ImputationError("mapping must be a dict {working name: [plausible value "
                              "columns]} with at least one entry")
    data = design.data
    lists = {}
    for name, cols in mapping.items():
        if name in data.columns:
            raise ImputationError(f"working name {name!r} is already a column of the data; "
                                  f"choose a new name")
        cols = [cols] if isinstance(cols, str) else list(cols)
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise ImputationError(f"plausible values of {name!r}: column(s) "
                                  f"{', '.join(map(repr, missing))} not found in the data")
        if not cols:
            raise ImputationError(f"no plausible value columns for {name!r}")
        lists[name] = cols
    counts = {name: len(c) for name, c in lists.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise ImputationError(f"every working name needs the same number of plausible "
                              f"values; got {listed}")
    m = next(iter(counts.values()))
    designs = [design.with_columns({name: data[cols[k]] for name, cols in lists.items()})
               for k in range(m)]
    results = _run(designs, fn)
    return mi_combine(results, df_complete=df_complete, df_method=df_method) if combine \
        else results


def mi_combine(results: Sequence[Any], *, df_complete: float | None = None,
               df_method: DfMethod = "mitools") -> MIEstimate:
    """Combine results over imputations by Rubin's rules (R's ``MIcombine``).

    Parameters
    ----------
    results : sequence
        One result per imputation: :class:`~innobaro.Estimate`, or any result
        with ``coefficients`` (a fitted model), with the same entries.
    df_complete : float, optional
        Complete-data degrees of freedom (R's ``df.complete``): Barnard and
        Rubin's (1999) df; None or ``inf``: Rubin's (1987) df.
    df_method : {"mitools", "barnard-rubin"}
        ``"mitools"`` reproduces R's ``MIcombine``, whose observed-data df
        uses :math:`\\bar W/(\\bar W + B)`; ``"barnard-rubin"`` uses the
        paper's :math:`\\bar W / T`.

    Returns
    -------
    MIEstimate
        Mean of the estimates, Rubin's total covariance, the df of each
        entry, with ``within``, ``between`` and ``missing_info``.

    Raises
    ------
    ImputationError
        When there are fewer than two results or their entries differ.

    Notes
    -----
    :math:`\\bar\\theta = m^{-1}\\sum_k \\hat\\theta_k`,
    :math:`T = \\bar W + (1 + 1/m) B`, :math:`\\nu_m = (m-1)(1 + 1/r)^2` with
    :math:`r = (1 + 1/m) B_{jj}/\\bar W_{jj}`; with :math:`\\nu_{com}`,
    :math:`\\nu = (1/\\nu_m + 1/\\hat\\nu_{obs})^{-1}` (module docstring).

    References
    ----------
    .. [1] Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
    .. [2] Barnard, J. and Rubin, D. B. (1999). *Biometrika* 86, 948-955.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> base = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 2, 1, 2]})
    >>> designs = [ib.Design(base.assign(y=[1.0, 2, 3, 4, 5, v]), weights="w", psu="psu")
    ...            for v in (6.0, 7.0, 9.0)]
    >>> res = ib.mi_combine([ib.mean(d, "y") for d in designs], df_complete=5)
    >>> round(res.df, 4), res.missing_info.round(4).tolist()
    (3.3219, [0.3982])
    """
    if df_method not in ("mitools", "barnard-rubin"):
        raise ImputationError(f"df_method must be 'mitools' or 'barnard-rubin'; got "
                              f"{df_method!r}")
    results = list(results)
    if len(results) < 2:
        raise ImputationError(f"Rubin's rules need at least two imputations; got "
                              f"{len(results)}")
    ests = []
    for k, r in enumerate(results):
        try:
            ests.append(as_estimate(r))
        except TypeError:
            raise ImputationError(f"result {k + 1} is a {type(r).__name__}, which has no "
                                  f"estimates and covariance to combine") from None
    index = ests[0].estimate.index
    for k, e in enumerate(ests[1:], start=2):
        if not e.estimate.index.equals(index):
            raise ImputationError(f"result {k} has entries {list(e.estimate.index)[:10]}; "
                                  f"result 1 has {list(index)[:10]}: every imputation must "
                                  f"estimate the same things")
    m = len(ests)
    theta = np.stack([e.estimate.to_numpy(dtype=float) for e in ests])
    W = np.stack([e.vcov.to_numpy(dtype=float) for e in ests]).mean(axis=0)
    est = theta.mean(axis=0)
    dev = theta - est
    B = dev.T @ dev / (m - 1)
    T = W + (1 + 1 / m) * B
    w = np.diag(W)
    b = np.diag(B)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1 + 1 / m) * b / w
        df = (m - 1) * (1 + 1 / r) ** 2
        nu = np.inf if df_complete is None else float(df_complete)
        if np.isfinite(nu):
            kept = w / (w + b) if df_method == "mitools" else w / np.diag(T)
            dfobs = (nu + 1) / (nu + 3) * nu * kept
            df = 1 / (1 / dfobs + 1 / df)
        missinfo = (r + 2 / (df + 3)) / (r + 1)
    first = ests[0]
    out = MIEstimate(est, T, index, df=df, kind=first.kind, level=first.level, within=W,
                     between=B, missing_info=missinfo, n_imputations=m, df_complete=nu,
                     notes=(f"Rubin's rules over {m} imputations"
                            + ("" if not np.isfinite(nu) else
                               f"; Barnard-Rubin df with complete-data df {nu:g}"),))
    return out
