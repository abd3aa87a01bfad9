## Reference numbers for innobaro's two-phase designs (innobaro/twophase.py,
## innobaro/variance/twophase.py).
##
## Run from the repository root:
##     Rscript tests/reference/make_twophase.R
##
## Writes tests/reference/data/twophase_nwtco.csv  (survival's nwtco, the National
##                                                  Wilms Tumor Study cohort of R's
##                                                  ?twophase examples)
##        tests/reference/data/twophase_clus.csv   (generated: a stratified cluster
##                                                  sample with PSU probabilities at
##                                                  phase 1, strata of elements at
##                                                  phase 2)
##        tests/reference/data/twophase_srs.csv    (generated: simple random
##                                                  sample without replacement at
##                                                  phase 1, with fpc)
##        tests/reference/data/twophase_nwts.csv   (R's tests/nwts.R: the NWTS
##                                                  case-control sample of Breslow
##                                                  and Chatterjee 1999, from their
##                                                  published table)
##        tests/reference/data/twophase_strat.csv  (generated: stratified simple
##                                                  random sample without
##                                                  replacement at phase 1)
##        tests/reference/data/twophase_3stage.csv (generated: three stages with
##                                                  replacement at phase 1, as R's
##                                                  tests/3stage2phase.R)
##        tests/reference/twophase.json            one entry per case: data, the
##                                                  two-phase design, optional
##                                                  calibration, call, R's results
##
## R functions covered: twophase(method = "full") and twophase(method = "approx")
## with svymean, svytotal, svyratio, svyciprop, svyquantile, svytable, svyby,
## subset, svyglm (quasibinomial and gaussian), degf, and calibrate(phase = 2)
## (linear and raking) to the phase-1 totals.
##
## The phase-1 samples are generated with a fixed seed and RNG kind; the output is
## the same on every run.

suppressPackageStartupMessages({
  library(survey)
  library(survival)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
t_start <- start_script("make_twophase.R")

## ---------------------------------------------------------------------- data
data(nwtco, package = "survival")
nwt <- data.frame(seqno = nwtco$seqno, instit = nwtco$instit, histol = nwtco$histol,
                  stage = nwtco$stage, rel = nwtco$rel, age = nwtco$age,
                  in_subcohort = as.logical(nwtco$in.subcohort))
nwt$incc2 <- nwt$in_subcohort | nwt$rel == 1
nwt$stage_f <- paste0("s", nwt$stage)
nwt$unfav <- as.numeric(nwt$histol == 2)
nwt$cell <- paste(nwt$rel, nwt$stage, nwt$instit, sep = ".")
nwt$age_na <- ifelse(nwt$seqno %% 17 == 3, NA, nwt$age)  # missing in some rows
write_data(nwt, "twophase_nwtco")

set.seed(20261204)
## phase 1: 3 strata of 8, 10 and 12 PSUs drawn with probability p1, 6 to 14 elements
## each; phase 2: a stratified random sample of elements within groups of x
n_psu <- c(8, 10, 12)
psus <- data.frame(s = rep(c("a", "b", "c"), n_psu), psu = seq_len(sum(n_psu)))
psus$p1 <- round(runif(nrow(psus), 0.05, 0.3), 3)
psus$size <- sample(6:14, nrow(psus), replace = TRUE)
clus <- psus[rep(seq_len(nrow(psus)), psus$size), c("s", "psu", "p1")]
clus$x <- round(rnorm(nrow(clus), 10 + as.numeric(factor(clus$s)), 3), 2)
clus$grp <- cut(clus$x, c(-Inf, 9, 12, Inf), labels = c("g1", "g2", "g3"))
clus$grp <- as.character(clus$grp)
clus$y <- round(2 + 0.5 * clus$x + rnorm(nrow(clus), 0, 2) + rep(rnorm(nrow(psus), 0, 1),
                                                                  psus$size), 2)
clus$yb <- as.numeric(clus$y > 7.5)
rate <- c(g1 = 0.6, g2 = 0.3, g3 = 0.45)
clus$ph2 <- FALSE
for (g in names(rate)) {
  rows <- which(clus$grp == g)
  clus$ph2[sample(rows, round(rate[[g]] * length(rows)))] <- TRUE
}
clus$id <- seq_len(nrow(clus))
write_data(clus, "twophase_clus")

srs <- data.frame(id = 1:600, N1 = 5000)
srs$x <- round(rgamma(600, 4, 0.5), 2)
srs$grp <- ifelse(srs$x < 6, "low", ifelse(srs$x < 10, "mid", "high"))
srs$y <- round(5 + srs$x + rnorm(600, 0, 3), 2)
srs$dom <- sample(c("u", "v"), 600, replace = TRUE)
rate <- c(low = 0.2, mid = 0.35, high = 0.7)
srs$ph2 <- FALSE
for (g in names(rate)) {
  rows <- which(srs$grp == g)
  srs$ph2[sample(rows, round(rate[[g]] * length(rows)))] <- TRUE
}
write_data(srs, "twophase_srs")

## phase 1: a stratified simple random sample without replacement (fpc), rows in
## random order; phase 2: a stratified random subsample within groups of x
n1 <- c(a = 150, b = 200, c = 120)
strat <- data.frame(h = rep(names(n1), n1))
strat$N1 <- c(a = 2000, b = 3000, c = 1500)[strat$h]
strat$x <- round(rnorm(nrow(strat), 10 + as.numeric(factor(strat$h)), 3), 2)
strat$grp <- ifelse(strat$x < 10, "g1", "g2")
strat$y <- round(strat$x + rnorm(nrow(strat)), 2)
strat$ph2 <- FALSE
for (g in c("g1", "g2")) {
  rows <- which(strat$grp == g)
  strat$ph2[sample(rows, round(c(g1 = 0.5, g2 = 0.3)[[g]] * length(rows)))] <- TRUE
}
strat <- strat[sample(nrow(strat)), ]
strat$id <- seq_len(nrow(strat))
write_data(strat, "twophase_strat")

## phase 1: three stages with replacement (blocks in 3 strata, houses, persons), each
## with its own inclusion probability, as R's tests/3stage2phase.R; phase 2: a
## random subsample of persons (and a stratified one, by age group)
blocks <- data.frame(strat = rep(c("s1", "s2", "s3"), c(5, 6, 7)))
blocks$block <- seq_len(nrow(blocks))
blocks$P.block <- round(runif(nrow(blocks), 0.1, 0.4), 3)
houses <- blocks[rep(blocks$block, sample(2:5, nrow(blocks), replace = TRUE)), ]
houses$house <- seq_len(nrow(houses))
houses$P.house <- round(runif(nrow(houses), 0.2, 0.6), 3)
ms <- houses[rep(houses$house, sample(1:4, nrow(houses), replace = TRUE)), ]
ms$ind <- seq_len(nrow(ms))
ms$P.ind <- round(runif(nrow(ms), 0.3, 0.9), 3)
ms$age <- round(runif(nrow(ms), 20, 80), 1)
ms$agegrp <- ifelse(ms$age < 50, "young", "old")
ms$bmi <- round(22 + 0.08 * ms$age + rnorm(nrow(ms), 0, 3) +
                  rep(rnorm(nrow(blocks), 0, 1), table(ms$block)), 2)
ms$obese <- as.numeric(ms$bmi > 27)
ms$ph2 <- FALSE
ms$ph2[sample(nrow(ms), round(0.35 * nrow(ms)))] <- TRUE
ms$ph2s <- FALSE
for (g in c("young", "old")) {
  rows <- which(ms$agegrp == g)
  ms$ph2s[sample(rows, round(c(young = 0.5, old = 0.25)[[g]] * length(rows)))] <- TRUE
}
rownames(ms) <- NULL
write_data(ms, "twophase_3stage")

## R's tests/nwts.R: the case-control sample within the NWTS cohort of Breslow and
## Chatterjee (1999), Applied Statistics 48, p. 458 (their table; R's tests/nwts.rda)
nwts <- data.frame(stage = rep(1:4, 4), instit = rep(c(1, 2), each = 8),
                   histol = rep(rep(c(1, 2), each = 4), 2),
                   control = c(1363, 816, 693, 307, 37, 25, 14, 7, 15, 11, 18, 23, 64, 51,
                               60, 13),
                   case = c(91, 117, 100, 60, 9, 14, 15, 9, 1, 2, 3, 3, 16, 33, 57, 41))
nwtsb <- nwts
nwtsb$control <- c(115, 86, 79, 27, 2, 3, 3, 1, 15, 11, 18, 23, 64, 51, 60, 13)
nwtsnb <- nwts
nwtsnb$case <- nwts$case - nwtsb$case
nwtsnb$control <- nwts$control - nwtsb$control
a <- rbind(nwtsb, nwtsnb)
a$in_ccs <- rep(c(TRUE, FALSE), each = 16)
b <- rbind(a, a)
b$rel <- rep(c(1, 0), each = 32)
b$n <- ifelse(b$rel == 1, b$case, b$control)
nwt_exp <- b[rep(1:64, b$n), c("stage", "instit", "histol", "in_ccs", "rel")]
nwt_exp$id <- seq_len(nrow(nwt_exp))
nwt_exp$cell <- paste(nwt_exp$instit, nwt_exp$stage, nwt_exp$rel, sep = ".")
if (nrow(nwt_exp) != 4088) stop("nwt.exp should have 4088 rows")
write_data(nwt_exp, "twophase_nwts")

DATA <- list(twophase_nwtco = read_data("twophase_nwtco"),
             twophase_nwts = read_data("twophase_nwts"),
             twophase_strat = read_data("twophase_strat"),
             twophase_3stage = read_data("twophase_3stage"),
             twophase_clus = read_data("twophase_clus"),
             twophase_srs = read_data("twophase_srs"))

## ------------------------------------------------------------------- designs
## A two-phase design as written to the JSON file: the arguments of
## innobaro.TwoPhaseDesign (phase1, phase2: psu, strata, probs, fpc; subset; method).
EMPTY <- setNames(list(), character(0))  # written as {}
tp_spec <- function(phase1 = EMPTY, phase2 = EMPTY, subset, method) {
  list(phase1 = phase1, phase2 = phase2, subset = subset, method = method)
}

build_twophase <- function(data, spec) {
  f <- function(cols) if (is.null(cols)) NULL else {
    if (length(cols) == 1) reformulate(cols) else
      reformulate(sprintf("interaction(%s)", paste(cols, collapse = ", ")))
  }
  ## phase 1's stages: ~psu1 + psu2 + ..., with probs = ~p1 + p2 + ...
  id1 <- if (is.null(spec$phase1$psu)) ~1 else reformulate(spec$phase1$psu)
  probs1 <- if (is.null(spec$phase1$probs)) NULL else reformulate(spec$phase1$probs)
  id2 <- if (is.null(spec$phase2$psu)) ~1 else f(spec$phase2$psu)
  twophase(id = list(id1, id2), strata = list(f(spec$phase1$strata), f(spec$phase2$strata)),
           probs = list(probs1, f(spec$phase2$probs)),
           fpc = list(f(spec$phase1$fpc), f(spec$phase2$fpc)),
           subset = reformulate(spec$subset), data = data, method = spec$method)
}

## estWeights (calibrate(calfun = "rrz")). survey 4.1 has it for method = "approx"
## only; its logistic fit runs at glm's default epsilon = 1e-8, which leaves errors
## near 1e-6 in the weights, so the fit is run here at epsilon = 1e-14 (survey's own
## function, with glm called with a tight control). For method = "full" the design
## gets the estimated probabilities and the calibration of the same fit, which is
## what survey 4.5's estWeights.twophase2 does (its code is estWeights.twophase's).
tight_env <- new.env(parent = asNamespace("survey"))
tight_env$glm <- function(...) {
  cl <- match.call()
  cl[[1]] <- quote(stats::glm)
  cl$control <- glm.control(epsilon = 1e-14, maxit = 100)
  eval(cl, parent.frame())
}
est_weights_tight <- survey:::estWeights.twophase
environment(est_weights_tight) <- tight_env
est_weights <- function(des, formula) {
  if (!inherits(des, "twophase2")) return(est_weights_tight(des, formula = formula))
  approx <- des
  class(approx) <- c("twophase", "survey.design")
  fitted <- est_weights_tight(approx, formula = formula)
  des$phase2$prob <- fitted$phase2$prob
  des$phase2$postStrata <- fitted$phase2$postStrata
  des$usu <- fitted$usu
  des$prob <- fitted$prob
  des
}

## calibrate(phase = 2) to the phase-1 totals; `formula` is R's, `py_formula`
## innobaro's spelling of the same model matrix
calibrated <- function(des, cal) {
  if (is.null(cal)) return(des)
  if (cal$method == "rrz") return(est_weights(des, as.formula(cal$formula)))
  calibrate(des, phase = 2, formula = as.formula(cal$formula), calfun = cal$method)
}

CASES <- list()
add_case <- function(id, data, spec, call, result, calibration = NULL, domain = NULL) {
  if (id %in% names(CASES)) stop("duplicate case id ", id)
  cal <- if (is.null(calibration)) NULL else
    list(formula = calibration$py_formula, method = calibration$method)
  CASES[[id]] <<- list(id = id, data = data, design = spec, calibration = cal,
                       domain = domain, call = call, result = result)
}
design_of <- function(data, spec, calibration = NULL, domain = NULL) {
  des <- calibrated(build_twophase(DATA[[data]], spec), calibration)
  if (!is.null(domain)) {
    keep <- model.frame(des)[[domain$column]] == domain$value
    des <- des[keep, ]
  }
  des
}

stat_case <- function(id, data, spec, fn, y, calibration = NULL, domain = NULL,
                      na_rm = FALSE) {
  des <- design_of(data, spec, calibration, domain)
  est <- switch(fn, mean = svymean(reformulate(y), des, na.rm = na_rm),
                total = svytotal(reformulate(y), des, na.rm = na_rm))
  add_case(id, data, spec, list(fn = fn, y = I(y), na_rm = na_rm),
           list(estimate = num(coef(est)), se = num(SE(est)),
                vcov = unname(as.matrix(vcov(est))), df = num(degf(des)),
                phase1_var = num(diag(as.matrix(attr(vcov(est), "phases")$phase1))),
                phase2_var = num(diag(as.matrix(attr(vcov(est), "phases")$phase2)))),
           calibration, domain)
}

by_case <- function(id, data, spec, fn, y, by, calibration = NULL) {
  des <- design_of(data, spec, calibration)
  f <- switch(fn, mean = svymean, total = svytotal)
  est <- svyby(reformulate(y), reformulate(by), des, f, covmat = TRUE)
  levels_by <- as.character(est[[by]])
  dfs <- sapply(levels_by, function(l) degf(des[model.frame(des)[[by]] == l, ]))
  result <- list(estimate = num(coef(est)), se = num(SE(est)),
                 vcov = unname(as.matrix(vcov(est))), df = num(dfs))
  if (fn == "mean" && inherits(des, "twophase2") && !is.null(des$phase2$postStrata)) {
    ## svyby on a calibrated full design: R's `[` zeroes the phase-2 matrix between
    ## rows outside the domain, whose calibration residuals are not zero, and
    ## understates the variance; the domain mean as svyratio on the whole design
    ## keeps every pair (innobaro's number)
    result$se_ratio <- num(sapply(levels_by, function(l) {
      d_in <- eval(bquote(update(des, inside = as.numeric(.(as.name(by)) == .(l)),
                                 y_in = .(as.name(y)) * as.numeric(.(as.name(by)) == .(l)))))
      SE(svyratio(~y_in, ~inside, d_in))
    }))
    result$note <- "se_ratio: svyratio on the whole design (svyby's se is too small)"
  }
  add_case(id, data, spec, list(fn = fn, y = I(y), by = by), result, calibration)
}

ratio_case <- function(id, data, spec, num_col, den_col, calibration = NULL) {
  des <- design_of(data, spec, calibration)
  est <- svyratio(reformulate(num_col), reformulate(den_col), des)
  add_case(id, data, spec, list(fn = "ratio", y = I(num_col), denominator = I(den_col)),
           list(estimate = num(coef(est)), se = num(SE(est)), df = num(degf(des))),
           calibration)
}

prop_case <- function(id, data, spec, y, method, calibration = NULL) {
  des <- design_of(data, spec, calibration)
  est <- svyciprop(reformulate(y), des, method = method)
  ci <- confint(est)
  add_case(id, data, spec, list(fn = "proportion", y = I(y), method = method),
           list(estimate = num(coef(est)), se = num(SE(est)), lower = num(ci[1]),
                upper = num(ci[2]), df = num(degf(des))), calibration)
}

quantile_case <- function(id, data, spec, y, q) {
  des <- design_of(data, spec)
  est <- svyquantile(reformulate(y), des, q, ci = TRUE, se = TRUE)
  ci <- confint(est)
  add_case(id, data, spec, list(fn = "quantile", y = I(y), q = I(q)),
           list(estimate = num(coef(est)), se = num(SE(est)), lower = num(ci[, 1]),
                upper = num(ci[, 2]), df = num(degf(des))))
}

table_case <- function(id, data, spec, row, col) {
  des <- design_of(data, spec)
  tab <- svytable(reformulate(c(row, col)), des)
  add_case(id, data, spec, list(fn = "table", row = row, col = col),
           list(rows = I(rownames(tab)), cols = I(colnames(tab)),
                counts = unname(unclass(tab)[, , drop = FALSE])))
}

chisq_case <- function(id, data, spec, row, col, statistic) {
  des <- design_of(data, spec)
  res <- svychisq(reformulate(c(row, col)), des, statistic = statistic)
  add_case(id, data, spec, list(fn = "chisq_test", row = row, col = col,
                                statistic = statistic),
           list(statistic = num(res$statistic), df = num(res$parameter),
                p_value = num(res$p.value)))
}

glm_case <- function(id, data, spec, formula, py_formula, family, calibration = NULL,
                     domain = NULL) {
  des <- design_of(data, spec, calibration, domain)
  fam <- switch(family, binomial = quasibinomial(), gaussian = gaussian())
  fit <- svyglm(as.formula(formula), design = des, family = fam,
                control = glm.control(epsilon = 1e-14, maxit = 100))
  if (!fit$converged) stop("svyglm did not converge: ", formula)
  result <- list(coef_names = I(names(coef(fit))), estimate = num(coef(fit)),
                 se = num(SE(fit)), vcov = unname(vcov(fit)), df_resid = num(fit$df.residual))
  if (inherits(des, "twophase2") && !is.null(des$phase2$postStrata)) {
    ## the domain's influence values through twophase2var on the whole design: R's
    ## `[` zeroes the phase-2 matrix between rows outside the domain, whose
    ## calibration residuals are not zero (innobaro keeps them); without a domain
    ## this reproduces vcov(fit), which is checked
    inf <- (model.matrix(fit) * resid(fit, "working") * fit$weights) %*%
      stats::summary.glm(fit)$cov.unscaled
    whole <- design_of(data, spec, calibration)
    v <- unname(as.matrix(survey:::twophase2var(inf, whole)))
    if (is.null(domain) && max(abs(v - vcov(fit))) > 1e-10 * max(abs(v))) {
      stop("twophase2var of the influence values is not vcov(fit): ", id)
    }
    if (!is.null(domain)) {
      result$vcov_whole <- v
      result$note <- "vcov_whole: the domain's influence values on the whole design"
    }
  }
  add_case(id, data, spec, list(fn = "glm", formula = py_formula, family = family),
           result, calibration, domain)
}

var_case <- function(id, data, spec, y) {
  des <- design_of(data, spec)
  est <- svyvar(reformulate(y), des)
  add_case(id, data, spec, list(fn = "var", y = I(y)),
           list(estimate = num(coef(est)), se = num(SE(est))))
}

test_case <- function(id, data, spec, fn, y, group) {
  des <- design_of(data, spec)
  f <- reformulate(group, response = y)
  res <- switch(fn, ttest = svyttest(f, des), ranktest = svyranktest(f, des))
  add_case(id, data, spec, list(fn = fn, y = y, group = group),
           list(statistic = num(res$statistic), df = num(res$parameter),
                p_value = num(res$p.value)))
}

deff_case <- function(id, data, spec, y) {
  des <- design_of(data, spec)
  est <- svymean(reformulate(y), des, deff = TRUE)
  add_case(id, data, spec, list(fn = "deff", y = I(y)),
           list(estimate = num(coef(est)), deff = num(deff(est))))
}

## ------------------------------------------------------------------- cases
for (method in c("full", "approx")) {
  ## R's ?twophase example: case-cohort sample stratified on relapse and institution
  NW8 <- tp_spec(phase2 = list(strata = c("rel", "instit")), subset = "incc2",
                 method = method)
  ## stratified on relapse only
  NWR <- tp_spec(phase2 = list(strata = "rel"), subset = "incc2", method = method)
  ## the subcohort alone: a simple random subsample
  NWS <- tp_spec(subset = "in_subcohort", method = method)
  CL <- tp_spec(phase1 = list(psu = "psu", strata = "s", probs = "p1"),
                phase2 = list(strata = "grp"), subset = "ph2", method = method)
  SR <- tp_spec(phase1 = list(fpc = "N1"), phase2 = list(strata = "grp"), subset = "ph2",
                method = method)
  CAL_LIN <- list(formula = "~factor(stage) + age", py_formula = "~ C(stage) + age",
                  method = "linear")
  CAL_CELL <- list(formula = "~factor(cell)", py_formula = "~ C(cell)", method = "linear")
  CAL_RAKE <- list(formula = "~factor(stage) + factor(histol)",
                   py_formula = "~ C(stage) + C(histol)", method = "raking")
  m <- method
  N <- "twophase_nwtco"

  stat_case(paste0("nwt8_", m, "_mean_age"), N, NW8, "mean", "age")
  stat_case(paste0("nwt8_", m, "_mean_age_unfav"), N, NW8, "mean", c("age", "unfav"))
  stat_case(paste0("nwt8_", m, "_mean_stage_f"), N, NW8, "mean", "stage_f")
  stat_case(paste0("nwt8_", m, "_total_age"), N, NW8, "total", "age")
  stat_case(paste0("nwt8_", m, "_total_rel"), N, NW8, "total", "rel")
  stat_case(paste0("nwtr_", m, "_mean_age"), N, NWR, "mean", "age")
  stat_case(paste0("nwt8_", m, "_mean_age_na_rm"), N, NW8, "mean", "age_na", na_rm = TRUE)
  stat_case(paste0("nwt8_", m, "_total_age_na_rm"), N, NW8, "total", "age_na", na_rm = TRUE)
  stat_case(paste0("nwts_", m, "_mean_age"), N, NWS, "mean", "age")
  stat_case(paste0("nwts_", m, "_total_unfav"), N, NWS, "total", "unfav")
  stat_case(paste0("nwt8_", m, "_subset_histol1_mean_age"), N, NW8, "mean", "age",
            domain = list(column = "histol", value = 1))
  by_case(paste0("nwt8_", m, "_mean_by_histol_age"), N, NW8, "mean", "age", "histol")
  by_case(paste0("nwt8_", m, "_total_by_stage_unfav"), N, NW8, "total", "unfav", "stage")
  ratio_case(paste0("nwt8_", m, "_ratio_rel_age"), N, NW8, "rel", "age")
  prop_case(paste0("nwt8_", m, "_proportion_unfav"), N, NW8, "unfav", "logit")
  glm_case(paste0("nwt8_", m, "_logit_rel"), N, NW8, "rel ~ factor(stage) + factor(histol) + age",
           "rel ~ C(stage) + C(histol) + age", "binomial")
  glm_case(paste0("nwt8_", m, "_subset_histol1_logit_rel"), N, NW8, "rel ~ factor(stage)",
           "rel ~ C(stage)", "binomial", domain = list(column = "histol", value = 1))
  stat_case(paste0("nwt8_", m, "_cal_linear_mean_age"), N, NW8, "mean", "age",
            calibration = CAL_LIN)
  stat_case(paste0("nwt8_", m, "_cal_linear_total_unfav"), N, NW8, "total", "unfav",
            calibration = CAL_LIN)
  stat_case(paste0("nwtr_", m, "_cal_cell_mean_unfav"), N, NWR, "mean", "unfav",
            calibration = CAL_CELL)
  stat_case(paste0("nwt8_", m, "_cal_raking_mean_age"), N, NW8, "mean", "age",
            calibration = CAL_RAKE)
  glm_case(paste0("nwt8_", m, "_cal_linear_logit_rel"), N, NW8,
           "rel ~ factor(stage) + factor(histol) + age", "rel ~ C(stage) + C(histol) + age",
           "binomial", calibration = CAL_LIN)

  CAL_RRZ <- list(formula = "~factor(stage) + age", py_formula = "~ C(stage) + age",
                  method = "rrz")
  stat_case(paste0("nwt8_", m, "_rrz_mean_age"), N, NW8, "mean", "age", calibration = CAL_RRZ)
  stat_case(paste0("nwt8_", m, "_rrz_total_unfav"), N, NW8, "total", "unfav",
            calibration = CAL_RRZ)
  by_case(paste0("nwt8_", m, "_rrz_mean_by_histol_age"), N, NW8, "mean", "age", "histol",
          calibration = CAL_RRZ)
  glm_case(paste0("nwt8_", m, "_rrz_logit_rel"), N, NW8, "rel ~ factor(stage) + age",
           "rel ~ C(stage) + age", "binomial", calibration = CAL_RRZ)
  stat_case(paste0("nwts_", m, "_rrz_mean_age"), N, NWS, "mean", "age",
            calibration = list(formula = "~age + factor(histol)",
                               py_formula = "~ age + C(histol)", method = "rrz"))

  stat_case(paste0("clus_", m, "_mean_y"), "twophase_clus", CL, "mean", "y")
  stat_case(paste0("clus_", m, "_total_y_yb"), "twophase_clus", CL, "total", c("y", "yb"))
  by_case(paste0("clus_", m, "_mean_by_s_y"), "twophase_clus", CL, "mean", "y", "s")
  glm_case(paste0("clus_", m, "_logit_yb"), "twophase_clus", CL, "yb ~ x", "yb ~ x",
           "binomial")
  glm_case(paste0("clus_", m, "_linear_y"), "twophase_clus", CL, "y ~ x", "y ~ x",
           "gaussian")

  stat_case(paste0("srs_", m, "_mean_y"), "twophase_srs", SR, "mean", "y")
  stat_case(paste0("srs_", m, "_total_y"), "twophase_srs", SR, "total", "y")
  by_case(paste0("srs_", m, "_mean_by_dom_y"), "twophase_srs", SR, "mean", "y", "dom")
  stat_case(paste0("srs_", m, "_cal_linear_total_y"), "twophase_srs", SR, "total", "y",
            calibration = list(formula = "~x", py_formula = "~ x", method = "linear"))
}

## R's tests/nwts.R, for both methods
for (method in c("full", "approx")) {
  m <- method
  W <- "twophase_nwts"
  CC2 <- tp_spec(phase2 = list(strata = c("instit", "rel")), subset = "in_ccs", method = m)
  CC8 <- tp_spec(phase2 = list(strata = c("instit", "stage", "rel")), subset = "in_ccs",
                 method = m)
  CAL8 <- list(formula = "~factor(cell)", py_formula = "~ C(cell)", method = "linear")
  F_INT <- "rel ~ factor(stage) * factor(histol)"
  P_INT <- "rel ~ C(stage) * C(histol)"
  glm_case(paste0("nwts_cc2_", m, "_logit"), W, CC2, F_INT, P_INT, "binomial")
  glm_case(paste0("nwts_cc8_", m, "_logit"), W, CC8, F_INT, P_INT, "binomial")
  glm_case(paste0("nwts_gcc8_", m, "_logit"), W, CC2, F_INT, P_INT, "binomial",
           calibration = CAL8)
  glm_case(paste0("nwts_cc8_", m, "_subset_histol1_logit"), W, CC8, "rel ~ factor(stage)",
           "rel ~ C(stage)", "binomial", domain = list(column = "histol", value = 1))
  glm_case(paste0("nwts_gcc8_", m, "_subset_histol1_logit"), W, CC2, "rel ~ factor(stage)",
           "rel ~ C(stage)", "binomial", calibration = CAL8,
           domain = list(column = "histol", value = 1))
}

## estimators whose two-phase method is the survey.design one (no variance of
## their own beyond svymean's), on the full method
NW8F <- tp_spec(phase2 = list(strata = c("rel", "instit")), subset = "incc2",
                method = "full")
NW8A <- tp_spec(phase2 = list(strata = c("rel", "instit")), subset = "incc2",
                method = "approx")
quantile_case("nwt8_full_quantile_age", "twophase_nwtco", NW8F, "age", c(0.25, 0.5))
for (spec in list(NW8F, NW8A)) {
  m <- spec$method
  var_case(paste0("nwt8_", m, "_var_age"), "twophase_nwtco", spec, "age")
  test_case(paste0("nwt8_", m, "_ttest_age_rel"), "twophase_nwtco", spec, "ttest", "age", "rel")
  test_case(paste0("nwt8_", m, "_ranktest_age_rel"), "twophase_nwtco", spec, "ranktest",
            "age", "rel")
}
## svymean(deff = TRUE) of method = "approx" divides by a sample size of 0 (the
## design has no $cluster) and reports 0; the full method's is the usual one
deff_case("nwt8_full_deff_age", "twophase_nwtco", NW8F, "age")
table_case("nwt8_full_table_rel_stage", "twophase_nwtco", NW8F, "rel", "stage_f")
## R's svychisq has a two-phase method for method = "approx" only
chisq_case("nwt8_approx_chisq_rel_stage", "twophase_nwtco", NW8A, "rel", "stage", "F")
chisq_case("nwt8_approx_chisq_rel_stage_chisq", "twophase_nwtco", NW8A, "rel", "stage",
           "Chisq")

## Three stages at phase 1 (R's tests/3stage2phase.R), for both methods
for (method in c("full", "approx")) {
  m <- method
  P1 <- list(strata = "strat", psu = c("block", "house", "ind"),
             probs = c("P.block", "P.house", "P.ind"))
  MS <- tp_spec(phase1 = P1, subset = "ph2", method = m)
  MSS <- tp_spec(phase1 = P1, phase2 = list(strata = "agegrp"), subset = "ph2s", method = m)
  D <- "twophase_3stage"
  stat_case(paste0("ms_", m, "_mean_bmi_age"), D, MS, "mean", c("bmi", "age"))
  stat_case(paste0("ms_", m, "_total_obese"), D, MS, "total", "obese")
  by_case(paste0("ms_", m, "_mean_by_strat_bmi"), D, MS, "mean", "bmi", "strat")
  stat_case(paste0("mss_", m, "_mean_bmi"), D, MSS, "mean", "bmi")
  glm_case(paste0("mss_", m, "_linear_bmi"), D, MSS, "bmi ~ age", "bmi ~ age", "gaussian")
  ## no calibration here: with unequal phase-1 weights R calibrates 1/pi2 to the
  ## unweighted phase-1 sums, innobaro 1/(pi1 pi2) to the phase-1 estimates
}

## A stratified phase 1 without replacement, method = "full": survey 4.1's
## Dcheck_multi_subset passes the sampled units of every phase-1 row to
## Dcheck_subset, which indexes them by the position of a unit among the phase-2
## units instead of by the unit's row, so a stratum's n_1h - 1 is taken from
## another row. The reference numbers come from survey's own function with the
## lookup by row (sampsize[uid]); R's unpatched standard errors are kept as
## se_survey41 to show the difference. method = "approx" does not use it.
ST_F <- tp_spec(phase1 = list(strata = "h", fpc = "N1"), phase2 = list(strata = "grp"),
                subset = "ph2", method = "full")
ST_A <- ST_F
ST_A$method <- "approx"
unpatched <- list(mean = SE(svymean(~y, design_of("twophase_strat", ST_F))),
                  total = SE(svytotal(~y, design_of("twophase_strat", ST_F))))
fixed <- deparse(survey:::Dcheck_multi_subset)
fixed <- sub("stage], sampsize, withreplacement)", "stage], sampsize[uid], withreplacement)",
             fixed, fixed = TRUE)
if (!any(grepl("sampsize[uid]", fixed, fixed = TRUE))) stop("Dcheck_multi_subset changed")
fixed <- eval(parse(text = fixed))
environment(fixed) <- asNamespace("survey")
assignInNamespace("Dcheck_multi_subset", fixed, "survey")
for (fn in c("mean", "total")) {
  stat_case(paste0("strat_full_", fn, "_y"), "twophase_strat", ST_F, fn, "y")
  CASES[[paste0("strat_full_", fn, "_y")]]$result$se_survey41 <- num(unpatched[[fn]])
  stat_case(paste0("strat_approx_", fn, "_y"), "twophase_strat", ST_A, fn, "y")
}
by_case("strat_full_mean_by_grp_y", "twophase_strat", ST_F, "mean", "y", "grp")
glm_case("strat_full_linear_y", "twophase_strat", ST_F, "y ~ x", "y ~ x", "gaussian")

write_cases(unname(CASES), "twophase", "tests/reference/make_twophase.R", t_start)
