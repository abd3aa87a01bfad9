"""Small linear-algebra helpers shared by the models and the weighting."""

from __future__ import annotations

import numpy as np

__all__ = ["aliased_columns", "bincount", "column_qr", "gram_clear", "replicate_support",
           "tall_dot", "weighted_gram"]


def bincount(x: np.ndarray, weights: np.ndarray | None = None, minlength: int = 0
             ) -> np.ndarray:
    """:func:`numpy.bincount`, without a copy of read-only inputs.

    numpy converts its inputs to writeable arrays although it only reads
    them, so a read-only array costs a copy (a pass over the rows, a
    quarter of the time of the count). A design's arrays are read-only views
    of memory the design owns (:func:`innobaro.design.read_only`); they are
    handed to numpy as writeable views of the same memory, which it reads and
    never writes. Arrays that are read-only all the way down are passed as
    they are.
    """
    return np.bincount(_as_input(x), None if weights is None else _as_input(weights),
                       minlength=minlength)


def _as_input(a: np.ndarray) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.flags.writeable:
        return a
    view = a.view()
    try:
        view.setflags(write=True)  # allowed only when the memory's owner is writeable
    except ValueError:
        return a
    return view


def tall_dot(X: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``X @ B`` for a tall ``X`` (n, p) and a small ``B`` (p,) or (p, k).

    Computed as ``(B.T @ X.T).T``: the same product, which the BLAS libraries
    numpy ships with run many times faster than ``X @ B`` when ``p`` and ``k``
    are small (one pass over ``X`` instead of a blocked kernel tuned for
    square matrices).
    """
    if B.ndim == 1:
        return X @ B
    return (B.T @ X.T).T


def weighted_gram(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """:math:`X^\\top \\operatorname{diag}(W_{\\cdot k}) X` for every column k of
    ``W`` (n, k): (k, p, p), in row chunks for several columns."""
    n, p = X.shape
    k = W.shape[1]
    if k == 1:
        if (W >= 0).all():
            # symmetric rank-k updates in BLAS, over row blocks that stay in cache
            root = np.sqrt(W)
            out = np.zeros((p, p))
            step = 1 << 15
            for a in range(0, n, step):  # chunks of rows
                Xs = X[a:a + step] * root[a:a + step]
                out += Xs.T @ Xs
            return out.reshape(1, p, p)
        return (X.T @ (X * W)).reshape(1, p, p)
    # the products x_i x_j' of each row, upper triangle only, as rows of a
    # (pairs, rows) block on the transpose; one matrix product per block
    upper_i, upper_j = np.triu_indices(p)
    XT = X.T
    tri = np.zeros((upper_i.size, k))
    chunk = max(1, (1 << 22) // max(upper_i.size, 1))
    for a in range(0, n, chunk):  # chunks of rows, to bound memory
        b = min(n, a + chunk)
        block = XT[:, a:b]
        tri += (block[upper_i] * block[upper_j]) @ W[a:b]
    out = np.empty((k, p, p))
    out[:, upper_i, upper_j] = tri.T
    out[:, upper_j, upper_i] = tri.T
    return out


def gram_clear(G: np.ndarray, cut: float = 1e-8) -> bool:
    """Whether every column of the Gram matrix ``G`` keeps a squared residual
    above ``cut`` (relative to its squared norm) on the columns before it.

    A fast screen before :func:`aliased_columns`: the Schur complements of
    the Gram matrix give the squared relative residuals to about 1e-15, so
    a model whose every column keeps more than 1e-8 of its norm squared (a
    residual above 1e-4 of its norm, far from R's 1e-7) has no aliased
    column; otherwise the QR decides.
    """
    d = np.sqrt(np.diag(G))
    if not (d > 0).all():
        return False
    S = G / np.outer(d, d)
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return False
    return bool((np.diag(L) ** 2 > cut).all())


def column_qr(X: np.ndarray, scale: np.ndarray | None = None, *, block: int = 1 << 18
              ) -> np.ndarray:
    """The triangular factor ``R`` (p, p) of a QR decomposition of
    ``diag(scale) X`` (n, p), in blocks of rows.

    Each block's rows are stacked under the ``R`` of the blocks before and
    reduced by a Householder QR (TSQR): the result is the ``R`` of the whole
    matrix up to the signs of its rows, computed as stably as one QR of it
    and without a copy of ``X``. Its columns have the norms, and each column
    the residual on the columns before it, of the scaled ``X``.
    """
    from scipy.linalg import lapack

    n, p = X.shape
    R = np.zeros((0, p))
    for a in range(0, max(n, 1), block):  # blocks of rows
        part = X[a:a + block]
        if scale is not None:
            part = part * scale[a:a + block, None]
        # LAPACK's Householder QR in place on a column-major copy; R is the
        # upper triangle of its first rows
        stacked = np.asfortranarray(np.vstack([R, part]))
        qr, _, _, info = lapack.dgeqrf(stacked, overwrite_a=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"QR failed (LAPACK info {info})")
        k = min(qr.shape)
        R = np.triu(qr[:k])
    return R


def aliased_columns(R: np.ndarray, tol: float) -> np.ndarray:
    """Columns that are (numerically) linear combinations of the columns
    before them, by R's rule (LINPACK ``dqrdc2``, used by ``qr()``, ``lm``
    and ``glm.fit``).

    ``R`` is the triangular factor of the matrix (``column_qr``), or the
    matrix itself. Columns are taken left to right; a column is aliased when
    its residual on the columns kept before it is below ``tol`` times its own
    norm (a column of zeros always is), and aliased columns do not count as
    kept. Returns a boolean mask, True for an aliased column.
    """
    A = np.array(R, dtype=float)
    m, p = A.shape
    norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    ref = np.where(norms > 0, norms, 1.0)
    aliased = np.zeros(p, dtype=bool)
    k = 0  # columns kept so far: rows k: of A hold the residuals
    for j in range(p):  # over columns (a loop over model terms, not rows)
        v = A[k:, j]
        r = float(np.sqrt(v @ v)) if v.size else 0.0
        if r < tol * ref[j] or k >= m:
            aliased[j] = True
            continue
        # Householder reflection taking v to (-sign(v0) r, 0, ...); applied to
        # the later columns
        u = v.copy()
        u[0] += np.copysign(r, v[0] if v[0] != 0 else 1.0)
        uu = u @ u
        if uu > 0 and j + 1 < p:
            rest = A[k:, j + 1:]
            rest -= np.outer(u, (2.0 / uu) * (u @ rest))
        k += 1
    return aliased


def replicate_support(X: np.ndarray, W: np.ndarray, *, every_column: bool = False
                      ) -> np.ndarray:
    """Replicates in which the model cannot be estimated, as R's refit gives
    ``NA`` for a coefficient there: (R,) boolean.

    Two ways a replicate loses a column, both exact: some column has no row
    with positive weight (a level absent from the replicate), or the 0/1
    columns (the intercept and the dummies of factors and binary variables)
    become linearly dependent among its rows (one group of a two-group model
    left alone, so its indicator equals the intercept). The second is judged
    on the Gram matrices of those columns scaled to unit diagonal, whose
    smallest eigenvalue is zero to rounding then (below 1e-12).
    ``every_column`` judges all the columns so (calibration, with few
    auxiliaries), which also finds a replicate with fewer rows than columns.
    """
    lost = np.zeros(W.shape[1], dtype=bool)
    sparse = np.flatnonzero((X == 0).any(axis=0))  # dummies; a covariate rarely has zeros
    if sparse.size:
        nonzero = (X[:, sparse] != 0).astype(float)
        counts = (W > 0).T.astype(float) @ nonzero  # (R, k): rows carrying each column
        lost = (counts == 0).any(axis=1)
    binary = (np.arange(X.shape[1]) if every_column
              else np.flatnonzero(((X == 0) | (X == 1)).all(axis=0)))
    ok = np.flatnonzero(~lost)
    if binary.size > 1 and ok.size:
        G = weighted_gram(np.asfortranarray(X[:, binary]), W[:, ok])  # (R', k, k)
        d = np.sqrt(np.einsum("rii->ri", G))
        with np.errstate(divide="ignore", invalid="ignore"):
            S = G / (d[:, :, None] * d[:, None, :])
        lost[ok] = ~(np.linalg.eigvalsh(np.nan_to_num(S))[:, 0] > 1e-12)
    return lost
