"""Realistic synthetic inputs for the demo and the tests (no real product can be fetched here).

`scenario` fixes what the demo holds (which products, where, when); one module per input
kind writes it in the real format: `sentinel2` (L2A SAFE products with JPEG2000 bands and real
metadata XML); the CLC GeoPackage, Sentinel-1 backscatter, borders and L1C products have
modules of their own. Everything is deterministic for a given seed.
"""
