"""The verdict vocabulary of ``innobaro.claims``: each rule of the module's
table, at and around its boundaries."""

from __future__ import annotations

import pytest

from innobaro.claims import VERDICTS, verdict


@pytest.mark.parametrize("args,kwargs,expected", [
    # level: the claimed value is the null hypothesis
    (("level", 0.736, 0.75, 0.20), {}, "supported"),
    (("level", 0.60, 0.75, 0.001), {}, "not supported"),
    (("level", 0.70, 0.75, 0.05), {}, "supported"),  # p = alpha does not reject
    # direction: sign, then significance
    (("direction", 0.096, 0.0, 1e-5), {}, "supported"),
    (("direction", 0.02, 0.0, 0.51), {}, "direction only"),
    (("direction", -0.02, 0.0, 0.51), {}, "not supported"),
    (("direction", -0.09, 0.0, 1e-5), {}, "not supported"),
    (("direction", 0.0, 0.0, 1.0), {}, "not supported"),
    (("direction", 0.92, 1.0, 0.01), {"sign": -1}, "supported"),  # odds ratio below 1
    (("direction", 1.08, 1.0, 0.01), {"sign": -1}, "not supported"),
    (("direction", 0.92, 1.0, 0.03), {"sign": -1, "alpha": 0.01}, "direction only"),
    # no difference: equality is the null hypothesis
    (("no difference",), {"pvalue": 0.98}, "supported"),
    (("no difference",), {"pvalue": 0.004}, "not supported"),
    (("not measured",), {}, "not measured"),
])
def test_each_rule(args, kwargs, expected) -> None:
    assert verdict(*args, **kwargs) == expected
    assert expected in VERDICTS


def test_bad_calls_are_named() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        verdict("maybe", 0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="finite p-value"):
        verdict("level", 0.5, 0.5, float("nan"))
    with pytest.raises(ValueError, match="finite estimate"):
        verdict("direction", None, 0.0, 0.01)
    with pytest.raises(ValueError, match="sign must be"):
        verdict("direction", 0.5, 0.0, 0.01, sign=2)
