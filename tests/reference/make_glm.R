## Reference numbers for innobaro's survey GLMs (svyglm and friends).
##
## Run from the repository root:
##     Rscript tests/reference/make_glm.R
##
## Reads   tests/reference/data/{apistrat,apiclus1,apiclus2}.csv  (written by make_reference.R)
## Writes  tests/reference/data/glm_barometer.csv                 synthetic barometer-like sample
##         tests/reference/data/<name>_<jkn|jk1>.csv              data + exported replicate weights
##         tests/reference/glm.json                               one entry per case
##
## Every fit uses glm.control(epsilon = 1e-14, maxit = 100): R's default
## epsilon = 1e-8 leaves relative errors of about 1e-5 in the standard errors.
## All estimates are computed from the CSV files as read back from disk, so R and
## the Python tests see exactly the same decimal inputs.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})


if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_glm.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE,
        survey.drop.replicates = TRUE)
t_start <- Sys.time()

dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

GLM_EPSILON <- 1e-14
GLM_MAXIT <- 100L


## ---------------------------------------------------------------------------
## 1. Datasets
## ---------------------------------------------------------------------------

## glm_barometer: a synthetic innovation-barometer-like sample.  Stratified
## one-stage cluster sample of municipalities (PSUs, ids unique across strata)
## in 6 strata; every sampled unit of a sampled municipality's sample is
## observed.  N_psu = population count of municipalities in the stratum,
## w = N_psu/n_psu * M/m (M units in the municipality, m sampled), rounded.
## Municipality-level covariates: log_pop, centrality (1 = most central .. 6),
## free_income (index around 100); unit-level: log_employees, sector.
## The outcome has a municipality random effect, so there is a design effect.
make_glm_barometer <- function() {
  set.seed(20240702)
  strata <- c("capital", "east", "north", "south", "southwest", "west")
  n_h <- c(20L, 26L, 24L, 28L, 27L, 25L)
  extra <- c(6L, 31L, 38L, 24L, 20L, 27L)
  cprob <- rbind(c(.30, .25, .20, .10, .10, .05),
                 c(.10, .15, .20, .20, .20, .15),
                 c(.05, .10, .15, .20, .25, .25),
                 c(.15, .20, .20, .20, .15, .10),
                 c(.15, .20, .20, .15, .15, .15),
                 c(.10, .15, .20, .20, .20, .15))
  ids <- sample(100:999, sum(n_h))
  rows <- list()
  k <- 0L
  for (h in seq_along(strata)) {
    N_psu <- n_h[h] + extra[h]
    cent <- sample(1:6, n_h[h], replace = TRUE, prob = cprob[h, ])
    for (i in seq_len(n_h[h])) {
      k <- k + 1L
      c_i <- cent[i]
      pop <- round(exp(rnorm(1, 10.6 - 0.45 * (c_i - 1), 0.5)))
      log_pop <- round(log(pop), 6)
      free_income <- round(100 + 2 * (3.5 - c_i) + rnorm(1, 0, 10), 1)
      m <- sample(4:16, 1)
      M <- m + round(pop / 300)
      u <- rnorm(1, 0, 0.6)
      log_employees <- round(rnorm(m, 2.8 + 0.15 * (log_pop - 10), 1), 4)
      sector <- sample(c("education", "health"), m, replace = TRUE, prob = c(0.45, 0.55))
      eta <- -0.6 + 0.4 * (log_pop - 10) - 0.18 * (c_i - 1) + 0.025 * (free_income - 100) +
        0.35 * (log_employees - 2.8) + 0.3 * (sector == "health") + u
      rows[[k]] <- data.frame(stratum = strata[h], municipality = ids[k], N_psu = N_psu,
                              w = round(N_psu / n_h[h] * M / m, 4),
                              innovated = rbinom(m, 1, plogis(eta)), log_pop = log_pop,
                              centrality = c_i, free_income = free_income,
                              log_employees = log_employees, sector = sector,
                              stringsAsFactors = FALSE)
    }
  }
  do.call(rbind, rows)
}

write_data(make_glm_barometer(), "glm_barometer")

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2",
                 glm_barometer = "glm_barometer"), read_data)
## centrality is written as the integers 1..6; R makes it a factor (levels 1..6,
## reference level 1 = most central), innobaro uses C(centrality) in the formula.
DATA$glm_barometer$centrality <- factor(DATA$glm_barometer$centrality)
stopifnot(identical(levels(DATA$glm_barometer$centrality), as.character(1:6)))


## ---------------------------------------------------------------------------
## 2. Designs
## ---------------------------------------------------------------------------

## JSON form of a design: the linearization spec (as in linearization.json) with
## "type": "linearization", and "replicate": null or {"method", "mse"} when the
## case uses as.svrepdesign() of that design.
design_json <- function(spec, replicate = NULL) {
  list(type = "linearization", weights = spec$weights, probs = spec$probs,
       strata = json_cols(spec$strata), psu = json_cols(spec$psu),
       fpc = json_cols(spec$fpc), nest = spec$nest, lonely_psu = spec$lonely_psu,
       replicate = replicate)
}

## One-stage designs only here (apiclus2's two stages go through ids = ~dnum + snum).
## subset = {"column", "value", "op"}: keep rows with column == value (op "==")
## or column != value (op "!=").  survey 4.1 drops the other rows and keeps the
## full-design PSU counts (so the fpc and the zero-padding of absent PSUs are
## those of the full design).
subset_spec <- function(column, value, op = "==") list(column = column, value = value, op = op)

subset_design <- function(des, subset) {
  if (is.null(subset)) return(des)
  v <- model.frame(des)[[subset$column]]
  keep <- switch(subset$op, "==" = v == subset$value, "!=" = v != subset$value)
  des[!is.na(keep) & keep, ]
}

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  if (length(a) != length(b)) stop(sprintf("%s: length %d vs %d", what, length(a), length(b)))
  scale <- pmax(1, abs(a), abs(b))
  bad <- !(abs(a - b) <= tol * scale | (is.na(a) & is.na(b)))
  if (any(bad)) {
    stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad], na.rm = TRUE)))
  }
  invisible(TRUE)
}

num <- function(v) if (is.null(v)) NULL else I(unname(as.numeric(v)))
mat <- function(m) unname(as.matrix(m))


## ---------------------------------------------------------------------------
## 3. Fitting and naming
## ---------------------------------------------------------------------------

R_FAMILY <- list(binomial = quote(quasibinomial()), poisson = quote(quasipoisson()),
                 gaussian = quote(gaussian()))

## svyglm with the formula, family and control written literally into the call,
## so update() (regTermTest(method = "LRT"), svypredmeans, AIC) refits with the
## same settings.  `des` lives in this frame, which is also the formula's
## environment, where regTermTest evaluates its update().
fit_svyglm <- function(des, r_formula, family) {
  fml <- as.formula(r_formula)
  fam <- R_FAMILY[[family]]
  fit <- eval(bquote(svyglm(.(fml), design = des, family = .(fam),
                            control = glm.control(epsilon = .(GLM_EPSILON),
                                                  maxit = .(GLM_MAXIT)))))
  if (!fit$converged) stop("svyglm did not converge: ", r_formula)
  fit
}

## patsy spelling of the variables that differ from R's
PATSY_VAR <- c("log(api99)" = "np.log(api99)", centrality = "C(centrality)")
## dotted names are quoted in patsy: acs.46 is Q('acs.46')
patsy_var <- function(v) {
  if (v %in% names(PATSY_VAR)) PATSY_VAR[[v]] else if (grepl(".", v, fixed = TRUE))
    sprintf("Q('%s')", v) else v
}

## R's coefficient names and the patsy name of each (same position).  Factors use
## treatment contrasts with the first level as reference (R and patsy defaults):
## R "stypeH" = patsy "stype[T.H]"; interactions join the parts with ":", the
## first variable varying fastest (R's column order).  Checked against R's names.
coef_names <- function(fit) {
  tt <- terms(fit)
  fac <- attr(tt, "factors")
  labels <- attr(tt, "term.labels")
  mf <- model.frame(fit)
  r_names <- character(0)
  p_names <- character(0)
  if (attr(tt, "intercept") == 1) {
    r_names <- "(Intercept)"
    p_names <- "Intercept"
  }
  for (k in seq_along(labels)) {
    if (any(fac[, k] == 2)) stop("full dummy coding in term ", labels[k], " not supported")
    vars <- strsplit(labels[k], ":", fixed = TRUE)[[1]]
    parts_r <- list()
    parts_p <- list()
    for (v in vars) {
      x <- mf[[v]]
      if (is.factor(x) || is.character(x)) {
        lev <- if (is.factor(x)) levels(x) else sort(unique(x), method = "radix")
        lev <- lev[-1]
        parts_r[[v]] <- paste0(v, lev)
        parts_p[[v]] <- sprintf("%s[T.%s]", patsy_var(v), lev)
      } else {
        parts_r[[v]] <- v
        parts_p[[v]] <- patsy_var(v)
      }
    }
    grid_r <- expand.grid(parts_r, stringsAsFactors = FALSE)
    grid_p <- expand.grid(parts_p, stringsAsFactors = FALSE)
    r_names <- c(r_names, do.call(paste, c(grid_r, sep = ":")))
    p_names <- c(p_names, do.call(paste, c(grid_p, sep = ":")))
  }
  if (!identical(r_names, names(coef(fit)))) {
    stop("coefficient names: built ", paste(r_names, collapse = ","), " vs R ",
         paste(names(coef(fit)), collapse = ","))
  }
  list(r = r_names, patsy = p_names)
}

## Per-row influence functions of the coefficients, psi = estfun %*% Ainv, with
## estfun = x * working residual * working weight (prior weights = sampling
## weights / their mean); design-based vcov = svyrecvar(psi).  survey 4.1's own
## svyglm(influence = TRUE) has a typo and cannot be used.
coef_influence <- function(fit) {
  estfun <- model.matrix(fit) * resid(fit, "working") * fit$weights
  estfun %*% fit$naive.cov
}

## The common part of every result.
glm_result <- function(fit, names) {
  s <- summary(fit)
  ct <- s$coefficients
  V <- vcov(fit)
  ci <- confint(fit)
  ## confint.svyglm: Wald interval with t quantiles on df.residual
  crit <- qt(0.975, fit$df.residual)
  check_close(ci[, 1], coef(fit) - crit * sqrt(diag(V)), "confint = t(df.residual) interval")
  check_close(ci[, 2], coef(fit) + crit * sqrt(diag(V)), "confint upper")
  check_close(ct[, 4], 2 * pt(-abs(coef(fit) / sqrt(diag(V))), fit$df.residual), "summary p")
  ## summary()'s dispersion: svyvar() of the Pearson residuals
  pw <- fit$prior.weights
  ## Pearson residuals as residuals.svyglm defines them (survey 4.5 spelling):
  ## (y - mu) sqrt(prior weight / normalised sampling weight of the fitted rows) / sqrt(V(mu));
  ## the square root is 1 unless rows were dropped for missing values.
  pwd <- weights(fit$survey.design, "sampling")
  pwd <- pwd / mean(pwd)
  stopifnot(length(pwd) == length(pw))
  r <- (fit$y - fitted(fit)) * sqrt(pw / pwd) / sqrt(fit$family$variance(fitted(fit)))
  if (inherits(fit, "svrepglm")) {
    ## survey 4.1's summary() dispersion is wrong for replicate designs: its
    ## Pearson residuals use design$prob, which replicate designs do not have
    ## (fixed in survey 4.5, which uses weights(design, "sampling")).
    disp <- as.numeric(svyvar(r, fit$survey.design))[1]
  } else {
    disp <- as.numeric(s$dispersion)[1]
  }
  ## = n/(n-1) * weighted variance of the Pearson residuals
  nr <- length(r)
  check_close(disp, nr / (nr - 1) * sum(pw * (r - sum(pw * r) / sum(pw))^2) / sum(pw),
              "dispersion formula")
  ## glm's deviance and (gaussian) AIC use the prior weights w / mean(w)
  check_close(fit$deviance, sum(fit$family$dev.resids(fit$y, fitted(fit), pw)), "deviance")
  if (fit$family$family == "gaussian") {
    nr <- length(fit$y)
    check_close(fit$aic, nr * (log(2 * pi * fit$deviance / nr) + 1) + 2 - sum(log(pw)) +
                  2 * fit$rank, "gaussian aic formula")
  }
  list(
    names = I(names$r), patsy_names = I(names$patsy),
    params = num(coef(fit)), bse = num(sqrt(diag(V))), vcov = mat(V),
    tvalues = num(ct[, 3]), pvalues = num(ct[, 4]),
    df_resid = fit$df.residual,
    conf_int = mat(ci),
    naive_vcov = mat(fit$naive.cov),
    dispersion = disp,
    deviance = fit$deviance, null_deviance = fit$null.deviance,
    aic = if (is.finite(fit$aic)) fit$aic else NULL,
    nobs = length(fit$y), iter = fit$iter
  )
}

## R's svyglm df.residual rule, checked for every fit
check_df <- function(fit, des_used, id) {
  p <- sum(!is.na(coef(fit)))
  if (fit$df.residual != degf(des_used) + 1 - p) stop(id, ": df.residual rule")
}


## ---------------------------------------------------------------------------
## 4. Cases
## ---------------------------------------------------------------------------

CASES <- list()
add_case <- function(case) {
  if (case$id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", case$id)
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

model_json <- function(formula, r_formula, family, subset = NULL) {
  list(formula = formula, r_formula = r_formula, family = family,
       r_family = deparse(R_FAMILY[[family]]), subset = subset)
}

NOTE_NA <- paste(
  "rows with a missing model variable are dropped (R na.omit) after the weights are",
  "normalised: prior weights = w / mean(w over all rows of the design), so `deviance`",
  "and `null_deviance` use that scale and `dispersion` carries the factor",
  "mean(w complete rows)/mean(w all rows); df_resid uses degf() of the design",
  "restricted to complete rows")

## A linearization-design fit.
case_glm <- function(id, data, spec, formula, r_formula, family, subset = NULL, note = NULL) {
  des <- subset_design(build_design(DATA[[data]], spec), subset)
  fit <- fit_svyglm(des, r_formula, family)
  des_used <- fit$survey.design
  check_df(fit, des_used, id)
  ## the influence functions reproduce svyglm's vcov
  psi <- coef_influence(fit)
  check_close(svyrecvar(psi, des_used$cluster, des_used$strata, des_used$fpc), vcov(fit),
              paste(id, "vcov from influence functions"))
  res <- glm_result(fit, coef_names(fit))
  if (length(fit$na.action)) note <- paste(c(note, NOTE_NA), collapse = "; ")
  case <- list(id = id, data = data, design = design_json(spec),
               model = model_json(formula, r_formula, family, subset), result = res)
  if (!is.null(note)) case$note <- note
  list(case = case, fit = fit, des = des)
}

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
API_DESIGNS <- list(apistrat = S_STRAT, apiclus1 = S_CLUS1, apiclus2 = S_CLUS2)

NOT_H <- subset_spec("stype", "H", "!=")
for (d in names(API_DESIGNS)) {
  sp <- API_DESIGNS[[d]]
  p <- function(s) sprintf("%s_%s", d, s)
  add_case(case_glm(p("gaussian_api00"), d, sp, "api00 ~ ell + meals + mobility",
                    "api00 ~ ell + meals + mobility", "gaussian")$case)
  add_case(case_glm(p("binomial_sch_wide01"), d, sp, "sch_wide01 ~ ell + meals + stype",
                    "sch_wide01 ~ ell + meals + stype", "binomial")$case)
  add_case(case_glm(p("poisson_enroll"), d, sp, "enroll ~ stype + np.log(api99)",
                    "enroll ~ stype + log(api99)", "poisson")$case)
  add_case(case_glm(p("gaussian_interaction"), d, sp, "api00 ~ stype*ell",
                    "api00 ~ stype*ell", "gaussian")$case)
  add_case(case_glm(p("gaussian_api00_domain_notH"), d, sp, "api00 ~ ell + meals + mobility",
                    "api00 ~ ell + meals + mobility", "gaussian", subset = NOT_H,
                    note = paste("domain fit: svyglm(..., design = subset(design, stype != 'H'));",
                                 "df_resid uses degf() of the domain design"))$case)
}
add_case(case_glm("apiclus1_binomial_awards01_domain_E", "apiclus1", S_CLUS1,
                  "awards01 ~ ell + meals", "awards01 ~ ell + meals", "binomial",
                  subset = subset_spec("stype", "E"))$case)


## --- glm_barometer: the full logistic model and the tests built on it --------

S_BARO <- dspec(weights = "w", strata = "stratum", psu = "municipality", fpc = "N_psu")
BARO_F <- "innovated ~ log_pop + C(centrality) + free_income + log_employees"
BARO_R <- "innovated ~ log_pop + centrality + free_income + log_employees"

baro <- case_glm("glm_barometer_binomial_full", "glm_barometer", S_BARO, BARO_F, BARO_R,
                 "binomial")
fit <- baro$fit
des <- baro$des

## Kuonen's saddlepoint approximation to P(sum_i lambda_i X_i > x), X_i ~ chisq_1,
## solved to full precision (survey's saddle() uses uniroot(tol = 1e-8)).
saddle_tail <- function(x, lambda) {
  K <- function(z) -0.5 * sum(log(1 - 2 * z * lambda))
  K1 <- function(z) sum(lambda / (1 - 2 * z * lambda))
  K2 <- function(z) 2 * sum(lambda^2 / (1 - 2 * z * lambda)^2)
  hi <- if (any(lambda > 0)) min(1 / (2 * lambda[lambda > 0])) else 1e6
  lo <- if (any(lambda < 0)) max(1 / (2 * lambda[lambda < 0])) else -1e6
  eps <- 1e-12 * (hi - lo)
  z <- uniroot(function(z) K1(z) - x, c(lo + eps, hi - eps), tol = 1e-15)$root
  w <- sign(z) * sqrt(2 * (z * x - K(z)))
  v <- z * sqrt(K2(z))
  pnorm(w + log(v / w) / w, lower.tail = FALSE)
}
## survey's pFsum/pchisqsum(method = "saddlepoint") for a working LRT statistic
lrt_p_tight <- function(chisq, lambda, ddf) {
  if (is.finite(ddf)) saddle_tail(0, c(lambda, rep(-chisq / ddf, ddf)))
  else saddle_tail(chisq, lambda)
}

term_test <- function(id, fit, r_terms, patsy_terms, method = "Wald", df = NULL) {
  tf <- reformulate(r_terms)
  rt <- regTermTest(fit, tf, method = method, df = df)
  out <- list(id = id, terms = I(patsy_terms), r_terms = I(r_terms), method = method,
              df_arg = if (is.null(df)) NULL else if (is.infinite(df)) "Inf" else df)
  if (method == "Wald") {
    ## default ddf is fit$df.residual; df = Inf gives the chi-square form
    if (is.null(rt$Ftest)) {
      out <- c(out, list(statistic = "chisq", chisq = as.numeric(rt$chisq), df = rt$df,
                         ddf = NULL, p = as.numeric(rt$p)))
      check_close(rt$p, pchisq(rt$chisq, rt$df, lower.tail = FALSE), paste(id, "p"))
    } else {
      out <- c(out, list(statistic = "F", F = as.numeric(rt$Ftest), df = rt$df, ddf = rt$ddf,
                         chisq = as.numeric(rt$Ftest) * rt$df,
                         p = as.numeric(rt$p)))
      check_close(rt$p, pf(rt$Ftest, rt$df, rt$ddf, lower.tail = FALSE), paste(id, "p"))
      if (is.null(df)) stopifnot(rt$ddf == fit$df.residual)
    }
  } else {
    lambda <- sort(rt$lambda, decreasing = TRUE)
    p_tight <- lrt_p_tight(as.numeric(rt$chisq), lambda, rt$ddf)
    check_close(p_tight, rt$p, paste(id, "saddlepoint p (tight root vs survey)"), tol = 1e-6)
    out <- c(out, list(statistic = "chisq", chisq = as.numeric(rt$chisq),
                       chisq_scaled = as.numeric(rt$chisq) / mean(lambda),
                       lambda = num(lambda), df = rt$df,
                       ddf = if (is.finite(rt$ddf)) rt$ddf else NULL,
                       p = as.numeric(rt$p), p_tight = p_tight,
                       p_method = if (is.finite(rt$ddf)) "pFsum saddlepoint" else
                         "pchisqsum saddlepoint"))
  }
  out
}

## the working LRT statistic: deviance difference of the two fits (prior weights
## w/mean(w)); lambda: eigenvalues of naive_vcov^-1 vcov for the tested coefficients
idx_c <- grep("^centrality", names(coef(fit)))
fit0 <- fit_svyglm(des, "innovated ~ log_pop + free_income + log_employees", "binomial")
lrt <- regTermTest(fit, ~centrality, method = "LRT")
check_close(lrt$chisq, fit0$deviance - fit$deviance, "LRT chisq = deviance difference")
lam_c <- Re(eigen(solve(fit$naive.cov[idx_c, idx_c], vcov(fit)[idx_c, idx_c]))$values)
check_close(sort(lrt$lambda), sort(lam_c), "LRT lambda")

baro$case$result$term_tests <- list(
  term_test("centrality_wald_F", fit, "centrality", "C(centrality)"),
  term_test("centrality_wald_chisq", fit, "centrality", "C(centrality)", df = Inf),
  term_test("centrality_lrt", fit, "centrality", "C(centrality)", method = "LRT"),
  term_test("centrality_lrt_chisq", fit, "centrality", "C(centrality)", method = "LRT", df = Inf),
  term_test("centrality_workingwald", fit, "centrality", "C(centrality)", method = "WorkingWald"),
  term_test("log_pop_free_income_wald_F", fit, c("log_pop", "free_income"),
            c("log_pop", "free_income")),
  term_test("log_pop_free_income_wald_chisq", fit, c("log_pop", "free_income"),
            c("log_pop", "free_income"), df = Inf),
  term_test("log_pop_free_income_lrt", fit, c("log_pop", "free_income"),
            c("log_pop", "free_income"), method = "LRT")
)

## predictions for one row per centrality class
newdata <- data.frame(log_pop = c(12.1, 11.2, 10.5, 9.9, 9.3, 8.6),
                      centrality = factor(1:6, levels = levels(DATA$glm_barometer$centrality)),
                      free_income = c(108.5, 104, 100, 97.2, 95, 90.4),
                      log_employees = c(3.5, 2.2, 0.7, 4.1, 2.9, 1.6))
pr <- predict(fit, newdata, type = "response", se.fit = TRUE)
pl <- predict(fit, newdata, type = "link", se.fit = TRUE)
check_close(coef(pr), plogis(coef(pl)), "response = plogis(link)")
check_close(SE(pr), SE(pl) * dlogis(coef(pl)), "response se = link se * mu.eta")
baro$case$result$predict <- list(
  newdata = list(log_pop = num(newdata$log_pop), centrality = I(1:6),
                 free_income = num(newdata$free_income),
                 log_employees = num(newdata$log_employees)),
  link = list(fit = num(coef(pl)), se = num(SE(pl))),
  response = list(fit = num(coef(pr)), se = num(SE(pr))))

## predictive margins over centrality.  svypredmeans() refits the adjustment model
## plus the group factor (the full model again, centrality last), sets every
## row's centrality to each class in turn, and averages the predicted
## probabilities with the sampling weights.  Its variance is
##   var_design(mean of fitted values, coefficients fixed) + g' V g,
## g = d margin / d beta = sum_i w_i mu'(eta_ik) x_ik / sum_i w_i;
## the covariance of the two parts is left out.  The full linearization adds it:
## influence z_ik = w_i (mu_ik - m_k) / sum(w) + g_k' psi_i (psi: coefficient
## influence functions), variance svyrecvar(z).
adj <- fit_svyglm(des, "innovated ~ log_pop + free_income + log_employees", "binomial")
pm <- svypredmeans(adj, ~centrality)
pm_labels <- names(coef(pm))
ord <- order(as.numeric(pm_labels))
pm_model <- update(adj, . ~ . + centrality)
check_close(coef(pm_model)[names(coef(fit))], coef(fit), "svypredmeans model = full model")
mf <- model.frame(des)
w <- weights(des, "sampling")
psi <- coef_influence(fit)
Z <- matrix(0, nrow(mf), 6)
margins <- numeric(6)
G <- matrix(0, length(coef(fit)), 6)
for (k in 1:6) {
  nd <- mf
  nd$centrality <- factor(k, levels = 1:6)
  X <- model.matrix(delete.response(terms(fit)), nd)
  eta <- drop(X %*% coef(fit))
  mu <- plogis(eta)
  margins[k] <- sum(w * mu) / sum(w)
  G[, k] <- colSums(w * dlogis(eta) * X) / sum(w)
  Z[, k] <- w * (mu - margins[k]) / sum(w) + psi %*% G[, k]
}
V_lin <- svyrecvar(Z, des$cluster, des$strata, des$fpc)
V_pm <- vcov(pm)[ord, ord]
parts <- attr(vcov(pm), "parts")
check_close(margins, coef(pm)[ord], "predictive margins")
check_close(t(G) %*% vcov(fit) %*% G, parts[[1]][ord, ord], "svypredmeans coefficient part")
baro$case$result$predictive_margins <- list(
  factor = "C(centrality)", r_factor = "centrality",
  adjust_formula = "innovated ~ log_pop + free_income + log_employees",
  labels = I(pm_labels[ord]),
  margin = num(coef(pm)[ord]),
  se = num(sqrt(diag(V_pm))), vcov = mat(V_pm),
  vcov_design_part = mat(parts[[2]][ord, ord]), vcov_coef_part = mat(parts[[1]][ord, ord]),
  se_linearized = num(sqrt(diag(V_lin))), vcov_linearized = mat(V_lin))

## pseudo R-squared (psrsq): with prior weights w/mean(w), n rows, deviances D1, D0
##   Cox-Snell  = 1 - exp((D1 - D0) / n);  Nagelkerke = Cox-Snell / (1 - exp(-D0 / n))
n <- length(fit$y)
cs <- psrsq(fit, method = "Cox-Snell")
nk <- psrsq(fit, method = "Nagelkerke")
check_close(cs, 1 - exp((fit$deviance - fit$null.deviance) / n), "Cox-Snell formula")
check_close(nk, cs / (1 - exp(-fit$null.deviance / n)), "Nagelkerke formula")
baro$case$result$psrsq <- list(cox_snell = cs, nagelkerke = nk)

## dAIC (AIC.svyglm): working LRT of all non-intercept terms gives lambda;
## eff.p = sum(lambda), AIC = deviance + 2 eff.p, deltabar = mean(lambda)
aic <- AIC(fit)
lam_all <- Re(eigen(solve(fit$naive.cov[-1, -1], vcov(fit)[-1, -1]))$values)
check_close(aic, c(sum(lam_all), fit$deviance + 2 * sum(lam_all), mean(lam_all)), "dAIC formula")
baro$case$result$daic <- list(eff_p = unname(aic["eff.p"]), AIC = unname(aic["AIC"]),
                              deltabar = unname(aic["deltabar"]))

## odds ratios
ci <- confint(fit)
baro$case$result$odds_ratios <- list(estimate = num(exp(coef(fit))),
                                     lower = num(exp(ci[, 1])), upper = num(exp(ci[, 2])))
baro$case$note <- paste(
  "term_tests: regTermTest (Wald F with ddf = df_resid by default; df = Inf gives chisq;",
  "LRT = Rao-Scott working LRT, chisq = deviance difference, p from survey's saddlepoint",
  "(p) and from the same saddlepoint solved to full precision (p_tight));",
  "predictive_margins: svypredmeans(adjust model, ~centrality), se = survey's (no",
  "covariance between the two variance parts), se_linearized = full linearization;",
  "predict: predict.svyglm(newdata, type, se.fit = TRUE); psrsq, daic (AIC.svyglm),",
  "odds_ratios = exp(coef), exp(confint)")
add_case(baro$case)

add_case(case_glm("glm_barometer_binomial_sector", "glm_barometer", S_BARO,
                  paste(BARO_F, "+ sector + log_employees:sector"),
                  paste(BARO_R, "+ sector + log_employees:sector"), "binomial")$case)
add_case(case_glm("glm_barometer_binomial_domain_education", "glm_barometer", S_BARO,
                  "innovated ~ log_pop + C(centrality) + free_income + log_employees",
                  BARO_R, "binomial", subset = subset_spec("sector", "education"),
                  note = "domain fit: df_resid uses degf() of the domain design")$case)
add_case(case_glm("glm_barometer_gaussian_log_employees", "glm_barometer", S_BARO,
                  "log_employees ~ log_pop + C(centrality) + sector",
                  "log_employees ~ log_pop + centrality + sector", "gaussian")$case)


## --- replicate designs ------------------------------------------------------

## Replicate designs follow replicates.json's conventions.  Each case <id> is
## as.svrepdesign() of a linearization design; its twin <id>_repw gives R's
## analysis weights (full weights, columns repw_1..repw_R of the case's CSV,
## which holds the data plus those columns) to svrepdesign() with scale and
## rscales explicit.  Both get the same results.
resolved_json <- function(rdes, R, columns = TRUE) {
  out <- list(replicates = R, scale = rdes$scale, rscales = num(rdes$rscales))
  if (columns) out$weights_columns <- I(paste0("repw_", seq_len(R)))
  out
}
rep_design_json <- function(weights, R, method, rdes) {
  list(type = "replicate", weights = weights,
       replicate_weights = I(paste0("repw_", seq_len(R))),
       method = method, scale = rdes$scale, rscales = num(rdes$rscales), rho = NULL,
       mse = FALSE, combined_weights = TRUE, resolved = resolved_json(rdes, R, FALSE))
}

NOTE_REP_DISP <- paste(
  "dispersion: survey 4.1's summary() value is wrong for replicate designs (its Pearson",
  "residuals use design$prob, absent in replicate designs); recorded is svyvar() of the",
  "correct Pearson residuals, as survey 4.5 does and as in the linearization cases")

case_replicate <- function(id, data, spec, r_type, formula, r_formula, family) {
  method <- tolower(r_type)
  ## write the data plus R's replicate weights, then work from the CSV read back
  rdes0 <- as.svrepdesign(build_design(DATA[[data]], spec), type = r_type, mse = FALSE,
                          compress = FALSE)
  raw <- read.csv(data_path(data), stringsAsFactors = FALSE, check.names = FALSE,
                  na.strings = "")
  repw_r <- weights(rdes0, "analysis")
  repw <- matrix(as.numeric(repw_r), nrow = nrow(raw))
  stopifnot(identical(dim(repw), dim(repw_r)))
  R <- ncol(repw)
  colnames(repw) <- paste0("repw_", seq_len(R))
  rep_name <- paste0(if (startsWith(data, "glm_")) "" else "glm_", data, "_", method)
  write_data(cbind(raw, repw), rep_name)
  back <- read_data(rep_name)
  if (data == "glm_barometer") back$centrality <- factor(back$centrality)

  ## <id>: as.svrepdesign of the linearization design
  des <- build_design(back, spec)
  rdes <- as.svrepdesign(des, type = r_type, mse = FALSE, compress = FALSE)
  fit <- fit_svyglm(rdes, r_formula, family)
  check_df(fit, rdes, id)
  ## df.residual = degf + 1 - p, degf = rank of the replicate weights - 1
  stopifnot(degf(rdes) == qr(weights(rdes, "analysis"), tol = 1e-5)$rank - 1)
  nm <- coef_names(fit)
  res <- glm_result(fit, nm)
  res$degf <- degf(rdes)
  dj <- design_json(spec, list(method = method, rho = NULL, mse = FALSE))
  dj$resolved <- resolved_json(rdes, R)
  case1 <- list(id = id, data = rep_name, design = dj,
                model = model_json(formula, r_formula, family), result = res,
                note = sprintf(paste("as.svrepdesign(design, type = '%s'); df_resid = degf + 1 - p",
                                     "with degf = rank(replicate weights) - 1 = %d (linearization",
                                     "degf is %d); %s"), r_type, degf(rdes), degf(des),
                             NOTE_REP_DISP))

  ## <id>_repw: the exported weights
  rdes2 <- svrepdesign(data = back, repweights = "repw_[0-9]+", weights = reformulate(spec$weights),
                       type = r_type, scale = rdes$scale, rscales = rdes$rscales,
                       combined.weights = TRUE, mse = FALSE)
  fit2 <- fit_svyglm(rdes2, r_formula, family)
  check_df(fit2, rdes2, paste(id, "repw"))
  res2 <- glm_result(fit2, nm)
  res2$degf <- degf(rdes2)
  check_close(res2$params, res$params, paste(id, "repw params"))
  check_close(res2$vcov, res$vcov, paste(id, "repw vcov"))
  stopifnot(res2$df_resid == res$df_resid)
  case2 <- list(id = paste0(id, "_repw"), data = rep_name,
                design = rep_design_json(spec$weights, R, method, rdes),
                model = model_json(formula, r_formula, family), result = res2,
                note = sprintf(paste("svrepdesign(type = '%s', repweights = repw_*,",
                                     "combined.weights = TRUE, scale, rscales as given) on the",
                                     "analysis weights of as.svrepdesign(); %s"),
                               r_type, NOTE_REP_DISP))
  list(case1, case2)
}

for (cs in c(
  case_replicate("glm_barometer_binomial_full_jkn", "glm_barometer", S_BARO, "JKn",
                 BARO_F, BARO_R, "binomial"),
  case_replicate("apistrat_gaussian_api00_jkn", "apistrat", S_STRAT, "JKn",
                 "api00 ~ ell + meals + mobility", "api00 ~ ell + meals + mobility", "gaussian"),
  case_replicate("apiclus1_gaussian_api00_jk1", "apiclus1", S_CLUS1, "JK1",
                 "api00 ~ ell + meals + mobility", "api00 ~ ell + meals + mobility", "gaussian"),
  case_replicate("apiclus1_binomial_sch_wide01_jk1", "apiclus1", S_CLUS1, "JK1",
                 "sch_wide01 ~ ell + meals + stype", "sch_wide01 ~ ell + meals + stype",
                 "binomial"),
  ## acs.46 is missing in 66 of the 200 schools, each its own PSU: svyglm on a
  ## replicate design counts degf before dropping them (rank of all 200 rows),
  ## where a linearization design counts after
  case_replicate("apistrat_binomial_sch_wide01_na_jkn", "apistrat", S_STRAT, "JKn",
                 "sch_wide01 ~ ell + meals + Q('acs.46')", "sch_wide01 ~ ell + meals + acs.46",
                 "binomial")
)) add_case(cs)


## --- separation: note only ----------------------------------------------------

## I(growth >= target) predicts sch_wide01 perfectly in apistrat.  Fitted with
## quasibinomial (as every binomial case here) and, to show glm's warnings,
## with binomial, at R's default epsilon and at the tight one.
fit_warnings <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    msgs <<- c(msgs, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(value = value, warnings = unique(msgs))
}
sep_des <- build_design(DATA$apistrat, S_STRAT)
sep_fit <- function(family, epsilon) {
  fit_warnings(eval(bquote(svyglm(sch_wide01 ~ ell + I(growth >= target), design = sep_des,
                                  family = .(family),
                                  control = glm.control(epsilon = .(epsilon),
                                                        maxit = .(GLM_MAXIT))))))
}
sep_q <- sep_fit(quote(quasibinomial()), GLM_EPSILON)
sep_q8 <- sep_fit(quote(quasibinomial()), 1e-8)
sep_b <- sep_fit(quote(binomial()), GLM_EPSILON)
stopifnot(length(sep_q$warnings) == 0)
describe_sep <- function(f, eps) {
  j <- 3
  sprintf(paste("epsilon = %g: %d iterations, converged = %s, deviance %.2g, coefficient %.4g",
                "with design SE %.3g (t = %.0f) and model-based SE %.3g"),
          eps, f$iter, f$converged, f$deviance, coef(f)[j], sqrt(vcov(f)[j, j]),
          coef(f)[j] / sqrt(vcov(f)[j, j]), sqrt(f$naive.cov[j, j]))
}
add_case(list(
  id = "apistrat_binomial_separation", data = "apistrat", design = design_json(S_STRAT),
  model = model_json("sch_wide01 ~ ell + I(growth >= target)",
                     "sch_wide01 ~ ell + I(growth >= target)", "binomial"),
  result = NULL,
  r_warnings = I(sep_b$warnings),
  note = paste(
    "note only, no numbers to match. I(growth >= target) separates sch_wide01 perfectly",
    sprintf("(%d rows with missing target dropped).", length(sep_q$value$na.action)),
    "quasibinomial() gives no warning at all (glm.fit only checks for fitted 0/1",
    "probabilities when family is 'binomial'); binomial() warns as in r_warnings.",
    "glm's relative-deviance criterion stops once the deviance is ~0, so the fit 'converges'",
    "at an arbitrary point:", paste0(describe_sep(sep_q8$value, 1e-8), ";"),
    paste0(describe_sep(sep_q$value, GLM_EPSILON), "."), "The sandwich SE collapses (the working",
    "residuals vanish) while the model-based SE explodes, so R reports a hugely",
    "'significant' coefficient; innobaro should detect separation and warn or refuse.")
))


## ---------------------------------------------------------------------------
## 5. Write the JSON
## ---------------------------------------------------------------------------

count_nonfinite <- function(case) {
  if (is.null(case$result)) return(0)
  nums <- rapply(case$result, function(x) if (is.numeric(x)) x else NULL, how = "unlist")
  sum(!is.finite(nums))
}
nonfinite <- vapply(CASES, count_nonfinite, 0)
if (any(nonfinite > 0)) {
  message("cases with non-finite numbers (written as null):")
  for (i in which(nonfinite > 0)) message("  ", CASES[[i]]$id, ": ", nonfinite[i])
}

write_cases(CASES, "glm", "tests/reference/make_glm.R", t_start,
            extra = list(glm_control = list(
              epsilon = GLM_EPSILON, maxit = GLM_MAXIT,
              criterion = "|dev - dev_old| / (|dev| + 0.1) < epsilon (glm.fit)")))
