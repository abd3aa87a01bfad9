"""Step 2: does innovation differ between groups? Design-based tests.

Run: python examples/02_tests_and_comparisons.py
"""

import innobaro as ib
from innobaro.datasets import barometer_design

design = barometer_design()

# Rao-Scott test of independence: innovation by sector, and by region
print(ib.chisq_test(design, "innovated", "sector"))
print(ib.chisq_test(design, "innovated", "region"))

# a design-based t-test of the difference between the two sectors
print(ib.ttest(design, "innovated", "sector"))

# all pairwise differences between unit sizes, Holm-adjusted
print(ib.compare(design, "innovated", by="employee_class", adjust="holm"))
