"""Small-sample corrections of the linearisation variance: Bell-McCaffrey.

Bias-reduced linearisation (CR2, Bell and McCaffrey 2002) with Satterthwaite
degrees of freedom, as R's ``svyglm(std.errors = "Bell-McCaffrey")`` (survey
4.5), for models and, beyond R, for means, ratios, proportions and domains:
each is a weighted regression (on an intercept, on the denominator, on
domain indicators) whose residuals the estimator hands over as a
:class:`Working` regression.

For a working regression with regressors :math:`U` and weighted regressors
:math:`\\tilde U = WU` (rows :math:`u_i`, :math:`\\tilde u_i`), residuals
:math:`e` and bread :math:`M = (\\tilde U^\\top U)^{-1}`, the hat matrix is
:math:`H = U M \\tilde U^\\top`. For each first-stage cluster :math:`g`

.. math::

    A_g = \\big[((I - H)(I - H)^\\top)_{gg}\\big]^{-1/2}
        = (I + L_g C L_g^\\top)^{-1/2},
    \\qquad L_g = [U_g,\\ \\tilde U_g],\\quad
    C = \\begin{pmatrix} N & -M \\\\ -M & 0 \\end{pmatrix},

with :math:`N = M \\tilde U^\\top \\tilde U M` (the working model
:math:`\\operatorname{Var}(e) = I`, clubSandwich's ``CR2`` for weighted fits;
with equal weights survey's ``(I - H_{gg})^{-1/2}``). Its inverse square root
is formed in the :math:`2p`-dimensional space of :math:`L_g`:
with :math:`K_g = L_g^\\top L_g` and
:math:`S_g = I + K_g^{1/2} C K_g^{1/2}`,
:math:`A_g = I + L_g K_g^{+1/2} (S_g^{-1/2} - I) K_g^{+1/2} L_g^\\top`
(eigenvalues of :math:`S_g` at zero give zero, as R's ``mihalf``), batched
over clusters. The adjusted residuals :math:`\\tilde e_g = A_g e_g` give the
influence values :math:`z_i = \\tilde e_i \\tilde u_i^\\top M`, whose
variance is the design's linearisation variance (strata, fpc, later stages,
calibration), as survey's ``svy.varcoef`` does.

The degrees of freedom of coefficient :math:`j` are Bell and McCaffrey's
(2002, Theorem 4): with :math:`a_g = A_g \\tilde U_g M e_j`, the matrix
:math:`B_{gh} = a_g^\\top [(I - H) V (I - H)^\\top]_{gh} a_h` over clusters
gives :math:`\\nu_j = (\\operatorname{tr} B)^2 / \\operatorname{tr}(B^2)`,
where :math:`V = I` (``"bell-mccaffrey"``) or an exchangeable correlation
within clusters estimated from the adjusted residuals
(``"bell-mccaffrey-2"``). :math:`B` is a diagonal plus a low-rank matrix in
the same :math:`p`-space, so its traces need no cluster-by-cluster matrix.

Multivariate models (:func:`~innobaro.ologit`, :func:`~innobaro.mlogit`)
hand over several *pseudo-rows* per row, one per linear predictor the
row's likelihood depends on (:func:`multivariate_working`): the row's
derivatives :math:`U_i` of those linear predictors whitened by its
weighted information :math:`W_i`, with the scalar weight
:math:`c_i = (\\det W_i)^{1/r_i}`, so that the regression's information
and influence values are the model's. ``Working.row`` names each
pseudo-row's row: a cluster is the pseudo-rows of a PSU's rows, and the
adjusted influence values are summed back to the rows. With one
pseudo-row per row this is the regression above.

References: Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in
standard errors for linear regression with multi-stage samples. *Survey
Methodology* 28, 169-181. Pustejovsky, J. E. and Tipton, E. (2018).
Small-sample methods for cluster-robust variance estimation and hypothesis
testing in fixed effects models. *Journal of Business & Economic Statistics*
36, 672-683. R packages survey (``bell_mccaffrey.R``) and clubSandwich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..design import Design
from ..errors import EstimationError, UnsupportedDesignError

__all__ = ["SE_METHODS", "Adjusted", "Working", "adjust", "check_se", "cr2_vcov",
           "glm_working", "multivariate_working", "small_sample_influence"]

#: The values of ``se=``: R's ``std.errors=`` of ``svyglm``, in lower case.
SE_METHODS = ("linearized", "bell-mccaffrey", "bell-mccaffrey-2")

#: Relative size below which an eigenvalue counts as zero.
_EIG_TOL = 1e-10


def check_se(se: str) -> str:
    """Validate ``se=`` (R's spellings ``"Bell-McCaffrey"`` are accepted).

    Parameters
    ----------
    se : str
        ``"linearized"``, ``"bell-mccaffrey"`` or ``"bell-mccaffrey-2"``.

    Returns
    -------
    str
        The lower-case name.
    """
    name = se.lower() if isinstance(se, str) else se
    if name == "linearised":
        name = "linearized"
    if name not in SE_METHODS:
        raise EstimationError(f"se must be one of {', '.join(map(repr, SE_METHODS))}; "
                              f"got {se!r}")
    return str(name)


@dataclass(frozen=True)
class Working:
    """The working regressions behind an estimator's influence values.

    ``c`` regressions share the rows and clusters; regression ``k`` has
    ``p`` regressors. Rows outside every domain have ``block = -1``. The
    ``n`` rows are the design's rows, or pseudo-rows of them (``row``).

    Attributes
    ----------
    U : (n, c, p) float
        Regressors of each row (R's ``model.matrix``; 1 for a mean, the
        denominator for a ratio).
    UW : (n, c, p) float
        Weighted regressors (the weight times the working weight times ``U``).
    resid : (n, c) float
        Residuals of each row (working residuals for a GLM).
    block : (n,) int
        The regression (domain) of each row: domains are separate
        regressions (their indicators are orthogonal), -1 outside.
    n_blocks : int
    row : (n,) int, optional
        The design row of each pseudo-row (a multivariate model's linear
        predictors): pseudo-rows are clustered by their row's first-stage
        unit and their influence values summed to the row. The
        pseudo-rows of a row share its block (or are -1). By default each
        row is its own (``n`` is the design's number of rows).
    n_rows : int, default 0
        The design's number of rows when ``row`` is given.
    """

    U: np.ndarray
    UW: np.ndarray
    resid: np.ndarray
    block: np.ndarray
    n_blocks: int
    row: np.ndarray | None = None
    n_rows: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Adjusted:
    """Bell-McCaffrey adjusted influence values and degrees of freedom.

    Attributes
    ----------
    values : (n, c * p) float
        Influence values of the coefficients of each row's block (domain),
        column ``k * p + j`` (zero outside every block), for each row of the
        design (summed over its pseudo-rows).
    resid : (n, c) float
        Adjusted residuals :math:`A_g e_g` (of each pseudo-row).
    df : (B, c, p) float
        Satterthwaite degrees of freedom of each coefficient.
    raw : (n, c * p) float
        Unadjusted influence values (for :func:`cr2_vcov` checks), by row.
    cluster : (n,) int
        Cluster (first-stage unit within block) of each pseudo-row, -1 outside.
    cluster_block : (K,) int
        Block of each cluster.
    n_blocks : int
    psu : (n,) int
        First-stage unit of each pseudo-row (a cluster is a PSU's rows in one
        block).
    row : (n,) int
        The design row of each pseudo-row.
    """

    values: np.ndarray
    resid: np.ndarray
    df: np.ndarray
    raw: np.ndarray
    cluster: np.ndarray
    cluster_block: np.ndarray
    n_blocks: int
    psu: np.ndarray
    row: np.ndarray


#: Numbers in one chunk of a sum of outer products over rows (32 MB).
_CHUNK = 1 << 22


def _sum_by(key: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``values`` (n, ...) over rows with equal ``key`` (n,) -> (size, ...)."""
    flat = values.reshape(values.shape[0], -1)
    out = np.zeros((size, flat.shape[1]))
    keep = key >= 0
    if keep.any():
        order = np.argsort(key[keep], kind="stable")
        k = key[keep][order]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        out[k[starts]] = np.add.reduceat(flat[keep][order], starts, axis=0)
    return out.reshape((size, *values.shape[1:]))


def _outer_by(key: np.ndarray, A: np.ndarray, Bm: np.ndarray, size: int) -> np.ndarray:
    """Sums of the outer products ``A_i B_i'`` (last axes) over rows with equal
    ``key``: A (n, ..., a), Bm (n, ..., b) -> (size, ..., a, b), in chunks of
    rows so that the rows' products stay within :data:`_CHUNK` numbers."""
    n = A.shape[0]
    shape = (size, *A.shape[1:], Bm.shape[-1])
    per_row = max(1, int(np.prod(shape[1:])))
    if size == 1 and bool((key == 0).all()):  # one group: a batched product
        return np.asarray(np.moveaxis(A, 0, -1) @ np.moveaxis(Bm, 0, -2))[None]
    step = max(1, _CHUNK // per_row)
    if step >= n:
        return _sum_by(key, A[..., :, None] * Bm[..., None, :], size)
    # the rows sorted by key once; each chunk of them is then reduced in place
    idx = np.flatnonzero(key >= 0)
    order = idx[np.argsort(key[idx], kind="stable")]
    keys = key[order]
    out = np.zeros((size, per_row))
    for a in range(0, order.size, step):  # chunks of rows, to bound memory
        rows, k = order[a:a + step], keys[a:a + step]
        prod = (A[rows][..., :, None] * Bm[rows][..., None, :]).reshape(rows.size, per_row)
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        out[k[starts]] += np.add.reduceat(prod, starts, axis=0)
    return out.reshape(shape)


def _rowwise(X: np.ndarray, mats: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``X_i' mats[idx_i]`` for every row: X (n, c, a), mats (G, c, a, b),
    idx (n,) -> (n, c, b), in chunks of rows (no (n, c, a, b) gather)."""
    n = X.shape[0]
    out = np.empty((n, X.shape[1], mats.shape[-1]))
    step = max(1, _CHUNK // max(1, int(np.prod(mats.shape[1:]))))
    for a in range(0, n, step):  # chunks of rows, to bound memory
        c = slice(a, a + step)
        out[c] = np.einsum("ica,icab->icb", X[c], mats[idx[c]])
    return out


def _block_gram(Y: np.ndarray, block: np.ndarray, B: int) -> np.ndarray:
    """Per block, the Gram matrices of ``Y`` (K, ...shape, r) over its rows.

    ``sum_{k in b} Y_k Y_k'`` -> (B, ...shape, r, r). With few blocks (a
    model, a few domains) as batched products of the rows masked to each
    block, which never holds the (K, ..., r, r) outer products; with many
    small blocks by summing those outer products.
    """
    K, r = Y.shape[0], Y.shape[-1]
    if B == 1:
        Yt = np.moveaxis(Y, 0, -2)  # (..., K, r)
        return (np.swapaxes(Yt, -1, -2) @ Yt)[None]
    if B < r:
        Yt = np.moveaxis(Y, 0, -2)  # (..., K, r)
        onehot = (block[None, :] == np.arange(B)[:, None]).astype(Y.dtype)  # (B, K)
        shape = (B,) + (1,) * (Yt.ndim - 2) + (K, 1)
        masked = Yt[None] * onehot.reshape(shape)  # (B, ..., K, r)
        return np.swapaxes(masked, -1, -2) @ Yt[None]
    return _outer_by(block, Y, Y, B)


def _sym_fun(mats: np.ndarray, fun: Any) -> np.ndarray:
    """``fun`` of the eigenvalues of a batch of symmetric matrices (..., r, r)."""
    return _sym_funs(mats, fun)[0]


def _sym_funs(mats: np.ndarray, *funs: Any) -> list[np.ndarray]:
    """Each of ``funs`` of the eigenvalues of a batch of symmetric matrices
    (..., r, r), from one eigendecomposition."""
    vals, vecs = np.linalg.eigh(mats)
    scale = np.abs(vals).max(axis=-1, keepdims=True)
    zero = np.abs(vals) <= _EIG_TOL * scale
    vt = np.swapaxes(vecs, -1, -2)
    return [(vecs * fun(vals, zero)[..., None, :]) @ vt for fun in funs]


def _pinv_sqrt(vals: np.ndarray, zero: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero | (vals <= 0), 0.0, 1.0 / np.sqrt(np.abs(vals)))


def _sqrt(vals: np.ndarray, zero: np.ndarray) -> np.ndarray:
    return np.where(zero, 0.0, np.sqrt(np.maximum(vals, 0.0)))


def adjust(design: Design, working: Working, se: str) -> Adjusted:
    """Bell-McCaffrey adjustment of a working regression on a design.

    Cached on ``working`` per ``se``.

    Parameters
    ----------
    design : Design
        Its first-stage units are the clusters.
    working : Working
    se : {"bell-mccaffrey", "bell-mccaffrey-2"}

    Returns
    -------
    Adjusted
    """
    key = ("adjust", se)
    if key not in working._cache:
        working._cache[key] = _adjust(design, working, se)
    out: Adjusted = working._cache[key]
    return out


def _adjust(design: Design, wk: Working, se: str) -> Adjusted:
    U, UW, e = wk.U, wk.UW, wk.resid
    n, c, p = U.shape
    B = wk.n_blocks
    inside = wk.block >= 0
    # clusters: first-stage units within blocks (of each pseudo-row's row)
    row = np.arange(n) if wk.row is None else np.asarray(wk.row, dtype=np.int64)
    n_rows = n if wk.row is None else wk.n_rows
    unit = design.stages[0].unit[row]
    pair = np.where(inside, unit.astype(np.int64) * B + wk.block, -1)
    uniq, inv = np.unique(pair[inside], return_inverse=True)
    cluster = np.full(n, -1, dtype=np.int64)
    cluster[inside] = inv
    K = uniq.size
    cblock = (uniq % B).astype(np.int64)  # block of each cluster
    bkey = np.where(inside, wk.block, -1)

    # per block and regression: bread M and N = M UW'UW M
    XtWX = _outer_by(bkey, UW, U, B)  # (B, c, p, p)
    XW2 = _outer_by(bkey, UW, UW, B)
    try:
        M = np.linalg.inv(XtWX)
    except np.linalg.LinAlgError as exc:
        raise EstimationError("Bell-McCaffrey: the working regression is singular in a "
                              "domain (no rows with positive weight?)") from exc
    N = M @ XW2 @ M
    Z = np.zeros_like(M)
    C = np.concatenate([np.concatenate([N, -M], axis=-1),
                        np.concatenate([-M, Z], axis=-1)], axis=-2)  # (B, c, 2p, 2p)

    sizes = np.bincount(cluster[inside], minlength=K)
    if sizes.max(initial=0) <= _row_space_limit(p):
        e_adj, a = _row_space(U, UW, e, M, C, cluster, cblock, K, inside, wk.block)
    else:
        e_adj, a = _p_space(U, UW, e, M, C, cluster, cblock, K, inside, wk.block)

    # influence values: z_i = e_i UW_i' M_b, in column (b, k, j), summed
    # over each row's pseudo-rows
    bi = np.maximum(wk.block, 0)

    def influence(res: np.ndarray) -> np.ndarray:
        zi = _rowwise(UW * res[:, :, None], M, bi)
        zi = np.where(inside[:, None, None], zi, 0.0).reshape(n, c * p)
        return zi if wk.row is None else _sum_by(row, zi, n_rows)

    df = _df(wk, se, M, N, a, cluster, cblock, K, e_adj)
    return Adjusted(values=influence(e_adj), resid=e_adj, df=df, raw=influence(e),
                    cluster=cluster, cluster_block=cblock, n_blocks=B, psu=unit, row=row)


def _row_space_limit(p: int) -> int:
    """Largest cluster (rows) for which :math:`A_g` is formed in the cluster's
    rows rather than in the 2p-space of :math:`L_g`: the smaller space."""
    return 2 * p


def _p_space(U: np.ndarray, UW: np.ndarray, e: np.ndarray, M: np.ndarray, C: np.ndarray,
             cluster: np.ndarray, cblock: np.ndarray, K: int, inside: np.ndarray,
             block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted residuals and ``a = A_g UW_g M`` in the 2p-space of ``L_g``
    (for clusters larger than 2p rows)."""
    p = U.shape[2]
    # per cluster: Gram of L = [U, UW] and L'e; the columns of L are scaled to
    # unit mean square (and C accordingly), which leaves A_g as it is and keeps
    # the Gram matrices well conditioned
    L = np.concatenate([U, UW], axis=-1)  # (n, c, 2p)
    sc = np.sqrt(np.mean(L[inside] ** 2, axis=0)) if inside.any() else np.ones(L.shape[1:])
    sc = np.where(sc > 0, sc, 1.0)  # (c, 2p)
    L = L / sc
    C = C * sc[None, :, :, None] * sc[None, :, None, :]
    Kg = _outer_by(cluster, L, L, K)  # (K, c, 2p, 2p)
    ug = _sum_by(cluster, L * e[:, :, None], K)  # (K, c, 2p)
    Kh, Kih = _sym_funs(Kg, _sqrt, _pinv_sqrt)
    Cg = C[cblock]
    S = np.eye(2 * p) + Kh @ Cg @ Kh
    Sih = _sym_fun(S, _pinv_sqrt)
    P = Kih @ (Sih - np.eye(2 * p)) @ Kih  # (K, c, 2p, 2p)
    cl = np.maximum(cluster, 0)
    Pu = np.einsum("kcab,kcb->kca", P, ug)
    e_adj = e + np.where(inside[:, None], np.einsum("ica,ica->ic", L, Pu[cl]), 0.0)
    # a_i(j) = UW_i' M e_j + L_i' P_g K_g[:, p:] M e_j, for every coefficient j
    # (L is scaled by sc: L_s' UW = K_s[:, p:] times the scale of the UW columns)
    V = P @ (Kg[..., :, p:] * sc[None, :, None, p:]) @ M[cblock]  # (K, c, 2p, p)
    a = _rowwise(UW, M, np.maximum(block, 0)) + _rowwise(L, V, cl)
    a = np.where(inside[:, None, None], a, 0.0)  # (n, c, p_j)
    return e_adj, a


def _row_space(U: np.ndarray, UW: np.ndarray, e: np.ndarray, M: np.ndarray, C: np.ndarray,
               cluster: np.ndarray, cblock: np.ndarray, K: int, inside: np.ndarray,
               block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted residuals and ``a = A_g UW_g M`` from ``A_g = (I + L_g C L_g')^{-1/2}``
    formed in each cluster's rows (clusters of at most 2p rows, padded to the
    largest: a padded row is an identity row and stays apart), e.g. one row
    per PSU in an unclustered design."""
    n, c, p = U.shape
    rows = np.flatnonzero(inside)
    order = rows[np.argsort(cluster[rows], kind="stable")]
    cl = cluster[order]
    sizes = np.bincount(cl, minlength=K)
    starts = np.cumsum(sizes) - sizes
    pos = np.arange(order.size) - starts[cl]
    m = int(sizes.max())
    L = np.zeros((K, m, c, 2 * p))
    L[cl, pos] = np.concatenate([U[order], UW[order]], axis=-1)
    L = L.transpose(0, 2, 1, 3)  # (K, c, m, 2p)
    G = np.eye(m) + L @ C[cblock] @ np.swapaxes(L, -1, -2)  # (K, c, m, m)
    A = _sym_fun(G, _pinv_sqrt)
    epad = np.zeros((K, m, c))
    epad[cl, pos] = e[order]
    Upad = np.zeros((K, m, c, p))
    Upad[cl, pos] = UW[order]
    UM = Upad.transpose(0, 2, 1, 3) @ M[cblock]  # (K, c, m, p)
    e_adj = np.zeros_like(e)
    e_adj[order] = np.einsum("kcab,kbc->kac", A, epad)[cl, pos]
    a = np.zeros((n, c, p))
    a[order] = np.swapaxes(A @ UM, 1, 2)[cl, pos]  # (K, m, c, p) -> rows
    return e_adj, a


def _df(wk: Working, se: str, M: np.ndarray, N: np.ndarray, a: np.ndarray,
        cluster: np.ndarray, cblock: np.ndarray, K: int, e_adj: np.ndarray) -> np.ndarray:
    """Satterthwaite degrees of freedom of every coefficient, (B, c, p), from
    ``a_i(j)``, row ``i``'s part of :math:`a_g = A_g \\tilde U_g M e_j`."""
    U, UW = wk.U, wk.UW
    n = U.shape[0]
    B = wk.n_blocks
    inside = wk.block >= 0
    d = _sum_by(cluster, a * a, K)  # (K, c, j)
    s = _outer_by(cluster, a, U, K)  # (K, c, j, p)
    t = _outer_by(cluster, a, UW, K)
    if se == "bell-mccaffrey":
        diag = d
        Y = np.concatenate([s, t], axis=-1)  # (K, c, j, 2p)
        Cb = np.concatenate([np.concatenate([N, -M], axis=-1),
                             np.concatenate([-M, np.zeros_like(M)], axis=-1)], axis=-2)
    else:
        # exchangeable working correlation within clusters, from the adjusted residuals
        bkey = np.where(inside, wk.block, -1)
        n_b = _sum_by(bkey, np.ones(n), B)  # (B,)
        ss = _sum_by(bkey, e_adj * e_adj, B)  # (B, c)
        tot = _sum_by(cluster, e_adj, K)  # (K, c)
        n_g = _sum_by(cluster, np.ones(n), K)
        cross = _sum_by(cblock, tot * tot, B)  # (B, c)
        n_cross = _sum_by(cblock, n_g * n_g, B)  # (B,)
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma2 = ss / n_b[:, None]
            rho = np.where((n_cross - n_b)[:, None] > 0,
                           (cross - ss) / (n_cross - n_b)[:, None], 0.0)
        sk, rk = (sigma2 - rho)[cblock], rho[cblock]  # (K, c)
        alpha = _sum_by(cluster, a, K)  # (K, c, j): 1'a_g
        omega = _sum_by(cluster, UW, K)  # (K, c, p): UW_g'1
        Osum = _outer_by(cblock, omega, omega, B)
        MOM = M @ Osum @ M
        diag = sk[:, :, None] * d + rk[:, :, None] * alpha * alpha
        Y = np.concatenate([s, t, alpha[..., None] * omega[:, :, None, :]], axis=-1)
        sb = (sigma2 - rho)[:, :, None, None]
        rb = rho[:, :, None, None]
        Zb = np.zeros_like(M)
        Cb = np.concatenate([
            np.concatenate([sb * N + rb * MOM, -sb * M, -rb * M], axis=-1),
            np.concatenate([-sb * M, Zb, Zb], axis=-1),
            np.concatenate([-rb * M, Zb, Zb], axis=-1)], axis=-2)  # (B, c, 3p, 3p)
    # Y_kj' C_b Y_kj: one C for every cluster when there is one block (a model)
    Ck = Cb[:1] if B == 1 else Cb[cblock]  # (K or 1, c, r, r)
    yCy = np.einsum("kcja,kcja->kcj", Y @ Ck, Y)
    tr = _sum_by(cblock, diag + yCy, B)  # (B, c, j)
    YY = _block_gram(Y, cblock, B)  # (B, c, j, r, r)
    CY = Cb[:, :, None] @ YY
    tr2 = (_sum_by(cblock, diag * diag + 2 * diag * yCy, B)
           + np.einsum("bcjxy,bcjyx->bcj", CY, CY))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(tr * tr / tr2)


def cr2_vcov(adjusted: Adjusted) -> np.ndarray:
    """The CR2 sandwich without design factors: ``sum_g z_g z_g'``.

    clubSandwich's ``vcovCR(type = "CR2")`` of a weighted fit: the sum over
    PSUs of the outer products of the adjusted influence totals (of every
    block: column ``(b, k, j)``), with
    no centring, no :math:`n_h/(n_h - 1)` and no fpc.

    Parameters
    ----------
    adjusted : Adjusted

    Returns
    -------
    numpy.ndarray
        (m, m) covariance matrix.
    """
    B = adjusted.n_blocks
    inside = adjusted.cluster >= 0
    block = adjusted.cluster_block[np.maximum(adjusted.cluster, 0)]
    n_units = int(adjusted.psu.max()) + 1
    # the key (PSU, block) of each row: its pseudo-rows share them
    key = np.full(adjusted.values.shape[0], -1, dtype=np.int64)
    key[adjusted.row[inside]] = adjusted.psu[inside].astype(np.int64) * B + block[inside]
    tot = _sum_by(key, adjusted.values, n_units * B).reshape(n_units, -1)  # (PSU, B m)
    return np.asarray(tot.T @ tot)


def small_sample_influence(design: Any, influence: Any, working: Working | None,
                           se: str) -> Any:
    """The Bell-McCaffrey adjusted influence values that :func:`vcov_of` sums.

    Parameters
    ----------
    design : Design
        A linearisation design (replicate designs have no such correction:
        R's ``svyglm`` for replicate designs has no ``std.errors=``).
    influence : Influence
        The estimator's influence values (their domains are kept).
    working : Working
        The estimator's working regression.
    se : {"bell-mccaffrey", "bell-mccaffrey-2"}

    Returns
    -------
    Influence
    """
    se = check_se(se)
    if not isinstance(design, Design):
        raise UnsupportedDesignError(
            f"se={se!r} (Bell-McCaffrey) needs a linearisation design; a "
            f"{type(design).__name__}'s replicate variance has no such correction (R's "
            f"svyglm for replicate designs has no std.errors=)")
    if working is None:
        raise EstimationError(f"se={se!r}: this statistic has no working regression")
    adj = adjust(design, working, se)
    return type(influence)(values=adj.values, domain=influence.domain,
                           n_domains=influence.n_domains)


def glm_working(X: np.ndarray, y: np.ndarray, w: np.ndarray, family: Any, beta: np.ndarray,
                offset: np.ndarray | None, rows: np.ndarray, n: int) -> Working:
    """The working regression of a GLM's last IRLS step.

    The model matrix :math:`X` with the working weights
    :math:`w_i \\mu_i'^2 / V(\\mu_i)` and the working residuals
    :math:`(y_i - \\mu_i) / \\mu_i'` (R's ``resid(fit, "working")``, which
    survey's ``svy.varcoef`` adjusts).

    Parameters
    ----------
    X : (m, p) array
        Model matrix of the fitted rows.
    y, w : (m,) arrays
        Response and design weights of the fitted rows.
    family : Family
        The model's family (``inverse_link`` and ``working``).
    beta : (p,) array
    offset : (m,) array or None
    rows : (m,) int array
        The fitted rows among the design's ``n`` rows.
    n : int

    Returns
    -------
    Working
    """
    eta = X @ beta
    if offset is not None:
        eta = eta + offset
    mu = family.inverse_link(eta)
    h, g = family.working(eta, mu)
    ww = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (y - mu) * (1.0 if g is None else g) / h
    e = np.where(np.isfinite(e) & (ww > 0), e, 0.0)
    p = X.shape[1]
    U = np.zeros((n, 1, p))
    UW = np.zeros((n, 1, p))
    resid = np.zeros((n, 1))
    block = np.full(n, -1, dtype=np.int64)
    U[rows, 0] = X
    UW[rows, 0] = X * ww[:, None]
    resid[rows, 0] = e
    block[rows] = np.where(ww > 0, 0, -1)
    return Working(U=U, UW=UW, resid=resid, block=block, n_blocks=1)


def multivariate_working(U: np.ndarray, W: np.ndarray, score: np.ndarray, used: np.ndarray,
                         rows: np.ndarray, n: int) -> Working:
    """The working regression of a model with several linear predictors per row.

    Row :math:`i` of the fit has :math:`r_i` linear predictors (those its
    likelihood depends on, ``used``), with derivatives :math:`U_i` in the
    coefficients, weighted information :math:`W_i` (the negative Hessian
    of the row's weighted log likelihood in them) and weighted score
    :math:`s_i`. Its pseudo-rows are the rows of

    .. math::

        U_i^* = c_i^{-1/2} W_i^{1/2} U_i,\\quad
        \\tilde U_i^* = c_i U_i^*,\\quad
        e_i^* = c_i^{-1/2} W_i^{-1/2} s_i,\\qquad
        c_i = (\\det W_i)^{1/r_i},

    a weighted regression with the scalar weight :math:`c_i` (a GLM's
    working weight when :math:`r_i = 1`), so that
    :math:`\\sum_i \\tilde U_i^{*\\top} U_i^* = \\sum_i U_i^\\top W_i U_i` is
    the model's information and :math:`e_i^{*\\top} \\tilde U_i^* M =
    s_i^\\top U_i M` its influence values (:math:`M` the inverse
    information). CR2 with the working model :math:`\\operatorname{Var}(e^*)
    = I` is CR2 of the residuals :math:`e_i = W_i^{-1} s_i` with the
    working model :math:`\\operatorname{Var}(e_i) = c_i W_i^{-1}`: the
    model's covariance of the working residuals scaled as a GLM's, which
    does not depend on how the linear predictors are parametrised (e.g. a
    multinomial model's base category). A row whose :math:`W_i` is not
    positive definite (fitted probabilities of 0 or 1) is left out, as a
    GLM's row with working weight 0.

    Parameters
    ----------
    U : (m, r, q) array
        Derivatives of each fitted row's linear predictors in the ``q``
        coefficients.
    W : (m, r, r) array
        Weighted information of each row's linear predictors.
    score : (m, r) array
        Weighted score of each row in its linear predictors.
    used : (m, r) bool array
        The linear predictors each row's likelihood depends on (at least one).
    rows : (m,) int array
        The fitted rows among the design's ``n`` rows.
    n : int

    Returns
    -------
    Working
        One regression (``c = 1``) of the pseudo-rows of the used linear
        predictors, ``row`` naming their design rows.
    """
    m, r, q = U.shape
    both = used[:, :, None] & used[:, None, :]
    r_i = used.sum(axis=1)
    # each row's information scaled to unit mean diagonal, the unused linear
    # predictors decoupled with diagonal 1
    diag = np.where(used, np.diagonal(W, axis1=1, axis2=2), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diag.sum(axis=1) / r_i
    ok = np.isfinite(t) & (t > 0) & np.isfinite(np.where(both, W, 0.0)).all(axis=(1, 2))
    t = np.where(ok, t, 1.0)
    Wn = np.where(both, W, 0.0) / t[:, None, None]
    Wn[:, np.arange(r), np.arange(r)] += ~used
    Wn[~ok] = np.eye(r)
    vals, vecs = np.linalg.eigh(Wn)
    ok &= vals.min(axis=1) > _EIG_TOL * vals.max(axis=1)
    vals = np.where(ok[:, None], vals, 1.0)
    # c_i = det(W_i)^(1/r_i); W_i^(1/2) = t^(1/2) Wn^(1/2) on the used block
    c = t * np.exp(np.log(vals).sum(axis=1) / r_i)
    root = (vecs * np.sqrt(vals)[:, None, :]) @ np.swapaxes(vecs, 1, 2)
    iroot = (vecs / np.sqrt(vals)[:, None, :]) @ np.swapaxes(vecs, 1, 2)
    f = np.sqrt(t / c)  # W^(1/2) / sqrt(c) = sqrt(t / c) Wn^(1/2)
    Us = f[:, None, None] * (root @ U)
    es = (iroot @ np.where(used, score, 0.0)[:, :, None])[:, :, 0] / np.sqrt(t * c)[:, None]
    keep = used.ravel()
    row = np.repeat(np.asarray(rows, dtype=np.int64), r)[keep]
    block = np.repeat(np.where(ok, 0, -1), r)[keep].astype(np.int64)
    Us = Us.reshape(m * r, 1, q)[keep]
    UWs = Us * np.repeat(c, r)[keep][:, None, None]
    resid = np.where(block >= 0, es.ravel()[keep], 0.0)
    return Working(U=Us, UW=UWs, resid=resid[:, None], block=block, n_blocks=1, row=row,
                   n_rows=n)
