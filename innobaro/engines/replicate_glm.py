"""Survey GLMs on replicate-weight designs over an engine: every replicate refitted.

As R's ``svyglm`` on a replicate design (and :func:`innobaro.glm`), the
coefficients' covariance is the replicate variance of the coefficients
:math:`\\hat\\beta_r` refitted under each replicate's weights:
:math:`\\hat V = c \\sum_r c_r (\\hat\\beta_r - \\bar\\beta)(\\hat\\beta_r - \\bar\\beta)^\\top`
(Wolter 2007, ch. 3-5; Lumley 2010, sec. 5.2). The fit:

1. the full sample, by the engine's IRLS (:mod:`innobaro.engines.glm`): one
   pass for the levels of categorical variables, one per iteration;
2. one pass for what each replicate's refit needs before it starts: the rows
   of positive replicate weight carrying each model column, and the Gram
   matrices of the 0/1 columns, which say (as
   :func:`innobaro._linalg.replicate_support`) in which replicates the model
   cannot be estimated (their coefficients are ``NaN``, left out of the
   variance as R's ``svrVar`` leaves them out), and each replicate's weight
   total (the scale of a coefficient's change for non-canonical links);
3. the refits, warm-started at the full-sample coefficients with the model's
   ``tol`` and ``max_iter`` and :func:`innobaro.glm`'s rule for each
   replicate (a replicate stops updating once converged): per IRLS iteration
   one pass for every replicate still active, the :math:`R \\times p(p+1)/2`
   sums of :math:`X^\\top W_r X` and the :math:`R \\times p` of
   :math:`X^\\top W_r z_r` (aggregates of one query in DuckDB, in blocks of
   replicates; the same numpy per partition on Dask, added up a tree).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .._linalg import weighted_gram
from .._validate import check_iterations
from ..design import ReplicateDesign
from ..errors import EngineError, EstimationError, UnsupportedDesignError, warn
from ..irls import Family, solve, solve_many
from ..models import Summary, make_family
from ..variance.replicates import replicate_vcov
from .glm import (
    EngineGLMResult,
    Plan,
    aliased_from_gram,
    check_first_pass,
    converged_step,
    drifting_step,
    encode_model,
    frame_masks,
    frame_model,
    irls_pass,
    kept_columns,
    model_levels,
    plan_model,
    rows_dropped,
    run_sql,
    sql_expr,
    sql_family,
    sql_literal,
    sql_masks,
    sql_quote,
    sql_weight,
    step_scale,
    warm_start,
)

__all__ = ["ReplicateGLMResult", "fit_replicate_glm"]

#: the families and links whose replicate refits run in DuckDB's SQL (the plain
#: engine fit takes every family; these are the ones the refits are tested on)
_SQL_FAMILIES = {("constant", "identity"), ("constant", "log"), ("mu(1-mu)", "logit"),
                 ("mu", "log")}
_SQL_NAMES = ("gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson")

#: aggregates of one DuckDB query at most (a block of replicates per query)
_MAX_AGGREGATES = 4000
_BUCKETS = 64
_DRIFT = 1e-9


class ReplicateGLMResult(EngineGLMResult):
    """A survey GLM on a replicate-weight design over an engine's rows.

    :class:`~innobaro.engines.glm.EngineGLMResult` with the replicate
    variance: ``replicates`` holds the (R, p) refitted coefficients (``NaN``
    where a replicate cannot estimate the model).
    """

    replicates: np.ndarray

    def summary(self, level: float = 0.95) -> Summary:
        """The summary table, as :meth:`EngineGLMResult.summary`.

        Parameters
        ----------
        level : float, default 0.95

        Returns
        -------
        Summary
        """
        out = super().summary(level)
        info = [(k, f"replicate weights ({self.engine} engine)" if k == "Variance" else v)
                for k, v in out.info]
        return Summary(info=info, table=out.table)


def fit_replicate_glm(source: Any, formula: str, *, family: Any, link: str | None,
                      weights: str | None, variance: str | None = None,
                      theta: float | None = None, replicates: Sequence[str], combined: bool,
                      template: ReplicateDesign, model_df: Any, n_rows: int,
                      weight_total: float, domain: str | None = None,
                      offset: str | None = None, tol: float = 1e-12,
                      max_iter: int = 100) -> ReplicateGLMResult:
    """Fit a survey GLM and refit it under every replicate's weights (see the module).

    Parameters
    ----------
    source : Source
        The engine's rows (DuckDB, Dask or pandas).
    formula : str
    family, link, variance, theta
        As for :func:`innobaro.glm`.
    weights : str or None
        The full-sample weight column.
    replicates : sequence of str
        The replicate weight columns.
    combined : bool
        Whether they are full weights (else multipliers of ``weights``).
    template : ReplicateDesign
        A design with the replicates' scale, ``rscales`` and ``mse`` (for
        :func:`~innobaro.variance.replicates.replicate_vcov`).
    model_df : callable
        ``model_df(domain)``: the design degrees of freedom among the rows of
        the domain (all rows without one), R's rank rule.
    n_rows, weight_total : int, float
        The design's rows and weight total (a source that changed is refused).
    domain, offset : str, optional
    tol, max_iter
        As for :func:`innobaro.glm`.

    Returns
    -------
    ReplicateGLMResult

    Notes
    -----
    IRLS :math:`\\beta_{r,t+1} = (X^\\top W_{r,t} X)^{-1} X^\\top W_{r,t} z_{r,t}` for
    every replicate :math:`r` at once from :math:`\\beta_{r,0} = \\hat\\beta`, one
    pass per iteration; :math:`\\hat V` the replicate variance of the
    :math:`\\hat\\beta_r` (Lumley 2010, sec. 5.2).
    """
    fam = make_family(family, link=link, variance=variance, theta=theta)
    check_iterations(max_iter, tol)
    if fam.needs_check:
        raise UnsupportedDesignError(
            f"glm on a {source.engine} design: the {fam.name} family with {fam.link_name} "
            f"link needs R's step-halving, not on the engines yet; fit it in memory")
    if source.engine == "duckdb" and (
            fam.name not in _SQL_NAMES or (fam.variance_name, fam.link_name)
            not in _SQL_FAMILIES):
        raise UnsupportedDesignError(
            f"glm on a duckdb design: the {fam.name} family with {fam.link_name} link is not "
            f"in SQL yet (gaussian with identity or log link, binomial and quasibinomial "
            f"with logit, poisson and quasipoisson with log are); a Dask design fits it")
    reps = list(replicates)
    # the first replicate column spreads DuckDB's rows over buckets of sums
    plan = plan_model(source, formula, fam, (), reps[0], weights, None, domain, offset)
    plan = encode_model(plan, formula, model_levels(source, plan), source.engine == "duckdb")
    assert plan.spec is not None
    full = _full_fit(source, plan, n_rows, tol, max_iter)
    plan, beta = full["plan"], full["beta"]
    keep = kept_columns(plan)
    # the rows of the design by membership (for the deviance's scale, rows
    # dropped and a changed source), the deviance and separation at beta
    counts = _memberships(source, plan)
    n, wsum = int(counts["n"].sum()), float(counts["w"].sum())
    if n != n_rows or abs(wsum - weight_total) > _DRIFT * abs(weight_total):
        raise EngineError(f"glm: the {source.engine} source changed since the design was "
                          f"built ({n_rows} rows with weight total {weight_total:.10g}, now "
                          f"{n} rows with {wsum:.10g}); build the design again")
    at = irls_pass(source, plan, beta, True)
    if not full["converged"] and not (at["ext"] and np.isfinite(beta).all()):
        raise EstimationError(
            f"the model did not converge in {max_iter} iterations (last relative change "
            f"of a coefficient {abs(full['change']):.3g}); check for separation, rescale "
            f"variables or raise max_iter")
    if at["ext"]:
        warn(f"perfect or quasi-complete separation: {at['ext']} row(s) have fitted "
             f"probabilities of 0 or 1; the coefficients and standard errors are not "
             f"meaningful. Collapse levels or drop the term driving them")
    refits = _Refits(source, plan, reps, weights, combined, int(full["nfit"]))
    B, passes = refits.run(beta, tol, max_iter)
    V = replicate_vcov(template, beta, B)
    p = beta.size
    df_resid = float(model_df(domain)) + 1 - p
    flag = counts["flag"].to_numpy()
    present = flag >= 1
    w_scale = float(counts["w"].to_numpy()[present].sum()) / float(
        counts["n"].to_numpy()[present].sum())
    out = ReplicateGLMResult(formula=formula, spec=plan.spec, family=fam, keep=keep,
                             beta=beta, vcov=V, df_resid=df_resid, nobs=int(full["nfit"]),
                             n_dropped=int(counts["n"].to_numpy()[flag == 1].sum()),
                             iterations=int(full["iterations"]),
                             deviance=float(at["dev"]) / w_scale, engine=source.engine,
                             converged=bool(full["converged"]),
                             passes=int(full["passes"]) + 2 + passes)
    coef = np.full((B.shape[0], keep.size), np.nan)
    coef[:, keep] = B
    out.replicates = coef
    return out


def _full_fit(source: Any, plan: Plan, n_rows: int, tol: float, max_iter: int
              ) -> dict[str, Any]:
    """The full-sample IRLS of :func:`innobaro.engines.glm.fit_glm`: from a sample's
    fit above 200,000 rows (else R's starting means), one pass per iteration,
    the checks of the first pass and the aliased columns from its Gram matrix."""
    fam = plan.fam
    assert plan.spec is not None
    passes = 1 + (1 if plan.categorical else 0)
    beta = warm_start(source, plan, n_rows, max_iter)
    passes += 0 if beta is None else 1
    ps = irls_pass(source, plan, beta, False, checks=True)
    if ps["nfit"] == 0:
        dropped = rows_dropped(source, plan)
        raise EstimationError("no row with positive weight and complete values in the "
                              "model" + (f" ({dropped} row(s) miss a value)" if dropped
                                         else ""))
    check_first_pass(ps, plan)
    nfit = int(ps["nfit"])
    mean_w = ps["swfit"] / nfit
    alias = aliased_from_gram(ps["G"])
    if alias.any():
        cols = [plan.spec.column_names[j] for j in np.flatnonzero(alias)]
        warn(f"model column(s) {', '.join(map(repr, cols))} are aliased: all zero among the "
             f"rows of the fit (a level without rows) or linear combinations of the columns "
             f"before them; their coefficients are NaN")
        if alias.all():
            raise EstimationError("every column of the model is zero among the rows of the "
                                  "fit; nothing can be estimated")
        plan = replace(plan, keep=~alias)
        beta = None
        ps = irls_pass(source, plan, None, False)
        passes += 1
    prev = dev_old = change = np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # IRLS iterations, one pass each
        if it > 1:
            ps = irls_pass(source, plan, beta, it >= 7)
            passes += 1
        new = solve(ps["G"], ps["rhs"])
        worst = np.inf if beta is None else float(np.max(
            np.abs(new - beta) / (step_scale(fam, ps["G"], mean_w) + np.abs(new))))
        first = beta is None
        beta = new
        change = worst
        flat = it >= 8 and abs(ps["dev"] - dev_old) <= 1e-15 * (abs(ps["dev"]) + 0.1) \
            and drifting_step(worst, prev, tol, fam.separable)
        dev_old = ps["dev"]
        # DuckDB's sums round in the 14th digit: a step below sqrt(tol) that no
        # longer shrinks is at that floor
        stalled = worst >= prev and worst < np.sqrt(tol)
        done = converged_step(worst, prev, tol, fam.newton)
        prev = worst
        if not first and (done or flat or stalled):
            converged = True
            break
    return {"plan": plan, "beta": beta, "iterations": it, "converged": converged,
            "change": change, "passes": passes, "nfit": nfit}


# ----------------------------------------------------------------------------
# the passes of the refits
# ----------------------------------------------------------------------------
def _memberships(source: Any, plan: Plan) -> pd.DataFrame:
    """Rows and weight total per membership: 0 outside the domain, 1 in it but
    incomplete in the model's variables, 2 in the fit's rows or zero weight."""
    if source.engine == "duckdb":
        present, complete, _ = sql_masks(plan)
        return run_sql(source, f"SELECT (CASE WHEN NOT ({present}) THEN 0 WHEN ({complete}) "
                               f"THEN 2 ELSE 1 END) AS flag, count(*) AS n, "
                               f"sum({sql_weight(plan)}) AS w FROM __ib_src GROUP BY ALL")
    got = _tree(source, plan, [], _frame_memberships)
    return pd.DataFrame({"flag": [0, 1, 2], "n": got["n"], "w": got["w"]})


def _frame_memberships(frame: pd.DataFrame, plan: Plan, reps: list[str]) -> dict[str, Any]:
    w, present, complete, _ = frame_masks(frame, plan)
    flag = np.where(present, np.where(complete, 2, 1), 0)
    return {"n": np.bincount(flag, minlength=3).astype(float),
            "w": np.bincount(flag, weights=np.nan_to_num(w), minlength=3)}


def _tree(source: Any, plan: Plan, reps: list[str], fn: Any, *args: Any) -> dict[str, Any]:
    """``fn(frame, plan, reps, *args)`` over the frame (pandas) or each partition,
    its arrays added up a tree (Dask)."""
    used = list(dict.fromkeys([*plan.columns, *reps, *(c for c in (plan.weights, plan.domain)
                                                       if c is not None)]))
    if source.engine == "pandas":
        return fn(source.frame[used], plan, reps, *args)  # type: ignore[no-any-return]
    import dask

    level = [dask.delayed(fn)(part, plan, reps, *args)
             for part in source.frame[used].to_delayed()]
    k = source.split_every
    while len(level) > 1:
        level = [dask.delayed(_add)(level[i:i + k]) for i in range(0, len(level), k)]
    from .dask_engine import compute

    (out,) = compute(level[0], what="replicate glm")
    return out  # type: ignore[no-any-return]


def _add(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {name: sum((p[name] for p in parts[1:]), parts[0][name]) for name in parts[0]}


def _replicate_rows(frame: pd.DataFrame, plan: Plan, reps: list[str], combined: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The fit's model matrix, response, offset and (n, k) replicate weights."""
    w, _, _, fit = frame_masks(frame, plan)
    X, y, off = frame_model(frame, plan, fit)
    Wr = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan)[fit]
                          for c in reps]) if reps else np.empty((int(fit.sum()), 0))
    if not combined and plan.weights is not None:
        Wr = Wr * w[fit][:, None]
    return X, y, off, Wr


def _frame_support(frame: pd.DataFrame, plan: Plan, reps: list[str], combined: bool
                   ) -> dict[str, Any]:
    """Per partition: each replicate's weight total, rows carrying each column and
    Gram matrix of the columns; each column's zeros and values other than 0, 1."""
    X, _, _, Wr = _replicate_rows(frame, plan, reps, combined)
    return {"sw": Wr.sum(axis=0), "count": (Wr > 0).T.astype(float) @ (X != 0),
            "gram": weighted_gram(np.asfortranarray(X), Wr) if len(X) else
            np.zeros((Wr.shape[1], X.shape[1], X.shape[1])),
            "zeros": (X == 0).sum(axis=0).astype(float),
            "other": ((X != 0) & (X != 1)).sum(axis=0).astype(float)}


def _frame_step(frame: pd.DataFrame, plan: Plan, reps: list[str], combined: bool,
                B: np.ndarray, deviance: bool, extreme: bool) -> dict[str, Any]:
    """Per partition: every replicate's IRLS sums at its coefficients ``B`` (p, k)."""
    X, y, off, Wr = _replicate_rows(frame, plan, reps, combined)
    fam = plan.fam
    k = B.shape[1]
    if not len(X):
        p = X.shape[1]
        return {"G": np.zeros((k, p, p)), "rhs": np.zeros((p, k)), "dev": np.zeros(k),
                "ext": np.zeros(k)}
    eta = X @ B
    if off is not None:
        eta = eta + off[:, None]
    mu = fam.inverse_link(eta)
    h, g = fam.working(eta, mu)
    ww = Wr * h
    score = Wr * (y[:, None] - mu)
    if g is not None:
        score *= g
    out = {"G": weighted_gram(np.asfortranarray(X), ww),
           "rhs": X.T @ (ww * (eta if off is None else eta - off[:, None]) + score),
           "dev": (Wr * fam.deviance_residuals(y[:, None], mu)).sum(axis=0) if deviance
           else np.zeros(k), "ext": np.zeros(k)}
    if extreme:
        out["ext"] = _extreme(fam, eta, mu).sum(axis=0).astype(float)
    return out


def _extreme(fam: Family, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Rows with fitted probabilities within 1e-8 of 0 or 1 (as the in-memory refits)."""
    if fam.link_name == "logit":
        from scipy import special

        return np.abs(eta) > float(special.logit(1 - 1e-8))  # type: ignore[no-any-return]
    return (mu < 1e-8) | (mu > 1 - 1e-8)  # type: ignore[no-any-return]


def _named(expr: str, i: int) -> str:
    """A family's SQL over ``eta``, ``mu``, ``d``, ``v`` for replicate ``i``'s columns."""
    return re.sub(r"\b(eta|mu|d|v)\b", lambda m: f"{m.group(1)}_{i}", expr)


class _Refits:
    """Every replicate's IRLS over the engine, warm-started at the full sample."""

    def __init__(self, source: Any, plan: Plan, reps: list[str], weights: str | None,
                 combined: bool, nfit: int) -> None:
        self.source, self.plan, self.reps = source, plan, reps
        self.combined = combined or weights is None
        self.nfit = nfit
        self.passes = 0

    # -------------------------------------------------------------- SQL
    def _base_sql(self, idx: np.ndarray) -> tuple[str, int]:
        plan = self.plan
        xs = [x for x, k in zip(plan.sql_x, kept_columns(plan), strict=True) if k]
        _, _, fit = sql_masks(plan)
        off = sql_expr(plan.offset) if plan.offset is not None else "0.0"
        cols = [f"{x} AS x{j}" for j, x in enumerate(xs)]
        cols += [f"{sql_expr(plan.response)} AS y", f"{sql_weight(plan)} AS w",
                 f"{off} AS off"]
        for i, r in enumerate(idx):  # over the block's replicates
            f = f"CAST({sql_quote(self.reps[r])} AS DOUBLE)"
            cols.append(f"{f if self.combined else f'({f} * {sql_weight(plan)})'} AS rw{i}")
        cols.append(f"hash({sql_quote(self.reps[0])}, {sql_expr(plan.response)}) "
                    f"% {_BUCKETS} AS bucket")
        return f"SELECT {', '.join(cols)} FROM __ib_src WHERE {fit}", len(xs)

    def _blocks(self, idx: np.ndarray, per: int) -> list[np.ndarray]:
        size = max(1, _MAX_AGGREGATES // max(per, 1))
        return [idx[a:a + size] for a in range(0, idx.size, size)]

    def _sql_sums(self, sql: str, names: list[str]) -> np.ndarray:
        """The sums of one query, per bucket in DuckDB and added in numpy in the
        buckets' order (numpy arrays: a frame of thousands of columns is slow)."""
        from .duckdb_engine import run_query

        try:
            got = run_query(lambda: self.source.relation.query("__ib_src", sql).fetchnumpy(),
                            "replicate glm")
        except EngineError:
            raise
        except Exception as exc:  # duckdb's errors: a bad value, a missing function
            raise EngineError(f"glm: the DuckDB query failed: {str(exc).splitlines()[0]}"
                              ) from None
        self.passes += 1
        order = np.argsort(np.asarray(got["bucket"]), kind="stable")
        return np.array([np.sum(np.ma.filled(np.ma.asarray(got[c], dtype=float), 0.0)[order])
                         for c in names])  # a NULL sum (no value) as 0

    # ------------------------------------------------------------ passes
    def support(self) -> dict[str, Any]:
        """Each replicate's weight total, rows carrying each column, Gram matrix."""
        R = len(self.reps)
        idx = np.arange(R)
        if self.source.engine != "duckdb":
            self.passes += 1
            return _tree(self.source, self.plan, self.reps, _frame_support, self.combined)
        p = int(kept_columns(self.plan).sum())
        pairs = [(j, m) for j in range(p) for m in range(j, p)]
        out: dict[str, Any] = {"sw": np.zeros(R), "count": np.zeros((R, p)),
                               "gram": np.zeros((R, p, p))}
        for block in self._blocks(idx, 1 + p + len(pairs)):  # over blocks of replicates
            base, _ = self._base_sql(block)
            sel = []
            for i in range(block.size):  # over the block's replicates
                sel.append(f"sum(rw{i}) AS s{i}")
                sel += [f"count_if(rw{i} > 0 AND x{j} <> 0) AS c{i}_{j}" for j in range(p)]
                sel += [f"sum(rw{i} * x{j} * x{m}) AS q{i}_{j}_{m}" for j, m in pairs]
            sel += [f"count_if(x{j} = 0) AS z{j}" for j in range(p)]
            sel += [f"count_if(x{j} <> 0 AND x{j} <> 1) AS o{j}" for j in range(p)]
            names = [n.rsplit(" AS ", 1)[1] for n in sel]
            v = dict(zip(names, self._sql_sums(f"WITH a AS ({base}) SELECT bucket, "
                                               f"{', '.join(sel)} FROM a GROUP BY ALL",
                                               names), strict=True))
            for i, r in enumerate(block):  # over the block's replicates
                out["sw"][r] = v[f"s{i}"]
                out["count"][r] = [v[f"c{i}_{j}"] for j in range(p)]
                for j, m in pairs:
                    out["gram"][r, j, m] = out["gram"][r, m, j] = v[f"q{i}_{j}_{m}"]
            out["zeros"] = np.array([v[f"z{j}"] for j in range(p)])
            out["other"] = np.array([v[f"o{j}"] for j in range(p)])
        return out

    def step(self, idx: np.ndarray, B: np.ndarray, deviance: bool, extreme: bool = False
             ) -> dict[str, Any]:
        """The IRLS sums of replicates ``idx`` at their coefficients ``B`` (p, k)."""
        if self.source.engine != "duckdb":
            self.passes += 1
            return _tree(self.source, self.plan, [self.reps[r] for r in idx], _frame_step,
                         self.combined, B, deviance, extreme)
        fam = sql_family(self.plan.fam)
        p, k = B.shape
        pairs = [(j, m) for j in range(p) for m in range(j, p)]
        out: dict[str, Any] = {"G": np.zeros((k, p, p)), "rhs": np.zeros((p, k)),
                               "dev": np.zeros(k), "ext": np.zeros(k)}
        if extreme:  # the fitted values only: rows at 0 or 1 per replicate
            for pos in self._blocks(np.arange(k), 1):  # over blocks
                base, _ = self._base_sql(idx[pos])
                etas = ", ".join(" + ".join(f"{sql_literal(float(B[j, c]))} * x{j}"
                                           for j in range(p)) + f" + off AS eta_{i}"
                                for i, c in enumerate(pos))
                mus = ", ".join(_named(fam["mu"], i) + f" AS mu_{i}" for i in range(pos.size))
                sel = [f"count_if({_named(fam['extreme'], i)}) AS ext{i}"
                       for i in range(pos.size)]
                got = self._sql_sums(
                    f"WITH a AS ({base}), b AS (SELECT *, {etas} FROM a), c AS (SELECT *, "
                    f"{mus} FROM b) SELECT bucket, {', '.join(sel)} FROM c GROUP BY ALL",
                    [f"ext{i}" for i in range(pos.size)])
                out["ext"][pos] = got
            return out
        for pos in self._blocks(np.arange(k), len(pairs) + p + 2):  # over blocks
            base, _ = self._base_sql(idx[pos])
            n = pos.size
            eta = [" + ".join(f"{sql_literal(float(B[j, c]))} * x{j}" for j in range(p))
                   + " + off" for c in pos]
            # the products of the model's columns once, for every replicate's Gram
            xx = ", ".join(f"x{j} * x{m} AS xx{j}_{m}" for j, m in pairs)
            ctes = (f"WITH a0 AS ({base}), a AS (SELECT *, {xx} FROM a0), "
                    f"b AS (SELECT *, {', '.join(f'{e} AS eta_{i}' for i, e in enumerate(eta))}"
                    f" FROM a), "
                    f"c AS (SELECT *, {', '.join(_named(fam['mu'], i) + f' AS mu_{i}' for i in range(n))} FROM b), "  # noqa: E501
                    f"d AS (SELECT *, {', '.join(_named(fam['d'], i) + f' AS d_{i}, ' + _named(fam['v'], i) + f' AS v_{i}' for i in range(n))} FROM c), "  # noqa: E501
                    f"e AS (SELECT *, {', '.join(f'rw{i} * (d_{i} * (d_{i} / v_{i})) AS ww_{i}, rw{i} * (y - mu_{i}) * (d_{i} / v_{i}) AS r_{i}' for i in range(n))} FROM d), "  # noqa: E501
                    f"f AS (SELECT *, {', '.join(f'ww_{i} * (eta_{i} - off) + r_{i} AS zz_{i}' for i in range(n))} FROM e) ")  # noqa: E501
            sel = []
            for i in range(n):  # over the block's replicates
                sel += [f"sum(ww_{i} * xx{j}_{m}) AS g{i}_{j}_{m}" for j, m in pairs]
                sel += [f"sum(x{j} * zz_{i}) AS b{i}_{j}" for j in range(p)]
                sel.append(f"sum(rw{i} * {_named(fam['dev'], i)}) AS dev{i}" if deviance
                           else f"0.0 AS dev{i}")
                sel.append(f"count_if({_named(fam['extreme'], i)}) AS ext{i}" if extreme
                           else f"0 AS ext{i}")
            names = [n_.rsplit(" AS ", 1)[1] for n_ in sel]
            v = dict(zip(names, self._sql_sums(
                ctes + f"SELECT bucket, {', '.join(sel)} FROM f GROUP BY ALL", names),
                strict=True))
            for i, c in enumerate(pos):  # over the block's replicates
                for j, m in pairs:
                    out["G"][c, j, m] = out["G"][c, m, j] = v[f"g{i}_{j}_{m}"]
                out["rhs"][:, c] = [v[f"b{i}_{j}"] for j in range(p)]
                out["dev"][c] = v[f"dev{i}"]
                out["ext"][c] = v[f"ext{i}"]
        return out

    # --------------------------------------------------------------- IRLS
    def run(self, beta: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
        """(R, p) refitted coefficients (``NaN`` rows: replicates that cannot estimate
        the model) and the passes taken."""
        fam = self.plan.fam
        R, p = len(self.reps), beta.size
        sup = self.support()
        lost = np.zeros(R, dtype=bool)
        sparse = np.flatnonzero(sup["zeros"] > 0)
        if sparse.size:  # a column without a row of positive weight
            lost = (sup["count"][:, sparse] == 0).any(axis=1)
        binary = np.flatnonzero(sup["other"] == 0)
        ok = np.flatnonzero(~lost)
        if binary.size > 1 and ok.size:  # 0/1 columns dependent among a replicate's rows
            G = sup["gram"][np.ix_(ok, binary, binary)]
            d = np.sqrt(np.einsum("rii->ri", G))
            with np.errstate(divide="ignore", invalid="ignore"):
                S = G / (d[:, :, None] * d[:, None, :])
            lost[ok] = ~(np.linalg.eigvalsh(np.nan_to_num(S))[:, 0] > 1e-12)
        mean_w = sup["sw"] / self.nfit
        B = np.repeat(beta[:, None], R, axis=1)
        active = ~lost
        prev = np.full(R, np.inf)
        dev_old = np.full(R, np.inf)
        for it in range(1, max_iter + 1):  # IRLS iterations, one pass each
            idx = np.flatnonzero(active)
            if not idx.size:
                break
            ps = self.step(idx, B[:, idx], it >= 7)
            new = solve_many(ps["G"], ps["rhs"])
            if fam.newton and fam.link_name in ("identity", "logit", "log"):
                scale: Any = 1.0
            else:
                scale = np.column_stack([step_scale(fam, ps["G"][c], float(mean_w[r]))
                                         for c, r in enumerate(idx)])
            worst = (np.abs(new - B[:, idx]) / (scale + np.abs(new))).max(axis=0)
            B[:, idx] = new
            dev = ps["dev"]
            flat = np.zeros(idx.size, dtype=bool)
            if it >= 8:
                noise = (worst >= prev[idx]) & (worst < 1e3 * tol)
                drift = (worst > 1e-6) | noise if fam.separable else noise
                flat = (np.abs(dev - dev_old[idx]) <= 1e-15 * (np.abs(dev) + 0.1)) & drift
            dev_old[idx] = dev
            stalled = (worst >= prev[idx]) & (worst < np.sqrt(tol))
            done = worst < tol
            if fam.newton:
                done |= (worst < 0.1 * np.sqrt(tol)) & (worst <= 10 * prev[idx] ** 2)
            prev[idx] = worst
            active[idx[done | flat | stalled]] = False
        failed = bool(active.any())
        separated = 0
        if fam.is_binomial and (~lost).any():
            idx = np.flatnonzero(~lost)
            separated = int((self.step(idx, B[:, idx], False, extreme=True)["ext"] > 0).sum())
        problems = []
        if separated:
            problems.append(f"{separated} of {R} replicate fits have fitted probabilities of "
                            f"0 or 1 (separation within those replicates)")
        if failed:
            problems.append(f"some replicate fits did not converge in {max_iter} iterations")
        if problems:
            warn("; ".join(problems) + ". Their coefficients are arbitrary, so the "
                 "replicate variance is not reliable: collapse sparse levels or use a "
                 "linearisation design")
        out = B.T.copy()
        out[lost] = np.nan
        del p
        return out, self.passes
