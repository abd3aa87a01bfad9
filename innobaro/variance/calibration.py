"""How weighting enters the linearisation variance: projections of influence values.

Post-stratification, raking, calibration and nonresponse adjustment estimate
weights from the sample, so every statistic computed with those weights has
influence values

.. math:: \\tilde z = z - A\\,C(z),

the residuals of the weighting model (Deville and Särndal 1992; Lumley 2010,
ch. 7). A weighting step records, over all rows of the design, one or more
*bases* ``(A, F, K)``: ``A`` the (n, p) basis of the correction, and
``C = K F^T z`` its coefficients (a linear functional of the influence
values). Steps apply in order, as R's ``svyrecvar`` applies ``postStrata``;
raking sweeps its margins ten times, as R does.

- post-stratification: ``A = w e_c``, ``F = (w_0/w) e_c``,
  ``K = diag(1/\\sum_c w_0)`` (``e_c`` the cell indicator, ``w_0`` the
  weights before the step);
- calibration (GREG): ``A = w X``, ``F = X/g``, ``K = (X^T W_0 X)^{-1}``;
  with heteroscedastic variances ``sigma^2`` (R's ``calibrate(variance=)``,
  linear distance) ``F = X/(g sigma^2)`` and ``K = (X^T W_0 Sigma^{-1} X)^{-1}``
  (R keeps ``Sigma = I`` here for the bounded and non-linear distances); with
  cluster-level calibration (``aggregate.stage``) ``X``, ``w_0`` and
  ``sigma^2`` are their cluster means and ``A = g w_0 X``;
- raking: one basis per margin with ``A = w_k e_l``, ``F = e_l / w_k``,
  ``K = diag(1/n_l)`` (``w_k`` the weights after margin k's last step,
  ``n_l`` the rows at level l), swept ten times;
- weighting-class nonresponse adjustment: ``A = (w - w_0) e_c``,
  ``F = e_c``, ``K = diag(1/\\sum_c w)``.
  The same basis serves propensity classes with the weighted response
  rate; inverse-propensity weights have no basis (design weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._linalg import bincount

__all__ = ["Basis", "CalibrationStep", "project_influence"]


@dataclass(frozen=True)
class Basis:
    """One basis of a weighting correction, over all rows of the design.

    Either ``codes`` (n,) with one nonzero per row (indicator form: ``A`` and
    ``F`` are ``a_values`` and ``f_values`` placed in column ``codes``), or a
    dense matrix ``x`` (n, p) with row weights: ``A = diag(a_values) x S``,
    ``F = diag(f_values) x S``, ``S = diag(1/scale)`` (the matrix is shared,
    never copied).
    """

    K: np.ndarray  # (p, p)
    a_values: np.ndarray  # (n,) row weights of A
    f_values: np.ndarray  # (n,) row weights of F
    codes: np.ndarray | None = None
    x: np.ndarray | None = None
    scale: np.ndarray | None = None

    def _dense(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.x is not None and self.scale is not None
        return self.x, self.scale

    def _col(self, j: int, values: np.ndarray) -> np.ndarray:
        x, scale = self._dense()
        return values * x[:, j] / scale[j]

    @property
    def p(self) -> int:
        return int(self.K.shape[0])

    def f_t(self, z: np.ndarray, domain: np.ndarray, n_domains: int) -> np.ndarray:
        """``F^T z`` for domain-split influence values -> (p, D * q)."""
        q = z.shape[1]
        keep = domain >= 0
        every = bool(keep.all())  # no copies of the rows when every row is in a domain
        d = domain if every else domain[keep]
        zk = z if every else z[keep]
        out = np.empty((self.p, n_domains, q))
        if self.codes is not None:
            codes = self.codes if every else self.codes[keep]
            key = codes if n_domains == 1 else codes * n_domains + d
            fv = self.f_values if every else self.f_values[keep]
            for j in range(q):  # over variables
                out[:, :, j] = bincount(key, weights=fv * zk[:, j],
                                        minlength=self.p * n_domains
                                        ).reshape(self.p, n_domains)
        else:
            x, scale = self._dense()
            if n_domains == 1:
                # one product with the (n, q) weighted influence values; rows
                # outside every domain get weight zero (no copy of x)
                fz = self.f_values[:, None] * z
                if not every:
                    fz[~keep] = 0.0
                return (x.T @ fz) / scale[:, None]
            fv = self.f_values if every else self.f_values[keep]
            key = (d[:, None] * q + np.arange(q)).ravel()
            fz = (fv[:, None] * zk).ravel()
            for a in range(self.p):  # over auxiliary variables
                xa = x[:, a] if every else x[keep, a]
                xa = np.repeat(xa, q) if q > 1 else xa
                out[a] = np.bincount(key, weights=fz * xa, minlength=n_domains * q
                                     ).reshape(n_domains, q) / scale[a]
        return out.reshape(self.p, n_domains * q)

    def f_t_basis(self, other: Basis) -> np.ndarray:
        """``F^T A_other`` -> (p, p_other), without dense indicator matrices."""
        if self.codes is not None and other.codes is not None:
            key = self.codes * other.p + other.codes
            return np.bincount(key, weights=self.f_values * other.a_values,
                               minlength=self.p * other.p).reshape(self.p, other.p)
        if self.codes is not None:
            return np.stack([np.bincount(self.codes,
                                         weights=self.f_values * other._col(j, other.a_values),
                                         minlength=self.p)
                             for j in range(other.p)], axis=1)  # over auxiliaries
        if other.codes is not None:
            return np.stack([np.bincount(other.codes,
                                         weights=other.a_values * self._col(j, self.f_values),
                                         minlength=other.p)
                             for j in range(self.p)], axis=0)  # over auxiliaries
        x, scale = self._dense()
        ox, oscale = other._dense()
        inner = (x * (self.f_values * other.a_values)[:, None]).T @ ox
        return inner / np.outer(scale, oscale)

    def unit_totals(self, unit: np.ndarray, n_units: int) -> np.ndarray:
        """Totals of the columns of ``A`` per sampling unit -> (U, p)."""
        if self.codes is not None:
            key = unit * self.p + self.codes
            return bincount(key, weights=self.a_values,
                            minlength=n_units * self.p).reshape(n_units, self.p)
        x, scale = self._dense()
        return np.stack([bincount(unit, weights=self.a_values * x[:, j], minlength=n_units)
                         for j in range(self.p)], axis=1) / scale  # over auxiliary variables


@dataclass(frozen=True)
class CalibrationStep:
    """A weighting step's correction: its bases, swept ``sweeps`` times."""

    bases: tuple[Basis, ...]
    sweeps: int = 1
    kind: str = "calibration"


def project_influence(steps: tuple[CalibrationStep, ...], z: np.ndarray,
                      domain: np.ndarray, n_domains: int
                      ) -> list[tuple[Basis, np.ndarray]]:
    """Coefficients of every basis for the influence values ``z``.

    Returns ``[(basis, C)]`` with ``C`` (p, m): the calibrated influence values
    are ``z - sum_b A_b C_b``. Computed without forming the (n, m) residuals:
    ``F_k^T x = F_k^T z - sum_b (F_k^T A_b) C_b``.

    Examples
    --------
    Post-stratification to two cells with unchanged weights of 1: the
    coefficients are the cell means of ``z``, and the residuals are ``z``
    centred within its cell.

    >>> import numpy as np
    >>> from innobaro.variance.calibration import Basis, CalibrationStep, project_influence
    >>> codes, w = np.array([0, 0, 1, 1]), np.ones(4)
    >>> basis = Basis(K=np.diag([1 / 2, 1 / 2]), codes=codes, a_values=w,
    ...               f_values=np.ones(4))
    >>> z = np.array([[1.0], [3.0], [2.0], [6.0]])
    >>> [(b, C)] = project_influence((CalibrationStep(bases=(basis,)),), z,
    ...                              np.zeros(4, dtype=np.int64), 1)
    >>> C.ravel().tolist()
    [2.0, 4.0]
    >>> (z[:, 0] - w * C[codes, 0]).tolist()
    [-1.0, 1.0, -2.0, 2.0]
    """
    bases = [b for step in steps for b in step.bases]
    if not bases:
        return []
    fz = [b.f_t(z, domain, n_domains) for b in bases]
    coef = [np.zeros((b.p, fz[0].shape[1])) for b in bases]
    cross: dict[tuple[int, int], np.ndarray] = {}

    def ft_a(k: int, b: int) -> np.ndarray:
        if (k, b) not in cross:
            cross[(k, b)] = bases[k].f_t_basis(bases[b])
        return cross[(k, b)]

    index = 0
    for step in steps:
        members = list(range(index, index + len(step.bases)))
        index += len(step.bases)
        for _ in range(step.sweeps):
            for k in members:
                current = fz[k].copy()
                for b in range(index):
                    if np.any(coef[b]):
                        current -= ft_a(k, b) @ coef[b]
                coef[k] = coef[k] + bases[k].K @ current
    return list(zip(bases, coef, strict=True))
