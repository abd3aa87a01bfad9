"""Results, designs and fitted models pickle (for caching, saving with a
research project and multiprocessing), and an unpickled object gives the same
numbers: intervals at any level, design effects, and a model's predictions on
new data, margins, Wald tests and refits, whatever its formula.

The result types are those of the result contract
(``tests/test_result_contract.py``): every call there is made here too, so a
new result type, which the contract test insists on, is pickled here as well.
"""

from __future__ import annotations

import concurrent.futures
import copy
import multiprocessing
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_result_contract import DESCRIPTIVE, ESTIMATES, HELD, TESTS

import innobaro as ib
from innobaro.datasets import barometer_design, load_barometer

CALLS: dict[str, Callable] = {**ESTIMATES, **TESTS, **DESCRIPTIVE}


def _round_trips(obj: Any) -> list[Any]:
    return [pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)]


@pytest.fixture(scope="module")
def design() -> ib.Design:
    return barometer_design()


@pytest.fixture(scope="module")
def model(design: ib.Design) -> ib.GLMResult:
    return ib.logit("innovated ~ C(sector) + np.log(employees)", design)


def _assert_same_result(back: Any, result: Any) -> None:
    """Everything a user reads off a result is the same."""
    assert type(back) is type(result)
    assert repr(back) == repr(result)
    pd.testing.assert_frame_equal(back.to_frame(), result.to_frame())
    if isinstance(result, ib.TestContract):
        assert (back.statistic, back.pvalue, back.df, back.method) == \
            (result.statistic, result.pvalue, result.df, result.method)
    if hasattr(result, "vcov") and hasattr(result, "ci"):  # estimate-like
        pd.testing.assert_series_equal(back.estimate, result.estimate)
        pd.testing.assert_series_equal(back.se, result.se)
        pd.testing.assert_frame_equal(back.vcov, result.vcov)
        for level in (0.8, 0.99):
            pd.testing.assert_frame_equal(back.ci(level), result.ci(level))
        pd.testing.assert_frame_equal(back.ci(df=float("inf")), result.ci(df=float("inf")))
        assert back.level == result.level and back.interval_method == result.interval_method
        if isinstance(result, ib.Estimate):
            pd.testing.assert_series_equal(back.deff, result.deff)


@pytest.mark.parametrize("name", list(CALLS))
def test_every_result_type_pickles_with_its_numbers(name: str, design: ib.Design,
                                                     model: ib.GLMResult) -> None:
    result = CALLS[name](design, model)
    for back in _round_trips(result):
        _assert_same_result(back, result)


def test_every_public_result_type_is_pickled_here() -> None:
    # the contract test checks that HELD names every public result type and
    # that the call HELD names for it makes one
    missing = [cls.__name__ for cls, name in HELD.items() if name not in CALLS]
    assert not missing, f"result types not made by the calls pickled here: {missing}"


# ---------------------------------------------------------------------------
# fitted models: formulas of every kind survive, and the model still works
# ---------------------------------------------------------------------------
FORMULAS = {  # name: (formula, family)
    "treatment reference": ("innovated ~ C(centrality, Treatment(3)) + np.log(employees)",
                            "binomial"),
    "power and quoted name": ("innovated ~ C(sector) + I(free_income**2) + Q('free income')",
                              "binomial"),
    "interaction, stateful transforms": ("innovated ~ C(sector):center(employees) "
                                         "+ standardize(population) + bs(free_income, df=3)",
                                         "binomial"),
    "R spellings": ("innovated ~ factor(sector) + log(employees) + relevel(region, 'western')",
                    "binomial"),
    "sum contrasts, spline, numeric response": ("np.log(employees) ~ C(unit_type, Sum) "
                                                "+ cr(free_income, df=4)", "gaussian"),
    "offset, quasipoisson": ("employees ~ C(sector) + free_income "
                             "+ offset(np.log(population))", "quasipoisson"),
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    df = load_barometer()
    df["free income"] = df["free_income"] * 1.0
    return df


@pytest.mark.parametrize("name", list(FORMULAS))
def test_models_pickle_and_still_predict_test_and_refit(name: str,
                                                       data: pd.DataFrame) -> None:
    formula, family = FORMULAS[name]
    d = barometer_design(data)
    with pytest.warns(ib.InnobaroWarning) if "cr(" in formula else _nothing():
        m = ib.glm(formula, d, family=family)
    new = data.sample(60, random_state=3)  # new data: rows in another order
    term = m.spec.terms[1]
    variable = "unit_type" if "unit_type" in formula else "sector"
    W = np.ones((d.n, 3))
    W[:40, 1] = 0.0
    W[100:300, 2] = 2.0
    for back in _round_trips(m):
        assert back.formula == m.formula and back.spec == m.spec
        assert back.spec.column_names == m.spec.column_names
        pd.testing.assert_series_equal(back.params, m.params)
        pd.testing.assert_frame_equal(back.vcov, m.vcov)
        pd.testing.assert_frame_equal(back.predict(new, se=True), m.predict(new, se=True))
        pd.testing.assert_series_equal(back.predict(new, type="link"),
                                       m.predict(new, type="link"))
        assert repr(back.wald_test(term)) == repr(m.wald_test(term))
        np.testing.assert_array_equal(back.refit(W), m.refit(W))
        pd.testing.assert_frame_equal(back.margins(variable).to_frame(),
                                      m.margins(variable).to_frame())
        assert str(back.summary()) == str(m.summary())


def test_a_model_with_a_treatment_reference_tests_its_term_after_pickling(
        design: ib.Design) -> None:
    m = ib.logit("innovated ~ C(centrality, Treatment(3)) + free_income", design)
    back = pickle.loads(pickle.dumps(m))
    assert repr(back.wald_test("C(centrality, Treatment(3))")) == \
        repr(m.wald_test("C(centrality, Treatment(3))"))
    assert back.spec.column_names[1] == "C(centrality, Treatment(3))[T.1]"
    # the unpickled model still refuses a level it never saw
    new = design.data.head(3).assign(centrality=9)
    with pytest.raises(ib.EstimationError, match="never saw"):
        back.predict(new)


def test_a_pickled_model_carries_no_data_it_does_not_need(design: ib.Design) -> None:
    # a variable of the caller's scope named like a column is not stored in
    # the model (the data provide the column), and new data without the column
    # is an error, not a silent read of that variable
    employees = np.arange(5.0)  # noqa: F841 - the name is what matters
    m = ib.logit("innovated ~ np.log(employees)", design)
    back = pickle.loads(pickle.dumps(m))
    with pytest.raises(ib.EstimationError, match="employees"):
        back.predict(design.data.drop(columns="employees").head())


def test_a_formula_with_a_lambda_says_why_it_cannot_pickle(design: ib.Design) -> None:
    double = lambda x: 2 * x  # noqa: E731, F841 - the formula reads it
    m = ib.logit("innovated ~ double(employees)", design)
    assert m.params.notna().all()
    with pytest.raises(pickle.PicklingError, match="'double', a lambda"):
        pickle.dumps(m)
    # copies (which keep the function) and comparisons work
    for other in (copy.copy(m), copy.deepcopy(m)):
        assert other.spec == m.spec
        pd.testing.assert_series_equal(other.predict(design.data.head()),
                                       m.predict(design.data.head()))


def test_model_specs_compare_by_their_encoding(design: ib.Design) -> None:
    a = ib.logit("innovated ~ C(sector) + employees", design).spec
    b = ib.logit("innovated ~ C(sector) + employees", design).spec
    c = ib.logit("innovated ~ C(sector) + employees", design.subset(
        design.data["sector"] == "education")).spec  # one level: another encoding
    assert a == b and a == pickle.loads(pickle.dumps(b))
    assert a != c and a != "innovated ~ C(sector) + employees"


# ---------------------------------------------------------------------------
# designs
# ---------------------------------------------------------------------------
def _designs() -> dict[str, Callable[[], ib.SurveyDesign]]:
    def base() -> ib.Design:
        return barometer_design()

    def clustered() -> ib.Design:  # 19 county clusters in 6 regions: few replicates
        return ib.Design(load_barometer(), weights="final_weight", strata="region",
                         psu="county")

    def given_replicates() -> ib.ReplicateDesign:
        df = load_barometer()
        rng = np.random.default_rng(5)
        reps = {f"r{i}": df["final_weight"] * rng.uniform(0.5, 1.5, len(df)) for i in range(8)}
        return ib.ReplicateDesign(pd.concat([df, pd.DataFrame(reps)], axis=1),
                                  weights="final_weight", replicate_weights=list(reps),
                                  method="bootstrap")

    def multistage() -> ib.Design:
        df = load_barometer()
        return ib.Design(df, weights="design_weight", strata="stratum",
                         psu=["municipality_code", "unit_id"], nest=True, lonely_psu="adjust")

    return {
        "design": base,
        "domain": lambda: base().subset(base().data["sector"] == "education"),
        "with columns": lambda: base().with_columns(big=base().data["employees"] > 50),
        "raked": lambda: ib.Design(load_barometer(), weights="design_weight",
                                   strata="stratum").rake(
            {"region": load_barometer()["region"].value_counts() * 6.0}),
        "multistage": multistage,
        "jkn": lambda: clustered().replicate("jkn"),
        "jkn domain": lambda: clustered().replicate("jkn").subset(
            base().data["region"] == "northern"),
        "bootstrap": lambda: clustered().replicate("bootstrap", replicates=20, seed=1),
        "bootstrap given": given_replicates,
    }


DESIGNS = _designs()


@pytest.mark.parametrize("name", [*DESIGNS, "polars", "pyarrow"])
def test_designs_pickle_and_give_the_same_numbers(name: str) -> None:
    if name in ("polars", "pyarrow"):  # a design on another kind of frame
        module = pytest.importorskip(name)
        df = load_barometer()
        frame = module.from_pandas(df) if name == "polars" else module.Table.from_pandas(df)
        d = ib.Design(frame, weights="final_weight", strata="stratum")
    else:
        d = DESIGNS[name]()
    for back in _round_trips(d):
        assert type(back) is type(d)
        assert list(back.data.columns) == list(d.data.columns)
        for column in ("sector", "employees", "innovated"):
            pd.testing.assert_series_equal(back.data[column], d.data[column])
        np.testing.assert_array_equal(back.weight_values, d.weight_values)
        assert back.df == d.df
        for call in (lambda x: ib.mean(x, "employees", by="sector"),
                     lambda x: ib.proportion(x, "innovated", by="region", method="beta"),
                     lambda x: ib.total(x, "innovated"),
                     lambda x: x.weights_summary()):
            _assert_same_result(call(back), call(d))
        # a design derived from the copy is a design of the same survey
        _assert_same_result(ib.mean(back.subset(back.data["employees"] > 20), "innovated"),
                            ib.mean(d.subset(d.data["employees"] > 20), "innovated"))


# ---------------------------------------------------------------------------
# to another process and back
# ---------------------------------------------------------------------------
def _in_worker(design: ib.SurveyDesign, model: ib.GLMResult, estimate: ib.Estimate,
               new: pd.DataFrame) -> dict[str, Any]:
    """What a worker process does with what it was sent (module level: spawn
    imports this module in the worker)."""
    return {"model": model, "estimate": estimate,
            "mean": ib.mean(design, "employees", by="sector"),
            "predict": model.predict(new, se=True),
            "wald": model.wald_test("C(centrality)"),
            "margins": model.margins("centrality"),
            "refit": ib.logit(model.formula, design).params}


def test_a_worker_process_gets_and_returns_working_objects(design: ib.Design) -> None:
    m = ib.logit("innovated ~ C(centrality) + free_income + np.log(employees)", design)
    est = ib.proportion(design, "innovated", by="sector")
    new = design.data.sample(25, random_state=7)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        out = pool.submit(_in_worker, design, m, est, new).result(timeout=300)
    _assert_same_result(out["mean"], ib.mean(design, "employees", by="sector"))
    _assert_same_result(out["estimate"], est)
    pd.testing.assert_frame_equal(out["predict"], m.predict(new, se=True))
    _assert_same_result(out["wald"], m.wald_test("C(centrality)"))
    _assert_same_result(out["margins"], m.margins("centrality"))
    pd.testing.assert_series_equal(out["refit"], m.params)
    back = out["model"]  # the model made the trip twice
    assert back.spec == m.spec
    pd.testing.assert_frame_equal(back.predict(new, se=True), m.predict(new, se=True))


class _nothing:
    """A context manager that does nothing (``pytest.warns`` when no warning is due)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
