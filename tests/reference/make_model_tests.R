## Reference numbers for tests between survey GLMs and model fit:
## anova.svyglm (working LRT and Wald, F and chi-square), the design effects of
## model coefficients (svyglm(..., deff = TRUE), as survey's tests/defftest.R)
## and predict.svyglm(total =) (as survey's tests/regpredict.R).
##
## Run from the repository root:
##     Rscript tests/reference/make_model_tests.R
##
## Reads   tests/reference/data/{apistrat,apiclus1,glm_barometer}.csv
##         (written by make_reference.R and make_glm.R)
## Writes  tests/reference/model_tests.json
##
## Every fit uses glm.control(epsilon = 1e-14, maxit = 100), as make_glm.R.
## anova.svyglm on models whose terms are nested is regTermTest of the bigger
## model for the added terms; the script checks that, and its p-values are
## survey's saddlepoint ones (compared by the tests at 1e-7 after the
## tight-root check make_glm.R does).

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_model_tests.R")
}
source(file.path("tests", "reference", "common.R"))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
options(warn = 1, survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.replicates.mse = FALSE)
t_start <- Sys.time()

CTRL <- glm.control(epsilon = 1e-14, maxit = 100)

check_close <- function(a, b, what, tol = 1e-10) {
  a <- as.numeric(a); b <- as.numeric(b)
  if (any(abs(a - b) > tol * pmax(1, abs(b)))) stop("check failed: ", what)
}

## svyglm with the formula, family and design written literally into the call, so
## that update() inside regTermTest(method = "LRT") refits the same model on the
## same design (on a replicate design it does not find `des` otherwise)
fit <- function(des, r_formula, family) {
  fml <- as.formula(r_formula)
  g <- suppressWarnings(eval(bquote(svyglm(.(fml), design = .(des), family = .(family),
                                           control = CTRL, deff = TRUE))))
  if (!g$converged) stop("svyglm did not converge: ", r_formula)
  g
}

DESIGNS <- list(
  apistrat = dspec(weights = "pw", strata = "stype", fpc = "fpc"),
  apiclus1 = dspec(weights = "pw", psu = "dnum", fpc = "fpc"),
  glm_barometer = dspec(weights = "w", strata = "stratum", psu = "municipality", fpc = "N_psu")
)
design_of <- function(name) {
  d <- read_data(name)
  if (name == "glm_barometer") d$centrality <- factor(d$centrality)
  build_design(d, DESIGNS[[name]])
}

cases <- list()

## ---------------------------------------------------------------------------
## 1. anova.svyglm for nested models
## ---------------------------------------------------------------------------
anova_case <- function(id, data, small, big, family, patsy_small, patsy_big, ib_family,
                       replicate = NULL) {
  des <- design_of(data)
  ## replicates made from the linearisation design (innobaro's Design.replicate)
  if (!is.null(replicate)) des <- as.svrepdesign(des, type = replicate$r_type, mse = FALSE,
                                                compress = FALSE)
  m0 <- fit(des, small, family)
  m1 <- fit(des, big, family)
  tests <- list()
  for (method in c("LRT", "Wald")) for (test in c("F", "Chisq")) {
    a <- anova(m0, m1, method = method, test = test)
    b <- anova(m1, m0, method = method, test = test)
    added <- setdiff(attr(terms(m1), "term.labels"), attr(terms(m0), "term.labels"))
    if (all(attr(terms(m0), "term.labels") %in% attr(terms(m1), "term.labels"))) {
      rt <- regTermTest(m1, reformulate(added), method = method,
                        df = if (test == "F") NULL else Inf)
      check_close(a$p, rt$p, paste(id, method, test, "anova = regTermTest"))
    }
    check_close(a$p, b$p, paste(id, method, test, "argument order"))
    one <- list(method = method, test = test, df = a$df,
                ## R's projection path keeps ddf for "Chisq" though it does not use it
                ddf = if (test == "F") a$ddf else NULL, p = as.numeric(a$p))
    if (method == "LRT") {
      one$statistic <- as.numeric(a$chisq)
      one$lambda <- I(sort(as.numeric(a$lambda), decreasing = TRUE))
      check_close(a$chisq, deviance(m0) - deviance(m1), paste(id, "deviance difference"))
    } else if (!is.null(a$Ftest)) {
      ## the projection path returns Ftest = chisq / df for test = "Chisq" too
      ## (with p = pchisq(chisq, df)): the chi-square is Ftest * df there
      one$statistic <- as.numeric(a$Ftest) * if (test == "F") 1 else a$df
      if (test == "Chisq")
        check_close(a$p, pchisq(one$statistic, a$df, lower.tail = FALSE), paste(id, "chisq p"))
    } else {
      if (test != "Chisq") stop(id, ": Wald F gave a chi-square statistic")
      one$statistic <- as.numeric(a$chisq)
    }
    tests[[length(tests) + 1]] <- one
  }
  design <- c(list(type = "linearization"), DESIGNS[[data]])
  if (!is.null(replicate)) design$replicate <- list(method = replicate$method)
  list(id = id, kind = "anova", data = data, design = design,
       family = ib_family, small = patsy_small, big = patsy_big,
       r_small = small, r_big = big, tests = tests)
}

cases[[length(cases) + 1]] <- anova_case(
  "barometer_centrality", "glm_barometer",
  "innovated ~ log_pop + free_income + log_employees",
  "innovated ~ log_pop + centrality + free_income + log_employees", quote(quasibinomial()),
  "innovated ~ log_pop + free_income + log_employees",
  "innovated ~ log_pop + C(centrality) + free_income + log_employees", "binomial")
cases[[length(cases) + 1]] <- anova_case(
  "apiclus1_two_terms", "apiclus1", "api00 ~ ell", "api00 ~ ell + meals + mobility",
  quote(gaussian()), "api00 ~ ell", "api00 ~ ell + meals + mobility", "gaussian")
cases[[length(cases) + 1]] <- anova_case(
  "apiclus1_two_terms_jk1", "apiclus1", "api00 ~ ell", "api00 ~ ell + meals + mobility",
  quote(gaussian()), "api00 ~ ell", "api00 ~ ell + meals + mobility", "gaussian",
  replicate = list(r_type = "JK1", method = "jk1"))
cases[[length(cases) + 1]] <- anova_case(
  "barometer_centrality_jkn", "glm_barometer",
  "innovated ~ log_pop + free_income + log_employees",
  "innovated ~ log_pop + centrality + free_income + log_employees", quote(quasibinomial()),
  "innovated ~ log_pop + free_income + log_employees",
  "innovated ~ log_pop + C(centrality) + free_income + log_employees", "binomial",
  replicate = list(r_type = "JKn", method = "jkn"))
## terms not nested, model matrices nested: R's projection path of anova.svyglm
cases[[length(cases) + 1]] <- anova_case(
  "apiclus1_columns_nested", "apiclus1", "api00 ~ I(ell + meals)",
  "api00 ~ ell + meals + mobility", quote(gaussian()),
  "api00 ~ I(ell + meals)", "api00 ~ ell + meals + mobility", "gaussian")
cases[[length(cases) + 1]] <- anova_case(
  "barometer_columns_nested", "glm_barometer",
  "innovated ~ log_employees + I(log_pop - log_employees)",
  "innovated ~ log_pop + free_income + log_employees", quote(quasibinomial()),
  "innovated ~ log_employees + I(log_pop - log_employees)",
  "innovated ~ log_pop + free_income + log_employees", "binomial")
cases[[length(cases) + 1]] <- anova_case(
  "barometer_columns_nested_jkn", "glm_barometer",
  "innovated ~ log_employees + I(log_pop - log_employees)",
  "innovated ~ log_pop + free_income + log_employees", quote(quasibinomial()),
  "innovated ~ log_employees + I(log_pop - log_employees)",
  "innovated ~ log_pop + free_income + log_employees", "binomial",
  replicate = list(r_type = "JKn", method = "jkn"))
cases[[length(cases) + 1]] <- anova_case(
  "apistrat_poisson", "apistrat", "enroll ~ stype", "enroll ~ stype + log(api99)",
  quote(quasipoisson()), "enroll ~ stype", "enroll ~ stype + np.log(api99)", "quasipoisson")

## ---------------------------------------------------------------------------
## 2. design effects of coefficients (svyglm(deff = TRUE))
## ---------------------------------------------------------------------------
deff_case <- function(id, data, r_formula, family, patsy_formula, ib_family) {
  des <- design_of(data)
  m <- fit(des, r_formula, family)
  d <- deff(m)
  if (data == "apiclus1" && ib_family == "gaussian") {
    ## survey's tests/defftest.R: equal weights, so deff = (svyglm se / glm se)^2
    g <- glm(as.formula(r_formula), data = des$variables)
    check_close(d, (SE(m) / sqrt(diag(vcov(g))))^2, "defftest identity")
  }
  list(id = id, kind = "deff", data = data,
       design = c(list(type = "linearization"), DESIGNS[[data]]),
       family = ib_family, formula = patsy_formula, r_formula = r_formula,
       r_names = I(names(d)), deff = I(unname(as.numeric(d))))
}
cases[[length(cases) + 1]] <- deff_case("defftest_apiclus1", "apiclus1",
                                        "api99 ~ enroll + api.stu", quote(gaussian()),
                                        "api99 ~ enroll + Q('api.stu')", "gaussian")
cases[[length(cases) + 1]] <- deff_case("apistrat_binomial", "apistrat",
                                        "sch_wide01 ~ ell + meals + stype", quote(binomial()),
                                        "sch_wide01 ~ ell + meals + stype", "binomial")
cases[[length(cases) + 1]] <- deff_case("apistrat_quasibinomial", "apistrat",
                                        "sch_wide01 ~ ell + meals + stype",
                                        quote(quasibinomial()),
                                        "sch_wide01 ~ ell + meals + stype", "quasibinomial")
cases[[length(cases) + 1]] <- deff_case("apiclus1_quasipoisson", "apiclus1",
                                        "enroll ~ stype + log(api99)", quote(quasipoisson()),
                                        "enroll ~ stype + np.log(api99)", "quasipoisson")
cases[[length(cases) + 1]] <- deff_case("barometer_binomial", "glm_barometer",
                                        "innovated ~ log_pop + centrality + log_employees",
                                        quote(binomial()),
                                        "innovated ~ log_pop + C(centrality) + log_employees",
                                        "binomial")

## ---------------------------------------------------------------------------
## 3. predict(total =): survey's tests/regpredict.R
## ---------------------------------------------------------------------------
data(api)
pop <- data.frame(enroll = sum(apipop$enroll, na.rm = TRUE))
npop <- sum(!is.na(apipop$enroll))
dstrat <- design_of("apistrat")
reg <- fit(dstrat, "api.stu ~ enroll", quote(gaussian()))
a <- predict(reg, newdata = pop, total = npop)
b <- svytotal(~api.stu, calibrate(dstrat, ~enroll, pop = c(npop, pop$enroll)))
check_close(coef(a), coef(b), "regression estimator = calibration total")
check_close(SE(a), SE(b), "regression estimator se = calibration se")
reg2 <- fit(dstrat, "api.stu ~ enroll - 1", quote(quasi(link = "identity", variance = "mu")))
a2 <- predict(reg2, newdata = pop, total = npop)
e <- predict(svyratio(~api.stu, ~enroll, dstrat), total = pop$enroll)
check_close(coef(a2), e$total, "ratio estimator")
check_close(SE(a2), e$se, "ratio estimator se")
cases[[length(cases) + 1]] <- list(
  id = "regpredict_apistrat", kind = "predict_total", data = "apistrat",
  design = c(list(type = "linearization"), DESIGNS[["apistrat"]]),
  enroll_total = pop$enroll, npop = npop,
  regression = list(formula = "Q('api.stu') ~ enroll", family = "gaussian",
                    total = as.numeric(coef(a)), se = as.numeric(SE(a))),
  ratio = list(formula = "Q('api.stu') ~ enroll - 1", family = "quasi", link = "identity",
               variance = "mu", total = as.numeric(coef(a2)), se = as.numeric(SE(a2))))

write_cases(cases, "model_tests", "tests/reference/make_model_tests.R", t_start)
