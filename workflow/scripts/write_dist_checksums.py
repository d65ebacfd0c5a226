"""Copy the metadata files beside the archives and list sha256 and md5 of each (the archives'
as archive_tree computed them while writing), and the md5 of each uncompressed .tar (rule
write_dist_checksums)."""

from reben.distribution.archives import archive_digests, copy_file, write_checksums, write_tar_md5sums

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    copy_file(snakemake.input.metadata, snakemake.output.metadata)
    copy_file(snakemake.input.flagged_metadata, snakemake.output.flagged_metadata)
    write_checksums(
        files=[*snakemake.input.archives, snakemake.output.metadata, snakemake.output.flagged_metadata],
        sha256_path=snakemake.output.sha256,
        md5_path=snakemake.output.md5,
        known=archive_digests(snakemake.input.summaries, snakemake.input.archives),
    )
    write_tar_md5sums(snakemake.input.summaries, snakemake.output.tar_md5)
