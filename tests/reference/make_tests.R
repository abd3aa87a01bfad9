## Reference numbers for innobaro's tests and contrasts (innobaro/hypotheses.py).
##
## Run from the repository root:
##     Rscript tests/reference/make_tests.R
##
## Reads  tests/reference/data/<name>.csv   (written by make_reference.R, read here
##                                           with the same conventions)
## Writes tests/reference/tests.json         one entry per case: data, design, call,
##                                           R's results
##
## R functions covered: svychisq (statistics F, Chisq, Wald, adjWald, saddlepoint),
## svyttest, svycontrast (linear and nonlinear, on svyby(covmat = TRUE) and on
## multivariate svymean/svytotal), pairwise comparisons of svyby means through
## svycontrast with p.adjust, svytable / svyby(svytotal) / svyby(svymean)
## tables, and the difference of two independent estimates.  Linearisation
## designs and replicate designs (as.svrepdesign JK1 and JKn).
##
## Nothing here is random; the output is the same on every run.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
t_start <- start_script("make_tests.R")


DATA <- lapply(c(apistrat = "apistrat", apiclus1 = "apiclus1", apiclus2 = "apiclus2",
                 synth_ms = "synth_ms"), read_data)

## A derived column, written to the JSON so the Python test builds the same one:
## "high" where `column` > cut, "low" where it is <= cut, missing where it is missing.
derive_band <- function(df, derive) {
  x <- df[[derive$column]]
  band <- ifelse(is.na(x), NA, ifelse(x > derive$cut, "high", "low"))
  df[[derive$name]] <- factor(band, levels = sort(unique(na.omit(band)), method = "radix"))
  df
}


## ---------------------------------------------------------------------------
## Designs (the specification format of make_reference.R)
## ---------------------------------------------------------------------------

S_STRAT <- dspec(weights = "pw", strata = "stype", fpc = "fpc")
S_CLUS1 <- dspec(weights = "pw", psu = "dnum", fpc = "fpc")
S_CLUS2 <- dspec(weights = "pw", psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
S_MS <- dspec(weights = "w", strata = "stratum", psu = c("municipality", "unit"),
              fpc = c("N1", "N2"), nest = TRUE)

## The design of a case: the design, then replicate weights (as.svrepdesign), then
## the domain (subset), the order the Python test follows.
make_design <- function(data, spec, replicate = NULL, subset = NULL, derive = NULL) {
  df <- DATA[[data]]
  if (!is.null(derive)) df <- derive_band(df, derive)
  case_design(df, spec, replicate, subset)
}

check_close <- function(a, b, what, tol = 1e-9) {
  a <- as.numeric(a)
  b <- as.numeric(b)
  bad <- !(abs(a - b) <= tol * pmax(1, abs(a), abs(b)))
  if (any(bad)) stop(sprintf("%s: mismatch (max diff %g)", what, max(abs(a - b)[bad])))
  invisible(TRUE)
}

CASES <- list()
add_case <- function(id, kind, data, spec, call, result, replicate = NULL, subset = NULL,
                     derive = NULL, note = NULL) {
  if (id %in% vapply(CASES, `[[`, "", "id")) stop("duplicate case id ", id)
  case <- list(id = id, kind = kind, data = data, design = design_json(spec),
               replicate = replicate, subset = subset, derive = derive, call = call,
               result = result)
  if (!is.null(note)) case$note <- note
  CASES[[length(CASES) + 1]] <<- case
  invisible(case)
}


## ---------------------------------------------------------------------------
## svychisq
## ---------------------------------------------------------------------------

## Every statistic of svychisq (na.rm = TRUE, R's default), the table of shares
## (svytable / its sum), the shares expected under independence, and the
## denominator degrees of freedom svychisq uses.
CHISQ_STATS <- c("F", "Chisq", "Wald", "adjWald", "saddlepoint")
case_chisq <- function(id, data, spec, row, col, replicate = NULL, subset = NULL,
                       derive = NULL) {
  des <- make_design(data, spec, replicate, subset, derive)
  fml <- reformulate(c(row, col))
  stats <- list()
  for (s in CHISQ_STATS) {
    res <- svychisq(fml, des, statistic = s)
    par <- unname(res$parameter)
    stats[[s]] <- list(statistic = unname(as.numeric(res$statistic)),
                       parameter = if (is.null(par)) NULL else num(par),
                       p_value = unname(as.numeric(res$p.value)),
                       method = res$method)
  }
  tab <- svytable(fml, des)
  shares <- unclass(tab) / sum(tab)
  expected <- outer(rowSums(shares), colSums(shares))
  is_rep <- inherits(des, "svyrep.design")
  nu <- if (is_rep) degf(des) else
    length(unique(des$cluster[, 1])) - length(unique(des$strata[, 1]))
  check_close(stats$Wald$parameter[2], nu, paste(id, "Wald ddf is nu"))
  ## Pearson's X^2 on the table scaled to the number of rows, as svychisq
  n <- nrow(des)
  pearson <- n * sum((shares - expected)^2 / expected)
  check_close(pearson, stats$Chisq$statistic, paste(id, "Pearson X^2"))
  result <- list(statistics = stats,
                 observed = unname(shares), expected = unname(expected),
                 row_levels = I(rownames(shares)), col_levels = I(colnames(shares)),
                 nu = nu, n = n)
  add_case(id, "chisq", data, spec, list(row = row, col = col, na_rm = TRUE), result,
           replicate = replicate, subset = subset, derive = derive)
}

case_chisq("chisq_apistrat_schwide_stype", "apistrat", S_STRAT, "sch.wide", "stype")
case_chisq("chisq_apistrat_compimp_stype", "apistrat", S_STRAT, "comp.imp", "stype")
case_chisq("chisq_apiclus1_schwide_stype", "apiclus1", S_CLUS1, "sch.wide", "stype")
case_chisq("chisq_apiclus1_awards_both", "apiclus1", S_CLUS1, "awards", "both")
case_chisq("chisq_apiclus2_schwide_stype", "apiclus2", S_CLUS2, "sch.wide", "stype")
case_chisq("chisq_apiclus2_awards_both", "apiclus2", S_CLUS2, "awards", "both")
case_chisq("chisq_apiclus2_stype_compimp", "apiclus2", S_CLUS2, "stype", "comp.imp")
case_chisq("chisq_synth_ms_innovated_sector", "synth_ms", S_MS, "innovated", "sector")
case_chisq("chisq_synth_ms_cat3_size_class", "synth_ms", S_MS, "cat3", "size_class")
case_chisq("chisq_apiclus1_subset_E_schwide_compimp", "apiclus1", S_CLUS1, "sch.wide",
           "comp.imp", subset = list(column = "stype", value = "E"))
case_chisq("chisq_synth_ms_subset_health_cat3_size_class", "synth_ms", S_MS, "cat3",
           "size_class", subset = list(column = "sector", value = "health"))
case_chisq("chisq_apistrat_na_acs46band_stype", "apistrat", S_STRAT, "acs46_band", "stype",
           derive = list(name = "acs46_band", column = "acs.46", cut = 30))
case_chisq("chisq_apiclus1_jk1_schwide_stype", "apiclus1", S_CLUS1, "sch.wide", "stype",
           replicate = "jk1")
case_chisq("chisq_apiclus1_jk1_subset_E_schwide_compimp", "apiclus1", S_CLUS1, "sch.wide",
           "comp.imp", replicate = "jk1", subset = list(column = "stype", value = "E"))
case_chisq("chisq_apistrat_jkn_compimp_stype", "apistrat", S_STRAT, "comp.imp", "stype",
           replicate = "jkn")


## ---------------------------------------------------------------------------
## svyttest (two groups; t on degf(design) - 1, as svyglm's residual df)
## ---------------------------------------------------------------------------

case_ttest <- function(id, data, spec, y, group, replicate = NULL, subset = NULL) {
  des <- make_design(data, spec, replicate, subset)
  res <- svyttest(reformulate(group, y), des)
  ci <- as.numeric(res$conf.int)
  result <- list(statistic = unname(as.numeric(res$statistic)),
                 df = unname(as.numeric(res$parameter)),
                 p_value = unname(as.numeric(res$p.value)),
                 estimate = unname(as.numeric(res$estimate)),
                 lower = ci[1], upper = ci[2])
  has_na <- anyNA(model.frame(des)[[y]]) || anyNA(model.frame(des)[[group]])
  add_case(id, "ttest", data, spec, list(y = y, group = group, na_rm = has_na), result,
           replicate = replicate, subset = subset)
}

case_ttest("ttest_apistrat_api00_schwide", "apistrat", S_STRAT, "api00", "sch.wide")
case_ttest("ttest_apiclus1_api00_schwide", "apiclus1", S_CLUS1, "api00", "sch.wide")
case_ttest("ttest_apiclus2_api00_schwide", "apiclus2", S_CLUS2, "api00", "sch.wide")
case_ttest("ttest_apiclus2_na_enroll_schwide", "apiclus2", S_CLUS2, "enroll", "sch.wide")
case_ttest("ttest_synth_ms_y_sector", "synth_ms", S_MS, "y", "sector")
case_ttest("ttest_synth_ms_na_yna_sector", "synth_ms", S_MS, "y_na", "sector")
case_ttest("ttest_synth_ms_y_innovated", "synth_ms", S_MS, "y", "innovated")
case_ttest("ttest_apistrat_subset_E_api00_awards", "apistrat", S_STRAT, "api00", "awards",
           subset = list(column = "stype", value = "E"))
case_ttest("ttest_apiclus1_jk1_api00_schwide", "apiclus1", S_CLUS1, "api00", "sch.wide",
           replicate = "jk1")
case_ttest("ttest_apistrat_jkn_api00_compimp", "apistrat", S_STRAT, "api00", "comp.imp",
           replicate = "jkn")
## acs.46 is missing for 66 schools, each its own jackknife PSU: svyglm on a
## replicate design takes degf of the design before dropping them
case_ttest("ttest_apistrat_jkn_na_acs46_compimp", "apistrat", S_STRAT, "acs.46", "comp.imp",
           replicate = "jkn")


## ---------------------------------------------------------------------------
## svycontrast
## ---------------------------------------------------------------------------

## `contrasts`: a named list of named coefficient vectors or quoted expressions.
## In the JSON a linear contrast is an object {label: coefficient} and a
## nonlinear one the deparsed expression.
case_contrast <- function(id, data, spec, fn, y, contrasts, by = NULL, replicate = NULL,
                          na_rm = FALSE) {
  des <- make_design(data, spec, replicate)
  FUN <- switch(fn, mean = svymean, total = svytotal)
  stat <- if (is.null(by)) {
    FUN(reformulate(y), des, na.rm = na_rm)
  } else {
    svyby(reformulate(y), reformulate(by), des, FUN, covmat = TRUE, na.rm = na_rm)
  }
  ## svycontrast takes either coefficient vectors or expressions: a mixed list is
  ## given to R with the linear contrasts written as expressions
  r_contrasts <- contrasts
  if (any(vapply(contrasts, is.language, TRUE))) {
    r_contrasts <- lapply(contrasts, function(con) {
      if (is.language(con)) return(con)
      str2lang(paste(sprintf("(%.17g) * `%s`", con, names(con)), collapse = " + "))
    })
  }
  res <- svycontrast(stat, r_contrasts)
  V <- as.matrix(attr(res, "var"))
  if (is.null(attr(res, "var"))) V <- as.matrix(vcov(res))
  est <- as.numeric(if (is.list(res) && !is.null(res$nlcon)) res$nlcon else coef(res))
  stopifnot(length(est) == length(contrasts))
  spec_json <- lapply(contrasts, function(con) {
    if (is.language(con)) paste(deparse(con), collapse = "") else as.list(con)
  })
  result <- list(names = I(names(contrasts)), estimate = num(est),
                 se = num(sqrt(diag(V))), vcov = unname(V),
                 coef_names = I(names(coef(stat))))
  add_case(id, "contrast", data, spec,
           list(fn = fn, y = I(y), by = if (is.null(by)) NULL else I(by),
                na_rm = na_rm, contrasts = spec_json),
           result, replicate = replicate)
}

case_contrast("contrast_apistrat_by_stype_linear", "apistrat", S_STRAT, "mean", "api00",
              list(E_minus_H = c(E = 1, H = -1), average = c(E = 1 / 3, H = 1 / 3, M = 1 / 3),
                   M_minus_EH = c(E = -0.5, H = -0.5, M = 1)),
              by = "stype")
case_contrast("contrast_apistrat_by_stype_two_variables", "apistrat", S_STRAT, "mean",
              c("api00", "api99"),
              list(growth_E = c(`E:api00` = 1, `E:api99` = -1),
                   ratio_EH = quote(`E:api00` / `H:api00`)),
              by = "stype")
case_contrast("contrast_apiclus1_multivariate_linear", "apiclus1", S_CLUS1, "mean",
              c("api00", "api99"), list(growth = c(api00 = 1, api99 = -1)))
case_contrast("contrast_apiclus1_multivariate_nonlinear", "apiclus1", S_CLUS1, "mean",
              c("api00", "api99"),
              list(log_ratio = quote(log(api00 / api99)), ratio = quote(api00 / api99),
                   rel_growth = quote((api00 - api99) / api99)))
case_contrast("contrast_apiclus2_total_ratio_na", "apiclus2", S_CLUS2, "total",
              c("api.stu", "enroll"), list(tested_share = quote(api.stu / enroll)),
              na_rm = TRUE)
case_contrast("contrast_synth_ms_log_odds_ratio", "synth_ms", S_MS, "mean", "innovated",
              list(log_or = quote(log((health / (1 - health)) / (education / (1 - education)))),
                   diff = c(health = 1, education = -1)),
              by = "sector")
case_contrast("contrast_synth_ms_by_size_class_exp_sqrt", "synth_ms", S_MS, "mean", "y",
              list(geo = quote(sqrt(large * small)), e = quote(exp((large - small) / 10))),
              by = "size_class")
case_contrast("contrast_apiclus1_jk1_by_stype_linear", "apiclus1", S_CLUS1, "mean", "api00",
              list(E_minus_H = c(E = 1, H = -1), M_minus_H = c(H = -1, M = 1)),
              by = "stype", replicate = "jk1")
case_contrast("contrast_apiclus1_jk1_nonlinear", "apiclus1", S_CLUS1, "mean",
              c("api00", "api99"), list(log_ratio = quote(log(api00 / api99))),
              replicate = "jk1")


## ---------------------------------------------------------------------------
## Comparisons of domain means: svyby(covmat = TRUE) + svycontrast, t on degf(design)
## ---------------------------------------------------------------------------

case_compare <- function(id, data, spec, y, by, method = "pairwise", reference = NULL,
                         adjust = "none", replicate = NULL, level = 0.95) {
  des <- make_design(data, spec, replicate)
  st <- svyby(reformulate(y), reformulate(by), des, svymean, covmat = TRUE)
  doms <- names(coef(st))
  k <- length(doms)
  pairs <- list()
  if (method == "pairwise") {
    for (i in seq_len(k - 1)) for (j in (i + 1):k) pairs[[length(pairs) + 1]] <- c(i, j)
  } else {
    ref <- match(reference, doms)
    for (j in setdiff(seq_len(k), ref)) pairs[[length(pairs) + 1]] <- c(ref, j)
  }
  cons <- lapply(pairs, function(p) { v <- numeric(k); v[p[2]] <- 1; v[p[1]] <- -1; v })
  labels <- vapply(pairs, function(p) paste(doms[p[2]], "-", doms[p[1]]), "")
  names(cons) <- labels
  res <- svycontrast(st, cons)
  est <- as.numeric(coef(res))
  se <- sqrt(diag(as.matrix(vcov(res))))
  df <- degf(des)
  tstat <- est / se
  p <- 2 * pt(-abs(tstat), df)
  crit <- qt(1 - (1 - level) / 2, df)
  result <- list(labels = lapply(labels, function(l) I(c(y, l))), estimate = num(est),
                 se = num(se), lower = num(est - crit * se), upper = num(est + crit * se),
                 statistic = num(tstat), df = num(rep(df, length(est))), p_value = num(p),
                 p_adjusted = num(p.adjust(p, adjust)))
  add_case(id, "compare", data, spec,
           list(y = y, by = by, method = method, reference = reference,
                adjust = if (adjust == "none") NULL else adjust, level = level),
           result, replicate = replicate)
}

case_compare("compare_apiclus1_api00_stype_holm", "apiclus1", S_CLUS1, "api00", "stype",
             adjust = "holm")
case_compare("compare_apistrat_schwide01_stype_reference_bonferroni", "apistrat", S_STRAT,
             "sch_wide01", "stype", method = "reference", reference = "M",
             adjust = "bonferroni")
case_compare("compare_synth_ms_y_size_class", "synth_ms", S_MS, "y", "size_class",
             level = 0.9)
case_compare("compare_apiclus1_jk1_api00_stype_holm", "apiclus1", S_CLUS1, "api00", "stype",
             adjust = "holm", replicate = "jk1")


## ---------------------------------------------------------------------------
## Tables: svytable, svyby(~row, ~col, svytotal), svyby(~row, ~col, svymean)
## ---------------------------------------------------------------------------

## One entry per (row level, col level): count (svytotal of the row level within
## the column level) and its SE, share and its SE.  shares = "col": svyby(~row,
## ~col, svymean); "row": svyby(~col, ~row, svymean); "total": svymean of the
## interaction.
case_table <- function(id, data, spec, row, col = NULL, shares = "col", replicate = NULL) {
  des <- make_design(data, spec, replicate)
  mf <- model.frame(des)
  rl <- levels(mf[[row]])
  if (is.null(col)) {
    tot <- svytotal(reformulate(row), des)
    mn <- svymean(reformulate(row), des)
    check_close(coef(tot), as.numeric(svytable(reformulate(row), des)), paste(id, "svytable"))
    result <- list(labels = lapply(rl, function(r) I(r)), count = num(coef(tot)),
                   count_se = num(SE(tot)), share = num(coef(mn)), share_se = num(SE(mn)))
  } else {
    cl <- levels(mf[[col]])
    cells <- expand.grid(r = rl, c = cl, stringsAsFactors = FALSE)  # row level fastest
    tot <- svyby(reformulate(row), reformulate(col), des, svytotal)
    ## svyby's coefficients run over the row level (outer) and column level (inner)
    tot_est <- t(matrix(coef(tot), nrow = length(cl)))
    tot_se <- t(matrix(as.numeric(as.matrix(SE(tot))), nrow = length(cl)))
    check_close(tot_est, unclass(svytable(reformulate(c(row, col)), des)),
                paste(id, "svytable"))
    if (shares == "col") {
      mn <- svyby(reformulate(row), reformulate(col), des, svymean)
      sh <- t(matrix(coef(mn), nrow = length(cl)))
      sh_se <- t(matrix(as.numeric(as.matrix(SE(mn))), nrow = length(cl)))
    } else if (shares == "row") {
      mn <- svyby(reformulate(col), reformulate(row), des, svymean)
      sh <- matrix(coef(mn), nrow = length(rl))
      sh_se <- matrix(as.numeric(as.matrix(SE(mn))), nrow = length(rl))
    } else {
      mf_int <- interaction(mf[[row]], mf[[col]])
      des2 <- update(des, .cell = interaction(get(row), get(col)))
      mn <- svymean(~.cell, des2)
      sh <- matrix(coef(mn), nrow = length(rl))
      sh_se <- matrix(SE(mn), nrow = length(rl))
      stopifnot(length(levels(mf_int)) == length(rl) * length(cl))
    }
    result <- list(labels = lapply(seq_len(nrow(cells)),
                                   function(i) I(c(cells$r[i], cells$c[i]))),
                   count = num(tot_est), count_se = num(tot_se),
                   share = num(sh), share_se = num(sh_se))
  }
  add_case(id, "table", data, spec, list(row = row, col = col, shares = shares), result,
           replicate = replicate)
}

case_table("table_apistrat_schwide_stype_col", "apistrat", S_STRAT, "sch.wide", "stype")
case_table("table_apistrat_schwide_stype_total", "apistrat", S_STRAT, "sch.wide", "stype",
           shares = "total")
case_table("table_apiclus1_schwide_stype_row", "apiclus1", S_CLUS1, "sch.wide", "stype",
           shares = "row")
case_table("table_apiclus2_stype_oneway", "apiclus2", S_CLUS2, "stype")
case_table("table_synth_ms_cat3_sector_col", "synth_ms", S_MS, "cat3", "sector")
case_table("table_apiclus1_jk1_schwide_stype_col", "apiclus1", S_CLUS1, "sch.wide", "stype",
           replicate = "jk1")


## ---------------------------------------------------------------------------
## The same estimate from two independent samples: difference, se, Satterthwaite df
## ---------------------------------------------------------------------------

## est_a - est_b with vcov V_a + V_b; df per entry
## (v_a + v_b)^2 / (v_a^2 / df_a + v_b^2 / df_b), df of each entry the degf of
## its (domain) design.
case_compare_surveys <- function(id, data_a, spec_a, data_b, spec_b, y, by = NULL) {
  one <- function(data, spec) {
    des <- make_design(data, spec)
    if (is.null(by)) {
      st <- svymean(reformulate(y), des)
      df <- rep(degf(des), length(coef(st)))
    } else {
      st <- svyby(reformulate(y), reformulate(by), des, svymean, covmat = TRUE)
      mf <- model.frame(des)
      df <- vapply(names(coef(st)), function(d) degf(des[mf[[by]] == d, ]), 0)
    }
    list(est = coef(st), V = as.matrix(vcov(st)), df = df)
  }
  a <- one(data_a, spec_a)
  b <- one(data_b, spec_b)
  stopifnot(identical(names(a$est), names(b$est)))
  V <- a$V + b$V
  va <- diag(a$V)
  vb <- diag(b$V)
  df <- (va + vb)^2 / (va^2 / a$df + vb^2 / b$df)
  result <- list(labels = lapply(names(a$est), function(l) I(l)),
                 estimate = num(a$est - b$est), se = num(sqrt(diag(V))), vcov = unname(V),
                 df = num(df))
  add_case(id, "compare_surveys", data_a, spec_a,
           list(y = I(y), by = by, data_b = data_b, design_b = design_json(spec_b)), result)
}

case_compare_surveys("compare_surveys_apistrat_apiclus1_api00_by_stype", "apistrat", S_STRAT,
                     "apiclus1", S_CLUS1, "api00", by = "stype")
case_compare_surveys("compare_surveys_apiclus2_apiclus1_api00_api99", "apiclus2", S_CLUS2,
                     "apiclus1", S_CLUS1, c("api00", "api99"))


## ---------------------------------------------------------------------------
## Output
## ---------------------------------------------------------------------------

write_cases(CASES, "tests", "tests/reference/make_tests.R", t_start)
