## Reference numbers for innobaro's replicate-weight designs.
##
## Run from the repository root:
##     Rscript tests/reference/make_replicates.R
##
## Writes
##   tests/reference/data/rep_<name>.csv  datasets with replicate weights as columns
##   tests/reference/replicates.json      one entry per case: design, call, R's results
##
## Two kinds of design (see README.md, "Replicate designs"):
##   * "replicate": svrepdesign() on replicate-weight columns of the CSV;
##   * "linearization" + "replicate": as.svrepdesign() of a svydesign(), i.e. the
##     replicate weights are built by R.  The weights R built are written to the
##     CSV (repw_1, ...) and every such case has a "replicate" twin on them.
##
## Everything is computed from the CSV files as read back from disk.  Each
## estimate is also recomputed by hand from the analysis weights (replicate
## estimates, scale, rscales, mse) and every replicate-weight construction is
## rebuilt independently; any mismatch stops the script.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})


if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_replicates.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
## brrweights() orders strata with order() on character labels, which follows
## the collation locale: fix it to code-point order.
invisible(Sys.setlocale("LC_COLLATE", "C"))
## warn = 2: any warning not explicitly expected (see `expecting`) is an error,
## e.g. "replicates gave NA results and were discarded".
options(warn = 2, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE,
        survey.drop.replicates = TRUE)
t_start <- Sys.time()

dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)


## Evaluate expr, muffling warnings whose message matches `pattern` (with
## options(warn = 2) every other warning is an error).
expecting <- function(pattern, expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl(pattern, conditionMessage(w))) invokeRestart("muffleWarning")
  })
}

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  if (length(a) != length(b)) stop(sprintf("%s: lengths differ (%d vs %d)", what, length(a), length(b)))
  scale <- pmax(1, abs(a), abs(b))
  bad <- !(abs(a - b) <= tol * scale | (is.na(a) & is.na(b)))
  if (any(bad)) {
    stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad], na.rm = TRUE)))
  }
  invisible(TRUE)
}


## ---------------------------------------------------------------------------
## 1. Independent rebuilds of survey's replicate weights and replicate variance
## ---------------------------------------------------------------------------

## Replicate variance as svrVar computes it: scale * sum_r rscales_r *
## (theta_r - centre)(theta_r - centre)', centre = full-sample estimate when
## mse, else the mean of the replicates with rscales > 0.
rep_vcov <- function(des, reps, theta) {
  reps <- as.matrix(reps)
  rs <- des$rscales
  stopifnot(nrow(reps) == length(rs), all(is.finite(reps)))
  centre <- if (isTRUE(des$mse)) theta else colMeans(reps[rs > 0, , drop = FALSE])
  d <- sweep(reps, 2, centre)
  des$scale * crossprod(d * sqrt(rs))
}

## degf() is qr(analysis weights, tol = 1e-5)$rank - 1; check it against an
## SVD rank (singular values above 1e-9 of the largest).
check_degf <- function(des, what) {
  d <- svd(weights(des, "analysis"), 0, 0)$d
  r <- sum(d > 1e-9 * max(d))
  if (r - 1 != degf(des)) stop(sprintf("%s: degf %d but SVD rank %d", what, degf(des), r))
  degf(des)
}

## JK1 / JKn: replicate j deletes PSU j.  PSUs are taken stratum by stratum,
## strata in order of first appearance in the data, PSUs in order of first
## appearance within the stratum.  The other PSUs of the stratum get
## n_h/(n_h-1), other strata 1.
my_jk_multipliers <- function(strata, psu) {
  if (is.null(strata)) strata <- rep(1, length(psu))
  cols <- list()
  for (h in unique(strata)) {
    in_h <- strata == h
    u <- unique(psu[in_h])
    n_h <- length(u)
    for (j in u) cols[[length(cols) + 1]] <- ifelse(in_h, (psu != j) * n_h / (n_h - 1), 1)
  }
  do.call(cbind, cols)
}

## survey's hadamard(n), rebuilt.  0/1 coding (1 = +1, 0 = -1).
PRIMES_3MOD4 <- local({
  cand <- 3:7919
  isp <- vapply(cand, function(p) all(p %% seq_len(floor(sqrt(p)))[-1] != 0), TRUE)
  cand[isp & cand %% 4 == 3]
})
hadamard_double <- function(H) rbind(cbind(H, H), cbind(H, 1 - H))
## Paley I matrix of order p + 1: border of 1s around Q, Q[i, j] = 0 when
## (i + j) mod p is 0 or a quadratic residue mod p, else 1 (i, j = 0..p-1).
paley_matrix <- function(p) {
  residues <- unique(c(0, (seq_len((p - 1) / 2)^2) %% p))
  Q <- matrix(as.numeric(!((outer(0:(p - 1), 0:(p - 1), "+") %% p) %in% residues)), p, p)
  cbind(1, rbind(1, Q))
}
my_paley <- function(n, nmax = 2 * n) {
  nceil <- n + 4 - n %% 4
  if (n %% 8 >= 4) {
    nn <- nceil
    while (nn %% 8 == 0) nn <- nn / 2
    if ((nn - 1) %in% PRIMES_3MOD4) {
      H <- paley_matrix(nn - 1)
      while (nn < nceil) { H <- hadamard_double(H); nn <- nn * 2 }
      return(H)
    }
  }
  if (n > max(PRIMES_3MOD4)) return(NULL)
  p <- min(PRIMES_3MOD4[PRIMES_3MOD4 >= n])
  if (p + 1 > nceil + 4 && nceil + 4 < nmax) return(my_paley(nceil + 3))
  if (p > nmax) return(NULL)
  paley_matrix(p)
}
## The stored matrices (orders 4, 16, 28, 36) are survey's data; 4 and 16 are
## Sylvester matrices, checked below.
STORED <- survey:::hadamard.list
STORED_SIZES <- survey:::hadamard.sizes
sylvester <- function(k) { H <- matrix(1, 1, 1); for (i in seq_len(k)) H <- hadamard_double(H); H }
stopifnot(identical(STORED_SIZES, c(4, 16, 28, 36)),
          all(STORED[[1]] == sylvester(2)), all(STORED[[2]] == sylvester(4)))
my_hadamard <- function(n) {
  m <- n - n %% 4
  pre <- which(m < STORED_SIZES & m + 4 >= STORED_SIZES)
  if (length(pre)) return(STORED[[min(pre)]])
  if (all(m < STORED_SIZES)) return(STORED[[1]])
  sizes <- STORED_SIZES * 2^pmax(0, ceiling(log2((n + 1) / STORED_SIZES)))
  b <- which.min(sizes - n)
  if (sizes[b] - n > 4) {
    H <- my_paley(n, sizes[b])
    if (!is.null(H)) return(H)
  }
  H <- STORED[[b]]
  for (i in seq_len(ceiling(log2(sizes[b] / STORED_SIZES[b])))) H <- hadamard_double(H)
  H
}
for (n in 1:120) {
  if (!identical(unname(my_hadamard(n)) + 0, unname(survey:::hadamard(n)) + 0)) {
    stop("hadamard rebuild differs for n = ", n)
  }
}

## BRR / Fay multipliers for exactly two PSUs per stratum: stratum k is the
## k-th label in sorted (character, code point) order; H = hadamard(number of
## strata); in replicate r the PSU of stratum k that appears first in the data
## gets 2 - rho if H[k + 1, r] == 1 and rho otherwise, the other PSU the
## complement.  All ncol(H) columns are replicates.
my_brr_multipliers <- function(strata, psu, rho = 0) {
  labs <- sort(unique(as.character(strata)), method = "radix")
  H <- my_hadamard(length(labs))
  out <- matrix(NA_real_, length(psu), ncol(H))
  for (k in seq_along(labs)) {
    in_k <- as.character(strata) == labs[k]
    u <- unique(psu[in_k])
    stopifnot(length(u) == 2)
    first <- psu == u[1]
    second <- psu == u[2]
    for (r in seq_len(ncol(H))) {
      f <- if (H[k + 1, r] == 1) 2 - rho else rho
      out[first, r] <- f
      out[second, r] <- 2 - f
    }
  }
  list(multipliers = out, hadamard = H)
}


## ---------------------------------------------------------------------------
## 2. Datasets
## ---------------------------------------------------------------------------

data(api, package = "survey")
data(scd, package = "survey")

## apiclus1 has no missing values: api00_na is api00 with 12 values removed
base_apiclus1 <- local({
  d <- add_api_flags(apiclus1)
  set.seed(20240701)
  d$api00_na <- d$api00
  d$api00_na[sample(nrow(d), 12)] <- NA
  d
})
base_apistrat <- add_api_flags(apistrat)   # acs.46 has 66 missing values

## Two PSUs per stratum; rows shuffled, so neither strata nor PSUs appear in
## sorted order.  Every PSU has both sectors.
make_pairs <- function(strata, seed) {
  set.seed(seed)
  ids <- sample(100:999, 2 * length(strata))
  rows <- list()
  for (h in seq_along(strata)) {
    stratum_effect <- rnorm(1, 0, 6)
    for (i in 1:2) {
      m <- sample(3:6, 1)
      x <- round(rlnorm(m, log(40), 0.4), 3)
      y <- round(30 + stratum_effect + rnorm(1, 0, 4) + 0.5 * x + rnorm(m, 0, 5), 3)
      sector <- c("education", "health", sample(c("education", "health"), m - 2, replace = TRUE))
      rows[[length(rows) + 1]] <- data.frame(
        stratum = strata[h], psu = ids[2 * (h - 1) + i], w = round(runif(m, 5, 40), 2),
        y = y, x = x, sector = sector, stringsAsFactors = FALSE)
    }
  }
  d <- do.call(rbind, rows)
  d <- d[sample(nrow(d)), ]
  n <- nrow(d)
  d$innovated <- rbinom(n, 1, plogis(-0.2 + 0.1 * (d$y - mean(d$y))))
  d$y_na <- ifelse(runif(n) < 0.1, NA, d$y)
  rownames(d) <- NULL
  d
}
base_pairs7 <- make_pairs(c("north", "south", "east", "west", "upland", "coast", "delta"), 20240702)
base_pairs10 <- make_pairs(1:10, 20240703)   # numeric strata: "10" sorts before "2"

## Systematic sample of 20 from a frame of 200 ordered by `frame_pos`;
## successive-difference replicate factors 1 + 2^-1.5 (a[i+1, r] - a[i+2, r])
## from the rows of a 24 x 24 Hadamard matrix a (+1/-1).
make_sdr <- function() {
  set.seed(20240704)
  start <- sample(10, 1)
  pos <- seq(start, by = 10, length.out = 20)
  d <- data.frame(unit = seq_along(pos), frame_pos = pos, pw = 10,
                  x = round(20 + 0.3 * pos + rnorm(20, 0, 5), 3))
  d$y <- round(5 + 0.8 * d$x + rnorm(20, 0, 4), 3)
  d$innovated <- rbinom(20, 1, 0.4)
  A <- 2 * my_hadamard(21) - 1
  stopifnot(nrow(A) == 24)
  f <- 1 + 2^-1.5 * (A[1 + seq_len(20), ] - A[2 + seq_len(20), ])
  W <- d$pw * f
  colnames(W) <- paste0("repw_", seq_len(ncol(W)))
  cbind(d, W)
}

## apistrat with a stratified delete-a-group jackknife: stype E / H / M split
## into 5 / 4 / 4 random groups; replicate (h, g) zeroes group g of stratum h
## and multiplies the rest of stratum h by k_h / (k_h - 1).
OTHER_GROUPS <- c(E = 5, H = 4, M = 4)
make_other <- function() {
  d <- base_apistrat
  set.seed(20240705)
  d$group <- NA_integer_
  cols <- list()
  rscales <- numeric(0)
  for (h in names(OTHER_GROUPS)) {
    in_h <- which(d$stype == h)
    k <- OTHER_GROUPS[[h]]
    d$group[in_h] <- sample(rep(seq_len(k), length.out = length(in_h)))
    for (g in seq_len(k)) {
      m <- rep(1, nrow(d))
      m[in_h] <- ifelse(d$group[in_h] == g, 0, k / (k - 1))
      cols[[length(cols) + 1]] <- d$pw * m
      rscales <- c(rscales, (k - 1) / k)
    }
  }
  W <- do.call(cbind, cols)
  colnames(W) <- paste0("repw_", seq_len(ncol(W)))
  list(data = cbind(d, W), rscales = rscales)
}

## scd from survey's svrepdesign() example: 2 x the half-sample indicators as
## multipliers.  The example gives no weights (R then uses 1), so pw = 1.
make_scd <- function() {
  m <- 2 * cbind(c(1, 0, 1, 0, 1, 0), c(1, 0, 0, 1, 0, 1), c(0, 1, 1, 0, 0, 1), c(0, 1, 0, 1, 1, 0))
  colnames(m) <- paste0("repm_", 1:4)
  cbind(scd, pw = 1, m)
}

DATA <- list()

## Write `base`, read it back, let `weights_fun(d)` build replicate-weight
## columns from the read-back data, write base + columns, read back again.
write_with_weights <- function(name, base, weights_fun) {
  write_data(base, name)
  d0 <- read_data(name)
  W <- weights_fun(d0)
  write_data(cbind(base, W), name)
  d <- read_data(name)
  stopifnot(identical(d[names(d0)], d0))
  DATA[[name]] <<- d
  invisible(d)
}

write_plain <- function(name, df) {
  write_data(df, name)
  DATA[[name]] <<- read_data(name)
}


## ---------------------------------------------------------------------------
## 3. Designs
## ---------------------------------------------------------------------------

build_lin <- function(data, spec) {
  svydesign(ids = if (is.null(spec$psu)) ~1 else reformulate(spec$psu),
            strata = if (is.null(spec$strata)) NULL else reformulate(spec$strata),
            weights = reformulate(spec$weights),
            fpc = if (is.null(spec$fpc)) NULL else reformulate(spec$fpc),
            nest = spec$nest, data = data)
}
R_REP_TYPE <- c(jk1 = "JK1", jkn = "JKn", brr = "BRR", fay = "Fay", bootstrap = "bootstrap",
                other = "other", sdr = "successive-difference")
as_rep <- function(data, spec, method, rho = NULL, mse = FALSE) {
  as.svrepdesign(build_lin(data, spec), type = R_REP_TYPE[[method]],
                 fay.rho = if (is.null(rho)) 0 else rho, mse = mse)
}

## replicate-weight design specification
rspec <- function(weights, cols, method, scale = NULL, rscales = NULL, rho = NULL,
                  mse = FALSE, combined = TRUE) {
  list(weights = weights, cols = cols, method = method, scale = scale, rscales = rscales,
       rho = rho, mse = mse, combined = combined)
}
## Warnings R gives when it falls back to a default scale / rscales
DEFAULT_WARNINGS <- paste("scale \\(n-1\\)/n not provided", "rscales \\(n-1\\)/n not provided",
                          "scale or rscales not specified", sep = "|")
build_rep <- function(data, rs) {
  rw_f <- reformulate(rs$cols)
  w_f <- reformulate(rs$weights)
  expecting(DEFAULT_WARNINGS,
            svrepdesign(data = data, repweights = rw_f, weights = w_f,
                        type = R_REP_TYPE[[rs$method]], combined.weights = rs$combined,
                        scale = rs$scale, rscales = rs$rscales, rho = rs$rho, mse = rs$mse))
}

resolved_json <- function(rdes) {
  list(replicates = ncol(weights(rdes, "analysis")), scale = rdes$scale,
       rscales = I(as.numeric(rdes$rscales)))
}
num_or_null <- function(x) if (is.null(x)) NULL else I(as.numeric(x))

rep_design_json <- function(rs, rdes) {
  list(type = "replicate", weights = rs$weights, replicate_weights = I(rs$cols),
       method = rs$method, scale = rs$scale, rscales = num_or_null(rs$rscales),
       rho = rs$rho, mse = rs$mse, combined_weights = rs$combined,
       resolved = resolved_json(rdes))
}
lin_design_json <- function(spec, method, rho, mse, rdes, cols, hadamard = NULL) {
  res <- c(resolved_json(rdes), list(weights_columns = I(cols)))
  if (!is.null(hadamard)) res$hadamard <- I(apply(hadamard, 1, paste, collapse = ""))
  list(type = "linearization", weights = spec$weights, probs = spec$probs,
       strata = spec$strata, psu = spec$psu, fpc = spec$fpc, nest = spec$nest,
       lonely_psu = spec$lonely_psu,
       replicate = list(method = method, rho = rho, mse = mse),
       resolved = res)
}

## Analysis weights of an as.svrepdesign() object must equal the exported
## columns and the independent rebuild.
check_weights <- function(rdes, data, cols, expected, what) {
  A <- weights(rdes, "analysis")
  check_close(A, as.matrix(data[cols]), paste(what, "analysis weights vs CSV"), tol = 1e-13)
  check_close(A, expected, paste(what, "analysis weights vs rebuild"), tol = 1e-13)
}


## ---------------------------------------------------------------------------
## 4. Calls.  compute() returns list(call =, result =, note =).
## ---------------------------------------------------------------------------

## na_replicates: R is expected to warn that replicates gave NA and were left out
cs <- function(tag, fn, y, denominator = NULL, by = NULL, subset = NULL, na_rm = FALSE,
               method = NULL, q = NULL, level = 0.95, na_replicates = FALSE) {
  list(tag = tag, fn = fn, y = y, denominator = denominator, by = by, subset = subset,
       na_rm = na_rm, method = method, q = q, level = level, na_replicates = na_replicates)
}

call_json <- function(cl) {
  list(fn = cl$fn, y = I(cl$y), denominator = if (is.null(cl$denominator)) NULL else I(cl$denominator),
       by = if (is.null(cl$by)) NULL else I(cl$by), subset = cl$subset, na_rm = cl$na_rm,
       method = cl$method, q = if (is.null(cl$q)) NULL else I(cl$q), level = cl$level)
}

## numeric y -> column name; factor y -> "col[level]" per level.  `rnames` are
## R's coefficient names, and `x` the matrix svymean/svytotal work on.
var_matrix <- function(des, y) {
  lab <- rnames <- character(0)
  cols <- list()
  for (v in y) {
    z <- des$variables[[v]]
    if (is.factor(z)) {
      lev <- levels(z)
      lab <- c(lab, sprintf("%s[%s]", v, lev))
      rnames <- c(rnames, paste0(v, lev))
      for (l in lev) cols[[length(cols) + 1]] <- as.numeric(z == l)
    } else {
      lab <- c(lab, v)
      rnames <- c(rnames, v)
      cols[[length(cols) + 1]] <- as.numeric(z)
    }
  }
  list(labels = lab, rnames = rnames, x = do.call(cbind, cols))
}

## mean / total by hand: replicate estimates from the analysis weights
manual_stat <- function(des, fn, x, na_rm) {
  keep <- if (na_rm) complete.cases(x) else rep(TRUE, nrow(x))
  x <- x[keep, , drop = FALSE]
  A <- weights(des, "analysis")[keep, , drop = FALSE]
  w <- weights(des, "sampling")[keep]
  est <- colSums(w * x)
  reps <- crossprod(A, x)
  if (fn == "mean") {
    est <- est / sum(w)
    reps <- reps / colSums(A)
  }
  list(estimate = est, vcov = rep_vcov(des, reps, est))
}

rep_stat <- function(rdes, cl) {
  FUN <- switch(cl$fn, mean = svymean, total = svytotal)
  des <- subset_design(rdes, cl$subset)
  est <- FUN(reformulate(cl$y), des, na.rm = cl$na_rm)
  df <- check_degf(des, cl$tag)
  V <- vcov(est)
  vm <- var_matrix(des, cl$y)
  stopifnot(identical(names(coef(est)), vm$rnames))
  man <- manual_stat(des, cl$fn, vm$x, cl$na_rm)
  check_close(coef(est), man$estimate, paste(cl$tag, "manual estimate"))
  check_close(V, man$vcov, paste(cl$tag, "manual vcov"))
  se <- sqrt(diag(as.matrix(V)))
  ti <- t_interval(coef(est), se, df, cl$level)
  zi <- z_interval(coef(est), se, cl$level)
  check_close(ti$lower, confint(est, df = df, level = cl$level)[, 1], paste(cl$tag, "t lower"))
  check_close(zi$upper, confint(est, level = cl$level)[, 2], paste(cl$tag, "z upper"))
  nvar <- length(vm$labels)
  extra <- list()
  if (cl$na_rm) {
    ## df is degf() of the design before NA removal (the usual
    ## confint(svymean(..., na.rm = TRUE), df = degf(design))); df_narm is
    ## degf() of the design restricted to complete rows
    complete <- complete.cases(des$variables[cl$y])
    extra$df_narm <- rep(check_degf(des[complete, ], cl$tag), nvar)
  }
  list(result = make_result(as.list(vm$labels), coef(est), se, V, ti$lower, ti$upper,
                            zi$lower, zi$upper, rep(df, nvar), extra))
}

rep_ratio <- function(rdes, cl) {
  des <- subset_design(rdes, cl$subset)
  r <- svyratio(reformulate(cl$y), reformulate(cl$denominator), des)
  df <- check_degf(des, cl$tag)
  est <- as.numeric(coef(r))
  se <- as.numeric(SE(r))
  num <- des$variables[[cl$y]]
  den <- des$variables[[cl$denominator]]
  A <- weights(des, "analysis")
  w <- weights(des, "sampling")
  man_est <- sum(w * num) / sum(w * den)
  man_v <- rep_vcov(des, crossprod(A, num) / crossprod(A, den), man_est)
  check_close(est, man_est, paste(cl$tag, "manual ratio"))
  check_close(vcov(r), man_v, paste(cl$tag, "manual ratio vcov"))
  ti <- t_interval(est, se, df, cl$level)
  zi <- z_interval(est, se, cl$level)
  check_close(ti$lower, confint(r, df = df, level = cl$level)[, 1], paste(cl$tag, "t lower"))
  check_close(zi$upper, confint(r, level = cl$level)[, 2], paste(cl$tag, "z upper"))
  list(result = make_result(list(paste0(cl$y, "/", cl$denominator)), est, se, vcov(r),
                            ti$lower, ti$upper, zi$lower, zi$upper, df))
}

domain_designs <- function(rdes, by, domains) {
  byfactor <- do.call(interaction, rdes$variables[by])
  lapply(domains, function(dom) rdes[!is.na(byfactor) & byfactor == dom, ])
}

## svyby with covmat = TRUE: vcov from the domain replicates; each domain's df is
## degf() of that domain's subset design.
rep_by <- function(rdes, cl) {
  fml <- reformulate(cl$y)
  byf <- reformulate(cl$by)
  if (cl$fn == "ratio") {
    res <- svyby(fml, byf, rdes, svyratio, denominator = reformulate(cl$denominator), covmat = TRUE)
    one <- function(d) svyratio(fml, reformulate(cl$denominator), d)
    var_lab <- paste0(cl$y, "/", cl$denominator)
  } else {
    FUN <- switch(cl$fn, mean = svymean, total = svytotal)
    res <- svyby(fml, byf, rdes, FUN, covmat = TRUE, return.replicates = TRUE)
    one <- function(d) FUN(fml, d)
    var_lab <- var_matrix(rdes, cl$y)$labels
  }
  V <- vcov(res)
  reps <- attr(res, "replicates")
  if (!is.null(reps) && any(!is.finite(reps))) {
    ## replicates without a value in some domain: svyby's standard errors
    ## (one svymean per domain) leave them out of that domain only, but its
    ## covmat drops them for every domain.  The reference is the covariance
    ## whose diagonal is svyby's: each pair over the replicates with both
    ## values, each column centred on its own replicates
    ok <- is.finite(reps)
    centre <- if (rdes$mse) as.numeric(coef(res)) else
      vapply(seq_len(ncol(reps)), function(j) mean(reps[ok[, j] & rdes$rscales > 0, j]), 0)
    dev <- sweep(reps, 2, centre)
    dev[!ok] <- 0
    V <- rdes$scale * crossprod(dev * rdes$rscales, dev)
  }
  domains <- rownames(res)
  doms <- domain_designs(rdes, cl$by, domains)
  dom_df <- vapply(seq_along(doms), function(k) check_degf(doms[[k]], cl$tag), 0)
  for (k in seq_along(domains)) {
    o <- one(doms[[k]])
    check_close(coef(o), coef(res)[k], paste(cl$tag, "domain estimate", domains[k]))
    check_close(SE(o), as.matrix(SE(res))[k, ], paste(cl$tag, "domain se", domains[k]))
  }
  est <- as.numeric(coef(res))
  se <- sqrt(diag(V))
  check_close(se, as.numeric(as.matrix(SE(res))), paste(cl$tag, "covmat diagonal"))
  nvar <- length(var_lab)
  dom_values <- as.data.frame(lapply(res[, cl$by, drop = FALSE], as.character), stringsAsFactors = FALSE)
  labels <- list()
  for (v in seq_len(nvar)) {
    for (k in seq_along(domains)) labels[[length(labels) + 1]] <- c(unlist(dom_values[k, ]), var_lab[v])
  }
  df <- rep(dom_df, nvar)
  ti <- t_interval(est, se, df, cl$level)
  zi <- z_interval(est, se, cl$level)
  list(result = make_result(labels, est, se, V, ti$lower, ti$upper, zi$lower, zi$upper, df))
}

## svyciprop on a replicate design.  Every interval is rebuilt here:
##   mean   p -/+ t se
##   asin   sin(asin(sqrt(p)) -/+ t se / (2 sqrt(p (1-p))))^2        (delta method)
##   xlogit expit(logit(p) -/+ t se / (p (1-p)))                      (delta method)
##   beta   qbeta with n_eff = p(1-p)/se^2 * (qt(a/2, nrow-1)/qt(a/2, df))^2
##   logit  expit(logit(p) -/+ t se_logit): svyglm refits the logistic model
##          with every replicate weight, so se_logit is the replicate variance of
##          logit(p_r), p_r the replicate means (not the delta method)
## with t = qt(1 - a/2, degf(design)) and se the replicate SE of svymean.
rep_prop <- function(rdes, cl) {
  des <- subset_design(rdes, cl$subset)
  df <- check_degf(des, cl$tag)
  level <- cl$level
  alpha <- 1 - level
  cp <- svyciprop(reformulate(cl$y), des, method = cl$method, level = level)
  m <- svymean(reformulate(cl$y), des)
  p <- as.numeric(coef(m))
  se <- as.numeric(SE(m))
  check_close(sqrt(as.numeric(vcov(cp))), se, paste(cl$tag, "svyciprop var"))
  ci <- as.numeric(confint(cp))
  t <- qt(1 - alpha / 2, df)
  extra <- list()
  if (cl$method == "mean") {
    mine <- p + c(-1, 1) * t * se
  } else if (cl$method == "asin") {
    mine <- sin(asin(sqrt(p)) + c(-1, 1) * t * se / (2 * sqrt(p * (1 - p))))^2
  } else if (cl$method == "xlogit") {
    mine <- plogis(qlogis(p) + c(-1, 1) * t * se / (p * (1 - p)))
  } else if (cl$method == "beta") {
    neff <- p * (1 - p) / se^2 * (qt(alpha / 2, nrow(des) - 1) / qt(alpha / 2, df))^2
    mine <- c(qbeta(alpha / 2, neff * p, neff * (1 - p) + 1),
              qbeta(1 - alpha / 2, neff * p + 1, neff * (1 - p)))
  } else if (cl$method == "logit") {
    yy <- des$variables[[cl$y]]
    A <- weights(des, "analysis")
    p_r <- as.numeric(crossprod(A, yy) / colSums(A))
    se_logit <- sqrt(as.numeric(rep_vcov(des, matrix(qlogis(p_r)), qlogis(p))))
    mine <- plogis(qlogis(p) + c(-1, 1) * t * se_logit)
    check_close(mine, ci, paste(cl$tag, "exact logit interval vs svyciprop"), tol = 1e-6)
    check_close(as.numeric(coef(cp)), p, paste(cl$tag, "logit estimate"), tol = 1e-6)
    extra <- list(lower_exact = mine[1], upper_exact = mine[2], se_logit = se_logit)
  } else {
    stop("unknown method ", cl$method)
  }
  if (cl$method != "logit") {
    check_close(mine, ci, paste(cl$tag, cl$method, "interval rebuild"))
    check_close(as.numeric(coef(cp)), p, paste(cl$tag, "proportion estimate"))
  }
  list(result = make_result(list(cl$y), coef(cp), se, NULL, ci[1], ci[2], NULL, NULL, df,
                            extra))
}

## svyquantile on a replicate design with qrule_definition.
##  method NULL (survey 4.1's default interval.type = "mean"): Woodruff interval.
##    F = svymean(y <= qhat) with its replicate SE; (pl, pu) = F -/+ t se_F;
##    limits qrule(y, w, pl) and qrule(y, w, pu) (NaN if pl < 0 or pu > 1).
##  method "quantile" (interval.type = "quantile"): replicate quantiles
##    qrule(y, analysis weights of replicate r, p), their replicate variance v,
##    interval qhat -/+ t sqrt(v).
##  se = (upper - lower) / (2 t) in both; t = qt(., degf(design)).
quantile_one <- function(des, y, q, level, method) {
  itype <- if (is.null(method)) "mean" else method
  sq <- svyquantile(reformulate(y), des, quantiles = q, ci = TRUE, alpha = 1 - level,
                    qrule = qrule_definition, interval.type = itype)
  ci <- confint(sq)
  df <- check_degf(des, y)
  t <- qt(1 - (1 - level) / 2, df)
  x <- des$variables[[y]]
  w <- weights(des, "sampling")
  A <- weights(des, "analysis")
  for (j in seq_along(q)) {
    qhat <- qrule_definition(x, w, q[j])
    if (itype == "mean") {
      Fhat <- sum(w * (x <= qhat)) / sum(w)
      F_r <- as.numeric(crossprod(A, as.numeric(x <= qhat)) / colSums(A))
      pl <- Fhat + c(-1, 1) * t * sqrt(as.numeric(rep_vcov(des, matrix(F_r), Fhat)))
      mine <- c(if (pl[1] < 0) NaN else qrule_definition(x, w, pl[1]),
                if (pl[2] > 1) NaN else qrule_definition(x, w, pl[2]))
    } else {
      q_r <- apply(A, 2, function(wr) qrule_definition(x, wr, q[j]))
      mine <- qhat + c(-1, 1) * t * sqrt(as.numeric(rep_vcov(des, matrix(q_r), qhat)))
    }
    check_close(coef(sq)[j], qhat, paste(y, "quantile estimate"))
    check_close(mine, ci[j, ], paste(y, "quantile interval rebuild"))
  }
  list(estimate = as.numeric(coef(sq)), se = as.numeric(SE(sq)),
       lower = as.numeric(ci[, 1]), upper = as.numeric(ci[, 2]), df = df)
}

QUANTILE_NOTE <- list(
  mean = paste("svyquantile with qrule = qrule_definition and survey 4.1's default",
               "interval.type = \"mean\" for replicate designs: Woodruff interval from the",
               "replicate variance of the estimated CDF at the quantile"),
  quantile = paste("svyquantile with qrule = qrule_definition and interval.type = \"quantile\":",
                   "qhat -/+ t * replicate SE of the quantile itself (replicate quantiles use",
                   "the replicate analysis weights)"))

rep_quantile <- function(rdes, cl) {
  des <- subset_design(rdes, cl$subset)
  y <- cl$y
  q <- cl$q
  qlab <- sprintf("%s[%s]", y, as.character(q))
  if (is.null(cl$by)) {
    r <- quantile_one(des, y, q, cl$level, cl$method)
    labels <- as.list(qlab)
    est <- r$estimate; se <- r$se; lower <- r$lower; upper <- r$upper
    df <- rep(r$df, length(q))
  } else {
    itype <- if (is.null(cl$method)) "mean" else cl$method
    res <- svyby(reformulate(y), reformulate(cl$by), des, svyquantile, quantiles = q, ci = TRUE,
                 alpha = 1 - cl$level, qrule = qrule_definition, interval.type = itype)
    domains <- rownames(res)
    dom_values <- as.data.frame(lapply(res[, cl$by, drop = FALSE], as.character),
                                stringsAsFactors = FALSE)
    per_dom <- lapply(domain_designs(des, cl$by, domains), quantile_one, y = y, q = q,
                      level = cl$level, method = cl$method)
    labels <- list(); est <- se <- lower <- upper <- df <- numeric(0)
    for (j in seq_along(q)) {
      for (k in seq_along(domains)) {
        labels[[length(labels) + 1]] <- c(unlist(dom_values[k, ]), qlab[j])
        est <- c(est, per_dom[[k]]$estimate[j]); se <- c(se, per_dom[[k]]$se[j])
        lower <- c(lower, per_dom[[k]]$lower[j]); upper <- c(upper, per_dom[[k]]$upper[j])
        df <- c(df, per_dom[[k]]$df)
      }
    }
    check_close(est, coef(res), paste(cl$tag, "svyby quantile estimates"))
    check_close(se, as.numeric(as.matrix(SE(res))), paste(cl$tag, "svyby quantile se"))
  }
  list(result = make_result(labels, est, se, NULL, lower, upper, NULL, NULL, df),
       note = QUANTILE_NOTE[[if (is.null(cl$method)) "mean" else cl$method]])
}

compute <- function(rdes, cl) {
  if (isTRUE(cl$na_replicates)) {
    cl$na_replicates <- FALSE
    return(expecting("replicates gave NA results and were discarded", compute(rdes, cl)))
  }
  out <- if (cl$fn == "quantile") {
    rep_quantile(rdes, cl)
  } else if (cl$fn == "proportion") {
    rep_prop(rdes, cl)
  } else if (!is.null(cl$by)) {
    rep_by(rdes, cl)
  } else if (cl$fn == "ratio") {
    rep_ratio(rdes, cl)
  } else {
    rep_stat(rdes, cl)
  }
  out$call <- call_json(cl)
  out
}


## ---------------------------------------------------------------------------
## 5. Cases
## ---------------------------------------------------------------------------

CASES <- list()
add_case <- function(case) {
  if (case$id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", case$id)
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

RESULT_FIELDS <- c("estimate", "se", "vcov", "lower", "upper", "lower_normal", "upper_normal",
                   "df", "df_narm", "lower_exact", "upper_exact", "se_logit")

## Compare a twin's results with the results they should reproduce.
## var_ratio != 1: the twin uses another (uniform) scale, so only the estimate,
## the rescaled se (not for quantiles) and df are compared.
compare_results <- function(a, b, what, fn, var_ratio = 1) {
  check_close(a$estimate, b$estimate, paste(what, "estimate"))
  if (var_ratio != 1) {
    ## a Woodruff interval (and so a quantile's se) is not linear in the scale
    if (fn != "quantile") check_close(a$se, b$se * sqrt(var_ratio), paste(what, "rescaled se"))
    check_close(a$df, b$df, paste(what, "df"))
    return(invisible(TRUE))
  }
  for (f in RESULT_FIELDS) {
    if (is.null(a[[f]]) != is.null(b[[f]])) stop(what, ": field ", f, " present in only one")
    if (is.null(a[[f]])) next
    ## svyciprop's logit interval comes from IRLS fits
    tol <- if (f %in% c("lower", "upper") && !is.null(a$lower_exact)) 1e-7 else 1e-9
    check_close(a[[f]], b[[f]], paste(what, f), tol = tol)
  }
  invisible(TRUE)
}

## Run a list of calls on one design and add a case for each.  `ref`: results
## (by tag) that these must reproduce.
run_calls <- function(prefix, data, design_json, rdes, calls, ref = NULL, var_ratio = 1,
                      note = NULL) {
  out <- list()
  for (cl in calls) {
    r <- compute(rdes, cl)
    id <- paste(prefix, cl$tag, sep = "_")
    if (!is.null(ref)) compare_results(r$result, ref[[cl$tag]], id, cl$fn, var_ratio)
    case <- list(id = id, data = data, design = design_json, call = r$call, result = r$result)
    nt <- c(note, r$note)
    if (length(nt)) case$note <- paste(nt, collapse = "; ")
    add_case(case)
    out[[cl$tag]] <- r$result
  }
  invisible(out)
}

PROP_METHODS <- c("logit", "asin", "beta", "mean", "xlogit")
prop_calls <- function(y, methods = PROP_METHODS) {
  lapply(methods, function(m) cs(paste0("prop_", y, "_", m), "proportion", y, method = m))
}
Q3 <- c(0.25, 0.5, 0.75)

## Linearisation design -> as.svrepdesign (form 2) with mse FALSE and TRUE, the
## twins on the exported weights, and optional extra twins.
##   base:     data name (rep_<...>), spec: dspec(), method/rho: replicate method
##   calls:    calls for mse = FALSE; calls_mse: for mse = TRUE
##   twin_scale / twin_rscales: what the combined-weight twins pass (NULL = R's default)
run_form2 <- function(prefix, data, spec, method, rho, cols, calls, calls_mse,
                      hadamard = NULL, twin_scale = "resolved", twin_rscales = "resolved",
                      note = NULL) {
  res <- list()
  for (mse in c(FALSE, TRUE)) {
    rdes <- expecting("Finite population correction dropped",
                      as_rep(DATA[[data]], spec, method, rho, mse))
    check_close(weights(rdes, "analysis"), as.matrix(DATA[[data]][cols]),
                paste(prefix, "analysis weights vs CSV"), tol = 1e-13)
    p <- if (mse) paste0(prefix, "_mse") else prefix
    calls_here <- if (mse) calls_mse else calls
    r2 <- run_calls(p, data, lin_design_json(spec, method, rho, mse, rdes, cols, hadamard),
                    rdes, calls_here, note = note)
    ## twin: the same weights given as combined replicate weights
    rs <- rspec(spec$weights, cols, method,
                scale = if (identical(twin_scale, "resolved")) rdes$scale else twin_scale,
                rscales = if (identical(twin_rscales, "resolved")) rdes$rscales else twin_rscales,
                rho = rho, mse = mse, combined = TRUE)
    tdes <- build_rep(DATA[[data]], rs)
    check_close(tdes$scale, rdes$scale, paste(p, "twin scale"))
    check_close(tdes$rscales, rdes$rscales, paste(p, "twin rscales"))
    run_calls(paste0(p, "_repw"), data, rep_design_json(rs, tdes), tdes, calls_here, ref = r2,
              note = paste("replicate weights R built for", p))
    res[[if (mse) "mse" else "plain"]] <- r2
  }
  invisible(res)
}


## ---- apiclus1: JK1 ----------------------------------------------------------
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
NCLUS1 <- length(unique(base_apiclus1$dnum))
JK1_COLS <- paste0("repw_", seq_len(NCLUS1))
JK1_MULT <- paste0("repm_", seq_len(NCLUS1))
write_with_weights("rep_apiclus1_jk1", base_apiclus1, function(d) {
  W <- weights(as_rep(d, S_CLUS1, "jk1"), "analysis")
  check_close(W, d$pw * my_jk_multipliers(NULL, d$dnum), "apiclus1 JK1 rebuild", tol = 1e-13)
  colnames(W) <- JK1_COLS
  M <- W / d$pw
  colnames(M) <- JK1_MULT
  cbind(W, M)
})
CLUS1_FULL <- c(list(
  cs("mean_api00_enroll", "mean", c("api00", "enroll")),
  cs("total_api00_enroll", "total", c("api00", "enroll")),
  cs("mean_stype", "mean", "stype"),
  cs("ratio_api00_api99", "ratio", "api00", denominator = "api99"),
  cs("by_stype_mean_api00", "mean", "api00", by = "stype"),
  cs("by_stype_total_enroll", "total", "enroll", by = "stype"),
  cs("by_stype_ratio_api00_api99", "ratio", "api00", denominator = "api99", by = "stype")),
  prop_calls("sch_wide01"), list(
  cs("prop_awards01_logit_level90", "proportion", "awards01", method = "logit", level = 0.9),
  cs("quantile_api00", "quantile", "api00", q = Q3),
  cs("quantile_api00_level90", "quantile", "api00", q = Q3, level = 0.9),
  cs("subset_E_mean_api00", "mean", "api00", subset = list(column = "stype", value = "E")),
  cs("subset_E_total_enroll", "total", "enroll", subset = list(column = "stype", value = "E")),
  cs("mean_api00_na_narm", "mean", "api00_na", na_rm = TRUE),
  cs("total_api00_na_narm", "total", "api00_na", na_rm = TRUE)))
CLUS1_SHORT <- list(
  cs("mean_api00_enroll", "mean", c("api00", "enroll")),
  cs("total_api00_enroll", "total", c("api00", "enroll")),
  cs("ratio_api00_api99", "ratio", "api00", denominator = "api99"),
  cs("by_stype_mean_api00", "mean", "api00", by = "stype"),
  cs("prop_sch_wide01_logit", "proportion", "sch_wide01", method = "logit"),
  cs("prop_sch_wide01_beta", "proportion", "sch_wide01", method = "beta"),
  cs("quantile_api00", "quantile", "api00", q = Q3),
  cs("subset_E_mean_api00", "mean", "api00", subset = list(column = "stype", value = "E")),
  cs("mean_api00_na_narm", "mean", "api00_na", na_rm = TRUE))
jk1 <- run_form2("apiclus1_jk1", "rep_apiclus1_jk1", S_CLUS1, "jk1", NULL, JK1_COLS,
                 CLUS1_FULL, CLUS1_FULL, twin_rscales = NULL,
                 note = "JK1 from as.svrepdesign honours the fpc: scale = (N-n)/N * (n-1)/n")
## multipliers, scale left to R: svrepdesign guesses 1/max(first column) = (n-1)/n
## (no fpc), so the variances are those of the fpc design times (n-1)/n / scale
rs <- rspec("pw", JK1_MULT, "jk1", combined = FALSE)
tdes <- build_rep(DATA[["rep_apiclus1_jk1"]], rs)
jk1_scale <- as_rep(DATA[["rep_apiclus1_jk1"]], S_CLUS1, "jk1")$scale
run_calls("apiclus1_jk1_repm_default", "rep_apiclus1_jk1", rep_design_json(rs, tdes), tdes,
          CLUS1_SHORT, ref = jk1$plain, var_ratio = tdes$scale / jk1_scale,
          note = "JK1 multipliers (combined_weights false), scale from R's default 1/max(first column)")
## combined weights, scale left to R: (R-1)/R with R = number of replicates
rs <- rspec("pw", JK1_COLS, "jk1")
tdes <- build_rep(DATA[["rep_apiclus1_jk1"]], rs)
check_close(tdes$scale, (NCLUS1 - 1) / NCLUS1, "JK1 default scale")
run_calls("apiclus1_jk1_repw_default", "rep_apiclus1_jk1", rep_design_json(rs, tdes), tdes,
          CLUS1_SHORT, ref = jk1$plain, var_ratio = tdes$scale / jk1_scale,
          note = "JK1 combined weights, scale from R's default (R-1)/R (no fpc)")


## ---- apistrat: JKn with and without fpc -------------------------------------
S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_STRAT_NOFPC <- dspec(weights = "pw", strata = "stype")
JKN_COLS <- paste0("repw_", seq_len(nrow(base_apistrat)))
write_with_weights("rep_apistrat_jkn", base_apistrat, function(d) {
  W <- weights(as_rep(d, S_STRAT, "jkn"), "analysis")
  W0 <- weights(as_rep(d, S_STRAT_NOFPC, "jkn"), "analysis")
  stopifnot(identical(W, W0))   # the fpc changes rscales only
  check_close(W, d$pw * my_jk_multipliers(d$stype, seq_len(nrow(d))), "apistrat JKn rebuild",
              tol = 1e-13)
  colnames(W) <- JKN_COLS
  W
})
local({
  r <- as_rep(DATA[["rep_apistrat_jkn"]], S_STRAT, "jkn")
  d <- DATA[["rep_apistrat_jkn"]]
  ## rscales per replicate: (N_h - n_h)/N_h * (n_h - 1)/n_h of the deleted unit's
  ## stratum; replicates run stratum by stratum (order of first appearance)
  rows <- unlist(lapply(unique(d$stype), function(h) which(d$stype == h)))
  n_h <- as.numeric(table(d$stype)[as.character(d$stype[rows])])
  check_close(r$rscales, (d$fpc[rows] - n_h) / d$fpc[rows] * (n_h - 1) / n_h, "JKn fpc rscales")
  check_close(r$scale, 1, "JKn scale")
  r0 <- as_rep(d, S_STRAT_NOFPC, "jkn")
  check_close(r0$rscales, (n_h - 1) / n_h, "JKn rscales without fpc")
})
STRAT_FULL <- c(list(
  cs("mean_api00", "mean", "api00"),
  cs("mean_api00_level90", "mean", "api00", level = 0.9),
  cs("total_enroll", "total", "enroll"),
  cs("mean_api00_api99", "mean", c("api00", "api99")),
  cs("ratio_api00_api99", "ratio", "api00", denominator = "api99"),
  cs("by_stype_mean_api00", "mean", "api00", by = "stype"),
  cs("by_stype_total_enroll", "total", "enroll", by = "stype"),
  cs("by_awards_mean_api00", "mean", "api00", by = "awards"),
  cs("by_awards_ratio_api00_api99", "ratio", "api00", denominator = "api99", by = "awards")),
  prop_calls("sch_wide01"), list(
  cs("quantile_api00", "quantile", "api00", q = Q3),
  cs("subset_E_mean_api00", "mean", "api00", subset = list(column = "stype", value = "E")),
  cs("subset_E_total_enroll", "total", "enroll", subset = list(column = "stype", value = "E")),
  cs("mean_acs.46_narm", "mean", "acs.46", na_rm = TRUE),
  cs("total_acs.46_narm", "total", "acs.46", na_rm = TRUE)))
STRAT_SHORT <- list(
  cs("mean_api00", "mean", "api00"),
  cs("total_enroll", "total", "enroll"),
  cs("ratio_api00_api99", "ratio", "api00", denominator = "api99"),
  cs("by_awards_mean_api00", "mean", "api00", by = "awards"),
  cs("prop_sch_wide01_logit", "proportion", "sch_wide01", method = "logit"),
  cs("prop_sch_wide01_beta", "proportion", "sch_wide01", method = "beta"),
  cs("quantile_api00", "quantile", "api00", q = Q3),
  cs("subset_E_mean_api00", "mean", "api00", subset = list(column = "stype", value = "E")),
  cs("mean_acs.46_narm", "mean", "acs.46", na_rm = TRUE))
run_form2("apistrat_jkn", "rep_apistrat_jkn", S_STRAT, "jkn", NULL, JKN_COLS,
          STRAT_FULL, STRAT_SHORT, twin_scale = NULL,
          note = "JKn from as.svrepdesign honours the fpc: rscales = (N_h-n_h)/N_h * (n_h-1)/n_h")
run_form2("apistrat_jkn_nofpc", "rep_apistrat_jkn", S_STRAT_NOFPC, "jkn", NULL, JKN_COLS,
          STRAT_SHORT, STRAT_SHORT, twin_scale = NULL)


## ---- synthetic pairs: BRR, Fay, JKn -----------------------------------------
S_PAIRS <- dspec(weights = "w", strata = "stratum", psu = "psu")
PAIRS_FULL <- c(list(
  cs("mean_y", "mean", "y"),
  cs("total_y", "total", "y"),
  cs("mean_y_x", "mean", c("y", "x")),
  cs("ratio_y_x", "ratio", "y", denominator = "x"),
  cs("by_sector_mean_y", "mean", "y", by = "sector"),
  cs("by_sector_total_y", "total", "y", by = "sector"),
  cs("by_sector_ratio_y_x", "ratio", "y", denominator = "x", by = "sector")),
  prop_calls("innovated"), list(
  cs("quantile_y", "quantile", "y", q = Q3),
  cs("quantile_y_repvar", "quantile", "y", q = Q3, method = "quantile"),
  cs("by_sector_quantile_y", "quantile", "y", q = 0.5, by = "sector"),
  cs("subset_education_mean_y", "mean", "y", subset = list(column = "sector", value = "education")),
  cs("subset_education_total_y", "total", "y", subset = list(column = "sector", value = "education")),
  cs("mean_y_na_narm", "mean", "y_na", na_rm = TRUE)))
PAIRS_SHORT <- list(
  cs("mean_y", "mean", "y"),
  cs("total_y", "total", "y"),
  cs("ratio_y_x", "ratio", "y", denominator = "x"),
  cs("by_sector_mean_y", "mean", "y", by = "sector"),
  cs("prop_innovated_logit", "proportion", "innovated", method = "logit"),
  cs("prop_innovated_beta", "proportion", "innovated", method = "beta"),
  cs("quantile_y", "quantile", "y", q = Q3),
  cs("subset_education_mean_y", "mean", "y", subset = list(column = "sector", value = "education")),
  cs("mean_y_na_narm", "mean", "y_na", na_rm = TRUE))

## write rep_<name>_<method> for a pairs dataset; returns the Hadamard matrix
write_pairs_brr <- function(name, base, rho) {
  H <- NULL
  write_with_weights(name, base, function(d) {
    W <- weights(as_rep(d, S_PAIRS, if (rho == 0) "brr" else "fay", rho = if (rho == 0) NULL else rho),
                 "analysis")
    mine <- my_brr_multipliers(d$stratum, d$psu, rho)
    check_close(W, d$w * mine$multipliers, paste(name, "BRR rebuild"), tol = 1e-13)
    H <<- mine$hadamard
    colnames(W) <- paste0("repw_", seq_len(ncol(W)))
    M <- W / d$w
    colnames(M) <- paste0("repm_", seq_len(ncol(W)))
    cbind(W, M)
  })
  H
}

H7 <- write_pairs_brr("rep_pairs7_brr", base_pairs7, 0)
H7f <- write_pairs_brr("rep_pairs7_fay", base_pairs7, 0.3)
stopifnot(identical(H7, H7f), nrow(H7) == 8)
BRR7_COLS <- paste0("repw_", 1:8)
brr7 <- run_form2("pairs7_brr", "rep_pairs7_brr", S_PAIRS, "brr", NULL, BRR7_COLS,
                  PAIRS_FULL, PAIRS_SHORT, hadamard = H7, twin_scale = NULL, twin_rscales = NULL)
rs <- rspec("w", paste0("repm_", 1:8), "brr", mse = FALSE, combined = FALSE)
tdes <- build_rep(DATA[["rep_pairs7_brr"]], rs)
run_calls("pairs7_brr_repm", "rep_pairs7_brr", rep_design_json(rs, tdes), tdes, PAIRS_SHORT,
          ref = brr7$plain, note = "BRR multipliers (0/2) of pairs7_brr")
run_form2("pairs7_fay", "rep_pairs7_fay", S_PAIRS, "fay", 0.3, BRR7_COLS,
          PAIRS_FULL, PAIRS_SHORT, hadamard = H7, twin_scale = NULL, twin_rscales = NULL)

H10 <- write_pairs_brr("rep_pairs10_brr", base_pairs10, 0)
H10f <- write_pairs_brr("rep_pairs10_fay", base_pairs10, 0.5)
stopifnot(identical(H10, H10f), nrow(H10) == 12)
run_form2("pairs10_brr", "rep_pairs10_brr", S_PAIRS, "brr", NULL, paste0("repw_", 1:12),
          PAIRS_SHORT, PAIRS_SHORT, hadamard = H10, twin_scale = NULL, twin_rscales = NULL,
          note = "10 numeric strata: BRR orders them as character labels (1, 10, 2, ..., 9)")
run_form2("pairs10_fay", "rep_pairs10_fay", S_PAIRS, "fay", 0.5, paste0("repw_", 1:12),
          PAIRS_SHORT, PAIRS_SHORT, hadamard = H10, twin_scale = NULL, twin_rscales = NULL,
          note = "10 numeric strata: BRR orders them as character labels (1, 10, 2, ..., 9)")

## JKn on the pairs design (rscales 1/2); multiplier twin with rscales left to R
write_with_weights("rep_pairs7_jkn", base_pairs7, function(d) {
  W <- weights(as_rep(d, S_PAIRS, "jkn"), "analysis")
  check_close(W, d$w * my_jk_multipliers(d$stratum, d$psu), "pairs7 JKn rebuild", tol = 1e-13)
  colnames(W) <- paste0("repw_", seq_len(ncol(W)))
  M <- W / d$w
  colnames(M) <- paste0("repm_", seq_len(ncol(W)))
  cbind(W, M)
})
jkn7 <- run_form2("pairs7_jkn", "rep_pairs7_jkn", S_PAIRS, "jkn", NULL, paste0("repw_", 1:14),
                  PAIRS_SHORT, PAIRS_SHORT, twin_scale = NULL)
rs <- rspec("w", paste0("repm_", 1:14), "jkn", combined = FALSE)
tdes <- build_rep(DATA[["rep_pairs7_jkn"]], rs)
run_calls("pairs7_jkn_repm_default", "rep_pairs7_jkn", rep_design_json(rs, tdes), tdes,
          PAIRS_SHORT, ref = jkn7$plain,
          note = "JKn multipliers, rscales from R's default 1/(column maximum) = (n_h-1)/n_h")


## ---- bootstrap (form 1 only) ------------------------------------------------
BOOT_CALLS <- list(
  cs("mean_api00", "mean", "api00"),
  cs("total_enroll", "total", "enroll"),
  cs("ratio_api00_api99", "ratio", "api00", denominator = "api99"),
  cs("by_stype_mean_api00", "mean", "api00", by = "stype"),
  cs("by_stype_total_enroll", "total", "enroll", by = "stype"),
  cs("prop_sch_wide01_logit", "proportion", "sch_wide01", method = "logit"),
  cs("prop_sch_wide01_beta", "proportion", "sch_wide01", method = "beta"),
  cs("prop_sch_wide01_mean", "proportion", "sch_wide01", method = "mean"),
  cs("quantile_api00", "quantile", "api00", q = Q3),
  cs("quantile_api00_repvar", "quantile", "api00", q = Q3, method = "quantile"),
  cs("subset_E_mean_api00", "mean", "api00", subset = list(column = "stype", value = "E")))

## Build with as.svrepdesign(..., replicates = 50) under a seed, export the
## analysis weights, then compare svrepdesign on them with the original object.
run_boot <- function(prefix, data, base, spec, type, seed, calls, scale_of) {
  made <- NULL
  write_with_weights(data, base, function(d) {
    set.seed(seed)
    made <<- as.svrepdesign(build_lin(d, spec), type = type, replicates = 50)
    W <- weights(made, "analysis")
    colnames(W) <- paste0("repw_", 1:50)
    W
  })
  d <- DATA[[data]]
  for (mse in c(FALSE, TRUE)) {
    set.seed(seed)
    orig <- as.svrepdesign(build_lin(d, spec), type = type, replicates = 50, mse = mse)
    check_close(weights(orig, "analysis"), as.matrix(d[paste0("repw_", 1:50)]),
                paste(prefix, "bootstrap weights"), tol = 1e-13)
    ref <- lapply(calls, function(cl) compute(orig, cl)$result)
    names(ref) <- vapply(calls, `[[`, "", "tag")
    rs <- rspec(spec$weights, paste0("repw_", 1:50), "bootstrap", scale = scale_of(orig),
                mse = mse)
    tdes <- build_rep(d, rs)
    check_close(tdes$scale, orig$scale, paste(prefix, "scale"))
    run_calls(if (mse) paste0(prefix, "_mse") else prefix, data, rep_design_json(rs, tdes), tdes,
              calls, ref = ref,
              note = sprintf("weights from as.svrepdesign(type = \"%s\", replicates = 50), set.seed(%d)",
                             type, seed))
  }
}
## bootstrap: as.svrepdesign's scale is nbar/((nbar-1)(R-1)), nbar = harmonic mean
## of PSUs per stratum, not svrepdesign's default 1/(R-1): pass it
run_boot("apistrat_boot", "rep_apistrat_boot", base_apistrat, S_STRAT, "bootstrap", 20240706,
         c(BOOT_CALLS, list(cs("mean_acs.46_narm", "mean", "acs.46", na_rm = TRUE),
                            ## domains of 1 and 2 schools (H and M with yr.rnd Yes):
                            ## replicates that draw none of them have no value there,
                            ## and R (svyby, one call per domain) leaves them out of
                            ## that domain's variance only
                            cs("by_stype_yr.rnd_mean_api00", "mean", "api00",
                               by = c("stype", "yr.rnd"), na_replicates = TRUE))),
         scale_of = function(orig) {
           nbar <- 1 / mean(1 / c(100, 50, 50))
           check_close(orig$scale, nbar / ((nbar - 1) * 49), "bootstrap scale")
           orig$scale
         })
## subbootstrap: scale 1/(R-1), svrepdesign's bootstrap default: leave it null
run_boot("apiclus1_subboot", "rep_apiclus1_subboot", base_apiclus1, S_CLUS1, "subbootstrap",
         20240707, BOOT_CALLS[c(1:4, 6:7, 9, 11)],
         scale_of = function(orig) {
           check_close(orig$scale, 1 / 49, "subbootstrap scale")
           NULL
         })


## ---- scd: the BRR example from svrepdesign's documentation -----------------
write_plain("rep_scd", make_scd())
SCD_CALLS <- list(
  cs("ratio_alive_arrests", "ratio", "alive", denominator = "arrests"),
  cs("mean_alive", "mean", "alive"),
  cs("total_arrests", "total", "arrests"))
for (mse in c(FALSE, TRUE)) {
  d <- DATA[["rep_scd"]]
  rs <- rspec("pw", paste0("repm_", 1:4), "brr", mse = mse, combined = FALSE)
  tdes <- build_rep(d, rs)
  ## the documentation's call, without weights
  doc <- expecting("No sampling weights provided",
                   svrepdesign(data = d, type = "BRR", repweights = as.matrix(d[paste0("repm_", 1:4)]),
                               combined.weights = FALSE, mse = mse))
  ref <- lapply(SCD_CALLS, function(cl) compute(doc, cl)$result)
  names(ref) <- vapply(SCD_CALLS, `[[`, "", "tag")
  run_calls(if (mse) "scd_brr_mse" else "scd_brr", "rep_scd", rep_design_json(rs, tdes), tdes,
            SCD_CALLS, ref = ref,
            note = "survey's svrepdesign example; it gives no weights, pw = 1 is R's default")
}


## ---- successive difference ---------------------------------------------------
write_plain("rep_sdr", make_sdr())
SDR_CALLS <- list(
  cs("mean_y", "mean", "y"),
  cs("total_y", "total", "y"),
  cs("mean_y_x", "mean", c("y", "x")),
  cs("ratio_y_x", "ratio", "y", denominator = "x"),
  cs("prop_innovated_logit", "proportion", "innovated", method = "logit"),
  cs("prop_innovated_beta", "proportion", "innovated", method = "beta"),
  cs("quantile_y", "quantile", "y", q = Q3))
for (mse in c(FALSE, TRUE)) {
  rs <- rspec("pw", paste0("repw_", 1:24), "sdr", mse = mse)
  tdes <- build_rep(DATA[["rep_sdr"]], rs)
  check_close(tdes$scale, 4 / 24, "SDR scale")
  run_calls(if (mse) "sdr_mse" else "sdr", "rep_sdr", rep_design_json(rs, tdes), tdes, SDR_CALLS,
            note = "svrepdesign(type = \"successive-difference\"): scale 4/R, rscales 1")
}


## ---- type = "other": explicit scale and rscales -----------------------------
other <- make_other()
write_plain("rep_apistrat_other", other$data)
OTHER_CALLS <- list(
  cs("mean_api00", "mean", "api00"),
  cs("total_enroll", "total", "enroll"),
  cs("ratio_api00_api99", "ratio", "api00", denominator = "api99"),
  cs("by_stype_mean_api00", "mean", "api00", by = "stype"),
  cs("prop_sch_wide01_logit", "proportion", "sch_wide01", method = "logit"),
  cs("quantile_api00", "quantile", "api00", q = Q3))
OTHER_COLS <- paste0("repw_", seq_along(other$rscales))
for (mse in c(FALSE, TRUE)) {
  ## scale 0.5 with doubled rscales: the same variance as scale 1 with (k_h-1)/k_h
  rs <- rspec("pw", OTHER_COLS, "other", scale = 0.5, rscales = 2 * other$rscales, mse = mse)
  tdes <- build_rep(DATA[["rep_apistrat_other"]], rs)
  run_calls(if (mse) "apistrat_other_mse" else "apistrat_other", "rep_apistrat_other",
            rep_design_json(rs, tdes), tdes, OTHER_CALLS,
            note = "stratified delete-a-group jackknife given as type \"other\"")
}
rs <- rspec("pw", OTHER_COLS, "other")
tdes <- build_rep(DATA[["rep_apistrat_other"]], rs)
stopifnot(tdes$scale == 1, all(tdes$rscales == 1))
run_calls("apistrat_other_default", "rep_apistrat_other", rep_design_json(rs, tdes), tdes,
          OTHER_CALLS[1:3], note = "type \"other\" without scale/rscales: R sets both to 1 (and warns)")


## ---------------------------------------------------------------------------
## 6. Write the JSON and report non-finite numbers
## ---------------------------------------------------------------------------

count_nonfinite <- function(case) {
  nums <- unlist(case$result[setdiff(names(case$result), "labels")])
  sum(!is.finite(nums))
}
nonfinite <- vapply(CASES, count_nonfinite, 0)
if (any(nonfinite > 0)) {
  message("cases with non-finite numbers (written as null):")
  for (i in which(nonfinite > 0)) message("  ", CASES[[i]]$id, ": ", nonfinite[i])
}

write_cases(CASES, "replicates", "tests/reference/make_replicates.R", t_start)
