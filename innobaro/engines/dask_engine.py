"""The Dask engine: the numpy reduction per partition, combined by a tree reduction.

Each partition of a ``dask.dataframe`` is reduced by
:func:`~innobaro.engines.sums.reduce_frame` (where the partition lives, on any
Dask scheduler or cluster), and the partial sums are added
``split_every`` at a time by :func:`~innobaro.engines.sums.combine_sums` up a
tree, so a PSU or domain split across partitions is one cell again. ``dask``
is imported when such a design is built, never by ``import innobaro``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import EngineError
from .sums import SumsSpec, combine_sums, reduce_frame

__all__ = ["DaskSource", "compute"]


class DaskSource:
    """Rows held by a ``dask.dataframe.DataFrame``.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    split_every : int, default 8
        How many partial results each node of the reduction tree adds.
    """

    engine = "dask"

    def __init__(self, frame: Any, split_every: int = 8) -> None:
        try:
            import dask.dataframe as dd
        except ImportError as exc:  # pragma: no cover - the extra is installed in CI
            raise ImportError("a Dask design needs dask: pip install 'innobaro[dask]'"
                              ) from exc
        if not isinstance(frame, dd.DataFrame):
            raise TypeError(f"frame must be a dask.dataframe.DataFrame, not "
                            f"{type(frame).__name__}")
        self.frame = frame
        self.split_every = max(2, int(split_every))

    def columns(self) -> list[str]:
        """The frame's column names."""
        return [str(c) for c in self.frame.columns]

    def numeric(self, name: str) -> bool:
        """Whether a column is numeric or boolean (not categorical)."""
        dtype = self.frame.dtypes[name]
        return not isinstance(dtype, pd.CategoricalDtype) and (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        """Reduce every partition, then add the results up a tree."""
        import dask

        used = list(dict.fromkeys([*spec.key_columns, *spec.variables,
                                   *([spec.weights] if spec.weights else []),
                                   *([spec.probs] if spec.probs else [])]))
        level = [dask.delayed(reduce_frame)(part, spec)
                 for part in self.frame[used].to_delayed()]
        k = self.split_every
        while len(level) > 1:
            level = [dask.delayed(combine_sums)(level[i:i + k], spec)
                     for i in range(0, len(level), k)]
        (out,) = compute(level[0], what="sums")
        return combine_sums([out], spec)


def compute(*objs: Any, what: str) -> tuple[Any, ...]:
    """``dask.compute(*objs)``, naming a worker that ran out of memory.

    Parameters
    ----------
    *objs
        Dask collections or delayed objects.
    what : str
        The estimate, for the message.

    Returns
    -------
    tuple
        Their computed values.

    Raises
    ------
    EngineError
        When a task's worker was lost as often as the scheduler allows
        (``KilledWorker``: most often a partition too large for the worker's
        memory) or a task ran out of memory; other errors pass unchanged.
    """
    import dask

    try:
        return dask.compute(*objs)  # type: ignore[no-any-return]
    except MemoryError as exc:
        raise EngineError(_memory_message(what, exc)) from exc
    except Exception as exc:
        if type(exc).__name__ != "KilledWorker":
            raise
        raise EngineError(_memory_message(what, exc)) from exc


def _memory_message(what: str, exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0]
    return (f"{what}: a Dask task failed with its worker ({type(exc).__name__}: {first}); "
            f"most often a partition too large for the worker's memory. Repartition into "
            f"smaller partitions (frame.repartition(partition_size='100MB')), read fewer "
            f"columns, or give the workers more memory")
