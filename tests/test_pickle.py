"""Results pickle (for caching and multiprocessing in research scripts), and
an unpickled result gives the same numbers, intervals at any level and
design effects included."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import innobaro as ib
from innobaro.datasets import barometer_design

CALLS = {
    "mean by": lambda d: ib.mean(d, "employees", by="sector"),
    "total": lambda d: ib.total(d, "employees"),
    "ratio": lambda d: ib.ratio(d, "employees", denominator="employees"),
    "proportion beta": lambda d: ib.proportion(d, "innovated", method="beta"),
    "proportion logit by": lambda d: ib.proportion(d, "innovated", by="sector", method="logit"),
    "quantile": lambda d: ib.quantile(d, "employees", [0.25, 0.5]),
    "chisq_test": lambda d: ib.chisq_test(d, "innovated", "sector"),
    "ttest": lambda d: ib.ttest(d, "employees", "sector"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_results_pickle_with_their_numbers(name: str) -> None:
    d = barometer_design()
    result = CALLS[name](d)
    back = pickle.loads(pickle.dumps(result))
    if isinstance(result, ib.Estimate):
        assert back.to_frame().equals(result.to_frame())  # deff included where defined
        np.testing.assert_array_equal(back.ci(0.8).to_numpy(), result.ci(0.8).to_numpy())
        np.testing.assert_array_equal(back.vcov.to_numpy(), result.vcov.to_numpy())
    else:
        assert repr(back) == repr(result)
