## Reference numbers for innobaro.sae (small-area estimation).
## Writes tests/reference/sae.json and data/sae_*.csv. Cases:
## - "fh": the area-level Fay-Herriot model fitted by metafor's rma() with the
##   direct estimates' variances as known sampling variances (method "REML", "ML";
##   Fay-Herriot's moment estimator is metafor's "EB" and "PM", both stored and
##   checked equal here): the variance component tau2 (A), the coefficients and
##   their covariance, the shrinkage factors and the BLUPs (blup()$pred).
##   The MSE is not metafor's: it is evaluated here from the published formulas
##   (Rao and Molina 2015, sec. 6.2.1; Datta and Lahiri 2000; Datta, Rao and Smith
##   2005) at metafor's tau2: g1, g2, g3, "mse_pr" = g1 + g2 + 2 g3 and "mse_dl" =
##   mse_pr - b(A) * B^2 (the bias-corrected version for ML and FH; = mse_pr for REML).
## - "fh_design": the chain from microdata: svyby(svymean) of the synthetic
##   barometer by county x sector (weights final_weight, strata stratum), area
##   covariates from the frame (mean centrality and mean free income of the units of
##   each cell), then rma(REML) as above.
## - "bhf": the unit-level Battese-Harter-Fuller model fitted by lme4's lmer(REML):
##   variance components, fixed effects and their covariance, random effects, and the
##   EBLUP of every area mean, Xbar_i' beta + v_i (Xbar'beta where the area has no
##   sample).
## Run from the repository root: Rscript tests/reference/make_sae.R
source(file.path("tests", "reference", "common.R"))
suppressPackageStartupMessages({
  library(jsonlite)
  library(survey)
  library(metafor)
  library(lme4)
})
t_start <- Sys.time()
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(2015)

cases <- list()
add <- function(case) {
  ids <- vapply(cases, function(c) c$id, "")
  if (case$id %in% ids) stop("duplicate id ", case$id)
  cases[[length(cases) + 1]] <<- case
}

ctl <- list(threshold = 1e-13, maxiter = 10000, tol = 1e-13)

## Rao and Molina (2015), eq. 6.2.11-6.2.31: the MSE of the Fay-Herriot EBLUP.
fh_mse <- function(D, X, A, method) {
  m <- length(D); V <- A + D; w <- 1 / V
  Phi <- solve(crossprod(X, X * w))
  B <- D / V
  g1 <- A * D / V
  g2 <- B^2 * rowSums((X %*% Phi) * X)
  vbar <- if (method == "FH") 2 * m / sum(w)^2 else 2 / sum(w^2)
  g3 <- B^2 / V * vbar
  b <- switch(method,
              REML = 0,
              ML = -sum(diag(Phi %*% crossprod(X, X * w^2))) / sum(w^2),
              FH = 2 * (m * sum(w^2) - sum(w)^2) / sum(w)^3)
  list(g1 = g1, g2 = g2, g3 = g3, mse_pr = g1 + g2 + 2 * g3, mse_dl = g1 + g2 + 2 * g3 - b * B^2,
       bias_A = b)
}

fit_fh <- function(id, data, yi, vi, mods, method, note = NULL) {
  metafor_method <- if (method == "FH") "EB" else method
  dat <- data
  dat$.yi <- data[[yi]]
  dat$.vi <- data[[vi]]
  fit <- rma(yi = .yi, vi = .vi, mods = mods, data = dat, method = metafor_method,
             control = ctl)
  if (method == "FH") {
    pm <- rma(yi = .yi, vi = .vi, mods = mods, data = dat, method = "PM", control = ctl)
    if (abs(pm$tau2 - fit$tau2) > 1e-9 * max(1, fit$tau2)) stop(id, ": EB and PM differ")
    X <- model.matrix(mods, data)
    r <- data[[yi]] - X %*% coef(fit)
    Q <- sum(r^2 / (fit$tau2 + data[[vi]]))
    if (fit$tau2 > 0 && abs(Q - (nrow(X) - ncol(X))) > 1e-8) stop(id, ": not the FH equation")
  }
  X <- model.matrix(mods, data)
  bl <- blup(fit)
  mse <- fh_mse(data[[vi]], X, fit$tau2, method)
  add(c(list(id = id, kind = "fh", method = method, metafor_method = metafor_method,
             y = yi, var = vi, mods = deparse(mods), columns = colnames(X),
             tau2 = fit$tau2, beta = unname(as.vector(coef(fit))),
             vcov = unname(vcov(fit)), gamma = fit$tau2 / (fit$tau2 + data[[vi]]),
             blup = bl$pred, blup_se = bl$se), mse, if (!is.null(note)) list(note = note)))
}

## 1. The milk data (Arora and Lahiri 1997; R package sae's `milk`; samplics'
##    tests/sae/milk.csv): 43 small areas in 4 major areas, yi the direct estimate
##    of expenditure on fresh milk and SD its standard error.
milk <- data.frame(
  SmallArea = 1:43,
  ni = c(191, 633, 597, 221, 195, 191, 183, 188, 204, 188, 149, 290, 250, 194, 184, 193, 218,
         266, 214, 213, 196, 95, 195, 187, 479, 230, 186, 199, 238, 207, 165, 153, 210, 383,
         255, 226, 224, 212, 211, 179, 312, 241, 205),
  yi = c(1.099, 1.075, 1.105, 0.628, 0.753, 0.981, 1.257, 1.095, 1.405, 1.356, 0.615, 1.46,
         1.338, 0.854, 1.176, 1.111, 1.257, 1.43, 1.278, 1.292, 1.002, 1.183, 1.044, 1.267,
         1.193, 0.791, 0.795, 0.759, 0.796, 0.565, 0.886, 0.952, 0.807, 0.582, 0.684, 0.787,
         0.44, 0.759, 0.77, 0.8, 0.756, 0.865, 0.64),
  SD = c(0.163, 0.08, 0.083, 0.109, 0.119, 0.141, 0.202, 0.127, 0.168, 0.178, 0.1, 0.201,
         0.148, 0.143, 0.149, 0.145, 0.135, 0.172, 0.137, 0.163, 0.125, 0.247, 0.14, 0.171,
         0.106, 0.121, 0.121, 0.259, 0.106, 0.089, 0.225, 0.205, 0.119, 0.067, 0.106, 0.126,
         0.092, 0.132, 0.1, 0.113, 0.083, 0.121, 0.129),
  MajorArea = rep(1:4, c(7, 7, 11, 18)))
milk$var <- milk$SD^2
milk$MajorArea <- paste0("m", milk$MajorArea)
write_data(milk, "sae_milk")
milk <- read_data("sae_milk")
for (method in c("REML", "ML", "FH")) {
  fit_fh(paste0("milk_", method), milk, "yi", "var", ~ MajorArea, method,
         note = "the milk data of Arora and Lahiri (1997), as in R's sae and samplics")
}

## 2. Simulated area-level data: 60 areas, two covariates, unequal sampling variances;
##    a second response with little between-area variation, where REML and the moment
##    estimator end at the boundary tau2 = 0.
m <- 60
sim <- data.frame(area = sprintf("a%02d", 1:m), x1 = round(rnorm(m, 2, 1), 4),
                  x2 = round(runif(m), 4), D = round(runif(m, 0.05, 0.6), 4))
sim$y <- round(1 + 0.8 * sim$x1 - 1.5 * sim$x2 + rnorm(m, 0, sqrt(0.3)) +
                 rnorm(m, 0, sqrt(sim$D)), 6)
sim$y0 <- round(1 + 0.8 * sim$x1 + rnorm(m, 0, sqrt(sim$D) * 0.6), 6)
write_data(sim, "sae_fh_sim")
sim <- read_data("sae_fh_sim")
for (method in c("REML", "ML", "FH")) {
  fit_fh(paste0("sim_", method), sim, "y", "D", ~ x1 + x2, method)
  fit_fh(paste0("sim_boundary_", method), sim, "y0", "D", ~ x1 + x2, method,
         note = "tau2 truncated at 0")
}
if (cases[[length(cases)]]$tau2 != 0) stop("the boundary case is not at the boundary")

## 3. From microdata: the synthetic barometer by county x sector.
baro <- read.csv("innobaro/datasets/data/synthetic_barometer_2018.csv", encoding = "UTF-8",
                 colClasses = c(unit_id = "character", municipality_code = "character"))
frame <- read.csv("innobaro/datasets/data/synthetic_barometer_frame.csv", encoding = "UTF-8",
                  colClasses = c(unit_id = "character", municipality_code = "character"))
frame <- frame[!is.na(frame$sampled_2018), ]
des <- svydesign(ids = ~1, strata = ~stratum, weights = ~final_weight, data = baro)
direct <- svyby(~innovated, ~county + sector, des, svymean, keep.var = TRUE)
cells <- aggregate(cbind(centrality, free_income) ~ county + sector, data = frame, FUN = mean)
cells <- merge(cells, data.frame(county = direct$county, sector = direct$sector,
                                 direct = direct$innovated, var = SE(direct)^2))
cells <- cells[order(cells$county, cells$sector, method = "radix"), ]
fit_fh("barometer_county_sector_REML", cells, "direct", "var",
       ~ sector + centrality + free_income, "REML",
       note = "direct: svymean(~innovated) by county x sector; covariates: frame means")
cases[[length(cases)]]$county <- as.character(cells$county)
cases[[length(cases)]]$sector <- as.character(cells$sector)
cases[[length(cases)]]$direct <- cells$direct
cases[[length(cases)]]$direct_var <- cells$var

## 4. Unit level: Battese-Harter-Fuller by lme4, 30 areas of which 24 sampled.
M <- 30
areas <- sprintf("d%02d", 1:M)
n_i <- c(sample(2:15, 24, replace = TRUE), rep(0, 6))
xbar <- data.frame(area = areas, x1 = round(rnorm(M, 5, 1), 4), x2 = round(runif(M, 0.2, 0.8), 4))
unit <- data.frame(area = rep(areas, n_i))
unit$x1 <- round(rnorm(nrow(unit), xbar$x1[match(unit$area, areas)], 1.5), 4)
unit$x2 <- as.numeric(runif(nrow(unit)) < xbar$x2[match(unit$area, areas)])
v <- rnorm(M, 0, 0.7)
unit$y <- round(2 + 0.6 * unit$x1 - 1.2 * unit$x2 + v[match(unit$area, areas)] +
                  rnorm(nrow(unit), 0, 1.3), 6)
write_data(unit, "sae_bhf_units")
write_data(xbar, "sae_bhf_means")
unit <- read_data("sae_bhf_units")
xbar <- read_data("sae_bhf_means")
fit <- lmer(y ~ x1 + x2 + (1 | area), data = unit, REML = TRUE,
            control = lmerControl(optimizer = "nloptwrap",
                                  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15,
                                                 xtol_rel = 1e-14, ftol_rel = 1e-15,
                                                 maxeval = 100000)))
vc <- as.data.frame(VarCorr(fit))
re <- ranef(fit)$area
beta <- fixef(fit)
Xb <- cbind(1, xbar$x1, xbar$x2)
v_hat <- re[match(as.character(xbar$area), rownames(re)), 1]
v_hat[is.na(v_hat)] <- 0
add(list(id = "bhf_sim", kind = "bhf", formula = "y ~ x1 + x2", area = "area",
         sigma2_v = vc$vcov[vc$grp == "area"], sigma2_e = vc$vcov[vc$grp == "Residual"],
         beta = unname(beta), vcov = unname(as.matrix(vcov(fit))),
         ranef_area = rownames(re), ranef = re[, 1],
         mean_area = as.character(xbar$area), eblup = as.vector(Xb %*% beta) + v_hat,
         sampled = as.character(xbar$area) %in% rownames(re), reml = REMLcrit(fit)))

write_cases(cases, "sae", "tests/reference/make_sae.R", t_start,
            extra = list(metafor_version = as.character(packageVersion("metafor")),
                         lme4_version = as.character(packageVersion("lme4"))))
