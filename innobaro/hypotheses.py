"""Design-based tests and comparisons: the names of the modules behind them.

The code lives one concept per module, as R's survey package keeps
``surveychisq.R``, ``svyttest.R`` and ``svycontrast`` apart:

- :mod:`innobaro.independence`: :func:`chisq_test` (Rao-Scott tables);
- :mod:`innobaro.two_groups`: :func:`ttest`;
- :mod:`innobaro.contrasts`: :func:`contrast` and :class:`Nonlinear`;
- :mod:`innobaro.comparisons`: :func:`compare` and :func:`compare_surveys`;
- :mod:`innobaro.tabulate`: :func:`table`, a descriptive estimator.

This module re-exports them, so ``from innobaro.hypotheses import contrast``
keeps working.
"""

from __future__ import annotations

from .comparisons import compare, compare_surveys
from .contrasts import Nonlinear, contrast
from .independence import CHISQ_STATISTICS, chisq_test
from .tabulate import table
from .two_groups import ttest

__all__ = [
    "CHISQ_STATISTICS",
    "Nonlinear",
    "chisq_test",
    "compare",
    "compare_surveys",
    "contrast",
    "table",
    "ttest",
]
