# Reference maps and labels, from the CORINE vector or a land-cover raster (labels.raster.path).
# Inputs are the tile grid and the label source only (never the L2A pixels), so that a new
# sen2cor run leaves them alone; CLC enters through ancient() with its identity as a param,
# so that touching the file reruns nothing and a new version reruns exactly this rule.

from reben.labels.clc import clc_identity
from reben.labels.classes import CLC_NODATA, configured_table

# "{results}" in clc.path stands for the results folder (the demo's CLC is made there).
CLC_PATH = (config["clc"]["path"] or "").replace("{results}", RESULTS) or None
LABEL_RASTER = config["labels"]["raster"]
LABEL_RASTER_PATH = (LABEL_RASTER["path"] or "").replace("{results}", RESULTS) or None
CLASS_TABLE_PATH = (config["labels"]["class_table"] or "").replace("{results}", RESULTS) or None
# The code of pixels the label source does not cover; it always counts as UNLABELED.
UNCOVERED_CODE = LABEL_RASTER["uncovered_code"] if LABEL_RASTER_PATH else CLC_NODATA
if LABEL_RASTER_PATH and CLC_PATH:
    raise WorkflowError(
        "config: labels.raster.path and clc.path are both set: the label source "
        "is one of them; set the other to null"
    )
try:
    # The configured version, else the file's sha256, cached by path, size and mtime.
    CLC_IDENTITY = CLC_PATH and clc_identity(
        CLC_PATH, config["clc"]["version"], cache_path=Path(RESULTS) / ".cache" / "clc_sha256.json"
    )
    if LABEL_RASTER_PATH:
        CLC_IDENTITY = clc_identity(
            LABEL_RASTER_PATH,
            LABEL_RASTER["version"],
            cache_path=Path(RESULTS) / ".cache" / "clc_sha256.json",
            config_key="labels.raster",
        )
    # The class table is checked when the workflow is parsed; its content is a param.
    LABEL_TABLE = configured_table(
        config["labels"]["nomenclature"], CLASS_TABLE_PATH, config["labels"]["unlabeled_codes"], UNCOVERED_CODE
    )
except RebenError as e:
    raise WorkflowError(str(e)) from None
LABEL_TABLE_CONTENT = {code: LABEL_TABLE.code_class[code] for code in LABEL_TABLE.codes}
# The codes that count as UNLABELED beyond the table's own: configured, and the uncovered code.
LABEL_UNLABELED_CODES = sorted({*config["labels"]["unlabeled_codes"], UNCOVERED_CODE})


def clc_file(wildcards):
    """The label source (CLC vector or land-cover raster), as ancient(): its identity in
    params, not its mtime, decides reruns."""
    if LABEL_RASTER_PATH:
        return ancient(LABEL_RASTER_PATH)
    if not CLC_PATH:
        raise WorkflowError(
            "config: clc.path: not set (the CORINE Land Cover vector file, "
            "or labels.raster.path for a land-cover raster)"
        )
    return ancient(CLC_PATH)


rule rasterize_reference_maps:
    input:
        geocoding=tile_path("{tile}", "geocoding.json"),
        clc=clc_file,
    output:
        maps=directory(tile_path("{tile}", "reference_maps")),
        shard=tile_path("{tile}", "reference_maps_shard.parquet"),
        sha256=tile_path("{tile}", "reference_maps_sha256.parquet"),
        labels=tile_path("{tile}", "labels.parquet"),
    log:
        log_path("rasterize_reference_maps", "{tile}"),
    benchmark:
        benchmark_path("rasterize_reference_maps", "{tile}")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(2500),
        runtime=30,
    params:
        clc_identity=CLC_IDENTITY,
        layer=config["clc"]["layer"],
        code_field=config["clc"]["code_field"],
        recode=config["clc"]["recode"],
        max_unlabeled_fraction=config["labels"]["max_unlabeled_fraction"],
        raster=bool(LABEL_RASTER_PATH),
        band=LABEL_RASTER["band"],
        uncovered_code=LABEL_RASTER["uncovered_code"],
        nomenclature=config["labels"]["nomenclature"],
        class_table=CLASS_TABLE_PATH,
        class_table_content=LABEL_TABLE_CONTENT,
        unlabeled_codes=config["labels"]["unlabeled_codes"],
    script:
        "../scripts/rasterize_reference_maps.py"
