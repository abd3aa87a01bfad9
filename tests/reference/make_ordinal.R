## Reference numbers for innobaro's survey ordinal regression (ib.ologit),
## from R's svyolr.
##
## Run from the repository root:
##     Rscript tests/reference/make_ordinal.R
##
## Reads   tests/reference/data/{apistrat,apiclus1}.csv  (written by make_reference.R)
## Writes  tests/reference/ordinal.json                   one entry per case
##
## The outcomes are ordered cuts of api00 (and of ell), made here and recorded
## in each case ("outcome": column, breaks) so the Python test makes the same
## integer outcome: category k (1, 2, ...) holds the values in
## (breaks[k-1], breaks[k]], as R's cut(..., right = TRUE).
##
## Convergence. svyolr maximises the likelihood with optim(method = "BFGS")
## and takes the covariance's information matrix from optim's finite-difference
## Hessian of the analytic gradient. R's defaults (reltol = 1.5e-8, ndeps =
## 1e-3) leave relative errors of about 1e-5 in coefficients and standard
## errors, so every fit here passes
##     control = list(reltol = 1e-16, maxit = 10000, ndeps = rep(1e-6, p))
## (p = slopes + cutpoints) through svyolr's `...` to optim, starting from a
## first fit at R's defaults (ndeps 1e-5 and 1e-4 leave relative errors of
## 1e-7 to 1e-5 in the standard errors from the finite differences, 1e-6 about
## 1e-8), and the script stops unless the gradient at the
## optimum is below 1e-6 of the weights' total. svyolr's replicate method
## (MASS::polr refits) passes `...` to the full-sample fit only; its replicate
## refits run at optim's defaults. The replicate cases therefore record the
## replicate covariance of svyolr's own recipe (polr refits under each
## column of analysis weights, started at the full-sample fit, svrVar with the
## design's scale and rscales) with the tight control in the refits as well (each
## refit run twice, the second BFGS run starting at the first one's optimum),
## and the script checks that svyolr's own variance agrees with it to 1e-3
## (it differs by about 1.5e-4 of the largest variance: its refits stop early).
##
## Predictions: survey has no predict method for svyolr; the category
## probabilities of new rows and their standard errors are svycontrast() of
## the fit with the expression of each probability (delta method on vcov).

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_ordinal.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE)
t_start <- Sys.time()

RELTOL <- 1e-16
MAXIT <- 10000L
NDEPS <- 1e-6

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1"), read_data)

## ordered outcomes, written into the data frames (the CSVs are not changed)
BREAKS <- list(api_cat = c(-Inf, 600, 700, 800, Inf),
               ell_cat = c(-Inf, 5, 15, 30, 50, Inf))
SOURCE <- list(api_cat = "api00", ell_cat = "ell")
for (d in names(DATA)) {
  for (v in names(BREAKS)) {
    DATA[[d]][[v]] <- factor(as.integer(cut(DATA[[d]][[SOURCE[[v]]]], BREAKS[[v]],
                                            right = TRUE)), ordered = TRUE)
  }
}

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
SPECS <- list(apistrat = S_STRAT, apiclus1 = S_CLUS1)

design_json <- function(spec, replicate = NULL) {
  list(type = "linearization", weights = spec$weights, probs = spec$probs,
       strata = json_cols(spec$strata), psu = json_cols(spec$psu),
       fpc = json_cols(spec$fpc), nest = spec$nest, lonely_psu = spec$lonely_psu,
       replicate = replicate)
}

## svyolr's method for each innobaro link. survey 4.1's svyolr on a svydesign
## computes method = "cloglog" with survey:::pgumbel, F(z) = exp(-exp(-z)):
## that is the log-log link (MASS::polr's "loglog"), whereas MASS::polr (which
## svyolr uses on replicate designs) and innobaro take "cloglog" as
## F(z) = 1 - exp(-exp(z)). innobaro's link = "loglog" is compared with
## svyolr(method = "cloglog") directly; its "cloglog" through the exact
## identity: a cloglog model of Y is a log-log model of the reversed outcome
## (K + 1 - Y) with slopes -beta and cutpoints -rev(zeta), so the case fits
## svyolr(method = "cloglog") to the reversed outcome and records the
## transformed coefficients, covariance and probabilities.
R_METHOD <- c(logit = "logistic", probit = "probit", loglog = "cloglog")
## the inverse links as expressions deriv() knows (for svycontrast)
CDF <- list(logit = function(z) sprintf("1/(1 + exp(-(%s)))", z),
            probit = function(z) sprintf("pnorm(%s)", z),
            loglog = function(z) sprintf("exp(-exp(-(%s)))", z))
PDF <- list(logit = dlogis, probit = dnorm, loglog = function(z) exp(-z - exp(-z)))
PFUN <- list(logit = plogis, probit = pnorm, loglog = function(z) exp(-exp(-z)))

tight <- function(p) list(reltol = RELTOL, maxit = MAXIT, ndeps = rep(NDEPS, p))

## the weighted score of the log likelihood at the fit, in R's (beta, zeta)
score_at <- function(fit, des, formula, link) {
  mf <- model.frame(formula, model.frame(des))
  x <- model.matrix(formula, mf)[, -1, drop = FALSE]
  y <- as.integer(model.response(mf))
  w <- weights(des, "sampling")
  zeta <- c(-Inf, fit$zeta, Inf)
  eta <- drop(x %*% fit$coefficients)
  hi <- zeta[y + 1] - eta
  lo <- zeta[y] - eta
  pr <- PFUN[[link]](hi) - PFUN[[link]](lo)
  dh <- ifelse(is.finite(hi), PDF[[link]](hi), 0)
  dl <- ifelse(is.finite(lo), PDF[[link]](lo), 0)
  gb <- -colSums(x * (w * (dh - dl) / pr))
  q <- length(fit$zeta)
  gz <- sapply(seq_len(q), function(k) sum(w * ((y == k) * dh - (y == k + 1) * dl) / pr))
  c(gb, gz)
}

## svyolr's start= is optim's parameter: slopes, then zeta[1] and the logs of
## the cutpoints' differences
theta_start <- function(fit) c(fit$coefficients, fit$zeta[1], log(diff(fit$zeta)))

## R's own starting values fail for survey's log-log on the reversed outcome
## ("initial value in 'vmmin' is not finite"); it starts from the probit fit
fit_olr <- function(des, formula, link) {
  first <- if (link == "loglog") {
    pr <- svyolr(formula, des, method = "probit")
    svyolr(formula, des, method = "cloglog", start = theta_start(pr))
  } else svyolr(formula, des, method = R_METHOD[[link]])
  start <- theta_start(first)
  svyolr(formula, des, method = R_METHOD[[link]], start = start,
         control = tight(length(start)))
}

## new rows to predict for, and their probabilities by svycontrast
predictions <- function(fit, newdata, formula, link) {
  rhs <- delete.response(terms(formula))
  x <- model.matrix(rhs, model.frame(rhs, newdata, xlev = fit$xlevels))[, -1, drop = FALSE]
  beta <- names(fit$coefficients)
  zeta <- names(fit$zeta)
  q <- length(zeta)
  fitv <- c(); sev <- c()
  for (i in seq_len(nrow(x))) {
    eta <- paste(sprintf("`%s` * %.17g", beta, x[i, ]), collapse = " + ")
    cum <- c(sapply(zeta, function(z) CDF[[link]](sprintf("`%s` - (%s)", z, eta))))
    probs <- c(cum[1], sprintf("%s - %s", cum[-1], cum[-q]), sprintf("1 - %s", cum[q]))
    exprs <- lapply(probs, function(e) parse(text = e)[[1]])
    names(exprs) <- paste0("p", seq_along(exprs))
    sc <- svycontrast(fit, exprs)
    fitv <- c(fitv, unname(coef(sc)))
    sev <- c(sev, unname(SE(sc)))
  }
  list(fit = matrix(fitv, nrow = nrow(x), byrow = TRUE),
       se = matrix(sev, nrow = nrow(x), byrow = TRUE))
}

cases <- list()
add_case <- function(case) {
  if (case$id %in% vapply(cases, function(c) c$id, "")) stop("duplicate id ", case$id)
  cases[[length(cases) + 1]] <<- case
}

result_of <- function(fit, des, formula, link, newdata) {
  cf <- c(fit$coefficients, fit$zeta)
  V <- vcov(fit)
  stopifnot(identical(names(cf), rownames(V)))
  g <- score_at(fit, des, formula, link)
  if (max(abs(g)) > 1e-6 * sum(weights(des, "sampling")))
    stop("svyolr did not converge: largest score ", max(abs(g)))
  pr <- predictions(fit, newdata, formula, link)
  list(names = I(names(cf)), slopes = I(names(fit$coefficients)),
       cutpoints = I(names(fit$zeta)), coef = I(unname(cf)), se = I(unname(sqrt(diag(V)))),
       vcov = unname(V), df_resid = fit$df.residual, deviance = fit$deviance,
       levels = I(fit$lev), predict_fit = pr$fit, predict_se = pr$se,
       max_score = max(abs(g)))
}

## patsy's names of the slopes, in R's order: a factor f's coefficient "fL" is
## "C(f)[T.L]"
patsy_names <- function(fit, des, formula) {
  mf <- model.frame(formula, model.frame(des))
  out <- names(fit$coefficients)
  for (v in all.vars(formula)[-1]) {
    if (is.factor(mf[[v]]) && !is.ordered(mf[[v]])) {
      hit <- out %in% paste0(v, levels(mf[[v]]))
      out[hit] <- sprintf("C(%s)[T.%s]", v, substring(out[hit], nchar(v) + 1))
    }
  }
  I(out)
}

newdata_json <- function(nd) lapply(as.list(nd), function(v) I(if (is.factor(v)) as.character(v) else v))

## slopes -beta, cutpoints -rev(zeta): the cloglog fit from the log-log fit of
## the reversed outcome (and the probabilities' columns reversed)
reverse_result <- function(res) {
  pc <- length(res$slopes)
  q <- length(res$cutpoints)
  K <- q + 1
  perm <- c(seq_len(pc), pc + rev(seq_len(q)))
  sgn <- -1
  res$coef <- I(sgn * unname(res$coef[perm]))
  res$se <- I(unname(res$se[perm]))
  res$vcov <- res$vcov[perm, perm]
  lev <- rev(res$levels)
  res$levels <- I(lev)
  res$cutpoints <- I(paste(lev[-K], lev[-1], sep = "|"))
  res$names <- I(c(res$slopes, res$cutpoints))
  res$predict_fit <- res$predict_fit[, K:1, drop = FALSE]
  res$predict_se <- res$predict_se[, K:1, drop = FALSE]
  res
}

## regTermTest (Wald F on df.residual, and chi-square) of a term of the fit
## regTermTest's Wald statistic, computed from the fit's coef() and vcov() as
## regTermTest does (regTermTest itself rebuilds the model frame from the fit's
## call, which fails for svyolr fits made inside a function: "object 'des' not
## found")
term_tests <- function(fit, term) {
  cols <- grep(paste0("^", term), names(fit$coefficients))
  beta <- coef(fit)[cols]
  V <- vcov(fit)[cols, cols, drop = FALSE]
  chisq <- drop(beta %*% solve(V, beta))
  k <- length(cols)
  ddf <- fit$df.residual
  list(term = term, F = chisq / k, df = k, ddf = ddf,
       p_F = pf(chisq / k, k, ddf, lower.tail = FALSE), chisq = chisq,
       p_chisq = pchisq(chisq, k, lower.tail = FALSE))
}

## anova of two nested fits: the Rao-Scott working likelihood ratio and the
## Wald test of the slopes the bigger fit adds, by hand. survey has no anova
## method for svyolr; regTermTest(method = "LRT") takes svyolr fits but pairs
## svyolr's deviance (2 * value / mean(w): weights scaled to mean 1) with
## V0 = solve(fit$Hessian), the inverse information of the raw weights, so its
## eigenvalues carry a factor mean(w). Here both are on weights scaled to mean
## 1, as anova.svyglm's deviance and naive.cov are: chisq = deviance(small) -
## deviance(big), V0 = solve(Hessian)[added, added] * mean(w), lambdas the
## eigenvalues of solve(V0) %*% vcov[added, added], p-values by survey's
## pFsum (ddf = the bigger fit's df.residual) and pchisqsum, saddlepoint.
## `info_inv` is the inverse information of the raw weights in (beta, zeta).
anova_by_hand <- function(fit, fit0, des, info_inv) {
  added <- setdiff(names(fit$coefficients), names(fit0$coefficients))
  if (!all(names(fit0$coefficients) %in% names(fit$coefficients))) stop("not nested")
  cf <- c(fit$coefficients, fit$zeta)
  idx <- match(added, names(cf))
  w <- weights(des, "sampling")
  s <- mean(w[w > 0])
  chisq <- fit0$deviance - fit$deviance
  V <- vcov(fit)[idx, idx, drop = FALSE]
  V0 <- info_inv[idx, idx, drop = FALSE] * s
  lam <- Re(eigen(solve(V0) %*% V, only.values = TRUE)$values)
  k <- length(idx)
  ddf <- fit$df.residual
  wald <- drop(cf[idx] %*% solve(V, cf[idx]))
  list(added = I(added), chisq = chisq, lambdas = I(sort(lam, decreasing = TRUE)), df = k,
       ddf = ddf,
       p_F = pFsum(chisq, rep(1, k), lam, ddf = ddf, method = "saddlepoint",
                   lower.tail = FALSE),
       p_chisq = pchisqsum(chisq, rep(1, k), lam, method = "saddlepoint", lower.tail = FALSE),
       wald_F = wald / k, p_wald_F = pf(wald / k, k, ddf, lower.tail = FALSE),
       wald_chisq = wald, p_wald_chisq = pchisq(wald, k, lower.tail = FALSE),
       deviance_small = fit0$deviance)
}

## subset = list(column, value): a domain (rows with column == value), as
## subset(design, ...) keeps it; small = the smaller model of an anova case
## (R formula, Python formula)
case_lin <- function(id, data, formula, py_formula, outcome, link, newdata, test = NULL,
                     subset = NULL, small = NULL) {
  spec <- SPECS[[data]]
  dat <- DATA[[data]]
  reversed <- link == "cloglog"
  if (reversed) {
    y <- dat[[outcome]]
    dat[[outcome]] <- factor(as.character(y), levels = rev(levels(y)), ordered = TRUE)
  }
  des <- subset_design(build_design(dat, spec), subset)
  fit <- fit_olr(des, formula, if (reversed) "loglog" else link)
  res <- result_of(fit, des, formula, if (reversed) "loglog" else link, newdata)
  if (reversed) res <- reverse_result(res)
  res$patsy_slopes <- patsy_names(fit, des, formula)
  if (!is.null(test)) res$term_test <- term_tests(fit, test)
  if (!is.null(small)) {
    if (reversed) stop("anova cases use links other than cloglog")
    fit0 <- fit_olr(des, small[[1]], link)
    res$anova <- c(list(small_formula = small[[2]]),
                   anova_by_hand(fit, fit0, des, solve(fit$Hessian)))
  }
  list(id = id, data = data, design = design_json(spec), subset = subset,
       outcome = list(name = outcome, column = SOURCE[[outcome]], breaks = I(BREAKS[[outcome]][-c(1, length(BREAKS[[outcome]]))])),
       formula = py_formula, r_formula = deparse(formula), link = link,
       newdata = newdata_json(newdata), result = res,
       note = if (reversed) paste("svyolr(method = 'cloglog') (survey's log-log) on the reversed",
                                  "outcome, transformed: slopes -beta, cutpoints -rev(zeta);",
                                  "df_resid = degf - slopes")
                else sprintf("svyolr(method = '%s') on svydesign; df_resid = degf - slopes",
                             R_METHOD[[link]]))
}

ND_STRAT <- data.frame(ell = c(5, 30, 60), meals = c(20, 50, 90), mobility = c(10, 20, 30))
ND_CLUS1 <- data.frame(ell = c(5, 30), meals = c(20, 80),
                       stype = factor(c("E", "H"), levels = levels(DATA$apiclus1$stype)))

add_case(case_lin("apistrat_logit_api_cat", "apistrat", api_cat ~ ell + meals + mobility,
                  "api_cat ~ ell + meals + mobility", "api_cat", "logit", ND_STRAT,
                  small = list(api_cat ~ ell, "api_cat ~ ell")))
add_case(case_lin("apistrat_probit_api_cat", "apistrat", api_cat ~ ell + meals + mobility,
                  "api_cat ~ ell + meals + mobility", "api_cat", "probit", ND_STRAT,
                  small = list(api_cat ~ meals, "api_cat ~ meals")))
add_case(case_lin("apistrat_loglog_api_cat", "apistrat", api_cat ~ ell + meals + mobility,
                  "api_cat ~ ell + meals + mobility", "api_cat", "loglog", ND_STRAT))
add_case(case_lin("apistrat_cloglog_api_cat", "apistrat", api_cat ~ ell + meals + mobility,
                  "api_cat ~ ell + meals + mobility", "api_cat", "cloglog", ND_STRAT))
add_case(case_lin("apistrat_logit_api_cat_domain_awards", "apistrat",
                  api_cat ~ ell + meals + mobility, "api_cat ~ ell + meals + mobility",
                  "api_cat", "logit", ND_STRAT, subset = list(column = "awards", value = "Yes"),
                  small = list(api_cat ~ ell, "api_cat ~ ell")))
add_case(case_lin("apiclus1_logit_api_cat", "apiclus1", api_cat ~ ell + meals + stype,
                  "api_cat ~ ell + meals + C(stype)", "api_cat", "logit", ND_CLUS1,
                  test = "stype", small = list(api_cat ~ ell + meals, "api_cat ~ ell + meals")))
add_case(case_lin("apiclus1_logit_ell_cat", "apiclus1", ell_cat ~ meals + stype,
                  "ell_cat ~ meals + C(stype)", "ell_cat", "logit", ND_CLUS1,
                  test = "stype"))

## --- replicate design: JKn of apistrat ---------------------------------------
case_rep <- function(id, data, formula, py_formula, outcome, link, newdata, small = NULL) {
  spec <- SPECS[[data]]
  des <- build_design(DATA[[data]], spec)
  rdes <- as.svrepdesign(des, type = "JKn", mse = FALSE, compress = FALSE)
  first <- svyolr(formula, rdes, method = R_METHOD[[link]])
  start0 <- c(first$coefficients, first$zeta)  # polr's start= is (beta, zeta)
  fit <- svyolr(formula, rdes, method = R_METHOD[[link]], start = start0,
                control = tight(length(start0)), return.replicates = TRUE)
  start <- c(fit$coefficients, fit$zeta)
  ## svyolr's replicate recipe with the tight control in every refit
  df <- model.frame(rdes)
  rw <- weights(rdes, "analysis")
  betas <- apply(rw, 2, function(w) {
    environment(formula) <- environment()
    m <- MASS::polr(formula, data = df, Hess = FALSE, start = start, model = FALSE,
                    weights = w, method = R_METHOD[[link]], control = tight(length(start)))
    ## a second BFGS run from the first one's optimum (fresh Hessian estimate)
    m <- MASS::polr(formula, data = df, Hess = FALSE, start = c(m$coefficients, m$zeta),
                    model = FALSE, weights = w, method = R_METHOD[[link]],
                    control = tight(length(start)))
    c(m$coefficients, m$zeta)
  })
  V <- svrVar(t(betas), rdes$scale, rdes$rscales, mse = rdes$mse, coef = start)
  V <- unclass(V)
  attr(V, "means") <- NULL
  dimnames(V) <- list(names(start), names(start))
  own <- vcov(fit)
  rel <- max(abs(own - V)) / max(abs(diag(V)))
  if (rel > 1e-3) stop(id, ": svyolr's own replicate variance differs by ", rel)
  fit$var <- V
  ## svyolr on a replicate design keeps polr's deviance (divided by mean weight)
  res <- result_of(fit, rdes, formula, link, newdata)
  res$svyolr_own_vcov <- unname(own)
  if (!is.null(small)) {
    ## the smaller fit needs only its deviance: svyolr's own full-sample fit,
    ## tightened as the bigger one (polr's deviance divided by mean weight)
    f0 <- svyolr(small[[1]], rdes, method = R_METHOD[[link]])
    s0 <- c(f0$coefficients, f0$zeta)
    fit0 <- svyolr(small[[1]], rdes, method = R_METHOD[[link]], start = s0,
                   control = tight(length(s0)))
    ## polr's Hessian is in (beta, zeta[1], log diff zeta): mapped to (beta,
    ## zeta) as MASS's vcov.polr and svyolr do (vcov.polr itself counts
    ## coef(), which for a svyolr fit holds the cutpoints too)
    pc <- length(fit$coefficients)
    q <- length(fit$zeta)
    et <- exp(c(fit$zeta[1], log(diff(fit$zeta))))
    J <- matrix(0, q, q)
    J[, 1] <- 1
    for (i in seq_len(q)[-1]) J[i:q, i] <- et[i]
    A <- diag(pc + q)
    A[pc + seq_len(q), pc + seq_len(q)] <- J
    res$anova <- c(list(small_formula = small[[2]]),
                   anova_by_hand(fit, fit0, rdes, A %*% MASS::ginv(fit$Hessian) %*% t(A)))
  }
  res$patsy_slopes <- patsy_names(fit, rdes, formula)
  res$degf <- degf(rdes)
  list(id = id, data = data,
       design = design_json(spec, list(method = "jkn", rho = NULL, mse = FALSE)),
       outcome = list(name = outcome, column = SOURCE[[outcome]], breaks = I(BREAKS[[outcome]][-c(1, length(BREAKS[[outcome]]))])),
       formula = py_formula, r_formula = deparse(formula), link = link,
       newdata = newdata_json(newdata), result = res,
       note = paste("as.svrepdesign(type = 'JKn'); svyolr's replicate recipe with tight optim",
                    "control in the refits (svyolr_own_vcov: svyolr's own, refits at optim's",
                    "defaults); df_resid = degf - slopes"))
}

add_case(case_rep("apistrat_jkn_logit_api_cat", "apistrat", api_cat ~ ell + meals + mobility,
                  "api_cat ~ ell + meals + mobility", "api_cat", "logit", ND_STRAT,
                  small = list(api_cat ~ ell, "api_cat ~ ell")))

write_cases(cases, "ordinal", "tests/reference/make_ordinal.R", t_start,
            extra = list(optim_control = list(reltol = RELTOL, maxit = MAXIT, ndeps = NDEPS)))
