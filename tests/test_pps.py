"""Unequal-probability designs (``ib.Design(pps=...)``) against R's ``svydesign(pps=)``.

Every case of ``tests/reference/make_pps.R`` (reference/pps.json) is rebuilt:
Brewer's approximation (one and two stages), Overton's, Hartley-Rao with a given
and an estimated :math:`\\bar P`, and given joint probabilities (R's ``ppsmat``),
each in the Horvitz-Thompson and, where R has it, the Yates-Grundy form; totals,
means, ratios, domain means, subset totals with their degrees of freedom, GLMs
and post-stratified totals and means, at rtol 1e-8. Then identities R cannot
check and the named errors of bad input.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from _harness import REF, load
from _harness import _data as data
from _harness import close_to as close

import innobaro as ib
from innobaro.design import (
    MAX_JOINT_ENTRIES,
    HartleyRao,
    JointProbabilityError,
    PPSError,
    PPSSizeError,
)

CASES = load("pps")["cases"]


@cache
def joint(name: str) -> np.ndarray:
    return pd.read_csv(REF / "data" / f"{name}.csv", header=None).to_numpy()


def design(args: dict) -> ib.Design:
    kw = dict(args)
    frame = data(kw.pop("data"))
    derive = kw.pop("derive", None)
    if derive:
        frame = frame.assign(**{k: frame.eval(v) for k, v in derive.items()})
    spec = kw.get("pps")
    if isinstance(spec, dict):
        kw["pps"] = ib.HR(spec["HR"]) if "HR" in spec else ib.ppsmat(joint(spec["ppsmat"]))
    return ib.Design(frame, **kw)


def params(stats):
    return [pytest.param(c, id=f"{c['design']}-{c['stat']}") for c in CASES
            if c["stat"] in stats]


def test_every_method_has_cases():
    methods = set()
    for c in CASES:
        spec = c["args"]["pps"]
        name = spec if isinstance(spec, str) else next(iter(spec))
        methods.add((name, c["args"].get("variance", "HT"), len(c["args"].get("psu", [])) > 1))
    assert {("brewer", "HT", False), ("brewer", "HT", True), ("overton", "HT", False),
            ("overton", "YG", False), ("HR", "HT", False), ("HR", "YG", False),
            ("ppsmat", "HT", False), ("ppsmat", "YG", False)} <= methods
    stats = {c["stat"] for c in CASES}
    assert stats == {"total", "mean", "ratio", "by_mean", "subset_total", "glm",
                     "poststratify_total", "poststratify_ps"}


@pytest.mark.parametrize("case", params({"total", "mean"}))
def test_total_mean(case):
    d = design(case["args"])
    est = getattr(ib, case["stat"])(d, case["y"])
    close(est.estimate, case["estimate"])
    close(est.vcov, case["vcov"])
    assert d.df == case["df"] == est.df


@pytest.mark.parametrize("case", params({"ratio"}))
def test_ratio(case):
    est = ib.ratio(design(case["args"]), case["numerator"], case["denominator"])
    close(est.estimate, case["estimate"])
    close(est.vcov, case["vcov"])


@pytest.mark.parametrize("case", params({"by_mean"}))
def test_domain_means(case):
    est = ib.mean(design(case["args"]), case["y"], by=case["by"])
    close(est.estimate, case["estimate"])
    # R's svyby(covmat = TRUE) fails on its pps class: the variances only
    close(np.diag(est.vcov), np.diag(case["vcov"]))


@pytest.mark.parametrize("case", params({"subset_total"}))
def test_subset(case):
    d = design(case["args"])
    sub = d.subset(d.data[case["column"]].astype(str) == case["level"])
    est = ib.total(sub, case["y"])
    close(est.estimate, case["estimate"])
    close(est.vcov, case["vcov"])
    assert sub.df == case["df"]


@pytest.mark.parametrize("case", params({"glm"}))
def test_glm(case):
    m = ib.glm(case["formula"], design(case["args"]), family=case["family"])
    close(m.params, case["estimate"], rtol=1e-7)
    close(m.vcov, case["vcov"], rtol=1e-7)
    assert m.df == case["df"]


@pytest.mark.parametrize("case", params({"poststratify_total", "poststratify_ps"}))
def test_poststratify(case):
    d = design(case["args"])
    frame = d.data
    if frame[case["column"]].dtype != object:  # R's labels are strings
        d = d.with_columns({case["column"]: frame[case["column"]].astype(str)})
    ps = d.poststratify(case["column"], dict(zip(case["levels"], case["population"], strict=True)))
    est = ib.total(ps, case["y"])
    close(est.estimate, case["estimate"])
    close(est.vcov, case["vcov"])
    assert ps.df == case["df"]
    if "mean" in case:
        mean = ib.mean(ps, case["y"])
        close(mean.estimate, case["mean"])
        close(mean.vcov, case["mean_vcov"])


@pytest.mark.parametrize("case", params({"poststratify_total"}))
def test_calibrate(case):
    """R's calibrate(design, ~ 0 + factor, counts) as innobaro's calibrate."""
    d = design(case["args"])
    frame = d.data
    if frame[case["column"]].dtype != object:
        d = d.with_columns({case["column"]: frame[case["column"]].astype(str)})
    totals = {f"{case['column']}[{level}]": count
              for level, count in zip(case["levels"], case["population"], strict=True)}
    cal = d.calibrate(totals, formula=f"~ 0 + {case['column']}")
    est = ib.total(cal, case["y"])
    close(est.estimate, case["estimate"])
    close(est.vcov, case["vcov"])


def test_pickle_keeps_the_joint_probabilities():
    import pickle

    d = design(next(c for c in CASES if c["design"] == "el_yg")["args"])
    again = pickle.loads(pickle.dumps(d))
    close(ib.total(again, ["Bush", "Kerry"]).vcov, ib.total(d, ["Bush", "Kerry"]).vcov,
          rtol=0)


# ------------------------------------------------------------------ identities
def test_hr_psum_per_stratum_equals_estimated():
    """HR({stratum: mean sampled probability}) is R's HR() (the estimate it uses)."""
    frame = data("pps_apistrat")
    means = frame.groupby("scode")["ppsprob"].mean()
    given = ib.Design(frame, strata="scode", fpc="ppsprob",
                      pps=ib.HR({str(k): v for k, v in means.items()}), variance="YG")
    estimated = ib.Design(frame, strata="scode", fpc="ppsprob", pps=ib.HR(), variance="YG")
    close(ib.total(given, ["api00", "enroll"]).vcov,
          ib.total(estimated, ["api00", "enroll"]).vcov, rtol=1e-12)


@pytest.mark.parametrize("method", ["overton", "hr", "ppsmat"])
@pytest.mark.parametrize("form", ["HT", "YG"])
def test_quadratic_form_without_matrix(method, form):
    """The stratum-sum formulas equal the dense quadratic forms of R's Dcheck."""
    frame = data("pps_pairs")
    p, h = frame["p"].to_numpy(), frame["s"].to_numpy()
    n = np.bincount(h)[h].astype(float)
    same = h[:, None] == h[None, :]
    if method == "overton":
        dcheck = 1 - (n[:, None] - (p[:, None] + p[None, :]) / 2) / (n[:, None] - 1)
        spec: object = "overton"
    elif method == "hr":
        pbar = frame.groupby("s")["p"].transform("mean").to_numpy()
        fbar = p[:, None] + p[None, :]
        dcheck = 1 - (n[:, None] - fbar + pbar[:, None]) / (n[:, None] - 1)
        dcheck[fbar == 1] = 0
        spec = ib.HR()
    else:
        pij = np.outer(p, p) * (1 - 0.1 * same)
        np.fill_diagonal(pij, p)
        pij = np.minimum(pij, np.minimum.outer(p, p))
        dcheck = (pij - np.outer(p, p)) / pij
        dcheck[np.abs(dcheck) < 1e-4] = 0
        spec = ib.ppsmat(pij)
        same = np.ones_like(same)
    dcheck[~same] = 0
    np.fill_diagonal(dcheck, 1 - p)
    z = frame[["y", "u"]].to_numpy() / p[:, None]
    expected = z.T @ dcheck @ z
    if form == "YG":
        expected -= (z * dcheck.sum(axis=0)[:, None]).T @ z
    d = ib.Design(frame, strata="s", fpc="p", pps=spec, variance=form)
    close(ib.total(d, ["y", "u"]).vcov, expected, rtol=1e-10)


def test_brewer_single_unit_stratum_and_certainty():
    """A stratum of certainty units adds nothing; later stages of a certainty PSU count fully."""
    frame = pd.DataFrame({"h": [1, 1, 2, 2, 2, 3, 3], "p": [1.0, 1.0, 0.2, 0.5, 0.4, 0.3, 0.6],
                          "y": [3.0, 5, 1, 2, 7, 4, 4.5]})
    d = ib.Design(frame, strata="h", fpc="p", pps="brewer")
    z = frame["y"].to_numpy() / frame["p"].to_numpy()
    expected = 0.0
    for h in (2, 3):
        rows = frame["h"].to_numpy() == h
        zh, fh = z[rows], 1 - frame["p"].to_numpy()[rows]
        expected += rows.sum() / (rows.sum() - 1) * np.sum(fh * (zh - zh.mean()) ** 2)
    close(ib.total(d, "y").vcov, [[expected]], rtol=1e-12)


def test_data_not_changed_and_repr():
    frame = data("election_pps")
    before = frame.copy()
    d = ib.Design(frame, fpc="p", pps=ib.HR(), variance="YG")
    ib.mean(d, ["Bush", "Kerry"], by="nader_any")
    pd.testing.assert_frame_equal(frame, before)
    assert "PPS (Hartley-Rao approximation, YG variance)" in repr(d)
    assert d.pps is not None and d.pps.method == "hr" and isinstance(ib.HR(), HartleyRao)


# ------------------------------------------------------------------ bad input
def small() -> pd.DataFrame:
    return pd.DataFrame({"h": [1, 1, 1, 2, 2, 2], "psu": [1, 2, 3, 4, 5, 6],
                         "p": [0.2, 0.5, 0.3, 0.6, 0.1, 0.4], "y": [1.0, 2, 3, 4, 5, 6]})


def small_joint(frame: pd.DataFrame) -> np.ndarray:
    p = frame["p"].to_numpy()
    pij = np.outer(p, p) * 0.9
    np.fill_diagonal(pij, p)
    return pij


@pytest.mark.parametrize("pps", ["brewer", "overton", ib.HR()])
def test_probability_above_one(pps):
    frame = small().assign(p=[0.2, 1.5, 0.3, 0.6, 0.1, 0.4])
    with pytest.raises(PPSError, match=r"'p'.*row 1 has 1\.5.*above 1"):
        ib.Design(frame, strata="h", fpc="p", pps=pps)


def test_probability_zero_or_missing():
    with pytest.raises(PPSError, match=r"'p'.*\(0, 1\].*row 2 has 0"):
        ib.Design(small().assign(p=[0.2, 0.5, 0.0, 0.6, 0.1, 0.4]), fpc="p", pps="overton")
    with pytest.raises(ib.MissingValueError, match="fpc column 'p' has 1 missing"):
        ib.Design(small().assign(p=[0.2, np.nan, 0.3, 0.6, 0.1, 0.4]), fpc="p", pps="brewer")


def test_probabilities_not_given():
    with pytest.raises(PPSError, match="needs the PSUs' inclusion probabilities"):
        ib.Design(small(), strata="h", pps="overton")
    with pytest.raises(PPSError, match="multistage"):
        ib.Design(small(), psu=["h", "psu"], probs="p", pps="brewer")


def test_probability_varies_within_psu():
    frame = small().assign(psu=[1, 1, 2, 3, 3, 4], h=1)
    with pytest.raises(PPSError, match="varies within a sampling unit"):
        ib.Design(frame, psu="psu", fpc="p", pps="brewer")


def test_probs_and_fpc_disagree():
    frame = small().assign(q=[0.2, 0.5, 0.3, 0.6, 0.1, 0.45])
    with pytest.raises(PPSError, match="give different inclusion probabilities at row 5"):
        ib.Design(frame, probs="q", fpc="p", pps="overton")


def test_joint_asymmetric():
    frame = small()
    pij = small_joint(frame)
    pij[0, 1] *= 0.5
    with pytest.raises(JointProbabilityError, match=r"not symmetric.*rows 0 and 1"):
        ib.Design(frame, fpc="p", pps=ib.ppsmat(pij))


def test_joint_diagonal_not_pi():
    frame = small()
    pij = small_joint(frame)
    pij[2, 2] = 0.35
    with pytest.raises(JointProbabilityError, match=r"does not match.*row 2 has 0\.35"):
        ib.Design(frame, fpc="p", pps=ib.ppsmat(pij))


def test_joint_above_first_order():
    frame = small()
    pij = small_joint(frame)
    pij[0, 4] = pij[4, 0] = 0.15
    with pytest.raises(JointProbabilityError,
                       match=r"exceeds a first-order.*0\.15 for rows 0 and 4"):
        ib.Design(frame, fpc="p", pps=ib.ppsmat(pij))


def test_joint_shape_and_values():
    frame = small()
    with pytest.raises(JointProbabilityError, match="square"):
        ib.ppsmat(np.ones((3, 4)))
    with pytest.raises(JointProbabilityError, match="5 x 5 matrix; the data have 6 rows"):
        ib.Design(frame, fpc="p", pps=ib.ppsmat(small_joint(frame)[:5, :5]))
    pij = small_joint(frame)
    pij[1, 3] = pij[3, 1] = np.nan
    with pytest.raises(JointProbabilityError, match="missing or infinite value at rows 1 and 3"):
        ib.Design(frame, fpc="p", pps=ib.ppsmat(pij))
    pij = small_joint(frame)
    pij[1, 3] = pij[3, 1] = 0.0
    with pytest.raises(JointProbabilityError, match="must be positive"):
        ib.Design(frame, fpc="p", pps=ib.ppsmat(pij))


def test_joint_too_large():
    n = int(MAX_JOINT_ENTRIES ** 0.5) + 1
    huge = np.broadcast_to(np.float64(0.5), (n, n))  # no memory behind it
    with pytest.raises(PPSSizeError, match=f"{n} x {n} matrix.*at most 25,000,000"):
        ib.ppsmat(huge)


def test_unsupported_combinations():
    frame = small()
    with pytest.raises(PPSError, match="only the variance='HT'"):
        ib.Design(frame, fpc="p", pps="brewer", variance="YG")
    with pytest.raises(PPSError, match="needs a pps design"):
        ib.Design(frame, probs="p", variance="YG")
    with pytest.raises(ib.DesignError, match="variance must be 'HT' or 'YG'"):
        ib.Design(frame, fpc="p", pps="overton", variance="ht")
    with pytest.raises(PPSError, match="one-stage designs"):
        ib.Design(frame, psu=["h", "psu"], fpc=["p", "p"], pps="overton")
    with pytest.raises(PPSError, match="give no psu column"):
        ib.Design(frame, psu="psu", fpc="p", pps=ib.ppsmat(small_joint(frame)))
    with pytest.raises(PPSError, match="pps must be 'brewer'"):
        ib.Design(frame, fpc="p", pps="sampford")
    with pytest.raises(PPSError, match="no value for stratum 2"):
        ib.Design(frame, strata="h", fpc="p", pps=ib.HR({"1": 0.1}))
    with pytest.raises(PPSError, match="replicate weights for a pps design"):
        ib.Design(frame, fpc="p", pps="brewer").replicate("jk1")
