## Reference numbers for innobaro's unequal-probability designs without
## replacement (ib.Design(pps=...), innobaro/variance/pps.py and the Brewer
## stage factors in innobaro/variance/linearization.py).
##
## Run from the repository root:
##     Rscript tests/reference/make_pps.R
##
## Writes tests/reference/data/election_pps.csv        (survey's election_pps: 40
##                                                       counties drawn with
##                                                       probability p, R's ?ppsmat
##                                                       and tests/pps.R example)
##        tests/reference/data/election_jointprob.csv  (survey's election_jointprob,
##                                                       the 40 x 40 joint inclusion
##                                                       probabilities, no header)
##        tests/reference/data/pps_apistrat.csv        (apistrat with a made-up
##                                                       inclusion probability
##                                                       proportional to enrolment
##                                                       within school type)
##        tests/reference/data/pps_apiclus2.csv        (apiclus2 with district
##                                                       probabilities proportional to
##                                                       their number of schools and
##                                                       R's tests/pps.R school
##                                                       probabilities)
##        tests/reference/data/pps_pairs.csv           (16 made-up units in 2 strata,
##                                                       some pairs' probabilities
##                                                       adding up to exactly 1)
##        tests/reference/pps.json                     one entry per design and
##                                                       statistic: the design's
##                                                       arguments, the call, R's
##                                                       estimate, covariance and degf
##
## R functions covered: svydesign(pps = "brewer", "overton", HR(psum), HR(),
## ppsmat(joint), variance = "HT" / "YG") with svytotal, svymean, svyratio, svyby,
## subset, svyglm (gaussian and quasibinomial), calibrate (a factor, i.e.
## post-stratification: R 4.1's postStratify refuses its pps designs) and degf;
## postStratify of a Brewer design. survey 4.1's ppsvar ignores calibration
## residuals (a bug fixed later): see ppsvar_corrected below. Every number is computed from the CSV as read
## back; pps_pairs draws its variables with a fixed seed and RNG kind.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(17)
t_start <- start_script("make_pps.R")

## survey 4.1's ppsvar computes the calibration residuals of the influence values
## (into a variable y) and then uses the values before calibration, so calibrate()
## on an Overton, Hartley-Rao or ppsmat design changes the weights but not the
## variance formula; later versions (survey 4.5's R/pps.R) use the residuals. The
## reference numbers are those of the corrected rule: the same function with the
## residuals used, put in survey's namespace for this script only. (Brewer designs
## are survey.design2 objects and use svyrecvar, which was always right.)
ppsvar_corrected <- function(x, design) {
  for (psvar in design$postStrata) {
    if (!inherits(psvar, "greg_calibration") || psvar$stage != 0) stop("not used here")
    x <- qr.resid(psvar$qr, x / psvar$w) * psvar$w
  }
  dcheck <- design$dcheck[[1]]
  xcheck <- rowsum(x, dcheck$id, reorder = FALSE)
  switch(design$variance,
         HT = survey:::htvar.matrix(xcheck, dcheck$dcheck),
         YG = survey:::ygvar.matrix(xcheck, dcheck$dcheck))
}
assignInNamespace("ppsvar", ppsvar_corrected, ns = "survey")

## ---------------------------------------------------------------------- data
data(election, package = "survey")
el <- election_pps[, c("County", "TotPrecincts", "Bush", "Kerry", "Nader", "votes", "p",
                       "wt")]
el$County <- as.character(el$County)
el$nader_any <- ifelse(el$Nader > 0, "yes", "no")
el$kerry_win <- as.numeric(el$Kerry > el$Bush)
write_data(el, "election_pps")
write.table(unname(election_jointprob), data_path("election_jointprob"), sep = ",",
            row.names = FALSE, col.names = FALSE)

api <- read_data("apistrat")
n_h <- c(E = 100, H = 50, M = 50)
## proportional to the number of students tested (api.stu), not to a variable analysed
api$ppsprob <- round(n_h[as.character(api$stype)] / api$fpc *
                     api$api.stu / ave(api$api.stu, api$stype), 8)
## R 4.1's overton2Dcheck and HRDcheck need numeric strata (ave() of a factor fails)
api$scode <- as.integer(factor(api$stype))
api <- api[, c("snum", "stype", "scode", "api00", "api99", "enroll", "ell", "meals", "awards",
               "sch_wide01", "ppsprob")]
write_data(api, "pps_apistrat")

cl <- read_data("apiclus2")
size <- ave(cl$fpc2, cl$dnum, FUN = function(v) v[1])
dsize <- tapply(cl$fpc2, cl$dnum, function(v) v[1])
cl$p1 <- round(pmin(0.9, 40 * size / (757 * mean(dsize))), 8)
cl$p2 <- round(pmin(1, 5 / cl$fpc2), 8)
cl <- cl[, c("dnum", "snum", "stype", "api00", "api99", "enroll", "ell",
                              "meals", "sch_wide01", "p1", "p2", "fpc1", "fpc2")]
write_data(cl, "pps_apiclus2")

## a small design whose probabilities add up to exactly 1 in some pairs of a
## stratum (0.5 + 0.5, 0.25 + 0.75, 0.3 + 0.7): R's HRDcheck sets those pairs'
## Delta to zero, which innobaro keeps
pairs <- data.frame(s = rep(1:2, each = 8),
                    p = c(0.5, 0.5, 0.25, 0.75, 0.3, 0.7, 0.2, 0.45,
                          0.5, 0.15, 0.85, 0.4, 0.6, 0.35, 0.1, 0.5))
pairs$u <- round(10 + 20 * pairs$p + rnorm(16, 0, 2), 2)
pairs$y <- round(3 + 0.4 * pairs$u + rnorm(16, 0, 1.5), 2)
pairs$g <- rep(c("a", "b"), 8)
write_data(pairs, "pps_pairs")

el <- read_data("election_pps")
joint <- as.matrix(read.csv(data_path("election_jointprob"), header = FALSE))
dimnames(joint) <- NULL
api <- read_data("pps_apistrat")
cl <- read_data("pps_apiclus2")

## ------------------------------------------------------------------- designs
## each: R design, innobaro arguments (pps: a string, {"HR": psum or null} or
## {"ppsmat": csv name}), and the variables analysed
designs <- list()
add_design <- function(key, des, args, y, ratio, by, glm, glm_family, cal) {
  designs[[key]] <<- list(des = des, args = args, y = y, ratio = ratio, by = by, glm = glm,
                          glm_family = glm_family, cal = cal)
}
el_vars <- list(y = c("Bush", "Kerry", "Nader"), ratio = c("Kerry", "votes"),
                by = "nader_any", glm = "Kerry ~ Bush", glm_family = "gaussian",
                cal = "nader_any")
psum_el <- sum(election$p^2) / 40
el_designs <- list(
  el_brewer = list(svydesign(id = ~1, fpc = ~p, data = el, pps = "brewer"),
                   list(fpc = "p", pps = "brewer")),
  el_brewer_w = list(svydesign(id = ~1, weights = ~wt, fpc = ~p, data = el, pps = "brewer"),
                     list(weights = "wt", fpc = "p", pps = "brewer")),
  el_overton = list(svydesign(id = ~1, fpc = ~p, data = el, pps = "overton"),
                    list(fpc = "p", pps = "overton")),
  el_overton_yg = list(svydesign(id = ~1, fpc = ~p, data = el, pps = "overton",
                                 variance = "YG"),
                       list(fpc = "p", pps = "overton", variance = "YG")),
  el_hr = list(svydesign(id = ~1, fpc = ~p, data = el, pps = HR(psum_el)),
               list(fpc = "p", pps = list(HR = psum_el))),
  el_hr_yg = list(svydesign(id = ~1, fpc = ~p, data = el, pps = HR(psum_el), variance = "YG"),
                  list(fpc = "p", pps = list(HR = psum_el), variance = "YG")),
  el_hr1 = list(svydesign(id = ~1, fpc = ~p, data = el, pps = HR()),
                list(fpc = "p", pps = list(HR = NULL))),
  el_ht = list(svydesign(id = ~1, fpc = ~p, data = el, pps = ppsmat(joint)),
               list(fpc = "p", pps = list(ppsmat = "election_jointprob"))),
  el_yg = list(svydesign(id = ~1, fpc = ~p, data = el, pps = ppsmat(joint), variance = "YG"),
               list(fpc = "p", pps = list(ppsmat = "election_jointprob"), variance = "YG")),
  el_ht_probs = list(svydesign(id = ~1, probs = ~p, data = el, pps = ppsmat(joint)),
                     list(probs = "p", pps = list(ppsmat = "election_jointprob")))
)
for (key in names(el_designs)) {
  x <- el_designs[[key]]
  add_design(key, x[[1]], c(list(data = "election_pps"), x[[2]]), el_vars$y, el_vars$ratio,
             el_vars$by, el_vars$glm, el_vars$glm_family, el_vars$cal)
}

api_args <- list(data = "pps_apistrat", strata = "scode", fpc = "ppsprob")
api_designs <- list(
  api_brewer = list(svydesign(id = ~1, strata = ~scode, fpc = ~ppsprob, data = api,
                              pps = "brewer"), list(pps = "brewer")),
  api_overton = list(svydesign(id = ~1, strata = ~scode, fpc = ~ppsprob, data = api,
                               pps = "overton"), list(pps = "overton")),
  api_overton_yg = list(svydesign(id = ~1, strata = ~scode, fpc = ~ppsprob, data = api,
                                  pps = "overton", variance = "YG"),
                        list(pps = "overton", variance = "YG")),
  api_hr1 = list(svydesign(id = ~1, strata = ~scode, fpc = ~ppsprob, data = api, pps = HR()),
                 list(pps = list(HR = NULL))),
  api_hr1_yg = list(svydesign(id = ~1, strata = ~scode, fpc = ~ppsprob, data = api,
                              pps = HR(), variance = "YG"),
                    list(pps = list(HR = NULL), variance = "YG"))
)
for (key in names(api_designs)) {
  x <- api_designs[[key]]
  add_design(key, x[[1]], c(api_args, x[[2]]), c("api00", "enroll"), c("api00", "api99"),
             "awards", "api00 ~ ell + meals", "gaussian", "awards")
}

pairs <- read_data("pps_pairs")
for (v in c("HT", "YG")) {
  add_design(paste0("pairs_hr1_", tolower(v)),
             svydesign(id = ~1, strata = ~s, fpc = ~p, data = pairs, pps = HR(), variance = v),
             list(data = "pps_pairs", strata = "s", fpc = "p", pps = list(HR = NULL),
                  variance = v),
             c("y", "u"), c("y", "u"), "g", "y ~ u", "gaussian", "g")
}

## two-stage Brewer: R's tests/pps.R design (equal district probabilities) and one
## with district probabilities proportional to size
add_design("clus2_brewer_equal",
           svydesign(id = ~dnum + snum, fpc = ~I(40 / fpc1) + p2, data = cl, pps = "brewer"),
           list(data = "pps_apiclus2", psu = c("dnum", "snum"), fpc = c("p1eq", "p2"),
                pps = "brewer", derive = list(p1eq = "40 / fpc1")),
           c("api00", "api99"), c("api00", "api99"), "stype", "sch_wide01 ~ ell + meals",
           "quasibinomial", "stype")
add_design("clus2_brewer",
           svydesign(id = ~dnum + snum, fpc = ~p1 + p2, data = cl, pps = "brewer"),
           list(data = "pps_apiclus2", psu = c("dnum", "snum"), fpc = c("p1", "p2"),
                pps = "brewer"),
           c("api00", "api99"), c("api00", "api99"), "stype", "sch_wide01 ~ ell + meals",
           "quasibinomial", "stype")

## ------------------------------------------------------------------- results
mat <- function(v) unname(as.matrix(v))
entry <- function(key, stat, call, est, vc, df, extra = list()) {
  c(list(design = key, args = designs[[key]]$args, stat = stat, call = call,
         estimate = unname(as.numeric(est)), vcov = I(mat(vc)), df = df), extra)
}
cases <- list()
for (key in names(designs)) {
  x <- designs[[key]]
  des <- x$des
  fy <- as.formula(paste("~", paste(x$y, collapse = "+")))
  tot <- svytotal(fy, des)
  cases[[length(cases) + 1]] <- entry(key, "total", deparse(fy), coef(tot), vcov(tot),
                                      degf(des), list(y = x$y))
  mn <- svymean(fy, des)
  cases[[length(cases) + 1]] <- entry(key, "mean", deparse(fy), coef(mn), vcov(mn),
                                      degf(des), list(y = x$y))
  rt <- svyratio(as.formula(paste("~", x$ratio[1])), as.formula(paste("~", x$ratio[2])), des)
  cases[[length(cases) + 1]] <- entry(key, "ratio", paste(x$ratio, collapse = "/"),
                                      coef(rt), vcov(rt), degf(des),
                                      list(numerator = x$ratio[1], denominator = x$ratio[2]))
  fb <- as.formula(paste("~", x$by))
  ## (svyby's covmat = TRUE fails on R 4.1's pps class: the variances only)
  by_mean <- svyby(as.formula(paste("~", x$y[1])), fb, des, svymean)
  cases[[length(cases) + 1]] <- entry(key, "by_mean", paste(x$y[1], "by", x$by),
                                      coef(by_mean), diag(SE(by_mean)^2, nrow(by_mean)),
                                      degf(des),
                                      list(y = x$y[1], by = x$by,
                                           levels = as.character(by_mean[[x$by]])))
  lev <- levels(factor(des$variables[[x$by]]))
  for (l in lev[1]) {
    sub <- subset(des, des$variables[[x$by]] == l)
    st <- svytotal(fy, sub)
    cases[[length(cases) + 1]] <- entry(key, "subset_total", paste("subset", x$by, "==", l),
                                        coef(st), vcov(st), degf(sub),
                                        list(y = x$y, column = x$by, level = l))
  }
  fam <- if (x$glm_family == "gaussian") gaussian() else quasibinomial()
  g <- svyglm(as.formula(x$glm), des, family = fam,
              control = glm.control(epsilon = 1e-12, maxit = 100))
  cases[[length(cases) + 1]] <- entry(key, "glm", x$glm, coef(g), vcov(g), g$df.residual,
                                      list(formula = x$glm, family = x$glm_family))
  ## post-stratification as calibration to the population counts of a factor
  ## (the counts: the design's own estimates times 1.1 and 0.95 in turn)
  cf <- as.formula(paste("~ 0 +", x$cal))
  counts <- svytotal(cf, des)
  pop <- round(coef(counts) * rep(c(1.1, 0.95), length.out = length(coef(counts))), 3)
  dcal <- calibrate(des, cf, pop)
  ct <- svytotal(fy, dcal)
  cm <- svymean(fy, dcal)
  cases[[length(cases) + 1]] <- entry(key, "poststratify_total", paste("calibrate", x$cal),
                                      coef(ct), vcov(ct), degf(dcal),
                                      list(y = x$y, column = x$cal,
                                           levels = sub(x$cal, "", names(coef(counts)),
                                                        fixed = TRUE),
                                           population = unname(pop),
                                           mean = unname(coef(cm)), mean_vcov = I(mat(vcov(cm)))))
}

## Brewer designs are survey.design2 objects: R's postStratify takes them directly
for (key in c("el_brewer", "api_brewer", "clus2_brewer")) {
  x <- designs[[key]]
  des <- x$des
  fy <- as.formula(paste("~", paste(x$y, collapse = "+")))
  counts <- svytotal(as.formula(paste("~ 0 +", x$cal)), des)
  lev <- levels(factor(des$variables[[x$cal]]))
  pop <- data.frame(lev, Freq = round(unname(coef(counts)) * c(1.1, 0.95, 1.05)[seq_along(lev)],
                                      3))
  names(pop)[1] <- x$cal
  dps <- postStratify(des, as.formula(paste("~", x$cal)), pop)
  pt <- svytotal(fy, dps)
  cases[[length(cases) + 1]] <- entry(key, "poststratify_ps", paste("postStratify", x$cal),
                                      coef(pt), vcov(pt), degf(dps),
                                      list(y = x$y, column = x$cal, levels = lev,
                                           population = pop$Freq))
}

## consistency: R's tests/pps.R -- the two-stage Brewer design with equal district
## probabilities agrees with the stratified two-stage without-replacement design
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = cl)
dclus2pps <- svydesign(id = ~dnum + snum, fpc = ~I(40 / fpc1) + I(pmin(1, 5 / fpc2)),
                       data = cl, pps = "brewer")
chk <- all.equal(svytotal(~api00, dclus2), svytotal(~api00, dclus2pps))
if (!isTRUE(chk)) stop("two-stage Brewer with equal probabilities differs from fpc: ", chk)

out <- list(script = "tests/reference/make_pps.R", r_version = R.version.string,
            survey_version = as.character(packageVersion("survey")), cases = cases)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = FALSE),
           file.path(ref_dir, "pps.json"))
message(length(cases), " cases in ", round(as.numeric(Sys.time() - t_start, units = "secs"), 1),
        " s")
