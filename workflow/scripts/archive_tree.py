"""Archive one dataset tree as a reproducible tar.zst (rule archive_tree)."""

from reben.distribution.archives import write_tar_zst
from reben.io import write_json

if __name__ == "__main__":
    from reben.logs import LOG, to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    summary = write_tar_zst(
        tree=snakemake.input.tree,
        out_path=snakemake.output.archive,
        level=snakemake.params.level,
        threads=snakemake.threads,
        mtime=snakemake.params.mtime,
    )
    write_json(summary, snakemake.output.summary)
    LOG.info(
        "archive_tree: %(archive)s, %(members)d members, %(tar_bytes)d tar bytes (md5 %(tar_md5)s) -> %(bytes)d",
        summary,
    )
