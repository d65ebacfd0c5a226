"""Build the LMDB from the per-tile shards, verify it and write its content hash (rule encode_lmdb)."""

from pathlib import Path

from reben.distribution.lmdb import encode_lmdb

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inp = snakemake.input
    encode_lmdb(
        metadata_paths=[inp.metadata, inp.flagged_metadata],
        shards={
            "s2": list(inp.s2_shards),
            "reference_maps": list(inp.reference_map_shards),
            "s1": list(getattr(inp, "s1_shards", [])),
        },
        out_dir=Path(snakemake.output.lmdb).parent,  # the LMDB folder of data.mdb
        trees={"s2": inp.s2_tree, "reference_maps": inp.reference_maps_tree, "s1": getattr(inp, "s1_tree", None)},
        grids=list(inp.grids),
        sample_size=snakemake.params.sample_size,
        seed=snakemake.params.seed,
        content_path=snakemake.output.content,
    )
