"""Survey designs: weights, strata, multistage clusters, fpc, lonely PSUs, domains.

A :class:`Design` is built once from a DataFrame. Its strata, cluster and
domain labels are factorised to integer codes at construction, so every
estimator after that works on numpy arrays. A design is immutable: its
options are read-only properties, the arrays it hands out are read-only, and
``subset``, ``with_columns``, ``with_weights`` and the weighting methods
return new designs that share the arrays. What estimators and variance
engines derive from a design's rows is kept in its :class:`DesignCache`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from ._frames import FrameView, as_frame, as_series
from ._linalg import RowWeights
from ._validate import (
    as_column_list,
    check_column_arg,
    check_columns,
    check_unique_columns,
    compact_codes,
    factorize_columns,
    numeric_column,
    plain,
)
from .errors import DesignError, InnobaroWarning, LonelyPSUError, MissingValueError

__all__ = ["HR", "MAX_JOINT_ENTRIES", "Design", "DesignCache", "HartleyRao",
           "JointProbabilities", "JointProbabilityError", "LonelyRule", "PPSError", "PPSInfo",
           "PPSSizeError", "ReplicateDesign", "SurveyDesign", "check_design", "ppsmat",
           "read_only", "stage_certain", "unit_fpc_factor"]

LonelyRule = Literal["fail", "remove", "adjust", "average", "certainty"]
_LONELY_RULES = ("fail", "remove", "adjust", "average", "certainty")

#: A stratum whose finite population correction is below this is taken as
#: self-representing (sampled with certainty), as R's survey package does.
CERTAINTY_TOL = 1e-7

#: Largest matrix of joint inclusion probabilities :func:`ppsmat` designs take,
#: in entries (``n * n`` for ``n`` sampled units): 25 million, an n of 5,000.
#: Building the design holds about four dense float64 copies of that size
#: (the matrix given, its checks and ``(pi_ij - pi_i pi_j) / pi_ij``), 800 MB
#: at the limit, and keeps a sparse copy (12 bytes per nonzero entry).
MAX_JOINT_ENTRIES = 25_000_000


class PPSError(DesignError):
    """An unequal-probability (``pps``) design's inclusion probabilities are missing or wrong."""


class JointProbabilityError(PPSError):
    """Joint inclusion probabilities are inconsistent with each other or the first-order ones."""


class PPSSizeError(PPSError):
    """A matrix of joint inclusion probabilities is larger than :data:`MAX_JOINT_ENTRIES`."""


@dataclass(frozen=True)
class HartleyRao:
    """Hartley and Rao's approximation of the joint probabilities (made by :func:`HR`).

    Attributes
    ----------
    psum : float, dict or None
        :math:`\\sum_k \\pi_k^2 / n` over the population, for every stratum
        or per stratum; None estimates it by the mean of the sampled units'
        probabilities in the stratum, as R's ``HR()``.
    """

    psum: float | dict[Any, float] | None = None


def HR(psum: float | dict[Any, float] | None = None) -> HartleyRao:
    """Hartley-Rao approximation for a ``pps`` design (R's ``HR``).

    The joint inclusion probability of units :math:`i \\neq j` of a stratum
    with :math:`n` sampled units is approximated by (Hartley and Rao 1962,
    truncated as in R's survey package)

    .. math::

        \\check\\Delta_{ij} = 1 - \\frac{n - \\pi_i - \\pi_j + \\bar P}{n - 1},
        \\qquad \\check\\Delta_{ii} = 1 - \\pi_i,

    where :math:`\\bar P = \\sum_{k \\in U} \\pi_k^2 / n` is ``psum``.

    Parameters
    ----------
    psum : float or dict, optional
        :math:`\\bar P`: one number for every stratum, or a dict from the
        stratum's label (as :attr:`Design.strata_labels` prints it) to its
        value. By default each stratum's mean of the sampled probabilities,
        as R's ``HR()``.

    Returns
    -------
    HartleyRao
        To pass as ``ib.Design(..., pps=ib.HR(...))``.

    References
    ----------
    .. [1] Hartley, H. O. and Rao, J. N. K. (1962). Sampling with unequal
       probabilities and without replacement. *Annals of Mathematical
       Statistics* 33, 350-374.
    .. [2] R package survey, ``?HR`` and ``?svydesign``.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"p": [0.2, 0.5, 0.3, 0.6], "y": [1.0, 4, 2, 5]})
    >>> d = ib.Design(df, fpc="p", pps=ib.HR(0.1))
    >>> round(float(ib.total(d, "y").se.iloc[0]), 4)
    7.777
    """
    if psum is not None and not isinstance(psum, dict):
        value = float(psum)
        if not np.isfinite(value):
            raise PPSError(f"HR: psum must be a finite number; got {psum!r}")
        psum = value
    return HartleyRao(psum)


@dataclass(frozen=True, eq=False)
class JointProbabilities:
    """Joint inclusion probabilities of the sampled units (made by :func:`ppsmat`).

    Attributes
    ----------
    joint : numpy.ndarray
        (n, n): :math:`\\pi_{ij}`, first-order probabilities on the diagonal.
    tolerance : float
        Entries of :math:`(\\pi_{ij} - \\pi_i\\pi_j)/\\pi_{ij}` below it in
        absolute value are taken as zero (R's ``tolerance``).
    """

    joint: np.ndarray
    tolerance: float = 1e-4


def ppsmat(joint: Any, tolerance: float = 1e-4) -> JointProbabilities:
    """Joint inclusion probabilities for a Horvitz-Thompson ``pps`` design (R's ``ppsmat``).

    The variance of a total with weighted influence values :math:`\\check z_i
    = z_i / \\pi_i` is the Horvitz-Thompson form

    .. math::

        \\hat V_{HT} = \\sum_{i,j} \\check\\Delta_{ij} \\check z_i \\check z_j,
        \\qquad \\check\\Delta_{ij} = \\frac{\\pi_{ij} - \\pi_i \\pi_j}{\\pi_{ij}},

    or with ``variance="YG"`` the Sen-Yates-Grundy form
    :math:`-\\tfrac12 \\sum_{i \\neq j} \\check\\Delta_{ij}(\\check z_i -
    \\check z_j)^2`.

    Parameters
    ----------
    joint : array-like
        Square (n, n) matrix, one row and column per row of the data (R's
        ``ppsmat`` is by row, so the design has no ``psu``): :math:`\\pi_{ij}`
        off the diagonal, the first-order :math:`\\pi_i` on it. Symmetric,
        with :math:`0 < \\pi_{ij} \\le \\min(\\pi_i, \\pi_j)`. At most
        :data:`MAX_JOINT_ENTRIES` entries (memory: see there).
    tolerance : float, default 1e-4
        :math:`\\check\\Delta_{ij}` smaller than this in absolute value are
        set to zero, as R does.

    Returns
    -------
    JointProbabilities
        To pass as ``ib.Design(..., pps=ib.ppsmat(joint))``.

    Raises
    ------
    PPSSizeError
        When the matrix has more than :data:`MAX_JOINT_ENTRIES` entries.
    JointProbabilityError
        When it is not square or not numeric.

    References
    ----------
    .. [1] Sarndal, C.-E., Swensson, B. and Wretman, J. (1992). *Model
       Assisted Survey Sampling*, sec. 2.8 and 5.
    .. [2] R package survey, ``?ppsmat``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> joint = np.array([[0.5, 0.27, 0.44], [0.27, 0.6, 0.53], [0.44, 0.53, 0.9]])
    >>> df = pd.DataFrame({"p": [0.5, 0.6, 0.9], "y": [1.0, 4, 2]})
    >>> d = ib.Design(df, probs="p", pps=ib.ppsmat(joint), variance="YG")
    >>> est = ib.total(d, "y")
    >>> round(float(est.estimate.iloc[0]), 4), round(float(est.se.iloc[0]), 4)
    (10.8889, 1.6714)
    """
    shape = np.shape(joint)
    if len(shape) == 2 and shape[0] * shape[1] > MAX_JOINT_ENTRIES:
        raise PPSSizeError(
            f"the joint probabilities are a {shape[0]} x {shape[1]} matrix, "
            f"{shape[0] * shape[1]:,} entries; innobaro takes at most "
            f"{MAX_JOINT_ENTRIES:,} (n = {int(MAX_JOINT_ENTRIES ** 0.5):,} units, about "
            f"{4 * 8 * MAX_JOINT_ENTRIES / 1e9:.1f} GB while the design is built). Use an "
            f"approximation (pps='brewer', 'overton' or ib.HR()), which needs no matrix")
    try:
        values = np.array(joint, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise JointProbabilityError(f"the joint probabilities must be numeric: {exc}") from exc
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise JointProbabilityError(f"the joint probabilities must be a square matrix; got "
                                    f"shape {values.shape}")
    tol = float(tolerance)
    if not (np.isfinite(tol) and tol >= 0):
        raise JointProbabilityError(f"tolerance must be a non-negative number; got {tolerance!r}")
    values.setflags(write=False)
    return JointProbabilities(values, tol)


@dataclass(frozen=True, eq=False)
class PPSInfo:
    """What a variance engine needs of an unequal-probability design (``Design.pps``).

    Attributes
    ----------
    method : {"brewer", "overton", "hr", "ppsmat"}
        The approximation, or the given joint probabilities.
    variance : {"HT", "YG"}
        Horvitz-Thompson or Yates-Grundy form (``"HT"`` for Brewer).
    unit_prob : tuple of numpy.ndarray
        Per stage with probabilities, the inclusion probability of each of its
        units (in the stage's unit order); Brewer may have several stages, the
        other methods one.
    psum : numpy.ndarray or None
        Hartley-Rao: :math:`\\bar P` per first-stage stratum.
    dcheck : scipy.sparse.csr_matrix or None
        ``ppsmat``: :math:`(\\pi_{ij} - \\pi_i\\pi_j)/\\pi_{ij}` in unit order.
    """

    method: str
    variance: str
    unit_prob: tuple[np.ndarray, ...]
    psum: np.ndarray | None = None
    dcheck: Any = None

    @property
    def joint(self) -> bool:
        """Whether the variance is a quadratic form in the joint probabilities
        (every method but Brewer's, which is a stage factor of linearisation)."""
        return self.method != "brewer"


@dataclass(frozen=True)
class Stage:
    """One sampling stage, with units coded contiguously within strata.

    Attributes
    ----------
    unit : (n,) int64
        Code of the sampling unit of each row at this stage (0..U-1). Units
        are numbered in stratum order, so the units of stratum ``h`` are
        ``starts[h] : starts[h] + n_units[h]``.
    unit_stratum : (U,) int64
        The stratum of each unit (non-decreasing).
    n_units : (H,) int64
        Sampled units per stratum, counted over the whole design.
    popsize : (H,) float64
        Population count of units per stratum (``inf``: with replacement).
    starts : (H,) int64
        Index of each stratum's first unit.
    """

    unit: np.ndarray
    unit_stratum: np.ndarray
    n_units: np.ndarray
    popsize: np.ndarray
    starts: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):  # the five arrays, as read-only views
            object.__setattr__(self, f.name, read_only(getattr(self, f.name)))

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():  # unpickled arrays are writable copies
            object.__setattr__(self, name, read_only(value))

    @property
    def n_strata(self) -> int:
        return int(self.n_units.size)

    @property
    def fpc_factor(self) -> np.ndarray:
        """``(N_h - n_h) / N_h`` per stratum (1 where there is no fpc)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            f = (self.popsize - self.n_units) / self.popsize
        return np.where(np.isinf(self.popsize), 1.0, f)

    @property
    def sampling_fraction(self) -> np.ndarray:
        """``n_h / N_h`` per stratum (0 where there is no fpc)."""
        return np.where(np.isinf(self.popsize), 0.0, self.n_units / self.popsize)


def read_only(values: Any) -> np.ndarray:
    """A read-only view of an array (the array itself is left writable).

    Designs hold their arrays this way, and hand them out as they hold them,
    so that no caller can change a design through an array it was given.

    Parameters
    ----------
    values : array-like
        The array (anything :func:`numpy.asarray` takes).

    Returns
    -------
    numpy.ndarray
        A view of ``values`` whose ``writeable`` flag is off.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.design import read_only
    >>> a = np.arange(3)
    >>> read_only(a).flags.writeable, a.flags.writeable
    (False, True)
    """
    array = np.asarray(values)
    if not array.flags.writeable:
        return array
    view = array.view()
    view.setflags(write=False)
    return view


def _frozen(value: Any, views: dict[int, np.ndarray]) -> Any:
    """``value`` with its arrays (top level, or in a tuple or list) read-only;
    an array that appears twice gets one view, so identities are kept."""
    if isinstance(value, np.ndarray):
        if id(value) not in views:
            views[id(value)] = read_only(value)
        return views[id(value)]
    if isinstance(value, tuple):
        return tuple(_frozen(v, views) for v in value)
    if isinstance(value, list):
        return [_frozen(v, views) for v in value]
    return value


#: Domain codes as the estimators cache them: the code of each row (-1
#: outside), the same before rows with missing values were left out, the
#: by-values of each domain, and the number of domains.
DomainCodes = tuple[np.ndarray, np.ndarray, list[np.ndarray], int]


class DesignCache:
    """What is derived from a design's rows, computed once and reused.

    One method per kind of quantity, each with a function that computes it
    on a miss: the keys of the entries are made here, so that the modules
    that fill the cache (estimators, the variance engines) cannot collide.
    Arrays are stored and returned read-only. A design has two: one shared
    by every design derived from the same data (the level codes of columns,
    see :meth:`SurveyDesign.level_codes`), and one of its own
    (:attr:`SurveyDesign.cache`), which a derived design starts empty.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.design import DesignCache
    >>> cache = DesignCache()
    >>> cache.model_df(None, lambda: 7.0), cache.model_df(None, lambda: 0.0)
    (7.0, 7.0)
    """

    __slots__ = ("_entries", "_support")

    #: the kinds of entry that depend only on the rows present, the data and
    #: which rows have a positive, zero or negative weight (domain codes and
    #: counts, degrees of freedom): designs reweighted on the same support
    #: share them (:meth:`sharing_support`)
    SUPPORT_KINDS = frozenset({"domains", "domain_counts", "domain_df", "model_df"})

    def __init__(self, support: dict[tuple[str, Hashable], Any] | None = None) -> None:
        self._entries: dict[tuple[str, Hashable], Any] = {}
        self._support: dict[tuple[str, Hashable], Any] = {} if support is None else support

    def __len__(self) -> int:
        return len(self._entries) + len(self._support)

    def __getstate__(self) -> dict[tuple[str, Hashable], Any]:
        # entries keyed by an object's id mean nothing in another process
        return {slot: v for slot, v in {**self._entries, **self._support}.items()
                if slot[0] != "basis_totals"}

    def __setstate__(self, state: dict[tuple[str, Hashable], Any]) -> None:
        entries = {slot: _frozen(v, {}) for slot, v in state.items()}
        self._support = {k: v for k, v in entries.items() if k[0] in self.SUPPORT_KINDS}
        self._entries = {k: v for k, v in entries.items() if k[0] not in self.SUPPORT_KINDS}

    def _store(self, kind: str) -> dict[tuple[str, Hashable], Any]:
        return self._support if kind in self.SUPPORT_KINDS else self._entries

    def _get(self, kind: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        slot = (kind, key)
        store = self._store(kind)
        if slot not in store:
            store[slot] = _frozen(compute(), {})
        return store[slot]

    def sharing_support(self) -> DesignCache:
        """An empty cache that shares this one's support entries (both ways).

        For a design reweighted so that every row's weight keeps its sign
        (zero, positive or negative): its domains, domain counts and degrees
        of freedom are this design's, and what either finds serves both.

        Returns
        -------
        DesignCache
        """
        return DesignCache(support=self._support)

    # ------------------------------------------- shared by derived designs
    def level_codes(self, columns: tuple[str, ...],
                    compute: Callable[[], tuple[np.ndarray, list[np.ndarray]]]
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Codes of the combination of ``columns`` and the levels' values.

        Parameters
        ----------
        columns : tuple of str
            The columns.
        compute : callable
            ``compute() -> (codes, values)``, called on a miss.

        Returns
        -------
        tuple
            ``(codes, values)``, read-only.
        """
        codes, values = self._get("level_codes", columns, compute)
        return codes, list(values)

    def without_columns(self, columns: Sequence[str]) -> DesignCache:
        """A copy without the level codes that involve any of ``columns``.

        Parameters
        ----------
        columns : sequence of str
            Columns whose values change.

        Returns
        -------
        DesignCache
        """
        changed = set(columns)
        out = DesignCache()
        out._entries = {slot: v for slot, v in self._entries.items()
                        if not (slot[0] == "level_codes"
                                and changed.intersection(slot[1]))}  # type: ignore[arg-type]
        return out

    # ------------------------------------------------- one design's rows
    def domains(self, by: tuple[str, ...], compute: Callable[[], DomainCodes]
                ) -> DomainCodes:
        """The domain codes of ``by`` among the design's rows (see :data:`DomainCodes`).

        Parameters
        ----------
        by : tuple of str
            The domain columns (empty: the design's domain).
        compute : callable
            Called on a miss.

        Returns
        -------
        tuple
            ``(codes, codes_before_missing, values, n_domains)``.
        """
        codes, before, values, n_domains = self._get("domains", by, compute)
        return codes, before, list(values), n_domains

    def domains_if_cached(self, by: tuple[str, ...]) -> DomainCodes | None:
        """The domain codes of ``by`` if they are cached, else None.

        Parameters
        ----------
        by : tuple of str
            The domain columns.

        Returns
        -------
        tuple or None
        """
        cached = self._support.get(("domains", by))
        if cached is None:
            return None
        codes, before, values, n_domains = cached
        return codes, before, list(values), n_domains

    def domain_counts(self, by: tuple[str, ...], compute: Callable[[], np.ndarray]
                      ) -> np.ndarray:
        """Rows with positive weight in each domain of ``by``.

        Parameters
        ----------
        by : tuple of str
            The domain columns.
        compute : callable
            Called on a miss.

        Returns
        -------
        numpy.ndarray
        """
        return self._get("domain_counts", by, compute)  # type: ignore[no-any-return]

    def domain_df(self, key: Hashable, domain: np.ndarray | None,
                  compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Degrees of freedom of each domain (see :func:`innobaro.variance.degrees_of_freedom`).

        Parameters
        ----------
        key : hashable
            What the domains are; an entry is used only for the same
            ``domain`` codes (the same array, or an equal one).
        domain : numpy.ndarray or None
            Domain code of each row; None for the design's own rows.
        compute : callable
            Called on a miss.

        Returns
        -------
        numpy.ndarray
            One value per domain.
        """
        slot = ("domain_df", key)
        cached = self._support.get(slot)
        if cached is not None and (cached[0] is domain or (
                domain is not None and cached[0] is not None
                and np.array_equal(cached[0], domain))):
            return cached[1]  # type: ignore[no-any-return]
        df = read_only(compute())
        self._support[slot] = (None if domain is None else read_only(domain), df)
        return df

    def model_df(self, rows: bytes | None, compute: Callable[[], float]) -> float:
        """Degrees of freedom of a model fitted to some rows.

        See :func:`innobaro.variance.model_df`.

        Parameters
        ----------
        rows : bytes or None
            The rows counted, packed; None for the design's own rows.
        compute : callable
            Called on a miss.

        Returns
        -------
        float
        """
        return float(self._get("model_df", rows, compute))

    def replicate_sizes(self, by: tuple[str, ...], domain: np.ndarray, weights: np.ndarray,
                        compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Estimated domain sizes under every replicate weight, (R, D, 1).

        Kept while ``domain`` is the cached domain codes of ``by`` (see
        :meth:`domains`) and ``weights`` the design's replicate weights.

        Parameters
        ----------
        by : tuple of str
            The domain columns.
        domain : numpy.ndarray
            The domain codes the sizes are for.
        weights : numpy.ndarray
            The (n, R) replicate weights they are computed with.
        compute : callable
            Called on a miss.

        Returns
        -------
        numpy.ndarray
        """
        slot = ("replicate_sizes", by)
        cached = self._entries.get(slot)
        if cached is not None and cached[0] is domain and cached[1] is weights:
            return cached[2]  # type: ignore[no-any-return]
        sizes = read_only(compute())
        codes = self.domains_if_cached(by)
        if codes is not None and codes[0] is domain:
            self._entries[slot] = (domain, weights, sizes)
        return sizes

    def basis_totals(self, basis: Any, stage: int, compute: Callable[[], np.ndarray]
                     ) -> np.ndarray:
        """Totals of a weighting basis over the units of a stage (linearisation).

        Parameters
        ----------
        basis : innobaro.variance.calibration.Basis
            The basis (kept alive with the entry, which is keyed by its id).
        stage : int
            The stage, 0 for the first.
        compute : callable
            Called on a miss.

        Returns
        -------
        numpy.ndarray
        """
        slot = ("basis_totals", (id(basis), stage))
        cached = self._entries.get(slot)
        if cached is None or cached[0] is not basis:
            cached = self._entries[slot] = (basis, read_only(compute()))
        return cached[1]  # type: ignore[no-any-return]


_D = TypeVar("_D", bound="SurveyDesign")


class SurveyDesign:
    """What every survey design has: data, weights, the rows present, domains.

    :class:`Design` (linearisation) and :class:`ReplicateDesign` (replicate
    weights) derive from it; estimators accept either.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 1, 2], "y": [1.0, 2, 3, 4]})
    >>> d = ib.Design(df, weights="w", psu="psu")
    >>> isinstance(d, ib.SurveyDesign), isinstance(d.replicate("jk1"), ib.SurveyDesign)
    (True, True)
    """

    # Every field of a design. A design is built once (``__init__``) and
    # never changed: each derived design (subset, weighting, new columns, ...)
    # is made by ``_derive``, the one place that copies a design. Arrays are
    # held read-only (``read_only``) and handed out as held.
    _data: pd.DataFrame | FrameView
    _w: np.ndarray
    _present: np.ndarray
    _domain_label: str | None
    _shared: DesignCache
    _cache: DesignCache
    _calibration: tuple[Any, ...]
    _rows_at_calibration: int | None
    _weighting_log: tuple[Any, ...]

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            raise AttributeError(
                f"{type(self).__name__} is immutable: {name!r} cannot be set. Derive a new "
                f"design instead (subset, with_columns, the weighting methods, or the "
                f"constructor's arguments)")
        object.__setattr__(self, name, value)

    def _init_common(self, data: pd.DataFrame | FrameView, w: np.ndarray) -> None:
        self._data = data
        self._w = read_only(np.ascontiguousarray(w, dtype=np.float64))
        self._present = read_only(np.ones(len(data), dtype=bool))
        self._domain_label = None
        # label codes computed on the full data, shared by every derived design
        self._shared = DesignCache()
        # results that depend on the rows present, private to this design
        self._cache = DesignCache()
        # weighting steps: their corrections to influence values, and a log
        self._calibration = ()
        # rows in the design when it was first calibrated: R keeps all of them
        # in every subset of a calibrated design (nrow(design))
        self._rows_at_calibration = None
        self._weighting_log = ()

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickled arrays are writable copies: held read-only again
        self.__dict__.update({name: read_only(value) if isinstance(value, np.ndarray) else value
                              for name, value in state.items()})

    def _derive(self: _D, **changes: Any) -> _D:
        """A copy of this design with some fields changed (``present=...`` sets
        ``_present``), and an empty cache: the one way a design is derived."""
        new = object.__new__(type(self))
        state = dict(self.__dict__)
        for name, value in changes.items():
            field = f"_{name}"
            if field not in state:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            state[field] = read_only(value) if isinstance(value, np.ndarray) else value
        state["_cache"] = DesignCache()
        new.__dict__.update(state)
        return new

    # ------------------------------------------------------------------ basics
    @property
    def df(self) -> float:
        """Design degrees of freedom, as R's ``degf``.

        A :class:`Design` has its PSUs minus its strata among the rows with
        nonzero weight; a :class:`ReplicateDesign` the degrees of freedom it
        was given, else the rank of its replicate weights minus one. For a
        domain (``subset``) they are counted within the domain, as R's
        ``degf`` does. The rule is :func:`innobaro.variance.degrees_of_freedom`.
        """
        from .variance import degrees_of_freedom

        return float(degrees_of_freedom(self)[0])

    @property
    def data(self) -> pd.DataFrame | FrameView:
        """The survey data: a shallow copy of a pandas DataFrame given (do not modify).

        For a frame of another library (polars, pyarrow, ...), a read-only
        :class:`~innobaro._frames.FrameView` of it: ``data["x"]`` is column
        ``x`` as a pandas Series, converted the first time it is asked for;
        ``data.to_pandas()`` converts the whole frame; ``data.native`` is the
        frame given.
        """
        return self._data

    @property
    def n(self) -> int:
        """Number of rows in the design (the domain's rows keep their place)."""
        return len(self._w)

    @property
    def weights(self) -> pd.Series:
        """Sampling weights; zero for rows outside the domain of a subset."""
        return pd.Series(self._effective_weights(), index=self._data.index, name="weight")

    @property
    def weight_values(self) -> np.ndarray:
        """The values of :attr:`weights` as a read-only array: zero outside the domain."""
        return self._effective_weights()

    @property
    def unmasked_weights(self) -> np.ndarray:
        """Every row's weight as a read-only array, rows outside the domain included.

        Advanced: with :attr:`present`, what a weighting or variance module
        needs; estimates use :attr:`weight_values`.
        """
        return self._w

    @property
    def present(self) -> np.ndarray:
        """Boolean mask of rows in the (sub)population this design describes (read-only)."""
        return self._present

    @property
    def domain_label(self) -> str | None:
        """How the domain was given to :meth:`subset` (None for the whole design)."""
        return self._domain_label

    @property
    def cache(self) -> DesignCache:
        """What estimators and variance engines derived from this design's rows.

        Advanced: a :class:`~innobaro.design.DesignCache`, empty in every new
        design (a subset, a weighted design, ...).
        """
        return self._cache

    @property
    def calibration_steps(self) -> tuple[Any, ...]:
        """The weighting models (:class:`innobaro.variance.calibration.CalibrationStep`)
        whose residuals linearisation variances use, in order; empty for a
        design that was not weighted, and for replicate designs (which repeat
        the weighting in every replicate)."""
        return self._calibration

    @property
    def rows_at_calibration(self) -> int | None:
        """Rows in the design when it was first calibrated (None if it was not).

        R keeps all of them in every subset of a calibrated design, which
        counts for the degrees of freedom of some proportion intervals.
        """
        return self._rows_at_calibration

    @property
    def weighting_log(self) -> tuple[Any, ...]:
        """The weighting steps recorded by :mod:`innobaro.weighting` (for
        :meth:`weights_summary`); empty for a design that was not weighted."""
        return self._weighting_log

    def _effective_weights(self) -> np.ndarray:
        if self._present.all():
            return self._w
        return read_only(np.where(self._present, self._w, 0.0))

    # ------------------------------------------------------------------ domains
    def subset(self: _D, mask: Any) -> _D:
        """The design restricted to a domain, keeping every row in place.

        Rows outside the domain stay in the design with weight zero, so the
        domain's standard errors account for its random sample size (the
        approach of R's ``subset.survey.design``; Lumley 2010, sec. 2.3).

        Parameters
        ----------
        mask : array-like of bool, pandas Series, or str
            Which rows belong to the domain. A Series is aligned on the data's
            index; a string is evaluated with :meth:`pandas.DataFrame.eval`.

        Returns
        -------
        Design

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": [1, 2, 3, 4], "w": [2.0, 2, 3, 3],
        ...                    "sector": ["a", "b", "a", "b"], "y": [1.0, 2, 3, 4]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> ib.mean(d.subset(df["sector"] == "a"), "y").estimate.round(4).tolist()
        [2.2]
        """
        m = self.row_mask(mask)
        if not (m & self._present).any():
            raise _empty_domain(mask, self._data.columns)
        return self._derive(present=self._present & m,
                            domain_label=_describe_mask(mask, self._data.columns))

    def row_mask(self, mask: Any) -> np.ndarray:
        """A boolean array over the design's rows from a mask as :meth:`subset` takes it.

        Parameters
        ----------
        mask : array-like of bool, pandas Series, or str
            A boolean (or 0/1) array with one value per row, a Series aligned
            on the data's index, or an expression for
            :meth:`pandas.DataFrame.eval`.

        Returns
        -------
        numpy.ndarray
            Boolean, one value per row of the data (the domain is not applied).

        Raises
        ------
        DesignError
            When the expression cannot be evaluated, the shape or index does not
            match the data, or the values are not boolean.
        MissingValueError
            When the mask has missing values.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(4), "y": [1.0, 2, 3, 4]})
        >>> ib.Design(df, psu="psu").row_mask("y > 2").tolist()
        [False, False, True, True]
        """
        if isinstance(mask, str):
            try:
                mask = self._data.eval(mask)
            except Exception as exc:
                raise DesignError(f"could not evaluate the domain {mask!r}: {exc}") from exc
        mask = as_series(mask, self._data.index)  # a polars or pyarrow mask, by position
        if isinstance(mask, pd.Series):
            if not mask.index.equals(self._data.index):
                if not mask.index.isin(self._data.index).all() or len(mask) != self.n:
                    raise DesignError("the domain mask's index does not match the data's")
                mask = mask.reindex(self._data.index)
            if mask.isna().any():
                raise MissingValueError(f"the domain mask has {int(mask.isna().sum())} "
                                        f"missing value(s)")
            values = mask.to_numpy(bool if isinstance(mask.dtype, pd.BooleanDtype) else None)
        else:
            values = np.asarray(mask)
        if values.shape != (self.n,):
            raise DesignError(f"the domain mask has shape {values.shape}; the design has "
                              f"{self.n} rows")
        if values.dtype != bool:
            if values.dtype == object or not np.isin(values, [0, 1]).all():
                raise DesignError("the domain mask must be boolean")
            values = values.astype(bool)
        return values

    def with_columns(self: _D, columns: dict[str, Any] | None = None, /,
                     **more: Any) -> _D:
        """The same design with extra (or replaced) analysis columns.

        The caller's DataFrame is not modified; weights, strata, clusters,
        domain and weighting are unchanged, so every estimator on the result
        uses this design's variance. Values are aligned with the data's rows
        (a Series by index).

        Parameters
        ----------
        columns : dict, optional
            ``{name: values}``: the values of each column, one per row of the
            data (a Series is aligned by index), or a scalar for every row.
        **more
            Further columns as keyword arguments, ``name=values``.

        Returns
        -------
        SurveyDesign
            A design of the same kind (:class:`Design` or
            :class:`ReplicateDesign`) with the columns added.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(4), "w": 1.0, "x": [1.0, 2, 3, 4]})
        >>> d = ib.Design(df, weights="w", psu="psu").with_columns(big=df["x"] > 2)
        >>> ib.mean(d, "big").estimate.tolist(), "big" in df.columns
        ([0.5], False)
        """
        cols = dict(columns or {})
        cols.update(more)
        index = self._data.index
        for name, values in cols.items():
            values = cols[name] = as_series(values, index)  # polars, pyarrow: by position
            if not isinstance(values, pd.Series) and np.ndim(values) == 1 \
                    and len(values) != len(index):
                raise DesignError(f"column {name!r} has {len(values)} values; the design "
                                  f"has {len(index)} rows")
        if isinstance(self._data, FrameView):
            data: pd.DataFrame | FrameView = self._data.with_columns(cols)
        else:
            data = self._data.copy(deep=False)
            for name, values in cols.items():
                data[name] = values
        return self._derive(data=data, shared=self._shared.without_columns(list(cols)))

    def with_weights(self: _D, weights: Any, replicate_weights: Any = None, *,
                     calibration: Any = None, weighting_log: tuple[Any, ...] | None = None,
                     same_support: bool = False) -> _D:
        """The same design with new weights for the rows present (advanced).

        The entry point of :mod:`innobaro.weighting`, which computes the new
        weights (and the weighting model the variance needs); estimators use
        the result as any design. Rows outside the domain keep their weights.

        Parameters
        ----------
        weights : array-like
            (n,): the new weight of each row; only the rows present are used.
        replicate_weights : array-like, optional
            (n, R): the new replicate weights of a :class:`ReplicateDesign`,
            as full weights; unchanged when not given.
        calibration : innobaro.variance.calibration.CalibrationStep, optional
            The weighting model, for a :class:`Design`: its residuals replace
            the influence values in every variance. Without it the new weights
            are design weights (as after trimming).
        weighting_log : tuple, optional
            The weighting steps so far, as :mod:`innobaro.weighting` records
            them for :meth:`weights_summary`; unchanged when not given.
        same_support : bool, default False
            The caller's promise that every new weight has the sign of the old
            one (zero, positive or negative), as after multiplying by positive
            factors: the new design then shares this one's domains, domain
            counts and degrees of freedom instead of finding them again
            (:meth:`DesignCache.sharing_support`). Ignored for replicate
            designs, whose degrees of freedom depend on the replicate weights.

        Returns
        -------
        SurveyDesign
            A design of the same kind.

        Raises
        ------
        DesignError
            When an array has the wrong shape, or a weighting model is given
            for a replicate design (or replicate weights for a design without).

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 3, 4], "y": [1.0, 2, 3, 4]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.with_weights(2 * d.weight_values).weights.tolist()
        [2.0, 4.0, 6.0, 8.0]
        >>> d.subset("y > 2").with_weights([9.0] * 4).unmasked_weights.tolist()
        [1.0, 2.0, 9.0, 9.0]
        """
        new_w = np.asarray(weights, dtype=np.float64)
        if new_w.shape != (self.n,):
            raise DesignError(f"weights has shape {new_w.shape}; the design has {self.n} rows")
        present = self._present
        w = self._w.copy()
        np.copyto(w, new_w, where=present)
        changes: dict[str, Any] = {"w": w}
        if replicate_weights is not None:
            if not isinstance(self, ReplicateDesign):
                raise DesignError("replicate_weights: the design has no replicate weights")
            rep_new = np.asarray(replicate_weights, dtype=np.float64)
            shape = (self.n, self.n_replicates)
            if rep_new.shape != shape:
                raise DesignError(f"replicate_weights has shape {rep_new.shape}; the design's "
                                  f"are {shape}")
            rep = self.unmasked_replicate_weights.copy()
            np.copyto(rep, rep_new, where=present[:, None])
            changes["rep"] = rep  # new weights: held as (n, R) from now on
            changes["factors"] = None
        if calibration is not None:
            if isinstance(self, ReplicateDesign):
                raise DesignError("a replicate design repeats the weighting in every "
                                  "replicate: give replicate_weights, not a weighting model")
            changes["calibration"] = (*self._calibration, calibration)
            if not self._calibration:
                changes["rows_at_calibration"] = int(present.sum())
        if weighting_log is not None:
            changes["weighting_log"] = tuple(weighting_log)
        new = self._derive(**changes)
        if same_support and not isinstance(self, ReplicateDesign):
            new._cache = self._cache.sharing_support()
        return new

    # ------------------------------------------------------------ weighting
    def poststratify(self: _D, by: str | Sequence[str], totals: Any, *,
                     partial: bool = False) -> _D:
        """Post-stratify the weights to known population counts.

        See :func:`innobaro.weighting.poststratify`.

        Parameters
        ----------
        by : str or list of str
            Post-stratification columns (their combination is the cell).
        totals : dict, pandas.Series or pandas.DataFrame
            Population count of each cell: keyed by level (a tuple of levels for
            several columns), or a DataFrame with the ``by`` columns and one
            column of counts.
        partial : bool, default False
            Ignore population cells that have no sample (with a warning) instead
            of raising.

        Returns
        -------
        SurveyDesign
            A design of the same kind with the post-stratified weights.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbbb"),
        ...                    "x": [1.0, 2, 3, 4, 5, 6],
        ...                    "resp": [True, True, False, True, True, True]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.poststratify("g", {"a": 30, "b": 30}).weights.tolist()
        [15.0, 15.0, 7.5, 7.5, 7.5, 7.5]
        """
        from .weighting import poststratify

        return poststratify(self, by, totals, partial=partial)

    def rake(self: _D, margins: dict[str, Any], *, max_iter: int = 50,
             tol: float = 1e-7) -> _D:
        """Rake the weights to several margins. See :func:`innobaro.weighting.rake`.

        Parameters
        ----------
        margins : dict
            ``{column: totals}``, each ``totals`` as in :meth:`poststratify`
            (``{level: count}`` or a Series).
        max_iter : int, default 50
            Passes over all margins.
        tol : float, default 1e-7
            Convergence: the largest change of a weighted cell count of the
            cross-classification of all margins between two passes, below
            ``tol * sum(weights)`` when ``tol < 1`` and below ``tol`` otherwise
            (R's ``rake`` ``epsilon``).

        Returns
        -------
        SurveyDesign
            A design of the same kind with the raked weights; a warning says
            when raking did not converge.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbbb"),
        ...                    "x": [1.0, 2, 3, 4, 5, 6],
        ...                    "resp": [True, True, False, True, True, True]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.rake({"g": {"a": 30, "b": 30}}).weights.tolist()
        [15.0, 15.0, 7.5, 7.5, 7.5, 7.5]
        """
        from .weighting import rake

        return rake(self, margins, max_iter=max_iter, tol=tol)

    def calibrate(self: _D, totals: Any, *, formula: str | None = None,
                  method: str = "linear", bounds: tuple[Any, Any] | None = None,
                  bounds_const: bool = False, variance: Any = None,
                  aggregate_stage: int | None = None, aggregate_index: str | None = None,
                  max_iter: int = 50, tol: float = 1e-7) -> _D:
        """Calibrate the weights to population totals (GREG and its relatives).

        See :func:`innobaro.weighting.calibrate`.

        Parameters
        ----------
        totals : dict or pandas.Series
            Population total of each column of the model matrix: with
            ``formula``, keyed by patsy's column names (``"Intercept"``,
            ``"stype[T.H]"``, ``"api99"``); without it, keyed by numeric column
            names (and ``"Intercept"`` for the population size).
        formula : str, optional
            A patsy formula without response, e.g. ``"~ stype + api99"``.
        method : {"linear", "raking", "logit", "sinh"}, default "linear"
            The distance: linear (GREG), raking (multiplicative), logit
            (bounded) or sinh (R's ``cal.sinh``).
        bounds : (lower, upper), optional
            Bounds on the g-weights (new weight / old weight); required for
            ``"logit"`` and ``"sinh"``. Each a number, a column name or one
            value per row.
        bounds_const : bool, default False
            The bounds are on the weights, not the g-weights (R's
            ``bounds.const``).
        variance : str or array-like, optional
            Heteroscedastic variances of the calibration model (R's
            ``variance``): a column, one positive value per row, or one
            coefficient per auxiliary.
        aggregate_stage : int, optional
            Equal g-weights within the units of this sampling stage (R's
            ``aggregate.stage``).
        aggregate_index : str, optional
            Equal g-weights within the clusters of this column (R's
            ``aggregate.index``).
        max_iter : int, default 50
            Newton iterations.
        tol : float, default 1e-7
            Convergence when every total is met to ``tol`` relative to
            ``1 + |total|``.

        Returns
        -------
        SurveyDesign
            A design of the same kind with the calibrated weights.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbbb"),
        ...                    "x": [1.0, 2, 3, 4, 5, 6],
        ...                    "resp": [True, True, False, True, True, True]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.calibrate({"Intercept": 60.0, "x": 240.0}).weights.round(3).tolist()
        [5.714, 7.429, 9.143, 10.857, 12.571, 14.286]
        """
        from .weighting import calibrate

        return calibrate(self, totals, formula=formula, method=method, bounds=bounds,
                         bounds_const=bounds_const, variance=variance,
                         aggregate_stage=aggregate_stage, aggregate_index=aggregate_index,
                         max_iter=max_iter, tol=tol)

    def trim_weights(self: _D, lower: float | None = None, upper: float | None = None, *,
                     strict: bool = False) -> _D:
        """Trim extreme weights. See :func:`innobaro.weighting.trim_weights`.

        Parameters
        ----------
        lower, upper : float, optional
            Bounds on the weights.
        strict : bool, default False
            Repeat until no weight is outside the bounds (the shared-out mass can
            push weights past them).

        Returns
        -------
        SurveyDesign
            A design of the same kind; the total of the weights is unchanged.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 3, 10]})
        >>> ib.Design(df, weights="w", psu="psu").trim_weights(upper=6).weights.round(2).tolist()
        [2.33, 3.33, 4.33, 6.0]
        """
        from .weighting import trim_weights

        return trim_weights(self, lower=lower, upper=upper, strict=strict)

    def adjust_nonresponse(self: _D, respondent: Any, *, by: str | Sequence[str] | None = None,
                           min_respondents: int = 0, max_factor: float | None = None,
                           max_weight: float | None = None) -> _D:
        """Weighting-class nonresponse adjustment.

        See :func:`innobaro.weighting.adjust_nonresponse`.

        Parameters
        ----------
        respondent : str or array-like of bool
            Column (boolean or 0/1) or mask marking respondents.
        by : str or list of str, optional
            Weighting classes; one class by default.
        min_respondents : int, default 0
            Collapse classes with fewer respondents (R's ``sparseCells(count=)``).
        max_factor : float, optional
            Collapse classes whose adjustment factor is above this (R's
            ``sparseCells(nrweight=)``).
        max_weight : float, optional
            Collapse classes whose mean adjusted weight is above this (R's
            ``sparseCells(totalweight=)``).

        Returns
        -------
        SurveyDesign
            A design of the same kind in which nonrespondents keep their place
            with weight zero and respondents carry their class's weight.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbbb"),
        ...                    "x": [1.0, 2, 3, 4, 5, 6],
        ...                    "resp": [True, True, False, True, True, True]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.adjust_nonresponse("resp", by="g").weights.round(2).tolist()
        [10.0, 10.0, 0.0, 13.33, 13.33, 13.33]
        """
        from .weighting import adjust_nonresponse

        return adjust_nonresponse(self, respondent, by=by, min_respondents=min_respondents,
                                  max_factor=max_factor, max_weight=max_weight)

    def adjust_propensity(self: _D, respondent: Any, formula: str, *, method: str = "inverse",
                          n_classes: int = 5, class_factor: str = "rate", max_iter: int = 50,
                          tol: float = 1e-10) -> _D:
        """Response-propensity nonresponse adjustment.

        See :func:`innobaro.weighting.adjust_propensity`.

        Parameters
        ----------
        respondent : str or array-like of bool
            Column (boolean or 0/1) or mask marking respondents.
        formula : str
            Covariates of the survey-weighted logistic response model, e.g.
            ``"~ age + C(region)"``.
        method : {"inverse", "classes"}, default "inverse"
            Divide respondents' weights by their propensity, or adjust within
            propensity classes.
        n_classes : int, default 5
            Propensity classes (quintiles by default) for ``"classes"``.
        class_factor : {"rate", "mean"}, default "rate"
            A class's factor: the inverse weighted response rate, or the
            inverse weighted mean propensity of its units.
        max_iter : int, default 50
            Newton iterations of the logistic fit.
        tol : float, default 1e-10
            Convergence of the fit (relative change of the coefficients).

        Returns
        -------
        SurveyDesign
            A design of the same kind in which nonrespondents keep their place
            with weight zero.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(8), "w": [10.0] * 8, "x": [0, 0, 0, 0, 1, 1, 1, 1],
        ...                    "resp": [1, 1, 1, 0, 1, 0, 0, 1]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.adjust_propensity("resp", "~ x").weights.round(2).tolist()
        [13.33, 13.33, 13.33, 0.0, 20.0, 0.0, 0.0, 20.0]
        """
        from .weighting import adjust_propensity

        return adjust_propensity(self, respondent, formula, method=method, n_classes=n_classes,
                                 class_factor=class_factor, max_iter=max_iter, tol=tol)

    def weights_summary(self) -> Any:
        """What the weighting did (a :class:`~innobaro.WeightsSummary`).

        See :func:`innobaro.weighting.weights_summary`.

        Returns
        -------
        WeightsSummary
            Weight statistics per weighting step, the achieved totals, and
            after nonresponse steps the response by cell and the classes
            joined.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbbb"),
        ...                    "x": [1.0, 2, 3, 4, 5, 6],
        ...                    "resp": [True, True, False, True, True, True]})
        >>> d = ib.Design(df, weights="w", psu="psu")
        >>> d.poststratify("g", {"a": 30, "b": 30}).weights_summary().table["sum"].tolist()
        [60.0, 60.0]
        """
        from .weighting import weights_summary

        return weights_summary(self)

    def level_codes(self, columns: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Integer codes of the combination of ``columns``, over all rows.

        Computed once and shared by every design derived from this one (its
        subsets, weighted versions, ...) while those columns are unchanged.

        Parameters
        ----------
        columns : sequence of str
            Columns of the data.

        Returns
        -------
        codes : numpy.ndarray
            (n,) int64, read-only: the level of each row (levels in sorted
            order of the columns' values), -1 where a column is missing.
        values : list of numpy.ndarray
            One array per column: that column's value at each level.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(4), "g": ["b", "a", None, "b"]})
        >>> codes, values = ib.Design(df, psu="psu").level_codes(["g"])
        >>> codes.tolist(), values[0].tolist()
        ([1, 0, -1, 1], ['a', 'b'])
        """
        cols = tuple(columns)

        def compute() -> tuple[np.ndarray, list[np.ndarray]]:
            data = self._data[list(cols)]  # a DataFrame (of the converted columns)
            missing = data.isna().any(axis=1).to_numpy()
            codes = np.full(self.n, -1, dtype=np.int64)
            if missing.any():
                sub, values = factorize_columns(data.loc[~missing], list(cols), "by")
                codes[~missing] = sub
            else:
                codes, values = factorize_columns(data, list(cols), "by")
            return codes, values

        return self._shared.level_codes(cols, compute)



def check_design(design: Any, what: str | None = None) -> None:
    """Raise ``TypeError`` unless ``design`` is a :class:`Design` or
    :class:`ReplicateDesign` (the estimators' first check).

    Parameters
    ----------
    design : object
    what : str, optional
        The function's name, for the message.
    """
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"{what + ': ' if what else ''}design must be an innobaro Design or "
                        f"ReplicateDesign, not {type(design).__name__}")

class Design(SurveyDesign):
    """A survey design for linearisation (Taylor series) variance estimation.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, pyarrow.Table or other data frame
        One row per sampled unit. It is never modified. A polars or pyarrow
        frame (a pyarrow RecordBatch, or any eager frame `narwhals
        <https://narwhals-dev.github.io/narwhals/>`_ supports) is not copied:
        each column is converted to pandas when first used, and the results
        are pandas as for a pandas frame. Categories keep their order (a
        polars ``Enum``'s, an Arrow dictionary's), nulls are missing values.
        A polars ``LazyFrame`` must be collected first.
    weights, probs : str, optional
        Column of sampling weights, or of inclusion probabilities (the weight
        is ``1 / prob``). Give at most one. With neither, the weights are the
        product over stages of ``N / n`` when ``fpc`` gives population counts,
        and 1 otherwise.
    strata : str or list of str, optional
        Stratum column, or several columns whose combination is the stratum.
    psu : str or list of str, optional
        Cluster column for one-stage cluster sampling, or one column per stage
        for multistage sampling. ``None``: every row is its own unit.
    fpc : str or list of str, optional
        Finite population correction, one column per stage: the population
        count of units in the stratum at that stage, or the sampling fraction
        when every value is at most 1 (as in R's ``svydesign``). Stages with
        no ``fpc`` column are taken as sampled with replacement. Without any
        ``fpc`` the variance is the with-replacement (ultimate cluster)
        variance of the first stage.
    nest : bool, default False
        PSU ids repeat across strata and are to be read as nested in them.
        Without ``nest`` a PSU id found in two strata is an error.
    pps : {"brewer", "overton"}, HartleyRao or JointProbabilities, optional
        Unequal-probability sampling of the PSUs without replacement (R's
        ``svydesign(pps=)``); see "Unequal-probability designs" below.
    variance : {"HT", "YG"}, default "HT"
        With ``pps="overton"``, :func:`HR` or :func:`ppsmat`: the
        Horvitz-Thompson or the Yates-Grundy form of the variance.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}
        What a stratum with a single sampled PSU contributes to the variance
        (the rules of R's ``options(survey.lonely.psu=)``):

        - ``"fail"``: an error naming every such stratum;
        - ``"remove"`` and ``"certainty"``: nothing (the stratum is treated as
          sampled with certainty; later stages still count);
        - ``"adjust"``: the lonely PSU's total is centred at the average PSU
          total of the whole design, :math:`\\sum_{hi} z_{hi} / \\sum_h n_h`,
          the rule of R survey 4.3 and later (survey 4.1 centred it at zero,
          which is right only for statistics whose influence values sum to
          zero, such as means). For a domain the sums run over the strata the
          domain reaches, and a lonely stratum it does not reach contributes
          nothing, as R's ``subset`` of a design does; after weighting, every
          stratum counts, as R keeps every row of a calibrated design;
        - ``"average"``: the variance is that of the other strata scaled up by
          (number of strata) / (number of strata with two or more PSUs).

    Notes
    -----
    Unequal-probability designs: with ``pps``, the PSUs were drawn with
    unequal probabilities :math:`\\pi_i` without replacement. The
    probabilities are those of ``fpc`` (sampling probabilities, at most 1, one
    column per stage, varying between the PSUs of a stratum: R's form), or,
    in a one-stage design without ``fpc``, those of ``probs``; the weights
    are ``1 / prod(fpc)`` unless ``weights`` or ``probs`` are given. For
    :math:`n_h` PSUs in stratum :math:`h` with totals :math:`z_i`:

    - ``"brewer"`` (Brewer's approximation, any number of stages as R):
      :math:`\\sum_h \\frac{n_h}{n_h - 1} \\sum_{i \\in h} (1 - \\pi_i)
      (z_i - \\bar z_h)^2`, the later stages' variance within PSU :math:`i`
      multiplied by :math:`\\pi_i`;
    - ``"overton"``, :func:`HR` and :func:`ppsmat` (one stage, as R): the
      quadratic form :math:`\\sum_{ij} \\check\\Delta_{ij} z_i z_j` (HT) or
      :math:`\\sum_{ij} \\check\\Delta_{ij} z_i z_j - \\sum_i z_i^2
      \\sum_j \\check\\Delta_{ij}` (YG), with :math:`\\check\\Delta_{ij} =
      (\\pi_{ij} - \\pi_i\\pi_j)/\\pi_{ij}` given (:func:`ppsmat`) or
      approximated within strata: Overton's :math:`\\check\\Delta_{ij} = 1 -
      (n_h - (\\pi_i + \\pi_j)/2)/(n_h - 1)`, Hartley and Rao's
      (:func:`HR`), and :math:`\\check\\Delta_{ii} = 1 - \\pi_i`. The
      approximations need no :math:`n \\times n` matrix (stratum sums, linear
      in the sample size); ``lonely_psu`` does not apply to them.

    Estimates, domains, weighting and degrees of freedom work as for any
    design; :meth:`replicate` is not available for them.

    The variance of a statistic with weighted influence values :math:`z_i` is
    computed stage by stage (Wolter 2007, ch. 2; Lumley 2010, sec. 2.2):

    .. math::

        \\hat V = \\sum_h (1 - f_h) \\frac{n_h}{n_h - 1}
                 \\sum_{i \\in h} (z_{hi} - \\bar z_h)^2
               + \\sum_h f_h \\sum_{i \\in h} \\hat V_{2,hi} + \\dots

    where :math:`z_{hi}` is the total of :math:`z` over PSU :math:`i` of
    stratum :math:`h`, :math:`f_h = n_h / N_h`, and :math:`\\hat V_{2,hi}` is
    the same expression one stage down, inside PSU :math:`hi`.

    References
    ----------
    .. [1] Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed.
       Springer.
    .. [2] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
       Wiley.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"stratum": ["a", "a", "a", "b", "b", "b"],
    ...                    "psu": [1, 1, 2, 3, 4, 4],
    ...                    "w": [10.0, 10, 12, 8, 8, 9],
    ...                    "y": [1.0, 2, 3, 4, 5, 6]})
    >>> d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    >>> d
    Design: stratified one-stage cluster sample (with replacement)
      6 rows, 4 PSUs in 2 strata, df = 2
    """

    def __init__(self, data: Any, *, weights: str | None = None,
                 probs: str | None = None, strata: str | Sequence[str] | None = None,
                 psu: str | Sequence[str] | None = None,
                 fpc: str | Sequence[str] | None = None, nest: bool = False,
                 lonely_psu: LonelyRule = "fail",
                 pps: str | HartleyRao | JointProbabilities | None = None,
                 variance: Literal["HT", "YG"] = "HT") -> None:
        data = as_frame(data)
        if len(data) == 0:
            raise DesignError("data has no rows")
        if lonely_psu not in _LONELY_RULES:
            raise DesignError(f"lonely_psu must be one of {', '.join(_LONELY_RULES)}; "
                              f"got {lonely_psu!r}")
        check_column_arg(weights, "weights")
        check_column_arg(probs, "probs")
        check_unique_columns(data)
        if weights is not None and probs is not None:
            raise DesignError("give either weights or probs, not both")
        strata_cols = as_column_list(strata, "strata")
        psu_cols = as_column_list(psu, "psu")
        fpc_cols = as_column_list(fpc, "fpc")
        named = ([weights] if weights else []) + ([probs] if probs else [])
        check_columns(data, named, "weights" if weights else "probs")
        check_columns(data, strata_cols, "strata")
        check_columns(data, psu_cols, "psu")
        check_columns(data, fpc_cols, "fpc")
        n_stages = max(len(psu_cols), 1)
        if len(fpc_cols) > n_stages:
            raise DesignError(f"fpc has {len(fpc_cols)} columns but the design has "
                              f"{n_stages} stage(s): give at most one fpc column per "
                              f"psu column")

        self._data = data.copy(deep=False) if isinstance(data, pd.DataFrame) else data
        self._spec: dict[str, Any] = {"weights": weights, "probs": probs,
                                      "strata": strata_cols, "psu": psu_cols,
                                      "fpc": fpc_cols, "nest": bool(nest)}
        self._lonely_psu: LonelyRule = lonely_psu
        n = len(data)

        strata_codes, strata_levels = factorize_columns(data, strata_cols, "strata")
        self._strata_labels = _level_labels(strata_levels, n_levels=int(strata_codes.max()) + 1)

        method = _pps_method(pps, variance)
        stages, fraction_form = _build_stages(data, strata_codes, psu_cols,
                                              [] if method else fpc_cols,
                                              bool(nest), self._strata_labels)
        self._stages: tuple[Stage, ...] = stages
        self._pps: PPSInfo | None = None
        row_prob: np.ndarray | None = None
        if method:
            self._pps, row_prob = _pps_info(data, method, variance, pps, stages, fpc_cols,
                                            probs, psu_cols, self._strata_labels)
        self._has_fpc = bool(fpc_cols) or (method == "brewer")
        self._fraction_fpc = fraction_form or bool(method)

        if weights is not None:
            w = numeric_column(data, weights, "weights")
            _check_weights(w, weights, data)
        elif probs is not None:
            p = numeric_column(data, probs, "probs")
            bad = ~((p > 0) & (p <= 1))
            if bad.any():
                i = int(np.argmax(bad))
                raise DesignError(f"probs column {probs!r} must be in (0, 1]; row "
                                  f"{plain(data.index[i])} has {plain(p[i])}")
            w = 1.0 / p
        elif row_prob is not None:
            w = 1.0 / row_prob
        elif fpc_cols:
            w = np.ones(n)
            for st in stages:
                w = w * (st.popsize / st.n_units)[st.unit_stratum[st.unit]]
            if not np.isfinite(w).all():
                raise DesignError("no weights given, and they cannot be computed from fpc "
                                  "because some stage has no (or a zero) fpc; give weights")
        else:
            w = np.ones(n)
        self._init_common(self._data, w)

        if stages[0].unit_stratum.size == 1 and not (nest and strata_cols):
            raise DesignError("the design has only one primary sampling unit; "
                              "check the psu column")
        if lonely_psu == "fail" and not (self._pps is not None and self._pps.joint):
            self._check_lonely()

    # ------------------------------------------------ designs over an engine
    @staticmethod
    def from_parquet(paths: Any, *, weights: str | None = None, probs: str | None = None,
                     strata: str | Sequence[str] | None = None,
                     psu: str | Sequence[str] | None = None,
                     fpc: str | Sequence[str] | None = None, nest: bool = False,
                     lonely_psu: LonelyRule = "fail", connection: Any = None,
                     pps: str | HartleyRao | None = None,
                     variance: Literal["HT", "YG"] = "HT",
                     replicate_weights: Sequence[str] | str | None = None,
                     **replicate: Any) -> Any:
        """A design over Parquet files, estimated by DuckDB without loading the rows.

        Parameters
        ----------
        paths : str, path, or list of them
            Files, globs (``"wave*/part-*.parquet"``) or directories of files,
            which must agree in their columns and types.
        weights, probs, strata, psu, fpc, nest, lonely_psu
            As for :class:`Design`; ``psu`` is required.
        pps, variance
            As for :class:`Design`: ``"brewer"``, ``"overton"`` or :func:`HR`, with
            the PSUs' probabilities in ``fpc`` (joint probabilities,
            :func:`ppsmat`, need the rows in memory).
        connection : duckdb.DuckDBPyConnection, optional
            The DuckDB connection to read with (its settings: threads, memory limit).
        replicate_weights : list of str, optional
            Replicate weight columns: a replicate-weight design (no ``psu``); see
            :class:`~innobaro.engines.replicates.ReplicateEngineDesign`.
        **replicate
            With ``replicate_weights``: ``method`` (required), ``scale``,
            ``rscales``, ``rho``, ``mse``, ``combined_weights`` and ``df``, as
            for :class:`ReplicateDesign`.

        Returns
        -------
        innobaro.engines.EngineDesign
            With ``mean``, ``total``, ``ratio`` and ``proportion`` methods that
            give the in-memory design's numbers.

        Notes
        -----
        Each estimate is one ``GROUP BY`` over (stratum, PSU, domain) in SQL;
        see :mod:`innobaro.engines.sums` for why those sums suffice.

        Examples
        --------
        >>> import innobaro as ib
        >>> ib.Design.from_parquet("no/such/*.parquet", psu="psu")  # doctest: +SKIP
        """
        from .engines.core import design_over
        from .engines.duckdb_engine import parquet_source

        source = parquet_source(paths, connection=connection)
        return design_over(source, weights=weights, probs=probs, strata=strata, psu=psu,
                           fpc=fpc, nest=nest, lonely_psu=lonely_psu,
                           pps=pps, variance=variance,
                           replicate_weights=replicate_weights, replicate=replicate)

    @staticmethod
    def from_duckdb(source: Any, *, weights: str | None = None, probs: str | None = None,
                    strata: str | Sequence[str] | None = None,
                    psu: str | Sequence[str] | None = None,
                    fpc: str | Sequence[str] | None = None, nest: bool = False,
                    lonely_psu: LonelyRule = "fail", connection: Any = None,
                    pps: str | HartleyRao | None = None,
                    variance: Literal["HT", "YG"] = "HT",
                    replicate_weights: Sequence[str] | str | None = None,
                    **replicate: Any) -> Any:
        """A design over a DuckDB relation, table or ``SELECT`` query.

        Parameters
        ----------
        source : duckdb.DuckDBPyRelation or str
            A relation, or the name of a table or view, or a query, of ``connection``.
        weights, probs, strata, psu, fpc, nest, lonely_psu
            As for :class:`Design`; ``psu`` is required.
        pps, variance
            As for :class:`Design`: ``"brewer"``, ``"overton"`` or :func:`HR`, with
            the PSUs' probabilities in ``fpc`` (joint probabilities,
            :func:`ppsmat`, need the rows in memory).
        connection : duckdb.DuckDBPyConnection, optional
            Where a name or query is run (default: DuckDB's default connection).
        replicate_weights : list of str, optional
            Replicate weight columns, as for :meth:`from_parquet`.
        **replicate
            ``method``, ``scale``, ``rscales``, ``rho``, ``mse``,
            ``combined_weights``, ``df``, as for :meth:`from_parquet`.

        Returns
        -------
        innobaro.engines.EngineDesign

        Notes
        -----
        The query is run again for every estimate; a source whose row count
        or weight total changes between passes is an :class:`~innobaro.errors.EngineError`.

        Examples
        --------
        >>> import innobaro as ib
        >>> ib.Design.from_duckdb("SELECT * FROM survey", psu="psu")  # doctest: +SKIP
        """
        from .engines.core import design_over
        from .engines.duckdb_engine import query_source

        rows = query_source(source, connection=connection)
        return design_over(rows, weights=weights, probs=probs, strata=strata, psu=psu,
                           fpc=fpc, nest=nest, lonely_psu=lonely_psu,
                           pps=pps, variance=variance,
                           replicate_weights=replicate_weights, replicate=replicate)

    @staticmethod
    def from_dask(frame: Any, *, weights: str | None = None, probs: str | None = None,
                  strata: str | Sequence[str] | None = None,
                  psu: str | Sequence[str] | None = None,
                  fpc: str | Sequence[str] | None = None, nest: bool = False,
                  lonely_psu: LonelyRule = "fail", split_every: int = 8,
                  pps: str | HartleyRao | None = None,
                  variance: Literal["HT", "YG"] = "HT",
                  replicate_weights: Sequence[str] | str | None = None,
                  **replicate: Any) -> Any:
        """A design over a ``dask.dataframe``, reduced partition by partition.

        Parameters
        ----------
        frame : dask.dataframe.DataFrame
        weights, probs, strata, psu, fpc, nest, lonely_psu
            As for :class:`Design`; ``psu`` is required.
        pps, variance
            As for :class:`Design`: ``"brewer"``, ``"overton"`` or :func:`HR`, with
            the PSUs' probabilities in ``fpc`` (joint probabilities,
            :func:`ppsmat`, need the rows in memory).
        split_every : int, default 8
            Partial sums added per node of the reduction tree.
        replicate_weights : list of str, optional
            Replicate weight columns, as for :meth:`from_parquet`.
        **replicate
            ``method``, ``scale``, ``rscales``, ``rho``, ``mse``,
            ``combined_weights``, ``df``, as for :meth:`from_parquet`.

        Returns
        -------
        innobaro.engines.EngineDesign

        Notes
        -----
        The computations run on Dask's current scheduler: a
        ``distributed.Client``'s cluster when one is active.

        Examples
        --------
        >>> import innobaro as ib
        >>> ib.Design.from_dask(ddf, weights="w", psu="psu")  # doctest: +SKIP
        """
        from .engines.core import design_over
        from .engines.dask_engine import DaskSource

        rows = DaskSource(frame, split_every=split_every)
        return design_over(rows, weights=weights, probs=probs, strata=strata, psu=psu,
                           fpc=fpc, nest=nest, lonely_psu=lonely_psu,
                           pps=pps, variance=variance,
                           replicate_weights=replicate_weights, replicate=replicate)

    @property
    def lonely_psu(self) -> LonelyRule:
        """The rule for strata with a single sampled PSU (see the class's ``lonely_psu``)."""
        return self._lonely_psu

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The sampling stages (factorised units, strata, fpc)."""
        return self._stages

    @property
    def pps(self) -> PPSInfo | None:
        """The unequal-probability sampling of the PSUs (None for other designs).

        A :class:`~innobaro.design.PPSInfo`: the method, the variance form and
        the units' inclusion probabilities, as the variance engines use them.
        """
        return self._pps

    @property
    def active_stages(self) -> tuple[Stage, ...]:
        """The stages that enter the variance: every stage with an fpc, else the first."""
        return self._stages if self._has_fpc else self._stages[:1]

    @property
    def strata_columns(self) -> tuple[str, ...]:
        """The columns whose combination is the first-stage stratum (empty: unstratified)."""
        return tuple(self._spec["strata"])

    @property
    def has_fpc(self) -> bool:
        """Whether finite population corrections were given."""
        return self._has_fpc

    @property
    def strata_labels(self) -> list[str]:
        """Printable label of each first-stage stratum (a new list each time)."""
        return list(self._strata_labels)

    @property
    def n_psu(self) -> int:
        """Number of first-stage sampling units."""
        return int(self._stages[0].unit_stratum.size)

    @property
    def n_strata(self) -> int:
        """Number of first-stage strata."""
        return self._stages[0].n_strata

    # ------------------------------------------------------------------ checks
    def _check_lonely(self) -> None:
        problems = []
        for k, st in enumerate(self.active_stages):
            lonely = (st.n_units == 1) & ~stage_certain(st, self._pps, k)
            if lonely.any():
                idx = np.flatnonzero(lonely)
                if k == 0:
                    names = [self._strata_labels[i] for i in idx[:20]]
                    problems.append(f"strata with a single PSU: {', '.join(names)}"
                                    + (f" and {idx.size - 20} more" if idx.size > 20 else ""))
                else:
                    problems.append(f"{idx.size} stage-{k} unit(s) with a single "
                                    f"stage-{k + 1} unit")
        if problems:
            raise LonelyPSUError(
                "; ".join(problems) + ". Choose lonely_psu='remove', 'adjust', "
                "'average' or 'certainty', or collapse strata")

    # ------------------------------------------------------------------ display
    def _describe(self) -> str:
        k = len(self._stages)
        strat = "stratified " if self._spec["strata"] else ""
        if not self._spec["psu"]:
            kind = "element sample"
        else:
            kind = f"{'one' if k == 1 else str(k)}-stage cluster sample"
        if self._pps is not None:
            names = {"brewer": "Brewer's approximation", "overton": "Overton's approximation",
                     "hr": "Hartley-Rao approximation", "ppsmat": "joint probabilities"}
            form = "" if self._pps.method == "brewer" else f", {self._pps.variance} variance"
            fpc = f" without replacement, PPS ({names[self._pps.method]}{form})"
        elif not self._has_fpc:
            fpc = " (with replacement)"
        else:
            fpc = " with fpc"
        return f"{strat}{kind}{fpc}"

    def __repr__(self) -> str:
        lines = [f"Design: {self._describe()}"]
        if self._domain_label is not None:
            lines.append(f"  domain: {self._domain_label} "
                         f"({int(self._present.sum())} of {self.n} rows)")
        lines.append(f"  {self.n} rows, {self.n_psu} PSUs in {self.n_strata} strata, "
                     f"df = {self.df:g}")
        if self.lonely_psu != "fail":
            lines.append(f"  lonely PSUs: {self.lonely_psu}")
        return "\n".join(lines)

    def replicate(self, method: str, *, replicates: int | None = None,
                  seed: int | np.random.Generator | None = None, rho: float | None = None,
                  mse: bool = False, hadamard: np.ndarray | None = None,
                  sort: str | Sequence[str] | None = None) -> ReplicateDesign:
        """Replicate-weight version of this design, as R's ``as.svrepdesign``.

        Parameters
        ----------
        method : {"jk1", "jkn", "brr", "fay", "bootstrap", "subbootstrap"}
            ``jk1``: delete-one-PSU jackknife for unstratified designs;
            ``jkn``: stratified jackknife; ``brr``: balanced repeated
            replication (exactly two PSUs per stratum); ``fay``: BRR with
            Fay's coefficient ``rho``; ``bootstrap``: Rao-Wu-Yue rescaling
            bootstrap (fpc honoured); ``subbootstrap``: the same without fpc;
            ``mrbbootstrap``: Preston's multistage rescaled bootstrap (every
            stage with an fpc resampled; R's ``mrbbootstrap``); ``sdr``:
            successive-difference replication from the sort order ``sort``
            (the ACS's method; the ACS takes ``mse=True``). See
            :mod:`innobaro.replicate_weights` for the formulas.
        replicates : int, optional
            Number of bootstrap replicates (default 50, as R), or of SDR
            replicates (default 80, the ACS's).
        seed : int or numpy.random.Generator, optional
            Seed of the bootstrap; the same seed gives the same weights. The
            global random state is never used.
        rho : float, optional
            Fay's coefficient, in [0, 1).
        mse : bool, default False
            Centre the replicates at the full-sample estimate.
        hadamard : array, optional
            The Hadamard matrix for ``brr``/``fay`` (two-valued, at least
            strata + 1 rows); by default chosen as R does.
        sort : str or list of str, optional
            For ``sdr``: the columns giving the order the sample was drawn in
            (the data's order by default).

        Returns
        -------
        ReplicateDesign

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"h": [1, 1, 2, 2, 3, 3], "psu": range(6),
        ...                    "w": [2.0, 2, 3, 3, 4, 4], "y": [1.0, 3, 2, 5, 4, 4]})
        >>> rd = ib.Design(df, weights="w", strata="h", psu="psu").replicate("brr")
        >>> rd.n_replicates
        4
        """
        from .replicate_weights import (
            make_replicate_weights,
            mrb_unit_factors,
            sdr_unit_factors,
        )

        if self._pps is not None:
            raise PPSError("replicate weights for a pps design are not available: innobaro's "
                           "replicate methods assume equal-probability sampling within strata")
        if sort is not None and method != "sdr":
            raise DesignError(f"sort= is for method='sdr' (the order of the sample); "
                              f"method {method!r} does not use it")
        # every method's replicate weight is the row's weight times a factor of
        # its unit: the design keeps the factors (ReplicateFactors), not n x R
        if method in ("mrbbootstrap", "sdr"):  # factors of last-stage / first-stage units
            count: Any = (50 if method == "mrbbootstrap" else 80) if replicates is None \
                else replicates
            factors, unit = (mrb_unit_factors(self, count, seed) if method == "mrbbootstrap"
                             else sdr_unit_factors(self, None if sort is None else
                                                   ([sort] if isinstance(sort, str)
                                                    else list(sort)), count))
            held = ReplicateFactors(factors, unit, self._w)
            # scale and rscales: the method's defaults (_default_scales), 1/(R-1) and 4/R
            return ReplicateDesign._from_arrays(self._data, self._w, held, method=method,
                                                scale=None, rscales=None, rho=None,
                                                mse=mse, present=self._present,
                                                domain_label=self._domain_label,
                                                shared=self._shared)
        mult, scale, rscales = make_replicate_weights(
            self, method, replicates=replicates, seed=seed, rho=rho, hadamard_matrix=hadamard)
        held = ReplicateFactors(mult, self._stages[0].unit, self._w)
        # the same rows, domain and level codes as this design
        return ReplicateDesign._from_arrays(self._data, self._w, held, method=method,
                                            scale=scale, rscales=rscales, rho=rho, mse=mse,
                                            present=self._present,
                                            domain_label=self._domain_label,
                                            shared=self._shared)


class ReplicateFactors:
    r"""Replicate weights held as factors of sampling units (advanced).

    When innobaro builds the replicates (:meth:`Design.replicate`), every
    replicate weight is the row's weight times a factor of its unit (the
    PSU; the last-stage unit for ``mrbbootstrap``):

    .. math::

        W_{ir} = w_i \, F_{u(i), r},

    so the design keeps the (units, R) factors :math:`F` and each row's unit
    code instead of the (n, R) weights. The (n, R) matrix is made the first
    time code asks for it (:meth:`full`), once, read-only, and shared by the
    designs derived from this one (subsets, new columns).

    Parameters
    ----------
    factors : numpy.ndarray
        (U, R) factor of each unit in each replicate.
    unit : numpy.ndarray
        (n,) unit code of each row, 0 to U - 1.
    weights : numpy.ndarray
        (n,) full-sample weights the factors multiply.

    References
    ----------
    .. [1] Wolter, K. M. (2007). *Introduction to Variance Estimation*, ch. 3-5.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.design import ReplicateFactors
    >>> f = ReplicateFactors(np.array([[0.0, 2.0], [2.0, 0.0]]), np.array([0, 0, 1]),
    ...                      np.array([1.0, 2.0, 3.0]))
    >>> f.full().tolist()
    [[0.0, 2.0], [0.0, 4.0], [6.0, 0.0]]
    """

    __slots__ = ("_full", "factors", "unit", "weights")

    def __init__(self, factors: np.ndarray, unit: np.ndarray, weights: np.ndarray) -> None:
        self.factors = read_only(np.ascontiguousarray(factors, dtype=np.float64))
        self.unit = read_only(np.asarray(unit, dtype=np.int64))
        self.weights = read_only(np.asarray(weights, dtype=np.float64))
        self._full: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(n, R): the shape of the replicate weights."""
        return (int(self.unit.size), int(self.factors.shape[1]))

    def full(self) -> np.ndarray:
        """The (n, R) replicate weights :math:`w_i F_{u(i), r}`, read-only.

        Made on the first call (one gather and one product, the same
        arithmetic as building them directly, so the same numbers to the
        last bit) and kept.

        Returns
        -------
        numpy.ndarray
        """
        if self._full is None:
            W = np.take(self.factors, self.unit, axis=0)
            np.multiply(W, self.weights[:, None], out=W)
            self._full = read_only(W)
        return self._full

    def row_weights(self) -> RowWeights:
        """The (n, R) replicate weights to be read a block of rows at a time
        (:class:`~innobaro._linalg.RowWeights`), without making them.

        Returns
        -------
        innobaro._linalg.RowWeights
        """
        return RowWeights(factors=self.factors, unit=self.unit, weights=self.weights)

    def domain_totals(self, values: np.ndarray, domain: np.ndarray, n_domains: int
                      ) -> np.ndarray:
        r"""Domain totals of the columns of ``values`` under every replicate.

        .. math::

            T_{rdj} = \sum_u F_{ur} \sum_{i: u(i) = u, d(i) = d} w_i y_{ij},

        the inner sums by one bincount per column over (domain, unit), then
        one (R, units) x (units, D k) product: no (n, R) matrix.

        Parameters
        ----------
        values : numpy.ndarray
            (n, k) values :math:`y`.
        domain : numpy.ndarray
            (n,) domain code of each row, -1 for rows in no domain.
        n_domains : int
            Number of domains D.

        Returns
        -------
        numpy.ndarray
            (R, D, k).
        """
        k = values.shape[1]
        U, R = self.factors.shape
        keep = domain >= 0
        if keep.all():
            unit, dom, w, A = self.unit, domain, self.weights, values
        else:
            unit, dom, w, A = self.unit[keep], domain[keep], self.weights[keep], values[keep]
        key = dom * U + unit if n_domains > 1 else unit
        cells = n_domains * U
        if cells <= max(unit.size, 1 << 16):  # dense (domain, unit) cells
            S = np.empty((cells, k))
            for j in range(k):  # over variables: one bincount each
                S[:, j] = np.bincount(key, weights=w * A[:, j], minlength=cells)
            # (U, D k): unit-major, each domain's k columns together
            S3 = S.reshape(n_domains, U, k).transpose(1, 0, 2).reshape(U, n_domains * k)
            return (self.factors.T @ S3).reshape(R, n_domains, k)
        # many cells: only those with rows, as a sparse (cells, D k) matrix
        import scipy.sparse as sp

        used, inverse = np.unique(key, return_inverse=True)
        inverse = inverse.reshape(-1)
        C = used.size
        S = np.empty((C, k))
        for j in range(k):  # over variables
            S[:, j] = np.bincount(inverse, weights=w * A[:, j], minlength=C)
        cols = ((used // U)[:, None] * k + np.arange(k)).ravel()
        M = sp.csr_matrix((S.ravel(), cols, np.arange(0, C * k + 1, k)),
                          shape=(C, n_domains * k))
        T = np.asarray(M.T @ self.factors[used % U])  # (D k, R)
        return T.T.reshape(R, n_domains, k)

    def __getstate__(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (self.factors, self.unit, self.weights)  # not the (n, R) matrix

    def __setstate__(self, state: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        self.__init__(*state)  # type: ignore[misc]


_METHODS = ("jk1", "jkn", "brr", "fay", "bootstrap", "subbootstrap", "mrbbootstrap", "other",
            "sdr")


class ReplicateDesign(SurveyDesign):
    r"""A survey design whose variance comes from replicate weights.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, pyarrow.Table or other data frame
        Never modified; a frame of another library than pandas is read column
        by column as for :class:`Design`.
    weights : str
        Column of full-sample weights.
    replicate_weights : list of str
        Columns of replicate weights: full weights (``combined_weights=True``,
        the default) or multipliers of the full-sample weight.
    method : str
        ``"jk1"``, ``"jkn"``, ``"brr"``, ``"fay"``, ``"bootstrap"``,
        ``"subbootstrap"``, ``"mrbbootstrap"``, ``"sdr"`` or ``"other"``:
        the replication method; it sets R's default ``scale`` and ``rscales``
        (``"sdr"`` is R's ``"successive-difference"``).
    scale : float, optional
        Overall multiplier of the variance. Defaults as R's ``svrepdesign``:
        ``brr`` :math:`1/R`; ``fay`` :math:`1/(R(1-\rho)^2)`; ``jk1``
        :math:`(R-1)/R`; ``bootstrap`` :math:`1/(R-1)`; ``sdr`` :math:`4/R`;
        otherwise 1.
    rscales : sequence of float, optional
        Multiplier of each replicate's squared deviation (``jkn``:
        :math:`(n_h-1)/n_h` of the replicate's stratum, required with full
        weights, read off the multipliers otherwise); default 1.
    rho : float, optional
        Fay's coefficient (required for ``fay``).
    mse : bool, default False
        Deviations from the full-sample estimate (True) or from the mean of
        the replicates (False), as R's ``mse=``.
    combined_weights : bool, default True
        Whether the replicate columns are full weights or multipliers.
    df : float, optional
        Degrees of freedom for intervals, as agencies publish them. By
        default the rank of the replicate weights minus one (R's ``degf``).

    Notes
    -----
    Given replicate weights are held once as a float64 (n, R) array of full
    weights; every estimate over all replicates is one matrix product with
    it. Replicates built by :meth:`Design.replicate` are held as factors of
    their units (:class:`~innobaro.design.ReplicateFactors`, a few megabytes),
    the (n, R) matrix made only when code asks for it. float64 keeps replicate
    variances exact to about 1e-15; float32 would halve the memory but lose
    agreement with R beyond 1e-7.

    References
    ----------
    .. [1] Wolter, K. M. (2007). *Introduction to Variance Estimation*, ch. 3-5.
    .. [2] Lumley, T. (2010). *Complex Surveys*, sec. 2.8.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"w": [1.0, 1, 1, 1], "y": [1.0, 2, 3, 4],
    ...                    "r1": [0, 4/3, 4/3, 4/3], "r2": [4/3, 0, 4/3, 4/3],
    ...                    "r3": [4/3, 4/3, 0, 4/3], "r4": [4/3, 4/3, 4/3, 0]})
    >>> rd = ib.ReplicateDesign(df, weights="w", replicate_weights=["r1", "r2", "r3", "r4"],
    ...                         method="jk1", scale=3 / 4)
    >>> ib.mean(rd, "y").se.round(6).tolist()
    [0.645497]
    """

    def __init__(self, data: Any, *, weights: str | None,
                 replicate_weights: Sequence[str] | str, method: str,
                 scale: float | None = None, rscales: Sequence[float] | None = None,
                 rho: float | None = None, mse: bool = False,
                 combined_weights: bool = True, df: float | None = None) -> None:
        data = as_frame(data)
        check_column_arg(weights, "weights")
        check_unique_columns(data)
        cols = as_column_list(replicate_weights, "replicate_weights")
        if not cols:
            raise DesignError("replicate_weights: give the replicate weight columns")
        check_columns(data, cols, "replicate_weights")
        if weights is None:
            w = np.ones(len(data))
        else:
            check_columns(data, [weights], "weights")
            w = numeric_column(data, weights, "weights")
            _check_weights(w, weights, data)
        mats = []
        for c in cols:
            v = numeric_column(data, c, "replicate weight")
            if (v < 0).any():
                raise DesignError(f"replicate weight column {c!r} has negative values")
            mats.append(v)
        R = np.column_stack(mats)
        zero = ~(R != 0).any(axis=0)
        if zero.any():
            names = [cols[i] for i in np.flatnonzero(zero)]
            warnings.warn(f"replicate weight column(s) {', '.join(names)} are zero in every "
                          f"row", InnobaroWarning, stacklevel=2)
        full = R if combined_weights else R * w[:, None]
        method = "sdr" if method == "successive-difference" else method
        self._setup(data.copy(deep=False) if isinstance(data, pd.DataFrame) else data, w,
                    full, method=method, scale=scale,
                    rscales=rscales, rho=rho, mse=mse, multipliers=None if combined_weights
                    else R, df=df)
        self._spec = {"weights": weights, "replicate_weights": cols}

    @classmethod
    def _from_arrays(cls, data: pd.DataFrame, w: np.ndarray,
                     full: np.ndarray | ReplicateFactors, *,
                     method: str, scale: float | None, rscales: np.ndarray | None,
                     rho: float | None,
                     mse: bool, present: np.ndarray, domain_label: str | None,
                     shared: DesignCache) -> ReplicateDesign:
        new = object.__new__(cls)
        new._setup(data, w, full, method=method, scale=scale, rscales=rscales, rho=rho,
                   mse=mse, multipliers=None, df=None, quiet=True)
        new._spec = {"weights": None, "replicate_weights": []}
        new._present = read_only(present)
        new._domain_label = domain_label
        new._shared = shared
        return new

    def _setup(self, data: pd.DataFrame, w: np.ndarray, full: np.ndarray | ReplicateFactors,
               *, method: str,
               scale: float | None, rscales: Sequence[float] | np.ndarray | None,
               rho: float | None, mse: bool, multipliers: np.ndarray | None,
               df: float | None, quiet: bool = False) -> None:
        if method not in _METHODS:
            raise DesignError(f"method must be one of {', '.join(_METHODS)} (or "
                              f"'successive-difference'); got {method!r}")
        self._init_common(data, w)
        # replicate weights built by innobaro are held as unit factors (_factors,
        # the (n, R) matrix made when asked for); given or reweighted ones as (n, R)
        if isinstance(full, ReplicateFactors):
            self._rep: np.ndarray | None = None
            self._factors: ReplicateFactors | None = full
        else:
            self._rep = read_only(np.ascontiguousarray(full, dtype=np.float64))
            self._factors = None
        n_rep = self.n_replicates
        if rho is not None and not 0 <= rho < 1:
            raise DesignError(f"rho must be in [0, 1); got {rho!r}")
        if method == "fay" and rho is None:
            raise DesignError("method='fay' needs rho, Fay's coefficient in [0, 1)")
        if rscales is not None:
            rs = np.atleast_1d(np.asarray(rscales, dtype=float))
            if rs.size == 1:
                rs = np.full(n_rep, rs[0])
            if rs.size != n_rep:
                raise DesignError(f"rscales has {rs.size} values; there are {n_rep} "
                                  f"replicates")
        else:
            rs = None
        warn: list[str] | None = [] if quiet else None
        self._scale, rscales_ = _default_scales(method, n_rep, scale, rs, rho, multipliers,
                                                warn)
        self._rscales = read_only(rscales_)
        self._method = method
        self._rho = rho
        self._mse = bool(mse)
        self._df: float | None = None if df is None else float(df)

    # ---------------------------------------------------------------- accessors
    @property
    def method(self) -> str:
        """The replication method (``"jk1"``, ``"jkn"``, ``"brr"``, ``"fay"``,
        ``"bootstrap"``, ``"subbootstrap"``, ``"mrbbootstrap"``, ``"sdr"`` or
        ``"other"``)."""
        return self._method

    @property
    def scale(self) -> float:
        """Overall multiplier of the replicate variance."""
        return self._scale

    @property
    def rscales(self) -> np.ndarray:
        """Multiplier of each replicate's squared deviation (read-only)."""
        return self._rscales

    @property
    def rho(self) -> float | None:
        """Fay's coefficient (None when the method has none)."""
        return self._rho

    @property
    def mse(self) -> bool:
        """Whether deviations are taken from the full-sample estimate (True) or
        from the mean of the replicates."""
        return self._mse

    @property
    def given_df(self) -> float | None:
        """The degrees of freedom given (``df=``, :meth:`with_df`); None when
        they are the rank of the replicate weights minus one."""
        return self._df

    @property
    def unmasked_replicate_weights(self) -> np.ndarray:
        """(n, R) replicate weights as a read-only array, rows outside the domain included.

        Advanced: full weights (not multipliers), the matrix variance engines
        and weighting work with; :attr:`replicate_weights` is the DataFrame,
        zero outside the domain. Replicates built by innobaro are held as
        factors of their units (:attr:`replicate_factors`): the matrix is
        made on the first call and kept.
        """
        if self._rep is None:
            assert self._factors is not None
            return self._factors.full()
        return self._rep

    @property
    def replicate_factors(self) -> ReplicateFactors | None:
        """The replicate weights as factors of units (advanced; read-only arrays).

        Set when innobaro built the replicates (:meth:`Design.replicate`) and
        they have not been reweighted since; None for given replicate weight
        columns and after a weighting step, whose replicate weights are held
        as an (n, R) matrix. Estimators use it to sum per unit and domain
        first and multiply a small matrix (:meth:`ReplicateFactors.domain_totals`).
        """
        return self._factors

    @property
    def n_replicates(self) -> int:
        """Number of replicates."""
        if self._rep is None:
            assert self._factors is not None
            return int(self._factors.factors.shape[1])
        return int(self._rep.shape[1])

    @property
    def replicate_weights(self) -> pd.DataFrame:
        """The replicate weights as full weights (zero outside the domain of a subset)."""
        rep = self.unmasked_replicate_weights
        W = rep if self._present.all() else rep * self._present[:, None]
        return pd.DataFrame(W, index=self._data.index,
                            columns=[f"rep{r + 1}" for r in range(self.n_replicates)])

    def __setstate__(self, state: dict[str, Any]) -> None:
        # pickled before replicates were held as factors: the (n, R) matrix only
        super().__setstate__({"_factors": None, **state})

    def with_df(self, df: float) -> ReplicateDesign:
        """The same design with the degrees of freedom set explicitly.

        Agencies that publish replicate weights often publish the degrees of
        freedom to use with them.

        Parameters
        ----------
        df : float
            Degrees of freedom for intervals and tests.

        Returns
        -------
        ReplicateDesign
            A copy of the design with ``df`` set.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "w": 1.0, "y": [1.0, 2, 3, 5, 4, 6]})
        >>> rd = ib.Design(df, weights="w", psu="psu").replicate("jk1")
        >>> rd.df, rd.with_df(30).df
        (5.0, 30.0)
        """
        return self._derive(df=float(df))

    def __repr__(self) -> str:
        names = {"jk1": "unstratified jackknife (JK1)", "jkn": "stratified jackknife (JKn)",
                 "brr": "balanced repeated replication", "fay": f"Fay's BRR (rho={self.rho})",
                 "bootstrap": "bootstrap", "subbootstrap": "(n-1) bootstrap",
                 "mrbbootstrap": "multistage rescaled bootstrap",
                 "sdr": "successive difference", "other": "replicate weights"}
        lines = [f"ReplicateDesign: {names[self.method]} with {self.n_replicates} replicates"
                 + (" and MSE variances" if self.mse else "")]
        if self._domain_label is not None:
            lines.append(f"  domain: {self._domain_label} "
                         f"({int(self._present.sum())} of {self.n} rows)")
        lines.append(f"  {self.n} rows, scale = {self.scale:.6g}")
        return "\n".join(lines)


def _default_scales(method: str, n_rep: int, scale: float | None, rscales: np.ndarray | None,
                    rho: float | None, multipliers: np.ndarray | None,
                    warn: list[str] | None) -> tuple[float, np.ndarray]:
    """R's ``svrepdesign`` defaults for ``scale`` and ``rscales``."""
    def note(msg: str) -> None:
        if warn is None:
            warnings.warn(msg, InnobaroWarning, stacklevel=4)

    if method == "brr":
        if scale is not None:
            note("method='brr' sets scale = 1/R; the scale given is ignored")
        scale = 1.0 / n_rep
    elif method == "fay":
        assert rho is not None
        scale = 1.0 / (n_rep * (1 - rho) ** 2)
    elif method in ("bootstrap", "subbootstrap", "mrbbootstrap") and scale is None:
        scale = 1.0 / (n_rep - 1)
    elif method == "sdr":
        if scale is not None or rscales is not None:
            note("method='sdr' uses scale = 4/R and rscales = 1; the values given are ignored")
        scale, rscales = 4.0 / n_rep, None
    elif method == "jk1" and scale is None:
        if multipliers is not None:
            scale = 1.0 / float(multipliers[:, 0].max())
            note("scale not given for jk1: using 1/max(multiplier) = (n-1)/n")
        else:
            scale = (n_rep - 1) / n_rep
            note("scale not given for jk1: using (R-1)/R, right when each replicate "
                 "drops one PSU")
    elif method == "jkn" and rscales is None:
        if multipliers is None:
            raise DesignError("method='jkn' with full replicate weights needs rscales, "
                              "(n_h - 1)/n_h for each replicate's stratum")
        rscales = 1.0 / multipliers.max(axis=0)
        note("rscales not given for jkn: using 1/max(multiplier) = (n_h-1)/n_h")
    elif method == "other" and (scale is None or rscales is None):
        note("scale or rscales not given for method='other': set to 1")
    if scale is None:
        scale = 1.0
    if rscales is None:
        rscales = np.ones(n_rep)
    return float(scale), np.asarray(rscales, dtype=float)


# ---------------------------------------------------------------------- helpers
def _level_labels(level_values: list[np.ndarray], n_levels: int) -> list[str]:
    if not level_values:
        return ["(all)"] * n_levels
    if len(level_values) == 1:
        return [str(v) for v in level_values[0]]
    return [" / ".join(str(v) for v in vals) for vals in zip(*level_values, strict=True)]


def _check_weights(w: np.ndarray, name: str, data: pd.DataFrame) -> None:
    bad = w < 0
    if bad.any():
        i = int(np.argmax(bad))
        raise DesignError(f"weights column {name!r} has {int(bad.sum())} negative value(s) "
                          f"(row {plain(data.index[i])}: {plain(w[i])}); weights must be >= 0")
    inf = np.isinf(w)
    if inf.any():
        i = int(np.argmax(inf))
        raise DesignError(f"weights column {name!r} has infinite values "
                          f"(row {plain(data.index[i])})")
    if not (w > 0).any():
        raise DesignError(f"weights column {name!r} is zero in every row")


def _build_stages(data: pd.DataFrame, strata_codes: np.ndarray, psu_cols: list[str],
                  fpc_cols: list[str], nest: bool, strata_labels: list[str]
                  ) -> tuple[tuple[Stage, ...], bool]:
    n = len(data)
    fpc_values = [numeric_column(data, c, "fpc") for c in fpc_cols]
    fraction_form = False
    if fpc_values:
        allv = np.concatenate(fpc_values)
        if (allv < 0).any():
            raise DesignError("fpc values must be non-negative")
        big = allv > 1
        small = allv < 1
        if big.any() and small.any():
            raise DesignError("fpc must be all population counts (>= 1) or all sampling "
                              "fractions (<= 1); the fpc columns mix both")
        fraction_form = not big.any()
    n_stages = max(len(psu_cols), 1)
    if fpc_cols and len(fpc_cols) < n_stages:
        warnings.warn(f"fpc given for {len(fpc_cols)} of {n_stages} stages; the later "
                      f"stages are treated as sampled with replacement",
                      InnobaroWarning, stacklevel=3)
    stages = []
    row_stratum = strata_codes
    for k in range(n_stages):
        if psu_cols:
            ids, _ = factorize_columns(data, [psu_cols[k]], "psu", labels=False)
        else:
            ids = np.arange(n, dtype=np.int64)
        n_ids = int(ids.max()) + 1
        unit, keys = compact_codes(row_stratum * n_ids + ids)
        unit_stratum = keys // n_ids
        n_strata = int(row_stratum.max()) + 1
        if k == 0 and not nest and psu_cols:
            unit_id = keys % n_ids
            per_id = np.bincount(unit_id, minlength=n_ids)
            if (per_id > 1).any():
                bad_id = int(np.argmax(per_id > 1))
                row = int(np.argmax(ids == bad_id))
                where = sorted({strata_labels[s] for s in unit_stratum[unit_id == bad_id]})
                raise DesignError(
                    f"PSU {plain(data[psu_cols[0]].iloc[row])} (column {psu_cols[0]!r}) "
                    f"appears in strata {', '.join(where)}; PSUs must be nested in strata. "
                    f"If PSU ids are reused across strata, pass nest=True")
        n_units = np.bincount(unit_stratum, minlength=n_strata)
        starts = np.concatenate(([0], np.cumsum(n_units)[:-1]))
        if k < len(fpc_values):
            popsize = _stage_popsize(fpc_values[k], row_stratum, n_units, fraction_form,
                                     fpc_cols[k], k, strata_labels)
        else:
            popsize = np.full(n_strata, np.inf)
        stages.append(Stage(unit=unit, unit_stratum=unit_stratum, n_units=n_units,
                            popsize=popsize, starts=starts))
        row_stratum = unit
    return tuple(stages), fraction_form


def _stage_popsize(values: np.ndarray, row_stratum: np.ndarray, n_units: np.ndarray,
                   fraction_form: bool, name: str, k: int, strata_labels: list[str]
                   ) -> np.ndarray:
    n_strata = n_units.size
    first_row = np.full(n_strata, -1, dtype=np.int64)
    first_row[row_stratum[::-1]] = np.arange(row_stratum.size)[::-1]
    per_stratum = values[first_row]
    varies = values != per_stratum[row_stratum]
    if varies.any():
        h = int(row_stratum[np.argmax(varies)])
        where = f"stratum {strata_labels[h]}" if k == 0 else f"a stage-{k} unit"
        raise DesignError(f"fpc column {name!r} varies within {where} at stage {k + 1}; "
                          f"it must be constant within each stratum")
    if fraction_form:
        with np.errstate(divide="ignore"):
            popsize = np.where(per_stratum > 0, n_units / per_stratum, np.inf)
    else:
        popsize = per_stratum.astype(np.float64)
    too_small = popsize < n_units
    if too_small.any():
        h = int(np.argmax(too_small))
        where = f"stratum {strata_labels[h]}" if k == 0 else f"a stage-{k} unit"
        raise DesignError(f"fpc column {name!r} gives a population of {popsize[h]:g} in "
                          f"{where} at stage {k + 1}, smaller than the {int(n_units[h])} "
                          f"units sampled there")
    return popsize


def _describe_mask(mask: Any, columns: Any = ()) -> str:
    # a boolean Series computed from a column keeps that column's name, which is
    # not the condition; a Series the user named (not a column) names the domain
    if isinstance(mask, str):
        return mask
    if isinstance(mask, pd.Series) and mask.name is not None and mask.name not in columns:
        return str(mask.name)
    return "subset"


def _empty_domain(mask: Any, columns: Any = ()) -> Exception:
    from .errors import DomainError

    return DomainError(f"the domain {_describe_mask(mask, columns)!r} has no rows in the "
                       f"design")


# ---------------------------------------------------------------------------
# unequal-probability (pps) designs
# ---------------------------------------------------------------------------
def stage_certain(st: Stage, pps: PPSInfo | None, k: int) -> np.ndarray:
    """Per stratum of stage ``k``: is it sampled with certainty (every unit's fpc
    factor below :data:`CERTAINTY_TOL`)?

    Brewer's stages have one factor :math:`1 - \\pi_u` per unit, the others one
    per stratum (R: ``all(f < 1e-7)`` within a stratum).

    Parameters
    ----------
    st : Stage
        The stage.
    pps : PPSInfo or None
        The design's :attr:`Design.pps`.
    k : int
        The stage's index.

    Returns
    -------
    numpy.ndarray
        Boolean, one value per stratum of the stage.
    """
    unit_f = unit_fpc_factor(pps, k)
    if unit_f is None:
        return np.asarray(st.fpc_factor < CERTAINTY_TOL)
    uncertain = np.bincount(st.unit_stratum, weights=(unit_f >= CERTAINTY_TOL).astype(float),
                            minlength=st.n_strata)
    return np.asarray(uncertain == 0)


def unit_fpc_factor(pps: PPSInfo | None, k: int) -> np.ndarray | None:
    """Brewer's finite population factor :math:`1 - \\pi_u` of each unit of stage ``k``,
    or None when the stage's factor is per stratum (not a Brewer stage).

    Parameters
    ----------
    pps : PPSInfo or None
        The design's :attr:`Design.pps`.
    k : int
        The stage's index.

    Returns
    -------
    numpy.ndarray or None
    """
    if pps is None or pps.method != "brewer" or k >= len(pps.unit_prob):
        return None
    return 1.0 - pps.unit_prob[k]


def _pps_method(pps: Any, variance: Any) -> str:
    if variance not in ("HT", "YG"):
        raise DesignError(f"variance must be 'HT' or 'YG'; got {variance!r}")
    if pps is None or pps is False:
        if variance != "HT":
            raise PPSError("variance='YG' needs a pps design (pps='overton', ib.HR() or "
                           "ib.ppsmat(...))")
        return ""
    if isinstance(pps, HartleyRao):
        return "hr"
    if isinstance(pps, JointProbabilities):
        return "ppsmat"
    if isinstance(pps, str) and pps in ("brewer", "overton"):
        if pps == "brewer" and variance != "HT":
            raise PPSError("pps='brewer' has only the variance='HT' form (as R)")
        return pps
    raise PPSError(f"pps must be 'brewer', 'overton', ib.HR(...) or ib.ppsmat(...); "
                   f"got {pps!r}")


def _unit_values(values: np.ndarray, unit: np.ndarray, n_units: int, name: str,
                 data: pd.DataFrame, what: str) -> np.ndarray:
    """The value of each unit (the first row's); an error when a unit's rows differ."""
    first = np.full(n_units, -1, dtype=np.int64)
    first[unit[::-1]] = np.arange(unit.size)[::-1]
    per_unit = values[first]
    varies = values != per_unit[unit]
    if varies.any():
        i = int(np.argmax(varies))
        raise PPSError(f"{what} column {name!r} varies within a sampling unit (row "
                       f"{plain(data.index[i])} has {plain(values[i])}, another row of its "
                       f"unit {plain(per_unit[unit[i]])}): a unit has one inclusion probability")
    return np.asarray(per_unit)


def _check_prob(values: np.ndarray, name: str, data: pd.DataFrame, what: str) -> None:
    bad = ~((values > 0) & (values <= 1))
    if bad.any():
        i = int(np.argmax(bad))
        above = values[i] > 1
        raise PPSError(
            f"{what} column {name!r} must hold inclusion probabilities in (0, 1] for a pps "
            f"design; row {plain(data.index[i])} has {plain(values[i])}"
            + (" (an inclusion probability above 1; pps designs take fpc as sampling "
               "probabilities, not population counts)" if above else ""))


def _pps_info(data: pd.DataFrame, method: str, variance: str, spec: Any,
              stages: tuple[Stage, ...], fpc_cols: list[str], probs: str | None,
              psu_cols: list[str], strata_labels: list[str]
              ) -> tuple[PPSInfo, np.ndarray]:
    """The design's :class:`PPSInfo` and each row's inclusion probability (product
    over the stages with probabilities), checking every input."""
    if method != "brewer" and len(stages) > 1:
        shown = {"hr": "ib.HR()", "ppsmat": "ib.ppsmat()"}.get(method, repr(method))
        raise PPSError(f"pps={shown} is for one-stage designs (as in R); give one psu "
                       f"column, or use pps='brewer' for a multistage design")
    if fpc_cols:
        sources = [(c, "fpc", numeric_column(data, c, "fpc")) for c in fpc_cols]
    elif probs is not None and len(stages) == 1:
        sources = [(probs, "probs", numeric_column(data, probs, "probs"))]
    elif method == "ppsmat":
        sources = []
    else:
        raise PPSError("a pps design needs the PSUs' inclusion probabilities: give fpc (one "
                       "column of sampling probabilities per stage, as R's svydesign) "
                       + ("or probs" if len(stages) == 1 else
                          "(probs is not enough for a multistage design)"))
    for name, what, values in sources:
        _check_prob(values, name, data, what)
    if method != "brewer" and fpc_cols and probs is not None:
        pv = numeric_column(data, probs, "probs")
        differ = ~np.isclose(pv, sources[0][2], rtol=1e-10, atol=0.0)
        if differ.any():
            i = int(np.argmax(differ))
            raise PPSError(f"probs {probs!r} and fpc {fpc_cols[0]!r} give different inclusion "
                           f"probabilities at row {plain(data.index[i])} ({plain(pv[i])} and "
                           f"{plain(sources[0][2][i])}); give one of them")
    unit_prob = tuple(_unit_values(values, st.unit, st.unit_stratum.size, name, data, what)
                      for (name, what, values), st in zip(sources, stages, strict=False))
    row_prob = None
    if sources:
        row_prob = np.ones(len(data))
        for (_, _, values) in sources:
            row_prob = row_prob * values
    psum = None
    dcheck = None
    st = stages[0]
    if method == "hr":
        psum = _hr_psum(spec, unit_prob[0], st, strata_labels)
    elif method == "ppsmat":
        if psu_cols:
            raise PPSError("ib.ppsmat: the joint probabilities are of the data's rows (as R's "
                           "ppsmat); give no psu column")
        pi = unit_prob[0] if unit_prob else None
        dcheck, diag = _joint_dcheck(spec, st, pi, data)
        if not unit_prob:
            unit_prob = (diag,)
            row_prob = diag[st.unit]
    assert row_prob is not None
    info = PPSInfo(method=method, variance=variance,
                   unit_prob=tuple(read_only(p) for p in unit_prob),
                   psum=None if psum is None else read_only(psum), dcheck=dcheck)
    return info, row_prob


def _hr_psum(spec: HartleyRao, prob: np.ndarray, st: Stage, strata_labels: list[str]
             ) -> np.ndarray:
    """Hartley-Rao's sum of squared probabilities over n, per stratum."""
    if spec.psum is None:  # R's HR(): the stratum's mean sampled probability
        return np.bincount(st.unit_stratum, weights=prob, minlength=st.n_strata) / st.n_units
    if isinstance(spec.psum, dict):
        given = {str(k): float(v) for k, v in spec.psum.items()}
        missing = [lab for lab in strata_labels if lab not in given]
        if missing:
            raise PPSError(f"HR: psum has no value for stratum {', '.join(missing[:10])}")
        extra = sorted(set(given) - set(strata_labels))
        if extra:
            raise PPSError(f"HR: psum names stratum {', '.join(extra[:10])}, which the design "
                           f"does not have")
        return np.array([given[lab] for lab in strata_labels])
    return np.full(st.n_strata, float(spec.psum))


def _joint_dcheck(spec: JointProbabilities, st: Stage, pi: np.ndarray | None,
                  data: pd.DataFrame) -> tuple[Any, np.ndarray]:
    """Check the joint probabilities and return (pi_ij - pi_i pi_j)/pi_ij, sparse, in the
    stage's unit order (each row a unit), and the first-order probabilities per unit."""
    import scipy.sparse as sp

    joint = spec.joint
    n = len(data)
    if joint.shape != (n, n):
        raise JointProbabilityError(f"the joint probabilities are a {joint.shape[0]} x "
                                    f"{joint.shape[1]} matrix; the data have {n} rows")
    index = data.index

    def pair(i: int, j: int) -> str:
        return f"rows {plain(index[i])} and {plain(index[j])}"

    if not np.isfinite(joint).all():
        i, j = np.argwhere(~np.isfinite(joint))[0]
        raise JointProbabilityError(f"the joint probabilities have a missing or infinite "
                                    f"value at {pair(int(i), int(j))}")
    diag = np.diag(joint).copy()
    bad = ~((diag > 0) & (diag <= 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise JointProbabilityError(f"the diagonal of the joint probabilities (the first-order "
                                    f"ones) must be in (0, 1]; row {plain(index[i])} has "
                                    f"{plain(diag[i])}")
    asym = np.abs(joint - joint.T) > 1e-10 * np.maximum(np.abs(joint), 1e-300)
    if asym.any():
        i, j = np.argwhere(asym)[0]
        raise JointProbabilityError(f"the joint probabilities are not symmetric: "
                                    f"{plain(joint[i, j])} and {plain(joint[j, i])} for "
                                    f"{pair(int(i), int(j))}")
    if pi is not None:
        row_pi = pi[st.unit]
        off = ~np.isclose(diag, row_pi, rtol=1e-8, atol=0.0)
        if off.any():
            i = int(np.argmax(off))
            raise JointProbabilityError(f"the diagonal of the joint probabilities does not "
                                        f"match the inclusion probabilities: row "
                                        f"{plain(index[i])} has {plain(diag[i])} on the "
                                        f"diagonal and {plain(row_pi[i])} in fpc/probs")
    low = joint <= 0
    if low.any():
        i, j = np.argwhere(low)[0]
        raise JointProbabilityError(f"the joint probabilities must be positive (both units "
                                    f"were sampled); {pair(int(i), int(j))} have "
                                    f"{plain(joint[i, j])}")
    cap = np.minimum.outer(diag, diag) * (1 + 1e-10)
    high = joint > cap
    if high.any():
        i, j = np.argwhere(high)[0]
        raise JointProbabilityError(f"a joint probability exceeds a first-order one: "
                                    f"{plain(joint[i, j])} for {pair(int(i), int(j))}, whose "
                                    f"probabilities are {plain(diag[i])} and {plain(diag[j])}")
    dcheck = (joint - np.outer(diag, diag)) / joint
    dcheck[np.abs(dcheck) < spec.tolerance] = 0.0
    row_of_unit = np.empty(n, dtype=np.int64)
    row_of_unit[st.unit] = np.arange(n)
    ordered = sp.csr_matrix(dcheck[np.ix_(row_of_unit, row_of_unit)])
    return ordered, diag[row_of_unit]
