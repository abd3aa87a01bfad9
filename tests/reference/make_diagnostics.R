## Reference numbers for innobaro's model diagnostics and Wald t tests of an
## estimate against a value.
##
## Run from the repository root:
##     Rscript tests/reference/make_diagnostics.R
##
## Reads   tests/reference/data/{apistrat,apiclus2}.csv  (written by make_reference.R)
## Writes  tests/reference/diagnostics.json
##
## - gvif: car::vif on svyglm fits (Fox and Monette's generalised VIF, from
##   vcov(fit)), GLMs fitted with glm.control(epsilon = 1e-14, maxit = 100);
## - test: the t test R prints for svyglm coefficients (summary(fit)'s
##   Pr(>|t|) on the residual degrees of freedom), and for an estimate against
##   a value, 2 * pt(-abs((est - null) / SE(est)), degf(design)).

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
  library(car)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_diagnostics.R")
}
source(file.path("tests", "reference", "common.R"))
options(warn = 1, survey.lonely.psu = "fail")
t_start <- Sys.time()
ctl <- glm.control(epsilon = 1e-14, maxit = 100)

strat <- add_api_flags(read_data("apistrat"))
clus2 <- add_api_flags(read_data("apiclus2"))
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = clus2)

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS2 <- dspec(psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))

CASES <- list()

gvif_case <- function(id, data, spec, design, formula, r_formula, family) {
  fit <- suppressWarnings(svyglm(r_formula, design = design, family = family, control = ctl))
  v <- car::vif(fit)
  if (is.null(dim(v))) {
    v <- cbind(GVIF = v, Df = 1, `GVIF^(1/(2*Df))` = sqrt(v))
  }
  ct <- summary(fit)$coefficients
  list(id = id, kind = "gvif", data = data, design = spec,
       model = list(formula = formula, family = family$family),
       result = list(terms = rownames(v), gvif = unname(v[, 1]), df = unname(v[, 2]),
                     gvif_scaled = unname(v[, 3]),
                     coef_names = rownames(ct), pvalues = unname(ct[, 4]),
                     df_resid = fit$df.residual))
}

CASES[[length(CASES) + 1]] <- gvif_case(
  "apistrat_gaussian", "apistrat", S_STRAT, dstrat,
  "api00 ~ ell + meals + C(stype) + mobility", api00 ~ ell + meals + stype + mobility,
  gaussian())
CASES[[length(CASES) + 1]] <- gvif_case(
  "apiclus2_binomial", "apiclus2", S_CLUS2, dclus2,
  "sch_wide01 ~ ell + meals + C(stype) + emer", sch_wide01 ~ ell + meals + stype + emer,
  quasibinomial())

test_case <- function(id, data, spec, design, variable, null) {
  m <- svymean(reformulate(variable), design, na.rm = TRUE)
  est <- as.numeric(coef(m)); se <- as.numeric(SE(m)); df <- degf(design)
  t <- (est - null) / se
  list(id = id, kind = "test", data = data, design = spec,
       estimate = list(variable = variable, null = null),
       result = list(estimate = est, se = se, df = df, statistic = t,
                     pvalue = 2 * pt(-abs(t), df)))
}

CASES[[length(CASES) + 1]] <- test_case("apistrat_mean_api00", "apistrat", S_STRAT, dstrat,
                                        "api00", 650)
CASES[[length(CASES) + 1]] <- test_case("apiclus2_share_sch_wide", "apiclus2", S_CLUS2, dclus2,
                                        "sch_wide01", 0.75)

write_cases(CASES, "diagnostics", "tests/reference/make_diagnostics.R", t_start,
            list(car_version = as.character(packageVersion("car"))))
