## Reference numbers for innobaro's weighting: post-stratification, raking,
## calibration (linear, raking, logit; with and without bounds) and weight
## trimming, followed by estimation on the weighted design.
##
## Run from the repository root (after make_reference.R has written the data):
##     Rscript tests/reference/make_weighting.R
##
## Writes
##   tests/reference/weighting.json   one entry per case: design, weighting steps,
##                                    call, R's results and R's final weights
##
## The survey data are read from tests/reference/data/*.csv (written by
## make_reference.R), so R and the Python tests see the same decimal inputs.
## Population totals come from survey's `apipop` (the population the api
## samples were drawn from) and are written into each weighting step.
##
## Every weighting is also redone by this script's own code (weights, rake
## sweeps, calibration iterations, trimming rounds, variance residuals), and the
## script stops if that disagrees with R.  A run that finishes means all checks
## passed.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})


if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_weighting.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE)
t_start <- Sys.time()


## ---------------------------------------------------------------------------
## 1. Data and population totals
## ---------------------------------------------------------------------------


DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2"),
               read_data)

## Population (apipop, 6194 California schools) counts and totals.
data(api, package = "survey")
counts <- function(...) {
  tab <- table(...)
  if (length(dim(tab)) == 1) {
    as.list(setNames(as.numeric(tab), names(tab)))
  } else {
    dn <- dimnames(tab)
    keys <- outer(dn[[1]], dn[[2]], paste, sep = "|")
    as.list(setNames(as.numeric(tab), as.vector(keys)))
  }
}
POP_N <- nrow(apipop)
stopifnot(!anyNA(apipop$api99), !anyNA(apipop$stype), !anyNA(apipop$sch.wide))
POP_STYPE <- counts(apipop$stype)                       # E 4421, H 755, M 1018
POP_SCHWIDE <- counts(apipop$sch.wide)                  # No 1072, Yes 5122
POP_STYPE_SCHWIDE <- counts(apipop$stype, apipop$sch.wide)  # keys "E|No", ...
POP_API99 <- sum(apipop$api99)                          # 3914069
stopifnot(POP_N == 6194, identical(unlist(POP_STYPE), c(E = 4421, H = 755, M = 1018)),
          POP_API99 == 3914069)
POP_NOTE <- paste("population totals from survey's apipop (N = 6194 schools):",
                  "table(apipop$stype), table(apipop$sch.wide), table(stype, sch.wide),",
                  "sum(apipop$api99)")


## ---------------------------------------------------------------------------
## 2. Designs (same specification and construction as make_reference.R)
## ---------------------------------------------------------------------------

design_json <- function(spec, replicate = NULL) {
  d <- list(weights = spec$weights, probs = spec$probs, strata = json_cols(spec$strata),
            psu = json_cols(spec$psu), fpc = json_cols(spec$fpc), nest = spec$nest,
            lonely_psu = spec$lonely_psu)
  if (!is.null(replicate)) d <- c(list(type = "linearization"), d, list(replicate = replicate))
  d
}

## Replicate conversion: as.svrepdesign(type = "JK1"), which keeps the
## first-stage fpc in the scale: scale = (N - n)/N * (n - 1)/n.
to_replicate <- function(des, replicate) {
  stopifnot(replicate$method == "jk1")
  as.svrepdesign(des, type = "JK1", mse = replicate$mse)
}

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
JK1 <- list(method = "jk1", rho = NULL, mse = FALSE)


## ---------------------------------------------------------------------------
## 3. Weighting steps: the JSON form and the R call made from it
## ---------------------------------------------------------------------------

step_poststratify <- function(by, totals) {
  list(step = "poststratify", by = I(by), totals = totals)
}
step_rake <- function(margins, max_iter = 50, tol = 1e-7) {
  list(step = "rake", margins = margins, max_iter = max_iter, tol = tol)
}
step_calibrate <- function(formula, totals, method = "linear", bounds = NULL) {
  list(step = "calibrate", formula = formula, totals = totals, method = method,
       bounds = if (is.null(bounds)) NULL else I(bounds))
}
step_trim <- function(lower = -Inf, upper = Inf, strict = FALSE) {
  list(step = "trim", lower = if (is.finite(lower)) lower else NULL,
       upper = if (is.finite(upper)) upper else NULL, strict = strict)
}

## population data frame for postStratify()/rake(): keys "a|b" split into columns
pop_frame <- function(by, totals) {
  keys <- strsplit(names(totals), "|", fixed = TRUE)
  stopifnot(all(lengths(keys) == length(by)))
  df <- as.data.frame(do.call(rbind, keys), stringsAsFactors = FALSE)
  names(df) <- by
  df$Freq <- as.numeric(unlist(totals))
  df
}

cal_totals <- function(totals) unlist(totals)   # named numeric vector, names = R's columns

apply_step_r <- function(des, step) {
  switch(step$step,
    poststratify = postStratify(des, reformulate(as.character(step$by)),
                                pop_frame(as.character(step$by), step$totals)),
    rake = rake(des, lapply(names(step$margins), reformulate),
                lapply(names(step$margins), function(v) pop_frame(v, step$margins[[v]])),
                control = list(maxit = step$max_iter, epsilon = step$tol, verbose = FALSE)),
    calibrate = {
      pop <- cal_totals(step$totals)
      fml <- as.formula(step$formula)
      stopifnot(identical(colnames(model.matrix(fml, model.frame(fml, model.frame(des)))),
                          names(pop)))
      bounds <- if (is.null(step$bounds)) c(-Inf, Inf) else as.numeric(step$bounds)
      calibrate(des, fml, population = pop, calfun = step$method, bounds = bounds)
    },
    trim = trimWeights(des, lower = if (is.null(step$lower)) -Inf else step$lower,
                       upper = if (is.null(step$upper)) Inf else step$upper,
                       strict = step$strict),
    stop("unknown step ", step$step))
}


## ---------------------------------------------------------------------------
## 4. The script's own implementation of each step, used to check R and to
##    report iteration counts.  Each works on one weight vector `w` over the
##    rows of `mf` and returns the new weights, diagnostics, and a function
##    that maps influence values x (n x p, computed with the final weights) to
##    the residuals survey 4.1's svyrecvar() feeds to the variance.
## ---------------------------------------------------------------------------

cell_of <- function(mf, by) {
  cols <- lapply(by, function(v) as.character(mf[[v]]))
  do.call(paste, c(cols, sep = "|"))
}

## Centre x/psw within cells, weighting rows by `cw`; return the centred x.
centre_cells <- function(x, cell, psw, cw) {
  x <- as.matrix(x)
  for (j in seq_len(ncol(x))) {
    m <- ave(x[, j] * cw / psw, cell, FUN = sum) / ave(cw, cell, FUN = sum)
    x[, j] <- x[, j] - m * psw
  }
  x
}

my_poststratify <- function(w, mf, step) {
  cell <- cell_of(mf, as.character(step$by))
  pop <- unlist(step$totals)
  stopifnot(all(cell %in% names(pop)))
  w_new <- w * pop[cell] / ave(w, cell, FUN = sum)
  w_new <- unname(w_new)
  ## ordinary post-stratification: centre x/w_new at its mean within the
  ## post-stratum, weighted by the weights before post-stratification
  list(w = w_new, info = NULL,
       resid = function(x, ...) centre_cells(x, cell, w_new, w))
}

## IPF with survey's rake() stopping rule.  One sweep post-stratifies every
## margin in turn.  After sweep k the weighted table is compared with the one
## after sweep k - 1 (sweep 0: the input weights); R stops after the first
## sweep whose largest absolute cell change is below eps, where
## eps = tol * sum(input weights) if tol < 1, else tol; at most max_iter sweeps.
##   survey 4.1: the table is the full cross-classification of all margin
##               variables (svytable(~stype + sch.wide)).
##   survey 4.5: each margin's own table; delta is the largest change over them.
my_rake <- function(w, mf, step, sweeps = NULL) {
  vars <- names(step$margins)
  cells <- lapply(vars, function(v) as.character(mf[[v]]))
  joint <- do.call(paste, c(cells, sep = "|"))
  eps <- if (step$tol < 1) step$tol * sum(w) else step$tol
  table_joint <- function(w) rowsum(w, joint, reorder = TRUE)
  table_margins <- function(w) unlist(lapply(cells, function(cl) rowsum(w, cl, reorder = TRUE)))
  sweep_once <- function(w) {
    psw <- list()
    for (k in seq_along(vars)) {
      pop <- unlist(step$margins[[vars[k]]])
      w <- unname(w * pop[cells[[k]]] / ave(w, cells[[k]], FUN = sum))
      psw[[k]] <- w
    }
    list(w = w, psw = psw)
  }
  n_max <- if (is.null(sweeps)) step$max_iter else sweeps
  hist <- list()
  d41 <- d45 <- numeric(0)
  cur <- w
  for (k in seq_len(n_max)) {
    s <- sweep_once(cur)
    d41[k] <- max(abs(table_joint(s$w) - table_joint(cur)))
    d45[k] <- max(abs(table_margins(s$w) - table_margins(cur)))
    hist[[k]] <- s
    cur <- s$w
  }
  if (is.null(sweeps)) {
    sweeps <- which(d41 < eps)[1]
    converged <- !is.na(sweeps)
    if (!converged) sweeps <- n_max
  } else {
    converged <- NA
  }
  final <- hist[[sweeps]]
  psw <- final$psw
  margin_cells <- cells
  ## survey 4.1's svyrecvar, class "raking": 10 passes; each pass, for each
  ## margin k, x <- x - psw_k * (unweighted cell mean of x/psw_k), where psw_k
  ## is the weight vector right after margin k was post-stratified in the last
  ## sweep (for the last margin, the final weights)
  ## passes = 10 and final_weights = FALSE is survey 4.1; more passes and the
  ## final weights for every margin give the exact projection (unweighted least
  ## squares of x/w on the margins' dummies, times w)
  resid <- function(x, passes = 10, final_weights = FALSE) {
    x <- as.matrix(x)
    for (pass in seq_len(passes)) {
      for (k in seq_along(psw)) {
        pk <- if (final_weights) final$w else psw[[k]]
        x <- centre_cells(x, margin_cells[[k]], pk, rep(1, length(w)))
      }
    }
    x
  }
  ## distance of R's weights from the IPF fixed point
  fixed <- final$w
  for (k in 1:5000) {
    nxt <- sweep_once(fixed)$w
    done <- max(abs(nxt - fixed)) < 1e-13 * max(fixed)
    fixed <- nxt
    if (done) break
  }
  info <- list(sweeps = sweeps, converged = converged, epsilon_abs = eps,
               sweeps_survey_4_5 = which(d45 < eps)[1],
               last_delta = d41[sweeps],
               max_rel_weight_diff_vs_exact = max(abs(final$w / fixed - 1)))
  list(w = final$w, info = info, resid = resid, psw = psw, cells = margin_cells)
}

## Calibration functions F(u) = g and dF/du as survey 4.1 defines them
## (Deville & Sarndal; u = x'eta).  Note that for "raking" survey tests the
## bounds on u + 1, not on exp(u), to decide where the derivative is zero.
calfun_my <- function(method, L, U) {
  switch(method,
    linear = list(F = function(u) pmin(pmax(1 + u, L), U),
                  dF = function(u) as.numeric(u < U - 1 & u > L - 1)),
    raking = list(F = function(u) pmin(pmax(exp(u), L), U),
                  dF = function(u) ifelse(u < U - 1 & u > L - 1, exp(u), 0)),
    logit = {
      if (!is.finite(L) || !is.finite(U)) stop("logit calibration needs finite bounds")
      A <- (U - L) / ((U - 1) * (1 - L))
      list(F = function(u) {
             E <- exp(A * u)
             (L * (U - 1) + U * (1 - L) * E) / (U - 1 + (1 - L) * E)
           },
           dF = function(u) {
             E <- exp(A * u)
             (1 - L) * A * E * (U - 1) * (U - L) / (U - 1 + (1 - L) * E)^2
           })
    })
}

## Newton iterations of survey's grake(): eta starts at 0; each step solves
## (sum_i w_i F'(x_i'eta) x_i x_i') d = T - sum_i w_i F(x_i'eta) x_i and sets
## eta <- eta + d (halving d while some g or F' is not finite).  It stops when
## every |T_j - sum_i w_i g_i x_ij| / (1 + |T_j|) < epsilon, and fails after
## maxit steps.  Unbounded linear calibration is solved in closed form
## (survey's regcalibrate).
my_calibrate <- function(w, mf, step, epsilon = 1e-7, maxit = 50) {
  fml <- as.formula(step$formula)
  mm <- model.matrix(fml, model.frame(fml, mf))
  pop <- cal_totals(step$totals)
  stopifnot(identical(colnames(mm), names(pop)))
  bounds <- if (is.null(step$bounds)) c(-Inf, Inf) else as.numeric(step$bounds)
  info <- list(epsilon = epsilon, maxit = maxit)
  newton <- function(epsilon, maxit) {
    cf <- calfun_my(step$method, bounds[1], bounds[2])
    stopifnot(min(pop / colSums(mm * w)) <= 20)  # survey would pre-scale the weights
    eta <- rep(0, ncol(mm))
    iter <- 1; halvings <- 0
    repeat {
      u <- drop(mm %*% eta)
      Tm <- crossprod(mm * w * cf$dF(u), mm)
      misfit <- pop - colSums(mm * w * cf$F(u))
      d <- solve(Tm, misfit)
      eta <- eta + d
      u <- drop(mm %*% eta)
      while (iter < maxit && any(!is.finite(cf$F(u)), !is.finite(cf$dF(u)))) {
        iter <- iter + 1; halvings <- halvings + 1
        d <- d / 2; eta <- eta - d; u <- drop(mm %*% eta)
      }
      g <- cf$F(u)
      rel <- abs(pop - colSums(mm * w * g)) / (1 + abs(pop))
      if (all(rel < epsilon)) break
      iter <- iter + 1
      if (iter > maxit) stop("my_calibrate: no convergence")
    }
    list(g = g, iterations = iter, halvings = halvings, max_rel_misfit = max(rel))
  }
  if (step$method == "linear" && all(bounds == c(-Inf, Inf))) {
    g <- drop(1 + mm %*% solve(crossprod(mm * w, mm), pop - colSums(mm * w)))
    info$iterations <- 0L
    info$max_rel_misfit <- max(abs(pop - colSums(mm * w * g)) / (1 + abs(pop)))
    info$closed_form <- TRUE
  } else {
    r <- newton(epsilon, maxit)
    g <- r$g
    exact <- newton(1e-15, 200)   # same iterations run to full precision
    info$iterations <- r$iterations
    info$step_halvings <- r$halvings
    info$max_rel_misfit <- r$max_rel_misfit
    info$max_rel_weight_diff_vs_exact <- max(abs(r$g / exact$g - 1))
    info$closed_form <- FALSE
  }
  info$g_range <- range(g)
  ## GREG residuals (svyrecvar, class "greg_calibration"): x is divided by the
  ## calibrated weight, regressed on the model matrix with the weights BEFORE
  ## calibration, and the residual is multiplied back by the calibrated weight:
  ## r_i = g_i d_i (z_i - x_i' B), z = x / (g d), B = (X'DX)^-1 X'D z.
  resid <- function(x, ...) {
    z <- as.matrix(x) / (g * w)
    e <- lm.wfit(mm, z, w)$residuals
    as.matrix(e) * (g * w)
  }
  list(w = unname(w * g), info = info, resid = resid, g = g, mm = mm)
}

## trimWeights(): weights outside [lower, upper] are set to the bound, and the
## net trimmed mass sum(w_old - w_new) is added in EQUAL amounts (not in
## proportion to the weights) to every weight that was inside the bounds, so
## the sum of the weights is unchanged.
##   survey 4.1, strict = TRUE: repeat on the result until nothing is outside;
##                a weight trimmed to a bound (== bound, so "inside") can
##                receive mass in a later round.
##   survey >= 4.2, strict = TRUE: a weight trimmed in any round never again
##                receives mass.
my_trim <- function(w, step, rule = "4.1") {
  lower <- if (is.null(step$lower)) -Inf else step$lower
  upper <- if (is.null(step$upper)) Inf else step$upper
  rounds <- 0
  has_trimmed <- rep(FALSE, length(w))
  n_trimmed_first <- NA
  repeat {
    outside <- w < lower | w > upper
    if (!any(outside)) break
    rounds <- rounds + 1
    if (rounds > 1000) stop("my_trim: no end")
    if (is.na(n_trimmed_first)) n_trimmed_first <- sum(outside)
    w_new <- pmax(lower, pmin(w, upper))
    mass <- sum(w - w_new)
    receive <- if (rule == "4.1") !outside else !outside & !has_trimmed
    stopifnot(any(receive))
    w_new[receive] <- w_new[receive] + mass / sum(receive)
    has_trimmed <- has_trimmed | outside
    w <- w_new
    if (!step$strict) break
  }
  list(w = w, info = list(rounds = rounds, n_outside_first_round = n_trimmed_first),
       resid = function(x, ...) x)
}

my_step <- function(w, mf, step, ...) {
  switch(step$step,
         poststratify = my_poststratify(w, mf, step),
         rake = my_rake(w, mf, step, ...),
         calibrate = my_calibrate(w, mf, step),
         trim = my_trim(w, step))
}


## ---------------------------------------------------------------------------
## 5. Weighted designs, with the checks against the script's own code
## ---------------------------------------------------------------------------

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  if (length(a) != length(b)) stop(what, ": length mismatch")
  scale <- pmax(1, abs(a), abs(b))
  bad <- !(abs(a - b) <= tol * scale | (is.na(a) & is.na(b)))
  if (any(bad)) {
    stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad], na.rm = TRUE)))
  }
  invisible(TRUE)
}

rel_check <- function(a, b, what, tol = 1e-10, floor = 0) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  ## values below `floor` (se that is 0 in exact arithmetic) only need to stay below it
  tiny <- abs(a) < floor & abs(b) < floor
  d <- max(c(0, abs(a[!tiny] / b[!tiny] - 1)))
  if (!is.finite(d) || d > tol) stop(sprintf("%s: relative mismatch %g", what, d))
  invisible(d)
}

RAKE_STATS <- list(passes = 0, projection = 0)
WEIGHTED <- list()   # cache: key -> weighted design and diagnostics

## Build the design, (convert to replicate weights,) apply the steps with R and
## with the script's own code, and check that the weights agree.
weighted_design <- function(data, spec, steps, replicate = NULL) {
  key <- paste(deparse(list(data, spec, steps, replicate)), collapse = "")
  if (!is.null(WEIGHTED[[key]])) return(WEIGHTED[[key]])
  des0 <- build_design(DATA[[data]], spec)
  base <- if (is.null(replicate)) des0 else to_replicate(des0, replicate)
  des <- base
  for (s in steps) des <- apply_step_r(des, s)
  mf <- model.frame(des0)
  ## own implementation, full-sample weights
  w <- weights(des0)
  mine <- list()
  for (k in seq_along(steps)) {
    mine[[k]] <- my_step(w, mf, steps[[k]])
    w <- mine[[k]]$w
  }
  w_r <- if (is.null(replicate)) weights(des) else weights(des, "sampling")
  rel_check(w, w_r, sprintf("%s weights after %s", data,
                            paste(vapply(steps, `[[`, "", "step"), collapse = "+")))
  rep_w <- NULL
  if (!is.null(replicate)) {
    ## each replicate is weighted again from its own replicate weights; rake
    ## uses the number of sweeps found for the full sample
    rw0 <- as.matrix(weights(base, "analysis"))
    rw <- rw0
    for (r in seq_len(ncol(rw))) {
      wr <- rw0[, r]
      for (k in seq_along(steps)) {
        if (steps[[k]]$step == "calibrate") {
          stopifnot(steps[[k]]$method == "linear", is.null(steps[[k]]$bounds))
        }
        extra <- if (steps[[k]]$step == "rake") list(sweeps = mine[[k]]$info$sweeps) else list()
        wr <- do.call(my_step, c(list(wr, mf, steps[[k]]), extra))$w
      }
      rw[, r] <- wr
    }
    rep_w <- as.matrix(weights(des, "analysis"))
    check_close(rw, rep_w, paste(data, "replicate weights"), tol = 1e-10)
  }
  ## diagnostics written next to each step
  steps_out <- steps
  for (k in seq_along(steps)) {
    info <- mine[[k]]$info
    if (!is.null(info)) steps_out[[k]]$r_info <- info
  }
  resid <- function(x, ...) {
    for (k in seq_along(mine)) x <- mine[[k]]$resid(x, ...)
    x
  }
  out <- list(design = des, base = base, des0 = des0, weights = unname(w_r),
              replicate_weights = if (is.null(rep_w)) NULL else unname(rep_w),
              steps = steps_out, resid = resid, mine = mine)
  WEIGHTED[[key]] <<- out
  out
}

## Variance of a mean/total recomputed from the script's own residuals with
## survey's plain svyrecvar (no postStrata); checks the description of R's
## variance after weighting.  Linearization designs, numeric variables.
own_vcov <- function(wd, fn, y, subset, ...) {
  des0 <- wd$des0
  mf <- model.frame(des0)
  w <- wd$weights
  dom <- if (is.null(subset)) rep(TRUE, length(w)) else mf[[subset$column]] == subset$value
  wd_ <- w * dom
  Y <- as.matrix(mf[, y, drop = FALSE])
  if (fn == "mean") {
    mu <- colSums(Y * wd_) / sum(wd_)
    x <- wd_ * sweep(Y, 2, mu) / sum(wd_)
  } else {
    x <- wd_ * Y
  }
  survey:::svyrecvar(wd$resid(x, ...), des0$cluster, des0$strata, des0$fpc)
}

## Replicate variance recomputed from the script's own replicate weights.
own_rep_vcov <- function(wd, fn, y) {
  Y <- as.matrix(model.frame(wd$des0)[, y, drop = FALSE])
  stat <- function(w) if (fn == "mean") colSums(Y * w) / sum(w) else colSums(Y * w)
  reps <- t(apply(wd$replicate_weights, 2, stat))
  if (length(y) == 1) reps <- t(reps)
  centre <- if (wd$design$mse) stat(wd$weights) else colMeans(reps)
  d <- sweep(reps, 2, centre)
  wd$design$scale * crossprod(d * sqrt(wd$design$rscales))
}


## ---------------------------------------------------------------------------
## 6. Estimation on the weighted design
## ---------------------------------------------------------------------------



res_stat <- function(wd, call, id) {
  des <- subset_design(wd$design, call$subset)
  y <- as.character(call$y)
  FUN <- switch(call$fn, mean = svymean, total = svytotal)
  est <- FUN(reformulate(y), des, na.rm = call$na_rm)
  df <- degf(des)
  V <- vcov(est)
  lab <- var_labels(des, y)
  stopifnot(identical(names(coef(est)), lab$rnames))
  extra <- list()
  se <- sqrt(diag(as.matrix(V)))
  ti <- t_interval(coef(est), se, df, call$level)
  zi <- z_interval(coef(est), se, call$level)
  ci_t <- confint(est, df = df, level = call$level)
  check_close(ti$lower, ci_t[, 1], paste(id, "t lower"))
  check_close(zi$upper, confint(est, level = call$level)[, 2], paste(id, "z upper"))
  ## own variance
  numeric_y <- all(vapply(y, function(v) is.numeric(model.frame(des)[[v]]), TRUE))
  if (numeric_y && !call$na_rm) {
    if (inherits(wd$design, "svyrep.design")) {
      stopifnot(is.null(call$subset))
      check_close(own_rep_vcov(wd, call$fn, y), V, paste(id, "own replicate vcov"), tol = 1e-9)
    } else {
      Vo <- own_vcov(wd, call$fn, y, call$subset)
      floor <- 1e-7 * max(abs(coef(est)))
      rel_check(sqrt(diag(Vo)), se, paste(id, "own linearization se"), tol = 1e-9, floor = floor)
      if (any(vapply(wd$steps, `[[`, "", "step") == "rake")) {
        ## R's 10 passes against the converged backfitting (same weights)
        se_conv <- sqrt(diag(own_vcov(wd, call$fn, y, call$subset, passes = 200)))
        RAKE_STATS$passes <<- max(RAKE_STATS$passes,
                                  rel_check(se_conv, se, paste(id, "10 vs 200 passes"), 1e-8, floor))
        ## exact projection with the final weights for every margin
        se_proj <- sqrt(diag(own_vcov(wd, call$fn, y, call$subset, passes = 200,
                                      final_weights = TRUE)))
        RAKE_STATS$projection <<- max(RAKE_STATS$projection,
                                      rel_check(se_proj, se, paste(id, "projection"), 1e-6, floor))
        extra$se_unweighted_projection <- se_proj
      }
    }
  }
  if (call$na_rm) {
    ## df is degf() before NA removal (as in linearization.json); df_narm is
    ## degf() of the weighted design restricted to complete rows
    complete <- complete.cases(model.frame(des)[, y, drop = FALSE])
    extra$df_narm <- rep(degf(des[complete, ]), length(lab$labels))
  }
  make_result(as.list(lab$labels), coef(est), se, V, ti$lower, ti$upper, zi$lower, zi$upper,
              rep(df, length(lab$labels)), extra = extra)
}

res_ratio <- function(wd, call, id) {
  des <- subset_design(wd$design, call$subset)
  r <- svyratio(reformulate(call$y), reformulate(call$denominator), des)
  df <- degf(des)
  est <- as.numeric(coef(r))
  se <- as.numeric(SE(r))
  ti <- t_interval(est, se, df, call$level)
  zi <- z_interval(est, se, call$level)
  check_close(ti$lower, confint(r, df = df, level = call$level)[, 1], paste(id, "t lower"))
  make_result(list(paste0(call$y, "/", call$denominator)), est, se, vcov(r), ti$lower, ti$upper,
              zi$lower, zi$upper, df)
}

res_prop <- function(wd, call, id) {
  des <- subset_design(wd$design, call$subset)
  y <- call$y
  df <- degf(des)
  cp <- svyciprop(reformulate(y), des, method = call$method, level = call$level)
  ci <- as.numeric(confint(cp))
  ## estimate and se: the weighted mean and its svymean se (svyciprop's logit
  ## estimate is an IRLS fit, equal to these up to the IRLS tolerance)
  m <- svymean(reformulate(y), des)
  p <- as.numeric(coef(m))
  est <- p
  se <- as.numeric(SE(m))
  check_close(coef(cp), p, paste(id, "proportion estimate"), tol = 1e-6)
  check_close(sqrt(as.numeric(vcov(cp))), se, paste(id, "proportion se"), tol = 1e-6)
  extra <- list()
  if (call$method == "logit") {
    crit <- qt(1 - (1 - call$level) / 2, df) * as.numeric(SE(m)) / (p * (1 - p))
    exact <- plogis(qlogis(p) + c(-1, 1) * crit)
    check_close(exact, ci, paste(id, "exact logit interval vs svyciprop"), tol = 1e-6)
    extra <- list(lower_exact = exact[1], upper_exact = exact[2])
  }
  make_result(list(y), est, se, NULL, ci[1], ci[2], NULL, NULL, df, extra = extra)
}

res_quantile <- function(wd, call, id) {
  des <- subset_design(wd$design, call$subset)
  y <- call$y
  q <- as.numeric(call$q)
  sq <- svyquantile(reformulate(y), des, quantiles = q, ci = TRUE, alpha = 1 - call$level,
                    qrule = qrule_definition)
  ci <- confint(sq)
  make_result(as.list(sprintf("%s[%s]", y, as.character(q))), coef(sq), SE(sq), NULL,
              ci[, 1], ci[, 2], NULL, NULL, rep(degf(des), length(q)))
}

## svyby (mean/total/ratio) on the weighted design; df per domain is degf of
## the domain's subset design; vcov is svyby(covmat = TRUE).
res_by <- function(wd, call, id) {
  des <- wd$design
  y <- as.character(call$y)
  by <- as.character(call$by)
  fml <- reformulate(y)
  byf <- reformulate(by)
  FUN <- switch(call$fn, mean = svymean, total = svytotal)
  byfactor <- do.call(interaction, model.frame(byf, model.frame(des), na.action = na.pass))
  ## survey 4.1's svyby(covmat = TRUE) fails when subset() keeps every row,
  ## which it does for a post-stratified / raked / calibrated design; there the
  ## covariance is built from the domains' influence values (full length, 0
  ## outside the domain) with svyrecvar and the design's weighting data, which
  ## is what svyby(covmat = TRUE) does in survey >= 4.5
  keeps_rows <- !inherits(des, "svyrep.design") && !is.null(des$postStrata)
  res <- if (keeps_rows) svyby(fml, byf, des, FUN) else svyby(fml, byf, des, FUN, covmat = TRUE)
  domains <- rownames(res)
  dom_designs <- lapply(domains, function(dom) des[!is.na(byfactor) & byfactor == dom, ])
  dom_df <- vapply(dom_designs, degf, 0)
  if (keeps_rows) {
    stopifnot(length(y) == 1, is.numeric(model.frame(des)[[y]]))
    infl <- sapply(dom_designs, function(d) {
      v <- attr(FUN(fml, d, influence = TRUE), "influence")
      stopifnot(length(v) == nrow(des))
      v
    })
    V <- survey:::svyrecvar(infl, des$cluster, des$strata, des$fpc, postStrata = des$postStrata)
  } else {
    V <- vcov(res)
  }
  for (k in seq_along(domains)) {
    one <- FUN(fml, dom_designs[[k]])
    check_close(coef(one), coef(res)[k], paste(id, "domain estimate", domains[k]))
    check_close(SE(one), as.matrix(SE(res))[k, ], paste(id, "domain se", domains[k]))
    if (!inherits(des, "svyrep.design") && length(by) == 1 && is.numeric(model.frame(des)[[y]])) {
      sub <- list(column = by, value = as.character(res[k, by]))
      Vo <- own_vcov(wd, call$fn, y, sub)
      rel_check(sqrt(diag(Vo)), SE(one), paste(id, "own domain se", domains[k]), tol = 1e-9)
    }
  }
  est <- as.numeric(coef(res))
  se <- sqrt(diag(V))
  check_close(se, as.numeric(as.matrix(SE(res))), paste(id, "covmat diagonal vs SE"), tol = 1e-8)
  var_lab <- var_labels(des, y)$labels
  dom_values <- as.data.frame(lapply(res[, by, drop = FALSE], as.character), stringsAsFactors = FALSE)
  labels <- list()
  for (v in seq_along(var_lab)) {
    for (k in seq_along(domains)) labels[[length(labels) + 1]] <- c(unlist(dom_values[k, ]), var_lab[v])
  }
  df <- rep(dom_df, length(var_lab))
  ti <- t_interval(est, se, df, call$level)
  zi <- z_interval(est, se, call$level)
  make_result(labels, est, se, V, ti$lower, ti$upper, zi$lower, zi$upper, df)
}


## ---------------------------------------------------------------------------
## 7. Cases
## ---------------------------------------------------------------------------

CASES <- list()

add_case <- function(id, data, spec, steps, call, replicate = NULL, note = NULL, extra = list()) {
  if (id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", id)
  wd <- weighted_design(data, spec, steps, replicate)
  result <- if (!is.null(call$by)) {
    res_by(wd, call, id)
  } else {
    switch(call$fn, mean = , total = res_stat(wd, call, id), ratio = res_ratio(wd, call, id),
           proportion = res_prop(wd, call, id), quantile = res_quantile(wd, call, id))
  }
  for (k in names(extra)) result[[k]] <- I(unname(as.numeric(extra[[k]])))
  design <- design_json(spec, replicate)
  if (!is.null(replicate)) {
    ## as in replicates.json: the scale and rscales R resolved for the
    ## replicate design (weighting does not change them)
    b <- wd$base
    design$resolved <- list(replicates = ncol(as.matrix(weights(b, "analysis"))),
                            scale = b$scale, rscales = I(as.numeric(b$rscales)))
    stopifnot(wd$design$scale == b$scale, identical(wd$design$rscales, b$rscales))
  }
  case <- list(id = id, data = data, design = design,
               weighting = wd$steps, call = call, result = result,
               weights = I(wd$weights))
  if (!is.null(wd$replicate_weights)) case$replicate_weights <- wd$replicate_weights
  far <- vapply(wd$steps, function(s) {
    d <- s$r_info$max_rel_weight_diff_vs_exact
    if (is.null(d)) 0 else d
  }, 0)
  if (any(far > 1e-8)) {
    note <- c(note, sprintf(paste(
      "R stops iterating with weights up to %.2g (relative) away from the fully converged",
      "solution: matching R to 1e-8 needs R's iterations and stopping rule"), max(far)))
  }
  case$note <- paste(c(note, POP_NOTE), collapse = "; ")
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

SUB_E <- list(column = "stype", value = "E")
NOTE_SE0 <- paste("the weighting fixes this total: se is 0 in exact arithmetic and R's value",
                  "is rounding noise (compare with an absolute tolerance)")

## Calibration totals keyed by R's model-matrix column names.
TOT_STYPE <- list(`(Intercept)` = POP_N, stypeH = POP_STYPE$H, stypeM = POP_STYPE$M)
TOT_STYPE_API99 <- c(TOT_STYPE, list(api99 = POP_API99))
TOT_SCHWIDE_API99 <- list(`(Intercept)` = POP_N, sch.wideYes = POP_SCHWIDE$Yes, api99 = POP_API99)

## -- a. apiclus1 post-stratified on stype (the ?postStratify example) --------
PS1 <- list(step_poststratify("stype", POP_STYPE))
p <- function(s) paste0("apiclus1_ps_stype_", s)
add_case(p("mean_api00"), "apiclus1", S_CLUS1, PS1, new_call("mean", "api00"))
add_case(p("total_enroll"), "apiclus1", S_CLUS1, PS1, new_call("total", "enroll"))
add_case(p("mean_api00_enroll"), "apiclus1", S_CLUS1, PS1, new_call("mean", c("api00", "enroll")))
add_case(p("total_stype"), "apiclus1", S_CLUS1, PS1, new_call("total", "stype"), note = NOTE_SE0)
add_case(p("ratio_api00_api99"), "apiclus1", S_CLUS1, PS1,
         new_call("ratio", "api00", denominator = "api99"))
add_case(p("by_stype_mean_api00"), "apiclus1", S_CLUS1, PS1, new_call("mean", "api00", by = "stype"))
add_case(p("by_stype_total_enroll"), "apiclus1", S_CLUS1, PS1,
         new_call("total", "enroll", by = "stype"))
add_case(p("by_sch.wide_mean_api00"), "apiclus1", S_CLUS1, PS1,
         new_call("mean", "api00", by = "sch.wide"))
add_case(p("subset_E_mean_api00"), "apiclus1", S_CLUS1, PS1,
         new_call("mean", "api00", subset = SUB_E))
for (m in c("logit", "beta")) {
  add_case(p(paste0("prop_sch_wide01_", m)), "apiclus1", S_CLUS1, PS1,
           new_call("proportion", "sch_wide01", method = m))
}
add_case(p("subset_E_prop_awards01_beta"), "apiclus1", S_CLUS1, PS1,
         new_call("proportion", "awards01", method = "beta", subset = SUB_E),
         note = paste("a subset of a calibrated design keeps all its rows in R, so",
                      "svyciprop's Korn-Graubard factor uses nrow(design) = 183, not the",
                      "domain's 144"))
add_case(p("quantile_api00"), "apiclus1", S_CLUS1, PS1,
         new_call("quantile", "api00", q = c(0.25, 0.5, 0.75)),
         note = paste("svyquantile with qrule = qrule_definition (as in linearization.json),",
                      "Woodruff interval; se = interval width / (2 t)"))

## -- b. apistrat post-stratified on stype x sch.wide -------------------------
PS2 <- list(step_poststratify(c("stype", "sch.wide"), POP_STYPE_SCHWIDE))
p <- function(s) paste0("apistrat_ps_stype_sch.wide_", s)
add_case(p("mean_api00"), "apistrat", S_STRAT, PS2, new_call("mean", "api00"))
add_case(p("total_enroll"), "apistrat", S_STRAT, PS2, new_call("total", "enroll"))
add_case(p("mean_api00_api99"), "apistrat", S_STRAT, PS2, new_call("mean", c("api00", "api99")))
add_case(p("ratio_api00_api99"), "apistrat", S_STRAT, PS2,
         new_call("ratio", "api00", denominator = "api99"))
add_case(p("by_stype_mean_api00"), "apistrat", S_STRAT, PS2, new_call("mean", "api00", by = "stype"))
add_case(p("by_awards_total_enroll"), "apistrat", S_STRAT, PS2,
         new_call("total", "enroll", by = "awards"))
add_case(p("prop_sch_wide01_logit"), "apistrat", S_STRAT, PS2,
         new_call("proportion", "sch_wide01", method = "logit"),
         note = "sch_wide01 is a post-stratification variable: its proportion is fixed (se ~ 0)")
add_case(p("prop_awards01_logit"), "apistrat", S_STRAT, PS2,
         new_call("proportion", "awards01", method = "logit"))

## -- c. apiclus1 raked to stype and sch.wide (the ?rake example) ------------
RK <- list(step_rake(list(stype = POP_STYPE, sch.wide = POP_SCHWIDE), max_iter = 50, tol = 1e-7))
NOTE_RAKE <- paste(
  "rake variance (survey 4.1 svyrecvar, class 'raking'): 10 passes of x <- x - psw_k *",
  "(unweighted mean of x/psw_k within the cells of margin k), margins in order, psw_k =",
  "the weights right after margin k in the last sweep")
p <- function(s) paste0("apiclus1_rake_", s)
add_case(p("mean_api00"), "apiclus1", S_CLUS1, RK, new_call("mean", "api00"), note = NOTE_RAKE)
add_case(p("total_enroll"), "apiclus1", S_CLUS1, RK, new_call("total", "enroll"), note = NOTE_RAKE)
add_case(p("mean_api00_enroll"), "apiclus1", S_CLUS1, RK, new_call("mean", c("api00", "enroll")),
         note = NOTE_RAKE)
add_case(p("by_stype_mean_api00"), "apiclus1", S_CLUS1, RK, new_call("mean", "api00", by = "stype"),
         note = NOTE_RAKE)
add_case(p("by_stype_total_enroll"), "apiclus1", S_CLUS1, RK,
         new_call("total", "enroll", by = "stype"), note = NOTE_RAKE)
add_case(p("subset_E_mean_api00"), "apiclus1", S_CLUS1, RK,
         new_call("mean", "api00", subset = SUB_E), note = NOTE_RAKE)
add_case(p("prop_awards01_logit"), "apiclus1", S_CLUS1, RK,
         new_call("proportion", "awards01", method = "logit"), note = NOTE_RAKE)

## -- d. apistrat raked: unequal weights within the margins ------------------
## Here R's unweighted centring differs from the design-weighted (GREG)
## projection used after postStratify/calibrate; se_weighted_centring is the
## se with the weighted projection (what calibrate(calfun = "raking") to the
## same margins gives, up to the raking tolerance).
weighted_centring_se <- function(wd, fn, y) {
  mine <- wd$mine[[1]]
  d <- weights(wd$des0)
  Y <- as.matrix(model.frame(wd$des0)[, y, drop = FALSE])
  w <- wd$weights
  x <- if (fn == "mean") w * sweep(Y, 2, colSums(Y * w) / sum(w)) / sum(w) else w * Y
  X <- do.call(cbind, lapply(mine$cells, function(cl) model.matrix(~ factor(cl))[, -1, drop = FALSE]))
  X <- cbind(1, X)
  e <- lm.wfit(X, x / w, d)$residuals * w
  sqrt(diag(as.matrix(survey:::svyrecvar(e, wd$des0$cluster, wd$des0$strata, wd$des0$fpc))))
}
p <- function(s) paste0("apistrat_rake_", s)
for (cl in list(list("mean", "api00"), list("total", "enroll"))) {
  wd <- weighted_design("apistrat", S_STRAT, RK)
  se_w <- weighted_centring_se(wd, cl[[1]], cl[[2]])
  cal <- calibrate(wd$des0, list(~stype, ~sch.wide),
                   list(pop_frame("stype", POP_STYPE), pop_frame("sch.wide", POP_SCHWIDE)),
                   calfun = "raking", epsilon = 1e-12)
  FUN <- switch(cl[[1]], mean = svymean, total = svytotal)
  check_close(se_w, SE(FUN(reformulate(cl[[2]]), cal)), "weighted centring vs calibrate raking",
              tol = 1e-6)
  add_case(p(paste0(cl[[1]], "_", cl[[2]])), "apistrat", S_STRAT, RK, new_call(cl[[1]], cl[[2]]),
           note = paste(NOTE_RAKE, "; weights vary within the margins' cells, so this differs",
                        "from a design-weighted projection: se_weighted_centring is that",
                        "alternative (= calibrate(calfun='raking') to the same margins)"),
           extra = list(se_weighted_centring = se_w))
}

## -- e. apiclus1 calibration (the ?calibrate examples) -----------------------
CAL_S <- list(step_calibrate("~stype", TOT_STYPE, "linear"))
p <- function(s) paste0("apiclus1_cal_linear_stype_", s)
add_case(p("mean_api00"), "apiclus1", S_CLUS1, CAL_S, new_call("mean", "api00"),
         note = "linear calibration on ~stype is post-stratification on stype (checked)")
add_case(p("total_enroll"), "apiclus1", S_CLUS1, CAL_S, new_call("total", "enroll"),
         note = "linear calibration on ~stype is post-stratification on stype (checked)")
## check: calibrate(~stype) == postStratify(~stype): weights and variances
local({
  a <- weighted_design("apiclus1", S_CLUS1, CAL_S)$design
  b <- weighted_design("apiclus1", S_CLUS1, PS1)$design
  rel_check(weights(a), weights(b), "calibrate ~stype vs postStratify weights", tol = 1e-12)
  for (f in list(~api00, ~enroll, ~api00 + enroll)) {
    check_close(vcov(svymean(f, a)), vcov(svymean(f, b)), "calibrate vs postStratify vcov mean")
    check_close(vcov(svytotal(f, a)), vcov(svytotal(f, b)), "calibrate vs postStratify vcov total")
  }
  check_close(SE(svyby(~api00, ~stype, a, svymean)), SE(svyby(~api00, ~stype, b, svymean)),
              "calibrate vs postStratify by-stype se")
})

CAL_L <- list(step_calibrate("~stype + api99", TOT_STYPE_API99, "linear"))
p <- function(s) paste0("apiclus1_cal_linear_stype_api99_", s)
add_case(p("mean_api00"), "apiclus1", S_CLUS1, CAL_L, new_call("mean", "api00"))
add_case(p("total_enroll"), "apiclus1", S_CLUS1, CAL_L, new_call("total", "enroll"))
add_case(p("mean_api00_enroll"), "apiclus1", S_CLUS1, CAL_L, new_call("mean", c("api00", "enroll")))
add_case(p("total_api99"), "apiclus1", S_CLUS1, CAL_L, new_call("total", "api99"), note = NOTE_SE0)
add_case(p("mean_stype"), "apiclus1", S_CLUS1, CAL_L, new_call("mean", "stype"), note = NOTE_SE0)
add_case(p("ratio_api00_api99"), "apiclus1", S_CLUS1, CAL_L,
         new_call("ratio", "api00", denominator = "api99"))
for (m in c("logit", "beta")) {
  add_case(p(paste0("prop_sch_wide01_", m)), "apiclus1", S_CLUS1, CAL_L,
           new_call("proportion", "sch_wide01", method = m))
}
add_case(p("quantile_api00"), "apiclus1", S_CLUS1, CAL_L,
         new_call("quantile", "api00", q = c(0.25, 0.5, 0.75)),
         note = "svyquantile with qrule = qrule_definition (as in linearization.json)")
## domains after weighting: subset() of the calibrated design keeps every row
## (weight 0 outside), so the calibration residuals use the whole sample
NOTE_DOM <- paste("domain of the calibrated design: survey keeps all rows (weight 0 outside",
                  "the domain) and residualises on the full sample")
add_case(p("subset_E_mean_api00"), "apiclus1", S_CLUS1, CAL_L,
         new_call("mean", "api00", subset = SUB_E), note = NOTE_DOM)
add_case(p("subset_E_total_enroll"), "apiclus1", S_CLUS1, CAL_L,
         new_call("total", "enroll", subset = SUB_E), note = NOTE_DOM)
add_case(p("subset_E_ratio_api00_api99"), "apiclus1", S_CLUS1, CAL_L,
         new_call("ratio", "api00", denominator = "api99", subset = SUB_E), note = NOTE_DOM)
add_case(p("by_stype_mean_api00"), "apiclus1", S_CLUS1, CAL_L,
         new_call("mean", "api00", by = "stype"), note = NOTE_DOM)
add_case(p("by_stype_total_enroll"), "apiclus1", S_CLUS1, CAL_L,
         new_call("total", "enroll", by = "stype"), note = NOTE_DOM)
add_case(p("by_sch.wide_mean_api00"), "apiclus1", S_CLUS1, CAL_L,
         new_call("mean", "api00", by = "sch.wide"), note = NOTE_DOM)

NOTE_ITER <- paste("bounded/nonlinear calibration is iterative (survey's grake: Newton from g = 1,",
                   "epsilon = 1e-7 on |misfit|/(1+|total|), maxit = 50); r_info gives the",
                   "iterations and how far R's weights are from the fully converged solution")
for (cfg in list(list("raking", NULL, "raking"), list("logit", c(0.5, 3), "logit_0.5_3"),
                 list("logit", c(0.5, 2.5), "logit_0.5_2.5"),
                 list("linear", c(0.6, 1.6), "linear_0.6_1.6"),
                 list("raking", c(0.6, 1.6), "raking_0.6_1.6"))) {
  st <- list(step_calibrate("~stype + api99", TOT_STYPE_API99, cfg[[1]], cfg[[2]]))
  p <- function(s) sprintf("apiclus1_cal_%s_stype_api99_%s", cfg[[3]], s)
  add_case(p("mean_api00"), "apiclus1", S_CLUS1, st, new_call("mean", "api00"), note = NOTE_ITER)
  add_case(p("total_enroll"), "apiclus1", S_CLUS1, st, new_call("total", "enroll"), note = NOTE_ITER)
}
st <- list(step_calibrate("~stype + api99", TOT_STYPE_API99, "logit", c(0.5, 3)))
add_case("apiclus1_cal_logit_0.5_3_stype_api99_by_stype_mean_api00", "apiclus1", S_CLUS1, st,
         new_call("mean", "api00", by = "stype"), note = paste(NOTE_ITER, NOTE_DOM, sep = "; "))

## -- f. apistrat calibrated (unequal design weights within the model's cells) -
CAL_ST <- list(step_calibrate("~sch.wide + api99", TOT_SCHWIDE_API99, "linear"))
p <- function(s) paste0("apistrat_cal_linear_sch.wide_api99_", s)
add_case(p("mean_api00"), "apistrat", S_STRAT, CAL_ST, new_call("mean", "api00"))
add_case(p("total_enroll"), "apistrat", S_STRAT, CAL_ST, new_call("total", "enroll"))
add_case(p("by_stype_mean_api00"), "apistrat", S_STRAT, CAL_ST,
         new_call("mean", "api00", by = "stype"), note = NOTE_DOM)
CAL_ST_R <- list(step_calibrate("~sch.wide + api99", TOT_SCHWIDE_API99, "raking"))
add_case("apistrat_cal_raking_sch.wide_api99_mean_api00", "apistrat", S_STRAT, CAL_ST_R,
         new_call("mean", "api00"), note = NOTE_ITER)

## -- g. apiclus2 (two-stage) calibrated to ~stype -----------------------------
CAL2 <- list(step_calibrate("~stype", TOT_STYPE, "linear"))
p <- function(s) paste0("apiclus2_cal_linear_stype_", s)
add_case(p("mean_api00"), "apiclus2", S_CLUS2, CAL2, new_call("mean", "api00"))
add_case(p("total_api00"), "apiclus2", S_CLUS2, CAL2, new_call("total", "api00"))
add_case(p("total_enroll_narm"), "apiclus2", S_CLUS2, CAL2, new_call("total", "enroll", na_rm = TRUE),
         note = "na_rm: df is degf() of the weighted design before NA removal")
add_case(p("by_stype_mean_api00"), "apiclus2", S_CLUS2, CAL2, new_call("mean", "api00", by = "stype"),
         note = NOTE_DOM)
add_case(p("prop_sch_wide01_logit"), "apiclus2", S_CLUS2, CAL2,
         new_call("proportion", "sch_wide01", method = "logit"))

## -- h. trimWeights ------------------------------------------------------------
NOTE_TRIM <- paste("trimWeights: weights outside [lower, upper] set to the bound, the net trimmed",
                   "mass added in equal amounts to every weight inside the bounds; no variance",
                   "adjustment (the design's variance with the new weights)")
NOTE_STRICT <- paste("strict = TRUE in survey 4.1 repeats the trimming on its result until nothing",
                     "is outside, and a weight already at a bound can receive mass again;",
                     "survey >= 4.2 never gives mass to a weight trimmed earlier:",
                     "weights_survey_4_2 holds that result")
trim_case <- function(id, data, spec, steps, call, note = NULL) {
  last <- steps[[length(steps)]]
  extra <- list()
  if (isTRUE(last$strict)) {
    wd <- weighted_design(data, spec, steps)
    w_before <- if (length(steps) > 1) {
      weighted_design(data, spec, steps[-length(steps)])$weights
    } else {
      weights(wd$des0)
    }
    w42 <- my_trim(w_before, last, rule = "4.2")$w
    extra$weights_survey_4_2 <- w42
  }
  add_case(id, data, spec, steps, call, note = paste(c(note, NOTE_TRIM,
                                                       if (isTRUE(last$strict)) NOTE_STRICT),
                                                     collapse = "; "))
  if (length(extra)) {
    CASES[[length(CASES)]]$weights_survey_4_2 <<- I(extra$weights_survey_4_2)
  }
}
TR1 <- list(step_trim(lower = 16, upper = 40))
trim_case("apistrat_trim_16_40_mean_api00", "apistrat", S_STRAT, TR1, new_call("mean", "api00"))
trim_case("apistrat_trim_16_40_total_enroll", "apistrat", S_STRAT, TR1, new_call("total", "enroll"))
TR2 <- list(step_trim(upper = 36))
trim_case("apistrat_trim_upper36_mean_api00", "apistrat", S_STRAT, TR2, new_call("mean", "api00"),
          note = "the redistributed mass pushes the M weights (20.36 -> 36.78) above upper = 36")
trim_case("apistrat_trim_upper36_by_stype_total_enroll", "apistrat", S_STRAT, TR2,
          new_call("total", "enroll", by = "stype"))
for (strict in c(FALSE, TRUE)) {
  TR3 <- list(step_trim(upper = 60, strict = strict))
  tag <- if (strict) "upper60_strict" else "upper60"
  trim_case(sprintf("apiclus2_trim_%s_mean_api00", tag), "apiclus2", S_CLUS2, TR3,
            new_call("mean", "api00"))
  trim_case(sprintf("apiclus2_trim_%s_total_api00", tag), "apiclus2", S_CLUS2, TR3,
            new_call("total", "api00"))
}
## the ?trimWeights example: calibrate, then trim to [20, 45]
NOTE_CALTRIM <- paste(
  "trim after calibration: trimWeights keeps the calibration's variance data, so R's variance",
  "still residualises with the calibration model and the calibration g-weights",
  "(r = g d (z - X'B), z = x/(g d), x from the trimmed weights) although the trimmed",
  "weights no longer meet the totals")
for (strict in c(FALSE, TRUE)) {
  CT <- c(CAL_L, list(step_trim(lower = 20, upper = 45, strict = strict)))
  tag <- if (strict) "trim_20_45_strict" else "trim_20_45"
  trim_case(sprintf("apiclus1_cal_linear_stype_api99_%s_mean_api00_api99", tag), "apiclus1",
            S_CLUS1, CT, new_call("mean", c("api00", "api99")), note = NOTE_CALTRIM)
  trim_case(sprintf("apiclus1_cal_linear_stype_api99_%s_total_enroll", tag), "apiclus1",
            S_CLUS1, CT, new_call("total", "enroll"), note = NOTE_CALTRIM)
}

## -- i. replicate design: JK1 of apiclus1, then weighting ----------------------
NOTE_REP <- paste("as.svrepdesign(dclus1, type = 'JK1') (scale = (N-n)/N * (n-1)/n with the",
                  "first-stage fpc, rscales = 1), then the weighting step, which survey repeats",
                  "in every replicate (replicate_weights: rows x replicates, analysis weights)")
for (cfg in list(list("ps_stype", PS1), list("cal_linear_stype_api99", CAL_L), list("rake", RK))) {
  p <- function(s) sprintf("apiclus1_jk1_%s_%s", cfg[[1]], s)
  add_case(p("mean_api00"), "apiclus1", S_CLUS1, cfg[[2]], new_call("mean", "api00"),
           replicate = JK1, note = NOTE_REP)
  add_case(p("total_enroll"), "apiclus1", S_CLUS1, cfg[[2]], new_call("total", "enroll"),
           replicate = JK1, note = NOTE_REP)
  add_case(p("mean_api00_enroll"), "apiclus1", S_CLUS1, cfg[[2]],
           new_call("mean", c("api00", "enroll")), replicate = JK1, note = NOTE_REP)
}
add_case("apiclus1_jk1_cal_linear_stype_api99_by_stype_mean_api00", "apiclus1", S_CLUS1, CAL_L,
         new_call("mean", "api00", by = "stype"), replicate = JK1,
         note = paste(NOTE_REP, "df per domain: degf() of the domain's replicate design"))


## ---------------------------------------------------------------------------
## 8. Write the JSON
## ---------------------------------------------------------------------------

count_nonfinite <- function(case) {
  nums <- unlist(case$result[setdiff(names(case$result), "labels")])
  sum(!is.finite(nums)) + sum(!is.finite(case$weights))
}
nonfinite <- vapply(CASES, count_nonfinite, 0)
if (any(nonfinite > 0)) {
  for (i in which(nonfinite > 0)) message("  ", CASES[[i]]$id, ": ", nonfinite[i], " non-finite")
  stop("non-finite numbers in the results")
}

message(sprintf(paste("rake se: 10 passes vs converged backfitting, max rel diff %.2g;",
                      "vs exact projection with final weights %.2g"),
                RAKE_STATS$passes, RAKE_STATS$projection))
write_cases(CASES, "weighting", "tests/reference/make_weighting.R", t_start)
