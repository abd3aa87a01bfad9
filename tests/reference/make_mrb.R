## Reference draws of Preston's multistage rescaled bootstrap (R's
## as.svrepdesign(type = "mrbbootstrap"), survey's mrbweights) for innobaro's
## mrb_bootstrap (innobaro/replicate_weights.py).
##
## Run from the repository root:
##     Rscript tests/reference/make_mrb.R
##
## Reads  tests/reference/data/apiclus2.csv  (two-stage cluster sample, fpc at both
##                                           stages; written by make_reference.R)
##        tests/reference/data/synth_ms.csv  (stratified two-stage sample, fpc at
##                                           both stages, PSU ids nested in strata)
## Writes tests/reference/mrb.json, one entry per design:
##   - values: for each row, the distinct multipliers R's replicates give it
##     (rounded to 10 significant digits): the set of values the rescaling
##     factors of each stage can combine to, which does not depend on R's
##     random numbers and which innobaro must reproduce;
##   - totals: each variable's replicate totals (B replicates), from which the
##     Python test takes R's bootstrap variance and its Monte Carlo error;
##   - the linearised (without-replacement multistage) total and variance.
##
## R's random numbers cannot be matched: the Python test compares distributions
## (variance of the replicate totals within Monte Carlo error), not draws.
## Fixed seed and RNG kind: the output is the same on every run.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})
source(file.path("tests", "reference", "common.R"))
t_start <- Sys.time()
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(4242)
B <- 1500

cases <- list()
add <- function(id, data_name, spec, des, vars) {
  rep <- as.svrepdesign(des, type = "mrbbootstrap", replicates = B)
  mult <- as.matrix(rep$repweights)
  if (!isTRUE(all.equal(dim(mult), c(nrow(des$variables), B)))) stop("shape ", id)
  if (abs(rep$scale - 1) > 0 || any(abs(rep$rscales - 1 / (B - 1)) > 1e-15)) stop("scales ", id)
  values <- lapply(seq_len(nrow(mult)), function(i) {
    I(sort(unique(signif(mult[i, ], 10))))
  })
  fw <- weights(des)
  totals <- list()
  lin <- list()
  for (v in vars) {
    y <- des$variables[[v]]
    totals[[v]] <- I(as.numeric(crossprod(mult * fw, y)))
    tt <- svytotal(reformulate(v), des)
    st <- svytotal(reformulate(v), rep)
    ## R's own replicate variance equals the variance of these totals
    if (abs(as.numeric(vcov(st)) - var(totals[[v]])) > 1e-8 * var(totals[[v]])) {
      stop("replicate variance ", id, " ", v)
    }
    lin[[v]] <- list(total = unname(coef(tt)), variance = unname(as.numeric(vcov(tt))))
  }
  cases[[length(cases) + 1]] <<- list(id = id, data = data_name, design = spec,
                                      replicates = B, values = values,
                                      totals = totals, linearized = lin)
}

api <- read_data("apiclus2")
spec <- dspec(psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
add("apiclus2", "apiclus2", spec, build_design(api, spec), c("api00", "meals"))

ms <- read_data("synth_ms")
spec_ms <- dspec(strata = "stratum", psu = c("municipality", "unit"), fpc = c("N1", "N2"),
                 nest = TRUE)
add("synth_ms", "synth_ms", spec_ms, build_design(ms, spec_ms), c("y", "x"))

write_cases(cases, "mrb", "tests/reference/make_mrb.R", t_start,
            extra = list(replicates = B))
