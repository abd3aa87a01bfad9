## Reference numbers for a test of independence whose table has a level with
## only zero-weight rows (innobaro: chisq_test(..., drop_empty=True)).
##
## Run from the repository root:
##     Rscript tests/reference/make_chisq_empty.R
##
## Writes  tests/reference/data/chisq_empty.csv   the data (level "c" of g has weight 0)
##         tests/reference/chisq_empty.json       svychisq on subset(design, w > 0)
##
## R's svychisq on the whole design gives NaN (F, Chisq) or a singular-matrix
## error (Wald) for the empty column. On a design without clusters R's subset()
## of the rows with positive weight drops them, which is what leaving the level
## out means (with clusters R keeps the rows and gives NaN again, so the case is
## an unclustered design).

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})
if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root: Rscript tests/reference/make_chisq_empty.R")
}
source(file.path("tests", "reference", "common.R"))
t_start <- Sys.time()
set.seed(20261204)
n <- 120
df <- data.frame(w = round(runif(n, 1, 3), 4),
                 g = sample(c("a", "b", "c"), n, replace = TRUE),
                 y = rbinom(n, 1, 0.6))
df$w[df$g == "c"] <- 0
write_data(df, "chisq_empty")
df <- read_data("chisq_empty")
des <- svydesign(ids = ~1, weights = ~w, data = df)
kept <- update(subset(des, w > 0), g = droplevels(g))
CASES <- list()
for (s in c("F", "Chisq", "Wald", "adjWald")) {
  res <- svychisq(~y + g, kept, statistic = s)
  CASES[[length(CASES) + 1]] <- list(
    id = paste0("chisq_empty_", s), data = "chisq_empty",
    design = dspec(weights = "w"),
    statistic = s, result = list(statistic = unname(as.numeric(res$statistic)),
                                 parameter = unname(as.numeric(res$parameter)),
                                 p_value = unname(as.numeric(res$p.value))))
}
write_cases(CASES, "chisq_empty", "tests/reference/make_chisq_empty.R", t_start)
