## Reference numbers for innobaro's descriptives (innobaro/descriptives.py, the
## one-sample and paired t-tests of innobaro/two_groups.py and the goodness of
## fit of innobaro/independence.py).
##
## Run from the repository root:
##     Rscript tests/reference/make_descriptives.R
##
## Reads  tests/reference/data/<name>.csv   (written by make_reference.R)
## Writes tests/reference/descriptives.json one entry per case: data, design, call,
##                                          R's results
##
## R functions covered: svyvar (one variable, covariance matrices, svyby domains,
## linearisation and replicate designs; correlations by the delta method on
## svyvar's covariance, and from svyvar's replicates on replicate designs),
## svyttest(I(y - mu) ~ 0) and svyttest(I(y1 - y2) ~ 0), svygofchisq,
## svystandardize followed by svymean/svyby, and design effects: svymean(deff =
## TRUE) and the misspecification effect against svydesign(ids = ~1, weights =)
## on the same data (Stata's meff).
##
## Nothing here is random; the output is the same on every run.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
t_start <- start_script("make_descriptives.R")

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2",
                 synth_ms = "synth_ms"), read_data)

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
S_MS <- dspec(weights = "w", strata = "stratum", psu = c("municipality", "unit"),
              fpc = c("N1", "N2"), nest = TRUE)

## The design of a case: the design, then replicate weights (as.svrepdesign), then
## the domain (subset), the order the Python test follows (tests/_harness.py's
## hypothesis_case_design).
make_design <- function(data, spec, replicate = NULL, subset = NULL) {
  case_design(DATA[[data]], spec, replicate, subset)
}

CASES <- list()
add_case <- function(id, kind, data, spec, call, result, replicate = NULL, subset = NULL,
                     note = NULL) {
  if (id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", id)
  case <- list(id = id, kind = kind, data = data, design = design_json(spec),
               replicate = replicate, subset = subset, call = call, result = result)
  if (!is.null(note)) case$note <- note
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  bad <- !(abs(a - b) <= tol * pmax(1, abs(a), abs(b)))
  if (any(bad)) stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad])))
  invisible(TRUE)
}


## ---------------------------------------------------------------------------
## svyvar: variances, covariance and correlation matrices
## ---------------------------------------------------------------------------

## The correlation matrix and its covariance from a covariance matrix (p x p,
## entries column by column) and the covariance of its entries: the delta method.
cor_delta <- function(C, V) {
  p <- nrow(C)
  s <- sqrt(diag(C))
  R <- C / outer(s, s)
  J <- matrix(0, p * p, p * p)
  for (b in 1:p) for (a in 1:p) {
    k <- (b - 1) * p + a
    if (a == b) next
    J[k, k] <- 1 / (s[a] * s[b])
    ka <- (a - 1) * p + a
    kb <- (b - 1) * p + b
    J[k, ka] <- J[k, ka] - R[a, b] / (2 * C[a, a])
    J[k, kb] <- J[k, kb] - R[a, b] / (2 * C[b, b])
  }
  list(estimate = as.vector(R), vcov = J %*% V %*% t(J))
}

## Correlations on a replicate design: svyvar's replicate covariances turned into
## correlations, and svrVar of those (R's own replicate variance).
cor_replicates <- function(x, des) {
  v <- svyvar(x, des, return.replicates = TRUE)
  C <- unclass(v$variance)
  attributes(C) <- list(dim = dim(C))
  p <- nrow(C)
  reps <- v$replicates
  dg <- (0:(p - 1)) * (p + 1) + 1
  a <- rep(1:p, p)
  b <- rep(1:p, each = p)
  rr <- reps / sqrt(reps[, dg[a], drop = FALSE] * reps[, dg[b], drop = FALSE])
  est <- as.vector(C) / sqrt(diag(C)[a] * diag(C)[b])
  V <- svrVar(rr, des$scale, des$rscales, mse = des$mse, coef = est)
  list(estimate = est, vcov = unclass(V))
}

case_var <- function(id, data, spec, y, statistic = "variance", by = NULL,
                     replicate = NULL, subset = NULL, na_rm = FALSE, note = NULL) {
  des <- make_design(data, spec, replicate, subset)
  fml <- reformulate(y)
  is_rep <- inherits(des, "svyrep.design")
  p <- length(y)
  if (is.null(by)) {
    if (statistic == "correlation") {
      if (is_rep) {
        r <- cor_replicates(fml, des)
      } else {
        v <- svyvar(fml, des, na.rm = na_rm)
        C <- unclass(v)
        attributes(C) <- list(dim = dim(C))
        r <- cor_delta(C, attr(v, "var"))
      }
      est <- r$estimate
      V <- r$vcov
    } else {
      v <- svyvar(fml, des, na.rm = na_rm)
      est <- as.vector(unclass(v))
      V <- unclass(attr(v, "var"))
      if (statistic == "variance" && p > 1) {
        keep <- (0:(p - 1)) * (p + 1) + 1
        est <- est[keep]
        V <- V[keep, keep]
      }
    }
    result <- list(estimate = num(est), se = num(sqrt(diag(as.matrix(V)))),
                   vcov = unname(as.matrix(V)), df = degf(des))
  } else {
    b <- svyby(fml, reformulate(by), des, svyvar, na.rm = na_rm, covmat = is_rep)
    K <- if (p == 1) 1 else p * p
    D <- nrow(b)
    ## svyby's coefficients are entry-major (all domains of entry 1, ...): domain-major here
    est <- matrix(coef(b), nrow = D)
    ord <- as.vector(t(matrix(seq_len(D * K), nrow = D)))
    se <- matrix(as.numeric(as.matrix(SE(b))), nrow = D)
    if (statistic == "variance" && p > 1) {
      keep <- (0:(p - 1)) * (p + 1) + 1
      est <- est[, keep, drop = FALSE]
      se <- se[, keep, drop = FALSE]
      ord <- NULL
    }
    result <- list(estimate = num(t(est)), se = num(t(se)),
                   domains = I(as.character(b[[by]])))
    if (is_rep && !is.null(ord)) result$vcov <- unname(vcov(b)[ord, ord])
  }
  add_case(id, "var", data, spec, list(y = I(y), statistic = statistic,
                                       by = if (is.null(by)) NULL else I(by),
                                       na_rm = na_rm),
           result, replicate = replicate, subset = subset, note = note)
}

case_var("var_apistrat_api00", "apistrat", S_STRAT, "api00")
case_var("var_apistrat_cov_api00_api99_enroll", "apistrat", S_STRAT,
         c("api00", "api99", "enroll"), "covariance")
case_var("var_apistrat_cor_api00_api99_enroll", "apistrat", S_STRAT,
         c("api00", "api99", "enroll"), "correlation")
case_var("var_apistrat_variances_api00_enroll", "apistrat", S_STRAT, c("api00", "enroll"))
case_var("var_apiclus1_cov_api00_meals", "apiclus1", S_CLUS1, c("api00", "meals"),
         "covariance")
case_var("var_apiclus2_api00", "apiclus2", S_CLUS2, "api00")
case_var("var_apiclus2_na_enroll", "apiclus2", S_CLUS2, "enroll", na_rm = TRUE,
         note = "n counts the rows with missing enroll, as svyvar computes it before na.rm")
case_var("var_apiclus2_na_cov_enroll_api00", "apiclus2", S_CLUS2, c("enroll", "api00"),
         "covariance", na_rm = TRUE)
case_var("var_synth_ms_cov_y_x", "synth_ms", S_MS, c("y", "x"), "covariance")
case_var("var_synth_ms_cor_y_x", "synth_ms", S_MS, c("y", "x"), "correlation")
case_var("var_apistrat_by_stype_api00", "apistrat", S_STRAT, "api00", by = "stype")
case_var("var_apiclus1_by_schwide_cov_api00_api99", "apiclus1", S_CLUS1,
         c("api00", "api99"), "covariance", by = "sch.wide")
case_var("var_synth_ms_by_sector_y", "synth_ms", S_MS, "y", by = "sector")
case_var("var_apiclus1_subset_E_api00", "apiclus1", S_CLUS1, "api00",
         subset = list(column = "stype", value = "E"))
case_var("var_apiclus1_jk1_api00", "apiclus1", S_CLUS1, "api00", replicate = "jk1")
case_var("var_apiclus1_jk1_cov_api00_meals", "apiclus1", S_CLUS1, c("api00", "meals"),
         "covariance", replicate = "jk1")
case_var("var_apiclus1_jk1_cor_api00_meals", "apiclus1", S_CLUS1, c("api00", "meals"),
         "correlation", replicate = "jk1")
case_var("var_apistrat_jkn_by_stype_cov_api00_api99", "apistrat", S_STRAT,
         c("api00", "api99"), "covariance", by = "stype", replicate = "jkn")
case_var("var_apistrat_jkn_na_acs46", "apistrat", S_STRAT, "acs.46", replicate = "jkn",
         na_rm = TRUE, note = "n is the rows without a missing value, as svyvar.svyrep.design")


## ---------------------------------------------------------------------------
## svyttest: one sample against mu, paired
## ---------------------------------------------------------------------------

case_ttest1 <- function(id, data, spec, y, mu = 0, paired = NULL, replicate = NULL,
                        subset = NULL, na_rm = FALSE) {
  des <- make_design(data, spec, replicate, subset)
  lhs <- if (is.null(paired)) bquote(I(.(as.name(y)) - .(mu))) else
    bquote(I(.(as.name(y)) - .(as.name(paired)) - .(mu)))
  fml <- eval(bquote(.(lhs) ~ 0))
  res <- if (na_rm) svyttest(fml, des, na.rm = TRUE) else svyttest(fml, des)
  ci <- as.numeric(res$conf.int)
  result <- list(statistic = unname(as.numeric(res$statistic)),
                 df = unname(as.numeric(res$parameter)),
                 p_value = unname(as.numeric(res$p.value)),
                 estimate = unname(as.numeric(res$estimate)),
                 lower = ci[1], upper = ci[2])
  add_case(id, "ttest", data, spec, list(y = y, mu = mu, paired = paired, na_rm = na_rm),
           result, replicate = replicate, subset = subset)
}

case_ttest1("ttest1_apistrat_api00_mu650", "apistrat", S_STRAT, "api00", mu = 650)
case_ttest1("ttest1_apiclus1_api00_mu600", "apiclus1", S_CLUS1, "api00", mu = 600)
case_ttest1("ttest1_apiclus2_api00", "apiclus2", S_CLUS2, "api00", mu = 670)
case_ttest1("ttest1_apiclus2_na_enroll_mu500", "apiclus2", S_CLUS2, "enroll", mu = 500,
            na_rm = TRUE)
case_ttest1("ttest1_synth_ms_y_mu50", "synth_ms", S_MS, "y", mu = 50)
case_ttest1("ttestp_apistrat_api00_api99", "apistrat", S_STRAT, "api00", paired = "api99")
case_ttest1("ttestp_apiclus2_api00_api99_mu30", "apiclus2", S_CLUS2, "api00",
            paired = "api99", mu = 30)
case_ttest1("ttestp_synth_ms_y_x", "synth_ms", S_MS, "y", paired = "x")
case_ttest1("ttestp_apiclus1_subset_E_api00_api99", "apiclus1", S_CLUS1, "api00",
            paired = "api99", subset = list(column = "stype", value = "E"))
case_ttest1("ttestp_apiclus1_jk1_api00_api99", "apiclus1", S_CLUS1, "api00",
            paired = "api99", replicate = "jk1")
case_ttest1("ttest1_apistrat_jkn_api00_mu650", "apistrat", S_STRAT, "api00", mu = 650,
            replicate = "jkn")


## ---------------------------------------------------------------------------
## svygofchisq
## ---------------------------------------------------------------------------

case_gof <- function(id, data, spec, y, p, replicate = NULL, subset = NULL) {
  des <- make_design(data, spec, replicate, subset)
  res <- svygofchisq(reformulate(y), p, des)
  tot <- svytotal(reformulate(y), des)
  result <- list(statistic = unname(as.numeric(res$statistic)),
                 scale = unname(as.numeric(res$parameter["scale"])),
                 df = unname(as.numeric(res$parameter["df"])),
                 p_value = unname(as.numeric(res$p.value)),
                 lambda = num(res$lambda), totals = num(coef(tot)),
                 levels = I(levels(model.frame(des)[[y]])))
  add_case(id, "gof", data, spec, list(y = y, p = num(p)), result, replicate = replicate,
           subset = subset)
}

case_gof("gof_apiclus1_stype", "apiclus1", S_CLUS1, "stype", c(0.6, 0.2, 0.2))
case_gof("gof_apiclus2_stype", "apiclus2", S_CLUS2, "stype", c(0.7, 0.15, 0.15))
case_gof("gof_apistrat_awards", "apistrat", S_STRAT, "awards", c(1, 1))
case_gof("gof_synth_ms_sector", "synth_ms", S_MS, "sector", c(3, 2))
case_gof("gof_synth_ms_cat3", "synth_ms", S_MS, "cat3", c(0.2, 0.5, 0.3))
case_gof("gof_apiclus1_subset_E_awards", "apiclus1", S_CLUS1, "awards", c(0.4, 0.6),
         subset = list(column = "stype", value = "E"))
case_gof("gof_apiclus1_jk1_stype", "apiclus1", S_CLUS1, "stype", c(0.6, 0.2, 0.2),
         replicate = "jk1")


## ---------------------------------------------------------------------------
## svystandardize
## ---------------------------------------------------------------------------

case_std <- function(id, data, spec, y, by, population, over = NULL, replicate = NULL) {
  des <- make_design(data, spec, replicate)
  std <- svystandardize(des, by = reformulate(by),
                        over = if (is.null(over)) ~1 else reformulate(over),
                        population = population)
  is_rep <- FALSE
  if (is.null(over)) {
    m <- svymean(reformulate(y), std)
    est <- coef(m)
    V <- vcov(m)
    domains <- NULL
  } else {
    ## svyby(covmat = TRUE) fails on a post-stratified linearisation design in
    ## survey 4.1: standard errors only there
    is_rep <- inherits(std, "svyrep.design")
    m <- svyby(reformulate(y), reformulate(over), std, svymean, covmat = is_rep)
    est <- coef(m)
    V <- if (is_rep) vcov(m) else diag(SE(m)^2, length(est))
    domains <- I(as.character(m[[over]]))
  }
  result <- list(estimate = num(est), se = num(sqrt(diag(as.matrix(V)))),
                 vcov = if (is.null(over) || is_rep) unname(as.matrix(V)) else NULL,
                 domains = domains)
  add_case(id, "standardize", data, spec,
           list(y = y, by = by, population = num(population), over = over),
           result, replicate = replicate)
}

## apipop's counts of E, H and M schools: 4421, 755, 1018
case_std("std_apiclus1_stype_over_schwide_api00", "apiclus1", S_CLUS1, "api00", "stype",
         c(4421, 755, 1018), over = "sch.wide")
case_std("std_apiclus1_stype_api00", "apiclus1", S_CLUS1, "api00", "stype",
         c(4421, 755, 1018))
case_std("std_apiclus2_stype_over_awards_api00", "apiclus2", S_CLUS2, "api00", "stype",
         c(1, 1, 1), over = "awards")
case_std("std_synth_ms_size_over_sector_y", "synth_ms", S_MS, "y", "size_class",
         c(0.5, 0.3, 0.2), over = "sector")
case_std("std_apiclus1_jk1_stype_over_schwide_api00", "apiclus1", S_CLUS1, "api00",
         "stype", c(4421, 755, 1018), over = "sch.wide", replicate = "jk1")


## ---------------------------------------------------------------------------
## design effects: deff, deft, and the misspecification effect against the
## design ignored (each row its own PSU, no strata, no fpc, the same weights)
## ---------------------------------------------------------------------------

case_effects <- function(id, data, spec, fn, y, by = NULL, subset = NULL) {
  des <- make_design(data, spec, NULL, subset)
  ## the naive design of the whole sample, then the same domain
  full <- make_design(data, spec)
  df <- full$variables
  df$.w <- weights(full, "sampling")
  naive <- svydesign(ids = ~1, weights = ~.w, data = df)
  if (!is.null(subset)) {
    keep <- naive$variables[[subset$column]] == subset$value
    naive <- naive[!is.na(keep) & keep, ]
  }
  f <- switch(fn, mean = svymean, total = svytotal)
  if (is.null(by)) {
    a <- f(reformulate(y), des, deff = TRUE)
    b <- f(reformulate(y), naive)
    v <- diag(as.matrix(vcov(a)))
    v0 <- diag(as.matrix(vcov(b)))
    dff <- deff(a)
  } else {
    a <- svyby(reformulate(y), reformulate(by), des, f, deff = TRUE)
    b <- svyby(reformulate(y), reformulate(by), naive, f)
    v <- SE(a)^2
    v0 <- SE(b)^2
    dff <- deff(a)
  }
  result <- list(estimate = num(coef(a)), deff = num(dff), deft = num(sqrt(dff)),
                 meff = num(v / v0), meft = num(sqrt(v / v0)))
  add_case(id, "effects", data, spec, list(fn = fn, y = y, by = by), result,
           subset = subset)
}

case_effects("effects_apistrat_mean_api00", "apistrat", S_STRAT, "mean", "api00")
case_effects("effects_apiclus1_mean_api00_enroll", "apiclus1", S_CLUS1, "mean",
             c("api00", "enroll"))
case_effects("effects_apiclus1_total_enroll", "apiclus1", S_CLUS1, "total", "enroll")
case_effects("effects_apiclus2_mean_by_stype_api00", "apiclus2", S_CLUS2, "mean", "api00",
             by = "stype")
case_effects("effects_synth_ms_mean_y", "synth_ms", S_MS, "mean", "y")
case_effects("effects_apiclus1_subset_E_mean_api00", "apiclus1", S_CLUS1, "mean", "api00",
             subset = list(column = "stype", value = "E"))

write_cases(CASES, "descriptives", "tests/reference/make_descriptives.R", t_start)
