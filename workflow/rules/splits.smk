# Splits and countries.
