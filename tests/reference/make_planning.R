## Reference numbers for innobaro.planning and innobaro.selection.
## Writes tests/reference/planning.json, one entry per case:
## - "inclusionprobabilities": sampling::inclusionprobabilities(size, n) -> pik
## - "systematic_pi2": sampling::UPsystematicpi2(pik) -> pi2 (exact joint probabilities)
## - "sampford_pi2": sampling::UPsampfordpi2(pik) -> pi2 (exact; the Python test checks
##   innobaro's Sampford selection against them by simulation)
## - "size_mean", "size_proportion", "size_difference": sample sizes from the published
##   formulas (Cochran 1977, eq. 4.1-4.3; Valliant, Dever and Kreuter 2018, sec. 3.1 and
##   4.4), computed here in base R: R has no sample-size function in the packages CI
##   installs (PracTools is not among them). `gross` = ceiling(net / response_rate).
## Run from the repository root: Rscript tests/reference/make_planning.R
source(file.path("tests", "reference", "common.R"))
suppressPackageStartupMessages({
  library(jsonlite)
  library(sampling)
})
t_start <- Sys.time()
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20)

cases <- list()
add <- function(case) {
  ids <- vapply(cases, function(c) c$id, "")
  if (case$id %in% ids) stop("duplicate id ", case$id)
  cases[[length(cases) + 1]] <<- case
}

## inclusion probabilities, with and without certainty units
sizes <- list(
  small = c(1, 2, 3, 4, 5, 6, 7, 8),
  certainty = c(1, 2, 3, 4, 5, 60, 7, 8, 40, 2),
  lognormal = round(rlnorm(40, 0, 1.5), 4),
  zeros = c(0, 3, 0, 5, 9, 1, 2, 0, 4)
)
ns <- c(small = 3, certainty = 4, lognormal = 10, zeros = 3)
for (nm in names(sizes)) {
  pik <- inclusionprobabilities(sizes[[nm]], ns[[nm]])
  if (abs(sum(pik) - ns[[nm]]) > 1e-9) stop("pik does not sum to n for ", nm)
  add(list(id = paste0("inclusionprobabilities_", nm), kind = "inclusionprobabilities",
           size = sizes[[nm]], n = ns[[nm]], pik = pik))
}

## exact joint probabilities of systematic and Sampford selection
for (nm in c("small", "certainty")) {
  pik <- inclusionprobabilities(sizes[[nm]], ns[[nm]])
  pi2 <- UPsystematicpi2(pik)
  if (max(abs(diag(pi2) - pik)) > 1e-9) stop("systematic pi2 diagonal")
  add(list(id = paste0("systematic_pi2_", nm), kind = "systematic_pi2", pik = pik,
           pi2 = unname(pi2)))
}
pik <- inclusionprobabilities(sizes$small, 3)
pi2 <- UPsampfordpi2(pik)
if (max(abs(rowSums(pi2) - diag(pi2) - 2 * pik)) > 1e-9) stop("Sampford pi2 margins")
add(list(id = "sampford_pi2_small", kind = "sampford_pi2", pik = pik, pi2 = unname(pi2)))
pik <- inclusionprobabilities(c(3, 8, 2, 9, 4, 7, 1, 6, 5, 10, 2.5, 4.5), 5)
pi2 <- UPsampfordpi2(pik)
if (max(abs(rowSums(pi2) - diag(pi2) - 4 * pik)) > 1e-9) stop("Sampford pi2 margins")
add(list(id = "sampford_pi2_n5", kind = "sampford_pi2", pik = pik, pi2 = unname(pi2)))

## sample sizes from the published formulas
z <- function(level) qnorm(1 - (1 - level) / 2)
size_n <- function(S2, V0, deff, N) {
  n0 <- deff * S2 / V0
  if (is.null(N)) n0 else n0 / (1 + n0 / N)
}
gross <- function(net, rr) ceiling(net / rr - 1e-9)
mean_cases <- list(
  list(id = "size_mean_moe", sd = 10, moe = 1, level = 0.95, deff = 1, rr = 1),
  list(id = "size_mean_moe_fpc", sd = 12.5, moe = 0.8, level = 0.9, N = 4000, deff = 1.7,
       rr = 0.55),
  list(id = "size_mean_cv_fpc", sd = 10, cv = 0.05, mean = 50, N = 1000, deff = 1.5,
       rr = 0.6, level = 0.95)
)
for (cs in mean_cases) {
  V0 <- if (!is.null(cs$moe)) (cs$moe / z(cs$level))^2 else (cs$cv * cs$mean)^2
  net <- size_n(cs$sd^2, V0, cs$deff, cs$N)
  add(c(list(kind = "size_mean"), cs, list(net = net, gross = gross(net, cs$rr))))
}
prop_cases <- list(
  list(id = "size_proportion_moe", p = 0.5, moe = 0.03, level = 0.95, deff = 1, rr = 1),
  list(id = "size_proportion_moe_fpc", p = 0.23, moe = 0.05, level = 0.95, N = 850,
       deff = 1.4, rr = 0.45),
  list(id = "size_proportion_cv_fpc", p = 0.1, cv = 0.15, level = 0.95, N = 2000,
       deff = 2.1, rr = 0.5)
)
for (cs in prop_cases) {
  S2 <- cs$p * (1 - cs$p) * if (is.null(cs$N)) 1 else cs$N / (cs$N - 1)
  V0 <- if (!is.null(cs$moe)) (cs$moe / z(cs$level))^2 else (cs$cv * cs$p)^2
  net <- size_n(S2, V0, cs$deff, cs$N)
  add(c(list(kind = "size_proportion"), cs, list(net = net, gross = gross(net, cs$rr))))
}
diff_cases <- list(
  list(id = "size_difference_prop_power", p1 = 0.4, p2 = 0.5, power = 0.8, level = 0.95,
       overlap = 0, correlation = 0, deff = 1, rr = 1),
  list(id = "size_difference_prop_panel", p1 = 0.4, p2 = 0.5, power = 0.9, level = 0.95,
       overlap = 0.5, correlation = 0.6, deff = 1.3, rr = 0.7),
  list(id = "size_difference_mean_moe", sd1 = 8, sd2 = 11, moe = 1.5, level = 0.95,
       overlap = 0, correlation = 0, deff = 1.2, rr = 0.8)
)
for (cs in diff_cases) {
  if (!is.null(cs$p1)) {
    s1 <- sqrt(cs$p1 * (1 - cs$p1)); s2 <- sqrt(cs$p2 * (1 - cs$p2)); delta <- cs$p2 - cs$p1
  } else {
    s1 <- cs$sd1; s2 <- cs$sd2
  }
  S2 <- s1^2 + s2^2 - 2 * cs$overlap * cs$correlation * s1 * s2
  net <- if (!is.null(cs$moe)) cs$deff * z(cs$level)^2 * S2 / cs$moe^2 else
    cs$deff * (z(cs$level) + qnorm(cs$power))^2 * S2 / delta^2
  add(c(list(kind = "size_difference"), cs, list(net = net, gross = gross(net, cs$rr))))
}

write_cases(cases, "planning", "tests/reference/make_planning.R", t_start,
            extra = list(sampling_version = as.character(packageVersion("sampling"))))
