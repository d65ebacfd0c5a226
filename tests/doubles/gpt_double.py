"""Test double of ESA SNAP's gpt (never the real tool): checks the command line the workflow
gives it against the graph, and writes VV and VH as small linear-power GeoTIFFs.

Usage as gpt: gpt_double.py <graph.xml> -Pname=value ... [-q N] [-c SIZE]
Environment: GPT_DOUBLE_FAIL=1 makes it fail like gpt does on a bad product.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import rasterio
from affine import Affine


def main(argv):
    graph, rest = argv[0], argv[1:]
    params = dict(a[2:].split("=", 1) for a in rest if a.startswith("-P"))
    if os.environ.get("GPT_DOUBLE_FAIL"):
        print("Error: [NodeId: Read] Cannot read product: not a Sentinel-1 GRD", file=sys.stderr)
        return 1
    root = ET.parse(graph).getroot()
    wanted = set(re.findall(r"\$\{(\w+)\}", ET.tostring(root, encoding="unicode")))
    missing = wanted - params.keys()
    if missing:
        print(f"Error: graph parameters not given: {sorted(missing)}", file=sys.stderr)
        return 2
    operators = [n.findtext("operator") for n in root.iter("node")]
    for op in ("Read", "Apply-Orbit-File", "ThermalNoiseRemoval", "Calibration", "Terrain-Correction", "Write"):
        if op not in operators:
            print(f"Error: graph lacks {op}", file=sys.stderr)
            return 3
    if not os.path.exists(params["input"]):
        print(f"Error: [NodeId: Read] {params['input']} not found", file=sys.stderr)
        return 1
    rng = np.random.default_rng(0)
    for key, level in (("outVV", 0.1), ("outVH", 0.02)):
        data = (level * rng.gamma(4.4, 1 / 4.4, (150, 160))).astype("float32")
        data[:, :10] = 0  # SNAP's no-data at the scene edge
        with rasterio.open(
            params[key],
            "w",
            driver="GTiff",
            width=160,
            height=150,
            count=1,
            dtype="float32",
            crs="EPSG:32633",
            transform=Affine(10, 0, 400000, 0, -10, 5400000),
        ) as dst:
            dst.write(data, 1)
    print("Processing completed in 1 seconds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
