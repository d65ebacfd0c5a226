# From L1C to L2A: product retrieval from the Copernicus Data Space and sen2cor.
