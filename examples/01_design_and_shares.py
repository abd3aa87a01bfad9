"""Step 1: a survey design and the share of units that innovated, with intervals.

Run: python examples/01_design_and_shares.py
"""

import innobaro as ib
from innobaro.datasets import barometer_design, load_barometer

respondents = load_barometer()  # the synthetic barometer: 1,786 unit leaders
print(respondents[["sector", "unit_type", "municipality_size", "innovated"]].head())

# the design as the survey publishes it: final weights, strata as sampled
design = barometer_design()
print(design)

# the share of units that innovated, with a Korn-Graubard interval
overall = ib.proportion(design, "innovated", method="beta")
print(overall.to_frame())

# by sector: domains keep every row, so the standard errors are right
by_sector = ib.proportion(design, "innovated", by="sector", method="beta")
print(by_sector.ci(0.95))

# the same domain through subset: identical estimate and standard error
education = ib.proportion(design.subset(respondents["sector"] == "education"), "innovated")
print(education.estimate.iloc[0], by_sector.estimate.iloc[0])
