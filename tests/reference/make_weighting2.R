## Reference numbers for innobaro's richer weighting: calibrate() with a
## heteroscedastic variance, per-unit bounds, bounds on the weights
## (bounds.const), the sinh distance and cluster-level calibration
## (aggregate.stage / aggregate.index); response-propensity adjustment
## (computed by hand from svyglm's fitted propensities); and the collapsing of
## sparse nonresponse cells with survey's sparseCells()/neighbours()/joinCells().
##
## Run from the repository root (after make_reference.R has written the data):
##     Rscript tests/reference/make_weighting2.R
##
## Writes
##   tests/reference/weighting2.json   one entry per case: data, design, the
##                                     weighting call, R's final weights and
##                                     estimates after weighting with SEs
##
## Three kinds of case:
##   calibrate   R's calibrate() itself, on linearisation designs and on their
##               JK1 replicate designs (as.svrepdesign), followed by svymean and
##               svytotal of api00 and svymean of ell. Replicate designs are
##               as.svrepdesign(type = "JK1") of the cluster samples and
##               type = "JKn" of the stratified one.
##   propensity  survey has no propensity adjustment: the script fits R's
##               svyglm(family = quasibinomial()) of the response indicator,
##               divides the respondents' weights by the fitted propensity (or
##               by the class factor in propensity quintiles: the weighted
##               response rate, or the base-weighted mean propensity of all
##               units in the class) and gives nonrespondents weight zero. On a
##               jackknife design every replicate refits the model with its weights
##               (glm(weights = replicate weights)). The SEs treat the adjusted
##               weights as design weights (design$prob replaced).
##   collapse    the cells of a nonresponse() object are collapsed by
##               innobaro's rule, carried out with survey's own functions: while
##               sparseCells(count = k, nrweight = f) flags a cell, take the
##               first flagged cell (R's array order, the first classing
##               variable fastest), find its neighbours() and joinCells() it with
##               the neighbour whose weighted response rate is closest (the first
##               on a tie). The final adjustment factors are weights(object).
##               survey 4.1's sparseCells() and 4.5's are the same.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_weighting2.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261204)
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE)
t_start <- Sys.time()

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2"),
               read_data)
data(api, package = "survey")
POP <- list(N = nrow(apipop), E = sum(apipop$stype == "E"), H = sum(apipop$stype == "H"),
            M = sum(apipop$stype == "M"), api99 = sum(apipop$api99),
            api99sq = sum(apipop$api99^2))
stopifnot(POP$N == 6194, POP$api99 == 3914069)

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
SPECS <- list(apistrat = S_STRAT, apiclus1 = S_CLUS1, apiclus2 = S_CLUS2)

design_json <- function(spec, replicate) {
  d <- list(weights = spec$weights, strata = json_cols(spec$strata),
            psu = json_cols(spec$psu), fpc = json_cols(spec$fpc))
  if (replicate) d$replicate <- list(method = rep_type(spec), mse = FALSE)
  d
}

## jackknife replicates: JK1 for the cluster samples, JKn for the stratified one
rep_type <- function(spec) if (is.null(spec$strata)) "jk1" else "jkn"
to_rep <- function(des, spec) {
  as.svrepdesign(des, type = if (rep_type(spec) == "jk1") "JK1" else "JKn", mse = FALSE)
}

make_design <- function(data, replicate) {
  des <- build_design(DATA[[data]], SPECS[[data]])
  if (replicate) des <- to_rep(des, SPECS[[data]])
  des
}

## estimates after weighting: mean and total of api00, mean of ell
estimates <- function(des) {
  one <- function(x) list(estimate = unname(coef(x)), se = as.numeric(SE(x)))
  list(mean_api00 = one(svymean(~api00, des)), total_api00 = one(svytotal(~api00, des)),
       mean_ell = one(svymean(~ell, des)))
}

CASES <- list()
add <- function(case) {
  stopifnot(!case$id %in% vapply(CASES, function(c) c$id, ""))
  CASES[[length(CASES) + 1]] <<- case
}

## ---------------------------------------------------------------------------
## 1. calibrate()
## ---------------------------------------------------------------------------
## args: formula, population (named), calfun, bounds (list of lower/upper,
## scalars or per-row vectors), bounds.const, variance (a column), aggregate
## (stage for linearisation designs, column for replicate designs)
cal_case <- function(id, data, replicate, formula, population, calfun = "linear",
                     lower = -Inf, upper = Inf, bounds_const = FALSE, variance = NULL,
                     aggregate = NULL) {
  des <- make_design(data, replicate)
  df <- DATA[[data]]
  sigma2 <- if (is.null(variance)) NULL else df[[variance]]
  bounds <- list(lower = lower, upper = upper)
  fml <- as.formula(formula)
  cf <- if (calfun == "sinh") cal.sinh else calfun  # R 4.1 takes sinh as an object only
  cal <- if (replicate) {
    calibrate(des, fml, population = population, calfun = cf, bounds = bounds,
              bounds.const = bounds_const, variance = sigma2,
              aggregate.index = if (is.null(aggregate)) NULL else df[[aggregate]])
  } else {
    calibrate(des, fml, population = population, calfun = cf, bounds = bounds,
              bounds.const = bounds_const, variance = sigma2, aggregate.stage = aggregate)
  }
  w <- weights(cal, "sampling")
  ## the totals are met (with aggregation only where the weights are constant
  ## within the clusters, as they are in these cases)
  mm <- model.matrix(fml, model.frame(fml, df))
  stopifnot(max(abs(colSums(mm * w) - population) / (1 + abs(population))) < 1e-6)
  jb <- function(b) if (length(b) == 1) (if (is.finite(b)) b else NULL) else I(unname(b))
  add(list(id = id, kind = "calibrate", data = data, design = design_json(SPECS[[data]], replicate),
           formula = formula, totals = as.list(population), method = calfun,
           lower = jb(lower), upper = jb(upper), bounds_const = bounds_const,
           variance = variance,
           aggregate_stage = if (!replicate) aggregate else NULL,
           aggregate_index = if (replicate) aggregate else NULL,
           weights = I(unname(w)), estimates = estimates(cal)))
}

POP_STYPE_API <- c("(Intercept)" = POP$N, stypeH = POP$H, stypeM = POP$M, api99 = POP$api99)
POP_API <- c("(Intercept)" = POP$N, api99 = POP$api99)
strat <- DATA$apistrat
per_unit_lo <- ifelse(strat$stype == "E", 0.85, 0.7)
per_unit_hi <- ifelse(strat$stype == "H", 1.6, 1.35)
clus1 <- DATA$apiclus1
clus1_lo <- ifelse(clus1$stype == "E", 0.5, 0.3)
clus1_hi <- ifelse(clus1$stype == "M", 3, 2.2)

for (rep in c(FALSE, TRUE)) {
  tag <- if (rep) "jk1" else "lin"
  ## heteroscedastic variance, linear distance (GREG): ratio-type model in api99
  cal_case(paste0("strat_", tag, "_linear_variance"), "apistrat", rep, "~stype + api99",
           POP_STYPE_API, variance = "api99")
  cal_case(paste0("clus1_", tag, "_ratio_variance"), "apiclus1", rep, "~api99 - 1",
           c(api99 = POP$api99), variance = "api99")
  ## variance with a bounded distance (R's grake path)
  cal_case(paste0("strat_", tag, "_raking_variance"), "apistrat", rep, "~stype + api99",
           POP_STYPE_API, calfun = "raking", variance = "enroll")
  ## per-unit bounds
  cal_case(paste0("strat_", tag, "_linear_unit_bounds"), "apistrat", rep, "~stype + api99",
           POP_STYPE_API, lower = per_unit_lo, upper = per_unit_hi)
  cal_case(paste0("clus1_", tag, "_logit_unit_bounds"), "apiclus1", rep, "~api99",
           POP_API, calfun = "logit", lower = clus1_lo, upper = clus1_hi)
  ## sinh distance
  cal_case(paste0("strat_", tag, "_sinh"), "apistrat", rep, "~stype + api99",
           POP_STYPE_API, calfun = "sinh", lower = 0.5, upper = 2)
  cal_case(paste0("clus1_", tag, "_sinh_variance"), "apiclus1", rep, "~api99",
           POP_API, calfun = "sinh", lower = 0.4, upper = 3, variance = "enroll")
}
## bounds on the weights (bounds.const; R 4.1 ignores it for replicate designs)
cal_case("strat_lin_linear_bounds_const", "apistrat", FALSE, "~stype + api99",
         POP_STYPE_API, lower = 12, upper = 46, bounds_const = TRUE)
cal_case("strat_lin_raking_bounds_const", "apistrat", FALSE, "~stype + api99",
         POP_STYPE_API, calfun = "raking", lower = 12, upper = 46, bounds_const = TRUE)
## cluster-level calibration: one g-weight per district of apiclus2 (the
## weights are constant within districts)
stopifnot(all(tapply(DATA$apiclus2$pw, DATA$apiclus2$dnum, function(x) diff(range(x))) == 0))
cal_case("clus2_lin_linear_aggregate", "apiclus2", FALSE, "~api99", POP_API, aggregate = 1)
cal_case("clus2_lin_linear_aggregate_variance", "apiclus2", FALSE, "~api99", POP_API,
         aggregate = 1, variance = "api.stu")
cal_case("clus2_lin_raking_aggregate", "apiclus2", FALSE, "~api99", POP_API,
         calfun = "raking", aggregate = 1)
cal_case("clus2_lin_logit_aggregate", "apiclus2", FALSE, "~api99", POP_API,
         calfun = "logit", lower = 0.5, upper = 2.5, aggregate = 1)
cal_case("clus2_jk1_linear_aggregate", "apiclus2", TRUE, "~api99", POP_API,
         aggregate = "dnum")
cal_case("clus2_jk1_linear_aggregate_variance", "apiclus2", TRUE, "~api99", POP_API,
         aggregate = "dnum", variance = "api.stu")
cal_case("clus2_jk1_raking_aggregate", "apiclus2", TRUE, "~api99", POP_API,
         calfun = "raking", aggregate = "dnum")

## ---------------------------------------------------------------------------
## 2. Response-propensity adjustment (by hand from svyglm's propensities)
## ---------------------------------------------------------------------------
## A response indicator that depends on api99 and school type, drawn once.
resp_strat <- rbinom(nrow(strat), 1, plogis(-2 + 0.004 * strat$api99 +
                                            0.5 * (strat$stype == "H")))
resp_clus1 <- rbinom(nrow(clus1), 1, plogis(-1.5 + 0.003 * clus1$api99))
RESP <- list(apistrat = resp_strat, apiclus1 = resp_clus1)

class_factors <- function(p, w, resp, cls, how) {
  if (how == "rate") {
    f <- tapply(w, cls, sum) / tapply(w * resp, cls, sum)
  } else {
    f <- 1 / (tapply(w * p, cls, sum) / tapply(w, cls, sum))
  }
  unname(f[as.integer(cls)])
}

prop_case <- function(id, data, replicate, formula, method, n_classes = 5, how = "rate") {
  df <- DATA[[data]]
  df$resp <- RESP[[data]]
  spec <- SPECS[[data]]
  des <- build_design(df, spec)
  fml <- update(as.formula(formula), resp ~ .)
  fit <- svyglm(fml, des, family = quasibinomial())
  p <- unname(fitted(fit))
  w <- weights(des)
  cls <- NULL
  if (method == "inverse") {
    neww <- ifelse(df$resp == 1, w / p, 0)
  } else {
    cuts <- quantile(p, seq(0, 1, length.out = n_classes + 1), type = 7)
    cls <- cut(p, cuts, include.lowest = TRUE, labels = FALSE)
    neww <- ifelse(df$resp == 1, w * class_factors(p, w, df$resp, factor(cls), how), 0)
  }
  if (!replicate) {
    new <- des
    new$prob <- 1 / neww
    est <- estimates(new)
  } else {
    rd <- to_rep(des, spec)
    R <- weights(rd, "analysis")  # full replicate weights
    X <- model.matrix(fml, df)
    newR <- R
    for (r in seq_len(ncol(R))) {
      fr <- suppressWarnings(glm.fit(X, df$resp, weights = R[, r], family = quasibinomial()))
      pr <- drop(plogis(X %*% fr$coefficients))
      newR[, r] <- if (method == "inverse") {
        ifelse(df$resp == 1, R[, r] / pr, 0)
      } else {
        ifelse(df$resp == 1, R[, r] * class_factors(pr, R[, r], df$resp, factor(cls), how), 0)
      }
    }
    rd$pweights <- neww
    rd$repweights <- newR
    rd$combined.weights <- TRUE
    ## survey 4.1's svytotal indexes the combined weights' pw = 1 by selfrep
    ## (NA replicates); no replicate is self-representing here
    stopifnot(!any(rd$selfrep))
    rd$selfrep <- NULL
    est <- estimates(rd)
  }
  add(list(id = id, kind = "propensity", data = data,
           design = design_json(spec, replicate), formula = formula,
           respondent = I(as.integer(df$resp)), method = method, n_classes = n_classes,
           class_factor = how, propensity = I(p),
           classes = if (is.null(cls)) NULL else I(as.integer(cls)),
           weights = I(unname(neww)), estimates = est))
}

for (rep in c(FALSE, TRUE)) {
  tag <- if (rep) "jk1" else "lin"
  prop_case(paste0("strat_", tag, "_propensity_inverse"), "apistrat", rep, "~api99 + stype",
            "inverse")
  prop_case(paste0("strat_", tag, "_propensity_classes_mean"), "apistrat", rep,
            "~api99 + stype", "classes", how = "mean")
  prop_case(paste0("clus1_", tag, "_propensity_inverse"), "apiclus1", rep, "~api99",
            "inverse")
  prop_case(paste0("clus1_", tag, "_propensity_classes_rate"), "apiclus1", rep, "~api99",
            "classes", n_classes = 4, how = "rate")
}

## ---------------------------------------------------------------------------
## 3. Collapsing sparse nonresponse cells
## ---------------------------------------------------------------------------
collapse_case <- function(id, min_respondents, max_factor, max_weight = Inf) {
  df <- strat
  df$band <- cut(df$api99, quantile(df$api99, 0:4 / 4), include.lowest = TRUE,
                 labels = c("b1", "b2", "b3", "b4"))
  ## response that is poor in some cells
  df$resp <- as.integer(rbinom(nrow(df), 1, plogis(3.4 - 1.0 * as.integer(df$band) +
                                                   0.6 * (df$stype == "E"))) == 1)
  w <- df$pw
  cells <- list(band = df$band, stype = df$stype)
  full <- tapply(w, cells, sum)
  rw <- tapply(w * df$resp, cells, sum)
  rn <- tapply(df$resp, cells, sum)
  stopifnot(!anyNA(full))  # every cell of the grid has sampled units
  rw[is.na(rw)] <- 0
  obj <- nonresponse(rw, rn, full)
  joins <- list()
  repeat {
    sc <- sparseCells(obj, count = min_respondents, nrweight = max_factor,
                      totalweight = max_weight)
    if (is.null(sc)) break
    first <- sc$index[1]
    nb <- neighbours(first, obj)
    groups <- sort(unique(nb$index))
    if (length(groups) == 0) stop("a flagged cell has no neighbour")
    rate_of <- function(g) {
      members <- which(obj$index == g)
      sum(obj$weights[members]) / sum(obj$population[members])
    }
    rates <- vapply(groups, rate_of, 0)
    pick <- groups[which.min(abs(rates - rate_of(obj$index[first])))]
    joins[[length(joins) + 1]] <- I(c(obj$index[first], pick))
    obj <- joinCells(obj, first, pick)
  }
  f <- weights(obj)
  cell_index <- (as.integer(df$band) - 1) + 4 * (as.integer(df$stype) - 1) + 1
  neww <- ifelse(df$resp == 1, w * as.vector(f)[cell_index], 0)
  stopifnot(abs(sum(neww) - sum(w)) < 1e-8 * sum(w))
  add(list(id = id, kind = "collapse", data = "apistrat",
           design = design_json(S_STRAT, FALSE), band = I(as.character(df$band)),
           respondent = I(as.integer(df$resp)), by = I(c("band", "stype")),
           min_respondents = min_respondents, max_factor = max_factor,
           max_weight = if (is.finite(max_weight)) max_weight else NULL,
           groups = I(as.integer(as.vector(obj$index))), joins = joins,
           factors = I(as.vector(f)), weights = I(unname(neww))))
}
collapse_case("strat_collapse_count_factor", min_respondents = 6, max_factor = 2.5)
collapse_case("strat_collapse_factor_weight", min_respondents = 0, max_factor = 2,
              max_weight = 75)

write_cases(CASES, "weighting2", "tests/reference/make_weighting2.R", t_start,
            extra = list(population = POP))
