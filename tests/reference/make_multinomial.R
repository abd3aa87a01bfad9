## Reference numbers for innobaro's multinomial logit (ib.mlogit) on replicate designs.
##
## Run from the repository root:
##     Rscript tests/reference/make_multinomial.R
##
## Writes
##   tests/reference/data/mlogit_<data>_<jk1|jkn>.csv  data + R's replicate weights (repw_*)
##   tests/reference/multinomial.json                  one entry per case
##
## R's survey package has no multinomial model. On a replicate design the
## design-based covariance is that of the replicate refits, which R gives as
## withReplicates(des, function(w, data) coef(nnet::multinom(..., weights = w)))
## (the same refits and the same svrVar formula innobaro's variance engine uses).
## Linearisation designs are checked in tests/test_multinomial.py by identities.
##
## Convergence: multinom maximises by BFGS (optim's vmmin); the script asks
## reltol = 1e-16 (at the deviance's rounding: with 1e-14 BFGS stops up to 1e-6
## from the optimum) and maxit = 1000, and stops unless every fit (full sample
## and each replicate) reports convergence == 0. Each full-sample fit is checked
## against a Newton polish (the exact Hessian) in this script, which must move no
## coefficient by more than 2e-7 relative to 1 + |beta| (newton_gap in the JSON;
## 1e-10 to 1.1e-7 here); the recorded numbers are nnet's own. BFGS's stopping is
## what limits the agreement: tests/test_multinomial.py compares at 1e-6.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
  library(nnet)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_multinomial.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(warn = 2, survey.lonely.psu = "fail", survey.replicates.mse = FALSE)

num <- function(v) I(unname(as.numeric(v)))
RELTOL <- 1e-16
MAXIT <- 1000
RESTARTS <- 20

## coefficients of multinom as one vector, category-major (all terms of the
## first non-base category, then the next), as innobaro orders them
fit_coef <- function(formula, data, w) coef_vector(fit_multinom(formula, data, w))

coef_vector <- function(fit) {
  cf <- coef(fit)
  if (is.null(dim(cf))) cf <- matrix(cf, nrow = 1, dimnames = list(fit$lev[2], names(cf)))
  as.vector(t(cf))
}

fit_multinom <- function(formula, data, w) {
  data$.wts <- w  # multinom evaluates weights among the data's columns
  fit <- multinom(formula, data = data, weights = .wts, trace = FALSE, reltol = RELTOL,
                  maxit = MAXIT)
  if (fit$convergence != 0) stop("multinom did not converge: ", deparse(formula))
  ## BFGS restarted from where it stopped (a fresh Hessian approximation) until
  ## the deviance no longer moves: each restart is nnet's own fit
  for (i in seq_len(RESTARTS)) {
    dev0 <- fit$deviance
    fit <- multinom(formula, data = data, weights = .wts, trace = FALSE, reltol = RELTOL,
                    maxit = MAXIT, Wts = fit$wts)
    if (fit$convergence != 0) stop("multinom did not converge: ", deparse(formula))
    if (fit$deviance >= dev0) break
  }
  fit
}

## the information of the weights w at coefficients beta (category-major):
## blocks (a, b) sum_i w_i p_ia (delta_ab - p_ib) x_i x_i'
information <- function(formula, data, w, beta) {
  X <- model.matrix(formula, data)
  y <- model.response(model.frame(formula, data))
  K <- nlevels(y) - 1
  p <- ncol(X)
  B <- matrix(beta, nrow = K, byrow = TRUE)
  E <- exp(X %*% t(B))
  P <- E / (1 + rowSums(E))
  H <- matrix(0, K * p, K * p)
  for (a in 1:K) for (b in 1:K) {
    c <- w * P[, a] * ((a == b) - P[, b])
    H[(a - 1) * p + 1:p, (b - 1) * p + 1:p] <- crossprod(X, X * c)
  }
  list(H = H, columns = colnames(X), K = K, p = p)
}

## anova of two nested fits on the replicate design, as anova.svyglm's
## regTermTest computes it for a GLM (survey has no multinomial model): the
## Rao-Scott working likelihood ratio chisq = (deviance(small) - deviance(big))
## / mean(w) (multinom's deviance is -2 sum w log p with the weights given, so
## this is the deviance difference on weights scaled to mean 1), V0 = the
## block of the added coefficients (every non-base category) of the inverse
## information times mean(w), lambdas the eigenvalues of solve(V0) %*% V (V
## from withReplicates), p-values by survey's pFsum / pchisqsum
## (saddlepoint), ddf = degf + 1 - number of coefficients; and the Wald test.
anova_case <- function(formula, small, data, w, beta, V, degf) {
  big_fit <- fit_multinom(formula, data, w)
  small_fit <- fit_multinom(small, data, w)
  info <- information(formula, data, w, beta)
  small_cols <- colnames(model.matrix(small, data))
  if (!all(small_cols %in% info$columns)) stop("not nested")
  added <- which(!(info$columns %in% small_cols))
  idx <- as.vector(outer(added, (seq_len(info$K) - 1) * info$p, "+"))
  idx <- sort(idx)
  s <- mean(w)
  chisq <- (small_fit$deviance - big_fit$deviance) / s
  V0 <- solve(info$H)[idx, idx, drop = FALSE] * s
  Vi <- V[idx, idx, drop = FALSE]
  lam <- Re(eigen(solve(V0) %*% Vi, only.values = TRUE)$values)
  k <- length(idx)
  ddf <- degf + 1 - length(beta)
  wald <- drop(beta[idx] %*% solve(Vi, beta[idx]))
  list(small_formula = paste(deparse(small), collapse = ""), chisq = chisq,
       lambdas = I(sort(lam, decreasing = TRUE)), df = k, ddf = ddf,
       p_F = pFsum(chisq, rep(1, k), lam, ddf = ddf, method = "saddlepoint",
                   lower.tail = FALSE),
       p_chisq = pchisqsum(chisq, rep(1, k), lam, method = "saddlepoint", lower.tail = FALSE),
       wald_F = wald / k, p_wald_F = pf(wald / k, k, ddf, lower.tail = FALSE),
       wald_chisq = wald, p_wald_chisq = pchisq(wald, k, lower.tail = FALSE),
       deviance_big = big_fit$deviance / s, deviance_small = small_fit$deviance / s)
}

## Newton polish of a fit (exact Hessian): how far BFGS stopped from the optimum
newton_check <- function(formula, data, w, beta, what) {
  X <- model.matrix(formula, data)
  y <- model.response(model.frame(formula, data))
  lev <- levels(y)
  K <- length(lev) - 1
  p <- ncol(X)
  Y <- sapply(lev[-1], function(l) as.numeric(y == l))
  B <- matrix(beta, nrow = K, byrow = TRUE)
  for (it in 1:5) {
    E <- exp(X %*% t(B))
    P <- E / (1 + rowSums(E))
    g <- as.vector(crossprod(X, w * (Y - P)))  # p x K, column-major: category-major
    H <- matrix(0, K * p, K * p)
    for (a in 1:K) for (b in 1:K) {
      c <- w * P[, a] * ((a == b) - P[, b])
      H[(a - 1) * p + 1:p, (b - 1) * p + 1:p] <- crossprod(X, X * c)
    }
    B <- B + matrix(solve(H, g), nrow = K, byrow = TRUE)
  }
  polished <- as.vector(t(B))
  gap <- max(abs(polished - beta) / (1 + abs(polished)))
  if (gap > 2e-7) stop(sprintf("%s: multinom is %g from the optimum", what, gap))
  gap
}

cases <- list()

case_mlogit <- function(id, data, spec, r_type, formula, base = NULL, small = NULL) {
  method <- tolower(r_type)
  rep_name <- paste0("mlogit_", data, "_", method)
  back <- read_data(rep_name)
  y <- all.vars(formula)[1]
  back[[y]] <- factor(back[[y]])
  if (!is.null(base)) back[[y]] <- relevel(back[[y]], ref = base)
  rdes <- svrepdesign(data = back, repweights = "repw_[0-9]+",
                      weights = reformulate(spec$weights), type = r_type,
                      scale = SCALES[[rep_name]]$scale, rscales = SCALES[[rep_name]]$rscales,
                      combined.weights = TRUE, mse = FALSE)
  res <- withReplicates(rdes, function(w, data) fit_coef(formula, data, w),
                        return.replicates = TRUE)
  beta <- as.numeric(res$theta)
  V <- unname(as.matrix(attr(res$theta, "var")))
  full <- fit_coef(formula, back, weights(rdes, "sampling"))
  check_close <- function(a, b, what) if (max(abs(a - b)) > 0) stop(what)
  check_close(full, beta, paste(id, "full-sample fit"))
  gap <- newton_check(formula, back, weights(rdes, "sampling"), beta, id)
  ## svrVar by hand: scale * sum rscales (theta_r - mean)(theta_r - mean)'
  reps <- res$replicates
  d <- sweep(reps, 2, colMeans(reps))
  V2 <- rdes$scale * crossprod(d * sqrt(rdes$rscales))
  if (max(abs(V2 - V)) > 1e-12 * max(abs(V))) stop(id, ": svrVar by hand differs")
  R <- ncol(weights(rdes, "analysis"))
  lev <- levels(back[[y]])
  anova <- if (is.null(small)) NULL else
    anova_case(formula, small, back, weights(rdes, "sampling"), beta, V, degf(rdes))
  cases[[length(cases) + 1]] <<- list(
    id = id, data = rep_name,
    design = list(type = "replicate", weights = spec$weights,
                  replicate_weights = I(paste0("repw_", seq_len(R))), method = method,
                  scale = rdes$scale, rscales = num(rdes$rscales), mse = FALSE,
                  combined_weights = TRUE),
    formula = paste(deparse(formula), collapse = ""), base = lev[1],
    categories = I(lev[-1]), terms = I(colnames(model.matrix(formula, back))),
    coef = num(beta), vcov = unname(V), newton_gap = gap, anova = anova,
    note = sprintf(paste("withReplicates(svrepdesign(type = '%s', repweights = repw_*),",
                         "coef(nnet::multinom(weights = w, reltol = %g, maxit = %d)));",
                         "coefficients category-major"), r_type, RELTOL, MAXIT))
}

## data: R's own replicate weights of a linearisation design, written out and
## read back, so both sides see the same decimal text
SCALES <- list()
write_rep <- function(df, name, spec, r_type) {
  rdes <- as.svrepdesign(build_design(df, spec), type = r_type, mse = FALSE, compress = FALSE)
  repw <- matrix(as.numeric(weights(rdes, "analysis")), nrow = nrow(df))
  colnames(repw) <- paste0("repw_", seq_len(ncol(repw)))
  rep_name <- paste0("mlogit_", name, "_", tolower(r_type))
  write_data(cbind(df, repw), rep_name)
  SCALES[[rep_name]] <<- list(scale = rdes$scale, rscales = rdes$rscales)
}

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")

clus1 <- read_data("apiclus1")[, c("dnum", "snum", "pw", "fpc", "stype", "ell", "meals",
                                   "mobility", "awards")]
write_rep(clus1, "apiclus1", S_CLUS1, "JK1")
strat <- read_data("apistrat")[, c("snum", "stype", "pw", "fpc", "ell", "meals", "awards",
                                   "growth")]
## a three-category outcome: the change in API from 1999 to 2000
strat$growth_class <- as.character(cut(strat$growth, c(-Inf, 10, 40, Inf),
                                       labels = c("low", "modest", "strong")))
write_rep(strat, "apistrat", S_STRAT, "JKn")

case_mlogit("apiclus1_jk1_stype", "apiclus1", S_CLUS1, "JK1",
            stype ~ I(ell/100) + I(meals/100) + I(mobility/100),
            small = stype ~ I(ell/100))
case_mlogit("apiclus1_jk1_stype_base_M", "apiclus1", S_CLUS1, "JK1",
            stype ~ I(ell/100) + I(meals/100) + I(mobility/100), base = "M")
case_mlogit("apiclus1_jk1_awards_two", "apiclus1", S_CLUS1, "JK1",
            awards ~ I(ell/100) + I(meals/100))
case_mlogit("apistrat_jkn_growth_class", "apistrat", S_STRAT, "JKn",
            growth_class ~ stype + I(ell/100) + I(meals/100),
            small = growth_class ~ I(ell/100) + I(meals/100))
case_mlogit("apistrat_jkn_growth_class_base_strong", "apistrat", S_STRAT, "JKn",
            growth_class ~ stype + I(ell/100) + I(meals/100), base = "strong")

out <- list(generated_by = "tests/reference/make_multinomial.R",
            survey_version = as.character(packageVersion("survey")),
            nnet_version = as.character(packageVersion("nnet")),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(ref_dir, "multinomial.json"))
cat(sprintf("%d cases written to tests/reference/multinomial.json\n", length(cases)))
