## Reference numbers for innobaro's linearization (Taylor series) estimators.
##
## Run from the repository root:
##     Rscript tests/reference/make_reference.R
##
## Writes
##   tests/reference/data/<name>.csv     input datasets (survey's api data + synthetic designs)
##   tests/reference/linearization.json  one entry per case: design, call, R's results
##
## All estimates are computed from the CSV files as read back from disk, so R and
## the Python tests see exactly the same decimal inputs.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})


if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_reference.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE)
t_start <- Sys.time()

dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)


## ---------------------------------------------------------------------------
## 1. Datasets
## ---------------------------------------------------------------------------

data(api, package = "survey")

apistrat$prob <- 1 / apistrat$pw
## small46: a 0/1 column with the 66 missing values of acs.46
write_data(transform(add_api_flags(apistrat), small46 = as.numeric(acs.46 < 29)), "apistrat")
write_data(add_api_flags(apiclus1), "apiclus1")
write_data(add_api_flags(apiclus2), "apiclus2")
write_data(add_api_flags(apisrs), "apisrs")

## a. synth_ms: stratified two-stage design.  Municipality ids repeat across
##    strata and unit ids repeat across municipalities (needs nest = TRUE).
make_synth_ms <- function() {
  set.seed(20240611)
  strata <- c("north", "south", "east", "west")
  n1 <- c(3L, 4L, 5L, 6L)
  rows <- list()
  for (h in seq_along(strata)) {
    N1 <- n1[h] + sample(4:20, 1)
    stratum_effect <- rnorm(1, 0, 6)
    for (i in seq_len(n1[h])) {
      n2 <- sample(2:5, 1)
      N2 <- n2 + sample(1:12, 1)
      if (h == 2 && i == 1) N2 <- n2          # second stage fully enumerated
      psu_effect <- rnorm(1, 0, 4)
      x <- round(rlnorm(n2, log(50), 0.4), 3)
      y <- round(20 + stratum_effect + psu_effect + 0.4 * x + rnorm(n2, 0, 5), 3)
      rows[[length(rows) + 1]] <- data.frame(
        stratum = strata[h], municipality = i, unit = seq_len(n2),
        N1 = N1, N2 = N2, n1 = n1[h], n2 = n2, x = x, y = y,
        stringsAsFactors = FALSE)
    }
  }
  d <- do.call(rbind, rows)
  n <- nrow(d)
  d$f1 <- d$n1 / d$N1
  d$f2 <- d$n2 / d$N2
  d$w <- (d$N1 / d$n1) * (d$N2 / d$n2)
  d$innovated <- rbinom(n, 1, plogis(-0.3 + 0.08 * (d$y - mean(d$y))))
  d$sector <- sample(c("education", "health"), n, replace = TRUE)
  d$size_class <- sample(c("small", "medium", "large"), n, replace = TRUE)
  d$y_na <- ifelse(runif(n) < 0.08, NA, d$y)
  d$cat3 <- sample(c("low", "mid", "high"), n, replace = TRUE, prob = c(0.3, 0.4, 0.3))
  d[, c("stratum", "municipality", "unit", "N1", "N2", "f1", "f2", "w", "y", "x",
        "innovated", "sector", "size_class", "y_na", "cat3")]
}

## b. synth_lonely: stratified one-stage cluster design, strata "b" and "d" have
##    a single PSU.  PSU ids are unique across strata.  `tiny` flags 3 rows of
##    one PSU in stratum "a" (a stratum with 3 PSUs).
make_synth_lonely <- function() {
  set.seed(20240612)
  strata <- c("a", "b", "c", "d", "e")
  npsu <- c(3L, 1L, 4L, 1L, 2L)
  rows <- list()
  psu_id <- 100L
  for (h in seq_along(strata)) {
    stratum_effect <- rnorm(1, 0, 5)
    for (i in seq_len(npsu[h])) {
      psu_id <- psu_id + 1L
      m <- sample(4:7, 1)
      x <- round(rlnorm(m, log(30), 0.3), 3)
      y <- round(10 + stratum_effect + rnorm(1, 0, 3) + 0.5 * x + rnorm(m, 0, 4), 3)
      ## both sectors in every PSU, so every sector domain meets every stratum
      sector <- c("education", "health", sample(c("education", "health"), m - 2, replace = TRUE))
      rows[[length(rows) + 1]] <- data.frame(
        stratum = strata[h], psu = psu_id, w = round(runif(m, 5, 40), 2),
        y = y, x = x, sector = sector, stringsAsFactors = FALSE)
    }
  }
  d <- do.call(rbind, rows)
  n <- nrow(d)
  d$innovated <- rbinom(n, 1, 0.4)
  d$tiny <- 0L
  d$tiny[which(d$psu == 102L)[1:3]] <- 1L
  d[, c("stratum", "psu", "w", "y", "x", "innovated", "sector", "tiny")]
}

## c. synth_strata2: strata are the combinations of `region` x `urban`,
##    one-stage clusters with unique ids, Npsu = population count of PSUs.
make_synth_strata2 <- function() {
  set.seed(20240613)
  regions <- c("north", "south", "central")
  urban <- c("urban", "rural")
  rows <- list()
  psu_id <- 0L
  for (r in regions) {
    for (u in urban) {
      nh <- sample(2:4, 1)
      Nh <- nh + sample(3:15, 1)
      stratum_effect <- rnorm(1, 0, 5)
      for (i in seq_len(nh)) {
        psu_id <- psu_id + 1L
        m <- sample(3:5, 1)
        rows[[length(rows) + 1]] <- data.frame(
          region = r, urban = u, psu = psu_id, Npsu = Nh, w = Nh / nh,
          y = round(50 + stratum_effect + rnorm(1, 0, 3) + rnorm(m, 0, 6), 3),
          stringsAsFactors = FALSE)
      }
    }
  }
  d <- do.call(rbind, rows)
  n <- nrow(d)
  d$innovated <- rbinom(n, 1, 0.35)
  d$sector <- sample(c("education", "health"), n, replace = TRUE)
  d
}

write_data(make_synth_ms(), "synth_ms")
write_data(make_synth_lonely(), "synth_lonely")
write_data(make_synth_strata2(), "synth_strata2")

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2",
                 apisrs = "apisrs", synth_ms = "synth_ms", synth_lonely = "synth_lonely",
                 synth_strata2 = "synth_strata2"), read_data)


## ---------------------------------------------------------------------------
## 2. Designs
## ---------------------------------------------------------------------------

with_lonely <- function(rule, expr) {
  old <- options(survey.lonely.psu = rule)
  on.exit(options(old))
  force(expr)
}

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  scale <- pmax(1, abs(a), abs(b))
  bad <- !(abs(a - b) <= tol * scale | (is.na(a) & is.na(b)))
  if (any(bad)) {
    stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad], na.rm = TRUE)))
  }
  invisible(TRUE)
}


## survey >= 4.3 "adjust": a lonely PSU (the only PSU of a stratum with one
## sampled PSU) is centred at the average PSU total of the whole design,
## sum(x) / (number of PSUs over all strata), instead of at 0.  Reproduced with
## survey 4.1's engine by shifting the rows of those lonely PSUs: each row of a
## lonely PSU loses centre / (rows in that PSU), so its PSU total loses centre.
## Strata with more than one PSU are centred at their own mean by both versions
## and are left alone (shifting them would not cancel when a domain misses some
## of their PSUs, which survey pads with zero totals).  One-stage designs only.
vcov_adjust43 <- function(x, des) {
  stopifnot(NCOL(des$cluster) == 1)
  x <- as.matrix(x)
  strata <- des$strata[, 1]
  n_psu <- des$fpc$sampsize[, 1]
  n_psu_all <- sum(tapply(n_psu, as.numeric(strata), function(v) v[1]))
  centre <- colSums(x) / n_psu_all
  psu_key <- interaction(strata, des$cluster[, 1], drop = TRUE)
  m_psu <- as.vector(table(psu_key)[as.character(psu_key)])
  lonely <- n_psu == 1
  x_shifted <- x - outer(lonely / m_psu, centre)
  with_lonely("adjust",
              survey:::svyrecvar(x_shifted, des$cluster, des$strata, des$fpc,
                                 postStrata = des$postStrata))
}
NOTE_ADJUST43 <- paste(
  "lonely_psu='adjust' total: survey >= 4.3 centring (lonely PSU centred at",
  "sum(x)/number of PSUs of the design), computed with survey 4.1's svyrecvar on",
  "PSU totals shifted by that centre; one-stage design")


## ---------------------------------------------------------------------------
## 3. Case helpers.  Each returns one JSON case.
## ---------------------------------------------------------------------------

CASES <- list()
add_case <- function(case) {
  if (case$id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", case$id)
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

make_case <- function(id, data, spec, call, result, note = NULL) {
  case <- list(id = id, data = data, design = design_json(spec), call = call, result = result)
  if (!is.null(note)) case$note <- note
  case
}

## mean / total, whole design or subset
case_stat <- function(id, data, spec, fn, y, subset = NULL, na_rm = FALSE, level = 0.95) {
  FUN <- switch(fn, mean = svymean, total = svytotal)
  des <- subset_design(build_design(DATA[[data]], spec), subset)
  fml <- reformulate(y)
  note <- NULL
  with_lonely(spec$lonely_psu, {
    est <- FUN(fml, des, na.rm = na_rm, deff = TRUE, influence = TRUE)
    est_r <- FUN(fml, des, na.rm = na_rm, deff = "replace")
    df <- degf(des)
    V <- vcov(est)
    ci_t <- suppressWarnings(confint(est, df = df, level = level))  # NaN if df = 0
    ci_z <- confint(est, level = level)
    if (df < 1) note <- "degf = 0: R's t interval is NaN, written as null"
    if (fn == "total" && spec$lonely_psu == "adjust") {
      stopifnot(!na_rm)
      V <- vcov_adjust43(attr(est, "influence"), des)
      note <- paste(c(note, NOTE_ADJUST43), collapse = "; ")
      ci_t <- ci_z <- NULL
    }
  })
  lab <- var_labels(des, y)
  stopifnot(identical(names(coef(est)), lab$rnames))
  se <- sqrt(diag(V))
  ti <- t_interval(coef(est), se, df, level)
  zi <- z_interval(coef(est), se, level)
  if (!is.null(ci_t)) {
    check_close(ti$lower, ci_t[, 1], paste(id, "t lower"))
    check_close(zi$upper, ci_z[, 2], paste(id, "z upper"))
  }
  if (any(se < 1e-12 * pmax(1, abs(coef(est))))) {
    note <- paste(c(note, "se is 0 in exact arithmetic; R's value (and deff) is rounding noise"),
                  collapse = "; ")
  }
  nvar <- length(lab$labels)
  extra <- list()
  if (na_rm) {
    ## df above is degf() of the design before NA removal (the usual
    ## confint(svymean(..., na.rm = TRUE), df = degf(design))); also record
    ## degf() of the design restricted to complete rows
    complete <- complete.cases(model.frame(des)[, y, drop = FALSE])
    extra$df_narm <- rep(degf(des[complete, ]), nvar)
  }
  ## a design effect is variance / SRS variance: with the 4.3 "adjust" variance
  ## replacing 4.1's, rescale R's deff by the ratio of the two variances
  rescale <- diag(as.matrix(V)) / diag(as.matrix(vcov(est)))
  make_case(id, data, spec, new_call(fn, y, subset = subset, na_rm = na_rm, level = level),
            make_result(as.list(lab$labels), coef(est), se, V, ti$lower, ti$upper,
                        zi$lower, zi$upper, rep(df, nvar), extra = extra,
                        deff = deff(est) * rescale, deff_replace = deff(est_r) * rescale),
            note)
}

## ratio num/den, whole design or subset
case_ratio <- function(id, data, spec, num, den, subset = NULL, level = 0.95) {
  des <- subset_design(build_design(DATA[[data]], spec), subset)
  with_lonely(spec$lonely_psu, {
    r <- svyratio(reformulate(num), reformulate(den), des, deff = TRUE)
    r_r <- svyratio(reformulate(num), reformulate(den), des, deff = "replace")
    df <- degf(des)
    ci_t <- confint(r, df = df, level = level)
    ci_z <- confint(r, level = level)
  })
  est <- as.numeric(coef(r))
  se <- as.numeric(SE(r))
  ti <- t_interval(est, se, df, level)
  zi <- z_interval(est, se, level)
  check_close(ti$lower, ci_t[, 1], paste(id, "t lower"))
  check_close(zi$upper, ci_z[, 2], paste(id, "z upper"))
  make_case(id, data, spec, new_call("ratio", num, denominator = den, subset = subset, level = level),
            make_result(list(paste0(num, "/", den)), est, se, vcov(r), ti$lower, ti$upper,
                        zi$lower, zi$upper, df, deff = deff(r), deff_replace = deff(r_r)))
}

## Domain estimates with svyby (mean, total or ratio).  Each domain's t interval
## uses the degf of that domain's subset design; vcov is svyby's covmat (from
## the full design's influence functions).
case_by <- function(id, data, spec, fn, y, by, denominator = NULL, level = 0.95) {
  des <- build_design(DATA[[data]], spec)
  fml <- reformulate(y)
  byf <- reformulate(by)
  FUN <- switch(fn, mean = svymean, total = svytotal, ratio = svyratio)
  run_by <- function(...) {
    if (fn == "ratio") {
      svyby(fml, byf, des, svyratio, denominator = reformulate(denominator), ...)
    } else {
      svyby(fml, byf, des, FUN, ...)
    }
  }
  run_one <- function(d, ...) {
    if (fn == "ratio") svyratio(fml, reformulate(denominator), d, ...) else FUN(fml, d, ...)
  }
  note <- NULL
  with_lonely(spec$lonely_psu, {
    res <- run_by(covmat = TRUE, deff = TRUE)
    res_r <- run_by(deff = "replace")
    V <- vcov(res)
    byfactor <- do.call(interaction, model.frame(byf, model.frame(des), na.action = na.pass))
    domains <- rownames(res)
    dom_designs <- lapply(domains, function(dom) des[!is.na(byfactor) & byfactor == dom, ])
    dom_df <- vapply(dom_designs, degf, 0)
    ## cross-check svyby against per-domain calls
    for (k in seq_along(domains)) {
      one <- run_one(dom_designs[[k]])
      check_close(coef(one), coef(res)[k], paste(id, "domain estimate", domains[k]))
      check_close(SE(one), as.matrix(SE(res))[k, ], paste(id, "domain se", domains[k]))
    }
    if (fn == "total" && spec$lonely_psu == "adjust") {
      stopifnot(length(y) == 1, !is.factor(model.frame(des)[[y]]))
      infl <- sapply(domains, function(dom) {
        ifelse(!is.na(byfactor) & byfactor == dom, weights(des) * model.frame(des)[[y]], 0)
      })
      ## the rebuilt influence matrix reproduces svyby's covmat with 4.1 centring
      check_close(survey:::svyrecvar(infl, des$cluster, des$strata, des$fpc), V,
                  paste(id, "rebuilt covmat"))
      V <- vcov_adjust43(infl, des)
      note <- NOTE_ADJUST43
    }
  })
  if (fn == "ratio") {
    var_lab <- paste0(y, "/", denominator)
  } else {
    var_lab <- var_labels(des, y)$labels
  }
  est <- as.numeric(coef(res))
  se_dom <- as.numeric(as.matrix(SE(res)))
  se <- sqrt(diag(V))
  ## deff is variance / SRS variance: rescale when V is not svyby's own variance
  rescale <- se^2 / se_dom^2
  if (is.null(note)) {
    ## covmat diagonal (full design) should agree with the per-domain SEs
    check_close(se, se_dom, paste(id, "sqrt(diag(covmat)) vs domain SE"), tol = 1e-8)
  }
  nvar <- length(var_lab)
  dom_values <- as.data.frame(lapply(res[, by, drop = FALSE], as.character), stringsAsFactors = FALSE)
  labels <- list()
  for (v in seq_len(nvar)) {
    for (k in seq_along(domains)) {
      labels[[length(labels) + 1]] <- c(unlist(dom_values[k, ]), var_lab[v])
    }
  }
  df <- rep(dom_df, nvar)
  ti <- t_interval(est, se, df, level)
  zi <- z_interval(est, se, level)
  make_case(id, data, spec,
            new_call(fn, y, denominator = denominator, by = by, level = level),
            make_result(labels, est, se, V, ti$lower, ti$upper, zi$lower, zi$upper, df,
                        deff = svyby_deff(res) * rescale,
                        deff_replace = svyby_deff(res_r) * rescale),
            note)
}

## deff() of a svyby object; survey 4.1's deff.svyby() fails for deff = "replace"
## (it evaluates !"replace"), so the DEff columns are taken directly.
svyby_deff <- function(res) {
  aa <- attr(res, "svyby")
  cols <- max(aa$margins) + aa$nstats * (1 + aa$vars) + seq_len(aa$nstats)
  stopifnot(all(grepl("^DEff", names(res)[cols])))
  as.numeric(as.matrix(res[, cols, drop = FALSE]))
}

## Exact profile-likelihood interval that svyciprop(method = "likelihood")
## approximates with a spline through a profile grid.
likelihood_exact <- function(des, y, level) {
  n <- nrow(des)
  m <- svymean(reformulate(y), des)
  phat <- as.numeric(coef(m))
  yy <- model.frame(des)[[y]]
  pearson <- (yy - phat) / sqrt(phat * (1 - phat))
  phi <- as.numeric(coef(svyvar(pearson, des)))
  lambda <- as.numeric(vcov(m)) * n / (phat * (1 - phat))
  crit <- qt((1 - level) / 2, degf(des))^2 * lambda
  f <- function(beta) {
    mu <- plogis(beta)
    2 * n * (phat * log(phat / mu) + (1 - phat) * log((1 - phat) / (1 - mu))) / phi - crit
  }
  b0 <- qlogis(phat)
  lo <- uniroot(f, c(b0 - 30, b0), tol = 1e-13)$root
  hi <- uniroot(f, c(b0, b0 + 30), tol = 1e-13)$root
  plogis(c(lo, hi))
}

## survey 4.5's Wilson interval (not available in survey 4.1)
wilson_interval <- function(des, y, level) {
  m <- svymean(reformulate(y), des)
  p <- as.numeric(coef(m))
  neff <- p * (1 - p) / as.numeric(vcov(m))
  t <- qt(1 - (1 - level) / 2, degf(des))
  centre <- p + t^2 / (2 * neff)
  half <- t / (2 * neff) * sqrt(4 * neff * p * (1 - p) + t^2)
  c(centre - half, centre + half) / (1 + t^2 / neff)
}

case_prop <- function(id, data, spec, y, method, level = 0.95, subset = NULL, na_rm = FALSE) {
  des <- subset_design(build_design(DATA[[data]], spec), subset)
  note <- NULL
  extra <- list()
  with_lonely(spec$lonely_psu, {
    df <- degf(des)
    if (method == "wilson") {
      m <- svymean(reformulate(y), des)
      est <- as.numeric(coef(m))
      se <- as.numeric(SE(m))
      ci <- wilson_interval(des, y, level)
      note <- "wilson computed from the survey 4.5 formula"
    } else {
      cp <- svyciprop(reformulate(y), des, method = method, level = level, na.rm = na_rm)
      est <- as.numeric(coef(cp))
      se <- sqrt(as.numeric(vcov(cp)))
      ci <- as.numeric(confint(cp))
      p <- as.numeric(coef(svymean(reformulate(y), des, na.rm = na_rm)))
      if (method == "likelihood") {
        exact <- likelihood_exact(des, y, level)
        check_close(exact, ci, paste(id, "exact likelihood interval vs svyciprop"), tol = 1e-3)
        extra <- list(lower_exact = exact[1], upper_exact = exact[2])
      } else if (method == "logit") {
        crit <- qt(1 - (1 - level) / 2, df) * se / (p * (1 - p))
        exact <- plogis(qlogis(p) + c(-1, 1) * crit)
        check_close(exact, ci, paste(id, "exact logit interval vs svyciprop"), tol = 1e-6)
        extra <- list(lower_exact = exact[1], upper_exact = exact[2])
      }
      check_close(est, p, paste(id, "proportion estimate"), tol = 1e-6)
    }
  })
  make_case(id, data, spec,
            new_call("proportion", y, subset = subset, method = method, level = level,
                     na_rm = na_rm),
            make_result(list(y), est, se, NULL, ci[1], ci[2], NULL, NULL, df,
                        extra = extra),
            note)
}


## Quantiles: svyquantile (new implementation, Woodruff interval with
## interval.type "mean"); se is SE() = interval width / (2 * t quantile); the
## quantile rule is qrule_definition (common.R).
quantile_one <- function(des, y, q, level) {
  sq <- svyquantile(reformulate(y), des, quantiles = q, ci = TRUE, alpha = 1 - level,
                    qrule = qrule_definition)
  ci <- confint(sq)
  list(estimate = as.numeric(coef(sq)), se = as.numeric(SE(sq)),
       lower = as.numeric(ci[, 1]), upper = as.numeric(ci[, 2]), df = degf(des))
}

case_quantile <- function(id, data, spec, y, q = c(0.25, 0.5, 0.75), by = NULL,
                          level = 0.95, subset = NULL) {
  des <- subset_design(build_design(DATA[[data]], spec), subset)
  qlab <- sprintf("%s[%s]", y, as.character(q))
  with_lonely(spec$lonely_psu, {
    if (is.null(by)) {
      r <- quantile_one(des, y, q, level)
      labels <- as.list(qlab)
      est <- r$estimate; se <- r$se; lower <- r$lower; upper <- r$upper
      df <- rep(r$df, length(q))
    } else {
      byf <- reformulate(by)
      res <- svyby(reformulate(y), byf, des, svyquantile, quantiles = q, ci = TRUE,
                   alpha = 1 - level, qrule = qrule_definition)
      byfactor <- do.call(interaction, model.frame(byf, model.frame(des), na.action = na.pass))
      domains <- rownames(res)
      dom_values <- as.data.frame(lapply(res[, by, drop = FALSE], as.character),
                                  stringsAsFactors = FALSE)
      per_dom <- lapply(domains, function(dom) {
        quantile_one(des[!is.na(byfactor) & byfactor == dom, ], y, q, level)
      })
      ## order: quantile outer, domain inner (as svyby orders its coefficients)
      labels <- list(); est <- se <- lower <- upper <- df <- numeric(0)
      for (j in seq_along(q)) {
        for (k in seq_along(domains)) {
          labels[[length(labels) + 1]] <- c(unlist(dom_values[k, ]), qlab[j])
          est <- c(est, per_dom[[k]]$estimate[j]); se <- c(se, per_dom[[k]]$se[j])
          lower <- c(lower, per_dom[[k]]$lower[j]); upper <- c(upper, per_dom[[k]]$upper[j])
          df <- c(df, per_dom[[k]]$df)
        }
      }
      check_close(est, coef(res), paste(id, "svyby quantile estimates"))
      check_close(se, as.numeric(as.matrix(SE(res))), paste(id, "svyby quantile se"))
    }
  })
  make_case(id, data, spec, new_call("quantile", y, by = by, subset = subset, q = q, level = level),
            make_result(labels, est, se, NULL, lower, upper, NULL, NULL, df),
            paste("svyquantile with qrule = qrule_definition (survey's qrule_math with the",
                  "smallest value returned for p below its weight share)"))
}


## ---------------------------------------------------------------------------
## 4. Cases
## ---------------------------------------------------------------------------

PROP_METHODS <- c("logit", "likelihood", "asin", "beta", "mean", "xlogit", "wilson")

## apistrat: stratified SRS, fpc as population counts
S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
add_case(case_stat("apistrat_mean_api00", "apistrat", S_STRAT, "mean", "api00"))
add_case(case_stat("apistrat_mean_api00_level90", "apistrat", S_STRAT, "mean", "api00", level = 0.9))
add_case(case_stat("apistrat_mean_api00_api99", "apistrat", S_STRAT, "mean", c("api00", "api99")))
add_case(case_stat("apistrat_total_enroll", "apistrat", S_STRAT, "total", "enroll"))
add_case(case_stat("apistrat_total_api00_enroll", "apistrat", S_STRAT, "total", c("api00", "enroll")))
add_case(case_stat("apistrat_mean_sch.wide", "apistrat", S_STRAT, "mean", "sch.wide"))
add_case(case_stat("apistrat_total_sch.wide", "apistrat", S_STRAT, "total", "sch.wide"))
add_case(case_ratio("apistrat_ratio_api00_api99", "apistrat", S_STRAT, "api00", "api99"))
for (m in PROP_METHODS) {
  add_case(case_prop(paste0("apistrat_prop_sch_wide01_", m), "apistrat", S_STRAT, "sch_wide01", m))
}
for (m in c("logit", "likelihood", "beta", "asin", "wilson")) {
  add_case(case_prop(paste0("apistrat_prop_sch_wide01_", m, "_level90"), "apistrat", S_STRAT,
                     "sch_wide01", m, level = 0.9))
}
add_case(case_quantile("apistrat_quantile_api00", "apistrat", S_STRAT, "api00"))
add_case(case_quantile("apistrat_quantile_api00_level90", "apistrat", S_STRAT, "api00", level = 0.9))
add_case(case_by("apistrat_by_stype_mean_api00", "apistrat", S_STRAT, "mean", "api00", "stype"))
add_case(case_by("apistrat_by_stype_total_enroll", "apistrat", S_STRAT, "total", "enroll", "stype"))
add_case(case_by("apistrat_by_stype_ratio_api00_api99", "apistrat", S_STRAT, "ratio", "api00",
                 "stype", denominator = "api99"))
add_case(case_by("apistrat_by_awards_mean_api00", "apistrat", S_STRAT, "mean", "api00", "awards"))
add_case(case_by("apistrat_by_stype_awards_mean_api00", "apistrat", S_STRAT, "mean", "api00",
                 c("stype", "awards")))
add_case(case_stat("apistrat_subset_E_mean_api00", "apistrat", S_STRAT, "mean", "api00",
                   subset = list(column = "stype", value = "E")))
add_case(case_stat("apistrat_subset_E_total_enroll", "apistrat", S_STRAT, "total", "enroll",
                   subset = list(column = "stype", value = "E")))
add_case(case_stat("apistrat_mean_acs.46_narm", "apistrat", S_STRAT, "mean", "acs.46", na_rm = TRUE))
add_case(case_stat("apistrat_total_acs.46_narm", "apistrat", S_STRAT, "total", "acs.46", na_rm = TRUE))
## svyciprop's Korn-Graubard factor takes nrow(design), which counts the rows
## with missing values (200 here, 134 of them with a value)
for (m in c("beta", "logit", "mean")) {
  add_case(case_prop(paste0("apistrat_prop_small46_narm_", m), "apistrat", S_STRAT, "small46",
                     m, na_rm = TRUE))
}

## apistrat with selection probabilities instead of weights
S_STRAT_P <- dspec(probs = "prob", strata = "stype", fpc = "fpc")
add_case(case_stat("apistrat_probs_mean_api00", "apistrat", S_STRAT_P, "mean", "api00"))
add_case(case_stat("apistrat_probs_total_enroll", "apistrat", S_STRAT_P, "total", "enroll"))

## apiclus1: one-stage cluster sample of districts
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
add_case(case_stat("apiclus1_mean_api00_enroll", "apiclus1", S_CLUS1, "mean", c("api00", "enroll")))
add_case(case_stat("apiclus1_total_api00_enroll", "apiclus1", S_CLUS1, "total", c("api00", "enroll")))
add_case(case_stat("apiclus1_mean_stype", "apiclus1", S_CLUS1, "mean", "stype"))
add_case(case_stat("apiclus1_total_stype", "apiclus1", S_CLUS1, "total", "stype"))
add_case(case_ratio("apiclus1_ratio_api00_api99", "apiclus1", S_CLUS1, "api00", "api99"))
add_case(case_by("apiclus1_by_stype_mean_api00", "apiclus1", S_CLUS1, "mean", "api00", "stype"))
add_case(case_by("apiclus1_by_stype_total_enroll", "apiclus1", S_CLUS1, "total", "enroll", "stype"))
add_case(case_by("apiclus1_by_stype_ratio_api00_api99", "apiclus1", S_CLUS1, "ratio", "api00",
                 "stype", denominator = "api99"))
for (m in PROP_METHODS) {
  add_case(case_prop(paste0("apiclus1_prop_sch_wide01_", m), "apiclus1", S_CLUS1, "sch_wide01", m))
}
add_case(case_prop("apiclus1_prop_awards01_likelihood_level90", "apiclus1", S_CLUS1, "awards01",
                   "likelihood", level = 0.9))
add_case(case_quantile("apiclus1_quantile_api00", "apiclus1", S_CLUS1, "api00"))
add_case(case_quantile("apiclus1_by_stype_quantile_api00", "apiclus1", S_CLUS1, "api00",
                       q = 0.5, by = "stype"))

## apiclus2: two-stage cluster sample (districts, schools), fpc at both stages
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
add_case(case_stat("apiclus2_mean_api00", "apiclus2", S_CLUS2, "mean", "api00"))
add_case(case_stat("apiclus2_total_api00", "apiclus2", S_CLUS2, "total", "api00"))
add_case(case_stat("apiclus2_mean_enroll_narm", "apiclus2", S_CLUS2, "mean", "enroll", na_rm = TRUE))
add_case(case_stat("apiclus2_total_enroll_narm", "apiclus2", S_CLUS2, "total", "enroll", na_rm = TRUE))
add_case(case_ratio("apiclus2_ratio_api00_api99", "apiclus2", S_CLUS2, "api00", "api99"))
add_case(case_by("apiclus2_by_stype_mean_api00", "apiclus2", S_CLUS2, "mean", "api00", "stype"))
add_case(case_by("apiclus2_by_stype_total_api00", "apiclus2", S_CLUS2, "total", "api00", "stype"))
for (m in PROP_METHODS) {
  add_case(case_prop(paste0("apiclus2_prop_sch_wide01_", m), "apiclus2", S_CLUS2, "sch_wide01", m))
}
add_case(case_quantile("apiclus2_quantile_api00", "apiclus2", S_CLUS2, "api00"))
add_case(case_quantile("apiclus2_by_stype_quantile_api00", "apiclus2", S_CLUS2, "api00",
                       q = 0.5, by = "stype"))

## apisrs: simple random sample, with and without fpc
S_SRS <- dspec(weights = "pw", fpc = "fpc")
add_case(case_stat("apisrs_mean_api00", "apisrs", S_SRS, "mean", "api00"))
add_case(case_stat("apisrs_total_api00", "apisrs", S_SRS, "total", "api00"))
add_case(case_stat("apisrs_mean_api00_api99", "apisrs", S_SRS, "mean", c("api00", "api99")))
for (m in PROP_METHODS) {
  add_case(case_prop(paste0("apisrs_prop_sch_wide01_", m), "apisrs", S_SRS, "sch_wide01", m))
}
add_case(case_quantile("apisrs_quantile_api00", "apisrs", S_SRS, "api00"))
S_SRS_NOFPC <- dspec(weights = "pw")
add_case(case_stat("apisrs_nofpc_mean_api00", "apisrs", S_SRS_NOFPC, "mean", "api00"))
add_case(case_stat("apisrs_nofpc_total_api00", "apisrs", S_SRS_NOFPC, "total", "api00"))
add_case(case_ratio("apisrs_nofpc_ratio_api00_api99", "apisrs", S_SRS_NOFPC, "api00", "api99"))

## synth_ms: stratified two-stage design in four fpc variants
MS_DESIGNS <- list(
  popcounts = dspec(weights = "w", strata = "stratum", psu = c("municipality", "unit"),
                    fpc = c("N1", "N2"), nest = TRUE),
  fractions = dspec(weights = "w", strata = "stratum", psu = c("municipality", "unit"),
                    fpc = c("f1", "f2"), nest = TRUE),
  stage1fpc = dspec(weights = "w", strata = "stratum", psu = c("municipality", "unit"),
                    fpc = I("N1"), nest = TRUE),
  nofpc = dspec(weights = "w", strata = "stratum", psu = c("municipality", "unit"), nest = TRUE)
)
MS_NOTES <- list(
  stage1fpc = paste("fpc given for stage 1 only: stage 2 treated as sampled with replacement",
                    "(R: fpc = ~N1 + Inf; survey >= 4.2 does this itself)"),
  nofpc = "no fpc: only the first stage contributes (ultimate cluster, with replacement)"
)
EDU <- list(column = "sector", value = "education")
for (v in names(MS_DESIGNS)) {
  sp <- MS_DESIGNS[[v]]
  p <- function(s) sprintf("synth_ms_%s_%s", v, s)
  cases_v <- list(
    case_stat(p("mean_y"), "synth_ms", sp, "mean", "y"),
    case_stat(p("total_y"), "synth_ms", sp, "total", "y"),
    case_stat(p("mean_y_x"), "synth_ms", sp, "mean", c("y", "x")),
    case_ratio(p("ratio_y_x"), "synth_ms", sp, "y", "x"),
    case_by(p("by_sector_mean_y"), "synth_ms", sp, "mean", "y", "sector"),
    case_by(p("by_sector_total_y"), "synth_ms", sp, "total", "y", "sector"),
    case_by(p("by_sector_ratio_y_x"), "synth_ms", sp, "ratio", "y", "sector", denominator = "x"),
    case_by(p("by_sector_size_class_mean_y"), "synth_ms", sp, "mean", "y", c("sector", "size_class")),
    case_by(p("by_sector_size_class_total_y"), "synth_ms", sp, "total", "y", c("sector", "size_class")),
    case_stat(p("subset_education_mean_y"), "synth_ms", sp, "mean", "y", subset = EDU),
    case_stat(p("subset_education_total_y"), "synth_ms", sp, "total", "y", subset = EDU),
    case_ratio(p("subset_education_ratio_y_x"), "synth_ms", sp, "y", "x", subset = EDU),
    case_prop(p("prop_innovated_beta"), "synth_ms", sp, "innovated", "beta"),
    case_prop(p("prop_innovated_logit"), "synth_ms", sp, "innovated", "logit"),
    case_quantile(p("quantile_y"), "synth_ms", sp, "y"),
    case_stat(p("mean_y_na_narm"), "synth_ms", sp, "mean", "y_na", na_rm = TRUE),
    case_stat(p("mean_cat3"), "synth_ms", sp, "mean", "cat3"),
    case_stat(p("total_cat3"), "synth_ms", sp, "total", "cat3")
  )
  for (cs in cases_v) {
    if (!is.null(MS_NOTES[[v]])) cs$note <- paste(c(cs$note, MS_NOTES[[v]]), collapse = "; ")
    add_case(cs)
  }
}

## synth_lonely: strata "b" and "d" have a single PSU; every lonely-PSU rule
TINY <- list(column = "tiny", value = 1L)
for (rule in c("remove", "adjust", "average", "certainty")) {
  sp <- dspec(weights = "w", strata = "stratum", psu = "psu", lonely_psu = rule)
  p <- function(s) sprintf("synth_lonely_%s_%s", rule, s)
  add_case(case_stat(p("mean_y"), "synth_lonely", sp, "mean", "y"))
  add_case(case_stat(p("total_y"), "synth_lonely", sp, "total", "y"))
  add_case(case_ratio(p("ratio_y_x"), "synth_lonely", sp, "y", "x"))
  add_case(case_by(p("by_sector_mean_y"), "synth_lonely", sp, "mean", "y", "sector"))
  add_case(case_by(p("by_sector_total_y"), "synth_lonely", sp, "total", "y", "sector"))
  add_case(case_stat(p("subset_tiny_mean_y"), "synth_lonely", sp, "mean", "y", subset = TINY))
  add_case(case_stat(p("subset_tiny_total_y"), "synth_lonely", sp, "total", "y", subset = TINY))
  add_case(case_prop(p("prop_innovated_mean"), "synth_lonely", sp, "innovated", "mean"))
}

## synth_strata2: strata = region x urban
S_STRATA2 <- dspec(weights = "w", strata = c("region", "urban"), psu = "psu", fpc = "Npsu")
add_case(case_stat("synth_strata2_mean_y", "synth_strata2", S_STRATA2, "mean", "y"))
add_case(case_stat("synth_strata2_total_y", "synth_strata2", S_STRATA2, "total", "y"))
add_case(case_by("synth_strata2_by_sector_mean_y", "synth_strata2", S_STRATA2, "mean", "y", "sector"))
add_case(case_by("synth_strata2_by_sector_total_y", "synth_strata2", S_STRATA2, "total", "y", "sector"))
add_case(case_prop("synth_strata2_prop_innovated_logit", "synth_strata2", S_STRATA2, "innovated", "logit"))


## ---------------------------------------------------------------------------
## 5. Write the JSON and report non-finite numbers
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

write_cases(CASES, "linearization", "tests/reference/make_reference.R", t_start)
