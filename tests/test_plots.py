"""innobaro.plot: what is drawn is the data of innobaro's results.

Every drawing is made on a :class:`matplotlib.figure.Figure` of the test's own
(no pyplot, no backend switch, no global state) and its artists are read
back: the CDF lines' data equal :func:`innobaro.cdf`, the bars' heights
:func:`innobaro.histogram`, the boxes :func:`innobaro.boxplot_stats`, the
error bars the results' ``conf_int()``. Then: the functions make their own
figure without pyplot, leave ``rcParams`` alone, and neither
``import innobaro`` nor ``import innobaro.plot`` imports matplotlib.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import innobaro as ib

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

import innobaro.plot as ibp  # noqa: E402


def _ax():  # a matplotlib Axes
    return Figure().add_subplot()


@pytest.fixture(scope="module")
def design() -> ib.Design:
    rng = np.random.default_rng(17)
    n = 200
    df = pd.DataFrame({"stratum": np.repeat(["a", "b"], n // 2), "psu": np.arange(n),
                       "w": rng.uniform(1, 5, n), "g": rng.choice(["x", "y", "z"], n),
                       "y": np.round(rng.gamma(2.0, 10.0, n), 1)})
    df.loc[[3, 50], "y"] = np.nan
    df.loc[7, "y"] = 400.0  # an outlier
    return ib.Design(df, weights="w", strata="stratum", psu="psu")


def test_cdf_lines_are_the_cdf(design: ib.Design) -> None:
    ax = ibp.cdf(design, "y", by="g", ax=_ax())
    data = ib.cdf(design, "y", by="g")
    assert len(ax.lines) == 3
    for line, (key, part) in zip(ax.lines, data.groupby("g"), strict=True):
        assert line.get_label() == key
        assert line.get_drawstyle() == "steps-post"
        np.testing.assert_array_equal(line.get_xdata(), part["value"])
        np.testing.assert_array_equal(line.get_ydata(), part["cdf"])


@pytest.mark.parametrize("probability", [True, False])
def test_histogram_bars_are_the_histogram(design: ib.Design, probability: bool) -> None:
    ax = ibp.histogram(design, "y", bins=12, probability=probability, ax=_ax())
    data = ib.histogram(design, "y", bins=12)
    bars = ax.patches
    assert len(bars) == len(data)
    np.testing.assert_allclose([b.get_height() for b in bars],
                               data["density" if probability else "count"], rtol=1e-12)
    np.testing.assert_allclose([b.get_x() for b in bars], data["left"], rtol=1e-12)
    np.testing.assert_allclose([b.get_width() for b in bars], data["right"] - data["left"],
                               rtol=1e-12)


def test_histogram_by_domain_is_one_outline_each(design: ib.Design) -> None:
    ax = ibp.histogram(design, "y", by="g", ax=_ax())
    data = ib.histogram(design, "y", by="g")
    from matplotlib.patches import StepPatch

    steps = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert len(steps) == 3
    for step, (_, part) in zip(steps, data.groupby("g"), strict=True):
        values, edges, _ = step.get_data()
        np.testing.assert_allclose(values, part["density"], rtol=1e-12)
        np.testing.assert_allclose(edges[:-1], part["left"], rtol=1e-12)


@pytest.mark.parametrize("all_outliers", [False, True])
def test_boxes_are_the_boxplot_stats(design: ib.Design, all_outliers: bool) -> None:
    ax = _ax()
    ibp.boxplot(design, "y", by="g", all_outliers=all_outliers, ax=ax)
    data = ib.boxplot_stats(design, "y", by="g", all_outliers=all_outliers)
    # Axes.bxp draws per box: the box, two whiskers, two caps, the median, the fliers
    lines = ax.lines
    assert len(lines) == 7 * len(data)
    # read by role: whiskers are the lines from a quartile to a fence
    ys = [tuple(line.get_ydata()) for line in lines]
    for row in data.itertuples():
        assert (row.q1, row.whisker_low) in ys
        assert (row.q3, row.whisker_high) in ys
        assert (row.median, row.median) in ys
        if row.outliers:
            assert any(len(y) == len(row.outliers) and np.allclose(sorted(y), sorted(row.outliers))
                       for y in ys)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(data.index)


def _error_bars(ax) -> tuple[np.ndarray, np.ndarray]:
    """(points, segments) of the only errorbar container on ``ax``."""
    (container,) = ax.containers
    points = np.column_stack(container.lines[0].get_data())
    segments = np.array(container.lines[2][0].get_segments())
    return points, segments


def test_estimates_draw_the_intervals(design: ib.Design) -> None:
    est = ib.mean(design, "y", by="g", na_rm=True)
    ax = ibp.estimates(est, level=0.9, ax=_ax())
    points, segments = _error_bars(ax)
    ci = est.conf_int(0.9)
    np.testing.assert_allclose(points[:, 0], est.estimate, rtol=1e-12)
    np.testing.assert_allclose(segments[:, 0, 0], ci["lower"], rtol=1e-12)
    np.testing.assert_allclose(segments[:, 1, 0], ci["upper"], rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x, y", "y, y", "z, y"]
    assert points[0, 1] > points[-1, 1]  # the first at the top


def test_estimates_upright_and_quantiles(design: ib.Design) -> None:
    est = ib.quantile(design, "y", [0.25, 0.5, 0.75], na_rm=True)
    ax = ibp.estimates(est, horizontal=False, ax=_ax())
    points, segments = _error_bars(ax)
    ci = est.conf_int()
    np.testing.assert_allclose(points[:, 1], est.estimate, rtol=1e-12)
    np.testing.assert_allclose(segments[:, 0, 1], ci["lower"], rtol=1e-12)
    np.testing.assert_allclose(segments[:, 1, 1], ci["upper"], rtol=1e-12)


def test_forest_of_a_glm_is_its_odds_ratios() -> None:
    from innobaro.datasets import barometer_design

    m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    ax = ibp.forest(m, ax=_ax())
    points, segments = _error_bars(ax)
    odds = m.odds_ratios().iloc[1:]
    np.testing.assert_allclose(points[:, 0], odds["odds_ratio"], rtol=1e-12)
    np.testing.assert_allclose(segments[:, 0, 0], odds["lower"], rtol=1e-12)
    np.testing.assert_allclose(segments[:, 1, 0], odds["upper"], rtol=1e-12)
    assert ax.get_xscale() == "log"
    ax = ibp.forest(m, exponentiate=False, intercept=True, level=0.9, ax=_ax())
    points, segments = _error_bars(ax)
    np.testing.assert_allclose(points[:, 0], m.to_frame()["estimate"], rtol=1e-12)
    np.testing.assert_allclose(segments[:, 0, 0], m.conf_int(0.9)["lower"], rtol=1e-12)
    ax = ibp.forest(m, terms=["np.log(employees)"], ax=_ax())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["np.log(employees)"]


def test_forest_of_ordinal_and_multinomial_models() -> None:
    from innobaro.datasets import barometer_2020_design, barometer_design

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        o = ib.ologit("promoter_leadership ~ np.log(employees)", barometer_2020_design())
        ml = ib.mlogit("sector ~ np.log(employees)", barometer_design())
    points, segments = _error_bars(ibp.forest(o, ax=_ax()))  # slopes only, no cutpoints
    np.testing.assert_allclose(points[:, 0], o.odds_ratios()["odds_ratio"], rtol=1e-12)
    np.testing.assert_allclose(segments[:, 1, 0], o.odds_ratios()["upper"], rtol=1e-12)
    ax = ibp.forest(ml, ax=_ax())
    points, _ = _error_bars(ax)
    frame = ml.to_frame()
    slope = frame.index.get_level_values(-1) != "Intercept"
    np.testing.assert_allclose(points[:, 0], np.exp(frame["estimate"][slope]), rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["health_care, np.log(employees)"]


def test_bad_input_is_named(design: ib.Design) -> None:
    from innobaro.datasets import barometer_design

    m = ib.logit("innovated ~ np.log(employees)", barometer_design())
    with pytest.raises(ib.EstimationError, match="'age'"):
        ibp.forest(m, terms=["age"], ax=_ax())
    with pytest.raises(ib.EstimationError, match="intercept=True"):
        ibp.forest(ib.logit("innovated ~ 1", barometer_design()), ax=_ax())
    with pytest.raises(TypeError, match="to_frame"):
        ibp.estimates(pd.Series([1.0]), ax=_ax())


def test_own_figure_without_pyplot_or_global_settings(design: ib.Design) -> None:
    before = dict(matplotlib.rcParams)
    ax = ibp.boxplot(design, "y")
    assert isinstance(ax.figure, Figure)
    ibp.cdf(design, "y")
    ibp.histogram(design, "y", by="g")
    assert dict(matplotlib.rcParams) == before
    code = ("import sys, pandas as pd, innobaro as ib, innobaro.plot\n"
            "assert 'matplotlib' not in sys.modules\n"
            "d = ib.Design(pd.DataFrame({'y': [1.0, 2, 3], 'w': [1.0, 1, 2]}), weights='w')\n"
            "ax = innobaro.plot.cdf(d, 'y')\n"
            "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "False"]
