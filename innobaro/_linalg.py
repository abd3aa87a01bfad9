"""Small linear-algebra helpers shared by the models and the weighting."""

from __future__ import annotations

import numpy as np

__all__ = ["tall_dot", "weighted_gram"]


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
