# The dataset report.
