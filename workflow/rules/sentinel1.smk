# Sentinel-1 pairing and patches.
