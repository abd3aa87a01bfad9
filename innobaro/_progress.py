"""Progress of long replicate work: an optional callback, or a tqdm bar.

Replicate refits of a model run in blocks of replicates; after each block
the caller's ``progress(done, total)`` is called (``done`` replicates of
``total`` finished). ``progress="tqdm"`` shows a :mod:`tqdm` bar instead,
when tqdm is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import EstimationError

__all__ = ["Progress", "progress_reporter"]

#: What ``progress=`` takes: None, a callable ``(done, total)``, or ``"tqdm"``.
Progress = Callable[[int, int], Any] | str | None


class _Reporter:
    """Calls the caller's callback, or moves a tqdm bar, with (done, total)."""

    def __init__(self, progress: Progress, total: int, what: str) -> None:
        self.total = total
        self._bar: Any = None
        self._callback: Callable[[int, int], Any] | None = None
        self._done = 0
        if progress is None:
            return
        if isinstance(progress, str):
            if progress != "tqdm":
                raise EstimationError(f"progress must be a callable (done, total) or "
                                      f"'tqdm', not {progress!r}")
            try:
                from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                raise EstimationError("progress='tqdm' needs the tqdm package, which is not "
                                      "installed: pip install tqdm, or pass a callable "
                                      "progress(done, total)") from None
            self._bar = tqdm(total=total, desc=what, unit="replicate")
        elif callable(progress):
            self._callback = progress
        else:
            raise EstimationError(f"progress must be a callable (done, total) or 'tqdm', "
                                  f"not {type(progress).__name__}")

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._done)
            if done >= self.total:
                self._bar.close()
        elif self._callback is not None:
            self._callback(done, self.total)
        self._done = done


def progress_reporter(progress: Progress, total: int, what: str = "replicates"
                      ) -> Callable[[int], None]:
    """A function of the number of units done that reports to ``progress``.

    Parameters
    ----------
    progress : callable, "tqdm" or None
        ``progress(done, total)`` after each block, a tqdm bar, or nothing.
    total : int
        The number of units (replicates) of the work.
    what : str
        The bar's label.

    Returns
    -------
    callable
        Call it with the number of units done so far.
    """
    return _Reporter(progress, total, what)
