"""Small linear-algebra helpers shared by the models and the weighting."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ONE_THREAD", "RowWeights", "aliased_columns", "bincount", "column_qr",
           "gram_clear", "matmul_into", "pair_products", "replicate_support", "tall_dot",
           "tall_matmul", "weighted_gram"]


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


class RowWeights:
    r"""Columns of an (n, R) weight matrix, read a block of rows at a time.

    Either the matrix itself (``matrix``, optionally only its rows ``rows``)
    or unit factors: :math:`W_{ir} = w_i F_{u(i), r}` from the (U, R)
    ``factors``, each row's ``unit`` and the ``weights`` :math:`w`, in which
    case no (n, R) array is made (a block is one gather and one product,
    the same arithmetic as the whole matrix, so the same numbers to the
    last bit).
    """

    __slots__ = ("_F", "_M", "_cols", "_rows", "_unit", "_w", "shape")

    def __init__(self, matrix: np.ndarray | None = None, *, rows: np.ndarray | None = None,
                 factors: np.ndarray | None = None, unit: np.ndarray | None = None,
                 weights: np.ndarray | None = None) -> None:
        self._M = matrix
        self._rows = rows
        self._cols: np.ndarray | None = None
        self._F = factors
        if factors is not None:
            assert unit is not None and weights is not None
            self._unit = unit if rows is None else unit[rows]
            self._w = weights if rows is None else weights[rows]
            self.shape = (int(self._unit.size), int(factors.shape[1]))
        else:
            assert matrix is not None
            self.shape = (int(matrix.shape[0] if rows is None else rows.size),
                          int(matrix.shape[1]))

    def select(self, cols: np.ndarray) -> RowWeights:
        """The columns ``cols`` only (no copy of the rows)."""
        cols = np.asarray(cols, dtype=np.int64)
        if cols.size == self.shape[1] and (cols == np.arange(cols.size)).all():
            return self
        new = object.__new__(RowWeights)
        new._M, new._rows, new._F = self._M, self._rows, None
        new._cols = None
        if self._F is not None:  # factors: the small (U, k) columns
            new._F = np.ascontiguousarray(self._F[:, cols])
            new._unit, new._w = self._unit, self._w
        else:
            new._cols = cols if self._cols is None else self._cols[cols]
        new.shape = (self.shape[0], int(cols.size))
        return new

    def take(self, rows: np.ndarray) -> RowWeights:
        """The rows ``rows`` only (positions; no copy of the weights)."""
        new = object.__new__(RowWeights)
        new._M, new._F, new._cols = self._M, self._F, self._cols
        if self._F is not None:
            new._unit, new._w = self._unit[rows], self._w[rows]
            new._rows = None
        else:
            new._rows = rows if self._rows is None else self._rows[rows]
        new.shape = (int(rows.size), self.shape[1])
        return new

    def block(self, a: int, b: int) -> np.ndarray:
        """Rows ``a:b`` of every column: (b - a, R), row-major; read it only
        (it may be a view of the matrix)."""
        if self._F is not None:
            out = np.take(self._F, self._unit[a:b], axis=0)
            np.multiply(out, self._w[a:b, None], out=out)
            return out
        assert self._M is not None
        part = self._M[a:b] if self._rows is None else self._M[self._rows[a:b]]
        if self._cols is not None:
            part = part[:, self._cols]
        return np.ascontiguousarray(part)

    def totals(self, values: Callable[[int, int], np.ndarray], m: int, *,
               positive: bool = False) -> np.ndarray:
        r"""Weighted column totals :math:`\sum_i W_{ir} V_{ij}`: (R, m); with
        ``positive``, :math:`\sum_i [W_{ir} > 0] V_{ij}` (rows carrying a
        positive weight). ``values(a, b)`` gives rows ``a:b`` of V (b - a,
        m), so that V is never whole. For factors, sums per unit first and
        one (R, U) x (U, m) product; otherwise blocks of rows."""
        n, R = self.shape
        out = np.zeros((R, m))
        if self._F is not None:
            U = self._F.shape[0]
            if positive:  # w_i F_ur > 0: both positive or both negative
                parts = [(self._w > 0, self._F > 0), (self._w < 0, self._F < 0)]
            else:
                parts = [(self._w, self._F)]
            parts = [(w, F) for w, F in parts if np.any(w) and np.any(F)]
            S = [np.zeros((U, m)) for _ in parts]
            step = 1 << 16
            for a in range(0, n, step):  # blocks of rows
                b = min(n, a + step)
                V = values(a, b)
                unit = self._unit[a:b]
                for (w, _), Sp in zip(parts, S, strict=True):  # one or two terms
                    wb = w[a:b]
                    for j in range(m):  # over the columns of V: one bincount each
                        Sp[:, j] += bincount(unit, weights=wb * V[:, j], minlength=U)
            for (_, F), Sp in zip(parts, S, strict=True):
                out += F.T.astype(float) @ Sp
            return out
        step = self.step(2)
        for a in range(0, n, step):  # blocks of rows
            b = min(n, a + step)
            Wb = self.block(a, b)
            if positive:
                Wb = (Wb > 0).astype(float)
            matmul_into(out, Wb.T, values(a, b))
        return out

    def full(self) -> np.ndarray:
        """Every row: (n, R), made for factors, rows or columns (read it only)."""
        return self.block(0, self.shape[0])

    def step(self, per_row: int = 1) -> int:
        """Rows per block: about 2^18 values in ``per_row`` arrays of R
        columns (a few MB, which stay in cache), at least 256."""
        return max(256, (1 << 18) // max(1, per_row * self.shape[1]))


#: Products of at most this many multiply-adds (m k n) run on one thread in
#: OpenBLAS (its threshold for threading a product): a threaded product of
#: a small block is no faster on two cores and, on a busy machine, spends
#: several times its CPU time waiting for its threads.
ONE_THREAD = 1 << 18


def matmul_into(out: np.ndarray, A: np.ndarray, B: np.ndarray, *, add: bool = True) -> None:
    """``out += A @ B`` (or ``out[:] = A @ B``) for a wide ``A`` (m, k) and a tall
    ``B`` (k, n), in slices of the inner dimension small enough for one BLAS
    thread each (:data:`ONE_THREAD`)."""
    m, k = A.shape
    n = B.shape[1]
    step = max(16, ONE_THREAD // max(1, m * n))
    if not add:
        out[...] = 0.0
    if step >= k:
        out += A @ B
        return
    tmp = np.empty_like(out)
    for a in range(0, k, step):  # slices of the inner dimension
        np.matmul(A[:, a:a + step], B[a:a + step], out=tmp)
        out += tmp


def tall_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for a tall ``A`` (n, k) and a small ``B`` (k, m): (n, m),
    row-major, in row slices small enough for one BLAS thread each."""
    n, k = A.shape
    m = B.shape[1]
    out = np.empty((n, m))
    step = max(16, ONE_THREAD // max(1, k * m))
    for a in range(0, n, step):  # slices of rows
        np.matmul(A[a:a + step], B, out=out[a:a + step])
    return out


def pair_products(XT: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r"""The products :math:`x_{ji} x_{ki}`, :math:`j \le k`, of each column of
    ``XT`` (p, m), in the order of ``numpy.triu_indices(p)``: (p(p+1)/2, m).
    Times a weight matrix (m, R) they give every column's weighted Gram
    matrix (its upper triangle) in one matrix product."""
    p, m = XT.shape
    if out is None:
        out = np.empty((p * (p + 1) // 2, m))
    at = 0
    for j in range(p):  # over model columns: row j times rows j..p-1
        np.multiply(XT[j], XT[j:], out=out[at:at + p - j])
        at += p - j
    return out


def replicate_support(X: np.ndarray, W: np.ndarray | RowWeights, *,
                      every_column: bool = False) -> np.ndarray:
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
    ``W`` is the (n, R) weights or a :class:`RowWeights`, read in blocks of
    rows (no (n, R) temporaries).
    """
    src = W if isinstance(W, RowWeights) else RowWeights(W)
    R = src.shape[1]
    lost = np.zeros(R, dtype=bool)
    sparse = np.flatnonzero((X == 0).any(axis=0))  # dummies; a covariate rarely has zeros
    if sparse.size:  # rows of positive weight carrying each column: (R, k)
        counts = src.totals(lambda a, b: (X[a:b, sparse] != 0).astype(float), sparse.size,
                            positive=True)
        lost = (counts == 0).any(axis=1)
    binary = (np.arange(X.shape[1]) if every_column
              else np.flatnonzero(((X == 0) | (X == 1)).all(axis=0)))
    ok = np.flatnonzero(~lost)
    if binary.size > 1 and ok.size:
        k = binary.size
        upper_i, upper_j = np.triu_indices(k)
        XbT = X[:, binary].T
        tri = src.select(ok).totals(
            lambda a, b: pair_products(np.ascontiguousarray(XbT[:, a:b])).T, upper_i.size)
        G = np.empty((ok.size, k, k))
        G[:, upper_i, upper_j] = tri
        G[:, upper_j, upper_i] = tri
        d = np.sqrt(np.einsum("rii->ri", G))
        with np.errstate(divide="ignore", invalid="ignore"):
            S = G / (d[:, :, None] * d[:, None, :])
        lost[ok] = ~(np.linalg.eigvalsh(np.nan_to_num(S))[:, 0] > 1e-12)
    return lost
