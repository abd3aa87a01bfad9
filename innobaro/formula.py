"""Formulas: the only module that imports patsy.

A :class:`ModelSpec` remembers how a model matrix was built (levels,
contrasts, transforms), so the same encoding can be rebuilt on new data for
predictions and margins. Keeping patsy behind this module means a move to
another formula library touches one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import EstimationError

__all__ = ["ModelSpec", "model_frame"]


@dataclass(frozen=True)
class ModelSpec:
    """How the model matrix of a formula is built.

    Attributes
    ----------
    formula : str
    column_names : list of str
        Names of the model-matrix columns (patsy's, e.g. ``C(x)[T.b]``).
    term_columns : dict
        For each term of the right-hand side, the slice of its columns.
    """

    formula: str
    column_names: list[str]
    term_columns: dict[str, slice]
    _design_info: Any
    _response_info: Any | None

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The model matrix for new data, with the encoding of the fit."""
        import patsy

        try:
            (X,) = patsy.build_design_matrices([self._design_info], data,
                                               return_type="matrix", NA_action="raise")
        except patsy.PatsyError as exc:
            raise EstimationError(f"cannot build the model matrix for new data: "
                                  f"{_first_line(exc)}") from None
        return np.asarray(X, dtype=float)

    @property
    def terms(self) -> list[str]:
        return list(self.term_columns)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def model_frame(formula: str, data: pd.DataFrame, *, response: bool
                ) -> tuple[np.ndarray | None, np.ndarray, ModelSpec, np.ndarray]:
    """Response, model matrix and spec of ``formula`` over ``data``.

    Rows with a missing value in any variable of the formula are left out of
    the matrices; the returned boolean mask marks the rows kept.

    Returns
    -------
    y : (n_kept,) array or None
    X : (n_kept, p) array
    spec : ModelSpec
    kept : (n,) bool
    """
    import patsy

    if not isinstance(formula, str):
        raise EstimationError(f"formula must be a string, not {type(formula).__name__}")
    if data.index.has_duplicates:
        raise EstimationError("the data's index has duplicates; reset it before modelling")
    na = _DropRecorder(len(data))
    try:
        if response:
            y, X = patsy.dmatrices(formula, data, NA_action=na, return_type="matrix",
                                   eval_env=1)
        else:
            X = patsy.dmatrix(formula, data, NA_action=na, return_type="matrix", eval_env=1)
            y = None
    except patsy.PatsyError as exc:
        raise EstimationError(f"formula {formula!r}: {_first_line(exc)}") from None
    info = X.design_info
    term_cols = {name: sl for name, sl in info.term_name_slices.items()}
    spec = ModelSpec(formula=formula, column_names=list(info.column_names),
                     term_columns=term_cols, _design_info=info,
                     _response_info=None if y is None else y.design_info)
    yv = None
    if y is not None:
        if y.shape[1] != 1:
            raise EstimationError(f"formula {formula!r}: the response must be one column "
                                  f"(got {list(y.design_info.column_names)}); code a binary "
                                  f"factor as 0/1")
        yv = np.asarray(y, dtype=float)[:, 0]
    return yv, np.ascontiguousarray(X, dtype=float), spec, na.kept


class _DropRecorder:
    """patsy's ``NA_action="drop"`` that also records which rows it kept."""

    def __new__(cls, n: int) -> Any:
        import patsy

        class Recorder(patsy.NAAction):
            def handle_NA(self, values, is_NAs, origins):  # type: ignore[no-untyped-def]
                dropped = np.zeros(n, dtype=bool)
                for mask in is_NAs:
                    dropped |= np.asarray(mask, dtype=bool)
                self.kept = ~dropped
                if not dropped.any():  # nothing to drop: skip patsy's copies
                    return values
                return super().handle_NA(values, is_NAs, origins)

        rec = Recorder(on_NA="drop")
        rec.kept = np.ones(n, dtype=bool)
        return rec

