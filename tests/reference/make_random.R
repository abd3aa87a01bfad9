## R's numbers for the randomised differential tests (tests/test_random_designs.py).
##
## Run from the repository root:
##     Rscript tests/reference/make_random.R          # the stored set
##     Rscript tests/reference/make_random.R DIR      # DIR/designs.json -> DIR/random.json
##
## Reads   tests/reference/data/random_designs.json   seeded designs, written by
##                                                    tests/reference/random_designs.py
## Writes  tests/reference/random.json                for every design: the replicate
##                                                    weights R built (if any) and, for
##                                                    every call, R's numbers or its error
##
## Each design is built with svydesign() (and as.svrepdesign(), then the replicate
## weights as given to innobaro: the "twin"), weighted (postStratify, rake,
## calibrate) and every call of the design is made with survey's own functions.
## A call that stops with an error is recorded as {"error": message}.  Warnings
## are muffled.  The output is the same on every run (fixed RNG kind, the
## bootstrap seeded with the design's seed).  See tests/reference/README.md,
## "Randomised designs".

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_random.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE,
        survey.drop.replicates = TRUE)
t_start <- Sys.time()

args <- commandArgs(trailingOnly = TRUE)
if (length(args)) {
  in_path <- file.path(args[1], "designs.json")
  out_path <- file.path(args[1], "random.json")
} else {
  in_path <- file.path(data_dir, "random_designs.json")
  out_path <- file.path(ref_dir, "random.json")
}
if (!file.exists(in_path)) {
  stop(in_path, " is missing: run python tests/reference/random_designs.py first")
}

GLM_CONTROL <- glm.control(epsilon = 1e-14, maxit = 100)
R_REP_TYPE <- c(jk1 = "JK1", jkn = "JKn", brr = "BRR", fay = "Fay", bootstrap = "bootstrap")
## characters that code the replicate multipliers (index into `levels`)
CODE_CHARS <- strsplit(paste0("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                              "abcdefghijklmnopqrstuvwxyz!#$%&()*+,-./:;<=>?@[]^_{|}~"), "")[[1]]

num <- function(v) if (is.null(v)) NULL else I(unname(as.numeric(v)))
mat <- function(m) if (is.null(m)) NULL else unname(as.matrix(m))
## a number as innobaro will read it from random.json (jsonlite writes 15 digits)
as_written <- function(x) fromJSON(toJSON(unname(x), digits = NA))


## ---------------------------------------------------------------------------
## 1. Data and designs
## ---------------------------------------------------------------------------

## The data of a design (column lists, null = missing); character columns become
## factors with levels in code point order, or the declared levels.
design_data <- function(d) {
  cols <- lapply(d$data, function(v) {
    if (is.list(v)) v <- unlist(lapply(v, function(e) if (is.null(e)) NA else e))
    if (is.logical(v)) v <- as.numeric(v)        # a column with no value at all
    v
  })
  df <- as.data.frame(cols, stringsAsFactors = FALSE)
  for (col in names(df)) {
    if (!is.null(d$levels[[col]])) {
      df[[col]] <- factor(df[[col]], levels = d$levels[[col]])
    } else if (is.character(df[[col]])) {
      df[[col]] <- factor(df[[col]], levels = sort(unique(df[[col]]), method = "radix"))
    }
  }
  df
}

## Replicate weights of as.svrepdesign() as multipliers of the main weights,
## coded as indices into their distinct values; the twin design is built from
## the values as written to the JSON file, as innobaro reads them.
replicate_twin <- function(lin, df, rep, seed) {
  if (rep$method == "bootstrap") set.seed(seed)
  rd <- if (rep$method == "bootstrap") {
    as.svrepdesign(lin, type = "bootstrap", replicates = rep$replicates, mse = rep$mse)
  } else {
    as.svrepdesign(lin, type = R_REP_TYPE[[rep$method]],
                   fay.rho = if (is.null(rep$rho)) 0 else rep$rho, mse = rep$mse)
  }
  stopifnot(!rd$combined.weights)
  M <- as.matrix(rd$repweights)
  stopifnot(isTRUE(all.equal(M * rd$pweights, weights(rd, "analysis"), tolerance = 0)))
  lev <- sort(unique(as.vector(M)))
  if (length(lev) > length(CODE_CHARS)) stop("too many distinct replicate multipliers")
  idx <- matrix(match(M, lev), nrow(M))
  codes <- apply(idx, 1, function(i) paste(CODE_CHARS[i], collapse = ""))
  lev_w <- as_written(lev)
  scale_w <- as_written(rd$scale)
  rscales_w <- as_written(rd$rscales)
  M_w <- matrix(lev_w[idx], nrow(M))
  twin <- svrepdesign(data = df, repweights = M_w, weights = ~w, combined.weights = FALSE,
                      type = R_REP_TYPE[[rep$method]], scale = scale_w, rscales = rscales_w,
                      rho = rep$rho, mse = rep$mse)
  ## the twin is the design R built, unless as.svrepdesign marked certainty
  ## strata as self-representing: survey then leaves their rows out of every
  ## replicate estimate (not of the full-sample one), which the replicate
  ## weights alone cannot say (the test's rule "replicate_selfrep")
  selfrep <- any(rd$selfrep)
  if (!selfrep) {
    a <- svytotal(~x, rd)
    b <- svytotal(~x, twin)
    stopifnot(abs(SE(a) - SE(b)) <= 1e-9 * SE(a) + 1e-12 * abs(coef(a)))
  }
  list(design = twin,
       json = list(method = rep$method, scale = scale_w, rscales = I(rscales_w),
                   rho = rep$rho, mse = rep$mse, replicates = ncol(M), selfrep = selfrep,
                   levels = I(lev_w), codes = I(codes)))
}

## population data frame for postStratify()/rake()
pop_frame <- function(var, totals) {
  df <- data.frame(names(totals), as.numeric(unlist(totals)), stringsAsFactors = FALSE)
  names(df) <- c(var, "Freq")
  df
}

apply_step <- function(des, step) {
  switch(step$step,
    poststratify = postStratify(des, reformulate(step$by), pop_frame(step$by, step$totals)),
    rake = rake(des, lapply(names(step$margins), reformulate),
                lapply(names(step$margins), function(v) pop_frame(v, step$margins[[v]])),
                control = list(maxit = step$max_iter, epsilon = step$tol, verbose = FALSE)),
    calibrate = {
      pop <- unlist(step$totals)
      fml <- as.formula(step$formula)
      stopifnot(identical(colnames(model.matrix(fml, model.frame(fml, model.frame(des)))),
                          names(pop)))
      bounds <- if (is.null(step$bounds)) c(-Inf, Inf) else as.numeric(step$bounds)
      ## compress = FALSE: survey 4.1's calibrate.svyrep.design stops on its own
      ## test `compress || is.na(compress && ...)` for uncompressed replicate weights
      if (inherits(des, "svyrep.design")) {
        calibrate(des, fml, population = pop, calfun = step$method, bounds = bounds,
                  compress = FALSE)
      } else {
        calibrate(des, fml, population = pop, calfun = step$method, bounds = bounds)
      }
    },
    stop("unknown step ", step$step))
}

## The stages (1, 2, 3) at which some stratum has a single sampled unit that
## is not sampled with certainty (a later stage counts only with an fpc, as
## survey's svyrecvar goes past the first stage only then).
lonely_stages <- function(des) {
  if (inherits(des, "svyrep.design")) return(integer(0))
  n <- des$fpc$sampsize
  N <- des$fpc$popsize
  lonely <- n == 1
  if (!is.null(N)) {
    lonely <- lonely & !(N == 1 | (N < 1 & N > 1 - 1e-7))
  } else {
    lonely[, -1] <- FALSE
  }
  which(colSums(lonely) > 0)
}


## ---------------------------------------------------------------------------
## 2. Calls
## ---------------------------------------------------------------------------

domain <- function(des, subset) {
  if (is.null(subset)) return(des)
  v <- as.character(model.frame(des)[[subset$column]])
  keep <- v == as.character(subset$value)
  des[!is.na(keep) & keep, ]
}

is_rep <- function(des) inherits(des, "svyrep.design")
keeps_rows <- function(des) !is_rep(des) && !is.null(des$postStrata)

## mean / total / ratio, whole design or a domain
res_stat <- function(des, cl, ctx) {
  des <- domain(des, cl$subset)
  df <- degf(des)
  if (cl$fn == "ratio") {
    est <- svyratio(reformulate(cl$y), reformulate(cl$denominator), des, na.rm = cl$na_rm)
    labels <- list(paste0(cl$y, "/", cl$denominator))
    coefs <- as.numeric(coef(est))
  } else {
    FUN <- switch(cl$fn, mean = svymean, total = svytotal)
    est <- FUN(reformulate(cl$y), des, na.rm = cl$na_rm)
    lab <- var_labels(des, cl$y)
    stopifnot(identical(names(coef(est)), lab$rnames))
    labels <- as.list(lab$labels)
    coefs <- coef(est)
  }
  V <- as.matrix(vcov(est))
  se <- sqrt(diag(V))
  ti <- t_interval(coefs, se, df, cl$level %||% 0.95)
  ## design effects (linearisation designs without weighting); survey's deff
  ## code stops on some tiny domains, which then have none
  deffs <- NULL
  if (ctx$deff) {
    deffs <- tryCatch({
      e <- if (cl$fn == "ratio") {
        svyratio(reformulate(cl$y), reformulate(cl$denominator), des, na.rm = cl$na_rm,
                 deff = TRUE)
      } else {
        FUN(reformulate(cl$y), des, na.rm = cl$na_rm, deff = TRUE)
      }
      num(deff(e))
    }, error = function(e) NULL)
  }
  list(labels = lapply(labels, I), estimate = num(coefs), se = num(se), vcov = mat(V),
       lower = num(ti$lower), upper = num(ti$upper), df = num(rep(df, length(se))),
       deff = deffs)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

## svyby of mean / total / ratio; df per domain is degf() of the domain design.
## svyby(covmat = TRUE) fails on a post-stratified/raked/calibrated design in
## survey 4.1: there only the standard errors are given.
res_by <- function(des, cl, ctx) {
  byf <- reformulate(cl$by)
  fml <- reformulate(cl$y)
  by_call <- function(covmat) {
    if (cl$fn == "ratio") {
      svyby(fml, byf, des, svyratio, denominator = reformulate(cl$denominator),
            na.rm = cl$na_rm, covmat = covmat)
    } else {
      svyby(fml, byf, des, switch(cl$fn, mean = svymean, total = svytotal),
            na.rm = cl$na_rm, covmat = covmat)
    }
  }
  ## survey 4.1's svyby(covmat = TRUE) also fails with na.rm = TRUE when a
  ## domain has missing values: then too only the standard errors are given
  cov <- !keeps_rows(des)
  res <- if (cov) tryCatch(by_call(TRUE), error = function(e) NULL) else NULL
  if (is.null(res)) {
    cov <- FALSE
    res <- by_call(FALSE)
  }
  byfactor <- do.call(interaction, model.frame(byf, model.frame(des), na.action = na.pass))
  domains <- rownames(res)
  dom_df <- vapply(domains, function(dom) degf(des[!is.na(byfactor) & byfactor == dom, ]), 0)
  var_lab <- if (cl$fn == "ratio") paste0(cl$y, "/", cl$denominator) else
    var_labels(des, cl$y)$labels
  dom_values <- as.character(res[[cl$by]])
  labels <- list()
  for (v in var_lab) for (k in seq_along(domains)) {
    labels[[length(labels) + 1]] <- I(c(dom_values[k], v))
  }
  est <- as.numeric(coef(res))
  se <- as.numeric(as.matrix(SE(res)))
  df <- rep(dom_df, length(var_lab))
  ## rows with a value of every variable, per domain
  vals <- complete.cases(model.frame(des)[, c(cl$y, cl$denominator), drop = FALSE])
  n_values <- vapply(domains, function(dom) sum(vals & !is.na(byfactor) & byfactor == dom), 0)
  ti <- t_interval(est, se, df, 0.95)
  V <- if (cov) as.matrix(vcov(res)) else NULL
  ## svyby's covmat drops a replicate with a missing value for any domain from
  ## every entry (svrVar's na.action), so its diagonal can differ from the SEs
  diag_ok <- is.null(V) || isTRUE(all(abs(diag(V) - se^2) <= 1e-10 * se^2 + 1e-300))
  list(labels = labels, estimate = num(est), se = num(se),
       vcov = mat(V), vcov_diagonal_is_se2 = diag_ok,
       n_values = num(rep(n_values, length(var_lab))),
       lower = num(ti$lower), upper = num(ti$upper), df = num(df))
}

## Exact root of the profile-deviance equation behind svyciprop(method = "likelihood")
## (survey reads it off a spline; see make_reference.R)
likelihood_exact <- function(des, y, level) {
  n <- nrow(des)
  m <- svymean(reformulate(y), des)
  phat <- as.numeric(coef(m))
  yy <- model.frame(des)[[y]]
  pearson <- (yy - phat) / sqrt(phat * (1 - phat))
  phi <- as.numeric(coef(svyvar(pearson, des)))
  lambda <- as.numeric(vcov(m)) * n / (phat * (1 - phat))
  crit <- qt((1 - level) / 2, degf(des))^2 * lambda
  ## the deviance on the log scale, finite far out in the tails
  f <- function(beta) {
    log_mu <- plogis(beta, log.p = TRUE)
    log_1mu <- plogis(beta, lower.tail = FALSE, log.p = TRUE)
    2 * n * (phat * (log(phat) - log_mu) + (1 - phat) * (log(1 - phat) - log_1mu)) / phi -
      crit
  }
  b0 <- qlogis(phat)
  lo <- uniroot(f, c(b0 - 1e4, b0), tol = 1e-13)$root
  hi <- uniroot(f, c(b0, b0 + 1e4), tol = 1e-13)$root
  plogis(c(lo, hi))
}

## svyciprop; the logit interval is computed exactly (svyciprop fits it by
## IRLS): linearisation plogis(qlogis(p) -/+ t se/(p(1-p))), replicate designs
## plogis(qlogis(p) -/+ t se_logit) with the replicate SE of the replicates'
## logits, as svyglm's replicate refits give it.
res_prop <- function(des, cl, ctx) {
  des <- domain(des, cl$subset)
  y <- cl$y
  level <- cl$level
  df <- degf(des)
  m <- svymean(reformulate(y), des, na.rm = cl$na_rm)
  p <- as.numeric(coef(m))
  se <- as.numeric(SE(m))
  crit <- qt(1 - (1 - level) / 2, df)
  yy <- model.frame(des)[[y]]
  out <- list(labels = list(I(y)), estimate = num(p), se = num(se), df = num(df),
              n_rows = nrow(des), n_pos = sum(weights(des, "sampling") > 0 & !is.na(yy)))
  if (cl$method == "logit") {
    if (is_rep(des)) {
      A <- weights(des, "analysis")
      ok <- !is.na(yy)
      pr <- colSums(A[ok, , drop = FALSE] * yy[ok]) / colSums(A[ok, , drop = FALSE])
      out$replicate_p01 <- any(pr <= 0 | pr >= 1)
      se_logit <- sqrt(as.numeric(survey:::svrVar(qlogis(pr), des$scale, des$rscales,
                                                   mse = des$mse, coef = qlogis(p))))
      ci <- plogis(qlogis(p) + c(-1, 1) * crit * se_logit)
    } else {
      ci <- plogis(qlogis(p) + c(-1, 1) * crit * se / (p * (1 - p)))
    }
  } else if (cl$method == "likelihood") {
    ## no interval where the profile has no root (a share of 0 or 1, no degrees
    ## of freedom), and none with missing values (not compared, see the test)
    ## svyciprop's svyglm refuses negative weights (linear calibration)
    if (any(weights(des, "sampling") < 0)) stop("negative weights not allowed")
    ci <- c(NA, NA)
    if (!cl$na_rm && !is.na(se) && p > 1e-12 && p < 1 - 1e-12 && df > 0) {
      ## without variance (a census) the root is the estimate itself
      ci <- if (se == 0) c(p, p) else likelihood_exact(des, y, level)
    }
  } else {
    cp <- svyciprop(reformulate(y), des, method = cl$method, level = level, na.rm = cl$na_rm)
    ci <- as.numeric(confint(cp))
  }
  out$lower <- num(ci[1])
  out$upper <- num(ci[2])
  out
}

## svyquantile with the quantile rule of common.R and the Woodruff interval;
## `tie` flags an estimate where the weighted distribution function meets p
## exactly (the value then depends on rounding, see the README).
res_quantile <- function(des, cl, ctx) {
  q <- as.numeric(cl$q)
  sq <- svyquantile(reformulate(cl$y), des, quantiles = q, ci = TRUE,
                    alpha = 1 - cl$level, qrule = qrule_definition, na.rm = cl$na_rm)
  ci <- confint(sq)
  dd <- if (cl$na_rm) des[!is.na(model.frame(des)[[cl$y]]), ] else des
  x <- model.frame(dd)[[cl$y]]
  w <- weights(dd, "sampling")
  ok <- w != 0
  cw <- cumsum(w[ok][order(x[ok])]) / sum(w[ok])
  tie <- vapply(q, function(p) p > 0 && p < 1 && any(abs(cw - p) < 1e-9), TRUE)
  ## the SE of the distribution function at each quantile (the Woodruff
  ## interval is F -/+ t SE, read back through the quantile rule)
  f_se <- vapply(coef(sq), function(qh) {
    ind <- as.numeric(x <= qh)
    ind[is.na(ind)] <- 0
    as.numeric(SE(svymean(~ind, update(dd, ind = ind))))
  }, 0)
  list(labels = lapply(sprintf("%s[%s]", cl$y, as.character(q)), I),
       estimate = num(coef(sq)), se = num(SE(sq)), lower = num(ci[, 1]),
       upper = num(ci[, 2]), df = num(rep(degf(dd), length(q))), tie = I(tie),
       f_se = num(f_se),
       min = min(x[ok]), max = max(x[ok]))
}

## svyglm at epsilon 1e-14; a linearisation fit is refitted from its own
## coefficients, so that the QR and working weights glm.fit returns are those
## of the final coefficients (see the glm.json notes).
res_glm <- function(des, cl, ctx) {
  fml <- as.formula(cl$formula)
  ## the family written into the call: svyglm's replicate refits evaluate it again
  fam <- if (cl$family == "binomial") quote(quasibinomial()) else quote(gaussian())
  fit <- if (is_rep(des)) {
    eval(bquote(svyglm(.(fml), design = des, family = .(fam), control = GLM_CONTROL,
                       return.replicates = TRUE)))
  } else {
    eval(bquote(svyglm(.(fml), design = des, family = .(fam), control = GLM_CONTROL)))
  }
  if (!is_rep(des)) {
    b0 <- fit$coefficients
    start <- ifelse(is.na(b0), 0, b0)
    fit <- eval(bquote(svyglm(.(fml), design = des, family = .(fam), control = GLM_CONTROL,
                              start = .(start))))
  }
  ## every column of the model matrix, NA where aliased (coef() drops those)
  b <- fit$coefficients
  V <- vcov(fit)
  ok <- !is.na(b)
  se <- rep(NA_real_, length(b))
  se[ok] <- sqrt(diag(as.matrix(V)))
  patsy <- names(b)
  patsy[patsy == "(Intercept)"] <- "Intercept"
  for (v in c("f", "grp", "ps", "cat")) {
    is_v <- startsWith(patsy, v) & patsy != v
    if (v %in% all.vars(fml)) patsy[is_v] <- sprintf("%s[T.%s]", v, substring(patsy[is_v], nchar(v) + 1))
  }
  mu <- fitted(fit)
  out <- list(names = I(names(b)), patsy_names = I(patsy), params = num(b), bse = num(se),
              df_resid = fit$df.residual, converged = fit$converged,
              separated = cl$family == "binomial" && any(mu < 1e-8 | mu > 1 - 1e-8))
  if (is_rep(des)) {
    ## replicate refits without a finite maximum (fitted 0 or 1 in the
    ## replicate) or in which a level of a factor has no weight
    A <- weights(des, "analysis")
    if (length(fit$na.action)) A <- A[-fit$na.action, , drop = FALSE]
    X <- model.matrix(fit)
    B <- fit$replicates
    ok <- !is.na(b)
    lost <- sep <- FALSE
    for (r in seq_len(ncol(A))) {
      pos <- A[, r] > 0
      lost <- lost || qr(X[pos, ok, drop = FALSE])$rank < sum(ok)
      if (cl$family == "binomial") {
        mu_r <- plogis(X[pos, ok, drop = FALSE] %*% B[r, ])
        sep <- sep || any(mu_r < 1e-8 | mu_r > 1 - 1e-8)
      }
    }
    out$replicate_lost_column <- lost
    out$replicate_separated <- sep
  }
  out
}

res_chisq <- function(des, cl, ctx) {
  fml <- reformulate(c(cl$row, cl$col))
  out <- list()
  for (s in c("F", "Chisq")) {
    r <- svychisq(fml, des, statistic = s, na.rm = TRUE)
    out[[s]] <- list(statistic = unname(as.numeric(r$statistic)),
                     parameter = num(r$parameter), p_value = unname(as.numeric(r$p.value)))
  }
  out
}

## svyttest; the interval is the t interval on the test's df (R's confint.svyglm
## turns the t quantile into a normal coverage level, (-Inf, Inf) at 1 df)
res_ttest <- function(des, cl, ctx) {
  r <- svyttest(reformulate(cl$group, cl$y), des)
  est <- unname(as.numeric(r$estimate))
  t <- unname(as.numeric(r$statistic))
  df <- unname(as.numeric(r$parameter))
  se <- est / t
  crit <- suppressWarnings(qt(0.975, df))
  list(statistic = t, df = df, p_value = unname(as.numeric(r$p.value)), estimate = est,
       lower = est - crit * se, upper = est + crit * se)
}

## svyvar of one variable, or the covariance matrix of several (entries column
## by column, labelled (row variable, column variable) as innobaro's index)
res_var <- function(des, cl, ctx) {
  des <- domain(des, cl$subset)
  df <- degf(des)
  p <- length(cl$y)
  ## svyvar's n of n/(n-1): rows with nonzero weight of a linearisation design
  ## (before na.rm), rows analysed of a replicate design. With fewer than two
  ## the variance is undefined: svyvar gives NaN or +-Inf (of rounding noise),
  ## repeats entries (x - xbar recycles a data frame) or stops on a replicate
  ## design; recorded as NaN, innobaro's answer
  n <- if (is_rep(des)) {
    if (cl$na_rm) sum(stats::complete.cases(model.frame(des)[cl$y])) else nrow(des)
  } else sum(weights(des, "sampling") != 0)
  if (n < 2) {
    est <- rep(NaN, p * p)
    V <- matrix(NaN, p * p, p * p)
  } else {
    v <- svyvar(reformulate(cl$y), des, na.rm = cl$na_rm)
    est <- as.numeric(unclass(v))
    V <- as.matrix(attr(v, "var"))
  }
  labels <- if (p == 1) list(I(cl$y)) else
    lapply(seq_len(p * p), function(k) I(c(cl$y[(k - 1) %% p + 1], cl$y[(k - 1) %/% p + 1])))
  se <- sqrt(diag(V))
  ti <- t_interval(est, se, df, cl$level %||% 0.95)
  list(labels = labels, estimate = num(est), se = num(se), vcov = mat(V),
       lower = num(ti$lower), upper = num(ti$upper), df = num(rep(df, length(se))))
}

run_call <- function(des, cl, ctx) {
  if (!is.null(cl$by)) return(res_by(des, cl, ctx))
  switch(cl$fn, mean = , total = , ratio = res_stat(des, cl, ctx), var = res_var(des, cl, ctx),
         proportion = res_prop(des, cl, ctx), quantile = res_quantile(des, cl, ctx),
         glm = res_glm(des, cl, ctx), chisq = res_chisq(des, cl, ctx),
         ttest = res_ttest(des, cl, ctx), stop("unknown fn ", cl$fn))
}

quietly <- function(expr) withCallingHandlers(expr, warning = function(w) invokeRestart("muffleWarning"))
error_of <- function(e) list(error = conditionMessage(e))


## ---------------------------------------------------------------------------
## 3. Every design
## ---------------------------------------------------------------------------

one_design <- function(d) {
  old <- options(survey.lonely.psu = d$design$lonely_psu)
  on.exit(options(old))
  out <- list(seed = d$seed)
  df <- design_data(d)
  built <- tryCatch(quietly({
    ## (survey's as.fpc prints the rows it objects to before it stops)
    invisible(capture.output(des <- build_design(df, d$design)))
    if (!is.null(d$replicate)) {
      tw <- replicate_twin(des, df, d$replicate, d$seed)
      des <- tw$design
      out$replicate <- tw$json
    }
    lonely <- lonely_stages(des)
    failed <- FALSE
    for (step in d$weighting) {
      des <- withCallingHandlers(apply_step(des, step), warning = function(w) {
        if (grepl("Failed to converge", conditionMessage(w))) failed <<- TRUE
      })
      ## survey 4.1's calibrate() keeps a replicate design's degrees of freedom
      ## from before calibration; postStratify() and rake() recompute them
      ## from the new weights. Recomputed here as they do (the test's rule
      ## "calibrate_replicate_df").
      if (step$step == "calibrate" && is_rep(des)) {
        out$degf_before_recompute <- degf(des)
        des$degf <- NULL
        des$degf <- degf(des)
      }
    }
    list(des = des, lonely = lonely, failed = failed)
  }), error = error_of)
  if (!is.null(built$error)) {
    out$design_error <- built$error
    return(out)
  }
  des <- built$des
  out$lonely_stages <- I(built$lonely)
  ## linear calibration can make weights negative (full sample or replicates)
  neg <- any(weights(des, "sampling") < 0) ||
    (is_rep(des) && any(weights(des, "analysis") < 0))
  if (neg) out$negative_weights <- TRUE
  ## survey 4.1 only warns when the calibration of a replicate fails to converge
  if (built$failed) out$replicate_calibration_failed <- TRUE
  out$degf <- degf(des)
  if (!is.null(d$weighting) && length(d$weighting)) {
    out$weights <- num(weights(des, "sampling"))
  }
  ctx <- list(deff = !is_rep(des) && !length(d$weighting))
  out$results <- lapply(d$calls, function(cl) {
    if (is.null(cl$level)) cl$level <- 0.95
    r <- tryCatch(quietly(run_call(des, cl, ctx)), error = error_of)
    c(list(id = cl$id), r)
  })
  out
}

input <- fromJSON(in_path, simplifyVector = TRUE, simplifyDataFrame = FALSE,
                  simplifyMatrix = FALSE)
designs <- input$designs
results <- lapply(designs, one_design)

n_calls <- sum(vapply(results, function(r) length(r$results), 0))
n_err <- sum(vapply(results, function(r) sum(vapply(r$results, function(x) !is.null(x$error), TRUE)), 0))
n_derr <- sum(vapply(results, function(r) !is.null(r$design_error), TRUE))

## One design per line: small, and a diff names the designs that changed.
header <- list(generated_by = "tests/reference/make_random.R",
               designs_file = basename(in_path), R_version = R.version.string,
               survey_version = as.character(packageVersion("survey")),
               glm_control = list(epsilon = GLM_CONTROL$epsilon, maxit = GLM_CONTROL$maxit))
## NA and NaN are written as null, infinities as "Inf" and "-Inf"
inf_as_text <- function(x) {
  if (is.list(x)) {
    at <- attributes(x)
    x <- lapply(x, inf_as_text)
    attributes(x) <- at
    return(x)
  }
  if (is.matrix(x) && any(is.infinite(x))) {
    return(lapply(seq_len(nrow(x)), function(i) inf_as_text(I(x[i, ]))))
  }
  if (is.numeric(x) && any(is.infinite(x))) {
    cls <- class(x)
    y <- as.list(x)
    y[is.infinite(x)] <- ifelse(x[is.infinite(x)] > 0, "Inf", "-Inf")
    y[!is.infinite(x)] <- lapply(x[!is.infinite(x)], function(v) if (is.na(v)) NULL else v)
    if (inherits(x, "AsIs") || length(x) != 1) return(y)
    return(y[[1]])
  }
  x
}
js <- function(x) toJSON(inf_as_text(x), digits = NA, auto_unbox = TRUE, null = "null",
                         na = "null")
head_txt <- sub("}$", "", js(header))
lines <- vapply(results, js, "")
writeLines(c(paste0(head_txt, ',"cases":['), paste0(lines, c(rep(",", length(lines) - 1), "")),
             "]}"), out_path)
message(sprintf("wrote %d designs (%d calls; R errors: %d designs, %d calls) to %s in %.1f s",
                length(results), n_calls, n_derr, n_err, out_path,
                as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
