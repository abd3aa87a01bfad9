"""Step 4: weighting to the population, and what it does to the estimates.

Run: python examples/04_weighting.py
"""

import innobaro as ib
from innobaro.datasets import load_barometer, load_barometer_frame

respondents = load_barometer()
frame = load_barometer_frame()

# start from the design weights only (before the survey's post-stratification)
design = ib.Design(respondents, weights="design_weight", strata="stratum")

# post-stratify to the population count of units of each type in each region
counts = frame.groupby(["unit_type", "region"], observed=True).size()
weighted = design.poststratify(["unit_type", "region"], counts)
print(weighted.weights_summary())

# or rake to the two margins separately
raked = design.rake({"unit_type": frame["unit_type"].value_counts(),
                     "region": frame["region"].value_counts()})

for name, d in [("design weights", design), ("post-stratified", weighted),
                ("raked", raked)]:
    est = ib.proportion(d, "innovated")
    print(f"{name:16s} share {est.estimate.iloc[0]:.4f}  se {est.se.iloc[0]:.4f}")
