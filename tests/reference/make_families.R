## Reference numbers for innobaro's GLM families and links (svyglm with every family).
##
## Run from the repository root:
##     Rscript tests/reference/make_families.R
##
## Reads   tests/reference/data/{apistrat,apiclus1}.csv  (written by make_reference.R)
## Writes  tests/reference/families.json                  one entry per case
##
## Each case is svyglm() with one family and link (binomial with probit, cloglog,
## cauchit and log links; quasibinomial, quasipoisson with identity and sqrt links;
## Gamma and inverse.gaussian with their links; gaussian with log and inverse links;
## quasi() with a variance function; MASS::negative.binomial(theta); an offset) on
## a linearization design and, for most, on a replicate design made from it with
## as.svrepdesign(); innobaro builds the same replicates with Design.replicate().
##
## Convergence: glm.control(epsilon = 1e-30, maxit = 100), then polished.  glm.fit
## stops when |dev - dev_old| / (|dev| + 0.1) < epsilon, and a deviance is flat to
## rounding while Fisher scoring on a non-canonical link still moves the
## coefficients by up to 1e-8 relative (with the 1e-14 of make_glm.R, up to 1e-7).
## So every fit is refitted from its own coefficients (start =) until a refit
## moves none by more than 1e-14 relative (fit_svyglm); replicate designs get
## their covariance from svyglm.svyrep.design's own computation (every replicate
## refitted by glm.fit from the full-sample coefficients, then svrVar) with each
## refit polished the same way (replicate_vcov), checked against svyglm's vcov at
## 1e-5.  glm.fit's "algorithm did not converge" warning (the negative binomial's
## deviance changes in its last bits for ever) is muffled and counted
## (r_unconverged_warnings); the polish is what decides.

## All estimates are computed from the CSV files as read back from disk.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
  library(MASS)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_families.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE,
        survey.drop.replicates = TRUE)
t_start <- Sys.time()

GLM_EPSILON <- 1e-30
GLM_MAXIT <- 100L
POLISH_TOL <- 1e-14
POLISH_MAX <- 50L

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1",
                 glm_barometer = "glm_barometer"), read_data)
## glm_barometer is make_glm.R's synthetic barometer sample; centrality 1..6 is
## a factor in R, C(centrality) in patsy
DATA$glm_barometer$centrality <- factor(DATA$glm_barometer$centrality)
S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_BARO <- dspec(weights = "w", strata = "stratum", psu = "municipality", fpc = "N_psu")
SPECS <- list(apistrat = S_STRAT, apiclus1 = S_CLUS1, glm_barometer = S_BARO)

design_json <- function(spec, replicate = NULL) {
  list(type = "linearization", weights = spec$weights, probs = spec$probs,
       strata = json_cols(spec$strata), psu = json_cols(spec$psu),
       fpc = json_cols(spec$fpc), nest = spec$nest, lonely_psu = spec$lonely_psu,
       replicate = replicate)
}

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  if (length(a) != length(b)) stop(sprintf("%s: length %d vs %d", what, length(a), length(b)))
  scale <- pmax(1, abs(a), abs(b))
  bad <- !(abs(a - b) <= tol * scale)
  if (any(bad)) stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad])))
  invisible(TRUE)
}
num <- function(v) if (is.null(v)) NULL else I(unname(as.numeric(v)))
mat <- function(m) unname(as.matrix(m))


## ---------------------------------------------------------------------------
## Fitting
## ---------------------------------------------------------------------------

## glm.fit's "did not converge" warning is muffled (and counted); everything
## else is an error, so a case that runs is a clean fit.
quiet_fit <- function(expr) {
  unconverged <- 0L
  value <- withCallingHandlers(expr, warning = function(w) {
    if (grepl("algorithm did not converge", conditionMessage(w), fixed = TRUE)) {
      unconverged <<- unconverged + 1L
      invokeRestart("muffleWarning")
    }
    stop("unexpected warning: ", conditionMessage(w))
  })
  attr(value, "unconverged") <- unconverged
  value
}

## svyglm with the formula, family and control written literally into the call,
## so update() (svypredmeans) refits with the same settings; `des` lives in this
## frame, the formula's environment.  Polished: refitted from its own
## coefficients (start=) until a refit moves none by more than 1e-14 relative;
## start= is then removed from the call, so update() starts afresh.
fit_svyglm <- function(des, r_formula, fam, start = NULL) {
  fml <- as.formula(r_formula)
  if (!is.null(start)) {
    ## a replicate design: one fit from the coefficients polished on the
    ## linearization design, which must stay where they are
    fit <- quiet_fit(eval(bquote(svyglm(.(fml), design = des, family = .(fam),
                                        start = .(start),
                                        control = glm.control(epsilon = .(GLM_EPSILON),
                                                              maxit = .(GLM_MAXIT))))))
    check_close(coef(fit), start, "replicate design: full-sample fit", tol = 1e-13)
    fit$call$start <- NULL
    attr(fit, "polish_refits") <- 0L
    return(fit)
  }
  fit <- quiet_fit(eval(bquote(svyglm(.(fml), design = des, family = .(fam),
                                      control = glm.control(epsilon = .(GLM_EPSILON),
                                                            maxit = .(GLM_MAXIT))))))
  unconverged <- attr(fit, "unconverged")
  for (i in seq_len(POLISH_MAX)) {
    again <- quiet_fit(eval(bquote(svyglm(.(fml), design = des, family = .(fam),
                                          start = .(coef(fit)),
                                          control = glm.control(epsilon = .(GLM_EPSILON),
                                                                maxit = .(GLM_MAXIT))))))
    change <- max(abs(coef(again) - coef(fit)) / (1 + abs(coef(fit))))
    fit <- again
    if (change < POLISH_TOL) break
  }
  if (change >= POLISH_TOL) stop(r_formula, " ", deparse(fam), ": no fixed point after ", POLISH_MAX, " refits, last change ", change)
  fit$call$start <- NULL
  attr(fit, "unconverged") <- unconverged
  attr(fit, "polish_refits") <- i
  fit
}

## the adjustment model of svypredmeans, polished, on the global MARGINS_DES
fit_svyglm_global <- function(r_formula, fam) {
  fml <- as.formula(r_formula, env = globalenv())
  quiet_fit(eval(bquote(svyglm(.(fml), design = MARGINS_DES, family = .(fam),
                                control = glm.control(epsilon = .(GLM_EPSILON),
                                                      maxit = .(GLM_MAXIT)))), globalenv()))
}

## the same polish for one glm.fit (a replicate refit, weights wi)
polish_glm_fit <- function(X, y, wi, offs, fam, beta) {
  for (i in seq_len(POLISH_MAX)) {
    b <- quiet_fit(glm.fit(X, y, weights = wi, start = beta, offset = offs, family = fam,
                           control = glm.control(epsilon = GLM_EPSILON, maxit = GLM_MAXIT),
                           intercept = TRUE))$coefficients
    change <- max(abs(b - beta) / (1 + abs(beta)))
    beta <- b
    if (change < POLISH_TOL) return(beta)
  }
  stop("replicate refit: no fixed point")
}

## Replicate covariance with polished refits: svyglm.svyrep.design's own
## computation (every replicate refitted by glm.fit from the full-sample
## coefficients on weights wi / sum(wi), then svrVar), with each refit polished
## as above.  svyglm's own vcov, whose refits stop where the deviance stops
## changing, is checked to agree at 1e-5.
replicate_vcov <- function(fit, des) {
  X <- model.matrix(fit)
  offs <- if (is.null(fit$offset)) rep(0, nrow(X)) else fit$offset
  wts <- weights(des, "analysis")
  if (length(fit$na.action)) wts <- wts[-fit$na.action, , drop = FALSE]
  betas <- t(apply(wts, 2, function(wi) {
    polish_glm_fit(X, fit$y, wi / sum(wi), offs, fit$family, coef(fit))
  }))
  V <- svrVar(betas, des$scale, des$rscales, mse = des$mse, coef = coef(fit))
  V <- unname(matrix(as.numeric(V), ncol(betas)))
  scale <- sqrt(outer(diag(V), diag(V)))
  if (max(abs(V - vcov(fit)) / scale) > 1e-5) stop("replicate vcov: polished vs svyglm")
  V
}

## patsy's name of each of R's coefficient names used here
PATSY <- c("(Intercept)" = "Intercept", "log(api99)" = "np.log(api99)",
           stypeH = "stype[T.H]", stypeM = "stype[T.M]", sectorhealth = "sector[T.health]")
patsy_names <- function(r) {
  out <- unname(ifelse(r %in% names(PATSY), PATSY[r], r))
  cent <- grepl("^centrality[0-9]$", r)
  out[cent] <- sprintf("C(centrality)[T.%s]", sub("^centrality", "", r[cent]))
  out
}

## summary()'s dispersion: svyvar() of the Pearson residuals.  survey 4.1's
## summary() is wrong for replicate designs (its Pearson residuals use
## design$prob, which replicate designs lack; fixed in survey 4.5), so the same
## svyvar() of the correct residuals is recorded there, as make_glm.R does.
dispersion <- function(fit) {
  pw <- fit$prior.weights
  pwd <- weights(fit$survey.design, "sampling")
  pwd <- pwd / mean(pwd)
  r <- (fit$y - fitted(fit)) * sqrt(pw / pwd) / sqrt(fit$family$variance(fitted(fit)))
  if (inherits(fit, "svrepglm")) return(as.numeric(svyvar(r, fit$survey.design))[1])
  disp <- as.numeric(summary(fit)$dispersion)[1]
  check_close(disp, as.numeric(svyvar(r, fit$survey.design))[1], "dispersion = svyvar")
  disp
}

result_of <- function(fit, V = vcov(fit)) {
  list(names = I(names(coef(fit))), patsy_names = I(patsy_names(names(coef(fit)))),
       params = num(coef(fit)), bse = num(sqrt(diag(V))), vcov = mat(V),
       df_resid = fit$df.residual, deviance = fit$deviance,
       null_deviance = fit$null.deviance, dispersion = dispersion(fit),
       r_family = fit$family$family, r_link = fit$family$link, iter = fit$iter,
       r_unconverged_warnings = attr(fit, "unconverged"),
       polish_refits = attr(fit, "polish_refits"))
}

## predictions: predict.svyglm's standard errors; the fit is X beta + offset
## (predict.svyglm leaves the offset out, predict.glm keeps it: both recorded)
predictions <- function(fit, newdata, V) {
  pl <- predict(fit, newdata, type = "link", se.fit = TRUE)
  se_svyglm <- sqrt(as.numeric(attr(pl, "var")))
  if (!isTRUE(all.equal(V, unname(vcov(fit))))) {
    ## replicate designs: the standard errors of the polished covariance
    mm <- model.matrix(delete.response(terms(fit)),
                       model.frame(delete.response(terms(fit)), newdata, xlev = fit$xlevels))
    se <- sqrt(rowSums((mm %*% V) * mm))
    check_close(se, sqrt(attr(pl, "var")), "predict se, polished vs svyglm", tol = 1e-5)
    attr(pl, "var") <- se^2
  }
  tt <- delete.response(terms(fit))
  mf <- model.frame(tt, newdata, xlev = fit$xlevels)
  off <- model.offset(mf)
  if (is.null(off)) off <- rep(0, nrow(newdata))
  eta <- drop(coef(pl)) + off
  check_close(eta, stats::predict.glm(fit, newdata, type = "link"), "predict.glm link")
  mu <- fit$family$linkinv(eta)
  se_eta <- sqrt(as.numeric(attr(pl, "var")))
  se_mu <- se_eta * abs(fit$family$mu.eta(eta))
  if (all(off == 0)) {
    pr <- predict(fit, newdata, type = "response", se.fit = TRUE)
    check_close(coef(pr), mu, "response fit")
    check_close(sqrt(as.numeric(attr(pr, "var"))), se_svyglm * abs(fit$family$mu.eta(eta)),
                "response se = link se * |mu.eta|")
  }
  list(link = list(fit = num(eta), se = num(se_eta)),
       response = list(fit = num(mu), se = num(se_mu)),
       offset = num(off))
}

## svypredmeans over stype: the model without stype as the adjustment model.
## svypredmeans refits it plus stype with update(), which evaluates the call
## in the global environment: the design goes there as MARGINS_DES.
margins_of <- function(des, r_formula, fam) {
  MARGINS_DES <<- des
  adj <- fit_svyglm_global(sub("\\+ *stype|stype *\\+ *", "", r_formula), fam)
  pm <- quiet_fit(svypredmeans(adj, ~stype))
  lab <- names(coef(pm))
  o <- order(lab)
  list(variable = "stype", labels = I(lab[o]), margin = num(coef(pm)[o]),
       se = num(SE(pm)[o]))
}

## regTermTest's Wald F for stype, on the polished covariance V
wald_of <- function(fit, V) {
  rt <- regTermTest(fit, ~stype)
  j <- grep("^stype", names(coef(fit)))
  b <- coef(fit)[j]
  F <- drop(t(b) %*% solve(V[j, j], b)) / length(j)
  check_close(F, rt$Ftest, "Wald F, polished vs regTermTest", tol = 1e-5)
  out <- list(terms = "stype", F = F, df = rt$df, ddf = rt$ddf,
              p = pf(F, rt$df, rt$ddf, lower.tail = FALSE))
  if (!inherits(fit, "svrepglm")) {
    ## the Rao-Scott working LRT refits the model without stype (the offset
    ## kept): the deviance difference and the design effects lambda
    lrt <- quiet_fit(regTermTest(fit, ~stype, method = "LRT"))
    out$lrt <- list(chisq = as.numeric(lrt$chisq),
                    lambda = num(sort(lrt$lambda, decreasing = TRUE)))
  }
  out
}


## ---------------------------------------------------------------------------
## Cases
## ---------------------------------------------------------------------------

CASES <- list()
add_case <- function(case) {
  if (case$id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", case$id)
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

NEWDATA <- data.frame(ell = c(5, 30, 60), meals = c(10, 45, 85), mobility = c(8, 15, 30),
                      api99 = c(820, 650, 520), enroll = c(350, 1200, 600),
                      stype = factor(c("E", "H", "M"), levels = c("E", "H", "M")))
newdata_json <- function(cols) {
  out <- lapply(NEWDATA[cols], function(v) if (is.factor(v)) I(as.character(v)) else num(v))
  out
}

## family: innobaro's arguments (family, link, variance, theta); r_family: the R
## expression; replicate: NULL or the as.svrepdesign type.
case_family <- function(id, data, formula, r_formula, family, r_family,
                        replicate = NULL, newdata_cols = NULL, margins = FALSE,
                        wald = FALSE, note = NULL) {
  if (nzchar(Sys.getenv("VERBOSE"))) message(id)
  spec <- SPECS[[data]]
  des <- build_design(DATA[[data]], spec)
  rep_json <- NULL
  start <- NULL
  if (!is.null(replicate)) {
    start <- coef(fit_svyglm(des, r_formula, r_family))
    des <- as.svrepdesign(des, type = replicate, mse = FALSE, compress = FALSE)
    rep_json <- list(method = tolower(replicate), rho = NULL, mse = FALSE)
  }
  fit <- fit_svyglm(des, r_formula, r_family, start)
  p <- sum(!is.na(coef(fit)))
  if (fit$df.residual != degf(des) + 1 - p) stop(id, ": df.residual rule")
  V <- if (is.null(replicate)) unname(vcov(fit)) else replicate_vcov(fit, des)
  res <- result_of(fit, V)
  if (!is.null(newdata_cols)) {
    res$predict <- c(list(newdata = newdata_json(newdata_cols)),
                     predictions(fit, NEWDATA, V))
  }
  if (margins) res$predictive_margins <- margins_of(des, r_formula, r_family)
  if (wald) res$wald <- wald_of(fit, V)
  case <- list(id = id, data = data, design = design_json(spec, rep_json),
               model = c(list(formula = formula, r_formula = r_formula,
                              r_family = paste(deparse(r_family), collapse = "")),
                         family),
               result = res)
  if (!is.null(note)) case$note <- note
  add_case(case)
}

BIN_F <- "sch_wide01 ~ ell + meals + stype"
ENR_F <- "enroll ~ stype + log(api99)"
ENR_P <- "enroll ~ stype + np.log(api99)"
API_F <- "api00 ~ ell + meals + mobility"
BIN_COLS <- c("ell", "meals", "stype")
ENR_COLS <- c("api99", "stype")
API_COLS <- c("ell", "meals", "mobility")

for (d in c("apistrat", "apiclus1")) {
  rep_type <- if (d == "apistrat") "JKn" else "JK1"
  one <- function(tag, formula, r_formula, family, r_family, cols, margins = FALSE,
                  wald = FALSE, replicate = TRUE, note = NULL) {
    case_family(sprintf("%s_%s", d, tag), d, formula, r_formula, family, r_family,
                newdata_cols = cols, margins = margins, wald = wald, note = note)
    if (replicate) {
      case_family(sprintf("%s_%s_%s", d, tag, tolower(rep_type)), d, formula, r_formula,
                  family, r_family, replicate = rep_type, newdata_cols = cols, wald = wald,
                  note = note)
    }
  }
  ## binomial links
  for (lk in c("probit", "cloglog", "cauchit")) {
    one(paste0("binomial_", lk), BIN_F, BIN_F, list(family = "binomial", link = lk),
        bquote(quasibinomial(link = .(lk))), BIN_COLS, margins = TRUE, wald = TRUE)
  }
  ## log-binomial: on apiclus1 R finds no valid start for this model
  if (d == "apistrat") {
    one("binomial_log", "awards01 ~ ell + meals", "awards01 ~ ell + meals",
        list(family = "binomial", link = "log"), quote(quasibinomial(link = "log")),
        c("ell", "meals"))
  }
  one("quasibinomial", BIN_F, BIN_F, list(family = "quasibinomial"),
      quote(quasibinomial()), BIN_COLS, replicate = FALSE, wald = TRUE,
      note = "quasibinomial by name: the same numbers as binomial")
  ## poisson
  one("quasipoisson", ENR_P, ENR_F, list(family = "quasipoisson"), quote(quasipoisson()),
      ENR_COLS, replicate = FALSE, wald = TRUE)
  for (lk in c("identity", "sqrt")) {
    one(paste0("poisson_", lk), "enroll ~ ell + meals", "enroll ~ ell + meals",
        list(family = "poisson", link = lk), bquote(quasipoisson(link = .(lk))),
        c("ell", "meals"))
  }
  ## Gamma
  one("Gamma_inverse", API_F, API_F, list(family = "Gamma"), quote(Gamma()), API_COLS)
  one("Gamma_log", ENR_P, ENR_F, list(family = "Gamma", link = "log"),
      quote(Gamma(link = "log")), ENR_COLS, margins = TRUE, wald = TRUE)
  one("Gamma_identity", API_F, API_F, list(family = "Gamma", link = "identity"),
      quote(Gamma(link = "identity")), API_COLS, replicate = FALSE)
  ## inverse Gaussian
  one("inverse.gaussian", API_F, API_F, list(family = "inverse.gaussian"),
      quote(inverse.gaussian()), API_COLS)
  one("inverse.gaussian_log", ENR_P, ENR_F, list(family = "inverse.gaussian", link = "log"),
      quote(inverse.gaussian(link = "log")), ENR_COLS, replicate = FALSE)
  for (lk in c("inverse", "identity")) {
    one(paste0("inverse.gaussian_", lk), API_F, API_F,
        list(family = "inverse.gaussian", link = lk),
        bquote(inverse.gaussian(link = .(lk))), API_COLS, replicate = FALSE)
  }
  ## gaussian with other links
  one("gaussian_log", API_F, API_F, list(family = "gaussian", link = "log"),
      quote(gaussian(link = "log")), API_COLS, wald = FALSE)
  one("gaussian_inverse", API_F, API_F, list(family = "gaussian", link = "inverse"),
      quote(gaussian(link = "inverse")), API_COLS, replicate = FALSE)
  ## quasi with a variance function
  one("quasi_log_mu2", ENR_P, ENR_F, list(family = "quasi", link = "log", variance = "mu^2"),
      quote(quasi(link = "log", variance = "mu^2")), ENR_COLS, wald = TRUE)
  one("quasi_log_mu", ENR_P, ENR_F, list(family = "quasi", link = "log", variance = "mu"),
      quote(quasi(link = "log", variance = "mu")), ENR_COLS, replicate = FALSE)
  ## (quasi(link = "logit", variance = "mu(1-mu)") on sch_wide01 is not here: from
  ## its starting means 0.001 and 0.999 R's IRLS runs off to coefficients of 1e14)
  one("quasi_inverse_mu3", API_F, API_F,
      list(family = "quasi", link = "inverse", variance = "mu^3"),
      quote(quasi(link = "inverse", variance = "mu^3")), API_COLS, replicate = FALSE)
  ## negative binomial with a given theta
  one("negative.binomial_2", ENR_P, ENR_F, list(family = "negative.binomial", theta = 2),
      quote(negative.binomial(theta = 2)), ENR_COLS, margins = TRUE, wald = TRUE)
  one("negative.binomial_identity", "enroll ~ ell + meals", "enroll ~ ell + meals",
      list(family = "negative.binomial", theta = 5, link = "identity"),
      quote(negative.binomial(theta = 5, link = "identity")), c("ell", "meals"),
      replicate = FALSE)
  one("negative.binomial_sqrt", "enroll ~ ell + meals", "enroll ~ ell + meals",
      list(family = "negative.binomial", theta = 5, link = "sqrt"),
      quote(negative.binomial(theta = 5, link = "sqrt")), c("ell", "meals"),
      replicate = FALSE)
  ## an offset: students tested per enrolled student, a rate model
  one("poisson_offset", "Q('api.stu') ~ ell + stype + offset(np.log(enroll))",
      "api.stu ~ ell + stype + offset(log(enroll))", list(family = "quasipoisson"),
      quote(quasipoisson()), c("ell", "stype", "enroll"), wald = TRUE,
      note = paste("offset(log(enroll)) in the formula; predict: fit = X beta + offset",
                   "(predict.glm; predict.svyglm leaves the offset out), se from",
                   "predict.svyglm (the offset has no variance), response se =",
                   "link se * mu.eta(X beta + offset)"))
}

## the barometer sample: the logistic model of make_glm.R with other links
BARO_F <- "innovated ~ log_pop + C(centrality) + free_income + log_employees"
BARO_R <- "innovated ~ log_pop + centrality + free_income + log_employees"
for (lk in c("probit", "cloglog")) {
  case_family(paste0("glm_barometer_binomial_", lk), "glm_barometer", BARO_F, BARO_R,
              list(family = "binomial", link = lk), bquote(quasibinomial(link = .(lk))))
  case_family(paste0("glm_barometer_binomial_", lk, "_jkn"), "glm_barometer", BARO_F,
              BARO_R, list(family = "binomial", link = lk),
              bquote(quasibinomial(link = .(lk))), replicate = "JKn")
}
case_family("glm_barometer_Gamma_log_employees", "glm_barometer",
            "np.exp(log_employees) ~ log_pop + C(centrality) + sector",
            "exp(log_employees) ~ log_pop + centrality + sector",
            list(family = "Gamma", link = "log"), quote(Gamma(link = "log")))

## log-binomial from R's starting values: the first step leaves (0, 1) and glm.fit
## stops ("no valid set of coefficients has been found: please supply starting
## values"); recorded as the error innobaro must also give.
des <- build_design(DATA$apistrat, S_STRAT)
err <- tryCatch({
  svyglm(sch_wide01 ~ ell + meals + stype, des, family = quasibinomial(link = "log"),
         control = glm.control(epsilon = GLM_EPSILON, maxit = GLM_MAXIT))
  NULL
}, error = function(e) conditionMessage(e))
if (is.null(err)) stop("the log-binomial error case fitted")
add_case(list(id = "apistrat_binomial_log_invalid", data = "apistrat",
              design = design_json(S_STRAT),
              model = list(formula = BIN_F, r_formula = BIN_F, family = "binomial",
                           link = "log", r_family = "quasibinomial(link = \"log\")"),
              result = NULL, r_error = err,
              note = "no numbers: R's glm.fit stops; innobaro must raise a named error"))


## ---------------------------------------------------------------------------
## Write the JSON
## ---------------------------------------------------------------------------

write_cases(CASES, "families", "tests/reference/make_families.R", t_start,
            extra = list(glm_control = list(
              epsilon = GLM_EPSILON, maxit = GLM_MAXIT,
              criterion = "|dev - dev_old| / (|dev| + 0.1) < epsilon (glm.fit)",
              polish = paste("refitted from its own coefficients until no coefficient",
                             "moves by more than 1e-14 relative; replicate refits too"))))
