## Reference numbers for innobaro's multiple imputation and plausible values
## (innobaro/imputation.py), from R's mitools (imputationList, with, MIcombine)
## and survey (svydesign over an imputationList, withPV).
##
## Run from the repository root:
##     Rscript tests/reference/make_imputation.R
##
## Writes tests/reference/data/mi_imputed.csv  (generated: a stratified cluster
##                                               sample of 90 rows, 3 strata, 5 PSUs
##                                               each, with y, x and the 0/1 z
##                                               partly missing and imputed 5 times;
##                                               column `imp` is the imputation)
##        tests/reference/data/mi_pv.csv       (generated: the same design with 5
##                                               plausible values pv1..pv5 of a score)
##        tests/reference/imputation.json      one entry per case: the data, the
##                                               design, the call, df.complete and
##                                               MIcombine's coefficients, variance,
##                                               df and missinfo
##
## The logistic fits use glm.control(epsilon = 1e-14): R's default stops early
## enough to differ from a converged fit at 1e-5.
##
## The data are generated with a fixed seed and RNG kind; the output is the same
## on every run.

suppressPackageStartupMessages({
  library(survey)
  library(mitools)
  library(jsonlite)
})
source(file.path("tests", "reference", "common.R"))
t_start <- Sys.time()
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261204)

## ---- data -------------------------------------------------------------------
n_psu <- 5
per_psu <- 6
H <- 3
base <- expand.grid(unit = seq_len(per_psu), psu = seq_len(n_psu), stratum = seq_len(H))
base$psu <- (base$stratum - 1) * n_psu + base$psu
base$w <- round(10 + 5 * base$stratum + runif(nrow(base), 0, 4), 2)
base$Npsu <- 20 + 5 * base$stratum
base$g <- c("a", "b", "c")[(seq_len(nrow(base)) %% 3) + 1]
base$x <- round(rnorm(nrow(base), 10, 2), 3)
psu_eff <- rnorm(H * n_psu, 0, 1)[base$psu]
y_full <- round(2 + 0.8 * base$x + psu_eff + rnorm(nrow(base)), 3)
z_full <- as.numeric(y_full + rnorm(nrow(base)) > 11)
miss_y <- runif(nrow(base)) < 0.25
miss_z <- runif(nrow(base)) < 0.2
m <- 5
sets <- lapply(seq_len(m), function(k) {
  d <- base
  d$y <- y_full
  d$y[miss_y] <- round(2 + 0.8 * d$x[miss_y] + rnorm(sum(miss_y), 0, 1.5), 3)
  d$z <- z_full
  d$z[miss_z] <- as.numeric(runif(sum(miss_z)) < 0.5)
  d$imp <- k
  d
})
long <- do.call(rbind, sets)
long <- long[, c("imp", "stratum", "psu", "unit", "w", "Npsu", "g", "x", "y", "z")]
write_data(long, "mi_imputed")

pv <- base[, c("stratum", "psu", "unit", "w", "Npsu", "g", "x")]
theta <- 0.3 * pv$x + psu_eff + rnorm(nrow(pv))
for (k in 1:5) pv[[paste0("pv", k)]] <- round(theta + rnorm(nrow(pv), 0, 0.6), 3)
write_data(pv, "mi_pv")

long <- read_data("mi_imputed")
pv <- read_data("mi_pv")
imps <- imputationList(lapply(seq_len(m), function(k) long[long$imp == k, ]))
spec <- dspec(weights = "w", strata = "stratum", psu = "psu", fpc = "Npsu")
designs <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~Npsu, data = imps)
design_df <- degf(designs$designs[[1]])

cases <- list()
add <- function(id, res, data, call, df_complete, design = spec, replicate = NULL) {
  if (id %in% vapply(cases, function(c) c$id, "")) stop("duplicate id ", id)
  comb <- MIcombine(res, df.complete = df_complete)
  v <- as.matrix(comb$variance)
  if (max(abs(sqrt(diag(v)) - SE(comb))) > 1e-12) stop("SE mismatch in ", id)
  cases[[length(cases) + 1]] <<- list(
    id = id, data = data, design = design, replicate = replicate, call = call,
    df_complete = if (is.finite(df_complete)) df_complete else NULL,
    names = I(names(coef(comb))),
    estimate = I(unname(coef(comb))), vcov = unname(v),
    df = I(unname(comb$df)), missinfo = I(unname(comb$missinfo)), m = comb$nimp)
}

for (dfc in list(Inf, design_df)) {
  tag <- if (is.finite(dfc)) "_br" else ""
  add(paste0("mean_y", tag), with(designs, svymean(~y)), "mi_imputed",
      list(fn = "mean", y = I("y")), dfc)
  add(paste0("mean_yz", tag), with(designs, svymean(~y + z)), "mi_imputed",
      list(fn = "mean", y = I(c("y", "z"))), dfc)
  add(paste0("total_y", tag), with(designs, svytotal(~y)), "mi_imputed",
      list(fn = "total", y = I("y")), dfc)
  add(paste0("mean_y_by_g", tag), with(designs, svyby(~y, ~g, svymean, covmat = TRUE)), "mi_imputed",
      list(fn = "mean", y = I("y"), by = "g"), dfc)
  add(paste0("ratio_y_x", tag), with(designs, svyratio(~y, ~x)), "mi_imputed",
      list(fn = "ratio", y = I("y"), denominator = "x"), dfc)
  add(paste0("glm_gaussian", tag), with(designs, svyglm(y ~ x + g)), "mi_imputed",
      list(fn = "glm", formula = "y ~ x + g", family = "gaussian"), dfc)
  add(paste0("glm_logit", tag),
      with(designs, svyglm(z ~ x, family = quasibinomial(),
                                    control = glm.control(epsilon = 1e-14, maxit = 100))), "mi_imputed",
      list(fn = "glm", formula = "z ~ x", family = "binomial"), dfc)
}

## replicate weights over the imputations (JKn on each)
rdesigns <- lapply(designs$designs, as.svrepdesign, type = "JKn")
rres <- lapply(rdesigns, svymean, x = ~y)
add("jkn_mean_y", rres, "mi_imputed", list(fn = "mean", y = I("y")), Inf,
    replicate = list(method = "jkn"))

## plausible values: withPV on one design
pvdes <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~Npsu, data = pv)
pvmap <- score ~ pv1 + pv2 + pv3 + pv4 + pv5
add("pv_mean", withPV(pvmap, pvdes, action = quote(svymean(~score, design = .DESIGN)),
                      rewrite = FALSE), "mi_pv", list(fn = "mean", y = I("score")), Inf)
add("pv_mean_by_g", withPV(pvmap, pvdes, action = quote(svyby(~score, ~g, .DESIGN, svymean, covmat = TRUE)),
                           rewrite = FALSE), "mi_pv",
    list(fn = "mean", y = I("score"), by = "g"), Inf)
add("pv_glm_br", withPV(pvmap, pvdes, action = quote(svyglm(score ~ x, design = .DESIGN)),
                        rewrite = FALSE), "mi_pv",
    list(fn = "glm", formula = "score ~ x", family = "gaussian"), degf(pvdes))

write_cases(cases, "imputation", "tests/reference/make_imputation.R", t_start,
            extra = list(mitools_version = as.character(packageVersion("mitools")),
                         m = m, design_df = design_df,
                         pv = list(score = I(paste0("pv", 1:5)))))
