"""Snakemake job: the candidate duplicate pairs of one key (the exact hash or one LSH band) over a group."""
from ernie_pipeline.workflow.job import clean_group, run


def main(snakemake):
    from ernie_pipeline.clean.duplicates import candidate_pairs

    shards = clean_group(snakemake, "docs", "bands", "contamination")
    print(candidate_pairs(snakemake.wildcards.key, shards, snakemake.output.pairs,
                          snakemake.config["clean"]["partition_mb"]))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
