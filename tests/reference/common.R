## Helpers shared by the reference scripts (make_*.R): where the data live, how
## they are written and read back, and the intervals and quantile rule the
## scripts compute. Each script sources this file from the repository root:
##     source(file.path("tests", "reference", "common.R"))

ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")

data_path <- function(name) file.path(data_dir, paste0(name, ".csv"))

write_data <- function(df, name) {
  write.csv(df, data_path(name), row.names = FALSE, na = "")
}

## Read a dataset back; character columns become factors with levels in C-locale
## (code point) order, which is also Python's sort order. Every number is
## computed from the CSV as read back, so R and the Python tests see the same
## decimal inputs.
read_data <- function(name) {
  if (!file.exists(data_path(name))) {
    stop(data_path(name), " is missing: run Rscript tests/reference/make_reference.R first")
  }
  df <- read.csv(data_path(name), stringsAsFactors = FALSE, check.names = FALSE,
                 na.strings = "")
  for (col in names(df)) {
    if (is.character(df[[col]])) {
      df[[col]] <- factor(df[[col]], levels = sort(unique(df[[col]]), method = "radix"))
    }
  }
  df
}

## The start of a script that reads tests/reference/data: stop unless run from the
## repository root; survey's strict options (a lonely PSU is an error, no domain
## or ultimate-cluster adjustment) and warnings as they happen. Returns the start
## time, which write_cases reports.
start_script <- function(script) {
  if (!dir.exists(data_dir)) {
    stop("run this script from the repository root: Rscript ", file.path(ref_dir, script))
  }
  options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
          survey.ultimate.cluster = FALSE)
  Sys.time()
}

## t and normal intervals estimate -/+ crit * se (NaN where df = 0, as R's confint)
t_interval <- function(est, se, df, level) {
  crit <- suppressWarnings(qt(1 - (1 - level) / 2, df))
  list(lower = est - crit * se, upper = est + crit * se)
}

z_interval <- function(est, se, level) {
  crit <- qnorm(1 - (1 - level) / 2)
  list(lower = est - crit * se, upper = est + crit * se)
}

## The quantile rule is survey's qrule "math" (the weighted inverse of the
## distribution function, Hyndman and Fan type 1) with one correction, which
## innobaro makes deliberately: survey's qrule_math returns the SECOND smallest
## value when p is below the smallest value's weight share (its position
## search falls back to index 1 and then steps to the next value), whereas the
## definition min{x : F(x) >= p} gives the smallest. It matters for p = 0 and
## for Woodruff lower limits in small domains. svyquantile takes the rule as a
## function, so everything else (Woodruff interval, df, se) is survey's own.
qrule_definition <- function(x, w, p) {
  if (any(zero <- w == 0)) { w <- w[!zero]; x <- x[!zero] }
  ii <- order(x)
  x <- x[ii]
  cumw <- cumsum(w[ii])
  W <- sum(w)
  below <- which(cumw <= p * W)
  if (!length(below)) return(x[1])
  pos <- max(below)
  posnext <- if (pos == length(x)) pos else pos + 1
  if (p - cumw[pos] / W == 0) x[pos] else x[posnext]
}

## The api datasets' yes/no flags as 0/1 columns (sch_wide01, awards01).
add_api_flags <- function(df) {
  df$sch_wide01 <- as.numeric(df$sch.wide == "Yes")
  df$awards01 <- as.numeric(df$awards == "Yes")
  df
}

## A design specification, exactly as written to the JSON file.
dspec <- function(weights = NULL, probs = NULL, strata = NULL, psu = NULL, fpc = NULL,
                  nest = FALSE, lonely_psu = "fail") {
  list(weights = weights, probs = probs, strata = strata, psu = psu, fpc = fpc,
       nest = nest, lonely_psu = lonely_psu)
}

## The domain {column, value} of a case (rows with a missing value are out).
subset_design <- function(des, subset) {
  if (is.null(subset)) return(des)
  keep <- des$variables[[subset$column]] == subset$value
  des[!is.na(keep) & keep, ]
}

## Variable labels: numeric -> column name, factor -> "col[level]" per level;
## `rnames` are the names R gives the same coefficients, checked against.
var_labels <- function(des, y) {
  mf <- model.frame(des)
  lab <- character(0)
  rnames <- character(0)
  for (v in y) {
    if (is.factor(mf[[v]])) {
      lev <- levels(mf[[v]])
      lab <- c(lab, sprintf("%s[%s]", v, lev))
      rnames <- c(rnames, paste0(v, lev))
    } else {
      lab <- c(lab, v)
      rnames <- c(rnames, v)
    }
  }
  list(labels = lab, rnames = rnames)
}

## An estimator call of a case, as written to the JSON file.
new_call <- function(fn, y, denominator = NULL, by = NULL, subset = NULL, na_rm = FALSE,
                     method = NULL, q = NULL, level = 0.95) {
  list(fn = fn, y = I(y), denominator = if (is.null(denominator)) NULL else I(denominator),
       by = if (is.null(by)) NULL else I(by), subset = subset, na_rm = na_rm,
       method = method, q = if (is.null(q)) NULL else I(q), level = level)
}

## A case's result object; vectors are wrapped in I() so length-1 vectors stay
## arrays. Design effects are given by the linearisation scripts only.
make_result <- function(labels, estimate, se, vcov, lower, upper, lower_normal, upper_normal,
                        df, extra = list(), deff = NULL, deff_replace = NULL) {
  num <- function(v) if (is.null(v)) NULL else I(unname(as.numeric(v)))
  res <- list(labels = lapply(labels, function(l) I(as.character(l))),
              estimate = num(estimate), se = num(se),
              vcov = if (is.null(vcov)) NULL else unname(as.matrix(vcov)),
              lower = num(lower), upper = num(upper),
              lower_normal = num(lower_normal), upper_normal = num(upper_normal),
              deff = num(deff), deff_replace = num(deff_replace), df = num(df))
  for (k in names(extra)) res[[k]] <- num(extra[[k]])
  res
}

## Write a script's cases to tests/reference/<name>.json, after a header with
## the script, the R and survey versions and any `extra` fields; numbers at
## full precision, non-finite ones as null.
write_cases <- function(cases, name, script, t_start, extra = list()) {
  out <- c(list(generated_by = script, R_version = R.version.string,
                survey_version = as.character(packageVersion("survey"))),
           extra, list(cases = cases))
  path <- file.path(ref_dir, paste0(name, ".json"))
  jsonlite::write_json(out, path, digits = NA, auto_unbox = TRUE, pretty = TRUE,
                       null = "null", na = "null")
  message(sprintf("wrote %d cases to %s in %.1f s", length(cases), path,
                  as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
}

## JSON form: one column -> string, several columns -> list (or keep an I() list).
json_cols <- function(x) if (is.null(x) || inherits(x, "AsIs") || length(x) == 1) x else I(x)

## A number vector as written to the JSON file: unnamed, and an array even at length 1.
num <- function(v) I(unname(as.numeric(v)))

## A design specification (dspec) in the JSON file's form.
design_json <- function(spec) {
  list(weights = spec$weights, probs = spec$probs, strata = json_cols(spec$strata),
       psu = json_cols(spec$psu), fpc = json_cols(spec$fpc), nest = spec$nest,
       lonely_psu = spec$lonely_psu)
}

## The design of a case: the svydesign of `df`, then replicate weights
## (as.svrepdesign of type REP_TYPES[[replicate]]), then the domain (subset), the
## order the Python tests follow.
REP_TYPES <- c(jk1 = "JK1", jkn = "JKn")
case_design <- function(df, spec, replicate = NULL, subset = NULL) {
  des <- build_design(df, spec)
  if (!is.null(replicate)) des <- as.svrepdesign(des, type = REP_TYPES[[replicate]])
  subset_design(des, subset)
}

## Build the svydesign object.
##  * two strata columns: R would use column k as the stratum of stage k, so the
##    combined stratum interaction(s1, s2) is built here instead;
##  * fewer fpc columns than stages: the missing stages get fpc = Inf, i.e. they
##    are sampled with replacement (what survey >= 4.2 does itself, with a warning).
build_design <- function(data, spec) {
  d <- data
  strata_f <- NULL
  if (length(spec$strata) == 1) {
    strata_f <- reformulate(spec$strata)
  } else if (length(spec$strata) > 1) {
    d$.stratum <- interaction(d[spec$strata], drop = TRUE, sep = ".")
    strata_f <- ~.stratum
  }
  ids_f <- if (is.null(spec$psu)) ~1 else reformulate(spec$psu)
  fpc_f <- NULL
  if (!is.null(spec$fpc)) {
    fpc_cols <- as.character(spec$fpc)
    n_stages <- max(1, length(spec$psu))
    while (length(fpc_cols) < n_stages) {
      col <- paste0(".fpc_inf", length(fpc_cols) + 1)
      d[[col]] <- Inf
      fpc_cols <- c(fpc_cols, col)
    }
    fpc_f <- reformulate(fpc_cols)
  }
  weights_f <- if (is.null(spec$weights)) NULL else reformulate(spec$weights)
  probs_f <- if (is.null(spec$probs)) NULL else reformulate(spec$probs)
  svydesign(ids = ids_f, strata = strata_f, weights = weights_f, probs = probs_f,
            fpc = fpc_f, nest = spec$nest, data = d)
}
