## Reference numbers for innobaro's quantile rules and interval types
## (innobaro.quantile's qrule= and interval_type=).
##
## Run from the repository root:
##     Rscript tests/reference/make_quantiles.R
##
## Reads  tests/reference/data/<name>.csv   (written by make_reference.R)
## Writes tests/reference/quantiles.json one entry per case: data, design, call,
##                                       R's results (per domain, domains sorted)
##
## R functions covered: svyranktest (two and more groups), svyquantile (survey >= 4.1) with qrule "hf1"-"hf9",
## "school", "math", "shahvaish" and interval.type "mean", "beta", "xlogit",
## "asin" (Woodruff), "score" (ffullerCI: uniroot on the score test, read back
## at the unweighted share below each root) and, on replicate designs,
## "quantile" (repCI); domains as svyby does them (the design subset to each
## domain).
##
## The discrete rules (hf1-hf4; math = hf1, school = hf2) are wrapped by
## fix_low: for p below the smallest value's weight share they give the
## smallest value, where survey's qs() steps past it (innobaro's deliberate
## difference, as qrule_definition in common.R). The interpolating rules
## (hf5-hf9, shahvaish) are survey's own functions.
##
## Nothing here is random; the output is the same on every run.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

t_start <- start_script("make_quantiles.R")

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2"),
               read_data)

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))

make_design <- function(data, spec, replicate = NULL, subset = NULL) {
  case_design(DATA[[data]], spec, replicate, subset)
}

## survey's discrete rule with the smallest value below its weight share
fix_low <- function(rule, collapse = FALSE) {
  function(x, w, p) {
    if (any(zero <- w == 0)) { w <- w[!zero]; x <- x[!zero] }
    first <- if (collapse) sum(w[x == min(x)]) else w[order(x)][1]
    if (first > p * sum(w)) return(min(x))
    rule(x, w, p)
  }
}
RULES <- list(math = fix_low(survey:::qrule_hf1), school = fix_low(survey:::qrule_hf2),
              hf1 = fix_low(survey:::qrule_hf1), hf2 = fix_low(survey:::qrule_hf2),
              hf3 = fix_low(survey:::qrule_hf3, collapse = TRUE), hf4 = fix_low(survey:::qrule_hf4),
              hf5 = survey:::qrule_hf5, hf6 = survey:::qrule_hf6, hf7 = survey:::qrule_hf7, hf8 = survey:::qrule_hf8,
              hf9 = survey:::qrule_hf9, shahvaish = survey:::qrule_shahvaish)

CASES <- list()
## survey 4.1.1's svyquantile.svyrep.design calls woodruffCI without its
## interval.type (always "mean"; later survey versions pass it): on replicate
## designs the beta, xlogit and asin intervals are survey's woodruffCI with the
## method given, as those versions compute them.
rep_woodruff <- function(des, y, q, qrule, interval_type, level) {
  x <- model.frame(des)[[y]]
  w <- weights(des, "sampling")
  df <- degf(des)
  rows <- lapply(q, function(p) {
    qhat <- RULES[[qrule]](x, w, p)
    ci <- survey:::woodruffCI(x, qhat, p, des, RULES[[qrule]], 1 - level, df,
                              method = interval_type)
    c(qhat, ci, diff(ci) / (2 * qt(1 - (1 - level) / 2, df)))
  })
  r <- do.call(rbind, rows)
  list(estimate = r[, 1], se = r[, 4], lower = r[, 2], upper = r[, 3], df = df)
}

one_domain <- function(des, y, q, qrule, interval_type, level) {
  if (inherits(des, "svyrep.design") && interval_type %in% c("beta", "xlogit", "asin")) {
    return(rep_woodruff(des, y, q, qrule, interval_type, level))
  }
  sq <- suppressWarnings(svyquantile(reformulate(y), des, quantiles = q, ci = TRUE,
                                     alpha = 1 - level, qrule = RULES[[qrule]],
                                     interval.type = interval_type))
  ci <- confint(sq)
  list(estimate = as.numeric(coef(sq)), se = as.numeric(SE(sq)),
       lower = as.numeric(ci[, 1]), upper = as.numeric(ci[, 2]), df = degf(des))
}

case_q <- function(id, data, spec, y, q = c(0.25, 0.5, 0.75), qrule = "math",
                   interval_type = "mean", by = NULL, replicate = NULL, subset = NULL,
                   level = 0.95) {
  des <- make_design(data, spec, replicate, subset)
  if (is.null(by)) {
    parts <- list(one_domain(des, y, q, qrule, interval_type, level))
    domains <- NULL
  } else {
    byvar <- as.character(model.frame(des)[[by]])
    domains <- sort(unique(byvar[!is.na(byvar)]))
    parts <- lapply(domains, function(dom) {
      one_domain(des[!is.na(byvar) & byvar == dom, ], y, q, qrule, interval_type, level)
    })
  }
  pick <- function(name) num(unlist(lapply(parts, `[[`, name)))
  result <- list(estimate = pick("estimate"), se = pick("se"), lower = pick("lower"),
                 upper = pick("upper"), df = num(vapply(parts, `[[`, 0, "df")))
  if (!is.null(domains)) result$domains <- I(domains)
  if (any(!is.finite(unlist(result[c("estimate", "se", "lower", "upper")])))) {
    stop(id, ": R gives a non-finite value; choose another case")
  }
  case <- list(id = id, kind = "quantile", data = data, design = design_json(spec),
               replicate = replicate, subset = subset,
               call = list(y = y, q = I(q), qrule = qrule, interval_type = interval_type,
                           by = by, level = level),
               result = result)
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

ALL_RULES <- c("math", "school", "hf1", "hf2", "hf3", "hf4", "hf5", "hf6", "hf7",
               "hf8", "hf9", "shahvaish")
for (r in ALL_RULES) {
  case_q(paste0("apistrat_", r, "_api00"), "apistrat", S_STRAT, "api00",
         q = c(0.1, 0.25, 0.5, 0.9), qrule = r)
  case_q(paste0("apistrat_by_stype_", r, "_api99"), "apistrat", S_STRAT, "api99",
         q = c(0.25, 0.5, 0.6), qrule = r, by = "stype")
}
for (it in c("mean", "beta", "xlogit", "asin")) {
  case_q(paste0("apistrat_hf1_", it, "_api00"), "apistrat", S_STRAT, "api00",
         interval_type = it)
  case_q(paste0("apiclus2_hf7_", it, "_api00"), "apiclus2", S_CLUS2, "api00",
         qrule = "hf7", interval_type = it, q = c(0.25, 0.5))
  case_q(paste0("apistrat_by_stype_hf9_", it, "_api00"), "apistrat", S_STRAT, "api00",
         qrule = "hf9", interval_type = it, by = "stype", q = c(0.25, 0.5))
  case_q(paste0("apistrat_jkn_by_stype_hf5_", it, "_api00"), "apistrat", S_STRAT, "api00",
         qrule = "hf5", interval_type = it, by = "stype", replicate = "jkn",
         q = c(0.25, 0.5))
}
for (r in c("math", "school", "hf3", "hf6", "shahvaish")) {
  case_q(paste0("apistrat_jkn_", r, "_quantile_api00"), "apistrat", S_STRAT, "api00",
         qrule = r, interval_type = "quantile", replicate = "jkn")
  case_q(paste0("apiclus1_jk1_by_schwide_", r, "_quantile_api00"), "apiclus1", S_CLUS1,
         "api00", qrule = r, interval_type = "quantile", replicate = "jk1", by = "sch.wide")
}
## the score interval (survey's ffullerCI: linearisation designs only)
case_q("apistrat_hf1_score_api00", "apistrat", S_STRAT, "api00", interval_type = "score",
       q = c(0.1, 0.25, 0.5, 0.75, 0.9))
case_q("apiclus1_hf1_score_enroll", "apiclus1", S_CLUS1, "enroll", interval_type = "score")
case_q("apiclus2_hf7_score_api00", "apiclus2", S_CLUS2, "api00", qrule = "hf7",
       interval_type = "score", q = c(0.25, 0.5))
case_q("apistrat_by_stype_school_score_api99", "apistrat", S_STRAT, "api99", qrule = "school",
       interval_type = "score", by = "stype", q = c(0.25, 0.5, 0.75))
case_q("apistrat_by_stype_hf5_score_growth", "apistrat", S_STRAT, "growth", qrule = "hf5",
       interval_type = "score", by = "stype", q = c(0.5, 0.9))
case_q("apiclus1_subset_E_hf3_score_level90", "apiclus1", S_CLUS1, "api00", qrule = "hf3",
       interval_type = "score", subset = list(column = "stype", value = "E"), level = 0.9)
case_q("apistrat_jkn_subset_E_hf8_beta_level90", "apistrat", S_STRAT, "api00",
       qrule = "hf8", interval_type = "beta", replicate = "jkn",
       subset = list(column = "stype", value = "E"), level = 0.9)
case_q("apiclus1_subset_E_hf2_xlogit", "apiclus1", S_CLUS1, "api00",
       qrule = "hf2", interval_type = "xlogit", subset = list(column = "stype", value = "E"))

## ---------------------------------------------------------------------------
## svyranktest: two groups (t) and k groups (chisq, F); R stops for k groups
## on replicate designs (svy.varcoef), so those are linearisation only
## ---------------------------------------------------------------------------
case_rank <- function(id, data, spec, y, group, test, replicate = NULL, subset = NULL) {
  des <- make_design(data, spec, replicate, subset)
  r <- svyranktest(reformulate(group, y), des, test = test)
  two <- !is.null(r$estimate)
  result <- if (two) {
    list(statistic = unname(r$statistic), df = unname(r$parameter),
         pvalue = r$p.value, estimate = unname(r$estimate))
  } else {  # multiranktest's "parameter" is the chi-square, "statistic" its df
    list(chisq = unname(as.numeric(r$parameter)), ndf = unname(r$statistic),
         ddf = r$ddf, pvalue = as.numeric(r$p.value))
  }
  case <- list(id = id, kind = "ranktest", data = data, design = design_json(spec),
               replicate = replicate, subset = subset,
               call = list(y = y, group = group, test = test), result = result)
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}

for (tst in c("wilcoxon", "vanderWaerden", "median", "KruskalWallis")) {
  case_rank(paste0("rank_apistrat_api00_schwide_", tst), "apistrat", S_STRAT, "api00",
            "sch.wide", tst)
  case_rank(paste0("rank_apistrat_api00_stype_", tst), "apistrat", S_STRAT, "api00",
            "stype", tst)
  case_rank(paste0("rank_apiclus1_enroll_stype_", tst), "apiclus1", S_CLUS1, "enroll",
            "stype", tst)
  case_rank(paste0("rank_apiclus2_api00_awards_", tst), "apiclus2", S_CLUS2, "api00",
            "awards", tst)
  case_rank(paste0("rank_apistrat_jkn_api00_schwide_", tst), "apistrat", S_STRAT, "api00",
            "sch.wide", tst, replicate = "jkn")
  case_rank(paste0("rank_apiclus1_jk1_api00_awards_", tst), "apiclus1", S_CLUS1, "api00",
            "awards", tst, replicate = "jk1")
  case_rank(paste0("rank_apistrat_subset_E_api00_awards_", tst), "apistrat", S_STRAT,
            "api00", "awards", tst, subset = list(column = "stype", value = "E"))
}

write_cases(CASES, "quantiles", "tests/reference/make_quantiles.R", t_start)
