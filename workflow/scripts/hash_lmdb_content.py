"""One sha256 over the LMDB's keys and values in key order (rule hash_lmdb_content)."""

from pathlib import Path

from reben.lmdb_store import write_content_hash

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_content_hash(Path(snakemake.input.lmdb).parent, snakemake.output.content)
