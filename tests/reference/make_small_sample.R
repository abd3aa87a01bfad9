## Reference numbers for innobaro's Bell-McCaffrey (CR2) small-sample corrections
## (innobaro/variance/small_sample.py, se="bell-mccaffrey" / "bell-mccaffrey-2").
##
## Run from the repository root:
##     Rscript tests/reference/make_small_sample.R
##
## Reads   tests/reference/data/{apiclus1,apiclus2,apistrat}.csv (make_reference.R)
## Writes  tests/reference/data/small_sample_varsize.csv  (generated: 12 clusters of
##                                                        strongly varying sizes,
##                                                        unequal weights)
##         tests/reference/small_sample.json             one entry per case
##
## R functions covered: clubSandwich's vcovCR(type = "CR2") and
## coef_test(vcov = "CR2", test = "Satterthwaite") on weighted lm and glm fits
## (one-stage cluster designs without strata, and strata as fixed effects; a GLM
## through the weighted regression of its last IRLS step):
## innobaro's CR2 sum (no design factors) and its degrees of freedom
## ("bell-mccaffrey") must agree to 1e-8. Means, domain means and ratios are the
## fits lm(y ~ 1), lm(y ~ 0 + domain) and lm(y ~ 0 + x, weights = w / x).
## estimator_cases: ib.var (svyvar's centred products), ib.ttest (R's svyttest
## regressions) and ib.ranktest (svyranktest's regression of the rank scores on
## the group) as weighted lm fits, with the design-based variance of their
## adjusted influence values.
##
## survey 4.5's own test of svyglm(std.errors = "Bell-McCaffrey") cannot run on the
## R installed here (survey 4.1.1); its snapshot values are in
## tests/test_small_sample.py, cited from cran/survey
## tests/testthat/_snaps/bell_mccaffrey.md.
##
## The generated data use a fixed seed and RNG kind; the output is the same on
## every run.

suppressPackageStartupMessages({
  library(clubSandwich)
  library(jsonlite)
})
source(file.path("tests", "reference", "common.R"))

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261204)
sizes <- c(1, 2, 2, 3, 4, 6, 8, 12, 18, 25, 40, 60)
cl <- rep(seq_along(sizes), sizes)
n <- length(cl)
u <- rnorm(length(sizes), sd = 0.5)[cl]
x <- round(runif(n, 1, 5), 3)
w <- round(runif(n, 1, 20), 3)
dom <- sample(c("a", "b", "c"), n, replace = TRUE)
y <- round(1 + 0.5 * x + u + rnorm(n), 4)
yb <- as.integer(y > 2.5)
write_data(data.frame(cl = cl, x = x, w = w, dom = dom, y = y, yb = yb),
           "small_sample_varsize")

cases <- list()
add_case <- function(name, data, formula, weights, cluster, family = NULL,
                     design = NULL, what = "glm") {
  df <- read_data(data)
  df$.w <- eval(parse(text = weights), df)
  fit <- if (is.null(family)) {
    lm(as.formula(formula), data = df, weights = .w)
  } else {
    ## a GLM's Bell-McCaffrey correction is that of its final IRLS step: the
    ## weighted regression of the working response on the model matrix with the
    ## working weights (survey's svy.varcoef adjusts the working residuals)
    g <- suppressWarnings(glm(as.formula(formula), data = df, weights = .w,
                              family = get(family)(), epsilon = 1e-14, maxit = 100))
    X <- model.matrix(g)
    z <- g$linear.predictors + residuals(g, "working")
    eta <- g$linear.predictors
    ww <- df$.w * g$family$mu.eta(eta)^2 / g$family$variance(g$family$linkinv(eta))
    structure(lm(z ~ 0 + X, weights = ww), glm_coef = coef(g))
  }
  cls <- df[[cluster]]
  V <- vcovCR(fit, cluster = cls, type = "CR2")
  ct <- coef_test(fit, vcov = V, test = "Satterthwaite")
  if (!is.null(family)) names(fit$coefficients) <- names(attr(fit, "glm_coef"))
  cases[[name]] <<- list(
    data = data, formula = formula, weights = weights, cluster = cluster,
    family = if (is.null(family)) "gaussian" else family, design = design, what = what,
    coef = unname(coef(fit)), names = names(coef(fit)),
    vcov = unname(as.matrix(V)), df = unname(ct$df_Satt)
  )
}

## models (innobaro.glm): one-stage cluster designs, no strata
add_case("apiclus1_lm", "apiclus1", "api00 ~ api99 + stype", "pw", "dnum",
         design = list(psu = "dnum", weights = "pw"))
add_case("apiclus2_lm", "apiclus2", "api00 ~ api99 + ell", "pw", "dnum",
         design = list(psu = "dnum", weights = "pw"))
add_case("varsize_lm", "small_sample_varsize", "y ~ x", "w", "cl",
         design = list(psu = "cl", weights = "w"))
add_case("varsize_logit", "small_sample_varsize", "yb ~ x", "w", "cl", family = "quasibinomial",
         design = list(psu = "cl", weights = "w"))
add_case("apiclus2_logit", "apiclus2", "I(sch.wide == 'Yes') ~ ell", "pw", "dnum",
         family = "quasibinomial", design = list(psu = "dnum", weights = "pw"))
## strata as fixed effects: a stratified one-stage cluster design's model with the
## strata among the regressors (the CR2 of the working regression is that fit's)
add_case("apistrat_fe", "apistrat", "api00 ~ api99 + stype", "pw", "snum",
         design = list(psu = "snum", weights = "pw", strata = "stype"))
## descriptive estimators as regressions
add_case("varsize_mean", "small_sample_varsize", "y ~ 1", "w", "cl",
         design = list(psu = "cl", weights = "w"), what = "mean")
add_case("varsize_domain_mean", "small_sample_varsize", "y ~ 0 + dom", "w", "cl",
         design = list(psu = "cl", weights = "w"), what = "mean_by_dom")
add_case("varsize_ratio", "small_sample_varsize", "y ~ 0 + x", "w / x", "cl",
         design = list(psu = "cl", weights = "w"), what = "ratio")
add_case("apiclus1_mean", "apiclus1", "api00 ~ 1", "pw", "dnum",
         design = list(psu = "dnum", weights = "pw"), what = "mean")
add_case("apiclus2_domain_mean", "apiclus2", "api00 ~ 0 + stype", "pw", "dnum",
         design = list(psu = "dnum", weights = "pw"), what = "mean_by_stype")

## the other estimators and tests with se= (ib.var, ib.ttest, ib.ranktest), each a
## weighted lm of a response computed here as innobaro defines it: clubSandwich's
## CR2 (vcov) and Satterthwaite df of every coefficient, and "design_vcov", the
## linearisation variance of the CR2-adjusted influence values on a design with
## PSUs only (no strata, no fpc): G/(G-1) times the centred cross-products of the
## PSU totals, which vcovCR(form = "estfun") gives (one column per PSU)
estimator_cases <- list()
add_estimator <- function(name, data, u, rhs, weights, cluster, what, design, statistic = NULL) {
  df <- if (is.character(data)) read_data(data) else data
  df$.u <- u
  df$.w <- df[[weights]]
  fit <- lm(as.formula(paste(".u ~", rhs)), data = df, weights = .w)
  cls <- df[[cluster]]
  V <- vcovCR(fit, cluster = cls, type = "CR2")
  E <- vcovCR(fit, cluster = cls, type = "CR2", form = "estfun")
  ct <- coef_test(fit, vcov = V, test = "Satterthwaite")
  Ec <- E - rowMeans(E)
  estimator_cases[[name]] <<- list(
    data = data_name, what = what, statistic = statistic, design = design,
    coef = unname(coef(fit)), names = names(coef(fit)), vcov = unname(as.matrix(V)),
    design_vcov = unname(ncol(E) / (ncol(E) - 1) * Ec %*% t(Ec)), df = unname(ct$df_Satt))
}
## svyvar's products: n/(n-1) (a - abar)(b - bbar) within each domain, n its rows
var_products <- function(a, b, w, dom) {
  out <- numeric(length(a))
  for (d in unique(dom)) {
    i <- dom == d
    n <- sum(i & w > 0)
    out[i] <- n / (n - 1) * (a[i] - weighted.mean(a[i], w[i])) *
      (b[i] - weighted.mean(b[i], w[i]))
  }
  out
}
## svyranktest's scores (R/svyranktest.R): mid-ranks of the weights, ties averaged
rank_scores <- function(y, w, test) {
  ii <- order(y)
  rankhat <- numeric(length(y))
  rankhat[ii] <- ave(cumsum(w[ii]) - w[ii] / 2, factor(y[ii]))
  N <- sum(w)
  switch(test, wilcoxon = rankhat / N, vanderWaerden = qnorm(rankhat / N),
         median = as.numeric(rankhat > N / 2))
}
vs <- list(psu = "cl", weights = "w")
c1 <- list(psu = "dnum", weights = "pw")
data_name <- "small_sample_varsize"
v <- read_data(data_name)
add_estimator("varsize_var", v, var_products(v$y, v$y, v$w, rep(1, nrow(v))), "1", "w", "cl",
              "var", vs, "variance")
add_estimator("varsize_var_by_dom", v, var_products(v$y, v$y, v$w, v$dom), "0 + dom", "w",
              "cl", "var_by_dom", vs, "variance")
add_estimator("varsize_cov_x_y", v, var_products(v$x, v$y, v$w, rep(1, nrow(v))), "1", "w",
              "cl", "cov", vs, "covariance")
add_estimator("varsize_ttest", v, v$y, "I(dom == 'a')", "w", "cl", "ttest", vs)
add_estimator("varsize_ranktest", v, rank_scores(v$y, v$w, "wilcoxon"), "I(dom == 'a')",
              "w", "cl", "ranktest", vs, "wilcoxon")
add_estimator("varsize_ranktest_3", v, rank_scores(v$y, v$w, "wilcoxon"), "dom", "w", "cl",
              "ranktest", vs, "wilcoxon")
data_name <- "apiclus1"
a <- read_data(data_name)
add_estimator("apiclus1_var", a, var_products(a$api00, a$api00, a$pw, rep(1, nrow(a))), "1",
              "pw", "dnum", "var", c1, "variance")
add_estimator("apiclus1_cov_api00_api99", a,
              var_products(a$api00, a$api99, a$pw, rep(1, nrow(a))), "1", "pw", "dnum",
              "cov", c1, "covariance")
add_estimator("apiclus1_ttest", a, a$api00, "sch.wide", "pw", "dnum", "ttest", c1)
add_estimator("apiclus1_ttest_one", a, a$api00 - 600, "1", "pw", "dnum", "ttest_one", c1)
add_estimator("apiclus1_ttest_paired", a, a$api00 - a$api99, "1", "pw", "dnum",
              "ttest_paired", c1)
add_estimator("apiclus1_ranktest_vdw", a, rank_scores(a$api00, a$pw, "vanderWaerden"),
              "sch.wide", "pw", "dnum", "ranktest", c1, "vanderWaerden")
add_estimator("apiclus1_ranktest_3", a, rank_scores(a$api00, a$pw, "wilcoxon"), "stype",
              "pw", "dnum", "ranktest", c1, "wilcoxon")

writeLines(toJSON(list(generated_by = "tests/reference/make_small_sample.R",
                       clubSandwich = as.character(packageVersion("clubSandwich")),
                       cases = cases, estimator_cases = estimator_cases),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(ref_dir, "small_sample.json"))
