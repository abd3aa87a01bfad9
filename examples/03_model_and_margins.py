"""Step 3: which traits predict innovation? A survey logistic model and its margins.

Run: python examples/03_model_and_margins.py
"""

import innobaro as ib
from innobaro.datasets import barometer_design

design = barometer_design()
model = ib.logit("innovated ~ C(municipality_size) + C(centrality, Treatment(3))"
                 " + free_income + np.log(employees)", design)
print(model.summary())
print(model.odds_ratios())

# is centrality (six classes) related to innovation, given the rest?
print(model.wald_test("C(centrality, Treatment(3))"))
print(model.wald_test("C(centrality, Treatment(3))", method="lrt"))

# what share would innovate if every unit were in a municipality of each size?
margins = model.margins("municipality_size")
print(margins)
print(margins.differences)
