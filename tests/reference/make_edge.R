## Reference numbers for the degenerate cases of issue 12: aliased model
## columns, factor levels without rows, intercept-only models, replicate
## degrees of freedom with widely varying weights, svyttest under
## lonely.psu = "average", svyglm on replicates that lose a factor level, and
## quantiles at the top of the distribution on a replicate design.
##
## Run from the repository root:
##     Rscript tests/reference/make_edge.R
##
## Reads   innobaro/datasets/data/synthetic_barometer_2018.csv (the bundled data)
## Writes  tests/reference/data/edge_*.csv and tests/reference/edge.json
##
## GLMs use glm.control(epsilon = 1e-10, maxit = 100). R judges aliasing with
## a QR tolerance of min(1e-7, epsilon / 1000): at epsilon = 1e-10 that is
## 1e-13, which still finds the exact dependencies here, but at epsilon = 1e-14
## it is 1e-17, below rounding error, and R misses the aliasing of the
## barometer model and fits nonsense (the script checks that it does, so the
## note stays true). innobaro uses R's default tolerance, 1e-7, whatever its
## convergence tolerance.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})
if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_edge.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE,
        survey.drop.replicates = TRUE)
CTRL <- glm.control(epsilon = 1e-10, maxit = 100)

na_null <- function(x) { x <- as.numeric(x); lapply(x, function(v) if (is.na(v)) NULL else v) }

## svyglm leaves aliased coefficients out of coef() and vcov(); they are NA
## here, over the columns of the model matrix
glm_result <- function(m) {
  cols <- colnames(model.matrix(m))
  cf <- setNames(coef(m)[cols], cols)
  V <- vcov(m)  # estimable coefficients only
  list(terms = names(cf), coef = na_null(cf), aliased = is.na(as.numeric(cf)),
       se = na_null(ifelse(is.na(cf), NA, sqrt(diag(V))[match(names(cf), colnames(V))])),
       vcov = unname(V), df_resid = m$df.residual)
}

## A fit at epsilon = 1e-10 stops with relative errors up to about 1e-8; one
## more round of IRLS from its coefficients (the aliased ones at 0) converges
## quadratically, to rounding error, with the same aliasing.
polish <- function(m, f, design, family) {
  cols <- colnames(model.matrix(m))
  start <- setNames(coef(m)[cols], cols)
  start[is.na(start)] <- 0
  svyglm(f, design, family = family, control = CTRL, start = unname(start))
}

cases <- list()
add <- function(case) cases[[length(cases) + 1]] <<- case

## 1. the barometer with string columns: unit_type determines sector --------
baro <- read.csv("innobaro/datasets/data/synthetic_barometer_2018.csv", stringsAsFactors = FALSE)
for (col in c("sector", "unit_type")) {
  baro[[col]] <- factor(baro[[col]], levels = sort(unique(baro[[col]]), method = "radix"))
}
dbaro <- svydesign(ids = ~1, strata = ~stratum, weights = ~final_weight, data = baro)
m1 <- svyglm(innovated ~ sector + unit_type, dbaro, family = quasibinomial(), control = CTRL)
m1 <- polish(m1, innovated ~ sector + unit_type, dbaro, quasibinomial())
stopifnot(length(coef(m1)) < ncol(model.matrix(m1)))
m1_tight <- suppressWarnings(svyglm(innovated ~ sector + unit_type, dbaro,
                                    family = quasibinomial(),
                                    control = glm.control(epsilon = 1e-14, maxit = 100)))
stopifnot(length(coef(m1_tight)) == ncol(model.matrix(m1_tight)))  # R misses the aliasing at epsilon = 1e-14
add(list(id = "barometer_aliased", data = "barometer",
         design = list(weights = "final_weight", strata = "stratum"),
         call = list(fn = "glm", formula = "innovated ~ sector + unit_type",
                     family = "binomial", subset = NULL),
         result = glm_result(m1),
         note = "svyglm(epsilon = 1e-10); at epsilon = 1e-14 R misses the aliasing"))

## 2. a domain in which some levels of a factor have no rows ----------------
m2 <- svyglm(innovated ~ unit_type + log(employees), subset(dbaro, sector == "education"),
             family = quasibinomial(), control = CTRL)
m2 <- polish(m2, innovated ~ unit_type + log(employees), subset(dbaro, sector == "education"),
             quasibinomial())
## glm's model.frame drops the levels without rows (drop.unused.levels), so
## the reference level is the domain's first level and nothing is aliased
stopifnot(nlevels(model.frame(m2)$unit_type) == 3)
add(list(id = "barometer_domain_empty_levels", data = "barometer",
         design = list(weights = "final_weight", strata = "stratum"),
         call = list(fn = "glm", formula = "innovated ~ unit_type + np.log(employees)",
                     family = "binomial", subset = list(column = "sector", value = "education")),
         result = glm_result(m2)))

## 3. a factor level only in rows whose response is missing (as R survey's
## tests/na_action.R: pseudo is missing whenever times == 14) -----------------
set.seed(20261203)
n <- 120
na_df <- data.frame(psu = rep(1:30, each = 4), w = rep(runif(30, 1, 5), each = 4),
                    age34 = rbinom(n, 1, 0.4), ccr5 = rbinom(n, 1, 0.3),
                    times = sample(c(2, 6, 14), n, replace = TRUE))
na_df$pseudo <- 0.3 + 0.2 * na_df$age34 - 0.1 * na_df$ccr5 + rnorm(n, sd = 0.3)
na_df$pseudo[na_df$times == 14] <- NA
write_data(na_df, "edge_na_level")
na_df <- read_data("edge_na_level")
dna <- svydesign(ids = ~psu, weights = ~w, data = na_df)
m3 <- svyglm(pseudo ~ factor(times) + age34 + ccr5, dna, control = CTRL)
add(list(id = "na_level_only_in_missing_rows", data = "edge_na_level",
         design = list(weights = "w", psu = "psu"),
         call = list(fn = "glm", formula = "pseudo ~ C(times) + age34 + ccr5",
                     family = "gaussian", subset = NULL),
         result = glm_result(m3),
         note = "R drops the unused level 14 before building the model matrix"))

## 4. intercept-only models on a whole design --------------------------------
int_df <- data.frame(st = rep(1:3, each = 6), psu = 1:18, w = runif(18, 1, 4),
                     y = rnorm(18, 10), b = rbinom(18, 1, 0.4))
write_data(int_df, "edge_intercept")
int_df <- read_data("edge_intercept")
dint <- svydesign(ids = ~psu, strata = ~st, weights = ~w, data = int_df)
for (fam in c("gaussian", "binomial")) {
  f <- if (fam == "gaussian") y ~ 1 else b ~ 1
  family <- if (fam == "gaussian") gaussian() else quasibinomial()
  m <- polish(svyglm(f, dint, family = family, control = CTRL), f, dint, family)
  add(list(id = paste0("intercept_only_", fam), data = "edge_intercept",
           design = list(weights = "w", strata = "st", psu = "psu"),
           call = list(fn = "glm", formula = deparse(f), family = fam, subset = NULL),
           result = glm_result(m)))
}

## 5. replicate degrees of freedom with weights spanning four decades --------
H <- 17
wide <- data.frame(st = rep(1:H, each = 3))
wide$psu <- seq_len(nrow(wide))
wide$w <- rep(10^seq(0, 4, length.out = H), each = 3) * runif(nrow(wide), 0.9, 1.1)
wide$y <- rnorm(nrow(wide), 5)
rwide <- as.svrepdesign(svydesign(ids = ~psu, strata = ~st, weights = ~w, data = wide),
                        type = "JKn")
Wa <- weights(rwide, "analysis")
colnames(Wa) <- paste0("repw_", seq_len(ncol(Wa)))
write_data(cbind(wide, Wa), "edge_wide_jkn")
wide <- read_data("edge_wide_jkn")
rwide <- svrepdesign(data = wide, repweights = "repw_[0-9]+", weights = ~w, type = "JKn",
                     combined.weights = TRUE, rscales = rwide$rscales, scale = 1)
mw <- svymean(~y, rwide)
ci <- confint(mw, df = degf(rwide))
add(list(id = "replicate_df_wide_weights", data = "edge_wide_jkn",
         design = list(type = "replicate", weights = "w",
                       replicate_weights = colnames(Wa), method = "jkn",
                       rscales = rwide$rscales, scale = 1),
         call = list(fn = "mean", y = "y"),
         result = list(df = degf(rwide), estimate = unname(coef(mw)),
                       se = unname(SE(mw)), lower = ci[1], upper = ci[2])))

## 6. svyttest under lonely.psu = "average" ---------------------------------
avg_df <- data.frame(st = c(1, 1, 1, 2, 2, 2, 2, 3), psu = 1:8,
                     w = c(2, 3, 2, 4, 1, 2, 3, 5),
                     y = c(3.1, 4.5, 2.2, 6.3, 5.9, 7.4, 6.1, 8.0),
                     g = c(0, 1, 0, 1, 1, 0, 1, 1))
write_data(avg_df, "edge_average")
avg_df <- read_data("edge_average")
options(survey.lonely.psu = "average")
davg <- svydesign(ids = ~psu, strata = ~st, weights = ~w, data = avg_df)
tt <- svyttest(y ~ g, davg)
options(survey.lonely.psu = "fail")
add(list(id = "ttest_lonely_average", data = "edge_average",
         design = list(weights = "w", strata = "st", psu = "psu", lonely_psu = "average"),
         call = list(fn = "ttest", y = "y", group = "g"),
         result = list(statistic = unname(tt$statistic), df = unname(tt$parameter),
                       p_value = tt$p.value, estimate = unname(tt$estimate))))

## 7. svyglm on a JK1 design where a factor level sits in one cluster --------
rep_df <- data.frame(psu = rep(1:12, each = 5))
rep_df$w <- rep(runif(12, 1, 3), each = 5)
rep_df$f <- ifelse(rep_df$psu == 4, "c", ifelse(rep_df$psu %% 2 == 0, "a", "b"))
rep_df$x <- rnorm(nrow(rep_df))
rep_df$y <- 1 + 0.5 * rep_df$x + (rep_df$f == "b") + rnorm(nrow(rep_df))
rjk <- as.svrepdesign(svydesign(ids = ~psu, weights = ~w, data = rep_df), type = "JK1")
Wr <- weights(rjk, "analysis")
colnames(Wr) <- paste0("repw_", seq_len(ncol(Wr)))
write_data(cbind(rep_df, Wr), "edge_rep_level")
rep_df <- read_data("edge_rep_level")
rjk <- svrepdesign(data = rep_df, repweights = "repw_[0-9]+", weights = ~w, type = "JK1",
                   combined.weights = TRUE, scale = rjk$scale)
msg <- NULL
m7 <- withCallingHandlers(svyglm(y ~ f + x, rjk, control = CTRL),
                          warning = function(w) {
                            msg <<- conditionMessage(w)
                            invokeRestart("muffleWarning")
                          })
stopifnot(grepl("replicates gave NA results and were discarded", msg))
add(list(id = "replicate_glm_level_absent", data = "edge_rep_level",
         design = list(type = "replicate", weights = "w", replicate_weights = colnames(Wr),
                       method = "jk1", scale = rjk$scale),
         call = list(fn = "glm", formula = "y ~ f + x", family = "gaussian", subset = NULL),
         result = c(glm_result(m7), list(discarded = as.integer(sub(" .*", "", msg))))))

## 8. quantiles at the top of the distribution on a replicate design --------
top <- data.frame(id = 1:10, y = as.numeric(1:10), w = 1)
rtop <- as.svrepdesign(svydesign(ids = ~1, weights = ~w, data = top), type = "JK1")
Wt <- weights(rtop, "analysis")
colnames(Wt) <- paste0("repw_", seq_len(ncol(Wt)))
write_data(cbind(top, Wt), "edge_top")
top <- read_data("edge_top")
rtop <- svrepdesign(data = top, repweights = "repw_[0-9]+", weights = ~w, type = "JK1",
                    combined.weights = TRUE, scale = rtop$scale)
q <- svyquantile(~y, rtop, quantiles = c(0.95, 0.99), ci = TRUE, qrule = qrule_definition)
qci <- confint(q)
add(list(id = "replicate_quantile_top", data = "edge_top",
         design = list(type = "replicate", weights = "w", replicate_weights = colnames(Wt),
                       method = "jk1", scale = rtop$scale),
         call = list(fn = "quantile", y = "y", q = c(0.95, 0.99)),
         result = list(estimate = unname(coef(q)), se = unname(SE(q)),
                       lower = unname(qci[, 1]), upper = unname(qci[, 2]))))

out <- list(generated_by = "tests/reference/make_edge.R",
            R_version = R.version.string,
            survey_version = as.character(packageVersion("survey")), cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE), file.path(ref_dir, "edge.json"))
