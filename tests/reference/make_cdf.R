## Reference numbers for innobaro's distributions as data: ib.cdf (R's svycdf),
## ib.histogram (svyhist) and ib.boxplot_stats (svyboxplot).
##
## Run from the repository root:
##     Rscript tests/reference/make_cdf.R
##
## Reads  tests/reference/data/<name>.csv   (written by make_reference.R)
## Writes tests/reference/cdf.json one entry per case: data, design, call,
##                                 R's results (domains sorted)
##
## - cdf: svycdf's step function evaluated at every distinct value of the
##   domain's rows (domains as the design subset to each, as svyby would);
## - histogram: svyhist's returned `hist` object (breaks, counts, density,
##   mids), drawn on the null device; with a `by`, the breaks are hist()'s on
##   the whole design and each domain's histogram is svyhist on its subset
##   with those breaks;
## - boxplot: the `z` svyboxplot hands to bxp() (stats, n, out), caught by a
##   copy of svyboxplot whose bxp() returns it; with a `by`, svyboxplot of
##   each domain's subset (see case_box: survey 4.1.1's grouped svyboxplot
##   is broken). `result` is svyboxplot with
##   its quantiles by qrule_definition (common.R: the smallest value at p = 0,
##   innobaro's deliberate difference), `result_r` svyboxplot as it is
##   (qrule_math gives the second-smallest value at p = 0), and `same_as_r`
##   says whether the two agree.
##
## Nothing here is random; the output is the same on every run.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

t_start <- start_script("make_cdf.R")
pdf(NULL)  # svyhist and svyboxplot draw

DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2"),
               read_data)

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))

make_design <- function(data, spec, replicate = NULL, subset = NULL) {
  case_design(DATA[[data]], spec, replicate, subset)
}

CASES <- list()
add <- function(case) {
  if (any(vapply(CASES, function(c) c$id == case$id, TRUE))) stop("duplicate id ", case$id)
  CASES[[length(CASES) + 1]] <<- case
}

## the domains of `by` (sorted as innobaro sorts them) and each one's subset
domain_designs <- function(des, by) {
  if (is.null(by)) return(list(list(name = NULL, design = des)))
  byvar <- model.frame(des)[[by]]
  lev <- if (is.factor(byvar)) levels(droplevels(byvar)) else sort(unique(byvar[!is.na(byvar)]))
  lapply(lev, function(l) list(name = as.character(l),
                               design = des[!is.na(byvar) & byvar == l, ]))
}

## ---------------------------------------------------------------------------
## svycdf
## ---------------------------------------------------------------------------
case_cdf <- function(id, data, spec, y, by = NULL, replicate = NULL, subset = NULL) {
  des <- make_design(data, spec, replicate, subset)
  parts <- lapply(domain_designs(des, by), function(dd) {
    x <- model.frame(dd$design)[[y]]
    w <- weights(dd$design, "sampling")
    values <- sort(unique(x[!is.na(x) & w > 0]))
    f <- svycdf(reformulate(y), dd$design)[[y]]
    list(domain = rep(if (is.null(dd$name)) NA else dd$name, length(values)),
         value = values, cdf = f(values))
  })
  pick <- function(k) unlist(lapply(parts, `[[`, k))
  result <- list(value = num(pick("value")), cdf = num(pick("cdf")))
  if (!is.null(by)) result$domain <- I(pick("domain"))
  add(list(id = id, kind = "cdf", data = data, design = design_json(spec),
           replicate = replicate, subset = subset, call = list(y = y, by = by),
           result = result))
}

case_cdf("apistrat_cdf_api00", "apistrat", S_STRAT, "api00")
case_cdf("apistrat_cdf_acs46_na", "apistrat", S_STRAT, "acs.46")
case_cdf("apiclus1_cdf_by_stype_enroll", "apiclus1", S_CLUS1, "enroll", by = "stype")
case_cdf("apiclus2_cdf_by_awards_avged", "apiclus2", S_CLUS2, "avg.ed", by = "awards")
case_cdf("apistrat_jkn_cdf_by_schwide_meals", "apistrat", S_STRAT, "meals", by = "sch.wide",
         replicate = "jkn")
case_cdf("apistrat_subset_E_cdf_api99", "apistrat", S_STRAT, "api99",
         subset = list(column = "stype", value = "E"))

## ---------------------------------------------------------------------------
## svyhist
## ---------------------------------------------------------------------------
case_hist <- function(id, data, spec, y, bins = "sturges", by = NULL, right = TRUE,
                      replicate = NULL, subset = NULL) {
  des <- make_design(data, spec, replicate, subset)
  breaks <- if (identical(bins, "sturges")) "Sturges" else bins
  if (!is.null(by)) {
    x <- model.frame(des)[[y]]
    breaks <- hist(x, breaks = breaks, right = right, plot = FALSE)$breaks
  }
  parts <- lapply(domain_designs(des, by), function(dd) {
    h <- svyhist(reformulate(y), dd$design, breaks = breaks, right = right)
    list(domain = rep(if (is.null(dd$name)) NA else dd$name, length(h$counts)),
         left = h$breaks[-length(h$breaks)], right = h$breaks[-1], mids = h$mids,
         counts = h$counts, density = h$density)
  })
  pick <- function(k) unlist(lapply(parts, `[[`, k))
  result <- list(left = num(pick("left")), right = num(pick("right")), mid = num(pick("mids")),
                 count = num(pick("counts")), density = num(pick("density")))
  if (!is.null(by)) result$domain <- I(pick("domain"))
  add(list(id = id, kind = "histogram", data = data, design = design_json(spec),
           replicate = replicate, subset = subset,
           call = list(y = y, by = by, bins = if (length(bins) > 1) I(bins) else bins,
                       right = right),
           result = result))
}

case_hist("apistrat_hist_api00", "apistrat", S_STRAT, "api00")
case_hist("apistrat_hist_enroll_20", "apistrat", S_STRAT, "enroll", bins = 20)
case_hist("apistrat_hist_acs46_na", "apistrat", S_STRAT, "acs.46")
case_hist("apiclus1_hist_meals_breaks_left", "apiclus1", S_CLUS1, "meals",
          bins = c(0, 10, 25, 50, 75, 100), right = FALSE)
case_hist("apiclus2_hist_avged_7", "apiclus2", S_CLUS2, "avg.ed", bins = 7)
case_hist("apistrat_hist_by_stype_api00", "apistrat", S_STRAT, "api00", by = "stype")
case_hist("apistrat_jkn_hist_by_awards_growth", "apistrat", S_STRAT, "growth", by = "awards",
          replicate = "jkn")
case_hist("apiclus1_subset_E_hist_api99_12", "apiclus1", S_CLUS1, "api99", bins = 12,
          subset = list(column = "stype", value = "E"))

## ---------------------------------------------------------------------------
## svyboxplot
## ---------------------------------------------------------------------------
## a copy of svyboxplot returning bxp()'s z, with svyquantile's qrule given
boxplot_z <- function(qrule) {
  f <- survey:::svyboxplot.default
  env <- new.env(parent = environment(f))
  env$bxp <- function(z, ...) z
  if (!is.null(qrule)) {
    env$svyquantile <- function(...) survey::svyquantile(..., qrule = qrule)
  }
  environment(f) <- env
  f
}
BOX_R <- boxplot_z(NULL)
BOX_DEF <- boxplot_z(qrule_definition)

## survey 4.1.1's svyboxplot with a grouping variable gives every box the
## quantiles of the whole design (its svyby did not handle the new svyquantile
## without ci, fixed in survey 4.2); each domain's box here is svyboxplot of the
## domain's subset, which is what the fixed svyby computes: the same quantiles,
## whiskers and outliers, and n = the domain's weight total (svytotal of the
## groups).
box_parts <- function(box, des, y, by, all_outliers) {
  parts <- lapply(domain_designs(des, by), function(dd) {
    z <- box(reformulate("1", y), dd$design, all.outliers = all_outliers)
    list(stats = as.numeric(z$stats), n = as.numeric(z$n),
         out = if (is.null(z$out)) numeric(0) else as.numeric(z$out), name = dd$name)
  })
  res <- list(stats = lapply(parts, function(p) num(p$stats)),
              n = num(vapply(parts, `[[`, 0, "n")),
              out = lapply(parts, function(p) num(p$out)))
  if (!is.null(by)) res$domain <- I(vapply(parts, `[[`, "", "name"))
  res
}

case_box <- function(id, data, spec, y, by = NULL, all_outliers = FALSE, replicate = NULL,
                     subset = NULL) {
  des <- make_design(data, spec, replicate, subset)
  res <- box_parts(BOX_DEF, des, y, by, all_outliers)
  res_r <- box_parts(BOX_R, des, y, by, all_outliers)
  add(list(id = id, kind = "boxplot", data = data, design = design_json(spec),
           replicate = replicate, subset = subset,
           call = list(y = y, by = by, all_outliers = all_outliers),
           result = res, result_r = res_r,
           same_as_r = isTRUE(all.equal(res, res_r, tolerance = 0))))
}

case_box("apistrat_box_enroll", "apistrat", S_STRAT, "enroll")
case_box("apistrat_box_enroll_all", "apistrat", S_STRAT, "enroll", all_outliers = TRUE)
case_box("apistrat_box_api00_by_stype", "apistrat", S_STRAT, "api00", by = "stype")
case_box("apiclus1_box_enroll_by_stype_all", "apiclus1", S_CLUS1, "enroll", by = "stype",
         all_outliers = TRUE)
case_box("apiclus2_box_avged_na", "apiclus2", S_CLUS2, "avg.ed")
case_box("apistrat_jkn_box_meals_by_awards", "apistrat", S_STRAT, "meals", by = "awards",
         replicate = "jkn")
case_box("apistrat_box_acs46_by_schwide_all", "apistrat", S_STRAT, "acs.46", by = "sch.wide",
         all_outliers = TRUE)

write_cases(CASES, "cdf", "tests/reference/make_cdf.R", t_start)
